/**
 * The MetadataStore contract (test/contract/metadata-store.contract.ts): the outbox of image changes
 * (ChangeOutbox): exactly the changes each write committed, none for a write refused, kept until
 * acknowledged, across a reopen.
 */
import type { ImageChange } from '../../../lambdas/contracts/events';
import type { MetadataStore, OutboxEntry } from '../../../lambdas/storage/ports';
import { blob, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';

type Seen = Pick<ImageChange, 'action' | 'repository' | 'digest' | 'tag'>;

/** Every entry in the outbox, following its pages (the storage-class suite reads it too). */
export async function allEntries(store: MetadataStore, pageSize = 50): Promise<OutboxEntry[]> {
  const out: OutboxEntry[] = [];
  for (;;) {
    const page = await store.readOutbox(pageSize, out.length > 0 ? out[out.length - 1].id : undefined);
    out.push(...page);
    if (page.length < pageSize) return out;
  }
}

/** What the changes say, without their ids and times. */
const seen = (entries: OutboxEntry[]): Seen[] =>
  entries.flatMap((entry) => entry.changes.map(({ action, repository, digest, tag }) => ({ action, repository, digest, ...(tag !== undefined ? { tag } : {}) })));

export function describeOutbox(current: () => OpenedMetadataStore): void {
  describe('outbox of image changes', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push } = storeHelpers(() => store);

    /** Empties the outbox, so that a test looks only at what its last step recorded. */
    async function drain(): Promise<void> {
      await store.acknowledgeOutbox((await allEntries(store)).map((e) => e.id));
    }

    test('GIVEN a new store THEN its outbox is empty', async () => {
      expect(await store.readOutbox(10)).toEqual([]);
    });

    test('GIVEN manifests put with a tag, by digest, and again WHEN the outbox is read THEN one PUSH per put, in order, tag only when one was named', async () => {
      const image = manifest('image', { blobs: [blob('a')] });
      const before = Date.now();
      await push('team/app', image, 'v1');
      await push('team/app', image);
      await push('team/app', image, 'v1');
      const entries = await allEntries(store);
      expect(seen(entries)).toEqual([
        { action: 'PUSH', repository: 'team/app', digest: image.digest, tag: 'v1' },
        { action: 'PUSH', repository: 'team/app', digest: image.digest },
        { action: 'PUSH', repository: 'team/app', digest: image.digest, tag: 'v1' },
      ]);
      const changes = entries.flatMap((e) => e.changes);
      expect(new Set(changes.map((c) => c.eventId)).size).toBe(3);
      for (const change of changes) {
        expect(change.eventId).toMatch(/^[0-9a-f-]{36}$/);
        expect(Date.parse(change.time)).toBeGreaterThanOrEqual(before - 1000);
        expect(Date.parse(change.time)).toBeLessThanOrEqual(Date.now() + 1000);
      }
    });

    test('GIVEN puts refused (blobs missing, child missing, an immutable tag held) THEN nothing is recorded', async () => {
      const held = manifest('held', { blobs: [blob('a')] });
      await push('team/app', held, 'v1');
      await drain();
      expect(await store.putManifest('team/app', manifest('missing', { blobs: [blob('nowhere')] }), 'v2')).toMatchObject({ ok: false });
      expect(await store.putManifest('team/app', manifest('index', { children: [manifest('absent').digest] }), 'multi')).toMatchObject({ ok: false });
      const other = manifest('other', { blobs: [blob('a')] });
      expect(await store.putManifest('team/app', other, 'v1', { immutableTag: true })).toEqual({ ok: false, tagHeldBy: held.digest });
      expect(await store.readOutbox(10)).toEqual([]);
    });

    test('GIVEN a replica put (replicatedFrom) with a tag and one by digest WHEN the outbox is read THEN each put is one entry: its PUSH marked as a replica, then a REPLICATE with the same tag and source', async () => {
      const image = manifest('replica', { blobs: [blob('a')] });
      await store.linkBlob('team/replica', blob('a'), { size: 10 });
      await drain();
      const from = { account: '111122223333', region: 'eu-west-1' };
      expect(await store.putManifest('team/replica', image, 'v1', { replicatedFrom: from })).toEqual({ ok: true });
      expect(await store.putManifest('team/replica', image, undefined, { replicatedFrom: from })).toEqual({ ok: true });
      const entries = await allEntries(store);
      expect(entries.map((e) => e.changes.map(({ action, tag, replicatedFrom }) => ({ action, tag, replicatedFrom })))).toEqual([
        [
          { action: 'PUSH', tag: 'v1', replicatedFrom: from },
          { action: 'REPLICATE', tag: 'v1', replicatedFrom: from },
        ],
        [
          { action: 'PUSH', tag: undefined, replicatedFrom: from },
          { action: 'REPLICATE', tag: undefined, replicatedFrom: from },
        ],
      ]);
      const [pushed, replicated] = entries[0].changes;
      expect(replicated).toMatchObject({ repository: 'team/replica', digest: image.digest, time: pushed.time });
      expect(replicated.eventId).not.toBe(pushed.eventId);
      // A put that is not a replica records the PUSH alone, without the mark.
      await drain();
      await push('team/replica', image, 'v2');
      expect((await allEntries(store)).flatMap((e) => e.changes).map((c) => [c.action, c.replicatedFrom])).toEqual([['PUSH', undefined]]);
    });

    test('GIVEN a tag removed from an image WHEN deleteTag succeeds THEN one DELETE with the tag; a tag absent or naming another image records nothing', async () => {
      const image = manifest('image', { blobs: [blob('a')] });
      await push('team/app', image, 'v1');
      await push('team/app', image, 'v2');
      await drain();
      expect(await store.deleteTag('team/app', 'v1')).toBe(true);
      expect(await store.deleteTag('team/app', 'v1')).toBe(false);
      expect(await store.deleteTag('team/app', 'v2', { ifDigest: manifest('other').digest })).toBe(false);
      expect(seen(await allEntries(store))).toEqual([{ action: 'DELETE', repository: 'team/app', digest: image.digest, tag: 'v1' }]);
    });

    test('GIVEN an image with tags and one without WHEN each is deleted THEN one DELETE per tag it had, and one without a tag for the untagged one', async () => {
      const tagged = manifest('tagged', { blobs: [blob('a')] });
      const untagged = manifest('untagged', { blobs: [blob('b')] });
      await push('team/app', tagged, 'v2');
      await push('team/app', tagged, 'v1');
      await push('team/app', untagged);
      await drain();
      expect(await store.deleteManifest('team/app', tagged.digest)).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', untagged.digest)).toEqual({ ok: true });
      const got = seen(await allEntries(store));
      expect(got.slice(0, 2)).toEqual(
        expect.arrayContaining([
          { action: 'DELETE', repository: 'team/app', digest: tagged.digest, tag: 'v1' },
          { action: 'DELETE', repository: 'team/app', digest: tagged.digest, tag: 'v2' },
        ]),
      );
      expect(got.slice(2)).toEqual([{ action: 'DELETE', repository: 'team/app', digest: untagged.digest }]);
    });

    test('GIVEN an image with more tags than one transaction holds WHEN deleted THEN exactly one DELETE per tag', async () => {
      const image = manifest('many', { blobs: [blob('a')] });
      const tags = Array.from({ length: 120 }, (_, i) => `t${String(i).padStart(3, '0')}`);
      await push('team/app', image);
      for (const tag of tags) expect(await store.putManifest('team/app', image, tag)).toEqual({ ok: true });
      await drain();
      expect(await store.deleteManifest('team/app', image.digest)).toEqual({ ok: true });
      const got = seen(await allEntries(store));
      expect(got.map((c) => c.tag).sort()).toEqual(tags);
      expect(got.every((c) => c.action === 'DELETE' && c.digest === image.digest)).toBe(true);
    });

    test('GIVEN deletes with replicatedFrom (a replicated delete) WHEN deleteTag and deleteManifest succeed THEN every DELETE they record carries the source; an ordinary delete does not', async () => {
      const from = { account: '111122223333', region: 'eu-west-1' };
      const tagged = manifest('tagged', { blobs: [blob('a')] });
      const untagged = manifest('untagged', { blobs: [blob('b')] });
      // More tags than one DynamoDB transaction holds: those the adapter removes in steps are marked too.
      const many = manifest('many', { blobs: [blob('c')] });
      const manyTags = Array.from({ length: 55 }, (_, i) => `m${String(i).padStart(2, '0')}`);
      const plain = manifest('plain', { blobs: [blob('d')] });
      await push('team/app', tagged, 'v1');
      await push('team/app', tagged, 'v2');
      await push('team/app', untagged);
      await push('team/app', many);
      for (const tag of manyTags) expect(await store.putManifest('team/app', many, tag)).toEqual({ ok: true });
      await push('team/app', plain, 'p');
      await drain();
      expect(await store.deleteTag('team/app', 'v1', { ifDigest: tagged.digest, replicatedFrom: from })).toBe(true);
      expect(await store.deleteManifest('team/app', tagged.digest, { onlyIfTags: ['v2'], replicatedFrom: from })).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', untagged.digest, { replicatedFrom: from })).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', many.digest, { replicatedFrom: from })).toEqual({ ok: true });
      const changes = (await allEntries(store)).flatMap((e) => e.changes);
      expect(changes.slice(0, 3).map(({ action, digest, tag, replicatedFrom }) => ({ action, digest, tag, replicatedFrom }))).toEqual([
        { action: 'DELETE', digest: tagged.digest, tag: 'v1', replicatedFrom: from },
        { action: 'DELETE', digest: tagged.digest, tag: 'v2', replicatedFrom: from },
        { action: 'DELETE', digest: untagged.digest, tag: undefined, replicatedFrom: from },
      ]);
      const manyChanges = changes.slice(3);
      expect(manyChanges.map((c) => c.tag).sort()).toEqual(manyTags);
      expect(manyChanges.every((c) => c.action === 'DELETE' && c.digest === many.digest && c.initiatedBy === undefined)).toBe(true);
      expect(manyChanges.map((c) => c.replicatedFrom)).toEqual(manyTags.map(() => from));
      // A delete without the option records DELETEs without the mark.
      await drain();
      expect(await store.deleteManifest('team/app', plain.digest)).toEqual({ ok: true });
      expect((await allEntries(store)).flatMap((e) => e.changes).map((c) => [c.action, c.tag, c.replicatedFrom])).toEqual([['DELETE', 'p', undefined]]);
    });

    test('GIVEN deletes refused (in use by an index, tags changed, unknown) THEN nothing is recorded', async () => {
      const child = manifest('child', { blobs: [blob('a')] });
      const index = manifest('index', { children: [child.digest] });
      await push('team/app', child, 'c');
      await push('team/app', index, 'multi');
      await drain();
      expect(await store.deleteManifest('team/app', child.digest)).toMatchObject({ ok: false, reason: 'in-use' });
      expect(await store.deleteManifest('team/app', index.digest, { onlyIfTags: ['other'] })).toMatchObject({ ok: false, reason: 'tagged' });
      expect(await store.deleteManifest('team/app', manifest('absent').digest)).toMatchObject({ ok: false, reason: 'unknown' });
      expect(await store.readOutbox(10)).toEqual([]);
    });

    test('GIVEN a repository with images WHEN deleted without force THEN nothing; with force THEN a DELETE for every tag of every image and one for each untagged image', async () => {
      const child = manifest('child', { blobs: [blob('a')] });
      const index = manifest('index', { children: [child.digest] });
      const loose = manifest('loose', { blobs: [blob('b')] });
      await push('team/app', child);
      await push('team/app', index, 'multi');
      await push('team/app', loose, 'x');
      await push('team/app', loose, 'y');
      await push('team/keep', loose, 'x');
      await drain();
      expect(await store.deleteRepository('team/app', false)).toEqual({ ok: false, reason: 'not-empty' });
      expect(await store.readOutbox(10)).toEqual([]);
      expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });
      const got = seen(await allEntries(store));
      const key = (c: Seen) => `${c.repository} ${c.digest} ${c.tag ?? '-'}`;
      expect(got.map(key).sort()).toEqual(
        [
          { repository: 'team/app', digest: child.digest },
          { repository: 'team/app', digest: index.digest, tag: 'multi' },
          { repository: 'team/app', digest: loose.digest, tag: 'x' },
          { repository: 'team/app', digest: loose.digest, tag: 'y' },
        ]
          .map((c) => key({ action: 'DELETE', ...c }))
          .sort(),
      );
      expect(got.every((c) => c.action === 'DELETE')).toBe(true);
      // The index goes before its child: a consumer never sees a child deleted while an index still names it.
      expect(got.findIndex((c) => c.digest === index.digest)).toBeLessThan(got.findIndex((c) => c.digest === child.digest));
    });

    test('GIVEN entries WHEN read in pages and acknowledged THEN pages follow `after`, acknowledged ones are gone, unknown ids are ignored', async () => {
      for (let i = 0; i < 5; i++) await push('team/app', manifest(`m${i}`, { blobs: [blob('a')] }), `v${i}`);
      const all = await allEntries(store, 2);
      expect(all.map((e) => e.changes[0].tag)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
      expect(new Set(all.map((e) => e.id)).size).toBe(5);
      expect(await store.readOutbox(2)).toEqual(all.slice(0, 2));
      await store.acknowledgeOutbox([all[0].id, all[2].id, 'no-such-entry']);
      expect((await allEntries(store)).map((e) => e.id)).toEqual([all[1].id, all[3].id, all[4].id]);
      await store.acknowledgeOutbox([]);
      await store.acknowledgeOutbox([all[0].id]);
      expect(await allEntries(store)).toHaveLength(3);
    });

    test('GIVEN changes of no image write (a FAILED REPLICATE) WHEN recorded THEN they are one entry after the writes before them, kept as given; none records nothing', async () => {
      const image = manifest('recorded', { blobs: [blob('a')] });
      await push('team/app', image, 'v1');
      await drain();
      await push('team/app', image, 'v2');
      const failed: ImageChange = {
        action: 'REPLICATE',
        repository: 'team/app',
        digest: image.digest,
        tag: 'v2',
        eventId: '6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f',
        time: new Date().toISOString(),
        result: 'FAILED',
        replicatedTo: { account: '444455556666', region: 'eu-west-1' },
      };
      await store.recordChanges([failed]);
      await store.recordChanges([]);
      const entries = await allEntries(store);
      expect(entries).toHaveLength(2);
      expect(seen(entries.slice(0, 1))).toEqual([{ action: 'PUSH', repository: 'team/app', digest: image.digest, tag: 'v2' }]);
      expect(entries[1].changes).toEqual([failed]);
    });

    test('GIVEN entries not acknowledged WHEN the store is reopened THEN they are still there, with the same ids and event ids', async () => {
      if (!opened.reopen) return;
      await push('team/app', manifest('image', { blobs: [blob('a')] }), 'v1');
      const before = await allEntries(store);
      store = await opened.reopen();
      expect(await allEntries(store)).toEqual(before);
    });
  });
}
