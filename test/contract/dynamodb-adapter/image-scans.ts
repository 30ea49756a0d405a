/**
 * Image scan records on DynamoDB (test/contract/dynamodb-adapter.test.ts): what the contract cannot see.
 * The `scan#<digest>` item is written in the manifest's own transaction (one or two phases), deleted in
 * the manifest's delete transaction, holds the documented attributes only, and a start or a finish
 * that loses a race to a delete or a newer start writes nothing (docs/storage.md, "Image scan records").
 * A finish or a findings update writes the record and its SCAN outbox item in one transaction, whose
 * conditions make `tags` the image's tags at its commit.
 */
import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ImageChange } from '../../../lambdas/contracts/events';
import type { StoredManifest } from '../../../lambdas/core/model';
import { DynamoDbMetadataStore } from '../../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import type { DynamoDbLocal } from '../../support/dynamodb-local';

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const blob = (seed: string) => sha256(`blob ${seed}`);
const T0 = '2024-06-01T00:00:00.000Z';
const T1 = '2024-06-01T01:00:00.000Z';

function manifest(seed: string, blobs: string[]): StoredManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, blobs }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: body.length,
    blobs,
    children: [],
    pushedAt: '2024-05-01T12:00:00.000Z',
    body,
  };
}

type Op = { Key?: { sk?: string }; Item?: { sk?: string } };
type SentCommand = { constructor: { name: string }; input?: { TransactItems?: Array<Record<string, Op>>; Item?: { sk?: string } } };

/** The sort keys a transaction writes or checks, by action (`Put manifest#…`). */
const transactionKeys = (command: SentCommand): string[] =>
  command.constructor.name === 'TransactWriteCommand'
    ? (command.input?.TransactItems ?? []).flatMap((a) => Object.entries(a).map(([action, op]) => `${action} ${(op.Key?.sk ?? op.Item?.sk ?? '').split('#')[0]}`))
    : [];

