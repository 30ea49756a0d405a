// The lifecycle evaluator: ECR's documented examples, the choices docs/lifecycle.md records where
// ECR is silent, Berth's multi-arch and referrer safety, the archive minimum, and properties.
import fc from 'fast-check';
import { evaluateLifecyclePolicy, patternRegExp } from '../../lambdas/core/lifecycle/evaluate';
import type { LifecycleImage, LifecyclePolicy, LifecycleRule } from '../../lambdas/core/lifecycle/policy-types';
import { ago, DAY, ECR_EXAMPLES, img, NOW, rule } from '../support/lifecycle-examples';

/** digest -> appliedRulePriority, in output order. */
function run(rules: LifecycleRule[], images: LifecycleImage[], now = NOW): Array<[string, number]> {
  return evaluateLifecyclePolicy({ rules }, images, now).map((d) => [d.digest, d.appliedRulePriority]);
}

describe("ECR's documented examples", () => {
  const table = ECR_EXAMPLES;

  test.each(table)('$name', ({ rules, images, expected }) => {
    expect(run(rules, images)).toEqual(expected);
  });

  test('decisions carry what the preview prints', () => {
    const [decision] = evaluateLifecyclePolicy(
      { rules: [rule(3, { tagStatus: 'untagged', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 10 }, { type: 'transition', targetStorageClass: 'archive' })] },
      [img('u', [], 40, { lastPulledAt: ago(20) })],
      NOW,
    );
    expect(decision).toEqual({
      digest: 'u',
      tags: [],
      pushedAt: ago(40),
      action: { type: 'TRANSITION', targetStorageClass: 'ARCHIVE' },
      appliedRulePriority: 3,
      storageClass: 'STANDARD',
    });
  });

  test('output is ordered by appliedRulePriority, then push time', () => {
    const rules = [
      rule(7, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
      rule(2, { tagStatus: 'tagged', tagPrefixList: ['x'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
    ];
    const images = [img('u-new', [], 5), img('x-new', ['x1'], 3), img('u-old', [], 9), img('x-old', ['x2'], 8)];
    expect(run(rules, images)).toEqual([['x-old', 2], ['x-new', 2], ['u-old', 7], ['u-new', 7]]);
  });
});

describe('choices where ECR is silent (docs/lifecycle.md)', () => {
  const age = (n: number, countType: LifecycleRule['selection']['countType'] = 'sinceImagePushed') =>
    rule(1, { tagStatus: 'any', countType, countUnit: 'days', countNumber: n });

  test('an image exactly countNumber days old is not acted on; one millisecond more is', () => {
    const images = [{ digest: 'exact', tags: [], pushedAt: ago(14) }, { digest: 'over', tags: [], pushedAt: ago(14, 1) }];
    expect(run([age(14)], images)).toEqual([['over', 1]]);
  });

  test('an image a higher rule expires still fills a lower count rule\'s keep slots', () => {
    // rule 1 expires N (the newest "beta"), rule 2 keeps one beta: N fills the slot, so M and O are the lower rule's.
    const rules = [
      rule(1, { tagStatus: 'tagged', tagPrefixList: ['beta-x'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
      rule(2, { tagStatus: 'tagged', tagPrefixList: ['beta'], countNumber: 1 }),
    ];
    const images = [img('O', ['beta-1'], 5), img('M', ['beta-2'], 4), img('N', ['beta-x'], 3)];
    expect(run(rules, images)).toEqual([['N', 1], ['O', 2], ['M', 2]]);
  });

  test('one tag may satisfy several prefix or pattern entries', () => {
    const byPrefix = rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod', 'prod-eu'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const byPattern = rule(1, { tagStatus: 'tagged', tagPatternList: ['prod*', '*eu*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const images = [img('one-tag', ['prod-eu-1'], 5)];
    expect(run([byPrefix], images)).toEqual([['one-tag', 1]]);
    expect(run([byPattern], images)).toEqual([['one-tag', 1]]);
  });

  test('every entry must be matched: one missing entry deselects the image', () => {
    const r = rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod', 'beta'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    expect(run([r], [img('only-prod', ['prod-1'], 5)])).toEqual([]);
  });

  test('equal push times: the smaller digest counts as older', () => {
    const same = ago(3);
    const images = ['sha256:c', 'sha256:a', 'sha256:b'].map((digest) => ({ digest, tags: [], pushedAt: same }));
    expect(run([rule(1, { tagStatus: 'untagged', countNumber: 1 })], images)).toEqual([['sha256:a', 1], ['sha256:b', 1]]);
  });

  test('prefixes and patterns are case-sensitive', () => {
    const byPrefix = rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const byPattern = rule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const images = [img('upper', ['PROD-1'], 5), img('lower', ['prod-1'], 5)];
    expect(run([byPrefix], images)).toEqual([['lower', 1]]);
    expect(run([byPattern], images)).toEqual([['lower', 1]]);
  });

  test('patterns match the whole tag; * matches any run, also none; other characters are literal', () => {
    expect(patternRegExp('prod').test('preprod')).toBe(false);
    expect(patternRegExp('prod*').test('prod')).toBe(true);
    expect(patternRegExp('*prod*').test('preprod-1')).toBe(true);
    expect(patternRegExp('v1.*').test('v1x2')).toBe(false);
    expect(patternRegExp('v1.*').test('v1.2')).toBe(true);
    expect(patternRegExp('*test*1*2*3').test('a-test-x1y2z3')).toBe(true);
  });

  test('sinceImagePulled: an image never pulled ages from its push', () => {
    const images = [img('never-pulled-old', [], 40), img('never-pulled-new', [], 5), img('pulled-recently', [], 40, { lastPulledAt: ago(2) })];
    expect(run([age(30, 'sinceImagePulled')], images)).toEqual([['never-pulled-old', 1]]);
  });

  test('sinceImagePulled with expire (Berth extension) expires by pull age', () => {
    const images = [img('stale', ['v1'], 100, { lastPulledAt: ago(31) }), img('used', ['v2'], 100, { lastPulledAt: ago(1) })];
    const decisions = evaluateLifecyclePolicy({ rules: [age(30, 'sinceImagePulled')] }, images, NOW);
    expect(decisions.map((d) => [d.digest, d.action.type])).toEqual([['stale', 'EXPIRE']]);
  });

  test('a higher rule protects only images of its storage class', () => {
    const rules = [
      rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 }, { type: 'transition', targetStorageClass: 'archive' }),
      rule(2, { tagStatus: 'tagged', tagPrefixList: ['prod'], storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 180 }),
    ];
    const images = [
      img('archived-long-ago', ['prod-1'], 400, { storageClass: 'archive', lastArchivedAt: ago(200) }),
      img('idle', ['prod-2'], 100, { lastPulledAt: ago(60) }),
      img('busy', ['prod-3'], 100, { lastPulledAt: ago(1) }),
    ];
    const decisions = evaluateLifecyclePolicy({ rules }, images, NOW);
    expect(decisions.map((d) => [d.digest, d.action.type, d.appliedRulePriority, d.storageClass])).toEqual([
      ['idle', 'TRANSITION', 1, 'STANDARD'],
      ['archived-long-ago', 'EXPIRE', 2, 'ARCHIVE'],
    ]);
  });

  test('an untagged rule shields untagged images from a later any rule', () => {
    const rules = [rule(1, { tagStatus: 'untagged', countNumber: 5 }), rule(2, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })];
    expect(run(rules, [img('u', [], 9), img('t', ['v'], 9)])).toEqual([['t', 2]]);
  });
});

describe('the archive state', () => {
  const expireArchived = rule(1, { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 30 });

  test('lifecycle never expires an image archived less than 90 days ago', () => {
    const images = [
      img('archived-60', [], 300, { storageClass: 'archive', lastArchivedAt: ago(60) }),
      img('archived-90', [], 300, { storageClass: 'archive', lastArchivedAt: ago(90) }),
      img('archived-120', [], 300, { storageClass: 'archive', lastArchivedAt: ago(120) }),
      img('archived-unknown', [], 300, { storageClass: 'archive' }),
    ];
    // Same push time: digest order.
    expect(run([expireArchived], images)).toEqual([['archived-120', 1], ['archived-90', 1]]);
  });

  test('a count rule on archived images keeps the newest and still respects the 90 days', () => {
    const r = rule(1, { tagStatus: 'any', storageClass: 'archive', countType: 'imageCountMoreThan', countNumber: 1 });
    const images = [
      img('a1', [], 300, { storageClass: 'archive', lastArchivedAt: ago(200) }),
      img('a2', [], 200, { storageClass: 'archive', lastArchivedAt: ago(10) }),
      img('a3', [], 100, { storageClass: 'archive', lastArchivedAt: ago(100) }),
    ];
    expect(run([r], images)).toEqual([['a1', 1]]);
  });

  test('standard rules do not select archived images, archive rules do not select standard ones', () => {
    const standard = rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const images = [img('s', [], 300), img('a', [], 300, { storageClass: 'archive', lastArchivedAt: ago(200) })];
    expect(run([standard], images)).toEqual([['s', 1]]);
    expect(run([expireArchived], images)).toEqual([['a', 1]]);
  });
});

describe('multi-arch indexes and referrers', () => {
  // A repository as CI leaves it: tagged multi-arch indexes, their untagged platform manifests,
  // signatures and SBOMs (subject set, untagged), and a few real untagged leftovers.
  function repository(): LifecycleImage[] {
    return [
      img('idx-v1', ['v1'], 30, { children: ['v1-amd64', 'v1-arm64'] }),
      img('v1-amd64', [], 30),
      img('v1-arm64', [], 30),
      img('v1-sig', [], 29, { subject: 'idx-v1' }),
      img('v1-sbom', [], 29, { subject: 'idx-v1' }),
      img('idx-v2', ['v2'], 10, { children: ['v2-amd64', 'shared-arm64'] }),
      img('v2-amd64', [], 10),
      img('shared-arm64', [], 10),
      img('idx-v2-hotfix', ['v2-hotfix'], 9, { children: ['v2h-amd64', 'shared-arm64'] }),
      img('v2h-amd64', [], 9),
      img('v2-sig', [], 9, { subject: 'idx-v2' }),
      img('leftover-1', [], 50),
      img('leftover-2', [], 40),
      img('leftover-3', [], 5),
    ];
  }

  test('an untagged rule expires only real leftovers: no platform manifest, signature or SBOM', () => {
    expect(run([rule(1, { tagStatus: 'untagged', countNumber: 1 })], repository())).toEqual([['leftover-1', 1], ['leftover-2', 1]]);
    expect(run([rule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })], repository())).toEqual([
      ['leftover-1', 1],
      ['leftover-2', 1],
      ['leftover-3', 1],
    ]);
  });

  test('an index counts as one image, and its children go with it when nothing kept references them', () => {
    const r = rule(4, { tagStatus: 'tagged', tagPatternList: ['v*'], countNumber: 1 });
    // Newest kept: idx-v2-hotfix. idx-v1 and idx-v2 expire; v2's shared child stays for the hotfix.
    expect(run([r], repository())).toEqual([
      ['idx-v1', 4],
      ['v1-amd64', 4],
      ['v1-arm64', 4],
      ['idx-v2', 4],
      ['v2-amd64', 4],
    ]);
  });

  test('a shared child goes when the last index referencing it goes', () => {
    const r = rule(1, { tagStatus: 'tagged', tagPatternList: ['v2*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    const digests = run([r], repository()).map(([d]) => d);
    expect(digests).toEqual(expect.arrayContaining(['idx-v2', 'idx-v2-hotfix', 'shared-arm64', 'v2-amd64', 'v2h-amd64']));
    expect(digests).not.toContain('v2-sig');
  });

  test('a tagged child referenced by a kept index is never expired, even when its own rule marks it', () => {
    const images = [
      img('idx', ['release'], 1, { children: ['amd64'] }),
      img('amd64', ['amd64-build-7'], 40),
      img('other', ['amd64-build-8'], 30),
    ];
    const r = rule(1, { tagStatus: 'tagged', tagPrefixList: ['amd64-build'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 10 });
    expect(run([r], images)).toEqual([['other', 1]]);
  });

  test('a child of an index that stays pullable is not archived; archiving the index archives its children', () => {
    const images = [
      img('idx-old', ['old'], 100, { children: ['c-old'], lastPulledAt: ago(100) }),
      img('c-old', [], 100),
      img('idx-new', ['new'], 1, { children: ['c-new'] }),
      img('c-new', ['c-new-tag'], 100, { lastPulledAt: ago(100) }),
    ];
    const r = rule(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 }, { type: 'transition', targetStorageClass: 'archive' });
    const decisions = evaluateLifecyclePolicy({ rules: [r] }, images, NOW);
    expect(decisions.map((d) => [d.digest, d.action.type])).toEqual([
      ['c-old', 'TRANSITION'],
      ['idx-old', 'TRANSITION'],
    ]);
  });

  test('a manifest with a subject is never a candidate, even tagged and under an any rule', () => {
    const images = [img('sig', ['sha256-abc.sig'], 100, { subject: 'gone' }), img('plain', ['x'], 100)];
    expect(run([rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })], images)).toEqual([['plain', 1]]);
  });
});

describe('properties', () => {
  const TAGS = ['prod-1', 'prod-2', 'dev-1', 'beta', 'PROD-3'];
  const arbRepo = fc
    .array(
      fc.record({
        tags: fc.subarray(TAGS, { maxLength: 2 }),
        pushedDaysAgo: fc.integer({ min: 0, max: 60 }),
        pulledDaysAgo: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
        archivedDaysAgo: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
        childPicks: fc.array(fc.nat(), { maxLength: 3 }),
        subjectPick: fc.option(fc.nat(), { nil: undefined }),
      }),
      { maxLength: 25 },
    )
    .map((specs) =>
      specs.map((spec, i): LifecycleImage => {
        const digest = `sha256:${String(i).padStart(4, '0')}`;
        const others = specs.length > 1 ? (n: number) => `sha256:${String((i + 1 + (n % (specs.length - 1))) % specs.length).padStart(4, '0')}` : undefined;
        return {
          digest,
          tags: spec.tags,
          pushedAt: ago(spec.pushedDaysAgo),
          ...(spec.pulledDaysAgo !== undefined ? { lastPulledAt: ago(spec.pulledDaysAgo) } : {}),
          ...(spec.archivedDaysAgo !== undefined ? { storageClass: 'archive' as const, lastArchivedAt: ago(spec.archivedDaysAgo) } : {}),
          ...(others && spec.childPicks.length ? { children: spec.childPicks.map(others) } : {}),
          ...(others && spec.subjectPick !== undefined && spec.subjectPick % 4 === 0 ? { subject: others(spec.subjectPick) } : {}),
        };
      }),
    );
  const arbRule = (priority: number) =>
    fc
      .record({
        tagStatus: fc.constantFrom('tagged', 'untagged', 'any') as fc.Arbitrary<'tagged' | 'untagged' | 'any'>,
        lists: fc.subarray(['prod', 'beta', 'dev'], { minLength: 1, maxLength: 2 }),
        usePattern: fc.boolean(),
        storageClass: fc.constantFrom('standard', 'archive') as fc.Arbitrary<'standard' | 'archive'>,
        count: fc.constantFrom('imageCountMoreThan', 'since') as fc.Arbitrary<'imageCountMoreThan' | 'since'>,
        countNumber: fc.integer({ min: 1, max: 30 }),
        transition: fc.boolean(),
      })
      .map((r): LifecycleRule => {
        const countType =
          r.count === 'imageCountMoreThan' ? 'imageCountMoreThan' : r.storageClass === 'archive' ? 'sinceImageTransitioned' : r.transition ? 'sinceImagePulled' : 'sinceImagePushed';
        const tagLists = r.tagStatus !== 'tagged' ? {} : r.usePattern ? { tagPatternList: r.lists.map((l) => `${l}*`) } : { tagPrefixList: r.lists };
        return rule(
          priority,
          { tagStatus: r.tagStatus, ...tagLists, storageClass: r.storageClass, countType, countNumber: r.countNumber, ...(countType === 'imageCountMoreThan' ? {} : { countUnit: 'days' as const }) },
          r.transition && r.storageClass === 'standard' ? { type: 'transition', targetStorageClass: 'archive' } : { type: 'expire' },
        );
      });
  const arbPolicy = fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 4 }).chain((priorities) => {
    const unique = [...new Set(priorities)];
    return fc.tuple(...unique.map(arbRule)).map((rules): LifecyclePolicy => ({ rules }));
  });

  test('no image is acted on twice; nothing with a subject; kept indexes keep their children; archive minimum', () => {
    fc.assert(
      fc.property(arbPolicy, arbRepo, (policy, images) => {
        const decisions = evaluateLifecyclePolicy(policy, images, NOW);
        const digests = decisions.map((d) => d.digest);
        expect(new Set(digests).size).toBe(digests.length);
        const expired = new Set(decisions.filter((d) => d.action.type === 'EXPIRE').map((d) => d.digest));
        const byDigest = new Map(images.map((i) => [i.digest, i]));
        for (const d of decisions) {
          const image = byDigest.get(d.digest)!;
          expect(image.subject).toBeUndefined();
          if (d.action.type === 'EXPIRE' && image.storageClass === 'archive') {
            expect(NOW.getTime() - Date.parse(image.lastArchivedAt!)).toBeGreaterThanOrEqual(90 * DAY);
          }
          if (d.action.type === 'TRANSITION') expect(image.storageClass ?? 'standard').toBe('standard');
        }
        for (const parent of images) {
          if (expired.has(parent.digest)) continue;
          for (const child of parent.children ?? []) if (child !== parent.digest) expect(expired.has(child)).toBe(false);
        }
        const priorities = decisions.map((d) => d.appliedRulePriority);
        expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  test('imageCountMoreThan alone leaves exactly the countNumber newest', () => {
    const flat = fc.array(fc.record({ tags: fc.subarray(TAGS, { maxLength: 2 }), pushedDaysAgo: fc.integer({ min: 0, max: 10 }) }), { maxLength: 30 });
    fc.assert(
      fc.property(flat, fc.integer({ min: 1, max: 10 }), (specs, countNumber) => {
        const images = specs.map((s, i) => img(`sha256:${String(i).padStart(4, '0')}`, s.tags, s.pushedDaysAgo));
        const expired = new Set(run([rule(1, { tagStatus: 'any', countNumber })], images).map(([d]) => d));
        const kept = images.filter((i) => !expired.has(i.digest));
        expect(kept.length).toBe(Math.min(countNumber, images.length));
        const oldestKept = Math.min(...kept.map((i) => Date.parse(i.pushedAt)));
        for (const i of images) if (expired.has(i.digest)) expect(Date.parse(i.pushedAt)).toBeLessThanOrEqual(oldestKept);
      }),
      { numRuns: 200 },
    );
  });
});
