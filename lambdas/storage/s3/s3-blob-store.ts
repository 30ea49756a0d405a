/**
 * S3BlobStore: the blob store of the AWS deployment, on one S3 bucket.
 *
 * Key layout (every key below sits under the optional `keyPrefix`):
 *
 *   blobs/<algorithm>/<hex>                         committed content, named by digest; written only by a
 *                                                   single PutObject, CopyObject or CompleteMultipartUpload,
 *                                                   so it appears whole or not at all
 *   uploads/<id>/session                            {"v":1,...}: the upload exists (startUpload .. commit/abort)
 *   uploads/<id>/seg/<start:016d>.<write id>        one segment: the bytes [start, start + length) written by
 *                                                   one appendUpload call (a fresh key per write, never overwritten)
 *   uploads/<id>/mpu/<segment name>/<b64url(mpu)>   marker: a multipart upload was begun for that segment, so an
 *                                                   abort can find and abort it even if the writer died
 *   uploads/<id>/at/<end:016d>                      manifest: the ordered segment chain that holds [0, end),
 *                                                   written last by the appendUpload call that ended at `end`
 *   staging/<algorithm>/<hex>/<staging id>          a large manifest body staged by one push: deleted when the
 *                                                   push is refused, copied to blobs/ and deleted once committed.
 *                                                   No lifecycle rule expires it: after a crash between the commit
 *                                                   and the copy it is the body's only copy (the first read copies
 *                                                   it); a leftover beside its blobs/ key is garbage.
 *
 * Why segments and manifests. appendUpload is called in two very different ways:
 *  (a) once, with a stream of up to 52,000 MiB (the ingest service: docker's PATCH, containerd's PUT), and
 *  (b) many times with chunks of a few MiB, each call in a different Lambda invocation.
 * An S3 multipart upload alone fits (a) but not (b): parts other than the last must be >= 5 MiB, and the
 * parts of an unfinished multipart upload cannot be read back, while readUpload must stream what was
 * received (the core re-hashes after a restart). So every call writes its bytes as segments, which are
 * ordinary, readable objects: a segment under PART_SIZE is one PutObject; a larger one is its own multipart
 * upload of PART_SIZE parts, streamed with at most two parts in memory (one in flight, one filling), and cut
 * at SEGMENT_MAX (5 GiB, the largest source UploadPartCopy accepts). A call that starts after a segment
 * smaller than PART_SIZE reads that segment back and rewrites it together with its own bytes (a "carry"),
 * so every segment of a chain but the last is >= PART_SIZE >= 5 MiB: any chain can then be assembled by
 * server-side UploadPartCopy, and 52,000 MiB uploaded in small chunks is at most 6,500 segments (<= 10,000
 * parts). In mode (b) the carry costs one extra read and write of at most PART_SIZE per call.
 *
 * Bytes past `offset` are discarded without deleting or rewriting anything: a call at `offset` takes the chain
 * of the manifest ending exactly at `offset` (or the shortest one past it, cut at `offset`), deletes the
 * manifests that end past `offset` (they describe a write that was never acknowledged), and writes a new
 * manifest for its own end. Every manifest that exists therefore describes a prefix of the current bytes, and
 * readUpload/commitUpload of `size` read the manifest at `size`. Segment keys are unique per write, so a
 * retried or interrupted write can never change bytes that a manifest already points to. Leftover objects of
 * unacknowledged writes stay until commit or abort removes uploads/<id>/ (the bucket should also carry
 * lifecycle rules that abort incomplete multipart uploads and expire uploads/ after a few days).
 *
 * Limit, by the port's shape: two appends racing on the same upload from different processes at the same
 * offset with the same length but different bytes leave the manifest of whichever wrote last, which need not
 * be the one whose advanceUpload won. The core serialises appends per upload in one process; across
 * processes only a lease in the metadata store could close this.
 *
 * S3 calls per operation (P = PART_SIZE = 8 MiB; k = segments in the chain):
 *   startUpload       1 PutObject (session)
 *   appendUpload      offset 0: HeadObject (session) + ListObjectsV2 (stale manifests);
 *                     offset > 0: ListObjectsV2 + GetObject (manifest) [+ GetObject of a carried segment < P]
 *                     [+ DeleteObjects when stale manifests exist]
 *                     then, per segment: < P: 1 PutObject; >= P: CreateMultipartUpload + PutObject (marker)
 *                     + ceil(bytes / P) UploadPart + CompleteMultipartUpload; finally 1 PutObject (manifest).
 *                     A 1 GiB stream in one call: 134 requests; a 4 MiB Lambda chunk: 4-5 requests.
 *   readUpload        GetObject (manifest; ListObjectsV2 + GetObject when no manifest ends exactly at size)
 *                     + 1 GetObject per segment
 *   commitUpload      HeadObject (target). Present (dedup): cleanup only. Otherwise GetObject (manifest), then
 *                     - size <= P:            GetObject (segment) + PutObject with x-amz-checksum-sha256 (S3 verifies)
 *                     - one whole segment <= 5 GiB (the usual single-stream push): 1 CopyObject
 *                     - otherwise (several segments, a cut segment; every blob > 5 GiB): CreateMultipartUpload
 *                       + k UploadPartCopy (segments are <= 5 GiB) + CompleteMultipartUpload
 *                     then cleanup: ListObjectsV2 (per 1,000 keys) + DeleteObjects (per 1,000 keys)
 *                     + AbortMultipartUpload for each marker whose segment never completed.
 *   abortUpload       the cleanup above; idempotent.
 *   statBlob          1 HeadObject (404 -> null)
 *   readBlob          1 GetObject (with Range for a range)
 *   blobRedirectUrl   0 requests: a presigned GET, signed locally, valid presignTtlSeconds
 *   putContent        1 PutObject (x-amz-checksum-sha256 for sha256 digests, so S3 rejects other bytes)
 *   deleteContent     1 DeleteObject
 *   stageContent      1 PutObject (checksum as putContent)
 *   promoteStaged...  HeadObject (target); absent: CopyObject (S3 recomputes SHA-256, compared); then DeleteObject
 *   discardStaged...  1 DeleteObject
 *   readStaged...     ListObjectsV2 + GetObject (only when a committed body is not under its digest yet)
 */
