/**
 * Referrers pages bounded in bytes as well as in count (issue 9, point 1): referrers whose
 * annotations approach the manifest limit, listed over HTTP on LMDB, through ECR's
 * ListImageReferrers, and through the Lambda handler of the emulated AWS mode (DynamoDB Local,
 * the S3 stand-in, the API Gateway simulator with Lambda's 6 MB result limit). Every page fits its
 * budget, holds at least one descriptor, answers 200, and following the `Link`s (or nextTokens)
 * gives every referrer exactly once.
 */
import { silentLogger } from '../../lambdas/core/log';
import { Registry } from '../../lambdas/core/registry';
import { DEFAULT_REFERRERS_PAGE_BYTES } from '../../lambdas/core/referrer-pages';
import { LAMBDA_REFERRERS_PAGE_BYTES } from '../../lambdas/composition/aws/aws-registry';
import { MAX_RESPONSE_BODY_BYTES } from '../../lambdas/handlers/proxy-event';
import { ECR_API_ACTIONS, type EcrActionContext, type EcrApiOptions } from '../../lambdas/http/ecr-api';
import { controlPlaneOperations } from '../../lambdas/core/control-plane';
import { createRouter } from '../../lambdas/http/router';
import { startEmulatedAws, type EmulatedAws } from '../../lambdas/emulators/emulated-aws';
import { openLocalRegistry, type LocalRegistry } from '../../lambdas/composition/local/local-registry';
import { startNodeServer, type RunningServer } from '../../lambdas/server/node-server';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import type { StoredManifest } from '../../lambdas/core/model';
import type { BlobStore, MetadataStore, ReferrerPage } from '../../lambdas/storage/ports';
import { describeWithBinaries } from '../support/clients';
import { RegistryClient, type Reply } from '../support/http-client';
import { EMPTY_CONFIG, blobOf, makeArtifact, makeImage, sha256, type Blob, type Image } from '../support/oci-fixtures';
import { scratchDir } from '../support/registry-harness';

const MiB = 1024 * 1024;
const SIG = 'application/vnd.example.sig';
const SBOM = 'application/spdx+json';
const byteOrder = (values: string[]) => [...values].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

/** The referrers' layer: one payload for all, so only the manifests differ. */
const PAYLOAD = blobOf(Buffer.from('signature payload'), 'application/vnd.example.payload');

/** An artifact referring to `subject` whose annotations hold about `padBytes` bytes. */
function heavyReferrer(subject: Image, i: number, padBytes: number, artifactType = SIG): Blob {
  const artifact = makeArtifact({ artifactType, subject: subject.manifest, payload: PAYLOAD.bytes, annotations: { 'org.example.n': String(i), 'org.example.pad': 'x'.repeat(padBytes) } });
  return artifact.manifest;
}

async function pushReferrers(client: RegistryClient, repo: string, manifests: Blob[]): Promise<void> {
  for (const blob of [EMPTY_CONFIG, PAYLOAD]) await client.pushBlob(repo, blob);
  for (const m of manifests) {
    const res = await client.putManifest(repo, m.digest, m);
    if (res.status !== 201) throw new Error(`PUT referrer: ${res.status} ${res.text()}`);
  }
}

interface ListedPage {
  status: number;
  bytes: number;
  digests: string[];
  filtersApplied: string | null;
}

/** Follows `Link: <...>; rel="next"` from `first`, checking each page as it comes. */
async function followReferrers(client: RegistryClient, first: string, budget: number): Promise<ListedPage[]> {
  const pages: ListedPage[] = [];
  let url: string | undefined = first;
  while (url !== undefined) {
    const res: Reply = await client.get(url);
    expect({ url, status: res.status }).toEqual({ url, status: 200 });
    const digests: string[] = res.json().manifests.map((m: { digest: string }) => m.digest);
    pages.push({ status: res.status, bytes: res.body.length, digests, filtersApplied: res.headers.get('oci-filters-applied') });
    expect(res.body.length).toBeLessThanOrEqual(budget);
    expect(Number(res.headers.get('content-length'))).toBe(res.body.length);
    const link = res.headers.get('link');
    if (link !== null) {
      expect(digests.length).toBeGreaterThanOrEqual(1);
      const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
      expect(match).not.toBeNull();
      url = match![1];
    } else {
      url = undefined;
    }
    expect(pages.length).toBeLessThan(200);
  }
  return pages;
}

