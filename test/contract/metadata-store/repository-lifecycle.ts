/** The MetadataStore contract (test/contract/metadata-store.contract.ts): repositories created explicitly, their settings, and their deletion. */
import { DEFAULT_REPOSITORY_SETTINGS, type RepositorySettings, type StoredManifest } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { blob, manifest, byteOrder, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeRepositorySettings(current: () => OpenedMetadataStore): void {
  describe('repository settings and explicit repositories', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });

    const settings: RepositorySettings = {
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest*' }],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:us-east-1:111122223333:key/abc' },
      tags: [
        { Key: 'team', Value: 'payments' },
        { Key: 'env', Value: '' },
      ],
    };

    test('GIVEN no repository WHEN created with settings THEN it exists, is listed, and its settings read back with its creation time', async () => {
      const before = Date.now();
      const created = await store.createRepository('team/app', settings);
      expect(created).toEqual({ ...settings, createdAt: expect.any(String) });
      expect(Date.parse(created!.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(await store.getRepository('team/app')).toEqual({ name: 'team/app', createdAt: created!.createdAt });
      expect(await store.getRepositorySettings('team/app')).toEqual(created);
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
    });

    test('GIVEN a repository (explicit or created by a push) WHEN created again THEN null, and nothing changes', async () => {
      const first = await store.createRepository('team/app', settings);
      expect(await store.createRepository('team/app', DEFAULT_REPOSITORY_SETTINGS)).toBeNull();
      expect(await store.getRepositorySettings('team/app')).toEqual(first);
      await store.linkBlob('team/pushed', blob('a'), { size: 1 });
      expect(await store.createRepository('team/pushed', settings)).toBeNull();
      expect((await store.getRepositorySettings('team/pushed'))?.imageTagMutability).toBe('MUTABLE');
    });

    test('GIVEN 10 concurrent creations of one repository WHEN they finish THEN exactly one succeeded', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => store.createRepository('team/race', settings)));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    test('GIVEN a repository created by a push WHEN its settings are read THEN they are the defaults, with the repository creation time', async () => {
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      const repo = await store.getRepository('team/app');
      expect(await store.getRepositorySettings('team/app')).toEqual({ ...DEFAULT_REPOSITORY_SETTINGS, createdAt: repo!.createdAt });
    });

    test('GIVEN no repository WHEN settings are read or updated THEN null, and no repository is created', async () => {
      expect(await store.getRepositorySettings('team/none')).toBeNull();
      expect(await store.updateRepositorySettings('team/none', (s) => ({ ...s, imageTagMutability: 'IMMUTABLE' }))).toBeNull();
      expect(await store.getRepository('team/none')).toBeNull();
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
    });

    test('GIVEN a repository WHEN its settings are updated THEN the new ones read back, also after a reopen, and other repositories are untouched', async () => {
      await store.createRepository('team/app', settings);
      await store.linkBlob('team/other', blob('a'), { size: 1 });
      const updated = await store.updateRepositorySettings('team/app', (s) => ({ ...s, imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [] }));
      expect(updated).toMatchObject({ imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [], tags: settings.tags });
      const pushed = await store.updateRepositorySettings('team/other', (s) => ({ ...s, imageScanningConfiguration: { scanOnPush: true } }));
      expect(pushed?.imageScanningConfiguration).toEqual({ scanOnPush: true });
      if (opened.reopen) store = await opened.reopen();
      expect(await store.getRepositorySettings('team/app')).toEqual(updated);
      expect(await store.getRepositorySettings('team/other')).toEqual(pushed);
    });

    test('GIVEN 10 concurrent updates each adding one tag WHEN they finish THEN no tag is lost', async () => {
      await store.createRepository('team/app', { ...settings, tags: [] });
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.updateRepositorySettings('team/app', (s) => ({ ...s, tags: [...s.tags, { Key: `k${i}`, Value: String(i) }] }))),
      );
      const tags = (await store.getRepositorySettings('team/app'))!.tags.map((t) => t.Key).sort();
      expect(tags).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    });
  });
}

