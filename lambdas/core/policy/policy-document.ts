import { canonicalEcrAction } from '../../contracts/ecr-actions';
import { hasWildcard, parseCidr, splitArn } from './matching';

/**
 * Parses and validates policies in IAM's JSON grammar: repository and registry policies
 * (resource policies, which name a Principal) and the identity policies local mode attaches
 * to access keys (which name a Resource instead). The parser accepts the subset the
 * evaluator understands and refuses everything else by name, because a policy element that
 * were silently ignored could grant more than its author meant.
 */

/** A policy the registry cannot honour; the ECR API maps it to InvalidParameterException. */
export class PolicyValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyValidationError';
  }
}

/** ECR's limit for repository and registry policy text. */
export const MAX_POLICY_LENGTH = 10_240;

export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;

export type PolicyKind = 'identity' | 'repository' | 'registry';

export type Effect = 'Allow' | 'Deny';

/** Who a resource-policy statement names. Wildcard ARNs are not principals in IAM. */
export type PrincipalPattern =
  | { kind: 'anyone' }
  /** An account id or its `:root` ARN: every identity of the account (IAM's account principal). */
  | { kind: 'account'; account: string }
  | { kind: 'user'; arn: string }
  /** A role also matches the sessions of the role (`arn:aws:sts::<acct>:assumed-role/<name>/<session>`). */
  | { kind: 'role'; arn: string; account: string; name: string }
  | { kind: 'assumed-role'; arn: string };

export const CONDITION_KEYS = ['aws:PrincipalArn', 'aws:PrincipalAccount', 'aws:SourceIp'] as const;
export type ConditionKey = (typeof CONDITION_KEYS)[number];

export const CONDITION_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
  'ArnNotLike',
  'IpAddress',
  'NotIpAddress',
] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** Which operators make sense for which key; IAM type-checks the same way. */
const OPERATORS_FOR_KEY: Record<ConditionKey, readonly ConditionOperator[]> = {
  'aws:PrincipalArn': ['StringEquals', 'StringNotEquals', 'StringLike', 'StringNotLike', 'ArnEquals', 'ArnNotEquals', 'ArnLike', 'ArnNotLike'],
  'aws:PrincipalAccount': ['StringEquals', 'StringNotEquals', 'StringLike', 'StringNotLike'],
  'aws:SourceIp': ['IpAddress', 'NotIpAddress'],
};

export interface ConditionClause {
  operator: ConditionOperator;
  /** `...IfExists`: true when the request lacks the key. */
  ifExists: boolean;
  key: ConditionKey;
  /** Any one matching is enough (IAM ORs the values of one key). */
  values: string[];
}

export interface PolicyStatement {
  /** Position in the document, for messages and decisions. */
  index: number;
  sid?: string;
  effect: Effect;
  /** Resource policies only. */
  principals?: PrincipalPattern[];
  /** `Action` or, with `negated`, `NotAction`. */
  actions: { negated: boolean; patterns: string[] };
  /** Absent: every resource (resource policies, which apply to the resource they are set on). */
  resources?: { negated: boolean; patterns: string[] };
  /** All must hold (IAM ANDs operators and keys). */
  conditions: ConditionClause[];
}

export interface PolicyDocument {
  kind: PolicyKind;
  version: (typeof POLICY_VERSIONS)[number];
  id?: string;
  statements: PolicyStatement[];
}

export interface ParseOptions {
  /** @default MAX_POLICY_LENGTH */
  maxLength?: number;
}

const TOP_LEVEL_ELEMENTS = ['Version', 'Id', 'Statement'];
const STATEMENT_ELEMENTS = ['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'];

