/**
 * The upgrade in place from table layout version 2 (test/contract/dynamodb-adapter.test.ts): a table
 * written by the version-2 adapter itself (frozen in test/fixtures/dynamodb-v2/), with images in two
 * repositories sharing a layer, a multi-arch index with untagged children, a referrer, manifests whose
 * bodies are kept as content and a blob linked without a manifest, opened with this build's adapter:
 * the layout is 3, every image reads as before, and every content record counts its links, also after
 * upgrades interrupted part-way and upgrades run by several openers at once.
 */
import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { StoredManifest } from '../../../lambdas/core/model';
import { DynamoDbMetadataStore, DYNAMODB_LAYOUT_VERSION } from '../../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { DynamoDbMetadataStore as Version2Store, DYNAMODB_LAYOUT_VERSION as VERSION_2 } from '../../fixtures/dynamodb-v2/storage/dynamodb/dynamodb-metadata-store';
import type { DynamoDbLocal } from '../../support/dynamodb-local';

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const blob = (seed: string) => sha256(`blob ${seed}`);
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

function manifest(seed: string, spec: { blobs?: string[]; children?: string[]; subject?: string; mediaType?: string; external?: boolean }): StoredManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, ...spec }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: spec.mediaType ?? (spec.children ? INDEX : IMAGE),
    size: spec.external ? 200 * 1024 : body.length,
    blobs: spec.blobs ?? [],
    children: spec.children ?? [],
    pushedAt: '2024-05-01T12:00:00.000Z',
    ...(spec.subject !== undefined ? { subject: spec.subject } : {}),
    // A body over the store's inline limit is kept in the blob store: the item has none.
    ...(spec.external ? {} : { body }),
  };
}

/** What the version-2 code wrote: per repository its links, its manifests (with tags) in push order. */
interface Pushed {
  links: Map<string, string[]>;
  manifests: Map<string, Array<{ m: StoredManifest; tag?: string }>>;
}

/** Writes the registry of the scenario with the version-2 adapter. */
async function writeWithVersion2(store: Version2Store): Promise<Pushed> {
  const pushed: Pushed = { links: new Map(), manifests: new Map() };
  const link = async (repo: string, digests: string[]) => {
    for (const d of digests) {
      await store.linkBlob(repo, d, { size: 10 });
      pushed.links.set(repo, [...new Set([...(pushed.links.get(repo) ?? []), d])]);
    }
  };
  const put = async (repo: string, m: StoredManifest, tag?: string) => {
    expect(await store.putManifest(repo, m, tag)).toEqual({ ok: true });
    pushed.manifests.set(repo, [...(pushed.manifests.get(repo) ?? []), { m, tag }]);
  };
  const shared = blob('shared-layer');
  // Two repositories, each an image on the shared layer.
  await link('team/a', [blob('a-config'), shared, blob('a-layer')]);
  const a = manifest('a', { blobs: [blob('a-config'), shared, blob('a-layer')] });
  await put('team/a', a, 'v1');
  await link('team/b', [blob('b-config'), shared, blob('b-layer')]);
  await put('team/b', manifest('b', { blobs: [blob('b-config'), shared, blob('b-layer')] }), 'v1');
  // A multi-arch index whose children carry no tag, and a referrer of it.
  await link('team/a', [blob('amd64-config'), blob('arm64-config'), blob('arm64-layer')]);
  const amd64 = manifest('amd64', { blobs: [blob('amd64-config'), shared] });
  const arm64 = manifest('arm64', { blobs: [blob('arm64-config'), blob('arm64-layer')] });
  await put('team/a', amd64);
  await put('team/a', arm64);
  const index = manifest('multi', { children: [amd64.digest, arm64.digest] });
  await put('team/a', index, 'multi');
  await link('team/a', [blob('signature')]);
  await put('team/a', manifest('signature', { blobs: [blob('signature')], subject: index.digest }));
  // A manifest whose body is kept as content, in both repositories; and an image of 60 layers (two-phase).
  await link('team/b', [blob('big-config')]);
  const big = manifest('big', { blobs: [blob('big-config')], external: true });
  await put('team/b', big, 'big');
  await link('team/a', [blob('big-config')]);
  await put('team/a', big, 'big');
  const wide = Array.from({ length: 60 }, (_, i) => blob(`wide-${i}`));
  await link('team/b', [...wide, shared]);
  await put('team/b', manifest('wide', { blobs: [...wide, shared] }), 'wide');
  // An upload's link that no manifest uses (yet).
  await link('team/b', [blob('pending')]);
  return pushed;
}

