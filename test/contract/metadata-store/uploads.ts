/** The MetadataStore contract (test/contract/metadata-store.contract.ts): upload state. */
import { randomUUID } from 'node:crypto';
import type { UploadState } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { shuffled, type OpenedMetadataStore } from './fixtures';

export function describeUploads(current: () => OpenedMetadataStore): void {
  describe('uploads', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });

    const state = (over: Partial<UploadState> = {}): UploadState => ({
      id: randomUUID(),
      repository: 'team/app',
      offset: 0,
      startedAt: '2024-05-01T12:00:00.000Z',
      ...over,
    });

    test('GIVEN a created upload WHEN read back THEN every field is as created', async () => {
      const s = state({ hashState: 'opaque-state' });
      await store.createUpload(s);
      expect(await store.getUpload(s.id)).toEqual(s);
    });

    test('GIVEN an upload WHEN it is created THEN no repository is created with it', async () => {
      await store.createUpload(state({ repository: 'team/not-yet' }));
      expect(await store.getRepository('team/not-yet')).toBeNull();
      expect((await store.listRepositories({ limit: 10 })).items).toEqual([]);
    });

    test('GIVEN an unknown or absurdly long id WHEN an upload is read, advanced or deleted THEN it is absent, refused, and a no-op', async () => {
      for (const id of [randomUUID(), 'x'.repeat(20_000)]) {
        expect(await store.getUpload(id)).toBeNull();
        expect(await store.advanceUpload(id, 0, { offset: 10 })).toBe(false);
        await store.deleteUpload(id);
      }
    });

    test('GIVEN an upload at offset N WHEN advanced from N THEN it moves, keeping its other fields', async () => {
      const s = state();
      await store.createUpload(s);
      expect(await store.advanceUpload(s.id, 0, { offset: 100, hashState: 'h1' })).toBe(true);
      expect(await store.getUpload(s.id)).toEqual({ ...s, offset: 100, hashState: 'h1' });
      expect(await store.advanceUpload(s.id, 100, { offset: 250 })).toBe(true);
      expect((await store.getUpload(s.id))?.offset).toBe(250);
    });

    test('GIVEN an upload at offset N WHEN advanced from any other offset THEN it is refused and unchanged', async () => {
      const s = state({ offset: 100 });
      await store.createUpload(s);
      expect(await store.advanceUpload(s.id, 0, { offset: 50 })).toBe(false);
      expect(await store.advanceUpload(s.id, 101, { offset: 200 })).toBe(false);
      expect(await store.getUpload(s.id)).toEqual(s);
    });

    test('GIVEN 20 concurrent advances from the same offset WHEN they finish THEN exactly one succeeded', async () => {
      const s = state();
      await store.createUpload(s);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.advanceUpload(s.id, 0, { offset: i + 1 })));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getUpload(s.id))?.offset).toBe(results.indexOf(true) + 1);
    });

    test('GIVEN an upload WHEN deleted (twice) THEN it is gone and other uploads stay', async () => {
      const [a, b] = [state(), state()];
      await store.createUpload(a);
      await store.createUpload(b);
      await store.deleteUpload(a.id);
      await store.deleteUpload(a.id);
      expect(await store.getUpload(a.id)).toBeNull();
      expect(await store.getUpload(b.id)).toEqual(b);
      expect(await store.advanceUpload(a.id, 0, { offset: 1 })).toBe(false);
    });

    test('GIVEN uploads started at different times WHEN the ones started before a moment are listed THEN exactly those come back, up to the limit', async () => {
      const old = [state({ startedAt: '2024-05-01T00:00:00.000Z' }), state({ startedAt: '2024-05-01T10:59:59.999Z' }), state({ startedAt: '2024-04-30T23:00:00.000Z' })];
      const recent = [state({ startedAt: '2024-05-01T11:00:00.000Z' }), state({ startedAt: '2024-05-02T00:00:00.000Z' })];
      for (const s of shuffled([...old, ...recent])) await store.createUpload(s);
      const listed = await store.listUploadsStartedBefore('2024-05-01T11:00:00.000Z', 10);
      expect(listed.map((u) => u.id).sort()).toEqual(old.map((u) => u.id).sort());
      expect(listed.find((u) => u.id === old[0].id)).toEqual(old[0]);
      expect(await store.listUploadsStartedBefore('2024-05-01T11:00:00.000Z', 2)).toHaveLength(2);
      expect(await store.listUploadsStartedBefore('2024-01-01T00:00:00.000Z', 10)).toEqual([]);
    });
  });
}
