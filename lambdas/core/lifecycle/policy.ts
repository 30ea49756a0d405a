import type { CountType, LifecycleActionType, LifecyclePolicy, LifecycleRule, StorageClass, TagStatus } from './policy-types';

/**
 * Reads a lifecycle policy text as ECR's PutLifecyclePolicy validates it (user guide, "Lifecycle
 * policy properties" and the 2025 grammar with archive and pull age), so that a policy moved from
 * ECR is accepted or refused here the same way. A refusal names the rule by its rulePriority (or its
 * place in `rules` while that is not yet readable) and the field, because ECR's console and CLI users
 * fix policies by those two.
 *
 * Choices where the user guide is silent:
 * - "only one rule may select untagged images" and "the `any` rule has the highest rulePriority" hold
 *   per storage class: a policy that archives by pull age and then expires what has been archived long
 *   enough has one `any` rule of each class, which is the pattern ECR's archive announcement shows.
 * - Beyond ECR: `expire` with `sinceImagePulled` is accepted (ECR only archives by pull age);
 *   docs/lifecycle.md documents it as an extension.
 */

/** A policy the registry cannot honour; the ECR API maps it to InvalidParameterException. */
export class LifecyclePolicyValidationError extends Error {
  constructor(
    readonly reason: string,
    /** The rule at fault, when it has a readable rulePriority. */
    readonly rulePriority?: number,
    /** The field at fault, as a path inside the rule (`selection.countUnit`) or the policy (`rules`). */
    readonly field?: string,
  ) {
    super(`Lifecycle policy validation failure: ${reason}`);
    this.name = 'LifecyclePolicyValidationError';
  }
}

/** ECR's limits on PutLifecyclePolicy's `lifecyclePolicyText` (API reference). */
export const MIN_LIFECYCLE_POLICY_LENGTH = 100;
export const MAX_LIFECYCLE_POLICY_LENGTH = 30_720;
/** ECR's service quota "Rules per lifecycle policy". */
export const MAX_LIFECYCLE_RULES = 50;
/** The user guide: "You can use a maximum of four wildcards (*) per string". */
export const MAX_PATTERN_WILDCARDS = 4;

const TAG_STATUSES: readonly TagStatus[] = ['tagged', 'untagged', 'any'];
const STORAGE_CLASSES: readonly StorageClass[] = ['standard', 'archive'];
const COUNT_TYPES: readonly CountType[] = ['imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled', 'sinceImageTransitioned'];
const ACTION_TYPES: readonly LifecycleActionType[] = ['expire', 'transition'];

