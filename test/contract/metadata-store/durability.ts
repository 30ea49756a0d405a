/** The MetadataStore contract (test/contract/metadata-store.contract.ts): what survives a reopen. */
import { randomUUID } from 'node:crypto';
import type { UploadState } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { blob, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeDurability(current: () => OpenedMetadataStore): void {
  describe('durability', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push, allReferrers } = storeHelpers(() => store);

    test('GIVEN repositories, links, manifests, tags, referrers and uploads WHEN the store is reopened THEN all of them read back', async () => {
      if (!opened.reopen) return;
      const image = manifest('image', { blobs: [blob('c'), blob('l')] });
      const sig = manifest('sig', { blobs: [blob('e')], subject: image.digest, artifactType: 'application/vnd.example.sig' });
      const index = manifest('index', { children: [image.digest] });
      await push('team/app', image, 'v1');
      await push('team/app', sig);
      await push('team/app', index, 'multi');
      const upload: UploadState = { id: randomUUID(), repository: 'team/app', offset: 0, startedAt: '2024-05-01T12:00:00.000Z' };
      await store.createUpload(upload);
      await store.advanceUpload(upload.id, 0, { offset: 77 });
      const repoBefore = await store.getRepository('team/app');

      store = await opened.reopen();

      expect(await store.getRepository('team/app')).toEqual(repoBefore);
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
      expect(await store.statBlobLink('team/app', blob('l'))).toEqual({ size: 10 });
      expect(await store.repositoriesWithBlob(blob('l'), 10)).toEqual(['team/app']);
      expect(await store.resolveTag('team/app', 'v1')).toBe(image.digest);
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['multi', 'v1'], more: false });
      const got = await store.getManifest('team/app', image.digest);
      expect(got?.blobs).toEqual(image.blobs);
      if (image.size <= store.inlineManifestLimit) expect(Buffer.from(got!.body!).equals(image.body!)).toBe(true);
      expect((await allReferrers('team/app', image.digest)).map((r) => r.digest)).toEqual([sig.digest]);
      expect(await store.getUpload(upload.id)).toEqual({ ...upload, offset: 77 });
      // The usage and parent records survived too.
      expect((await store.unlinkBlob('team/app', blob('l'))).ok).toBe(false);
      expect(await store.deleteManifest('team/app', image.digest)).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });
    });
  });
}
