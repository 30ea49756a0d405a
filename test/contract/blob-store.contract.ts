/**
 * The BlobStore contract: one suite, run against every adapter (local files now, S3 next),
 * in the manner of distribution/distribution's shared storage-driver test suite.
 *
 * It speaks only through the port, never the adapter's layout, so that an adapter passes it
 * exactly when the registry core can rely on it. `open` gives a fresh, empty store; `reopen`
 * (when the adapter has durable state) gives a new instance over the same data, as after a
 * restart; `cleanup` releases everything `open` and `reopen` created.
 */
import { createHash, randomUUID } from 'node:crypto';
import { pseudoRandomBytes, sha256 } from '../support/oci-fixtures';
import type { ByteStream } from '../../lambdas/core/model';
import type { BlobStore } from '../../lambdas/storage/ports';
import { ContentNotFoundError } from '../../lambdas/storage/errors';

export interface OpenedBlobStore {
  store: BlobStore;
  reopen?: () => Promise<BlobStore>;
  cleanup: () => Promise<void>;
}

const sha512 = (bytes: Uint8Array) => `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
/** Distinct, reproducible bytes for each test. */
const bytesOf = (size: number, seed: string): Buffer => pseudoRandomBytes(size, seed);

export async function* streamOf(...chunks: Uint8Array[]): ByteStream {
  for (const chunk of chunks) yield chunk;
}

export async function collect(stream: ByteStream | Promise<ByteStream>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Uploads `bytes` in one append and commits it under its sha256 digest. */
async function commitBytes(store: BlobStore, bytes: Buffer): Promise<string> {
  const id = randomUUID();
  const digest = sha256(bytes);
  await store.startUpload(id);
  await store.appendUpload(id, 0, streamOf(bytes));
  await store.commitUpload(id, digest, bytes.length);
  return digest;
}

export function describeBlobStoreContract(adapterName: string, open: () => Promise<OpenedBlobStore>): void {
  describe(`BlobStore contract: ${adapterName}`, () => {
    let opened: OpenedBlobStore;
    let store: BlobStore;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.cleanup();
    });

    describe('absent content', () => {
      test('GIVEN a digest never stored WHEN it is statted THEN the answer is null', async () => {
        expect(await store.statBlob(sha256(bytesOf(10, 'never')))).toBeNull();
        expect(await store.statBlob(sha512(bytesOf(10, 'never')))).toBeNull();
      });

      test('GIVEN a digest never stored WHEN it is read THEN ContentNotFoundError is thrown', async () => {
        await expect(store.readBlob(sha256(bytesOf(10, 'never')))).rejects.toBeInstanceOf(ContentNotFoundError);
        await expect(store.readBlob(sha256(bytesOf(10, 'never')), { start: 0, end: 3 })).rejects.toBeInstanceOf(ContentNotFoundError);
      });
    });

    describe('uploads', () => {
      test('GIVEN an upload being written WHEN it is not yet committed THEN its digest is neither statted nor readable', async () => {
        const bytes = bytesOf(5000, 'invisible');
        const digest = sha256(bytes);
        const id = randomUUID();
        await store.startUpload(id);
        expect(await store.statBlob(digest)).toBeNull();
        await store.appendUpload(id, 0, streamOf(bytes));
        expect(await store.statBlob(digest)).toBeNull();
        await expect(store.readBlob(digest)).rejects.toBeInstanceOf(ContentNotFoundError);

        await store.commitUpload(id, digest, bytes.length);
        expect(await store.statBlob(digest)).toEqual({ size: bytes.length });
        expect((await collect(store.readBlob(digest))).equals(bytes)).toBe(true);
      });

      test('GIVEN several appends of several chunks WHEN each returns THEN it answers the new size and the bytes add up in order', async () => {
        const id = randomUUID();
        const a = bytesOf(1000, 'a');
        const b = bytesOf(1, 'b');
        const c = bytesOf(1_500_000, 'c');
        await store.startUpload(id);
        expect(await store.appendUpload(id, 0, streamOf(a.subarray(0, 300), new Uint8Array(0), a.subarray(300)))).toBe(1000);
        expect(await store.appendUpload(id, 1000, streamOf(b))).toBe(1001);
        expect(await store.appendUpload(id, 1001, streamOf(c.subarray(0, 700_000), c.subarray(700_000)))).toBe(1_501_001);
        expect(await store.appendUpload(id, 1_501_001, streamOf())).toBe(1_501_001);

        const all = Buffer.concat([a, b, c]);
        expect((await collect(store.readUpload(id, all.length))).equals(all)).toBe(true);
        const digest = sha256(all);
        await store.commitUpload(id, digest, all.length);
        expect((await collect(store.readBlob(digest))).equals(all)).toBe(true);
      });

      test('GIVEN bytes from an interrupted write past the offset WHEN appending at the offset THEN those bytes are discarded and the size is offset + new bytes', async () => {
        const id = randomUUID();
        const first = bytesOf(100, 'first');
        const retry = bytesOf(30, 'retry');
        await store.startUpload(id);
        expect(await store.appendUpload(id, 0, streamOf(first))).toBe(100);
        // The registry acknowledged only 40 bytes; the remaining 60 belong to a write that failed.
        expect(await store.appendUpload(id, 40, streamOf(retry))).toBe(70);

        const expected = Buffer.concat([first.subarray(0, 40), retry]);
        expect((await collect(store.readUpload(id, 70))).equals(expected)).toBe(true);
        const digest = sha256(expected);
        await store.commitUpload(id, digest, 70);
        expect(await store.statBlob(digest)).toEqual({ size: 70 });
        expect((await collect(store.readBlob(digest))).equals(expected)).toBe(true);
      });

      test('GIVEN an appended upload WHEN appending at offset 0 again THEN the upload holds only the new bytes', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytesOf(64, 'old')));
        const fresh = bytesOf(10, 'fresh');
        expect(await store.appendUpload(id, 0, streamOf(fresh))).toBe(10);
        expect((await collect(store.readUpload(id, 10))).equals(fresh)).toBe(true);
      });

      test('GIVEN a new upload WHEN its first 0 bytes are read THEN the stream is empty', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        expect((await collect(store.readUpload(id, 0))).length).toBe(0);
      });

      test('GIVEN an upload holding more than `size` bytes WHEN committed with `size` THEN the content is exactly the first `size` bytes', async () => {
        const id = randomUUID();
        const bytes = bytesOf(500, 'longer');
        const head = bytes.subarray(0, 123);
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytes));
        await store.commitUpload(id, sha256(head), 123);
        expect(await store.statBlob(sha256(head))).toEqual({ size: 123 });
        expect((await collect(store.readBlob(sha256(head)))).equals(head)).toBe(true);
      });

      test('GIVEN an empty upload WHEN committed THEN an empty blob of size 0 is readable', async () => {
        const id = randomUUID();
        const empty = Buffer.alloc(0);
        await store.startUpload(id);
        await store.commitUpload(id, sha256(empty), 0);
        expect(await store.statBlob(sha256(empty))).toEqual({ size: 0 });
        expect((await collect(store.readBlob(sha256(empty)))).length).toBe(0);
      });

      test('GIVEN content named by a sha512 digest WHEN committed THEN it is statted and read under that digest', async () => {
        const bytes = bytesOf(777, 'sha512');
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytes));
        await store.commitUpload(id, sha512(bytes), bytes.length);
        expect(await store.statBlob(sha512(bytes))).toEqual({ size: 777 });
        expect(await store.statBlob(sha256(bytes))).toBeNull();
        expect((await collect(store.readBlob(sha512(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN a digest already committed WHEN another upload of the same bytes is committed THEN it succeeds and the content is unchanged', async () => {
        const bytes = bytesOf(2048, 'twice');
        const digest = await commitBytes(store, bytes);
        await commitBytes(store, bytes);
        expect(await store.statBlob(digest)).toEqual({ size: bytes.length });
        expect((await collect(store.readBlob(digest))).equals(bytes)).toBe(true);
      });

      test('GIVEN two uploads of the same bytes WHEN both are committed concurrently THEN both succeed and the content is whole', async () => {
        const bytes = bytesOf(300_000, 'race');
        const digest = sha256(bytes);
        const ids = [randomUUID(), randomUUID()];
        for (const id of ids) {
          await store.startUpload(id);
          await store.appendUpload(id, 0, streamOf(bytes));
        }
        await Promise.all(ids.map((id) => store.commitUpload(id, digest, bytes.length)));
        expect((await collect(store.readBlob(digest))).equals(bytes)).toBe(true);
      });

      test('GIVEN uploads with different ids WHEN written interleaved THEN each keeps its own bytes', async () => {
        const [x, y] = [randomUUID(), randomUUID()];
        await store.startUpload(x);
        await store.startUpload(y);
        await store.appendUpload(x, 0, streamOf(Buffer.from('xxxx')));
        await store.appendUpload(y, 0, streamOf(Buffer.from('yy')));
        await store.appendUpload(x, 4, streamOf(Buffer.from('XX')));
        expect((await collect(store.readUpload(x, 6))).toString()).toBe('xxxxXX');
        expect((await collect(store.readUpload(y, 2))).toString()).toBe('yy');
      });

      test('GIVEN an upload WHEN aborted twice, or an id never started is aborted THEN every abort succeeds', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytesOf(10, 'abort')));
        await store.abortUpload(id);
        await store.abortUpload(id);
        await store.abortUpload(randomUUID());
      });

      test('GIVEN an aborted upload, or an id never started WHEN appended to THEN ContentNotFoundError is thrown', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        await store.abortUpload(id);
        await expect(store.appendUpload(id, 0, streamOf(Buffer.from('late')))).rejects.toBeInstanceOf(ContentNotFoundError);
        await expect(store.appendUpload(randomUUID(), 0, streamOf(Buffer.from('never')))).rejects.toBeInstanceOf(ContentNotFoundError);
      });

      test('GIVEN an aborted upload WHEN its would-be digest is statted THEN nothing was made visible', async () => {
        const bytes = bytesOf(50, 'aborted');
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytes));
        await store.abortUpload(id);
        expect(await store.statBlob(sha256(bytes))).toBeNull();
      });
    });

    describe('reading', () => {
      const bytes = bytesOf(10_000, 'ranges');

      test.each([
        ['the first byte', 0, 0],
        ['a middle slice', 1234, 5677],
        ['the last byte', 9999, 9999],
        ['the whole blob', 0, 9999],
        ['a tail', 9000, 9999],
      ])('GIVEN a committed blob WHEN %s is read as an inclusive range THEN exactly those bytes come back', async (_what, start, end) => {
        const digest = await commitBytes(store, bytes);
        const got = await collect(store.readBlob(digest, { start, end }));
        expect(got.length).toBe(end - start + 1);
        expect(got.equals(bytes.subarray(start, end + 1))).toBe(true);
      });

      test('GIVEN a committed blob WHEN read twice concurrently THEN both readers get every byte', async () => {
        const digest = await commitBytes(store, bytes);
        const [a, b] = await Promise.all([collect(store.readBlob(digest)), collect(store.readBlob(digest))]);
        expect(a.equals(bytes) && b.equals(bytes)).toBe(true);
      });

      test('GIVEN the optional redirect capability WHEN asked for a committed blob THEN it answers null or an absolute URL', async () => {
        const digest = await commitBytes(store, bytes);
        if (!store.blobRedirectUrl) return;
        const url = await store.blobRedirectUrl(digest);
        if (url !== null) expect(() => new URL(url)).not.toThrow();
      });
    });

    describe('putContent and deleteContent', () => {
      test('GIVEN small content WHEN put under its digest THEN it is statted and read back', async () => {
        const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, note: 'manifest body' }));
        await store.putContent(sha256(bytes), bytes);
        expect(await store.statBlob(sha256(bytes))).toEqual({ size: bytes.length });
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN content already stored WHEN put again (or committed by an upload) THEN it succeeds and stays the same', async () => {
        const bytes = bytesOf(4096, 'put-twice');
        await store.putContent(sha256(bytes), bytes);
        await store.putContent(sha256(bytes), bytes);
        await commitBytes(store, bytes);
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN concurrent puts of the same content WHEN they finish THEN the content is whole', async () => {
        const bytes = bytesOf(100_000, 'put-race');
        await Promise.all(Array.from({ length: 8 }, () => store.putContent(sha256(bytes), bytes)));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN stored content WHEN deleted THEN it is neither statted nor readable, and deleting again succeeds', async () => {
        const bytes = bytesOf(256, 'delete');
        const digest = await commitBytes(store, bytes);
        const other = await commitBytes(store, bytesOf(256, 'keep'));
        await store.deleteContent(digest);
        expect(await store.statBlob(digest)).toBeNull();
        await expect(store.readBlob(digest)).rejects.toBeInstanceOf(ContentNotFoundError);
        await store.deleteContent(digest);
        expect(await store.statBlob(other)).toEqual({ size: 256 });
      });

      test('GIVEN deleted content WHEN the same bytes are put again THEN they are readable again', async () => {
        const bytes = bytesOf(99, 'again');
        await store.putContent(sha256(bytes), bytes);
        await store.deleteContent(sha256(bytes));
        await store.putContent(sha256(bytes), bytes);
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });
    });

    describe('staged content', () => {
      const manifestBody = (seed: string) => Buffer.from(JSON.stringify({ schemaVersion: 2, seed, padding: bytesOf(3000, seed).toString('hex') }));

      test('GIVEN staged content WHEN nothing else happens THEN it is not content, but readStagedContent finds it', async () => {
        const bytes = manifestBody('staged');
        const id = randomUUID();
        expect(await store.readStagedContent(sha256(bytes))).toBeNull();
        await store.stageContent(id, sha256(bytes), bytes);
        expect(await store.statBlob(sha256(bytes))).toBeNull();
        await expect(store.readBlob(sha256(bytes))).rejects.toBeInstanceOf(ContentNotFoundError);
        const staged = await store.readStagedContent(sha256(bytes));
        expect(staged?.stagingId).toBe(id);
        expect(Buffer.from(staged!.bytes).equals(bytes)).toBe(true);
        expect(await store.readStagedContent(sha256(manifestBody('other')))).toBeNull();
      });

      test('GIVEN staged content WHEN promoted THEN it is content and no longer staged, and promoting again succeeds', async () => {
        const bytes = manifestBody('promoted');
        const id = randomUUID();
        await store.stageContent(id, sha256(bytes), bytes);
        await store.promoteStagedContent(id, sha256(bytes));
        expect(await store.statBlob(sha256(bytes))).toEqual({ size: bytes.length });
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
        expect(await store.readStagedContent(sha256(bytes))).toBeNull();
        await store.promoteStagedContent(id, sha256(bytes));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN staged content WHEN discarded THEN it is neither content nor staged, and discarding again succeeds', async () => {
        const bytes = manifestBody('discarded');
        const id = randomUUID();
        await store.stageContent(id, sha256(bytes), bytes);
        await store.discardStagedContent(id, sha256(bytes));
        expect(await store.statBlob(sha256(bytes))).toBeNull();
        expect(await store.readStagedContent(sha256(bytes))).toBeNull();
        await store.discardStagedContent(id, sha256(bytes));
        await expect(store.promoteStagedContent(id, sha256(bytes))).rejects.toBeInstanceOf(ContentNotFoundError);
      });

      test('GIVEN content already stored WHEN a staged copy of it is discarded or promoted THEN the content stays as it was and nothing stays staged', async () => {
        const bytes = manifestBody('existing');
        await store.putContent(sha256(bytes), bytes);
        const [refused, accepted] = [randomUUID(), randomUUID()];
        await store.stageContent(refused, sha256(bytes), bytes);
        await store.stageContent(accepted, sha256(bytes), bytes);
        await store.discardStagedContent(refused, sha256(bytes));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
        await store.promoteStagedContent(accepted, sha256(bytes));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
        expect(await store.readStagedContent(sha256(bytes))).toBeNull();
      });

      test('GIVEN two staged copies of one digest WHEN one is discarded THEN the other is still staged and promotes', async () => {
        const bytes = manifestBody('two-copies');
        const [first, second] = [randomUUID(), randomUUID()];
        await store.stageContent(first, sha256(bytes), bytes);
        await store.stageContent(second, sha256(bytes), bytes);
        await store.discardStagedContent(first, sha256(bytes));
        expect((await store.readStagedContent(sha256(bytes)))?.stagingId).toBe(second);
        await store.promoteStagedContent(second, sha256(bytes));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
      });

      test('GIVEN racing promotions of one staged copy and of other copies WHEN they finish THEN the content is whole and nothing stays staged', async () => {
        const bytes = manifestBody('race');
        const ids = [randomUUID(), randomUUID(), randomUUID()];
        for (const id of ids) await store.stageContent(id, sha256(bytes), bytes);
        await Promise.all([...ids, ids[0], ids[0]].map((id) => store.promoteStagedContent(id, sha256(bytes))));
        expect((await collect(store.readBlob(sha256(bytes)))).equals(bytes)).toBe(true);
        expect(await store.readStagedContent(sha256(bytes))).toBeNull();
      });

      test('GIVEN a promotion racing reads WHEN each read tries content, then a staged copy, then content again THEN every read finds the bytes', async () => {
        const bytes = manifestBody('reader');
        const id = randomUUID();
        await store.stageContent(id, sha256(bytes), bytes);
        const read = async (): Promise<Buffer> => {
          for (let attempt = 0; attempt < 2; attempt++) {
            try {
              return await collect(store.readBlob(sha256(bytes)));
            } catch (err) {
              if (!(err instanceof ContentNotFoundError)) throw err;
            }
            const staged = await store.readStagedContent(sha256(bytes));
            if (staged) return Buffer.from(staged.bytes);
          }
          throw new Error('neither content nor a staged copy');
        };
        const reads = Array.from({ length: 6 }, () => read());
        await store.promoteStagedContent(id, sha256(bytes));
        for (const bytesRead of await Promise.all([...reads, read()])) expect(bytesRead.equals(bytes)).toBe(true);
      });
    });

    describe('durability', () => {
      test('GIVEN committed blobs, put and staged content and a half-done upload WHEN the store is reopened THEN all of it reads back and the upload resumes', async () => {
        if (!opened.reopen) return;
        const blob = bytesOf(70_000, 'durable-blob');
        const content = Buffer.from('{"durable":true}');
        const partial = bytesOf(5000, 'durable-upload');
        const blobDigest = await commitBytes(store, blob);
        await store.putContent(sha256(content), content);
        const staged = Buffer.from('{"staged":true}');
        const stagingId = randomUUID();
        await store.stageContent(stagingId, sha256(staged), staged);
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(partial.subarray(0, 3000)));

        store = await opened.reopen();

        expect(Buffer.from((await store.readStagedContent(sha256(staged)))!.bytes).equals(staged)).toBe(true);
        await store.promoteStagedContent(stagingId, sha256(staged));
        expect((await collect(store.readBlob(sha256(staged)))).equals(staged)).toBe(true);

        expect(await store.statBlob(blobDigest)).toEqual({ size: blob.length });
        expect((await collect(store.readBlob(blobDigest))).equals(blob)).toBe(true);
        expect((await collect(store.readBlob(sha256(content)))).equals(content)).toBe(true);
        expect((await collect(store.readUpload(id, 3000))).equals(partial.subarray(0, 3000))).toBe(true);
        expect(await store.appendUpload(id, 3000, streamOf(partial.subarray(3000)))).toBe(5000);
        await store.commitUpload(id, sha256(partial), 5000);
        expect((await collect(store.readBlob(sha256(partial)))).equals(partial)).toBe(true);
      });

      test('GIVEN an upload never committed WHEN the store is reopened THEN its digest is still invisible', async () => {
        if (!opened.reopen) return;
        const bytes = bytesOf(1000, 'uncommitted');
        const id = randomUUID();
        await store.startUpload(id);
        await store.appendUpload(id, 0, streamOf(bytes));
        store = await opened.reopen();
        expect(await store.statBlob(sha256(bytes))).toBeNull();
      });
    });
  });
}
