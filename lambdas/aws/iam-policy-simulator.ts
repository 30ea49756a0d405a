/**
 * The PrincipalPolicySimulator port (lambdas/core/identity-policies.ts) on IAM's policy simulator:
 * `SimulatePrincipalPolicy` evaluates the identity policies attached to a principal (user or role,
 * with its groups, permission boundary and managed policies) for ECR actions on a repository ARN,
 * with `aws:SourceIp` as a context entry so that identity policies with IP conditions hold.
 *
 * - An assumed-role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) is simulated as
 *   its role (`arn:aws:iam::<acct>:role/<role>`): sessions have no policies of their own here
 *   (session policies are not seen, which errs on the side of the role's wider grant). A session
 *   ARN carries no role path: a role created with a path must be named with it
 *   (Principal.roleArn), or the simulation fails and counts as an implicit deny.
 * - The account's root user is not governed by identity policies: answered `allowed` without a call
 *   (evaluate() would allow it anyway, short of an explicit Deny in a resource policy).
 *
 * Calls are cached by SimulatedIdentityPolicies, not here; the function's role needs
 * `iam:SimulatePrincipalPolicy` on the account's users and roles.
 */
import { IAMClient, SimulatePrincipalPolicyCommand, type SimulatePrincipalPolicyCommandInput } from '@aws-sdk/client-iam';
import type { PrincipalPolicySimulator } from '../core/identity-policies';
import type { IdentityDecision } from '../core/policy/evaluate';

/** What the adapter needs of an IAM client (the real IAMClient, or a stand-in in tests). */
export interface IamSimulateApi {
  send(command: SimulatePrincipalPolicyCommand): Promise<{
    EvaluationResults?: Array<{ EvalActionName?: string; EvalDecision?: string }>;
    IsTruncated?: boolean;
    Marker?: string;
  }>;
}

const SESSION_ARN = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
const ROOT_ARN = /^arn:[\w-]+:iam::\d{12}:root$/;

/** The ARN IAM simulates for a caller: a role session's role, anything else as it is. */
export function simulationSourceArn(principalArn: string): string {
  const session = SESSION_ARN.exec(principalArn);
  return session ? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}` : principalArn;
}

/** The SimulatePrincipalPolicy request for one principal, actions, resource and client address. */
export function simulationInput(request: { principalArn: string; actions: string[]; resourceArn: string; sourceIp?: string }, marker?: string): SimulatePrincipalPolicyCommandInput {
  return {
    PolicySourceArn: simulationSourceArn(request.principalArn),
    ActionNames: request.actions,
    ResourceArns: [request.resourceArn],
    ...(request.sourceIp ? { ContextEntries: [{ ContextKeyName: 'aws:SourceIp', ContextKeyType: 'ip', ContextKeyValues: [request.sourceIp] }] } : {}),
    ...(marker ? { Marker: marker } : {}),
  };
}

export class IamPolicySimulator implements PrincipalPolicySimulator {
  /** Requests sent to IAM (tests and logs check that the cache spares them). */
  calls = 0;

  constructor(private readonly client: IamSimulateApi = new IAMClient({})) {}

  async simulate(request: { principalArn: string; actions: string[]; resourceArn: string; sourceIp?: string }): Promise<Record<string, IdentityDecision>> {
    if (ROOT_ARN.test(request.principalArn)) return Object.fromEntries(request.actions.map((a) => [a, 'allowed' as IdentityDecision]));
    const decisions: Record<string, IdentityDecision> = {};
    let marker: string | undefined;
    // One page in practice (one result per action); follow markers anyway, a few pages at most.
    for (let page = 0; page < 10; page++) {
      this.calls++;
      const out = await this.client.send(new SimulatePrincipalPolicyCommand(simulationInput(request, marker)));
      for (const result of out.EvaluationResults ?? []) {
        const asked = request.actions.find((a) => a.toLowerCase() === result.EvalActionName?.toLowerCase());
        if (asked) decisions[asked] = toDecision(result.EvalDecision);
      }
      if (!out.IsTruncated || !out.Marker) break;
      marker = out.Marker;
    }
    for (const action of request.actions) decisions[action] ??= 'implicitDeny';
    return decisions;
  }
}

function toDecision(value: string | undefined): IdentityDecision {
  return value === 'allowed' ? 'allowed' : value === 'explicitDeny' ? 'explicitDeny' : 'implicitDeny';
}