const ACCOUNT_ID = /^\d{12}$/;
const PARTITION = '(?:aws|aws-cn|aws-us-gov)';
const ROOT_ARN = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):root$`);
const USER_ARN = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):user/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]+$`);
const ROLE_ARN = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):role/(?:[\\w+=,.@-]+/)*([\\w+=,.@-]+)$`);
const ASSUMED_ROLE_ARN = new RegExp(`^arn:${PARTITION}:sts::(\\d{12}):assumed-role/[\\w+=,.@-]+/[\\w+=,.@-]+$`);
const ACTION = /^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/;

export function parsePolicyDocument(text: string, kind: PolicyKind, options: ParseOptions = {}): PolicyDocument {
  const maxLength = options.maxLength ?? MAX_POLICY_LENGTH;
  if (typeof text !== 'string' || text.trim() === '') fail('policy text is empty');
  if (text.length > maxLength) fail(`policy is ${text.length} characters; the limit is ${maxLength}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(`policy is not valid JSON: ${(err as Error).message}`);
  }
  return validatePolicy(json, kind);
}

/** Validates an already-parsed policy object (local-mode config files hold policies as JSON, not text). */
export function validatePolicy(json: unknown, kind: PolicyKind): PolicyDocument {
  if (!isObject(json)) fail('policy must be a JSON object');
  for (const name of Object.keys(json)) {
    if (!TOP_LEVEL_ELEMENTS.includes(name)) fail(`unknown policy element "${name}"; a policy has ${TOP_LEVEL_ELEMENTS.join(', ')}`);
  }
  // IAM reads a policy without Version as 2008-10-17; the two differ only in policy variables, which are not supported.
  const version = json.Version ?? '2008-10-17';
  if (!POLICY_VERSIONS.includes(version as never)) fail(`Version must be "2012-10-17" or "2008-10-17"`);
  if (json.Id !== undefined && typeof json.Id !== 'string') fail('Id must be a string');
  if (json.Statement === undefined) fail('Statement is required');
  const single = !Array.isArray(json.Statement);
  const raw: unknown[] = single ? [json.Statement] : (json.Statement as unknown[]);
  if (raw.length === 0) fail('Statement must not be empty');
  const statements = raw.map((entry, index) => parseStatement(entry, index, single ? 'Statement' : `Statement[${index}]`, kind));
  const sids = new Set<string>();
  for (const statement of statements) {
    if (statement.sid === undefined || statement.sid === '') continue;
    if (sids.has(statement.sid)) fail(`Sid "${statement.sid}" is used by more than one statement; Sids must be unique`);
    sids.add(statement.sid);
  }
  return { kind, version: version as PolicyDocument['version'], id: json.Id as string | undefined, statements };
}

function parseStatement(raw: unknown, index: number, at: string, kind: PolicyKind): PolicyStatement {
  if (!isObject(raw)) fail(`${at} must be an object`);
  for (const name of Object.keys(raw)) {
    if (!STATEMENT_ELEMENTS.includes(name)) fail(`${at} has unknown element "${name}"; a statement has ${STATEMENT_ELEMENTS.join(', ')}`);
  }
  if (raw.Sid !== undefined && typeof raw.Sid !== 'string') fail(`${at}.Sid must be a string`);
  if (raw.Effect !== 'Allow' && raw.Effect !== 'Deny') fail(`${at}.Effect must be "Allow" or "Deny"`);

  if (raw.NotPrincipal !== undefined) {
    fail(`${at}.NotPrincipal is not supported; name the principals in Principal (with a Deny statement to exclude some)`);
  }
  let principals: PrincipalPattern[] | undefined;
  if (kind === 'identity') {
    if (raw.Principal !== undefined) fail(`${at}.Principal is not allowed in an identity policy (it applies to the identity it is attached to)`);
  } else {
    if (raw.Principal === undefined) fail(`${at}.Principal is required in a ${kind} policy`);
    principals = parsePrincipal(raw.Principal, `${at}.Principal`);
  }

  if ((raw.Action === undefined) === (raw.NotAction === undefined)) fail(`${at} must have exactly one of Action or NotAction`);
  const actionElement = raw.Action !== undefined ? 'Action' : 'NotAction';
  const actions = {
    negated: actionElement === 'NotAction',
    patterns: stringList(raw[actionElement], `${at}.${actionElement}`).map((action, i) =>
      parseAction(action, listAt(`${at}.${actionElement}`, i, raw[actionElement]), kind),
    ),
  };

  let resources: PolicyStatement['resources'];
  const hasResource = raw.Resource !== undefined || raw.NotResource !== undefined;
  if (raw.Resource !== undefined && raw.NotResource !== undefined) fail(`${at} must have only one of Resource or NotResource`);
  if (kind === 'repository' && hasResource) {
    fail(`${at}.${raw.Resource !== undefined ? 'Resource' : 'NotResource'} is not allowed in a repository policy (it applies to the repository it is set on)`);
  }
  if (kind === 'identity' && !hasResource) fail(`${at} must have Resource or NotResource`);
  if (hasResource) {
    const element = raw.Resource !== undefined ? 'Resource' : 'NotResource';
    resources = {
      negated: element === 'NotResource',
      patterns: stringList(raw[element], `${at}.${element}`).map((resource, i) => parseResource(resource, listAt(`${at}.${element}`, i, raw[element]))),
    };
  }

  const conditions = raw.Condition === undefined ? [] : parseConditions(raw.Condition, `${at}.Condition`);
  return { index, sid: raw.Sid as string | undefined, effect: raw.Effect, principals, actions, resources, conditions };
}

