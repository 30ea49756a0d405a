/**
 * ECR's documented lifecycle policy examples (user guide, "Examples of lifecycle policies") as a
 * table of (images with tags and push times, rules) -> expected (digest, appliedRulePriority), in
 * the evaluator's output order. Run through the evaluator (test/unit/lifecycle-evaluate.test.ts) and
 * through the ECR API and a real run on every metadata adapter (test/contract/lifecycle.suite.ts).
 */
import type { LifecycleImage, LifecycleRule } from '../../lambdas/core/lifecycle/policy-types';

export const NOW = new Date('2026-06-01T00:00:00.000Z');
export const DAY = 86_400_000;
export const ago = (days: number, extraMs = 0): string => new Date(NOW.getTime() - days * DAY - extraMs).toISOString();

export function img(digest: string, tags: string[], pushedDaysAgo: number, more: Partial<LifecycleImage> = {}): LifecycleImage {
  return { digest, tags, pushedAt: ago(pushedDaysAgo), ...more };
}

type Sel = Partial<LifecycleRule['selection']>;
export function rule(rulePriority: number, selection: Sel, action: LifecycleRule['action'] = { type: 'expire' }): LifecycleRule {
  return {
    rulePriority,
    selection: { tagStatus: 'any', storageClass: 'standard', countType: 'imageCountMoreThan', countNumber: 1, ...selection },
    action,
  };
}

export interface LifecycleExample {
  name: string;
  rules: LifecycleRule[];
  images: LifecycleImage[];
  /** digest -> appliedRulePriority, in output order. */
  expected: Array<[string, number]>;
}

const exampleAImages = [img('A', ['beta-1', 'prod-1'], 10), img('B', ['beta-2', 'prod-2'], 9), img('C', ['beta-3'], 8)];
const exampleBImages = [
  img('A', ['beta-1', 'prod-1'], 10),
  img('B', ['beta-2', 'prod-2'], 9),
  img('C', ['beta-3', 'prod-3'], 8),
  img('D', ['beta-4'], 7),
];
const multiTag = [img('A', ['alpha-1', 'beta-1', 'gamma-1'], 10), img('B', ['alpha-2', 'beta-2'], 9), img('C', ['alpha-3', 'beta-3', 'gamma-2'], 8)];

export const ECR_EXAMPLES: LifecycleExample[] = [
  {
    name: 'filtering on image age: tagged prod* older than 14 days',
    rules: [rule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 })],
    images: [img('old-prod', ['prod-1'], 20), img('new-prod', ['prod-2'], 3), img('old-dev', ['dev-1'], 30), img('old-untagged', [], 30)],
    expected: [['old-prod', 1]],
  },
  {
    name: 'filtering on image count: keep one untagged image',
    rules: [rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 })],
    images: [img('u1', [], 3), img('u2', [], 2), img('u3', [], 1), img('t', ['v1'], 9)],
    expected: [['u1', 1], ['u2', 1]],
  },
  {
    name: 'multiple rules, example A (prefixes): only A expires, B matches rule 1 and rule 1 keeps it',
    rules: [
      rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod'], countNumber: 1 }),
      rule(2, { tagStatus: 'tagged', tagPrefixList: ['beta'], countNumber: 1 }),
    ],
    images: exampleAImages,
    expected: [['A', 1]],
  },
  {
    name: 'multiple rules, example A (patterns)',
    rules: [
      rule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countNumber: 1 }),
      rule(2, { tagStatus: 'tagged', tagPatternList: ['beta*'], countNumber: 1 }),
    ],
    images: exampleAImages,
    expected: [['A', 1]],
  },
  {
    name: 'multiple rules, example B: A and B expire by rule 1, C is protected by rule 1',
    rules: [
      rule(1, { tagStatus: 'tagged', tagPrefixList: ['beta', 'prod'], countNumber: 1 }),
      rule(2, { tagStatus: 'tagged', tagPrefixList: ['beta'], countNumber: 1 }),
    ],
    images: exampleBImages,
    expected: [['A', 1], ['B', 1]],
  },
  {
    name: 'multiple tags in one rule, by count: images with both alpha and beta, keep one',
    rules: [rule(1, { tagStatus: 'tagged', tagPrefixList: ['alpha', 'beta'], countNumber: 1 })],
    images: multiTag,
    expected: [['A', 1], ['B', 1]],
  },
  {
    name: 'multiple tags in one rule, by age: alpha and beta older than 5 days',
    rules: [rule(1, { tagStatus: 'tagged', tagPatternList: ['alpha*', 'beta*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 5 })],
    images: multiTag,
    expected: [['A', 1], ['B', 1], ['C', 1]],
  },
  {
    name: 'all images (tagged and untagged in one rule): keep the newest one',
    rules: [rule(1, { tagStatus: 'any', countNumber: 1 })],
    images: [img('A', [], 4), img('B', ['alpha-1'], 3), img('C', [], 2), img('D', ['git-1'], 1)],
    expected: [['A', 1], ['B', 1], ['C', 1]],
  },
  {
    name: 'all images after tagged and untagged rules: the any rule cannot expire what they match',
    rules: [
      rule(1, { tagStatus: 'tagged', tagPrefixList: ['alpha'], countNumber: 1 }),
      rule(2, { tagStatus: 'untagged', countNumber: 1 }),
      rule(3, { tagStatus: 'any', countNumber: 1 }),
    ],
    images: [img('A', ['alpha-1'], 5), img('B', [], 4), img('C', ['alpha-2'], 3), img('D', ['git-1'], 2), img('E', [], 1)],
    // E (newest) fills rule 3's slot; of the rest only D matches no higher rule.
    expected: [['A', 1], ['B', 2], ['D', 3]],
  },
  {
    name: 'any rule by age after a keep-everything prod rule',
    rules: [
      rule(1, { tagStatus: 'tagged', tagPatternList: ['prod-*'], countNumber: 9999 }),
      rule(2, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }),
    ],
    images: [img('prod-old', ['prod-1'], 400), img('dev-old', ['dev-1'], 40), img('u-old', [], 50), img('dev-new', ['dev-2'], 2)],
    expected: [['u-old', 2], ['dev-old', 2]],
  },
];