import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteStream } from '../../core/model';
import type { BlobStore, ByteRange } from '../ports';
import { ContentNotFoundError } from '../errors';

/** Multipart part size while streaming, and the size under which a trailing segment is carried forward. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Largest segment: the largest part (and UploadPartCopy source range) S3 accepts. */
export const SEGMENT_MAX = 5 * 1024 * 1024 * 1024;
/** Largest object a single CopyObject may copy. */
const COPY_OBJECT_MAX = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Concurrent UploadPartCopy requests while assembling a large blob. */
const COPY_CONCURRENCY = 8;

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const SAFE_DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;
const OFFSET_DIGITS = 16;

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Lifetime of the presigned GET URLs handed to pulling clients. @default 300 */
  presignTtlSeconds?: number;
  /** Prefix for every key, e.g. `registry/`. @default '' */
  keyPrefix?: string;
}

interface Segment {
  /** `<start:016d>.<write id>`, under uploads/<id>/seg/. */
  name: string;
  start: number;
  length: number;
}

interface OpenMultipart {
  key: string;
  uploadId: string;
  parts: CompletedPart[];
  inflight?: Promise<void>;
}

interface Manifest {
  v: 1;
  end: number;
  segments: Segment[];
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly ttl: number;
  private readonly prefix: string;
  private readonly partSize: number;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.ttl = options.presignTtlSeconds ?? 300;
    const prefix = options.keyPrefix ?? '';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.partSize = PART_SIZE;
    if (!(this.ttl >= 1 && this.ttl <= 7 * 24 * 3600)) throw new Error('presignTtlSeconds must be between 1 second and 7 days');
  }

  // ---- committed content ---------------------------------------------------------------

  async statBlob(digest: string): Promise<{ size: number } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async readBlob(digest: string, range?: ByteRange): Promise<ByteStream> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.blobKey(digest),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      return res.Body as unknown as ByteStream;
    } catch (err) {
      if (isNotFound(err)) throw new ContentNotFoundError(digest);
      throw err;
    }
  }

  async blobRedirectUrl(digest: string): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }), { expiresIn: this.ttl });
  }

  async putContent(digest: string, bytes: Uint8Array): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.blobKey(digest),
        Body: bytes,
        ContentLength: bytes.length,
        ...checksumFor(digest),
      }),
    );
  }

  async deleteContent(digest: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
  }

  // ---- staged content ------------------------------------------------------------------

  async stageContent(stagingId: string, digest: string, bytes: Uint8Array): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.stagingKey(stagingId, digest),
        Body: bytes,
        ContentLength: bytes.length,
        ...checksumFor(digest),
      }),
    );
  }

  async promoteStagedContent(stagingId: string, digest: string): Promise<void> {
    const staged = this.stagingKey(stagingId, digest);
    const target = this.blobKey(digest);
    if (!(await this.exists(target))) {
      try {
        const copied = await this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: target,
            CopySource: copySource(this.bucket, staged),
            ...(digest.startsWith('sha256:') ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
          }),
        );
        const expected = checksumFor(digest).ChecksumSHA256;
        const actual = copied.CopyObjectResult?.ChecksumSHA256;
        if (expected !== undefined && actual !== undefined && actual !== expected) {
          throw new Error(`copy of ${staged} to ${target} has SHA-256 ${actual}, not ${expected}`);
        }
      } catch (err) {
        // A racing promotion (the push's own, or a reader's) copied it and deleted the staged copy first.
        if (!isNotFound(err)) throw err;
        if (!(await this.exists(target))) throw new ContentNotFoundError(digest);
      }
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: staged }));
  }

  async discardStagedContent(stagingId: string, digest: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.stagingKey(stagingId, digest) }));
  }

  async readStagedContent(digest: string): Promise<{ stagingId: string; bytes: Uint8Array } | null> {
    const prefix = this.stagingKey('', digest);
    const listed = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 10 }));
    for (const { Key } of listed.Contents ?? []) {
      try {
        return { stagingId: Key!.slice(prefix.length), bytes: await this.getBytes(Key!) };
      } catch (err) {
        // Promoted (or discarded) since the listing: try the next.
        if (!isNotFound(err)) throw err;
      }
    }
    return null;
  }

  // ---- uploads -------------------------------------------------------------------------

  async startUpload(uploadId: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.uploadKey(uploadId, 'session'),
        Body: Buffer.from(JSON.stringify({ v: 1, partSize: this.partSize, startedAt: new Date().toISOString() })),
        ContentType: 'application/json',
      }),
    );
  }

  async appendUpload(uploadId: string, offset: number, data: ByteStream): Promise<number> {
    // Manifests ending at or after `offset`: the first gives the chain; those past `offset` are stale.
    const manifests = await this.listManifests(uploadId, offset);
    const stale = manifests.filter((m) => m.end > offset);
    let chain: Segment[] = [];
    if (offset === 0) {
      if (!(await this.exists(this.uploadKey(uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
    } else {
      if (manifests.length === 0) {
        if (!(await this.exists(this.uploadKey(uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
        throw new Error(`upload ${uploadId}: no bytes recorded up to offset ${offset}`);
      }
      chain = cutChain((await this.getManifest(uploadId, manifests[0].end)).segments, offset).segments;
    }
    if (stale.length > 0) await this.deleteKeys(stale.map((m) => this.uploadKey(uploadId, `at/${pad(m.end)}`)));

    // Carry a short trailing segment forward so that every segment but the last stays >= partSize.
    let carried: Buffer | undefined;
    let start = offset;
    const last = chain[chain.length - 1];
    if (last && last.length < this.partSize) {
      carried = await this.getBytes(this.uploadKey(uploadId, `seg/${last.name}`), 0, last.length);
      chain = chain.slice(0, -1);
      start = last.start;
    }
    const written = await this.writeSegments(uploadId, start, carried, data);
    const segments = [...chain, ...written];
    const end = segments.length === 0 ? 0 : segments[segments.length - 1].start + segments[segments.length - 1].length;
    if (end < offset) throw new Error(`upload ${uploadId}: segments end at ${end}, before offset ${offset}`);
    const manifest: Manifest = { v: 1, end, segments };
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.uploadKey(uploadId, `at/${pad(end)}`),
        Body: Buffer.from(JSON.stringify(manifest)),
        ContentType: 'application/json',
      }),
    );
    return end;
  }

  async readUpload(uploadId: string, size: number): Promise<ByteStream> {
    if (size === 0) return (async function* () {})();
    const { segments: chain } = await this.chainFor(uploadId, size);
    const store = this;
    return (async function* () {
      for (const segment of chain) {
        const res = await store.client.send(
          new GetObjectCommand({
            Bucket: store.bucket,
            Key: store.uploadKey(uploadId, `seg/${segment.name}`),
            Range: `bytes=0-${segment.length - 1}`,
          }),
        );
        yield* res.Body as unknown as AsyncIterable<Uint8Array>;
      }
    })();
  }

  async commitUpload(uploadId: string, digest: string, size: number): Promise<void> {
    const target = this.blobKey(digest);
    if (await this.exists(target)) {
      await this.cleanup(uploadId);
      return;
    }
    let chain: Segment[] = [];
    let whole = true;
    if (size === 0) {
      if (!(await this.exists(this.uploadKey(uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
    } else {
      ({ segments: chain, whole } = await this.chainFor(uploadId, size));
    }
    const segKey = (s: Segment) => this.uploadKey(uploadId, `seg/${s.name}`);

    if (size <= this.partSize) {
      // Small: one PutObject, which S3 checks against the digest (sha256) before storing it.
      const parts = await Promise.all(chain.map((s) => this.getBytes(segKey(s), 0, s.length)));
      const body = Buffer.concat(parts, size);
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: target, Body: body, ContentLength: size, ...checksumFor(digest) }));
    } else if (chain.length === 1 && whole && size <= COPY_OBJECT_MAX) {
      // The usual single-stream push: the segment is the blob; one server-side copy.
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: copySource(this.bucket, segKey(chain[0])) }),
      );
    } else {
      await this.assemble(target, chain.map((s) => ({ key: segKey(s), length: s.length })));
    }
    await this.cleanup(uploadId);
  }

  async abortUpload(uploadId: string): Promise<void> {
    if (!SAFE_ID.test(uploadId)) return;
    await this.cleanup(uploadId);
  }

  // ---- internals -----------------------------------------------------------------------

  /** Streams `first` then `data` into segments starting at `start`; answers the segments written. */
  private async writeSegments(uploadId: string, start: number, first: Buffer | undefined, data: ByteStream): Promise<Segment[]> {
    const segments: Segment[] = [];
    const writeId = randomUUID().replace(/-/g, '').slice(0, 16);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let segStart = start;
    let segBytes = 0; // bytes of the current segment already handed to parts
    let mpu: OpenMultipart | undefined;
    const nameOf = (s: number) => `${pad(s)}.${writeId}`;

    const take = (n: number): Buffer => {
      const out: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const head = pending[0];
        if (head.length <= need) {
          out.push(head);
          pending.shift();
          need -= head.length;
        } else {
          out.push(head.subarray(0, need));
          pending[0] = head.subarray(need);
          need = 0;
        }
      }
      pendingBytes -= n;
      return out.length === 1 ? out[0] : Buffer.concat(out, n);
    };

    const sendPart = async (body: Buffer) => {
      if (!mpu) {
        const key = this.uploadKey(uploadId, `seg/${nameOf(segStart)}`);
        const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }));
        const id = created.UploadId!;
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.uploadKey(uploadId, `mpu/${nameOf(segStart)}/${Buffer.from(id).toString('base64url')}`),
            Body: new Uint8Array(0),
            ContentLength: 0,
          }),
        );
        mpu = { key, uploadId: id, parts: [] };
      }
      const current = mpu;
      // At most one part in flight while the next one fills: memory stays near 2 parts.
      await current.inflight;
      const partNumber = current.parts.length + 1;
      current.parts.push({ PartNumber: partNumber });
      segBytes += body.length;
      current.inflight = this.client
        .send(new UploadPartCommand({ Bucket: this.bucket, Key: current.key, UploadId: current.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
        .then((res) => {
          current.parts[partNumber - 1].ETag = res.ETag;
        });
      // Awaited before the next part or at the close; until then a failure must not count as unhandled.
      current.inflight.catch(() => undefined);
    };

    const closeSegment = async () => {
      const length = segBytes + pendingBytes;
      if (length === 0) return;
      if (mpu) {
        if (pendingBytes > 0) await sendPart(take(pendingBytes));
        const current = mpu;
        await current.inflight;
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: current.key,
            UploadId: current.uploadId,
            MultipartUpload: { Parts: current.parts },
          }),
        );
      } else {
        const body = take(pendingBytes);
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: this.uploadKey(uploadId, `seg/${nameOf(segStart)}`), Body: body, ContentLength: body.length }),
        );
      }
      segments.push({ name: nameOf(segStart), start: segStart, length });
      segStart += length;
      segBytes = 0;
      mpu = undefined;
    };

    const push = async (chunk: Uint8Array) => {
      let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      while (rest.length > 0) {
        const room = SEGMENT_MAX - segBytes - pendingBytes;
        const piece = rest.length <= room ? rest : rest.subarray(0, room);
        rest = rest.subarray(piece.length);
        pending.push(piece);
        pendingBytes += piece.length;
        // Send a part once more than one part is buffered (so the last part of a segment is never empty).
        while (pendingBytes > this.partSize) await sendPart(take(this.partSize));
        if (segBytes + pendingBytes === SEGMENT_MAX) await closeSegment();
      }
    };

    try {
      if (first && first.length > 0) await push(first);
      for await (const chunk of data) if (chunk.length > 0) await push(chunk);
      await closeSegment();
    } catch (err) {
      const abandoned = mpu as OpenMultipart | undefined;
      if (abandoned) {
        await abandoned.inflight?.catch(() => undefined);
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: abandoned.key, UploadId: abandoned.uploadId }))
          .catch(() => undefined);
      }
      throw err;
    }
    pending = [];
    return segments;
  }

  /** Copies the pieces into `target` as one multipart upload of UploadPartCopy parts; the object appears at Complete. */
  private async assemble(target: string, pieces: { key: string; length: number }[]): Promise<void> {
    if (pieces.length > MAX_PARTS) throw new Error(`cannot assemble ${pieces.length} segments: S3 allows ${MAX_PARTS} parts`);
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target }));
    const mpuId = created.UploadId!;
    try {
      const parts: CompletedPart[] = new Array(pieces.length);
      let next = 0;
      const worker = async () => {
        while (next < pieces.length) {
          const i = next++;
          const res = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: target,
              UploadId: mpuId,
              PartNumber: i + 1,
              CopySource: copySource(this.bucket, pieces[i].key),
              CopySourceRange: `bytes=0-${pieces[i].length - 1}`,
            }),
          );
          parts[i] = { PartNumber: i + 1, ETag: res.CopyPartResult?.ETag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, pieces.length) }, worker));
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: mpuId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: mpuId })).catch(() => undefined);
      throw err;
    }
  }

  /** The segment chain holding the first `size` bytes, or ContentNotFoundError. */
  private async chainFor(uploadId: string, size: number): Promise<{ segments: Segment[]; whole: boolean }> {
    let manifest = await this.getManifest(uploadId, size).catch((err) => {
      if (err instanceof ContentNotFoundError) return undefined;
      throw err;
    });
    if (!manifest) {
      const longer = await this.listManifests(uploadId, size, 1);
      if (longer.length === 0) throw new ContentNotFoundError(uploadId);
      manifest = await this.getManifest(uploadId, longer[0].end);
    }
    return cutChain(manifest.segments, size);
  }

  /** Manifests whose end is >= `from`, in order. */
  private async listManifests(uploadId: string, from: number, limit = Infinity): Promise<{ end: number }[]> {
    const prefix = this.uploadKey(uploadId, 'at/');
    const found: { end: number }[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          StartAfter: from > 0 ? `${prefix}${pad(from - 1)}` : undefined,
          ContinuationToken: token,
          MaxKeys: Number.isFinite(limit) ? limit : undefined,
        }),
      );
      for (const object of res.Contents ?? []) found.push({ end: Number(object.Key!.slice(prefix.length)) });
      token = res.IsTruncated && found.length < limit ? res.NextContinuationToken : undefined;
    } while (token);
    return found.filter((m) => Number.isSafeInteger(m.end) && m.end >= from).slice(0, limit);
  }

  private async getManifest(uploadId: string, end: number): Promise<Manifest> {
    const bytes = await this.getBytes(this.uploadKey(uploadId, `at/${pad(end)}`)).catch((err) => {
      throw isNotFound(err) ? new ContentNotFoundError(uploadId) : err;
    });
    const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    if (manifest.v !== 1 || manifest.end !== end) throw new Error(`upload ${uploadId}: unreadable manifest at ${end}`);
    return manifest;
  }

  /** Deletes everything under uploads/<id>/, aborting multipart uploads whose segment never completed; session last. */
  private async cleanup(uploadId: string): Promise<void> {
    const prefix = this.uploadKey(uploadId, '');
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of res.Contents ?? []) keys.push(object.Key!);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    const present = new Set(keys);
    for (const key of keys) {
      const marker = /^mpu\/([^/]+)\/([^/]+)$/.exec(key.slice(prefix.length));
      if (!marker || present.has(`${prefix}seg/${marker[1]}`)) continue;
      await this.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.bucket,
            Key: `${prefix}seg/${marker[1]}`,
            UploadId: Buffer.from(marker[2], 'base64url').toString(),
          }),
        )
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
    }
    const session = `${prefix}session`;
    await this.deleteKeys(keys.filter((k) => k !== session));
    if (present.has(session)) await this.deleteKeys([session]);
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} object(s), first ${failed[0].Key}: ${failed[0].Code}`);
    }
  }

  private async getBytes(key: string, start?: number, length?: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const res = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Range: start !== undefined && length !== undefined ? `bytes=${start}-${start + length - 1}` : undefined,
      }),
    );
    return Buffer.from(await res.Body!.transformToByteArray());
  }

  private async exists(key: string): Promise<boolean> {
    return (await this.objectSize(key)) !== null;
  }

  private async objectSize(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private blobKey(digest: string): string {
    const match = SAFE_DIGEST.exec(digest);
    if (!match) throw new ContentNotFoundError(digest);
    return `${this.prefix}blobs/${match[1]}/${match[2]}`;
  }

  /** With an empty id: the prefix of every staged copy of `digest`. */
  private stagingKey(stagingId: string, digest: string): string {
    if (stagingId !== '' && !SAFE_ID.test(stagingId)) throw new ContentNotFoundError(stagingId);
    const match = SAFE_DIGEST.exec(digest);
    if (!match) throw new ContentNotFoundError(digest);
    return `${this.prefix}staging/${match[1]}/${match[2]}/${stagingId}`;
  }

  private uploadKey(uploadId: string, rest: string): string {
    if (!SAFE_ID.test(uploadId)) throw new ContentNotFoundError(uploadId);
    return `${this.prefix}uploads/${uploadId}/${rest}`;
  }
}

/** The first `size` bytes of a chain; `whole` when no segment had to be cut. */
function cutChain(segments: Segment[], size: number): { segments: Segment[]; whole: boolean } {
  const out: Segment[] = [];
  let whole = true;
  let position = 0;
  for (const segment of segments) {
    if (position >= size) break;
    if (segment.start !== position) throw new Error(`segment chain has a gap at byte ${position}`);
    const length = Math.min(segment.length, size - position);
    if (length < segment.length) whole = false;
    out.push({ ...segment, length });
    position += length;
  }
  if (position < size) throw new ContentNotFoundError(`upload bytes up to ${size}`);
  return { segments: out, whole };
}

function pad(n: number): string {
  return String(n).padStart(OFFSET_DIGITS, '0');
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function checksumFor(digest: string): { ChecksumSHA256?: string } {
  const [algorithm, hex] = digest.split(':');
  return algorithm === 'sha256' ? { ChecksumSHA256: Buffer.from(hex, 'hex').toString('base64') } : {};
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404;
}