function parsePrincipal(raw: unknown, at: string): PrincipalPattern[] {
  if (raw === '*') return [{ kind: 'anyone' }];
  if (!isObject(raw)) fail(`${at} must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`);
  const keys = Object.keys(raw);
  for (const key of keys) {
    if (key !== 'AWS') fail(`${at}.${key} is not supported; only AWS principals (account ids, IAM ARNs, "*") can call this registry`);
  }
  if (keys.length === 0) fail(`${at} must name at least one principal in "AWS"`);
  const entries = stringList(raw.AWS, `${at}.AWS`);
  return entries.map((entry, i) => parsePrincipalEntry(entry, listAt(`${at}.AWS`, i, raw.AWS)));
}

function parsePrincipalEntry(entry: string, at: string): PrincipalPattern {
  if (entry === '*') return { kind: 'anyone' };
  if (ACCOUNT_ID.test(entry)) return { kind: 'account', account: entry };
  let match = ROOT_ARN.exec(entry);
  if (match) return { kind: 'account', account: match[1] };
  if (USER_ARN.test(entry)) return { kind: 'user', arn: entry };
  match = ROLE_ARN.exec(entry);
  if (match) return { kind: 'role', arn: entry, account: match[1], name: match[2] };
  if (ASSUMED_ROLE_ARN.test(entry)) return { kind: 'assumed-role', arn: entry };
  if (hasWildcard(entry)) {
    fail(`${at} "${entry}": a principal cannot contain wildcards except "*" alone; match ARNs with a Condition such as ArnLike on aws:PrincipalArn`);
  }
  fail(
    `${at} "${entry}" is not a principal: expected "*", a 12-digit account id, or arn:aws:iam::<account>:root, ` +
      `arn:aws:iam::<account>:user/<name>, arn:aws:iam::<account>:role/<name>, arn:aws:sts::<account>:assumed-role/<role>/<session>`,
  );
}

function parseAction(action: string, at: string, kind: PolicyKind): string {
  if (action === '*') return action;
  if (!ACTION.test(action)) fail(`${at} "${action}" must be "*" or "<service>:<action>" (wildcards * and ? allowed in the action name)`);
  const service = action.slice(0, action.indexOf(':')).toLowerCase();
  if (service !== 'ecr') {
    // An identity policy may well carry other services' actions; they never match a registry request.
    if (kind !== 'identity') fail(`${at} "${action}" is not an ECR action; a ${kind} policy can only grant ecr: actions`);
    return action;
  }
  if (!hasWildcard(action) && !canonicalEcrAction(action)) fail(`${at} "${action}" is not an ECR action`);
  return action;
}

