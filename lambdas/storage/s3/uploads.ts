/**
 * S3BlobStore's uploads (docs/storage.md, "S3 blob store"): each append writes segments and a
 * chain manifest for its end; a commit assembles the chain under the digest's key server-side.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import type { ByteStream } from '../../core/model';
import { ContentNotFoundError } from '../errors';
import { checksumFor, copySource, deleteKeys, exists, getBytes, isNotFound, type BucketContext } from './bucket';
import { blobKey, uploadKey } from './keys';
import { segmentKey, writeSegments, type Segment } from './segments';
import { chainFor, cutChain, getManifest, listManifests, manifestKey, putManifest } from './chains';

/** Largest object a single CopyObject may copy. */
const COPY_OBJECT_MAX = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Concurrent UploadPartCopy requests while assembling a large blob. */
const COPY_CONCURRENCY = 8;

export async function startUpload(ctx: BucketContext, uploadId: string): Promise<void> {
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: uploadKey(ctx.prefix, uploadId, 'session'),
      Body: Buffer.from(JSON.stringify({ v: 1, partSize: ctx.partSize, startedAt: new Date().toISOString() })),
      ContentType: 'application/json',
    }),
  );
}

export async function appendUpload(ctx: BucketContext, uploadId: string, offset: number, data: ByteStream): Promise<number> {
  // Manifests ending at or after `offset`: the first gives the chain; those past `offset` are stale.
  const manifests = await listManifests(ctx, uploadId, offset);
  const stale = manifests.filter((m) => m.end > offset);
  let chain: Segment[] = [];
  if (offset === 0) {
    if (!(await exists(ctx, uploadKey(ctx.prefix, uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
  } else {
    if (manifests.length === 0) {
      if (!(await exists(ctx, uploadKey(ctx.prefix, uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
      throw new Error(`upload ${uploadId}: no bytes recorded up to offset ${offset}`);
    }
    chain = cutChain((await getManifest(ctx, uploadId, manifests[0].end)).segments, offset).segments;
  }
  if (stale.length > 0) await deleteKeys(ctx, stale.map((m) => manifestKey(ctx, uploadId, m.end)));

  // Carry a short trailing segment forward so that every segment but the last stays >= partSize.
  let carried: Buffer | undefined;
  let start = offset;
  const last = chain[chain.length - 1];
  if (last && last.length < ctx.partSize) {
    carried = await getBytes(ctx, segmentKey(ctx, uploadId, last), 0, last.length);
    chain = chain.slice(0, -1);
    start = last.start;
  }
  const written = await writeSegments(ctx, uploadId, start, carried, data);
  const segments = [...chain, ...written];
  const end = segments.length === 0 ? 0 : segments[segments.length - 1].start + segments[segments.length - 1].length;
  if (end < offset) throw new Error(`upload ${uploadId}: segments end at ${end}, before offset ${offset}`);
  await putManifest(ctx, uploadId, end, segments);
  return end;
}

export async function readUpload(ctx: BucketContext, uploadId: string, size: number): Promise<ByteStream> {
  if (size === 0) return (async function* () {})();
  const { segments: chain } = await chainFor(ctx, uploadId, size);
  return (async function* () {
    for (const segment of chain) {
      const res = await ctx.client.send(
        new GetObjectCommand({
          Bucket: ctx.bucket,
          Key: segmentKey(ctx, uploadId, segment),
          Range: `bytes=0-${segment.length - 1}`,
        }),
      );
      yield* res.Body as unknown as AsyncIterable<Uint8Array>;
    }
  })();
}

export async function commitUpload(ctx: BucketContext, uploadId: string, digest: string, size: number): Promise<void> {
  const target = blobKey(ctx.prefix, digest);
  if (await exists(ctx, target)) {
    await cleanup(ctx, uploadId);
    return;
  }
  let chain: Segment[] = [];
  let whole = true;
  if (size === 0) {
    if (!(await exists(ctx, uploadKey(ctx.prefix, uploadId, 'session')))) throw new ContentNotFoundError(uploadId);
  } else {
    ({ segments: chain, whole } = await chainFor(ctx, uploadId, size));
  }
  const segKey = (s: Segment) => segmentKey(ctx, uploadId, s);

  if (size <= ctx.partSize) {
    // Small: one PutObject, which S3 checks against the digest (sha256) before storing it.
    const parts = await Promise.all(chain.map((s) => getBytes(ctx, segKey(s), 0, s.length)));
    const body = Buffer.concat(parts, size);
    await ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: target, Body: body, ContentLength: size, ...checksumFor(digest) }));
  } else if (chain.length === 1 && whole && size <= COPY_OBJECT_MAX) {
    // The usual single-stream push: the segment is the blob; one server-side copy.
    await ctx.client.send(new CopyObjectCommand({ Bucket: ctx.bucket, Key: target, CopySource: copySource(ctx.bucket, segKey(chain[0])) }));
  } else {
    await assemble(ctx, target, chain.map((s) => ({ key: segKey(s), length: s.length })));
  }
  await cleanup(ctx, uploadId);
}

/** Copies the pieces into `target` as one multipart upload of UploadPartCopy parts; the object appears at Complete. */
async function assemble(ctx: BucketContext, target: string, pieces: { key: string; length: number }[]): Promise<void> {
  const { client, bucket } = ctx;
  if (pieces.length > MAX_PARTS) throw new Error(`cannot assemble ${pieces.length} segments: S3 allows ${MAX_PARTS} parts`);
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: target }));
  const mpuId = created.UploadId!;
  try {
    const parts: CompletedPart[] = new Array(pieces.length);
    let next = 0;
    const worker = async () => {
      while (next < pieces.length) {
        const i = next++;
        const res = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: target,
            UploadId: mpuId,
            PartNumber: i + 1,
            CopySource: copySource(bucket, pieces[i].key),
            CopySourceRange: `bytes=0-${pieces[i].length - 1}`,
          }),
        );
        parts[i] = { PartNumber: i + 1, ETag: res.CopyPartResult?.ETag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, pieces.length) }, worker));
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId: mpuId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId: mpuId })).catch(() => undefined);
    throw err;
  }
}

/** Deletes everything under uploads/<id>/, aborting multipart uploads whose segment never completed; session last. */
export async function cleanup(ctx: BucketContext, uploadId: string): Promise<void> {
  const prefix = uploadKey(ctx.prefix, uploadId, '');
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of res.Contents ?? []) keys.push(object.Key!);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  const present = new Set(keys);
  for (const key of keys) {
    const marker = /^mpu\/([^/]+)\/([^/]+)$/.exec(key.slice(prefix.length));
    if (!marker || present.has(`${prefix}seg/${marker[1]}`)) continue;
    await ctx.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: ctx.bucket,
          Key: `${prefix}seg/${marker[1]}`,
          UploadId: Buffer.from(marker[2], 'base64url').toString(),
        }),
      )
      .catch((err) => {
        if (!isNotFound(err)) throw err;
      });
  }
  const session = `${prefix}session`;
  await deleteKeys(ctx, keys.filter((k) => k !== session));
  if (present.has(session)) await deleteKeys(ctx, [session]);
}