describe('referrers with large annotations on LMDB, over HTTP', () => {
  let work: ReturnType<typeof scratchDir>;
  let local: LocalRegistry;
  let server: RunningServer;
  let client: RegistryClient;
  const subject = makeImage({ layers: [64], seed: 'referrers-paging-subject' });
  const repo = 'paging/heavy';
  const heavy: Blob[] = [];

  beforeAll(async () => {
    work = scratchDir('referrers-paging');
    local = await openLocalRegistry(work.path, silentLogger);
    server = await startNodeServer({ handler: createRouter({ registry: local.registry, log: silentLogger }), host: '127.0.0.1', port: 0, log: silentLogger });
    client = new RegistryClient(server.url);
    await client.pushImage(repo, subject, 'v1');
    // 30 referrers of ~900 KB of annotations each (27 MB in all), signatures and SBOMs alternating.
    for (let i = 0; i < 30; i++) heavy.push(heavyReferrer(subject, i, 900 * 1024, i % 2 === 0 ? SIG : SBOM));
    await pushReferrers(client, repo, heavy);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await local?.close();
    work?.remove();
  });

  test('GIVEN 30 referrers of ~900 KB annotations WHEN the Links are followed THEN every page is 200, at most 4 MiB with at least one descriptor, and each referrer comes once in digest order', async () => {
    const pages = await followReferrers(client, `/v2/${repo}/referrers/${subject.manifest.digest}`, DEFAULT_REFERRERS_PAGE_BYTES);
    expect(pages.length).toBeGreaterThanOrEqual(7);
    for (const page of pages) expect(page.digests.length).toBeGreaterThanOrEqual(1);
    // The budget is used, not just a smaller count: four descriptors of ~900 KB fit in 4 MiB.
    expect(pages[0].digests).toHaveLength(4);
    expect(pages.flatMap((p) => p.digests)).toEqual(byteOrder(heavy.map((m) => m.digest)));
  });

  test('GIVEN the same referrers WHEN filtered by artifactType and the Links followed THEN each page says OCI-Filters-Applied, stays within 4 MiB, and each signature comes once', async () => {
    const pages = await followReferrers(client, `/v2/${repo}/referrers/${subject.manifest.digest}?artifactType=${encodeURIComponent(SIG)}`, DEFAULT_REFERRERS_PAGE_BYTES);
    expect(pages.length).toBeGreaterThanOrEqual(4);
    for (const page of pages) expect(page.filtersApplied).toBe('artifactType');
    const signatures = heavy.filter((_, i) => i % 2 === 0).map((m) => m.digest);
    expect(pages.flatMap((p) => p.digests)).toEqual(byteOrder(signatures));
  });

  test('GIVEN referrers whose manifests are just under the 4 MiB limit, and small ones WHEN listed THEN each large one is alone on a page of at most 4 MiB and none is lost', async () => {
    const near = makeImage({ layers: [64], seed: 'referrers-paging-near-limit' });
    await client.pushImage(repo, near, 'near');
    const large = [0, 1, 2].map((i) => heavyReferrer(near, i, 4 * MiB - 4096));
    const small = [3, 4].map((i) => heavyReferrer(near, i, 10));
    for (const m of large) expect(m.bytes.length).toBeLessThanOrEqual(4 * MiB);
    await pushReferrers(client, repo, [...large, ...small]);

    const pages = await followReferrers(client, `/v2/${repo}/referrers/${near.manifest.digest}`, DEFAULT_REFERRERS_PAGE_BYTES);
    const largeDigests = new Set(large.map((m) => m.digest));
    for (const page of pages) {
      expect(page.digests.length).toBeGreaterThanOrEqual(1);
      if (page.digests.some((d) => largeDigests.has(d))) expect(page.digests.filter((d) => largeDigests.has(d))).toHaveLength(1);
    }
    expect(pages.flatMap((p) => p.digests)).toEqual(byteOrder([...large, ...small].map((m) => m.digest)));
  });

  test('GIVEN the 30 heavy referrers WHEN ListImageReferrers asks for 50 at a time THEN each answer fits 4 MiB with at least one, carries a nextToken while more follow, and the tokens give each once (filter kept)', async () => {
    const options = { operations: controlPlaneOperations({ store: local.metadata, registry: local.registry }), registryAccount: '111122223333', region: 'us-east-1' } as unknown as EcrApiOptions;
    const list = async (input: Record<string, unknown>) => {
      const context = { input, options, now: Date.now(), mayAccess: async () => true } as unknown as EcrActionContext;
      const output = await ECR_API_ACTIONS.ListImageReferrers.run(context);
      expect(Buffer.byteLength(JSON.stringify(output))).toBeLessThanOrEqual(DEFAULT_REFERRERS_PAGE_BYTES);
      return output as { referrers: { digest: string; artifactType?: string; artifactStatus: string }[]; nextToken?: string };
    };
    const follow = async (extra: Record<string, unknown>) => {
      const seen: string[] = [];
      let nextToken: string | undefined;
      let answers = 0;
      do {
        const out = await list({ repositoryName: repo, subjectId: { imageDigest: subject.manifest.digest }, maxResults: 50, ...extra, ...(nextToken ? { nextToken } : {}) });
        expect(out.referrers.length).toBeGreaterThanOrEqual(1);
        expect(out.referrers.length).toBeLessThan(50);
        seen.push(...out.referrers.map((r) => r.digest));
        nextToken = out.nextToken;
        answers++;
        expect(answers).toBeLessThan(100);
      } while (nextToken !== undefined);
      return { seen, answers };
    };
    const all = await follow({});
    expect(all.answers).toBeGreaterThanOrEqual(7);
    expect(all.seen).toEqual(byteOrder(heavy.map((m) => m.digest)));
    const signatures = await follow({ filter: { artifactTypes: [SIG] } });
    expect(signatures.seen).toEqual(byteOrder(heavy.filter((_, i) => i % 2 === 0).map((m) => m.digest)));
  });
});