function parseResource(resource: string, at: string): string {
  if (resource === '*') return resource;
  const parts = splitArn(resource);
  const usage = `must be "*" or an ARN such as arn:aws:ecr:<region>:<account>:repository/<name> (wildcards * and ? allowed)`;
  if (!parts) fail(`${at} "${resource}" ${usage}`);
  const [, , service, , account, name] = parts;
  if (service !== 'ecr') return resource; // another service's resource: valid in IAM, never a repository
  if (!/^[\d*?]*$/.test(account)) fail(`${at} "${resource}": the account part must be a 12-digit account id (or a wildcard)`);
  if (!hasWildcard(name) && !/^repository\/.+$/.test(name)) fail(`${at} "${resource}" ${usage}`);
  return resource;
}

function parseConditions(raw: unknown, at: string): ConditionClause[] {
  if (!isObject(raw)) fail(`${at} must be an object of operators, such as {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}`);
  const clauses: ConditionClause[] = [];
  for (const [name, block] of Object.entries(raw)) {
    if (name.startsWith('ForAnyValue:') || name.startsWith('ForAllValues:')) {
      fail(`${at} operator "${name}" is not supported: the supported keys have one value, so use the operator without the set qualifier`);
    }
    const ifExists = name.endsWith('IfExists');
    const operator = (ifExists ? name.slice(0, -'IfExists'.length) : name) as ConditionOperator;
    if (!CONDITION_OPERATORS.includes(operator)) {
      fail(`${at} operator "${name}" is not supported; supported: ${CONDITION_OPERATORS.join(', ')} (each also with IfExists)`);
    }
    if (!isObject(block)) fail(`${at}.${name} must be an object of condition keys to values`);
    if (Object.keys(block).length === 0) fail(`${at}.${name} must name at least one condition key`);
    for (const [rawKey, rawValues] of Object.entries(block)) {
      // Condition key names are case-insensitive in IAM.
      const key = CONDITION_KEYS.find((known) => known.toLowerCase() === rawKey.toLowerCase());
      if (!key) fail(`${at}.${name} key "${rawKey}" is not supported; supported keys: ${CONDITION_KEYS.join(', ')}`);
      const keyAt = `${at}.${name}["${rawKey}"]`;
      if (!OPERATORS_FOR_KEY[key].includes(operator)) fail(`${keyAt}: ${key} cannot be tested with ${name}; use ${OPERATORS_FOR_KEY[key].join(', ')}`);
      const values = stringList(rawValues, keyAt);
      values.forEach((value, i) => checkConditionValue(operator, value, listAt(keyAt, i, rawValues)));
      clauses.push({ operator, ifExists, key, values });
    }
  }
  return clauses;
}

function checkConditionValue(operator: ConditionOperator, value: string, at: string): void {
  if ((operator === 'IpAddress' || operator === 'NotIpAddress') && !parseCidr(value)) {
    fail(`${at} "${value}" is not an IP address or CIDR block (such as 203.0.113.0/24 or 2001:db8::/32)`);
  }
  if (operator.startsWith('Arn') && value !== '*' && !splitArn(value)) {
    fail(`${at} "${value}" is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>, wildcards allowed)`);
  }
}

/** IAM's "a string or a non-empty array of strings". */
function stringList(raw: unknown, at: string): string[] {
  if (typeof raw === 'string') return [raw];
  if (!Array.isArray(raw)) fail(`${at} must be a string or an array of strings`);
  if (raw.length === 0) fail(`${at} must not be an empty array`);
  raw.forEach((entry, i) => {
    if (typeof entry !== 'string') fail(`${at}[${i}] must be a string`);
  });
  return raw as string[];
}

/** `X[i]` for arrays, plain `X` for a single string, so messages point where the author wrote it. */
function listAt(at: string, index: number, raw: unknown): string {
  return Array.isArray(raw) ? `${at}[${index}]` : at;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new PolicyValidationError(message);
}
