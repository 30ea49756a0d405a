import {
  LifecyclePolicyValidationError,
  MAX_LIFECYCLE_POLICY_LENGTH,
  parseLifecyclePolicy,
  serializeLifecyclePolicy,
} from '../../lambdas/core/lifecycle/policy';

const PREFIX = 'Lifecycle policy validation failure: ';

type Rule = Record<string, unknown>;
const rule = (priority: unknown, selection: Record<string, unknown>, action: Record<string, unknown> = { type: 'expire' }, extra: Rule = {}): Rule => ({
  rulePriority: priority,
  selection,
  action,
  ...extra,
});
const untaggedCount = (priority: number, extra: Record<string, unknown> = {}) =>
  rule(priority, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 5, ...extra });
const text = (rules: unknown) => JSON.stringify({ rules });

function refusal(policyText: string): LifecyclePolicyValidationError {
  try {
    parseLifecyclePolicy(policyText);
  } catch (err) {
    expect(err).toBeInstanceOf(LifecyclePolicyValidationError);
    return err as LifecyclePolicyValidationError;
  }
  throw new Error('the policy was accepted');
}

// The user guide's "Examples of lifecycle policies in Amazon ECR", as ECR prints them.
const ECR_EXAMPLES: Record<string, unknown> = {
  'filtering on image age': {
    rules: [
      {
        rulePriority: 1,
        description: 'Expire images older than 14 days',
        selection: { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
        action: { type: 'expire' },
      },
    ],
  },
  'filtering on image count': {
    rules: [
      {
        rulePriority: 1,
        description: 'Keep only one untagged image, expire all others',
        selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 },
        action: { type: 'expire' },
      },
    ],
  },
  'multiple rules (example A)': {
    rules: [
      { rulePriority: 1, description: 'Rule 1', selection: { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
      { rulePriority: 2, description: 'Rule 2', selection: { tagStatus: 'tagged', tagPatternList: ['beta*'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
    ],
  },
  'multiple tags in a single rule': {
    rules: [
      { rulePriority: 1, description: 'Rule 1', selection: { tagStatus: 'tagged', tagPatternList: ['alpha*', 'beta*'], countType: 'sinceImagePushed', countNumber: 5, countUnit: 'days' }, action: { type: 'expire' } },
    ],
  },
  'prefix list (older form)': {
    rules: [
      { rulePriority: 1, description: 'Rule 1', selection: { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
      { rulePriority: 2, description: 'Rule 2', selection: { tagStatus: 'tagged', tagPrefixList: ['beta'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
    ],
  },
  'filtering on all images (count)': {
    rules: [{ rulePriority: 1, description: 'Rule 1', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
  },
  'filtering on all images (untagged then any)': {
    rules: [
      { rulePriority: 1, description: 'Rule 1', selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }, action: { type: 'expire' } },
      { rulePriority: 2, description: 'Rule 2', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
    ],
  },
  'archive by pull age, then expire what stayed archived': {
    rules: [
      {
        rulePriority: 1,
        description: 'Archive images not pulled in 90 days',
        selection: { tagStatus: 'any', storageClass: 'standard', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 90 },
        action: { type: 'transition', targetStorageClass: 'archive' },
      },
      {
        rulePriority: 2,
        description: 'Delete images archived for 365 days',
        selection: { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 365 },
        action: { type: 'expire' },
      },
    ],
  },
};

describe('parseLifecyclePolicy: what ECR accepts', () => {
  it.each(Object.entries(ECR_EXAMPLES))('accepts the user guide example: %s', (_name, doc) => {
    const policyText = JSON.stringify(doc, null, 4);
    const parsed = parseLifecyclePolicy(policyText);
    expect(parsed.rules).toHaveLength((doc as { rules: unknown[] }).rules.length);
  });

  it('fills the defaults: storageClass standard, and keeps the rest as given', () => {
    const parsed = parseLifecyclePolicy(JSON.stringify(ECR_EXAMPLES['filtering on image age']));
    expect(parsed).toEqual({
      rules: [
        {
          rulePriority: 1,
          description: 'Expire images older than 14 days',
          selection: { tagStatus: 'tagged', tagPatternList: ['prod*'], storageClass: 'standard', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
          action: { type: 'expire' },
        },
      ],
    });
    expect(parseLifecyclePolicy(text([untaggedCount(1)])).rules[0].selection).toEqual({
      tagStatus: 'untagged',
      storageClass: 'standard',
      countType: 'imageCountMoreThan',
      countNumber: 5,
    });
  });

  it('accepts four wildcards in a pattern, rule priorities that are not sequential, and a rule without description', () => {
    const parsed = parseLifecyclePolicy(
      text([
        rule(10, { tagStatus: 'tagged', tagPatternList: ['*test*1*2*3', 'test*1*2*3*'], countType: 'imageCountMoreThan', countNumber: 3 }),
        rule(3, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
      ]),
    );
    expect(parsed.rules.map((r) => r.rulePriority)).toEqual([10, 3]);
  });

  it('accepts, beyond ECR, expire by pull age', () => {
    const parsed = parseLifecyclePolicy(text([rule(1, { tagStatus: 'untagged', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 })]));
    expect(parsed.rules[0].action).toEqual({ type: 'expire' });
    expect(parsed.rules[0].selection.countType).toBe('sinceImagePulled');
  });

  it('accepts transitions by push age and by count, and one untagged rule per storage class', () => {
    expect(() =>
      parseLifecyclePolicy(
        text([
          rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 10 }, { type: 'transition', targetStorageClass: 'archive' }),
          rule(2, { tagStatus: 'untagged', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 100 }),
          rule(3, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 }, { type: 'transition', targetStorageClass: 'archive' }),
        ]),
      ),
    ).not.toThrow();
  });

  it('reads a policy text of 100 to 30,720 characters and refuses 99 and 30,721', () => {
    const base = text([untaggedCount(1, {})]);
    const pad = (length: number) => base.slice(0, -1) + ' '.repeat(length - base.length) + '}';
    // No valid policy is shorter than 100 characters: the floor refuses texts before they are read.
    expect(base.length).toBeGreaterThanOrEqual(100);
    const short = (length: number) => '{"rules":[]}' + ' '.repeat(length - 12);
    expect(refusal(short(99)).message).toBe(`${PREFIX}the policy text must be between 100 and 30720 characters long; it has 99`);
    expect(refusal(short(100)).message).toBe(`${PREFIX}'rules' must be a non-empty array of rules`);
    expect(refusal('').message).toBe(`${PREFIX}the policy text must be between 100 and 30720 characters long; it has 0`);
    expect(pad(MAX_LIFECYCLE_POLICY_LENGTH)).toHaveLength(30_720);
    expect(() => parseLifecyclePolicy(pad(MAX_LIFECYCLE_POLICY_LENGTH))).not.toThrow();
    expect(refusal(pad(30_721)).message).toBe(`${PREFIX}the policy text must be between 100 and 30720 characters long; it has 30721`);
  });

  it('counts characters, not UTF-16 units', () => {
    const withDescription = (n: number) => text([{ ...untaggedCount(1), description: '😀'.repeat(n) }]);
    const n = MAX_LIFECYCLE_POLICY_LENGTH - (withDescription(0).length);
    expect(() => parseLifecyclePolicy(withDescription(n))).not.toThrow();
    expect(refusal(withDescription(n + 1)).message).toBe(`${PREFIX}the policy text must be between 100 and 30720 characters long; it has 30721`);
  });

  it('gives a canonical text that reads back to the same policy', () => {
    for (const doc of Object.values(ECR_EXAMPLES)) {
      const parsed = parseLifecyclePolicy(JSON.stringify(doc));
      const canonical = serializeLifecyclePolicy(parsed);
      expect(parseLifecyclePolicy(canonical)).toEqual(parsed);
      expect(serializeLifecyclePolicy(parseLifecyclePolicy(canonical))).toBe(canonical);
    }
    expect(serializeLifecyclePolicy(parseLifecyclePolicy(text([untaggedCount(1)])))).toBe(
      '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","storageClass":"standard","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}',
    );
  });
});

const padded = (doc: unknown) => {
  const t = JSON.stringify(doc);
  return t.length >= 100 ? t : t + ' '.repeat(100 - t.length);
};

describe('parseLifecyclePolicy: what ECR refuses, naming the rule and the field', () => {
  const tagged = (extra: Record<string, unknown>) => ({ tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: 1, ...extra });
  const since = (countType: string, extra: Record<string, unknown> = {}) => ({ tagStatus: 'any', countType, countUnit: 'days', countNumber: 1, ...extra });

  const cases: [string, string, string | undefined, number | undefined][] = [
    ['not JSON', '{"rules": [' + ' '.repeat(100), 'the policy text is not valid JSON', undefined],
    ['not an object', padded([untaggedCount(1)]), 'the policy must be a JSON object', undefined],
    ['an unknown top-level key', padded({ rules: [untaggedCount(1)], version: 1 }), "the policy has an unknown field 'version'", undefined],
    ['no rules', padded({ rules: [] }), "'rules' must be a non-empty array of rules", undefined],
    ['rules not an array', padded({ rules: { a: 1 } }), "'rules' must be a non-empty array of rules", undefined],
    ['too many rules', text(Array.from({ length: 51 }, (_, i) => rule(i + 1, tagged({ tagPrefixList: [`p${i}`] })))), 'a policy has at most 50 rules; this one has 51', undefined],
    ['a rule that is not an object', padded({ rules: [untaggedCount(1), 'x'] }), 'rules[1] must be a JSON object', undefined],
    ['a missing rulePriority', padded({ rules: [{ selection: {}, action: { type: 'expire' } }] }), "rules[0]: 'rulePriority' must be an integer of 1 or more", undefined],
    ['rulePriority 0', text([untaggedCount(0)]), "rules[0]: 'rulePriority' must be an integer of 1 or more", undefined],
    ['a fractional rulePriority', text([untaggedCount(1.5)]), "rules[0]: 'rulePriority' must be an integer of 1 or more", undefined],
    ['a string rulePriority', text([untaggedCount('1' as unknown as number)]), "rules[0]: 'rulePriority' must be an integer of 1 or more", undefined],
    ['a duplicate rulePriority', text([rule(2, tagged({ tagPrefixList: ['a'] })), rule(2, tagged({ tagPrefixList: ['b'] }))]), "rule with rulePriority 2: 'rulePriority' must be unique in the policy", 2],
    ['an unknown rule key', text([rule(3, tagged({ tagPrefixList: ['a'] }), { type: 'expire' }, { enabled: true })]), "rule with rulePriority 3: 'enabled' is not a known field", 3],
    ['a description that is not a string', text([rule(3, tagged({ tagPrefixList: ['a'] }), { type: 'expire' }, { description: 5 })]), "rule with rulePriority 3: 'description' must be a string", 3],
    ['no selection', text([{ rulePriority: 4, action: { type: 'expire' }, description: 'nothing selected here at all' }]), "rule with rulePriority 4: 'selection' is required and must be a JSON object", 4],
    ['an unknown selection key', text([rule(4, tagged({ tagPrefixList: ['a'], tagSuffixList: ['b'] }))]), "rule with rulePriority 4: 'selection.tagSuffixList' is not a known field", 4],
    ['no tagStatus', text([rule(4, { countType: 'imageCountMoreThan', countNumber: 1, tagPrefixList: ['a'] })]), "rule with rulePriority 4: 'selection.tagStatus' is required; one of 'tagged', 'untagged', 'any'", 4],
    ['an unknown tagStatus', text([rule(4, tagged({ tagStatus: 'TAGGED', tagPrefixList: ['a'] }))]), "rule with rulePriority 4: 'selection.tagStatus' must be one of 'tagged', 'untagged', 'any'", 4],
    ['an unknown storageClass', text([rule(4, tagged({ tagPrefixList: ['a'], storageClass: 'glacier' }))]), "rule with rulePriority 4: 'selection.storageClass' must be one of 'standard', 'archive'", 4],
    ['no countType', text([rule(4, { tagStatus: 'untagged', countNumber: 1 })]), "rule with rulePriority 4: 'selection.countType' is required; one of 'imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled', 'sinceImageTransitioned'", 4],
    ['an unknown countType', text([rule(4, since('sinceImageCreated'))]), "rule with rulePriority 4: 'selection.countType' must be one of 'imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled', 'sinceImageTransitioned'", 4],
    ['tagged without a list', text([rule(5, tagged({}))]), "rule with rulePriority 5: 'selection.tagStatus' 'tagged' requires a 'tagPrefixList' or a 'tagPatternList'", 5],
    ['tagged with both lists', text([rule(5, tagged({ tagPrefixList: ['a'], tagPatternList: ['b*'] }))]), "rule with rulePriority 5: 'selection.tagPatternList' cannot be given with 'tagPrefixList'; give one of them", 5],
    ['untagged with a prefix list', text([rule(5, { tagStatus: 'untagged', tagPrefixList: ['a'], countType: 'imageCountMoreThan', countNumber: 1 })]), "rule with rulePriority 5: 'selection.tagPrefixList' is only allowed with tagStatus 'tagged', not 'untagged'", 5],
    ['untagged with a pattern list', text([rule(5, { tagStatus: 'untagged', tagPatternList: ['a*'], countType: 'imageCountMoreThan', countNumber: 1 })]), "rule with rulePriority 5: 'selection.tagPatternList' is only allowed with tagStatus 'tagged', not 'untagged'", 5],
    ['any with a pattern list', text([rule(5, { tagStatus: 'any', tagPatternList: ['a*'], countType: 'imageCountMoreThan', countNumber: 1 })]), "rule with rulePriority 5: 'selection.tagPatternList' is only allowed with tagStatus 'tagged', not 'any'", 5],
    ['an empty prefix list', text([rule(5, tagged({ tagPrefixList: [] }))]), "rule with rulePriority 5: 'selection.tagPrefixList' must be a non-empty list of strings", 5],
    ['a pattern list that is a string', text([rule(5, tagged({ tagPatternList: 'prod*' }))]), "rule with rulePriority 5: 'selection.tagPatternList' must be a non-empty list of strings", 5],
    ['an empty pattern', text([rule(5, tagged({ tagPatternList: ['prod*', ''] }))]), "rule with rulePriority 5: 'selection.tagPatternList' entries must be non-empty strings", 5],
    ['a pattern with five wildcards', text([rule(5, tagged({ tagPatternList: ['ok*', 'test*1*2*3*4*5*6'] }))]), "rule with rulePriority 5: 'selection.tagPatternList' entry 'test*1*2*3*4*5*6' has 6 wildcards (*); a pattern has at most 4", 5],
    ['sinceImageTransitioned on standard', text([rule(6, since('sinceImageTransitioned'))]), "rule with rulePriority 6: 'selection.countType' 'sinceImageTransitioned' requires storageClass 'archive'", 6],
    ['sinceImagePushed on archive', text([rule(6, since('sinceImagePushed', { storageClass: 'archive' }))]), "rule with rulePriority 6: 'selection.countType' 'sinceImagePushed' requires storageClass 'standard'", 6],
    ['sinceImagePulled on archive', text([rule(6, since('sinceImagePulled', { storageClass: 'archive' }))]), "rule with rulePriority 6: 'selection.countType' 'sinceImagePulled' requires storageClass 'standard'", 6],
    ['imageCountMoreThan on archive', text([rule(6, { tagStatus: 'any', storageClass: 'archive', countType: 'imageCountMoreThan', countNumber: 1 })]), "rule with rulePriority 6: 'selection.countType' 'imageCountMoreThan' requires storageClass 'standard'", 6],
    ['countUnit with imageCountMoreThan', text([rule(7, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countUnit: 'days', countNumber: 1 })]), "rule with rulePriority 7: 'selection.countUnit' is not allowed with countType 'imageCountMoreThan'", 7],
    ['no countUnit with sinceImagePushed', text([rule(7, { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1 })]), "rule with rulePriority 7: 'selection.countUnit' is required with countType 'sinceImagePushed'", 7],
    ['countUnit hours', text([rule(7, since('sinceImagePushed', { countUnit: 'hours' }))]), "rule with rulePriority 7: 'selection.countUnit' must be 'days'", 7],
    ['no countNumber', text([rule(8, { tagStatus: 'untagged', countType: 'imageCountMoreThan' })]), "rule with rulePriority 8: 'selection.countNumber' must be an integer of 1 or more", 8],
    ['countNumber 0', text([rule(8, since('sinceImagePushed', { countNumber: 0 }))]), "rule with rulePriority 8: 'selection.countNumber' must be an integer of 1 or more", 8],
    ['a fractional countNumber', text([rule(8, since('sinceImagePushed', { countNumber: 1.5 }))]), "rule with rulePriority 8: 'selection.countNumber' must be an integer of 1 or more", 8],
    ['no action', text([{ rulePriority: 9, selection: since('sinceImagePushed') }]), "rule with rulePriority 9: 'action' is required and must be a JSON object", 9],
    ['an unknown action key', text([rule(9, since('sinceImagePushed'), { type: 'expire', after: 1 })]), "rule with rulePriority 9: 'action.after' is not a known field", 9],
    ['no action type', text([rule(9, since('sinceImagePushed'), {})]), "rule with rulePriority 9: 'action.type' is required; one of 'expire', 'transition'", 9],
    ['an unknown action type', text([rule(9, since('sinceImagePushed'), { type: 'delete' })]), "rule with rulePriority 9: 'action.type' must be one of 'expire', 'transition'", 9],
    ['transition from archive', text([rule(9, since('sinceImageTransitioned', { storageClass: 'archive' }), { type: 'transition', targetStorageClass: 'archive' })]), "rule with rulePriority 9: 'action.type' 'transition' only moves images of storageClass 'standard'", 9],
    ['transition without a target', text([rule(9, since('sinceImagePulled'), { type: 'transition' })]), "rule with rulePriority 9: 'action.targetStorageClass' is required with action 'transition' and must be 'archive'", 9],
    ['transition to standard', text([rule(9, since('sinceImagePulled'), { type: 'transition', targetStorageClass: 'standard' })]), "rule with rulePriority 9: 'action.targetStorageClass' is required with action 'transition' and must be 'archive'", 9],
    ['expire with a target', text([rule(9, since('sinceImagePushed'), { type: 'expire', targetStorageClass: 'archive' })]), "rule with rulePriority 9: 'action.targetStorageClass' is only allowed with action 'transition'", 9],
    [
      'two untagged rules of one storage class',
      text([untaggedCount(3), rule(1, tagged({ tagPrefixList: ['a'] })), untaggedCount(2)]),
      "rule with rulePriority 3: 'selection.tagStatus' 'untagged' is already selected for storageClass 'standard' by the rule with rulePriority 2; only one rule may select untagged images of a storage class",
      3,
    ],
    [
      'two untagged archive rules',
      text([
        rule(1, { tagStatus: 'untagged', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 1 }),
        rule(2, { tagStatus: 'untagged', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 2 }),
      ]),
      "rule with rulePriority 2: 'selection.tagStatus' 'untagged' is already selected for storageClass 'archive' by the rule with rulePriority 1; only one rule may select untagged images of a storage class",
      2,
    ],
    [
      'an any rule below another rule',
      text([rule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }), rule(2, tagged({ tagPrefixList: ['a'] }))]),
      "rule with rulePriority 1: a rule with tagStatus 'any' must have the highest 'rulePriority' of the rules for storageClass 'standard' (2 is higher)",
      1,
    ],
    [
      'two any rules of one storage class',
      text([rule(5, since('sinceImagePushed')), rule(4, since('sinceImagePulled'))]),
      "rule with rulePriority 4: a rule with tagStatus 'any' must have the highest 'rulePriority' of the rules for storageClass 'standard' (5 is higher)",
      4,
    ],
  ];

  it.each(cases)('refuses %s', (_name, policyText, reason, priority) => {
    const err = refusal(policyText);
    expect(err.message).toBe(PREFIX + reason);
    expect(err.reason).toBe(reason);
    expect(err.rulePriority).toBe(priority);
  });

  it('names the field of the refusal', () => {
    expect(refusal(text([rule(7, { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 1 })])).field).toBe('selection.countUnit');
    expect(refusal(text([rule(9, since('sinceImagePushed'), { type: 'expire', targetStorageClass: 'archive' })])).field).toBe('action.targetStorageClass');
    expect(refusal(padded({ rules: [] })).field).toBe('rules');
  });
});
