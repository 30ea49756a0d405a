/** The MetadataStore contract (test/contract/metadata-store.contract.ts): byte order and paging of every list, and the images listing. */
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { blob, manifest, byteOrder, shuffled, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeListingOrder(current: () => OpenedMetadataStore): void {
  describe('listing order and paging', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push } = storeHelpers(() => store);

    // Byte order puts '-' < '.' < '/' < digits < uppercase < '_' < lowercase.
    const names = ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a0', 'a__b', 'a_b', 'ab', 'b', 'z9', 'zz/top'];
    const tags = ['1.0', '1.0.1', 'A', 'Latest', '_hidden', 'latest', 'v1', 'v1-rc', 'v10', 'v2', 'z'.repeat(128)];

    test('GIVEN repositories created in random order WHEN listed THEN they come back in byte order', async () => {
      for (const name of shuffled(names)) await store.linkBlob(name, blob('c'), { size: 1 });
      expect(await store.listRepositories({ limit: 1000 })).toEqual({ items: byteOrder(names), more: false });
    });

    test('GIVEN tags pushed in random order WHEN listed THEN they come back in byte order, only this repository’s', async () => {
      await push('a', manifest('m', { blobs: [blob('c')] }), 'not-mine');
      await push('a-b', manifest('m', { blobs: [blob('c')] }), 'not-mine-either');
      const m = manifest('m', { blobs: [blob('c')] });
      for (const tag of shuffled(tags)) await push('a/b', m, tag);
      expect(await store.listTags('a/b', { limit: 1000 })).toEqual({ items: byteOrder(tags), more: false });
      expect(await store.listTags('a/b/c', { limit: 1000 })).toEqual({ items: [], more: false });
    });

    test('GIVEN repositories WHEN paged with limit and last THEN pages join up to the whole list, `last` exclusive, `more` exact', async () => {
      for (const name of shuffled(names)) await store.linkBlob(name, blob('c'), { size: 1 });
      const sorted = byteOrder(names);
      for (const limit of [1, 2, 5, sorted.length - 1, sorted.length, sorted.length + 1]) {
        const seen: string[] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.listRepositories({ limit, ...(last !== undefined ? { last } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items);
          expect(page.more).toBe(seen.length < sorted.length);
          if (!page.more) break;
          last = page.items[page.items.length - 1];
        }
        expect(seen).toEqual(sorted);
      }
    });

    test('GIVEN tags WHEN paged THEN pages join up to the whole list and `more` is false on an exactly full last page', async () => {
      const m = manifest('m', { blobs: [blob('c')] });
      for (const tag of shuffled(tags)) await push('team/app', m, tag);
      const sorted = byteOrder(tags);
      const first = await store.listTags('team/app', { limit: 4 });
      expect(first).toEqual({ items: sorted.slice(0, 4), more: true });
      const rest = await store.listTags('team/app', { limit: sorted.length - 4, last: sorted[3] });
      expect(rest).toEqual({ items: sorted.slice(4), more: false });
    });

    test.each([
      ['a stored name', 'a.b', (s: string[]) => s.slice(s.indexOf('a.b') + 1)],
      ['a value between two names', 'a/a', (s: string[]) => s.slice(s.indexOf('a/b'))],
      ['a value before every name', '0', (s: string[]) => s],
      ['the empty string', '', (s: string[]) => s],
      ['the last name', 'zz/top', () => []],
      ['a value after every name', 'zzz', () => []],
      ['a value with characters no name may hold', 'a\u00e9\u{1F600}', (s: string[]) => s.slice(s.indexOf('b'))],
      ['a value longer than any key', 'a/b'.padEnd(20_000, 'x'), (s: string[]) => s.slice(s.indexOf('a0'))],
    ])('GIVEN repositories WHEN listed after %s THEN only the names after it come back', async (_what, last, expected) => {
      for (const name of names) await store.linkBlob(name, blob('c'), { size: 1 });
      expect(await store.listRepositories({ limit: 1000, last })).toEqual({ items: expected(byteOrder(names)), more: false });
    });

    test('GIVEN tags WHEN listed after a value between tags or longer than any key THEN only the tags after it come back', async () => {
      const m = manifest('m', { blobs: [blob('c')] });
      for (const tag of tags) await push('team/app', m, tag);
      const sorted = byteOrder(tags);
      expect((await store.listTags('team/app', { limit: 100, last: 'v1-a' })).items).toEqual(sorted.slice(sorted.indexOf('v1-rc')));
      expect((await store.listTags('team/app', { limit: 100, last: 'v1'.padEnd(20_000, '0') })).items).toEqual(sorted.slice(sorted.indexOf('v2')));
      expect(await store.listTags('team/none', { limit: 100 })).toEqual({ items: [], more: false });
    });
  });
}

