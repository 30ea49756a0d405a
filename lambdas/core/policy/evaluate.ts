import { arnMatch, cidrContains, parseCidr, parseIp, wildcardMatch } from './matching';
import type { ConditionClause, ConditionKey, PolicyDocument, PolicyStatement, PrincipalPattern } from './policy-document';

/**
 * IAM's evaluation logic, for the case a registry needs: one account owns the registry,
 * callers are IAM principals of that account, of other accounts, or anonymous, and the
 * policies are the caller's identity policies plus the registry and repository policies.
 *
 * 1. An explicit Deny in any applicable policy wins.
 * 2. A principal of the registry's own account is allowed if an identity policy allows, or
 *    a resource policy allows it by name (its ARN, its role, or "*"). A resource policy
 *    that names the account (id or `:root`) delegates to identity policies, as in IAM, so
 *    it does not by itself allow the account's users and roles.
 * 3. A principal of another account needs an Allow in a resource policy and, as IAM also
 *    requires, an Allow in its own account's identity policies.
 * 4. An anonymous caller matches only `Principal: "*"`, and has no identity policies.
 * 5. Anything else is an implicit deny.
 */

export interface Principal {
  /** The caller's ARN: `...:user/x`, `...:role/x`, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`, or `...:root`. */
  arn: string;
  account: string;
  /**
   * The role's ARN with its path, for a role session, when the caller knows it. IAM's
   * aws:PrincipalArn of a session is its role's ARN; without this it is derived from the
   * session ARN, which carries no path (`arn:aws:iam::<acct>:role/<role>`).
   */
  roleArn?: string;
}

export interface AccessRequest {
  /** `ecr:BatchGetImage` and so on. */
  action: string;
  /** A repository ARN, or `*` for registry-wide actions (see ECR_ACTIONS' scope). */
  resourceArn: string;
  /** Null for an anonymous request. */
  principal: Principal | null;
  context?: { sourceIp?: string };
}

export interface NamedPolicy {
  /** How decisions refer to the policy: `repository:team/app`, `registry`, `identity:ci-pusher`. */
  name: string;
  document: PolicyDocument;
}

/** What IAM's SimulatePrincipalPolicy answers for the caller's identity policies (EvalDecision). */
export type IdentityDecision = 'allowed' | 'explicitDeny' | 'implicitDeny';

export interface EvaluationInput {
  /** The caller's identity policies; undefined when they are not known here (see identityDecision). */
  identityPolicies?: NamedPolicy[];
  /**
   * The identity-policy decision when it was made elsewhere (AWS mode asks IAM's policy
   * simulator); takes the place of identityPolicies.
   */
  identityDecision?: IdentityDecision;
  /** The registry policy and the repository's policy, whichever exist. */
  resourcePolicies: NamedPolicy[];
  registryAccount: string;
  /**
   * Whether a cross-account caller's own identity policies allow the action, when they are
   * unknown (another account's policies cannot be read). @default true
   */
  crossAccountIdentityAllowed?: boolean;
}

export type DecisionReason = 'explicit-deny' | 'allowed-by-identity' | 'allowed-by-resource' | 'implicit-deny';

export interface Decision {
  decision: 'allow' | 'deny';
  reason: DecisionReason;
  /** The statement that decided, when one did. */
  statement?: { policy: string; sid?: string; index: number };
}

export function evaluate(request: AccessRequest, input: EvaluationInput): Decision {
  const { principal } = request;
  for (const policy of input.identityPolicies ?? []) {
    if (policy.document.kind !== 'identity') throw new Error(`${policy.name} is a ${policy.document.kind} policy, not an identity policy`);
  }
  for (const policy of input.resourcePolicies) {
    if (policy.document.kind === 'identity') throw new Error(`${policy.name} is an identity policy, not a resource policy`);
  }
  const context = conditionContext(request);
  // Identity policies belong to an identity: an anonymous caller has none.
  const identityPolicies = principal ? (input.identityPolicies ?? []) : [];

  const identityDeny = firstMatch(identityPolicies, 'Deny', request, context);
  if (identityDeny) return { decision: 'deny', reason: 'explicit-deny', statement: identityDeny.statement };
  const resourceDeny = firstMatch(input.resourcePolicies, 'Deny', request, context);
  if (resourceDeny) return { decision: 'deny', reason: 'explicit-deny', statement: resourceDeny.statement };
  if (principal && input.identityDecision === 'explicitDeny') return { decision: 'deny', reason: 'explicit-deny' };

  const identityAllow = principal ? identityAllows(principal, request, context, input) : undefined;
  if (principal && principal.account === input.registryAccount) {
    if (identityAllow) return { decision: 'allow', reason: 'allowed-by-identity', statement: identityAllow.statement };
    // Same account: an account principal in a resource policy only delegates to identity policies.
    const named = firstMatch(input.resourcePolicies, 'Allow', request, context, { sameAccount: true });
    if (named) return { decision: 'allow', reason: 'allowed-by-resource', statement: named.statement };
    return { decision: 'deny', reason: 'implicit-deny' };
  }

  const resourceAllow = firstMatch(input.resourcePolicies, 'Allow', request, context);
  if (!resourceAllow) return { decision: 'deny', reason: 'implicit-deny' };
  if (principal && !identityAllow) return { decision: 'deny', reason: 'implicit-deny' };
  return { decision: 'allow', reason: 'allowed-by-resource', statement: resourceAllow.statement };
}

