import type { IdentityDecision, NamedPolicy } from '../core/policy/evaluate';
import { evaluate } from '../core/policy/evaluate';
import type { PrincipalPolicySimulator } from '../core/identity-policies';

/**
 * A LOCAL STAND-IN for IAM's SimulatePrincipalPolicy: evaluates identity policies held in
 * memory with the registry's own engine, for tests and the emulated AWS mode. It is not IAM:
 * no permission boundaries, SCPs, session policies or groups.
 */
export class LocalPolicySimulatorStandIn implements PrincipalPolicySimulator {
  /** How many simulations were asked for: tests check that the cache spares them. */
  calls = 0;

  /** `policies`: identity policies by principal ARN (a role's ARN for its sessions). */
  constructor(private readonly policies: Map<string, NamedPolicy[]>) {}

  async simulate(request: { principalArn: string; actions: string[]; resourceArn: string; sourceIp?: string }): Promise<Record<string, IdentityDecision>> {
    this.calls++;
    const identityPolicies = this.policies.get(request.principalArn) ?? [];
    // Evaluated as the principal's own account would: identity policies only, no resource policies.
    const principal = { arn: request.principalArn, account: request.principalArn.split(':')[4] ?? '' };
    return Object.fromEntries(
      request.actions.map((action) => {
        const result = evaluate(
          { action, resourceArn: request.resourceArn, principal, context: { sourceIp: request.sourceIp } },
          { identityPolicies, resourcePolicies: [], registryAccount: principal.account },
        );
        const decision: IdentityDecision = result.decision === 'allow' ? 'allowed' : result.reason === 'explicit-deny' ? 'explicitDeny' : 'implicitDeny';
        return [action, decision];
      }),
    );
  }
}
