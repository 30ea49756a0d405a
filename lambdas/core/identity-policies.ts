/**
 * The caller's identity policies: the half of a decision that belongs to the identity, not
 * to the registry. Local mode knows them (each configured access key may carry a policy);
 * on AWS they are attached in IAM, and IAM's policy simulator (SimulatePrincipalPolicy)
 * evaluates them, cached for minutes so that pulls cost no IAM call.
 */
import { type EvaluationInput, type IdentityDecision, type NamedPolicy, type Principal } from './policy/evaluate';

/** What evaluate() needs about the caller's identity policies for one action on one resource. */
export type IdentityInput = Pick<EvaluationInput, 'identityPolicies' | 'identityDecision'>;

export interface IdentityPolicySource {
  /**
   * The identity side for `action` on `resourceArn`: the policies themselves, or a decision
   * made elsewhere; `{}` when unknown (another account's: evaluate() then trusts
   * `crossAccountIdentityAllowed`).
   */
  identityInput(principal: Principal, action: string, resourceArn: string, context: { sourceIp?: string }): Promise<IdentityInput>;
}

/**
 * Identity policies held in memory, by principal ARN (local mode: the identities of the
 * `--config` file). A principal of the registry's account that is not listed has no
 * policies (implicit deny); one of another account is unknown here.
 */
export class StaticIdentityPolicies implements IdentityPolicySource {
  private readonly byArn: Map<string, NamedPolicy[]>;

  constructor(
    identities: Iterable<{ arn: string; policies: NamedPolicy[] }>,
    private readonly registryAccount: string,
  ) {
    this.byArn = new Map([...identities].map((identity) => [identity.arn, identity.policies]));
  }

  async identityInput(principal: Principal): Promise<IdentityInput> {
    const policies = this.byArn.get(principal.arn);
    if (policies) return { identityPolicies: policies };
    return principal.account === this.registryAccount ? { identityPolicies: [] } : {};
  }
}

/** IAM's SimulatePrincipalPolicy, as far as the registry uses it (the AWS adapter implements it with @aws-sdk/client-iam). */
export interface PrincipalPolicySimulator {
  /** EvalDecision per action for the principal's identity policies on the resource. */
  simulate(request: { principalArn: string; actions: string[]; resourceArn: string; sourceIp?: string }): Promise<Record<string, IdentityDecision>>;
}

/**
 * Asks a PrincipalPolicySimulator and caches each answer (by principal, action, resource
 * and source address) for `ttlMs`, bounded to `maxEntries`. A failed simulation is not
 * cached and counts as an implicit deny (fail closed).
 */
export class SimulatedIdentityPolicies implements IdentityPolicySource {
  private readonly cache = new Map<string, { decision: IdentityDecision; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly simulator: PrincipalPolicySimulator,
    options: {
      ttlMs?: number;
      maxEntries?: number;
      now?: () => number;
      onError?: (error: unknown) => void;
      /**
       * The registry's account. A principal of another account is not simulated (IAM would refuse:
       * its policies live in its own account); its identity side is unknown (`{}`), which evaluate()
       * settles with `crossAccountIdentityAllowed`. @default - every principal is simulated
       */
      registryAccount?: string;
      /**
       * Actions simulated together: asked for one of them, the simulator is asked for all in one
       * call and each answer is cached, so a cold pull or push costs one IAM call, not one per action.
       */
      batch?: readonly string[];
    } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5 * 60 * 1000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
    this.registryAccount = options.registryAccount;
    this.batch = options.batch ? new Set(options.batch) : undefined;
  }

  private readonly registryAccount: string | undefined;
  private readonly batch: Set<string> | undefined;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;

  async identityInput(principal: Principal, action: string, resourceArn: string, context: { sourceIp?: string }): Promise<IdentityInput> {
    if (this.registryAccount !== undefined && principal.account !== this.registryAccount) return {};
    const arn = principal.roleArn ?? principal.arn;
    const keyOf = (a: string) => `${arn}\n${a}\n${resourceArn}\n${context.sourceIp ?? ''}`;
    const key = keyOf(action);
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return { identityDecision: cached.decision };
    const actions = this.batch?.has(action) ? [action, ...[...this.batch].filter((a) => a !== action)] : [action];
    let answer: Record<string, IdentityDecision>;
    try {
      answer = await this.simulator.simulate({ principalArn: arn, actions, resourceArn, sourceIp: context.sourceIp });
    } catch (error) {
      this.onError(error);
      return { identityDecision: 'implicitDeny' };
    }
    for (const asked of actions) {
      const k = keyOf(asked);
      if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
      this.cache.delete(k);
      this.cache.set(k, { decision: answer[asked] ?? 'implicitDeny', until: now + this.ttlMs });
    }
    return { identityDecision: answer[action] ?? 'implicitDeny' };
  }
}

