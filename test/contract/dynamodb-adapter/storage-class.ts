/**
 * The archive state on DynamoDB (test/contract/dynamodb-adapter.test.ts): what the contract cannot see.
 * Tag items carry a copy of the record, archive state included (docs/storage.md, "The archive state"),
 * so a pull by tag stays one GetItem; a storage class change racing a tag moved onto the manifest
 * never leaves a copy that disagrees with the manifest item.
 */
import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ManifestRecord, StoredManifest } from '../../../lambdas/core/model';
import { DynamoDbMetadataStore } from '../../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import type { DynamoDbLocal } from '../../support/dynamodb-local';

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const blob = (seed: string) => sha256(`blob ${seed}`);

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

const stateOf = (m: ManifestRecord | null | undefined) => (m ? { storageClass: m.storageClass, lastArchivedAt: m.lastArchivedAt, lastActivatedAt: m.lastActivatedAt } : null);

type SentCommand = { constructor: { name: string }; input?: { TransactItems?: Array<Record<string, { Key?: { sk?: string }; Item?: { sk?: string } }>> } };

/** Whether a transaction writes the item of sort key `sk`. */
const touches = (command: SentCommand, sk: string) =>
  command.constructor.name === 'TransactWriteCommand' && (command.input?.TransactItems ?? []).some((a) => Object.values(a).some((op) => op.Key?.sk === sk || op.Item?.sk === sk));

export function describeArchiveStateOnDynamoDb(local: () => DynamoDbLocal): void {
  describe('archive state: tag copies', () => {
    let tableName: string;
    let store: DynamoDbMetadataStore;
    let doc: DynamoDBDocumentClient;

    beforeEach(async () => {
      tableName = await local().createTable('archive');
      doc = DynamoDBDocumentClient.from(local().client);
      store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    });
    afterEach(async () => {
      await local().deleteTable(tableName);
    });

    /** A store whose every command goes through `hook`, which may act first, then sends it. */
    const hooked = (hook: (command: SentCommand) => Promise<void>) => {
      const client = DynamoDBDocumentClient.from(local().client);
      const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
      client.send = (async (command: SentCommand, ...rest: unknown[]) => {
        await hook(command);
        return send(command, ...rest);
      }) as typeof client.send;
      return new DynamoDbMetadataStore({ client, tableName });
    };
    const rawTag = async (tag: string) => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'repo#team/app', sk: `tag#${tag}` }, ConsistentRead: true }))).Item;

    test('GIVEN an image archived and restored WHEN read by tag THEN the tag item still carries the copy, with the state, and a pull by tag is one GetItem', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const m = manifest('copied', [blob('c')]);
      expect(await store.putManifest('team/app', m, 'v1')).toEqual({ ok: true });
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-01T00:00:00.000Z');
      expect(await rawTag('v1')).toMatchObject({ digest: m.digest, mediaType: m.mediaType, storageClass: 'ARCHIVE', lastArchivedAt: '2024-06-01T00:00:00.000Z' });
      await store.setImageStorageClass('team/app', m.digest, 'STANDARD', '2024-06-02T00:00:00.000Z');
      const raw = await rawTag('v1');
      expect(raw).toMatchObject({ mediaType: m.mediaType, lastArchivedAt: '2024-06-01T00:00:00.000Z', lastActivatedAt: '2024-06-02T00:00:00.000Z' });
      expect(raw).not.toHaveProperty('storageClass');

      const sent: string[] = [];
      const reader = hooked(async (command) => {
        sent.push(command.constructor.name);
      });
      expect(stateOf(await reader.getTaggedManifest('team/app', 'v1'))).toEqual({ storageClass: undefined, lastArchivedAt: '2024-06-01T00:00:00.000Z', lastActivatedAt: '2024-06-02T00:00:00.000Z' });
      expect(sent).toEqual(['GetCommand']);
    });

    test('GIVEN an archive that listed the tags WHEN a tag is moved onto the manifest before it commits THEN it reads again, and the new tag is archived too', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const m = manifest('raced-archive', [blob('c')]);
      expect(await store.putManifest('team/app', m, 'v1')).toEqual({ ok: true });
      let armed = true;
      const archiver = hooked(async (command) => {
        if (armed && touches(command, `manifest#${m.digest}`)) {
          armed = false;
          expect(await store.putManifest('team/app', m, 'late')).toEqual({ ok: true });
        }
      });
      expect(await archiver.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-01T00:00:00.000Z')).toMatchObject({ ok: true, changed: true });
      expect(armed).toBe(false);
      for (const tag of ['v1', 'late']) expect((await store.getTaggedManifest('team/app', tag))?.storageClass).toBe('ARCHIVE');
      const actions = (await store.readOutbox(10)).flatMap((e) => e.changes).map((c) => c.action);
      expect(actions).toEqual(['PUSH', 'PUSH', 'UPDATE_STORAGE_CLASS']);
    });

    test('GIVEN a put moving a tag onto a manifest WHEN the manifest is archived before the put commits THEN the put reads again and restores it: the copy agrees with the manifest', async () => {
      await store.linkBlob('team/app', blob('c'), { size: 1 });
      const m = manifest('raced-move', [blob('c')]);
      expect(await store.putManifest('team/app', m, 'v1')).toEqual({ ok: true });
      let armed = true;
      const pusher = hooked(async (command) => {
        if (armed && touches(command, 'tag#late')) {
          armed = false;
          expect(await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-01T00:00:00.000Z')).toMatchObject({ ok: true, changed: true });
        }
      });
      expect(await pusher.putManifest('team/app', m, 'late')).toEqual({ ok: true });
      expect(armed).toBe(false);
      const stored = stateOf(await store.getManifest('team/app', m.digest));
      expect(stored?.storageClass).toBeUndefined();
      expect(stored?.lastArchivedAt).toBe('2024-06-01T00:00:00.000Z');
      expect(stored?.lastActivatedAt).toBeDefined();
      for (const tag of ['v1', 'late']) expect(stateOf(await store.getTaggedManifest('team/app', tag))).toEqual(stored);
      const actions = (await store.readOutbox(10)).flatMap((e) => e.changes).map((c) => c.action);
      expect(actions).toEqual(['PUSH', 'UPDATE_STORAGE_CLASS', 'PUSH']);
    });
  });
}
