/**
 * EventBridge's event pattern matching, for the LOCAL STAND-IN of EventBridge (eventbridge-stand-in.ts)
 * in the emulated AWS mode: the parts Berth's rules use (EventBridge user guide, "Event patterns" and
 * "Content filtering"). A pattern is an object; every field it names must match (AND); a leaf is an
 * array of allowed values (OR), each a literal (exact, type included) or one of the operators
 * `prefix`, `suffix`, `anything-but` (a value, a list, or `{ prefix }`), `exists`, `numeric`, and
 * `equals-ignore-case`. `$or` takes a list of sub-patterns. When the event's value is an array, the
 * field matches if any element does, as EventBridge does. Not implemented: `wildcard`, `cidr`.
 */

export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternException';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type EventPattern = { [key: string]: unknown };

const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);
const OPERATORS = new Set(['prefix', 'suffix', 'anything-but', 'exists', 'numeric', 'equals-ignore-case']);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Throws InvalidEventPatternError as PutRule would for a pattern this matcher cannot read. */
export function validateEventPattern(pattern: unknown, path = ''): void {
  if (!isObject(pattern)) throw new InvalidEventPatternError(`Event pattern${path ? ` at ${path}` : ''} must be a JSON object`);
  for (const [key, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) throw new InvalidEventPatternError(`"$or" at ${at} must be an array of at least two patterns`);
      value.forEach((sub, i) => validateEventPattern(sub, `${at}[${i}]`));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(`Empty arrays are not allowed as values (at ${at})`);
      value.forEach((element) => validateMatcher(element, at));
    } else if (isObject(value)) {
      validateEventPattern(value, at);
    } else {
      throw new InvalidEventPatternError(`Match value at ${at} must be an array or an object, got ${JSON.stringify(value)}`);
    }
  }
}

function validateMatcher(matcher: unknown, at: string): void {
  if (!isObject(matcher)) {
    if (Array.isArray(matcher)) throw new InvalidEventPatternError(`Nested arrays are not allowed as match values (at ${at})`);
    return;
  }
  const keys = Object.keys(matcher);
  if (keys.length !== 1 || !OPERATORS.has(keys[0]!)) throw new InvalidEventPatternError(`Unrecognized match type ${keys.join(', ')} at ${at}`);
  const [operator] = keys as [string];
  const operand = matcher[operator];
  if (operator === 'exists' && typeof operand !== 'boolean') throw new InvalidEventPatternError(`exists match pattern must be either true or false (at ${at})`);
  if ((operator === 'prefix' || operator === 'suffix' || operator === 'equals-ignore-case') && typeof operand !== 'string') {
    throw new InvalidEventPatternError(`${operator} match pattern must be a string (at ${at})`);
  }
  if (operator === 'numeric') parseNumericRange(operand, at);
  if (operator === 'anything-but' && isObject(operand) && !(Object.keys(operand).length === 1 && typeof operand.prefix === 'string')) {
    throw new InvalidEventPatternError(`anything-but takes a value, a list of values or { "prefix": "..." } (at ${at})`);
  }
}

function parseNumericRange(operand: unknown, at = ''): Array<[string, number]> {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0) {
    throw new InvalidEventPatternError(`numeric takes pairs of an operator and a number (at ${at})`);
  }
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i < operand.length; i += 2) {
    const [op, bound] = [operand[i], operand[i + 1]];
    if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op) || typeof bound !== 'number') {
      throw new InvalidEventPatternError(`Bad numeric range ${JSON.stringify(operand)} (at ${at})`);
    }
    pairs.push([op, bound]);
  }
  return pairs;
}

/** Whether the event matches the pattern. The pattern is validated first (an invalid one throws). */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  validateEventPattern(pattern);
  return matchObject(pattern, event);
}

function matchObject(pattern: EventPattern, value: unknown): boolean {
  // Arrays of objects in the event are flattened by EventBridge: any element may satisfy the nested pattern.
  if (Array.isArray(value)) return value.some((element) => matchObject(pattern, element));
  const object = isObject(value) ? value : undefined;
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or') return (expected as EventPattern[]).some((sub) => matchObject(sub, value));
    const actual = object ? object[key] : undefined;
    if (Array.isArray(expected)) return matchLeaf(expected, actual, object !== undefined && key in object);
    return matchObject(expected as EventPattern, actual);
  });
}

/** A leaf value: absent, or present with its values (an array's elements, or the value itself). */
function matchLeaf(matchers: unknown[], actual: unknown, present: boolean): boolean {
  // exists applies to leaves only: an object (an intermediate node) does not count as an existing leaf.
  const leafPresent = present && !isObject(actual) && !(Array.isArray(actual) && actual.length > 0 && actual.every(isObject));
  const values = Array.isArray(actual) ? (actual as Json[]) : [actual as Json];
  return matchers.some((matcher) => {
    if (isObject(matcher) && 'exists' in matcher) return matcher.exists === leafPresent;
    if (!leafPresent) return false;
    if (isObject(matcher) && 'anything-but' in matcher) return values.some((v) => !anythingButExcludes(matcher['anything-but'], v));
    return values.some((v) => matchValue(matcher, v));
  });
}

function matchValue(matcher: unknown, value: Json): boolean {
  if (!isObject(matcher)) return matcher === value;
  const [[operator, operand]] = Object.entries(matcher) as [[string, unknown]];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(operand as string);
    case 'suffix':
      return typeof value === 'string' && value.endsWith(operand as string);
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === (operand as string).toLowerCase();
    case 'numeric':
      return typeof value === 'number' && parseNumericRange(operand).every(([op, bound]) => compare(op, value, bound));
    default:
      return false;
  }
}

/** Whether `anything-but`'s operand names the value (which then makes the field not match). */
function anythingButExcludes(operand: unknown, value: Json): boolean {
  if (isObject(operand)) return typeof value === 'string' && value.startsWith(operand.prefix as string);
  const excluded = Array.isArray(operand) ? operand : [operand];
  return excluded.some((e) => e === value);
}

function compare(op: string, value: number, bound: number): boolean {
  switch (op) {
    case '=':
      return value === bound;
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    default:
      return value >= bound;
  }
}
