/**
 * lastRecordedPullTime is written at most once per image per hour: the Registry records a manifest
 * GET through the store's conditional recordImagePull, skipping it when the record (or this
 * process) shows a pull within the hour, so pulls cause no write each.
 */
import { join } from 'node:path';
import { Registry, PULL_RECORD_INTERVAL_MS } from '../../lambdas/core/registry';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';
import { imageBlobs, makeImage } from '../support/oci-fixtures';

describe('Registry: recorded pulls', () => {
  let work: { path: string; remove: () => void };
  let metadata: LmdbMetadataStore;
  let blobs: FilesystemBlobStore;

  beforeEach(async () => {
    work = scratchDir('pull-records');
    blobs = FilesystemBlobStore.open({ root: join(work.path, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(work.path, 'metadata') });
  });
  afterEach(async () => {
    await metadata.close();
    work.remove();
  });

  test('GIVEN an image WHEN pulled twice within the hour, then after it THEN one write each hour, none for HEAD', async () => {
    let clock = Date.parse('2024-06-01T00:00:00.000Z');
    const writes: string[] = [];
    const record = metadata.recordImagePull.bind(metadata);
    metadata.recordImagePull = async (...args) => {
      writes.push(args[2]);
      return record(...args);
    };
    const registry = new Registry({ blobs, metadata, now: () => clock });
    const image = makeImage({ layers: [10], seed: 'pulls' });
    for (const blob of imageBlobs(image)) {
      const upload = await registry.startUpload('team/app');
      await registry.completeUpload('team/app', upload.id, blob.digest, { body: (async function* () { yield blob.bytes; })() });
    }
    await registry.putManifest('team/app', 'v1', image.manifest.bytes, image.manifest.mediaType);

    await registry.statManifest('team/app', 'v1');
    expect(writes).toEqual([]);
    await registry.getManifest('team/app', 'v1');
    clock += 10 * 60 * 1000;
    await registry.getManifest('team/app', image.manifest.digest);
    // A second process (no memory of the first pull) reads the stored time and writes nothing either.
    await new Registry({ blobs, metadata, now: () => clock }).getManifest('team/app', image.manifest.digest);
    expect(writes).toEqual(['2024-06-01T00:00:00.000Z']);
    expect((await metadata.getManifest('team/app', image.manifest.digest))?.lastPulledAt).toBe('2024-06-01T00:00:00.000Z');

    clock += PULL_RECORD_INTERVAL_MS;
    await registry.getManifest('team/app', 'v1');
    expect(writes).toHaveLength(2);
    expect((await metadata.getManifest('team/app', image.manifest.digest))?.lastPulledAt).toBe(new Date(clock).toISOString());
  });
});