interface Match {
  statement?: Decision['statement'];
}

/** Whether the caller's own identity side allows; a match (possibly without a statement) or undefined. */
function identityAllows(principal: Principal, request: AccessRequest, context: ConditionContext, input: EvaluationInput): Match | undefined {
  // An account's root user is not governed by identity policies: it may do anything its account may.
  if (isRoot(principal)) return {};
  if (input.identityDecision !== undefined) return input.identityDecision === 'allowed' ? {} : undefined;
  if (input.identityPolicies !== undefined) return firstMatch(input.identityPolicies, 'Allow', request, context);
  // Unknown identity policies: another account's cannot be read, so trust the option; our own account's must be known.
  if (principal.account !== input.registryAccount && (input.crossAccountIdentityAllowed ?? true)) return {};
  return undefined;
}

function firstMatch(
  policies: NamedPolicy[],
  effect: 'Allow' | 'Deny',
  request: AccessRequest,
  context: ConditionContext,
  options: { sameAccount?: boolean } = {},
): Match | undefined {
  for (const policy of policies) {
    for (const statement of policy.document.statements) {
      if (statement.effect !== effect) continue;
      if (statement.principals && !principalMatches(statement.principals, request.principal, options.sameAccount ?? false)) continue;
      if (!actionMatches(statement, request.action)) continue;
      if (statement.resources && !resourceMatches(statement, request.resourceArn)) continue;
      if (!statement.conditions.every((clause) => conditionHolds(clause, context))) continue;
      return { statement: { policy: policy.name, sid: statement.sid, index: statement.index } };
    }
  }
  return undefined;
}

/**
 * With `direct`, an account principal matches only the account's root user: IAM's
 * delegation rule for a principal of the resource's own account.
 */
function principalMatches(patterns: PrincipalPattern[], principal: Principal | null, direct: boolean): boolean {
  return patterns.some((pattern) => {
    if (pattern.kind === 'anyone') return true;
    if (!principal) return false;
    switch (pattern.kind) {
      case 'account':
        return principal.account === pattern.account && (!direct || isRoot(principal));
      case 'user':
      case 'assumed-role':
        return principal.arn === pattern.arn;
      case 'role': {
        const role = sessionRole(principal);
        return principal.arn === pattern.arn || (role !== undefined && role.account === pattern.account && role.name === pattern.name);
      }
    }
  });
}

function actionMatches(statement: PolicyStatement, action: string): boolean {
  // Service prefix and action name are both case-insensitive in IAM.
  const matched = statement.actions.patterns.some((pattern) => wildcardMatch(pattern, action, true));
  return statement.actions.negated ? !matched : matched;
}

function resourceMatches(statement: PolicyStatement, resourceArn: string): boolean {
  const resources = statement.resources!;
  const matched = resources.patterns.some((pattern) => wildcardMatch(pattern, resourceArn));
  return resources.negated ? !matched : matched;
}

type ConditionContext = Partial<Record<ConditionKey, string>>;

function conditionContext(request: AccessRequest): ConditionContext {
  const context: ConditionContext = {};
  const { principal } = request;
  if (principal) {
    const role = sessionRole(principal);
    context['aws:PrincipalArn'] = principal.roleArn ?? (role ? `arn:${role.partition}:iam::${role.account}:role/${role.name}` : principal.arn);
    context['aws:PrincipalAccount'] = principal.account;
  }
  if (request.context?.sourceIp !== undefined) context['aws:SourceIp'] = request.context.sourceIp;
  return context;
}

/**
 * IAM: a key missing from the request fails a positive operator and satisfies a negated
 * one (`StringNotEquals` of nothing is true); `...IfExists` makes a missing key satisfy both.
 */
function conditionHolds(clause: ConditionClause, context: ConditionContext): boolean {
  const value = context[clause.key];
  const negated = clause.operator.includes('Not');
  if (value === undefined) return clause.ifExists || negated;
  const anyMatches = clause.values.some((expected) => valueMatches(clause, expected, value));
  return negated ? !anyMatches : anyMatches;
}

function valueMatches(clause: ConditionClause, expected: string, actual: string): boolean {
  switch (clause.operator) {
    case 'StringEquals':
    case 'StringNotEquals':
      return expected === actual;
    case 'StringLike':
    case 'StringNotLike':
      return wildcardMatch(expected, actual);
    case 'ArnEquals':
    case 'ArnNotEquals':
    case 'ArnLike':
    case 'ArnNotLike':
      return arnMatch(expected, actual);
    case 'IpAddress':
    case 'NotIpAddress': {
      const block = parseCidr(expected);
      const ip = parseIp(actual);
      return block !== undefined && ip !== undefined && cidrContains(block, ip);
    }
  }
}

const SESSION_ARN = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

function sessionRole(principal: Principal): { partition: string; account: string; name: string } | undefined {
  const match = SESSION_ARN.exec(principal.arn);
  return match ? { partition: match[1], account: match[2], name: match[3] } : undefined;
}

function isRoot(principal: Principal): boolean {
  return /^arn:[\w-]+:iam::\d{12}:root$/.test(principal.arn) && principal.arn.split(':')[4] === principal.account;
}