/** What every content record must say: one per repository linking the digest, one per repository holding a manifest whose body is kept as content. */
function expectedLinks(pushed: Pushed): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (digest: string) => counts.set(digest, (counts.get(digest) ?? 0) + 1);
  for (const digests of pushed.links.values()) digests.forEach(add);
  for (const manifests of pushed.manifests.values()) {
    for (const digest of new Set(manifests.filter(({ m }) => m.body === undefined).map(({ m }) => m.digest))) add(digest);
  }
  return counts;
}

type Reader = Pick<DynamoDbMetadataStore, 'getManifest' | 'getTaggedManifest' | 'listManifests' | 'listTags' | 'listReferrers' | 'statBlobLink' | 'listRepositories'>;

/** Everything a pull or the ECR API reads of the pushed images. */
async function readAll(store: Reader, pushed: Pushed): Promise<unknown> {
  const out: Record<string, unknown> = { repositories: await store.listRepositories({ limit: 100 }) };
  for (const [repo, manifests] of pushed.manifests) {
    out[repo] = {
      images: await store.listManifests(repo, { limit: 1000 }),
      tags: await store.listTags(repo, { limit: 1000 }),
      manifests: await Promise.all(manifests.map(({ m }) => store.getManifest(repo, m.digest))),
      tagged: await Promise.all(manifests.filter(({ tag }) => tag !== undefined).map(({ tag }) => store.getTaggedManifest(repo, tag!))),
      referrers: await Promise.all(manifests.map(({ m }) => store.listReferrers(repo, m.digest, { limit: 100 }))),
      links: await Promise.all((pushed.links.get(repo) ?? []).map((d) => store.statBlobLink(repo, d))),
    };
  }
  return out;
}

/** A command as a hook sees it (its input may be changed before it is sent). */
type SentCommand = { constructor: { name: string }; input: { Limit?: number } };