export function describeRepositoryDeletion(current: () => OpenedMetadataStore): void {
  describe('deleting repositories', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push, allReferrers } = storeHelpers(() => store);

    async function fill(repo: string): Promise<{ image: StoredManifest; sig: StoredManifest; index: StoredManifest }> {
      const image = manifest(`image ${repo}`, { blobs: [blob('c'), blob('l')] });
      const sig = manifest(`sig ${repo}`, { blobs: [blob('e')], subject: image.digest, artifactType: 'application/vnd.example.sig' });
      const index = manifest(`index ${repo}`, { children: [image.digest] });
      await push(repo, image, 'v1');
      await push(repo, sig);
      await push(repo, index, 'multi');
      await store.linkBlob(repo, blob('loose'), { size: 3 });
      await store.setRepositoryPolicy(repo, '{"Version":"2012-10-17","Statement":[]}');
      await store.updateRepositorySettings(repo, (s) => ({ ...s, imageTagMutability: 'IMMUTABLE' }));
      return { image, sig, index };
    }

    test('GIVEN no repository WHEN deleted THEN unknown', async () => {
      expect(await store.deleteRepository('team/none', false)).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.deleteRepository('team/none', true)).toEqual({ ok: false, reason: 'unknown' });
    });

    test('GIVEN a repository holding images WHEN deleted without force THEN not-empty, and everything stays', async () => {
      const { image } = await fill('team/app');
      expect(await store.deleteRepository('team/app', false)).toEqual({ ok: false, reason: 'not-empty' });
      expect(await store.resolveTag('team/app', 'v1')).toBe(image.digest);
      expect(await store.statBlobLink('team/app', blob('loose'))).toEqual({ size: 3 });
      expect(await store.getRepositoryPolicy('team/app')).not.toBeNull();
    });

    test('GIVEN a repository with blob links, policy and settings but no manifest WHEN deleted without force THEN it is gone with all of them', async () => {
      await store.createRepository('team/app', { ...DEFAULT_REPOSITORY_SETTINGS, imageTagMutability: 'IMMUTABLE' });
      await store.linkBlob('team/app', blob('a'), { size: 1 });
      await store.setRepositoryPolicy('team/app', '{}');
      expect(await store.deleteRepository('team/app', false)).toEqual({ ok: true });
      expect(await store.getRepository('team/app')).toBeNull();
      expect(await store.statBlobLink('team/app', blob('a'))).toBeNull();
      expect(await store.repositoriesWithBlob(blob('a'), 10)).toEqual([]);
      expect(await store.getRepositoryPolicy('team/app')).toBeNull();
    });

    test('GIVEN a repository with an index, images, a referrer, tags, links, policy and settings WHEN force-deleted THEN all of it is gone and its neighbours are untouched', async () => {
      const { image, index } = await fill('team/app');
      const neighbours = ['team', 'team/app-b', 'team/app/sub'];
      for (const n of neighbours) await fill(n);

      expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });

      expect(await store.getRepository('team/app')).toBeNull();
      expect(await store.getRepositorySettings('team/app')).toBeNull();
      expect(await store.getRepositoryPolicy('team/app')).toBeNull();
      expect(await store.resolveTag('team/app', 'v1')).toBeNull();
      expect(await store.getTaggedManifest('team/app', 'multi')).toBeNull();
      expect(await store.getManifest('team/app', image.digest)).toBeNull();
      expect(await store.getManifest('team/app', index.digest)).toBeNull();
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });
      expect(await allReferrers('team/app', image.digest)).toEqual([]);
      expect(await store.statBlobLink('team/app', blob('l'))).toBeNull();
      expect(await store.listManifests('team/app', { limit: 10 })).toEqual({ items: [], more: false });
      expect((await store.repositoriesWithBlob(blob('l'), 10)).sort()).toEqual(byteOrder(neighbours));
      expect((await store.listRepositories({ limit: 10 })).items).toEqual(byteOrder(neighbours));
      for (const n of neighbours) {
        expect((await store.listManifests(n, { limit: 10 })).items).toHaveLength(3);
        expect((await store.getRepositorySettings(n))?.imageTagMutability).toBe('IMMUTABLE');
        expect(await store.getRepositoryPolicy(n)).not.toBeNull();
      }
    });

    test('GIVEN a force-deleted repository WHEN the name is pushed to or created again THEN it starts empty, with default settings', async () => {
      const { image } = await fill('team/app');
      await store.deleteRepository('team/app', true);
      await push('team/app', image);
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });
      expect((await store.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
      expect(await store.getRepositoryPolicy('team/app')).toBeNull();
      expect(await store.statBlobLink('team/app', blob('loose'))).toBeNull();
      await store.deleteRepository('team/app', true);
      expect(await store.createRepository('team/app', DEFAULT_REPOSITORY_SETTINGS)).not.toBeNull();
    });
  });
}
