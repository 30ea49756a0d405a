/** The MetadataStore contract (test/contract/metadata-store.contract.ts): repositories and blob links: existence, the catalog, links and the reverse lookup. */
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { sha512, blob, manifest, byteOrder, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeRepositoriesAndLinks(current: () => OpenedMetadataStore): void {
  describe('repositories and blob links', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push } = storeHelpers(() => store);

    test('GIVEN an empty store WHEN repositories are looked up and listed THEN there are none', async () => {
      expect(await store.getRepository('library/alpine')).toBeNull();
      expect(await store.listRepositories({ limit: 100 })).toEqual({ items: [], more: false });
    });

    test('GIVEN no repository WHEN a blob is linked THEN the repository exists, with its name and creation time', async () => {
      const before = Date.now();
      await store.linkBlob('team/app', blob('a'), { size: 42 });
      const repo = await store.getRepository('team/app');
      expect(repo?.name).toBe('team/app');
      expect(Date.parse(repo!.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(repo!.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
    });

    test('GIVEN a repository WHEN more blobs are linked THEN its creation time does not change', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const first = await store.getRepository('team/app');
      await new Promise((r) => setTimeout(r, 5));
      await store.linkBlob('team/app', blob('b'), { size: 1 });
      expect(await store.getRepository('team/app')).toEqual(first);
    });

    test('GIVEN a linked blob WHEN its link is statted THEN the size comes back in that repository only', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 42 });
      expect(await store.statBlobLink('team/app', blob('a'))).toEqual({ size: 42 });
      expect(await store.statBlobLink('team/other', blob('a'))).toBeNull();
      expect(await store.statBlobLink('team/app', blob('b'))).toBeNull();
      expect(await store.statBlobLink('team/app', sha512('a'))).toBeNull();
    });

    test('GIVEN a blob linked in several repositories WHEN asked which repositories have it THEN all are named, at most `limit`', async () => {
      const repos = ['z/last', 'a/first', 'm/middle', 'a/first-b'];
      for (const r of repos) await store.linkBlob(r, blob('shared'), { size: 5 });
      await store.linkBlob('other', blob('unshared'), { size: 5 });
      expect(byteOrder(await store.repositoriesWithBlob(blob('shared'), 100))).toEqual(byteOrder(repos));
      const two = await store.repositoriesWithBlob(blob('shared'), 2);
      expect(two).toHaveLength(2);
      for (const r of two) expect(repos).toContain(r);
      expect(await store.repositoriesWithBlob(blob('nowhere'), 10)).toEqual([]);
    });

    test('GIVEN a linked blob no manifest uses WHEN unlinked THEN the link is gone from the repository and from the reverse lookup', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      await store.linkBlob('team/two', blob('a'), { size: 1 });
      expect(await store.unlinkBlob('team/app', blob('a'))).toEqual({ ok: true });
      expect(await store.statBlobLink('team/app', blob('a'))).toBeNull();
      expect(await store.statBlobLink('team/two', blob('a'))).toEqual({ size: 1 });
      expect(await store.repositoriesWithBlob(blob('a'), 10)).toEqual(['team/two']);
    });

    test('GIVEN a blob not linked WHEN unlinked THEN the answer is unknown', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      expect(await store.unlinkBlob('team/app', blob('b'))).toEqual({ ok: false, reason: 'unknown', by: [] });
      expect(await store.unlinkBlob('team/none', blob('a'))).toEqual({ ok: false, reason: 'unknown', by: [] });
    });

    test('GIVEN a blob a manifest uses WHEN unlinked THEN it is refused as in-use, naming the manifest, and the link stays', async () => {
      const m = manifest('uses-a', { blobs: [blob('config'), blob('a')] });
      await push('team/app', m);
      const result = await store.unlinkBlob('team/app', blob('a'));
      expect(result).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });
      expect(await store.statBlobLink('team/app', blob('a'))).toEqual({ size: 10 });
    });

    test('GIVEN a blob used by a manifest in another repository only WHEN unlinked here THEN it succeeds', async () => {
      await push('team/other', manifest('elsewhere', { blobs: [blob('a')] }));
      await store.linkBlob('team/app', blob('a'), { size: 10 });
      expect(await store.unlinkBlob('team/app', blob('a'))).toEqual({ ok: true });
      expect(await store.statBlobLink('team/other', blob('a'))).toEqual({ size: 10 });
    });

    test('GIVEN 20 concurrent first links into one new repository WHEN they finish THEN the repository is listed once', async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.linkBlob('team/burst', blob(`burst-${i}`), { size: i })));
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/burst'], more: false });
      for (let i = 0; i < 20; i++) expect(await store.statBlobLink('team/burst', blob(`burst-${i}`))).toEqual({ size: i });
    });
  });
}
