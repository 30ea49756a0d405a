/**
 * Upload rules that need real storage but no HTTP: abandoned uploads are purged, blobs
 * have a size cap, and a commit interrupted after its bytes moved into place completes on retry.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Registry } from '../../lambdas/core/registry';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';
import { blobOf, pseudoRandomBytes } from '../support/oci-fixtures';
import type { ByteStream } from '../../lambdas/storage/ports';

async function* bytes(buffer: Buffer): ByteStream {
  yield buffer;
}

describe('upload lifecycle', () => {
  let work: ReturnType<typeof scratchDir>;
  let metadata: LmdbMetadataStore;
  let blobs: FilesystemBlobStore;
  const registryWith = (options: Partial<ConstructorParameters<typeof Registry>[0]> = {}) => new Registry({ blobs, metadata, ...options });

  beforeEach(async () => {
    work = scratchDir('lifecycle');
    blobs = FilesystemBlobStore.open({ root: join(work.path, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(work.path, 'metadata') });
  });
  afterEach(async () => {
    await metadata.close();
    work.remove();
  });

  test('GIVEN uploads older than their lifetime WHEN purged THEN they and their bytes are gone, younger ones stay', async () => {
    const registry = registryWith({ uploadLifetimeMs: 60_000 });
    const abandoned = await registry.startUpload('team/app');
    await registry.appendUpload('team/app', abandoned.id, { body: bytes(Buffer.from('half a layer')) });
    expect(existsSync(join(work.path, 'content', 'uploads', abandoned.id))).toBe(true);

    expect(await registry.purgeStaleUploads(Date.now())).toBe(0);
    expect((await registry.getUpload('team/app', abandoned.id)).offset).toBe(12);

    const fresh = await registry.startUpload('team/app');
    const purged = await registry.purgeStaleUploads(Date.now() + 61_000);
    expect(purged).toBe(2);
    await expect(registry.getUpload('team/app', abandoned.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    await expect(registry.getUpload('team/app', fresh.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    expect(existsSync(join(work.path, 'content', 'uploads', abandoned.id))).toBe(false);
  });

  test('GIVEN a size cap WHEN a chunk would pass it (with or without a length) THEN 413 SIZE_INVALID and the upload keeps what it had', async () => {
    const registry = registryWith({ maxBlobBytes: 1000 });
    const upload = await registry.startUpload('team/app');
    await registry.appendUpload('team/app', upload.id, { body: bytes(Buffer.alloc(600)) });
    await expect(registry.appendUpload('team/app', upload.id, { body: bytes(Buffer.alloc(600)) })).rejects.toMatchObject({ status: 413, code: 'SIZE_INVALID' });
    await expect(registry.appendUpload('team/app', upload.id, { body: bytes(Buffer.alloc(600)), contentLength: 600 })).rejects.toMatchObject({ status: 413 });
    expect((await registry.getUpload('team/app', upload.id)).offset).toBe(600);
    const rest = await registry.appendUpload('team/app', upload.id, { body: bytes(Buffer.alloc(400)) });
    expect(rest.offset).toBe(1000);
  });

  test('GIVEN a commit that stopped after its bytes moved into place WHEN the client retries the PUT THEN it completes and the blob is linked', async () => {
    const registry = registryWith();
    const blob = blobOf(pseudoRandomBytes(5000, 'interrupted-commit'));
    const upload = await registry.startUpload('team/app');
    await registry.appendUpload('team/app', upload.id, { body: bytes(blob.bytes) });
    // What a crash between BlobStore.commitUpload and MetadataStore.linkBlob leaves behind.
    await blobs.commitUpload(upload.id, blob.digest, blob.size);
    await expect(registry.statBlob('team/app', blob.digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });

    const retried = await registryWith().completeUpload('team/app', upload.id, blob.digest, { body: null });
    expect(retried).toEqual({ digest: blob.digest, size: blob.size });
    expect(await registry.statBlob('team/app', blob.digest)).toEqual({ digest: blob.digest, size: blob.size });
    await expect(registry.getUpload('team/app', upload.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
  });

  test('GIVEN shared hash state WHEN three chunks land on three registry instances THEN the commit verifies from the stored state, never re-reading the bytes', async () => {
    const noReRead = Object.assign(Object.create(Object.getPrototypeOf(blobs)), blobs, {
      readUpload: async () => {
        throw new Error('re-read not expected');
      },
    });
    const instance = () => new Registry({ blobs: noReRead, metadata, shareHashState: true });
    const blob = blobOf(pseudoRandomBytes(3000, 'shared-hash'));
    const upload = await instance().startUpload('team/app');
    await instance().appendUpload('team/app', upload.id, { body: bytes(blob.bytes.subarray(0, 1000)), contentRange: '0-999' });
    const second = await instance().appendUpload('team/app', upload.id, { body: bytes(blob.bytes.subarray(1000, 2000)), contentRange: '1000-1999' });
    expect(second.hashState).toMatch(/^wasm1:sha256:/);
    const done = await instance().completeUpload('team/app', upload.id, blob.digest, { body: bytes(blob.bytes.subarray(2000)), contentRange: '2000-2999' });
    expect(done).toEqual({ digest: blob.digest, size: 3000 });
    expect(await instance().statBlob('team/app', blob.digest)).toEqual({ digest: blob.digest, size: 3000 });
  });

  test('GIVEN shared hash state WHEN the committed digest does not match THEN DIGEST_INVALID and the upload is discarded', async () => {
    const registry = new Registry({ blobs, metadata, shareHashState: true });
    const upload = await registry.startUpload('team/app');
    await registry.appendUpload('team/app', upload.id, { body: bytes(Buffer.from('some bytes')) });
    const wrong = blobOf(Buffer.from('other bytes')).digest;
    await expect(registry.completeUpload('team/app', upload.id, wrong, { body: null })).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    await expect(registry.getUpload('team/app', upload.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
  });
});