describe('a referrers page reads a bounded part of the store', () => {
  let work: ReturnType<typeof scratchDir>;
  let store: LmdbMetadataStore;
  const subject = sha256(Buffer.from('bounded reads subject'));
  const digests: string[] = [];

  beforeAll(async () => {
    work = scratchDir('referrers-reads');
    store = await LmdbMetadataStore.open({ path: `${work.path}/metadata` });
    await store.linkBlob('paging/reads', sha256(Buffer.from('empty')), { size: 2 });
    // 120 referrers of 300 KB of annotations each: 36 MB a page must not load.
    for (let i = 0; i < 120; i++) {
      const annotations = { n: String(i), pad: 'x'.repeat(300 * 1024) };
      const digest = sha256(Buffer.from(`referrer ${i}`));
      const record: StoredManifest = {
        digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 300 * 1024 + 500,
        blobs: [sha256(Buffer.from('empty'))],
        children: [],
        pushedAt: '2024-05-01T12:00:00.000Z',
        subject,
        artifactType: SIG,
        annotations,
      };
      expect(await store.putManifest('paging/reads', record)).toEqual({ ok: true });
      digests.push(digest);
    }
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    work?.remove();
  });

  test('GIVEN 120 referrers of 300 KB annotations WHEN one page is listed THEN the store is read in pieces of about a megabyte, about one page in all, and the pages join up to all of them', async () => {
    const reads: number[] = [];
    const counted = new Proxy(store, {
      get(target, property) {
        if (property === 'listReferrers') {
          return async (...args: Parameters<MetadataStore['listReferrers']>): Promise<ReferrerPage> => {
            const page = await target.listReferrers(...args);
            reads.push(Buffer.byteLength(JSON.stringify(page.items)));
            return page;
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as MetadataStore;
    const registry = new Registry({ blobs: {} as BlobStore, metadata: counted });

    const first = await registry.listReferrers('paging/reads', subject);
    expect(Buffer.byteLength(JSON.stringify(first.index))).toBeLessThanOrEqual(DEFAULT_REFERRERS_PAGE_BYTES);
    expect(first.index.manifests.length).toBeGreaterThanOrEqual(1);
    expect(first.nextLast).toBeDefined();
    for (const read of reads) expect(read).toBeLessThanOrEqual(1.5 * MiB);
    // The page (4 MiB) and the read that found the referrer that did not fit.
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(DEFAULT_REFERRERS_PAGE_BYTES + 1.5 * MiB);

    const seen = (first.index.manifests as { digest: string }[]).map((m) => m.digest);
    for (let last = first.nextLast, pages = 1; last !== undefined; pages++) {
      expect(pages).toBeLessThan(100);
      const page = await registry.listReferrers('paging/reads', subject, { last });
      seen.push(...(page.index.manifests as { digest: string }[]).map((m) => m.digest));
      last = page.nextLast;
    }
    expect(seen).toEqual(byteOrder(digests));
  });
});

test('GIVEN Lambda limits WHEN the AWS referrers page budget is derived THEN a full page, base64-encoded, fits in the 6 MB result with room for headers, and within the handler limit', () => {
  expect(LAMBDA_REFERRERS_PAGE_BYTES).toBeLessThanOrEqual(MAX_RESPONSE_BODY_BYTES);
  expect(LAMBDA_REFERRERS_PAGE_BYTES).toBeLessThanOrEqual(DEFAULT_REFERRERS_PAGE_BYTES);
  expect(Math.ceil(LAMBDA_REFERRERS_PAGE_BYTES / 3) * 4).toBeLessThan(6_291_556 - 256 * 1024);
});

describeWithBinaries(['java'], 'referrers with large annotations through the Lambda handler (emulated AWS)', () => {
  let work: ReturnType<typeof scratchDir>;
  let aws: EmulatedAws;
  let client: RegistryClient;

  beforeAll(async () => {
    // The handlers' logs and EMF metrics would otherwise go to this process's stdout.
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    work = scratchDir('referrers-paging-aws');
    aws = await startEmulatedAws({ host: '127.0.0.1', port: 0, dataDir: work.path, log: silentLogger });
    client = new RegistryClient(aws.url);
  }, 120_000);
  afterAll(async () => {
    await aws?.close();
    work?.remove();
  });

  test('GIVEN 24 referrers of ~350 KB annotations (over 8 MB together) WHEN the Links are followed THEN never 500: every page is 200, fits the Lambda budget with at least one descriptor, and each referrer comes once', async () => {
    const repo = 'paging/aws';
    const subject = makeImage({ layers: [64], seed: 'referrers-paging-aws' });
    await client.pushImage(repo, subject, 'v1');
    const referrers = Array.from({ length: 24 }, (_, i) => heavyReferrer(subject, i, 350 * 1000, i % 3 === 0 ? SBOM : SIG));
    await pushReferrers(client, repo, referrers);

    aws.resetStats();
    const pages = await followReferrers(client, `/v2/${repo}/referrers/${subject.manifest.digest}`, LAMBDA_REFERRERS_PAGE_BYTES);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    for (const page of pages) expect(page.digests.length).toBeGreaterThanOrEqual(1);
    expect(pages.flatMap((p) => p.digests)).toEqual(byteOrder(referrers.map((m) => m.digest)));
    // The handler itself answered each (no gateway 5xx for an oversized result).
    expect(aws.stats().handled.filter((h) => h.path.includes('/referrers/')).map((h) => h.status)).toEqual(pages.map(() => 200));

    const filtered = await followReferrers(client, `/v2/${repo}/referrers/${subject.manifest.digest}?artifactType=${encodeURIComponent(SIG)}`, LAMBDA_REFERRERS_PAGE_BYTES);
    for (const page of filtered) expect(page.filtersApplied).toBe('artifactType');
    expect(filtered.flatMap((p) => p.digests)).toEqual(byteOrder(referrers.filter((_, i) => i % 3 !== 0).map((m) => m.digest)));
  });
});