export function describeImages(current: () => OpenedMetadataStore): void {
  describe('images (listManifests)', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push } = storeHelpers(() => store);

    test('GIVEN manifests, tagged and not WHEN listed THEN records without bodies come back in digest order, each with its tags', async () => {
      const ms = Array.from({ length: 5 }, (_, i) => manifest(`m${i}`, { blobs: [blob(`b${i}`)], artifactType: i === 0 ? 'application/vnd.example' : undefined }));
      for (const [i, m] of ms.entries()) await push('team/app', m, i < 3 ? `t${i}` : undefined);
      expect(await store.putManifest('team/app', ms[0], 'also')).toEqual({ ok: true });
      const index = manifest('idx', { children: [ms[1].digest, ms[2].digest] });
      await push('team/app', index);
      await push('team/other', manifest('elsewhere'), 'x');

      const page = await store.listManifests('team/app', { limit: 100 });
      expect(page.more).toBe(false);
      const all = [...ms, index];
      expect(page.items.map((i) => i.digest)).toEqual(byteOrder(all.map((m) => m.digest)));
      for (const item of page.items) {
        const m = all.find((x) => x.digest === item.digest)!;
        const { body: _body, ...record } = m;
        expect(item).toEqual({ ...record, tags: m === ms[0] ? ['also', 't0'] : m === ms[1] ? ['t1'] : m === ms[2] ? ['t2'] : [] });
        expect('body' in item).toBe(false);
      }
      expect(await store.getManifestTags('team/app', ms[0].digest)).toEqual(['also', 't0']);
      expect(await store.getManifestTags('team/app', ms[4].digest)).toEqual([]);
      expect(await store.listManifests('team/none', { limit: 10 })).toEqual({ items: [], more: false });
    });

    test('GIVEN manifests WHEN paged by digest THEN pages join up to the whole list, `last` exclusive, `more` exact', async () => {
      const ms = Array.from({ length: 7 }, (_, i) => manifest(`p${i}`));
      for (const [i, m] of ms.entries()) await push('team/app', m, `v${i}`);
      const seen: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await store.listManifests('team/app', { limit: 3, last });
        seen.push(...page.items.map((i) => i.digest));
        for (const item of page.items) expect(item.tags).toEqual([`v${ms.findIndex((m) => m.digest === item.digest)}`]);
        if (!page.more) break;
        last = page.items[page.items.length - 1].digest;
      }
      expect(seen).toEqual(byteOrder(ms.map((m) => m.digest)));
      const sorted = byteOrder(ms.map((m) => m.digest));
      expect((await store.listManifests('team/app', { limit: 1, last: sorted[5] })).items.map((i) => i.digest)).toEqual([sorted[6]]);
      expect(await store.listManifests('team/app', { limit: 1, last: sorted[6] })).toEqual({ items: [], more: false });
      expect((await store.listManifests('team/app', { limit: 6 })).more).toBe(true);
      expect((await store.listManifests('team/app', { limit: 7 })).more).toBe(false);
    });
  });
}