export function describeLayoutUpgrade(local: () => DynamoDbLocal): void {
  describe('upgrade in place from layout version 2', () => {
    let tableName: string;
    let doc: DynamoDBDocumentClient;
    let pushed: Pushed;
    let before: unknown;

    beforeEach(async () => {
      tableName = await local().createTable('upgrade');
      doc = DynamoDBDocumentClient.from(local().client);
      const v2 = await Version2Store.open({ client: local().client, tableName });
      pushed = await writeWithVersion2(v2);
      before = await readAll(v2, pushed);
    }, 60_000);
    afterEach(async () => {
      await local().deleteTable(tableName);
    });

    const layoutVersion = async () => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'meta', sk: 'layout' }, ConsistentRead: true }))).Item?.version;
    const metaKeys = async () =>
      ((await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'meta' }, ConsistentRead: true }))).Items ?? []).map(
        (i) => i.sk as string,
      );
    /** Every content record's `links`, listed through the port. */
    const recordedLinks = async (store: DynamoDbMetadataStore) => {
      const counts = new Map<string, number>();
      let last: string | undefined;
      for (;;) {
        const page = await store.listContentRecords({ last, limit: 7 });
        for (const r of page.items) counts.set(r.digest, r.links);
        if (!page.more) return counts;
        last = page.items[page.items.length - 1].digest;
      }
    };
    /**
     * A client on DynamoDB Local whose Scans read `scanLimit` items a page, and whose process "crashes"
     * once its `crashAfter`+1-th transaction has landed: that one and every later command fail.
     */
    const client = (options: { scanLimit?: number; crashAfter?: number }) => {
      const hooked = DynamoDBDocumentClient.from(local().client);
      const send = hooked.send.bind(hooked) as (...args: unknown[]) => Promise<unknown>;
      let transactions = 0;
      let crashed = false;
      hooked.send = (async (command: SentCommand, ...rest: unknown[]) => {
        if (crashed) throw new Error('simulated crash: the process is gone');
        if (command.constructor.name === 'ScanCommand' && options.scanLimit !== undefined) command.input.Limit = options.scanLimit;
        const result = await send(command, ...rest);
        if (command.constructor.name === 'TransactWriteCommand' && options.crashAfter !== undefined && transactions++ === options.crashAfter) {
          crashed = true;
          throw new Error('simulated crash after a write landed');
        }
        return result;
      }) as typeof hooked.send;
      return hooked;
    };

    test('GIVEN a table written by the version-2 code WHEN opened THEN the layout is 3, every image reads as before, and each content record counts its links', async () => {
      expect(VERSION_2).toBe(2);
      expect(await layoutVersion()).toBe(2);
      const store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
      expect(await layoutVersion()).toBe(DYNAMODB_LAYOUT_VERSION);
      expect(DYNAMODB_LAYOUT_VERSION).toBe(3);
      expect(await readAll(store, pushed)).toEqual(before);
      expect(await recordedLinks(store)).toEqual(expectedLinks(pushed));
      expect((await store.getContentRecord(blob('shared-layer')))?.links).toBe(2);
      // The upgrade's progress is gone with it; links written before it count as made at the epoch.
      expect(await metaKeys()).toEqual(['layout']);
      expect((await store.listBlobLinks('team/a', { limit: 1 })).items[0].linkedAt).toBe(new Date(0).toISOString());
      // Opening again changes nothing.
      await DynamoDbMetadataStore.open({ client: local().client, tableName });
      expect(await recordedLinks(store)).toEqual(expectedLinks(pushed));
    });

    test('GIVEN an upgraded table WHEN images are deleted and blobs unlinked THEN the records count down to 0, shared content stays counted, and collection can begin', async () => {
      const store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
      const big = pushed.manifests.get('team/b')!.find(({ m }) => m.body === undefined)!.m;
      expect(await store.deleteManifest('team/b', big.digest)).toEqual({ ok: true });
      expect((await store.getContentRecord(big.digest))?.links).toBe(1);
      expect(await store.deleteRepository('team/b', true)).toEqual({ ok: true });
      expect((await store.getContentRecord(blob('shared-layer')))?.links).toBe(1);
      expect((await store.getContentRecord(blob('b-layer')))?.links).toBe(0);
      expect((await store.getContentRecord(blob('pending')))?.links).toBe(0);
      expect(await store.deleteManifest('team/a', big.digest)).toEqual({ ok: true });
      expect(await store.unlinkBlob('team/a', blob('big-config'), { linkedBefore: new Date().toISOString() })).toEqual({ ok: true });
      expect((await store.getContentRecord(big.digest))?.links).toBe(0);
      expect((await store.getContentRecord(blob('big-config')))?.links).toBe(0);
      const later = new Date(Date.now() + 60_000).toISOString();
      expect(await store.beginContentDeletion(blob('b-layer'), later, new Date(0).toISOString())).toBe(true);
      expect(await store.beginContentDeletion(blob('shared-layer'), later, new Date(0).toISOString())).toBe(false);
      // Linking content again counts it again.
      await store.linkBlob('team/c', blob('a-layer'), { size: 10 });
      expect((await store.getContentRecord(blob('a-layer')))?.links).toBe(2);
    });

    test('GIVEN upgrades interrupted part-way, each after a write that landed WHEN opened again THEN the upgrade completes and nothing is counted twice', async () => {
      let crashes = 0;
      for (const crashAfter of [0, 2, 1, 5]) {
        const attempt = DynamoDbMetadataStore.open({ client: client({ scanLimit: 4, crashAfter }), tableName });
        await expect(attempt).rejects.toThrow(/simulated crash/);
        crashes++;
        expect(await layoutVersion()).toBe(2);
      }
      expect(crashes).toBe(4);
      // Some of the work was done (and its progress kept), not all of it.
      expect(await metaKeys()).toEqual(expect.arrayContaining(['layout', expect.stringMatching(/^upgrade#2#\d$/)]));
      const partial = await recordedLinks(new DynamoDbMetadataStore({ client: local().client, tableName }));
      expect(partial.size).toBeGreaterThan(0);
      expect(partial).not.toEqual(expectedLinks(pushed));
      const store = await DynamoDbMetadataStore.open({ client: client({ scanLimit: 4 }), tableName });
      expect(await layoutVersion()).toBe(3);
      expect(await metaKeys()).toEqual(['layout']);
      expect(await recordedLinks(store)).toEqual(expectedLinks(pushed));
      expect(await readAll(store, pushed)).toEqual(before);
    });

    test('GIVEN several containers opening the version-2 table at once WHEN they finish THEN the upgrade was done once', async () => {
      const stores = await Promise.all([3, 5, 1000].map((scanLimit) => DynamoDbMetadataStore.open({ client: client({ scanLimit }), tableName })));
      expect(await layoutVersion()).toBe(3);
      expect(await metaKeys()).toEqual(['layout']);
      expect(await recordedLinks(stores[0])).toEqual(expectedLinks(pushed));
      expect(await readAll(stores[1], pushed)).toEqual(before);
    });
  });
}
