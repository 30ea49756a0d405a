/**
 * The MetadataStore contract (test/contract/metadata-store.contract.ts): content records, the state
 * garbage collection decides on (docs/garbage-collection.md): links counted in the link's own
 * transaction, claims, and a deletion that, once begun, refuses every claim and link until finished.
 */
import { ContentBeingDeletedError, type MetadataStore } from '../../../lambdas/storage/ports';
import { blob, byteOrder, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';

const later = () => new Date(Date.now() + 60_000).toISOString();
const earlier = () => new Date(Date.now() - 60_000).toISOString();

export function describeContentRecords(current: () => OpenedMetadataStore): void {
  describe('content records (garbage collection)', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push } = storeHelpers(() => store);

    test('GIVEN a blob linked in two repositories, linked again, and unlinked WHEN its record is read THEN it counts each repository once', async () => {
      const before = Date.now();
      await store.linkBlob('team/a', blob('x'), { size: 11 });
      await store.linkBlob('team/b', blob('x'), { size: 11 });
      await store.linkBlob('team/a', blob('x'), { size: 11 });
      const record = await store.getContentRecord(blob('x'));
      expect(record).toMatchObject({ digest: blob('x'), links: 2, size: 11 });
      expect(record?.deletingSince).toBeUndefined();
      expect(Date.parse(record!.touchedAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(await store.unlinkBlob('team/a', blob('x'))).toEqual({ ok: true });
      // An unlink leaves `touchedAt`: the grace period runs from the last claim or link.
      expect(await store.getContentRecord(blob('x'))).toMatchObject({ links: 1, touchedAt: record!.touchedAt });
      expect(await store.unlinkBlob('team/a', blob('x'))).toMatchObject({ ok: false, reason: 'unknown' });
      expect(await store.getContentRecord(blob('x'))).toMatchObject({ links: 1 });
      expect(await store.getContentRecord(blob('never'))).toBeNull();
    });

    test('GIVEN a repository force-deleted THEN each of its links is uncounted, and content another repository links keeps its count', async () => {
      await push('team/gone', manifest('image', { blobs: [blob('shared'), blob('own')] }), 'v1');
      await store.linkBlob('team/kept', blob('shared'), { size: 10 });
      expect(await store.deleteRepository('team/gone', true)).toEqual({ ok: true });
      expect(await store.getContentRecord(blob('shared'))).toMatchObject({ links: 1 });
      expect(await store.getContentRecord(blob('own'))).toMatchObject({ links: 0 });
    });

    test('GIVEN links WHEN listed in pages THEN byte order of digest, with size and when each was made; unlink with linkedBefore keeps a link made since', async () => {
      const digests = ['a', 'b', 'c', 'd', 'e'].map((seed) => blob(seed));
      for (const digest of digests) await store.linkBlob('team/app', digest, { size: 7 });
      const first = await store.listBlobLinks('team/app', { limit: 3 });
      expect(first.more).toBe(true);
      const rest = await store.listBlobLinks('team/app', { last: first.items[2].digest, limit: 3 });
      expect(rest.more).toBe(false);
      const all = [...first.items, ...rest.items];
      expect(all.map((l) => l.digest)).toEqual(byteOrder(digests));
      for (const link of all) {
        expect(link.size).toBe(7);
        expect(Math.abs(Date.parse(link.linkedAt) - Date.now())).toBeLessThan(60_000);
      }
      expect(await store.listBlobLinks('team/none', { limit: 3 })).toEqual({ items: [], more: false });
      expect(await store.unlinkBlob('team/app', digests[0], { linkedBefore: earlier() })).toMatchObject({ ok: false, reason: 'recent' });
      expect(await store.statBlobLink('team/app', digests[0])).toEqual({ size: 7 });
      expect(await store.unlinkBlob('team/app', digests[0], { linkedBefore: later() })).toEqual({ ok: true });
      expect(await store.statBlobLink('team/app', digests[0])).toBeNull();
    });

    test('GIVEN unlinked, untouched content WHEN a deletion begins THEN claims and links are refused until it finishes, and the record goes with it', async () => {
      expect(await store.claimContent(blob('c'))).toEqual({ ok: true });
      expect(await store.getContentRecord(blob('c'))).toMatchObject({ links: 0 });
      // Touched just now: a deletion that wants older content is refused.
      expect(await store.beginContentDeletion(blob('c'), earlier(), earlier())).toBe(false);
      expect(await store.beginContentDeletion(blob('c'), later(), earlier())).toBe(true);
      const deleting = await store.getContentRecord(blob('c'));
      expect(deleting?.deletingSince).toEqual(expect.any(String));
      expect(await store.claimContent(blob('c'))).toEqual({ ok: false, reason: 'being-deleted', since: deleting!.deletingSince });
      await expect(store.linkBlob('team/app', blob('c'), { size: 3 })).rejects.toBeInstanceOf(ContentBeingDeletedError);
      expect(await store.statBlobLink('team/app', blob('c'))).toBeNull();
      // Begun recently: a second collector does not take it over.
      expect(await store.beginContentDeletion(blob('c'), later(), earlier())).toBe(false);
      await store.finishContentDeletion(blob('c'));
      expect(await store.getContentRecord(blob('c'))).toBeNull();
      expect(await store.claimContent(blob('c'))).toEqual({ ok: true });
      await store.linkBlob('team/app', blob('c'), { size: 3 });
      expect(await store.getContentRecord(blob('c'))).toMatchObject({ links: 1 });
    });

    test('GIVEN linked content THEN no deletion begins; GIVEN a deletion begun long ago THEN another collector takes it over', async () => {
      await store.linkBlob('team/app', blob('l'), { size: 3 });
      expect(await store.beginContentDeletion(blob('l'), later(), earlier())).toBe(false);
      expect((await store.getContentRecord(blob('l')))?.deletingSince).toBeUndefined();

      expect(await store.claimContent(blob('s'))).toEqual({ ok: true });
      expect(await store.beginContentDeletion(blob('s'), later(), earlier())).toBe(true);
      const first = (await store.getContentRecord(blob('s')))!.deletingSince!;
      await new Promise((r) => setTimeout(r, 5));
      // staleBefore after the first begin: it counts as abandoned.
      expect(await store.beginContentDeletion(blob('s'), later(), later())).toBe(true);
      expect((await store.getContentRecord(blob('s')))!.deletingSince! > first).toBe(true);
    });

    test('GIVEN content with no record (stored before records were kept) WHEN a deletion begins THEN it begins, once', async () => {
      expect(await store.beginContentDeletion(blob('orphan'), later(), earlier())).toBe(true);
      expect(await store.getContentRecord(blob('orphan'))).toMatchObject({ links: 0, deletingSince: expect.any(String) });
      expect(await store.beginContentDeletion(blob('orphan'), later(), earlier())).toBe(false);
      await store.finishContentDeletion(blob('orphan'));
      // Finishing what is not being deleted changes nothing.
      await store.claimContent(blob('kept'));
      await store.finishContentDeletion(blob('kept'));
      expect(await store.getContentRecord(blob('kept'))).toMatchObject({ links: 0 });
    });

    test('GIVEN content records WHEN listed in pages THEN byte order of digest, each once', async () => {
      const digests = ['p', 'q', 'r', 's'].map((seed) => blob(seed));
      for (const digest of digests) await store.claimContent(digest);
      const seen: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await store.listContentRecords({ last, limit: 3 });
        seen.push(...page.items.map((r) => r.digest));
        if (!page.more) break;
        last = seen[seen.length - 1];
      }
      expect(seen).toEqual(byteOrder(digests));
    });

    test('GIVEN records WHEN the store is reopened THEN they read back', async () => {
      if (!opened.reopen) return;
      await store.linkBlob('team/app', blob('d'), { size: 3 });
      const before = await store.getContentRecord(blob('d'));
      store = await opened.reopen();
      expect(await store.getContentRecord(blob('d'))).toEqual(before);
    });
  });
}
