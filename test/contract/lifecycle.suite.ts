/**
 * Lifecycle policies over a deployment's real metadata adapter (local: LMDB; AWS: DynamoDB Local):
 * ECR's documented examples through the ECR JSON API (PutLifecyclePolicy, Start/GetLifecyclePolicyPreview)
 * and then carried out by the runner; the property that a preview says exactly what the run then does;
 * multi-arch indexes with signatures; a tag pushed while a run is under way; the archive's 90 days;
 * the changes recorded for the events.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { controlPlaneOperations } from '../../lambdas/core/control-plane';
import { runLifecyclePolicy } from '../../lambdas/core/lifecycle/run';
import type { LifecycleImage, LifecycleRule } from '../../lambdas/core/lifecycle/policy-types';
import type { RegistryTokens } from '../../lambdas/core/registry-tokens';
import type { StoredManifest } from '../../lambdas/core/model';
import { createEcrApi, ECR_TARGET_PREFIX } from '../../lambdas/http/ecr-api';
import type { MetadataStore } from '../../lambdas/storage/ports';
import { ago, DAY, ECR_EXAMPLES, img, NOW, rule } from '../support/lifecycle-examples';
import { allEntries } from './metadata-store/outbox';

export interface LifecycleDeployment {
  metadata: MetadataStore;
  cleanup(): Promise<void>;
}

const ACCOUNT = '111122223333';
const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

export function describeLifecycle(name: string, open: () => Promise<LifecycleDeployment>): void {
  describe(`lifecycle policies: ${name}`, () => {
    let d: LifecycleDeployment;
    let api: ReturnType<typeof createEcrApi>;
    let repoCount = 0;
    beforeAll(async () => {
      d = await open();
      api = createEcrApi({
        operations: controlPlaneOperations({ store: d.metadata, now: () => NOW.getTime() }),
        tokens: {} as RegistryTokens,
        registryAccount: ACCOUNT,
        region: 'us-east-1',
        identityPolicies: { identityInput: async () => ({ identityDecision: 'allowed' }) },
        authenticate: async () => ({ ok: true, caller: { principal: { arn: `arn:aws:iam::${ACCOUNT}:user/admin`, account: ACCOUNT } } }),
        proxyEndpoint: () => 'http://localhost',
        now: () => NOW.getTime(),
      });
    });
    afterAll(async () => {
      await d?.cleanup();
    });

    const newRepository = () => `lifecycle/r${++repoCount}`;

    async function call(action: string, input: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
      const bytes = Buffer.from(JSON.stringify(input));
      const response = await api({
        method: 'POST',
        path: '/',
        query: new URLSearchParams(),
        headers: { 'x-amz-target': `${ECR_TARGET_PREFIX}${action}`, 'content-type': 'application/x-amz-json-1.1', 'content-length': String(bytes.length) },
        body: (async function* () {
          yield bytes;
        })(),
      });
      return { status: response.status, body: JSON.parse(Buffer.from(response.body as Uint8Array).toString('utf8')) };
    }

    /** Stores the images as pushes would (children and subjects first), with their names as digests' seeds; answers name -> digest. */
    async function store(repository: string, images: LifecycleImage[]): Promise<Map<string, string>> {
      const digests = new Map(images.map((i) => [i.digest, sha(`${repository} ${i.digest}`)]));
      const ordered = [...images].sort((a, b) => rank(a) - rank(b));
      for (const image of ordered) {
        const layer = sha(`layer ${repository} ${image.digest}`);
        await d.metadata.linkBlob(repository, layer, { size: 10 });
        const manifest: StoredManifest = {
          digest: digests.get(image.digest)!,
          mediaType: image.children ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
          size: 100,
          blobs: image.children ? [] : [layer],
          children: (image.children ?? []).map((c) => digests.get(c)!),
          pushedAt: image.pushedAt,
          ...(image.subject ? { subject: digests.get(image.subject)! } : {}),
          body: new Uint8Array(Buffer.from(`{"name":"${image.digest}"}`)),
        };
        const tags = image.tags.length > 0 ? image.tags : [undefined];
        for (const tag of tags) expect(await d.metadata.putManifest(repository, manifest, tag)).toEqual({ ok: true });
        if (image.lastPulledAt) await d.metadata.recordImagePull(repository, manifest.digest, image.lastPulledAt, image.lastPulledAt);
        if (image.storageClass === 'archive') {
          expect(await d.metadata.setImageStorageClass(repository, manifest.digest, 'ARCHIVE', image.lastArchivedAt ?? image.pushedAt)).toMatchObject({ ok: true });
        }
      }
      return digests;
      function rank(image: LifecycleImage): number {
        if (image.subject) return 2;
        return image.children ? 1 : 0;
      }
    }

    async function remaining(repository: string, digests: Map<string, string>): Promise<string[]> {
      const names = new Map([...digests].map(([n, dg]) => [dg, n]));
      const page = await d.metadata.listManifests(repository, { limit: 1000 });
      return page.items.map((i) => names.get(i.digest)!).sort();
    }

    const policyText = (rules: LifecycleRule[]) => JSON.stringify({ rules: rules.map((r) => ({ description: `rule ${r.rulePriority}`, ...r })) });

    async function previewThroughApi(repository: string, rules: LifecycleRule[]): Promise<Record<string, unknown>> {
      expect((await call('PutLifecyclePolicy', { repositoryName: repository, lifecyclePolicyText: policyText(rules) })).status).toBe(200);
      const started = await call('StartLifecyclePolicyPreview', { repositoryName: repository });
      expect(started).toMatchObject({ status: 200, body: { status: 'IN_PROGRESS', lifecyclePolicyText: policyText(rules) } });
      const got = await call('GetLifecyclePolicyPreview', { repositoryName: repository });
      expect(got.status).toBe(200);
      return got.body;
    }

    test.each(ECR_EXAMPLES)("ECR's example through the API, then a run: $name", async ({ rules, images, expected }) => {
      const repository = newRepository();
      const digests = await store(repository, images);
      const names = new Map([...digests].map(([n, dg]) => [dg, n]));

      const preview = await previewThroughApi(repository, rules);
      expect(preview.status).toBe('COMPLETE');
      const results = preview.previewResults as Array<{ imageDigest: string; appliedRulePriority: number; action: { type: string } }>;
      expect(results.map((r) => [names.get(r.imageDigest), r.appliedRulePriority])).toEqual(expected);
      expect(preview.summary).toEqual({ expiringImageTotalCount: expected.length, transitioningImageTotalCounts: [] });

      const report = await runLifecyclePolicy(d.metadata, repository, { now: NOW });
      expect(report.outcomes.map((o) => [names.get(o.digest), o.appliedRulePriority, o.result])).toEqual(expected.map(([n, p]) => [n, p, 'done']));
      const gone = new Set(expected.map(([n]) => n));
      expect(await remaining(repository, digests)).toEqual(images.map((i) => i.digest).filter((n) => !gone.has(n)).sort());
      expect((await call('GetLifecyclePolicy', { repositoryName: repository })).body.lastEvaluatedAt).toBe(NOW.getTime() / 1000);
    });

    test('a preview says exactly what the run then does (random repositories and policies)', async () => {
      const tagPool = ['prod-1', 'prod-2', 'beta-1', 'beta-2', 'dev-1', 'latest'];
      const imageArb = fc.record({
        tags: fc.subarray(tagPool, { maxLength: 2 }),
        days: fc.integer({ min: 0, max: 60 }),
        pulledDays: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      });
      const ruleArb = fc.oneof(
        fc.record({ tagStatus: fc.constant<'untagged'>('untagged'), countType: fc.constantFrom('imageCountMoreThan', 'sinceImagePushed'), n: fc.integer({ min: 1, max: 20 }) }),
        fc.record({ tagStatus: fc.constant<'tagged'>('tagged'), countType: fc.constantFrom('imageCountMoreThan', 'sinceImagePushed'), n: fc.integer({ min: 1, max: 20 }), prefix: fc.constantFrom('prod', 'beta', 'dev') }),
        fc.record({ tagStatus: fc.constant<'any'>('any'), countType: fc.constantFrom('imageCountMoreThan', 'sinceImagePushed'), n: fc.integer({ min: 1, max: 20 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(imageArb, { minLength: 1, maxLength: 12 }), fc.array(ruleArb, { minLength: 1, maxLength: 3 }), async (specs, ruleSpecs) => {
          // Tags are unique in a repository: a later image takes a tag from an earlier one, as a push does.
          const images = specs.map((s, i) => img(`i${i}`, s.tags, s.days, s.pulledDays !== undefined ? { lastPulledAt: ago(Math.min(s.pulledDays, s.days)) } : {}));
          const owner = new Map<string, number>();
          images.forEach((image, i) => image.tags.forEach((t) => owner.set(t, i)));
          images.forEach((image, i) => (image.tags = image.tags.filter((t) => owner.get(t) === i)));
          const ordered = [...ruleSpecs].sort((a, b) => (a.tagStatus === 'any' ? 1 : 0) - (b.tagStatus === 'any' ? 1 : 0));
          const untagged = ordered.filter((r) => r.tagStatus !== 'tagged').slice(0, 1);
          const rules = [...ordered.filter((r) => r.tagStatus === 'tagged'), ...untagged].map((r, i) =>
            rule(i + 1, {
              tagStatus: r.tagStatus,
              ...('prefix' in r ? { tagPrefixList: [r.prefix] } : {}),
              countType: r.countType as 'imageCountMoreThan' | 'sinceImagePushed',
              ...(r.countType === 'sinceImagePushed' ? { countUnit: 'days' as const } : {}),
              countNumber: r.n,
            }),
          );
          const repository = newRepository();
          // Images are stored in push order: a tag moved by a later push stays with the later image.
          const digests = await store(repository, images);
          const preview = await previewThroughApi(repository, rules);
          const said = ((preview.previewResults ?? []) as Array<{ imageDigest: string; appliedRulePriority: number; action: { type: string } }>).map((r) => [
            r.imageDigest,
            r.action.type,
            r.appliedRulePriority,
          ]);
          const report = await runLifecyclePolicy(d.metadata, repository, { now: NOW, parallel: 4 });
          expect(report.outcomes.map((o) => [o.digest, o.action.type, o.appliedRulePriority])).toEqual(said);
          expect(report.outcomes.every((o) => o.result === 'done')).toBe(true);
          const expired = new Set(said.map(([dg]) => dg));
          const left = (await d.metadata.listManifests(repository, { limit: 1000 })).items.map((i) => i.digest).sort();
          expect(left).toEqual([...digests.values()].filter((dg) => !expired.has(dg)).sort());
        }),
        { numRuns: 12 },
      );
    });

    test('multi-arch indexes and their signatures under an untagged rule: nothing kept loses a part', async () => {
      const repository = newRepository();
      const images = [
        img('kept-child-1', [], 30),
        img('kept-child-2', [], 30),
        img('kept-index', ['v1'], 30, { children: ['kept-child-1', 'kept-child-2'] }),
        img('kept-signature', [], 29, { subject: 'kept-index' }),
        img('old-child', [], 40),
        img('old-index', [], 40, { children: ['old-child'] }),
        img('old-index-sbom', [], 40, { subject: 'old-index' }),
        img('orphan', [], 35),
        img('fresh', [], 0),
      ];
      const digests = await store(repository, images);
      const rules = [rule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 })];
      const preview = await previewThroughApi(repository, rules);
      const names = new Map([...digests].map(([n, dg]) => [dg, n]));
      const said = (preview.previewResults as Array<{ imageDigest: string }>).map((r) => names.get(r.imageDigest)).sort();
      expect(said).toEqual(['old-child', 'old-index', 'orphan']);
      // Several changes at once (as local mode runs them): the index still goes before its child.
      const report = await runLifecyclePolicy(d.metadata, repository, { now: NOW, parallel: 8 });
      expect(report.outcomes.map((o) => o.result)).toEqual(['done', 'done', 'done']);
      // The SBOM goes with its subject; the kept index keeps its children and its signature.
      expect(await remaining(repository, digests)).toEqual(['fresh', 'kept-child-1', 'kept-child-2', 'kept-index', 'kept-signature']);
    });

    test('a tag pushed while the run is under way keeps the image (the run deletes only what it evaluated)', async () => {
      const repository = newRepository();
      const digests = await store(repository, [img('a', ['dev-1'], 9), img('b', ['dev-2'], 8), img('c', ['dev-3'], 1)]);
      await call('PutLifecyclePolicy', { repositoryName: repository, lifecyclePolicyText: policyText([rule(1, { tagStatus: 'tagged', tagPrefixList: ['dev'], countNumber: 1 })]) });
      const racing = new Proxy(d.metadata, {
        get(target, prop, receiver) {
          if (prop !== 'deleteManifest') return Reflect.get(target, prop, receiver);
          return async (repo: string, digest: string, options: unknown) => {
            if (digest === digests.get('a')) {
              const m = (await target.getManifest(repo, digest))!;
              await target.putManifest(repo, m, 'release-1');
            }
            return target.deleteManifest(repo, digest, options as never);
          };
        },
      });
      const report = await runLifecyclePolicy(racing, repository, { now: NOW });
      expect(report.outcomes.map((o) => o.result).sort()).toEqual(['done', 'tagged-since']);
      expect(await remaining(repository, digests)).toEqual(['a', 'c']);
      expect(await d.metadata.getManifestTags(repository, digests.get('a')!)).toEqual(['dev-1', 'release-1']);
    });

    test('archive by pull age, then expiry of what was archived long enough (never within 90 days), recorded for the events', async () => {
      const repository = newRepository();
      const digests = await store(repository, [
        img('cold', ['v1'], 200, { lastPulledAt: ago(120) }),
        img('warm', ['v2'], 200, { lastPulledAt: ago(5) }),
        img('archived-long', ['v0'], 400, { storageClass: 'archive', lastArchivedAt: ago(100) }),
        img('archived-recently', ['v00'], 400, { storageClass: 'archive', lastArchivedAt: ago(30) }),
      ]);
      const before = (await allEntries(d.metadata)).map((e) => e.id);
      const rules = [
        rule(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 90 }, { type: 'transition', targetStorageClass: 'archive' }),
        rule(2, { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 20 }),
      ];
      await call('PutLifecyclePolicy', { repositoryName: repository, lifecyclePolicyText: policyText(rules) });
      const report = await runLifecyclePolicy(d.metadata, repository, { now: NOW });
      const names = new Map([...digests].map(([n, dg]) => [dg, n]));
      expect(report.outcomes.map((o) => [names.get(o.digest), o.action.type, o.result])).toEqual([
        ['cold', 'TRANSITION', 'done'],
        ['archived-long', 'EXPIRE', 'done'],
      ]);
      const listed = await call('DescribeImages', { repositoryName: repository, filter: { imageStatus: 'ARCHIVED' } });
      const archived = (listed.body.imageDetails as Array<{ imageDigest: string; imageStatus: string; lastArchivedAt: number }>).map((i) => [names.get(i.imageDigest), i.imageStatus]);
      expect(archived.sort()).toEqual([['archived-recently', 'ARCHIVED'], ['cold', 'ARCHIVED']]);

      const changes = (await allEntries(d.metadata))
        .filter((e) => !before.includes(e.id))
        .flatMap((e) => e.changes)
        .filter((c) => c.repository === repository);
      expect(changes.map((c) => [c.action, names.get(c.digest), c.tag, c.initiatedBy])).toEqual([
        ['UPDATE_STORAGE_CLASS', 'cold', undefined, 'lifecycle-policy'],
        ['DELETE', 'archived-long', 'v0', 'lifecycle-policy'],
      ]);
      expect(changes[0].storageClass).toMatchObject({ target: 'ARCHIVE', mediaType: 'application/vnd.oci.image.manifest.v1+json' });
      expect(NOW.getTime() - Date.parse(ago(100))).toBe(100 * DAY);
    });
  });
}