export function describeImageScansOnDynamoDb(local: () => DynamoDbLocal): void {
  describe('image scan records: items and transactions', () => {
    let tableName: string;
    let store: DynamoDbMetadataStore;
    let doc: DynamoDBDocumentClient;

    beforeEach(async () => {
      tableName = await local().createTable('scans');
      doc = DynamoDBDocumentClient.from(local().client);
      store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    });
    afterEach(async () => {
      await local().deleteTable(tableName);
    });

    /** A store whose every command goes through `hook` first. */
    const hooked = (hook: (command: SentCommand) => Promise<void>) => {
      const client = DynamoDBDocumentClient.from(local().client);
      const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
      client.send = (async (command: SentCommand, ...rest: unknown[]) => {
        await hook(command);
        return send(command, ...rest);
      }) as typeof client.send;
      return new DynamoDbMetadataStore({ client, tableName });
    };
    const rawScan = async (digest: string) => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'repo#team/app', sk: `scan#${digest}` }, ConsistentRead: true }))).Item;
    const scanItems = async () =>
      (
        await doc.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :scan)',
            ExpressionAttributeValues: { ':pk': 'repo#team/app', ':scan': 'scan#' },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];

    test('GIVEN a push with the scan option, in one transaction or two phases THEN the scan item is written by the transaction that writes the manifest item, with the documented attributes', async () => {
      for (const blobs of [[blob('a')], Array.from({ length: 60 }, (_, i) => blob(`layer ${i}`))]) {
        for (const b of blobs) await store.linkBlob('team/app', b, { size: 1 });
        const m = manifest(`pushed ${blobs.length}`, blobs);
        const transactions: string[][] = [];
        const pusher = hooked(async (command) => {
          const keys = transactionKeys(command);
          if (keys.length > 0) transactions.push(keys);
        });
        expect(await pusher.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
        const withScan = transactions.filter((keys) => keys.includes('Put scan'));
        expect(withScan).toHaveLength(1);
        expect(withScan[0]).toContain('Put manifest');
        expect(await rawScan(m.digest)).toEqual({
          pk: 'repo#team/app',
          sk: `scan#${m.digest}`,
          digest: m.digest,
          status: 'IN_PROGRESS',
          startedAt: T0,
          severityCounts: { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 },
          generation: 1,
        });
      }
    });

    test('GIVEN a scanned image WHEN deleted THEN the delete transaction removes the scan item with the manifest item', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('deleted', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      const transactions: string[][] = [];
      const deleter = hooked(async (command) => {
        const keys = transactionKeys(command);
        if (keys.length > 0) transactions.push(keys);
      });
      expect(await deleter.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(transactions).toHaveLength(1);
      expect(transactions[0]).toEqual(expect.arrayContaining(['Delete manifest', 'Delete scan']));
      expect(await scanItems()).toEqual([]);
    });

    test('GIVEN a start that read the record WHEN the image is deleted before it commits THEN unknown, and no scan item is left', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('raced delete', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      let armed = true;
      const starter = hooked(async (command) => {
        if (armed && transactionKeys(command).includes('Put scan')) {
          armed = false;
          expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
        }
      });
      expect(await starter.startScan('team/app', m.digest, T1)).toEqual({ ok: false, reason: 'unknown' });
      expect(armed).toBe(false);
      expect(await scanItems()).toEqual([]);
    });

    /** The SCAN changes of the outbox items (every item's changes). */
    const scanChanges = async (): Promise<ImageChange[]> =>
      (await store.readOutbox(100)).flatMap((entry) => entry.changes).filter((change) => change.action === 'SCAN');
    const drain = async () => store.acknowledgeOutbox((await store.readOutbox(100)).map((entry) => entry.id));
    /** A store whose first transaction that puts the scan item runs `act` before it is sent. */
    const beforeScanWrite = (act: () => Promise<void>) => {
      let armed = true;
      const hookedStore = hooked(async (command) => {
        if (armed && transactionKeys(command).includes('Put scan')) {
          armed = false;
          await act();
        }
      });
      return { store: hookedStore, fired: () => !armed };
    };

    test('GIVEN a finish that read the record WHEN a newer scan starts before it writes THEN it reads again and is refused: the newer scan stays, and no SCAN is recorded', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('raced finish', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      const scanner = beforeScanWrite(async () => {
        expect(await store.startScan('team/app', m.digest, T1)).toMatchObject({ ok: true });
      });
      expect(await scanner.store.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: T1 }, { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'superseded' });
      expect(scanner.fired()).toBe(true);
      expect(await store.getScan('team/app', m.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: T1, generation: 2 });
      expect(await scanChanges()).toEqual([]);
    });

    test('GIVEN a finish THEN one transaction puts the scan item and the outbox item, with a ConditionCheck of the manifest item and of each tag’s reverse record', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('finish transaction', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      expect(await store.putManifest('team/app', m, 'v2')).toEqual({ ok: true });
      const transactions: string[][] = [];
      const writes: string[] = [];
      const scanner = hooked(async (command) => {
        const keys = transactionKeys(command);
        if (keys.length > 0) transactions.push(keys);
        else if (!['GetCommand', 'QueryCommand', 'BatchGetCommand'].includes(command.constructor.name)) writes.push(command.constructor.name);
      });
      expect(await scanner.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: T1 }, { expectedStartedAt: T0 })).toMatchObject({ ok: true });
      expect(writes).toEqual([]);
      expect(transactions).toHaveLength(1);
      expect(transactions[0].filter((k) => !k.startsWith('Put 20'))).toEqual(['Put scan', 'ConditionCheck manifest', 'ConditionCheck tagged', 'ConditionCheck tagged']);
      expect(transactions[0].filter((k) => k.startsWith('Put 20'))).toHaveLength(1);
      expect(await scanChanges()).toEqual([expect.objectContaining({ action: 'SCAN', digest: m.digest, tags: ['v1', 'v2'] })]);
    });

    test('GIVEN a finish that read the image’s tags WHEN a tag is moved onto it or one removed before it commits THEN it reads again: the SCAN lists the tags at its commit', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('tags raced', [blob('a')]);
      const other = manifest('tags raced other', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      expect(await store.putManifest('team/app', m, 'v2')).toEqual({ ok: true });
      expect(await store.putManifest('team/app', other, 'elsewhere')).toEqual({ ok: true });
      await drain();
      // A tag moved onto the image (from another) between the finish's reads and its transaction.
      const added = beforeScanWrite(async () => {
        expect(await store.putManifest('team/app', m, 'elsewhere')).toEqual({ ok: true });
      });
      expect(await added.store.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: T1 }, { expectedStartedAt: T0 })).toMatchObject({ ok: true, scan: { generation: 2 } });
      expect(added.fired()).toBe(true);
      expect((await scanChanges()).map((c) => c.tags)).toEqual([['elsewhere', 'v1', 'v2']]);

      // A tag deleted, and one moved off to another image, between a findings update's reads and its transaction.
      const removed = beforeScanWrite(async () => {
        expect(await store.deleteTag('team/app', 'v1')).toBe(true);
        expect(await store.putManifest('team/app', other, 'v2')).toEqual({ ok: true });
      });
      // A record is matched again only with an inventory: a new scan that stored one.
      expect(await store.startScan('team/app', m.digest, '2024-06-02T00:00:00.000Z')).toMatchObject({ ok: true });
      expect(await store.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: '2024-06-02T01:00:00.000Z', inventoryRef: 'inv' }, { expectedStartedAt: '2024-06-02T00:00:00.000Z' })).toMatchObject({
        ok: true,
        scan: { generation: 4 },
      });
      await drain();
      const update = { findingsRef: 'again', severityCounts: { CRITICAL: 1, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 }, vulnerabilitySourceUpdatedAt: T1, completedAt: T1 };
      expect(await removed.store.updateFindings('team/app', m.digest, update, { expectedGeneration: 4 })).toMatchObject({ ok: true, scan: { generation: 5 } });
      expect(removed.fired()).toBe(true);
      expect(await scanChanges()).toEqual([expect.objectContaining({ scanStatus: 'COMPLETE', severityCounts: update.severityCounts, tags: ['elsewhere'] })]);
    });

    test('GIVEN a finish that read the record WHEN the image is deleted and pushed again (a new scan at generation 1) before it commits THEN refused, and the new scan stays', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const m = manifest('deleted and pushed again', [blob('a')]);
      expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T0 } })).toEqual({ ok: true });
      const scanner = beforeScanWrite(async () => {
        expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
        expect(await store.putManifest('team/app', m, 'v1', { scan: { startedAt: T1 } })).toEqual({ ok: true });
      });
      await drain();
      expect(await scanner.store.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: T1 }, { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'superseded' });
      expect(scanner.fired()).toBe(true);
      expect(await store.getScan('team/app', m.digest)).toEqual({ digest: m.digest, status: 'IN_PROGRESS', startedAt: T1, severityCounts: { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 }, generation: 1 });
      expect(await scanChanges()).toEqual([]);
    });
  });
}
