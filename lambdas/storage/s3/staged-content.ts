/**
 * Large manifest bodies staged by one push, `staging/<algorithm>/<hex>/<staging id>` (docs/storage.md,
 * "S3 blob store"): deleted when the push is refused, copied to blobs/ and deleted once committed.
 */
import { CopyObjectCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ContentNotFoundError } from '../errors';
import { checksumFor, copySource, exists, getBytes, isNotFound, type BucketContext } from './bucket';
import { blobKey, stagingKey } from './keys';

export async function stageContent(ctx: BucketContext, stagingId: string, digest: string, bytes: Uint8Array): Promise<void> {
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: stagingKey(ctx.prefix, stagingId, digest),
      Body: bytes,
      ContentLength: bytes.length,
      ...checksumFor(digest),
    }),
  );
}

export async function promoteStagedContent(ctx: BucketContext, stagingId: string, digest: string): Promise<void> {
  const staged = stagingKey(ctx.prefix, stagingId, digest);
  const target = blobKey(ctx.prefix, digest);
  if (!(await exists(ctx, target))) {
    try {
      const copied = await ctx.client.send(
        new CopyObjectCommand({
          Bucket: ctx.bucket,
          Key: target,
          CopySource: copySource(ctx.bucket, staged),
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
      if (!(await exists(ctx, target))) throw new ContentNotFoundError(digest);
    }
  }
  await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: staged }));
}

export async function discardStagedContent(ctx: BucketContext, stagingId: string, digest: string): Promise<void> {
  await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: stagingKey(ctx.prefix, stagingId, digest) }));
}

export async function readStagedContent(ctx: BucketContext, digest: string): Promise<{ stagingId: string; bytes: Uint8Array } | null> {
  const prefix = stagingKey(ctx.prefix, '', digest);
  const listed = await ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, MaxKeys: 10 }));
  for (const { Key } of listed.Contents ?? []) {
    try {
      return { stagingId: Key!.slice(prefix.length), bytes: await getBytes(ctx, Key!) };
    } catch (err) {
      // Promoted (or discarded) since the listing: try the next.
      if (!isNotFound(err)) throw err;
    }
  }
  return null;
}
