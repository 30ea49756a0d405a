/**
 * The MetadataStore contract (test/contract/metadata-store.contract.ts): the archive state
 * (ImageStorageClassStore): what setImageStorageClass changes, that every read (by digest, by tag,
 * listed) sees it at once, its one outbox change, the restore a put makes, and that a delete forgets it.
 */
import type { ImageChange } from '../../../lambdas/contracts/events';
import type { ManifestRecord, StoredManifest } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { blob, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';
import { allEntries } from './outbox';

const ARCHIVED_AT = '2024-06-01T00:00:00.000Z';
const ACTIVATED_AT = '2024-06-02T00:00:00.000Z';

type ArchiveState = Pick<ManifestRecord, 'storageClass' | 'lastArchivedAt' | 'lastActivatedAt'>;
const stateOf = (m: ManifestRecord | null | undefined): ArchiveState | null =>
  m ? { storageClass: m.storageClass, lastArchivedAt: m.lastArchivedAt, lastActivatedAt: m.lastActivatedAt } : null;

export function describeStorageClasses(current: () => OpenedMetadataStore): void {
  describe('archive state (storage classes)', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push } = storeHelpers(() => store);

    async function changes(): Promise<ImageChange[]> {
      return (await allEntries(store)).flatMap((entry) => entry.changes);
    }
    async function drain(): Promise<void> {
      await store.acknowledgeOutbox((await allEntries(store)).map((e) => e.id));
    }
    /** The state as every read of the port tells it: by digest, by each tag, and listed. */
    async function readEverywhere(repo: string, m: StoredManifest, tags: string[]): Promise<Array<ArchiveState | null>> {
      const listed = (await store.listManifests(repo, { limit: 1000 })).items.find((i) => i.digest === m.digest);
      const byTag = await Promise.all(tags.map((tag) => store.getTaggedManifest(repo, tag)));
      for (const got of byTag) expect(got?.digest).toBe(m.digest);
      return [stateOf(await store.getManifest(repo, m.digest)), ...byTag.map(stateOf), stateOf(listed)];
    }
    const everywhere = (state: ArchiveState, tags: string[]) => Array.from({ length: tags.length + 2 }, () => state);

    test('GIVEN a tagged manifest WHEN archived THEN every read shows it at once, and the outbox holds one UPDATE_STORAGE_CLASS', async () => {
      const m = manifest('archived', { blobs: [blob('a')], artifactType: 'application/vnd.example+json' });
      await push('team/app', m, 'v1');
      await drain();
      const result = await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT, { initiatedBy: 'lifecycle-policy' });
      expect(result).toMatchObject({ ok: true, changed: true, manifest: { digest: m.digest, mediaType: m.mediaType, storageClass: 'ARCHIVE', lastArchivedAt: ARCHIVED_AT } });
      if (!result.ok) throw new Error('unreachable');
      expect(result.manifest.lastActivatedAt).toBeUndefined();
      const archived = { storageClass: 'ARCHIVE' as const, lastArchivedAt: ARCHIVED_AT, lastActivatedAt: undefined };
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere(archived, ['v1']));
      // The rest of the record is untouched, body included.
      const got = await store.getTaggedManifest('team/app', 'v1');
      expect(got).toMatchObject({ digest: m.digest, size: m.size, blobs: m.blobs, pushedAt: m.pushedAt, artifactType: m.artifactType });
      if (got?.body !== undefined) expect(Buffer.from(got.body).equals(m.body!)).toBe(true);

      const recorded = await changes();
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({
        action: 'UPDATE_STORAGE_CLASS',
        repository: 'team/app',
        digest: m.digest,
        time: ARCHIVED_AT,
        storageClass: { target: 'ARCHIVE', mediaType: m.mediaType, artifactType: m.artifactType },
        initiatedBy: 'lifecycle-policy',
      });
      expect(recorded[0].tag).toBeUndefined();
      expect(recorded[0].storageClass?.activatedAt).toBeUndefined();
    });

    test('GIVEN an archived manifest WHEN archived again THEN changed is false, nothing moves and nothing is recorded', async () => {
      const m = manifest('twice', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      await drain();
      const again = await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ACTIVATED_AT);
      expect(again).toMatchObject({ ok: true, changed: false, manifest: { digest: m.digest, storageClass: 'ARCHIVE', lastArchivedAt: ARCHIVED_AT } });
      expect(await store.readOutbox(10)).toEqual([]);
      // An active manifest moved to STANDARD likewise.
      const active = manifest('active', { blobs: [blob('a')] });
      await push('team/app', active);
      await drain();
      expect(await store.setImageStorageClass('team/app', active.digest, 'STANDARD', ACTIVATED_AT)).toMatchObject({ ok: true, changed: false });
      expect(stateOf(await store.getManifest('team/app', active.digest))).toEqual({ storageClass: undefined, lastArchivedAt: undefined, lastActivatedAt: undefined });
      expect(await store.readOutbox(10)).toEqual([]);
    });

    test('GIVEN an archived manifest WHEN restored to STANDARD THEN storageClass goes, lastActivatedAt is set and lastArchivedAt kept, everywhere', async () => {
      const m = manifest('restored', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      await drain();
      const result = await store.setImageStorageClass('team/app', m.digest, 'STANDARD', ACTIVATED_AT);
      expect(result).toMatchObject({ ok: true, changed: true, manifest: { lastArchivedAt: ARCHIVED_AT, lastActivatedAt: ACTIVATED_AT } });
      if (!result.ok) throw new Error('unreachable');
      expect(result.manifest.storageClass).toBeUndefined();
      const active = { storageClass: undefined, lastArchivedAt: ARCHIVED_AT, lastActivatedAt: ACTIVATED_AT };
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere(active, ['v1']));
      const recorded = await changes();
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ action: 'UPDATE_STORAGE_CLASS', digest: m.digest, storageClass: { target: 'STANDARD', mediaType: m.mediaType, activatedAt: ACTIVATED_AT } });
      expect(recorded[0].initiatedBy).toBeUndefined();
      // Archived again: lastActivatedAt stays.
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-03T00:00:00.000Z');
      expect(stateOf(await store.getTaggedManifest('team/app', 'v1'))).toEqual({ storageClass: 'ARCHIVE', lastArchivedAt: '2024-06-03T00:00:00.000Z', lastActivatedAt: ACTIVATED_AT });
    });

    test('GIVEN no such manifest (or repository) WHEN its storage class is set THEN unknown, and nothing is recorded or created', async () => {
      const m = manifest('present', { blobs: [blob('a')] });
      await push('team/app', m);
      await drain();
      expect(await store.setImageStorageClass('team/app', manifest('absent').digest, 'ARCHIVE', ARCHIVED_AT)).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.setImageStorageClass('team/none', m.digest, 'ARCHIVE', ARCHIVED_AT)).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.setImageStorageClass('team/app', 'sha256:' + 'f'.repeat(3000), 'STANDARD', ARCHIVED_AT)).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.getRepository('team/none')).toBeNull();
      expect(await store.readOutbox(10)).toEqual([]);
    });

    test('GIVEN an archived manifest WHEN put again (by digest, then moving a new tag onto it) THEN it is restored by the put, with exactly one PUSH each', async () => {
      const m = manifest('re-pushed', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      await drain();
      const before = Date.now();
      await push('team/app', m);
      const after = Date.now();
      const recorded = await changes();
      expect(recorded.map(({ action, digest, tag }) => ({ action, digest, tag }))).toEqual([{ action: 'PUSH', digest: m.digest, tag: undefined }]);
      const restored = await store.getManifest('team/app', m.digest);
      expect(restored?.storageClass).toBeUndefined();
      expect(restored?.lastArchivedAt).toBe(ARCHIVED_AT);
      const activated = Date.parse(restored!.lastActivatedAt!);
      expect(activated).toBeGreaterThanOrEqual(before - 1000);
      expect(activated).toBeLessThanOrEqual(after + 1000);
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere(stateOf(restored)!, ['v1']));

      // Archived again, then a tag moved onto it by a put: restored, and the new tag's copy says so.
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-03T00:00:00.000Z');
      await drain();
      await push('team/app', m, 'v2');
      expect((await changes()).map(({ action, tag }) => ({ action, tag }))).toEqual([{ action: 'PUSH', tag: 'v2' }]);
      const again = await store.getManifest('team/app', m.digest);
      expect(again?.storageClass).toBeUndefined();
      expect(again?.lastArchivedAt).toBe('2024-06-03T00:00:00.000Z');
      expect(await readEverywhere('team/app', m, ['v1', 'v2'])).toEqual(everywhere(stateOf(again)!, ['v1', 'v2']));
    });

    test('GIVEN a restored manifest WHEN put again THEN lastArchivedAt and lastActivatedAt are kept, and only the PUSH is recorded', async () => {
      const m = manifest('kept', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      await store.setImageStorageClass('team/app', m.digest, 'STANDARD', ACTIVATED_AT);
      await drain();
      await push('team/app', m, 'v1');
      await push('team/app', m, 'v2');
      expect((await changes()).map((c) => c.action)).toEqual(['PUSH', 'PUSH']);
      const active = { storageClass: undefined, lastArchivedAt: ARCHIVED_AT, lastActivatedAt: ACTIVATED_AT };
      expect(await readEverywhere('team/app', m, ['v1', 'v2'])).toEqual(everywhere(active, ['v1', 'v2']));
    });

    test('GIVEN a put that carries storage fields WHEN the manifest is new THEN it is stored active, without them', async () => {
      const m = { ...manifest('claims', { blobs: [blob('a')] }), storageClass: 'ARCHIVE' as const, lastArchivedAt: ARCHIVED_AT, lastActivatedAt: ACTIVATED_AT };
      await push('team/app', m, 'v1');
      const { storageClass: _c, lastArchivedAt: _a, lastActivatedAt: _t, ...plain } = m;
      expect(await readEverywhere('team/app', plain, ['v1'])).toEqual(everywhere({ storageClass: undefined, lastArchivedAt: undefined, lastActivatedAt: undefined }, ['v1']));
    });

    test('GIVEN a tag moved to another manifest WHEN the first is archived THEN the tag reads the other, active; moving it back onto the archived one restores that', async () => {
      const first = manifest('first', { blobs: [blob('a')] });
      const second = manifest('second', { blobs: [blob('a')] });
      await push('team/app', first, 'v1');
      await push('team/app', first, 'keep');
      await push('team/app', second, 'v1');
      await store.setImageStorageClass('team/app', first.digest, 'ARCHIVE', ARCHIVED_AT);
      expect((await store.getTaggedManifest('team/app', 'v1'))?.digest).toBe(second.digest);
      expect(stateOf(await store.getTaggedManifest('team/app', 'v1'))).toEqual({ storageClass: undefined, lastArchivedAt: undefined, lastActivatedAt: undefined });
      expect(stateOf(await store.getManifest('team/app', second.digest))?.storageClass).toBeUndefined();
      expect(stateOf(await store.getTaggedManifest('team/app', 'keep'))?.storageClass).toBe('ARCHIVE');

      // Archived while tagged, then the tag moves away: the other manifest is not archived by it.
      await store.setImageStorageClass('team/app', second.digest, 'ARCHIVE', ARCHIVED_AT);
      const third = manifest('third', { blobs: [blob('a')] });
      await push('team/app', third, 'v1');
      expect(stateOf(await store.getTaggedManifest('team/app', 'v1'))).toEqual({ storageClass: undefined, lastArchivedAt: undefined, lastActivatedAt: undefined });
      expect((await store.getManifest('team/app', second.digest))?.storageClass).toBe('ARCHIVE');

      // A put moving the tag back onto an archived manifest is a put of it: it is restored.
      await push('team/app', second, 'v1');
      const restored = await store.getTaggedManifest('team/app', 'v1');
      expect(restored?.digest).toBe(second.digest);
      expect(restored?.storageClass).toBeUndefined();
      expect(restored?.lastArchivedAt).toBe(ARCHIVED_AT);
      expect(restored?.lastActivatedAt).toBeDefined();
      expect(stateOf(restored)).toEqual(stateOf(await store.getManifest('team/app', second.digest)));
    });

    test('GIVEN a manifest with three tags WHEN archived and restored THEN each tag reads the state at once', async () => {
      const m = manifest('three', { blobs: [blob('a')] });
      const tags = ['a', 'b', 'c'];
      for (const tag of tags) await push('team/app', m, tag);
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      expect(await readEverywhere('team/app', m, tags)).toEqual(everywhere({ storageClass: 'ARCHIVE', lastArchivedAt: ARCHIVED_AT, lastActivatedAt: undefined }, tags));
      await store.setImageStorageClass('team/app', m.digest, 'STANDARD', ACTIVATED_AT);
      expect(await readEverywhere('team/app', m, tags)).toEqual(everywhere({ storageClass: undefined, lastArchivedAt: ARCHIVED_AT, lastActivatedAt: ACTIVATED_AT }, tags));
    });

    test('GIVEN a manifest with more tags than one transaction holds WHEN archived, restored by a put, then deleted with initiatedBy THEN every tag reads each state, and one DELETE per tag carries it', async () => {
      const m = manifest('many', { blobs: [blob('a')] });
      const tags = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, '0')}`);
      await push('team/app', m);
      for (const tag of tags) expect(await store.putManifest('team/app', m, tag)).toEqual({ ok: true });
      await drain();
      expect(await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT)).toMatchObject({ ok: true, changed: true });
      expect(await readEverywhere('team/app', m, tags)).toEqual(everywhere({ storageClass: 'ARCHIVE', lastArchivedAt: ARCHIVED_AT, lastActivatedAt: undefined }, tags));
      expect((await changes()).map((c) => c.action)).toEqual(['UPDATE_STORAGE_CLASS']);
      await drain();
      await push('team/app', m, 't000');
      expect((await changes()).map((c) => c.action)).toEqual(['PUSH']);
      const restored = stateOf(await store.getManifest('team/app', m.digest))!;
      expect(restored.storageClass).toBeUndefined();
      expect(await readEverywhere('team/app', m, tags)).toEqual(everywhere(restored, tags));
      await drain();
      expect(await store.deleteManifest('team/app', m.digest, { initiatedBy: 'lifecycle-policy' })).toEqual({ ok: true });
      const deleted = await changes();
      expect(deleted.map((c) => c.tag).sort()).toEqual(tags);
      expect(deleted.every((c) => c.action === 'DELETE' && c.initiatedBy === 'lifecycle-policy')).toBe(true);
    });

    test('GIVEN deleteManifest with initiatedBy THEN its DELETEs carry it (tagged and untagged); without it they do not', async () => {
      const tagged = manifest('tagged', { blobs: [blob('a')] });
      const untagged = manifest('untagged', { blobs: [blob('b')] });
      const plain = manifest('plain', { blobs: [blob('c')] });
      await push('team/app', tagged, 'v1');
      await push('team/app', tagged, 'v2');
      await push('team/app', untagged);
      await push('team/app', plain, 'p');
      await store.setImageStorageClass('team/app', untagged.digest, 'ARCHIVE', ARCHIVED_AT);
      await drain();
      expect(await store.deleteManifest('team/app', tagged.digest, { initiatedBy: 'lifecycle-policy' })).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', untagged.digest, { initiatedBy: 'lifecycle-policy' })).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', plain.digest)).toEqual({ ok: true });
      const recorded = (await changes()).map(({ action, digest, tag, initiatedBy }) => ({ action, digest, tag, initiatedBy }));
      expect(recorded.slice(0, 2)).toEqual(
        expect.arrayContaining([
          { action: 'DELETE', digest: tagged.digest, tag: 'v1', initiatedBy: 'lifecycle-policy' },
          { action: 'DELETE', digest: tagged.digest, tag: 'v2', initiatedBy: 'lifecycle-policy' },
        ]),
      );
      expect(recorded.slice(2)).toEqual([
        { action: 'DELETE', digest: untagged.digest, tag: undefined, initiatedBy: 'lifecycle-policy' },
        { action: 'DELETE', digest: plain.digest, tag: 'p', initiatedBy: undefined },
      ]);
    });

    test('GIVEN an archived manifest WHEN deleted (or its repository deleted) and pushed again THEN it is a fresh, active manifest with no archive times', async () => {
      const m = manifest('forgotten', { blobs: [blob('a')] });
      const none = { storageClass: undefined, lastArchivedAt: undefined, lastActivatedAt: undefined };
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.getManifest('team/app', m.digest)).toBeNull();
      await push('team/app', m, 'v1');
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere(none, ['v1']));

      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      await store.setImageStorageClass('team/app', m.digest, 'STANDARD', ACTIVATED_AT);
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', '2024-06-03T00:00:00.000Z');
      expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });
      await push('team/app', m, 'v1');
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere(none, ['v1']));
    });

    test('GIVEN an archived manifest WHEN the store is reopened THEN it is still archived', async () => {
      if (!opened.reopen) return;
      const m = manifest('durable', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setImageStorageClass('team/app', m.digest, 'ARCHIVE', ARCHIVED_AT);
      store = await opened.reopen();
      expect(await readEverywhere('team/app', m, ['v1'])).toEqual(everywhere({ storageClass: 'ARCHIVE', lastArchivedAt: ARCHIVED_AT, lastActivatedAt: undefined }, ['v1']));
    });
  });
}