const RULE_KEYS = ['rulePriority', 'description', 'selection', 'action'];
const SELECTION_KEYS = ['tagStatus', 'tagPrefixList', 'tagPatternList', 'storageClass', 'countType', 'countUnit', 'countNumber'];
const ACTION_KEYS = ['type', 'targetStorageClass'];

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPositiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** Parses and validates a policy text; throws LifecyclePolicyValidationError for what ECR refuses. */
export function parseLifecyclePolicy(text: string): LifecyclePolicy {
  const length = Array.from(text).length;
  if (length < MIN_LIFECYCLE_POLICY_LENGTH || length > MAX_LIFECYCLE_POLICY_LENGTH) {
    throw new LifecyclePolicyValidationError(
      `the policy text must be between ${MIN_LIFECYCLE_POLICY_LENGTH} and ${MAX_LIFECYCLE_POLICY_LENGTH} characters long; it has ${length}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new LifecyclePolicyValidationError('the policy text is not valid JSON');
  }
  if (!isObject(doc)) throw new LifecyclePolicyValidationError('the policy must be a JSON object');
  unknownKeys(doc, ['rules'], 'the policy', undefined, '');
  const rules = doc.rules;
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new LifecyclePolicyValidationError("'rules' must be a non-empty array of rules", undefined, 'rules');
  }
  if (rules.length > MAX_LIFECYCLE_RULES) {
    throw new LifecyclePolicyValidationError(`a policy has at most ${MAX_LIFECYCLE_RULES} rules; this one has ${rules.length}`, undefined, 'rules');
  }
  const parsed = rules.map((rule, index) => parseRule(rule, index));
  checkAcrossRules(parsed);
  return { rules: parsed };
}

function parseRule(raw: unknown, index: number): LifecycleRule {
  const at = `rules[${index}]`;
  if (!isObject(raw)) throw new LifecyclePolicyValidationError(`${at} must be a JSON object`, undefined, at);
  if (!isPositiveInteger(raw.rulePriority)) {
    throw new LifecyclePolicyValidationError(`${at}: 'rulePriority' must be an integer of 1 or more`, undefined, 'rulePriority');
  }
  const priority = raw.rulePriority;
  const rule = `rule with rulePriority ${priority}`;
  const fail = (field: string, why: string): never => {
    throw new LifecyclePolicyValidationError(`${rule}: '${field}' ${why}`, priority, field);
  };
  unknownKeys(raw, RULE_KEYS, rule, priority, '');
  if (raw.description !== undefined && typeof raw.description !== 'string') fail('description', 'must be a string');

  const selection = raw.selection;
  if (!isObject(selection)) return fail('selection', 'is required and must be a JSON object');
  unknownKeys(selection, SELECTION_KEYS, rule, priority, 'selection.');
  const tagStatus = oneOf(selection.tagStatus, TAG_STATUSES, 'selection.tagStatus', fail);
  const storageClass = selection.storageClass === undefined ? 'standard' : oneOf(selection.storageClass, STORAGE_CLASSES, 'selection.storageClass', fail);
  const countType = oneOf(selection.countType, COUNT_TYPES, 'selection.countType', fail);
  const prefixes = tagList(selection.tagPrefixList, 'selection.tagPrefixList', fail);
  const patterns = tagList(selection.tagPatternList, 'selection.tagPatternList', fail);

  if (tagStatus === 'tagged') {
    if (prefixes === undefined && patterns === undefined) fail('selection.tagStatus', "'tagged' requires a 'tagPrefixList' or a 'tagPatternList'");
    if (prefixes !== undefined && patterns !== undefined) fail('selection.tagPatternList', "cannot be given with 'tagPrefixList'; give one of them");
  } else {
    if (prefixes !== undefined) fail('selection.tagPrefixList', `is only allowed with tagStatus 'tagged', not '${tagStatus}'`);
    if (patterns !== undefined) fail('selection.tagPatternList', `is only allowed with tagStatus 'tagged', not '${tagStatus}'`);
  }
  for (const pattern of patterns ?? []) {
    const wildcards = pattern.split('*').length - 1;
    if (wildcards > MAX_PATTERN_WILDCARDS) {
      fail('selection.tagPatternList', `entry '${pattern}' has ${wildcards} wildcards (*); a pattern has at most ${MAX_PATTERN_WILDCARDS}`);
    }
  }

  if (countType === 'sinceImageTransitioned') {
    if (storageClass !== 'archive') fail('selection.countType', "'sinceImageTransitioned' requires storageClass 'archive'");
  } else if (storageClass !== 'standard') {
    fail('selection.countType', `'${countType}' requires storageClass 'standard'`);
  }
  if (countType === 'imageCountMoreThan') {
    if (selection.countUnit !== undefined) fail('selection.countUnit', "is not allowed with countType 'imageCountMoreThan'");
  } else if (selection.countUnit === undefined) {
    fail('selection.countUnit', `is required with countType '${countType}'`);
  } else if (selection.countUnit !== 'days') {
    fail('selection.countUnit', "must be 'days'");
  }
  if (!isPositiveInteger(selection.countNumber)) fail('selection.countNumber', 'must be an integer of 1 or more');

  const action = raw.action;
  if (!isObject(action)) return fail('action', 'is required and must be a JSON object');
  unknownKeys(action, ACTION_KEYS, rule, priority, 'action.');
  const type = oneOf(action.type, ACTION_TYPES, 'action.type', fail);
  if (type === 'transition') {
    if (storageClass !== 'standard') fail('action.type', "'transition' only moves images of storageClass 'standard'");
    if (action.targetStorageClass !== 'archive') fail('action.targetStorageClass', "is required with action 'transition' and must be 'archive'");
  } else if (action.targetStorageClass !== undefined) {
    fail('action.targetStorageClass', "is only allowed with action 'transition'");
  }

  return {
    rulePriority: priority,
    ...(raw.description !== undefined ? { description: raw.description as string } : {}),
    selection: {
      tagStatus,
      ...(prefixes !== undefined ? { tagPrefixList: prefixes } : {}),
      ...(patterns !== undefined ? { tagPatternList: patterns } : {}),
      storageClass,
      countType,
      ...(countType !== 'imageCountMoreThan' ? { countUnit: 'days' as const } : {}),
      countNumber: selection.countNumber as number,
    },
    action: type === 'transition' ? { type, targetStorageClass: 'archive' } : { type },
  };
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, fail: (field: string, why: string) => never): T {
  if (value === undefined) fail(field, `is required; one of ${list(allowed)}`);
  if (!allowed.includes(value as T)) fail(field, `must be one of ${list(allowed)}`);
  return value as T;
}

function tagList(value: unknown, field: string, fail: (field: string, why: string) => never): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) return fail(field, 'must be a non-empty list of strings');
  if (!value.every((v) => typeof v === 'string' && v.length > 0)) fail(field, 'entries must be non-empty strings');
  return value as string[];
}

function unknownKeys(obj: Json, allowed: readonly string[], where: string, priority: number | undefined, prefix: string): void {
  const extra = Object.keys(obj).find((k) => !allowed.includes(k));
  if (extra === undefined) return;
  const field = `${prefix}${extra}`;
  const reason = priority === undefined ? `${where} has an unknown field '${field}'` : `${where}: '${field}' is not a known field`;
  throw new LifecyclePolicyValidationError(reason, priority, field);
}

function checkAcrossRules(rules: LifecycleRule[]): void {
  const seen = new Set<number>();
  for (const r of rules) {
    if (seen.has(r.rulePriority)) {
      throw new LifecyclePolicyValidationError(`rule with rulePriority ${r.rulePriority}: 'rulePriority' must be unique in the policy`, r.rulePriority, 'rulePriority');
    }
    seen.add(r.rulePriority);
  }
  for (const storageClass of STORAGE_CLASSES) {
    const ofClass = rules.filter((r) => r.selection.storageClass === storageClass).sort((a, b) => a.rulePriority - b.rulePriority);
    const untagged = ofClass.filter((r) => r.selection.tagStatus === 'untagged');
    if (untagged.length > 1) {
      const second = untagged[1].rulePriority;
      throw new LifecyclePolicyValidationError(
        `rule with rulePriority ${second}: 'selection.tagStatus' 'untagged' is already selected for storageClass '${storageClass}' by the rule with rulePriority ${untagged[0].rulePriority}; only one rule may select untagged images of a storage class`,
        second,
        'selection.tagStatus',
      );
    }
    const highest = ofClass[ofClass.length - 1];
    const any = ofClass.find((r) => r.selection.tagStatus === 'any' && r !== highest);
    if (any !== undefined) {
      throw new LifecyclePolicyValidationError(
        `rule with rulePriority ${any.rulePriority}: a rule with tagStatus 'any' must have the highest 'rulePriority' of the rules for storageClass '${storageClass}' (${highest.rulePriority} is higher)`,
        any.rulePriority,
        'rulePriority',
      );
    }
  }
}

/** The canonical text of a validated policy: fixed key order, defaults spelt out. */
export function serializeLifecyclePolicy(policy: LifecyclePolicy): string {
  return JSON.stringify({
    rules: policy.rules.map((r) => ({
      rulePriority: r.rulePriority,
      ...(r.description !== undefined ? { description: r.description } : {}),
      selection: {
        tagStatus: r.selection.tagStatus,
        ...(r.selection.tagPrefixList !== undefined ? { tagPrefixList: r.selection.tagPrefixList } : {}),
        ...(r.selection.tagPatternList !== undefined ? { tagPatternList: r.selection.tagPatternList } : {}),
        storageClass: r.selection.storageClass,
        countType: r.selection.countType,
        ...(r.selection.countUnit !== undefined ? { countUnit: r.selection.countUnit } : {}),
        countNumber: r.selection.countNumber,
      },
      action: { type: r.action.type, ...(r.action.targetStorageClass !== undefined ? { targetStorageClass: r.action.targetStorageClass } : {}) },
    })),
  });
}
