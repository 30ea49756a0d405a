/**
 * Upload rules that need real storage but no HTTP: abandoned uploads are purged, blobs
 * have a size cap, a commit interrupted after its bytes moved into place completes on retry,
 * and a request whose body stalls neither blocks the next request on its upload nor the purge.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Registry } from '../../lambdas/core/registry';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';
import { blobOf, pseudoRandomBytes } from '../support/oci-fixtures';
import type { ByteStream } from '../../lambdas/core/model';

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

  describe('a request that holds an upload while its body stalls', () => {
    /** A body that sends `first` and then nothing until released: a client gone silent mid-PATCH. */
    function stalledBody(first: Buffer): { body: ByteStream; release: () => void } {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      async function* body(): ByteStream {
        yield first;
        await gate;
      }
      return { body: body(), release };
    }

    /** The outcome of `work`, or 'waiting' if it has none after `ms`. */
    const settledWithin = <T>(work: Promise<T>, ms = 2000): Promise<T | 'waiting'> =>
      Promise.race([work, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms).unref())]);

    test('GIVEN a stale upload whose PATCH is stalled WHEN purged THEN the purge skips it without waiting and purges the others', async () => {
      const registry = registryWith({ uploadLifetimeMs: 60_000 });
      const held = await registry.startUpload('team/app');
      const stalled = stalledBody(Buffer.from('part of a chunk'));
      const append = registry.appendUpload('team/app', held.id, { body: stalled.body });
      const others = [await registry.startUpload('team/app'), await registry.startUpload('team/app')];
      try {
        await new Promise((r) => setTimeout(r, 50));
        expect(await settledWithin(registry.purgeStaleUploads(Date.now() + 61_000))).toBe(2);
        for (const other of others) await expect(registry.getUpload('team/app', other.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
        expect((await registry.getUpload('team/app', held.id)).offset).toBe(0);
      } finally {
        stalled.release();
      }
      expect((await append).offset).toBe(15);
      // Once nothing holds it, the next purge takes it.
      expect(await registry.purgeStaleUploads(Date.now() + 61_000)).toBe(1);
      await expect(registry.getUpload('team/app', held.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    });

    test('GIVEN a stalled PATCH WHEN the upload is cancelled THEN the cancel takes over at once and the PATCH fails with BLOB_UPLOAD_INVALID', async () => {
      const registry = registryWith();
      const upload = await registry.startUpload('team/app');
      const stalled = stalledBody(Buffer.from('part of a chunk'));
      const append = registry.appendUpload('team/app', upload.id, { body: stalled.body });
      void append.catch(() => undefined);
      try {
        await new Promise((r) => setTimeout(r, 50));
        expect(await settledWithin(registry.cancelUpload('team/app', upload.id), 1000)).toBeUndefined();
        await expect(append).rejects.toMatchObject({ code: 'BLOB_UPLOAD_INVALID', status: 400 });
        await expect(registry.getUpload('team/app', upload.id)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
      } finally {
        stalled.release();
      }
    });

    test('GIVEN a stalled chunk WHEN the client sends the chunk again and closes THEN both take over in turn and the blob holds no byte of the stalled one', async () => {
      const registry = registryWith();
      const blob = blobOf(pseudoRandomBytes(30, 'preempted-chunk'));
      const upload = await registry.startUpload('team/app');
      await registry.appendUpload('team/app', upload.id, { body: bytes(blob.bytes.subarray(0, 10)), contentRange: '0-9' });
      const stalledChunk = stalledBody(Buffer.alloc(8, 'X'));
      const stalledAppend = registry.appendUpload('team/app', upload.id, { body: stalledChunk.body, contentRange: '10-19', contentLength: 10 });
      void stalledAppend.catch(() => undefined);
      const stalledPut = stalledBody(Buffer.alloc(5, 'Y'));
      try {
        await new Promise((r) => setTimeout(r, 50));
        const retried = await settledWithin(registry.appendUpload('team/app', upload.id, { body: bytes(blob.bytes.subarray(10, 20)), contentRange: '10-19' }), 1000);
        expect(retried).toMatchObject({ offset: 20 });
        await expect(stalledAppend).rejects.toMatchObject({ code: 'BLOB_UPLOAD_INVALID' });

        // A closing PUT whose last bytes stall is taken over by the next PUT the same way.
        const put = registry.completeUpload('team/app', upload.id, blob.digest, { body: stalledPut.body });
        void put.catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
        const closed = await settledWithin(registry.completeUpload('team/app', upload.id, blob.digest, { body: bytes(blob.bytes.subarray(20)) }), 1000);
        expect(closed).toEqual({ digest: blob.digest, size: 30 });
        await expect(put).rejects.toMatchObject({ code: 'BLOB_UPLOAD_INVALID' });
      } finally {
        stalledChunk.release();
        stalledPut.release();
      }
    });
  });
});
