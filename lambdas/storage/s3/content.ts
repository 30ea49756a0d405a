/** S3BlobStore's committed content, `blobs/<algorithm>/<hex>`: reads, presigned URLs, puts and deletes. */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteStream } from '../../core/model';
import type { ByteRange } from '../ports';
import { ContentNotFoundError } from '../errors';
import { checksumFor, isNotFound, type BucketContext } from './bucket';
import { blobKey } from './keys';

export async function statBlob(ctx: BucketContext, digest: string): Promise<{ size: number } | null> {
  try {
    const head = await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: blobKey(ctx.prefix, digest) }));
    return { size: head.ContentLength ?? 0 };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

export async function readBlob(ctx: BucketContext, digest: string, range?: ByteRange): Promise<ByteStream> {
  try {
    const res = await ctx.client.send(
      new GetObjectCommand({
        Bucket: ctx.bucket,
        Key: blobKey(ctx.prefix, digest),
        Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }),
    );
    return res.Body as unknown as ByteStream;
  } catch (err) {
    if (isNotFound(err)) throw new ContentNotFoundError(digest);
    throw err;
  }
}

/** A presigned GET, signed locally (no request), valid `ttlSeconds`. */
export async function blobRedirectUrl(ctx: BucketContext, digest: string, ttlSeconds: number): Promise<string> {
  return getSignedUrl(ctx.client, new GetObjectCommand({ Bucket: ctx.bucket, Key: blobKey(ctx.prefix, digest) }), { expiresIn: ttlSeconds });
}

export async function putContent(ctx: BucketContext, digest: string, bytes: Uint8Array): Promise<void> {
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: blobKey(ctx.prefix, digest),
      Body: bytes,
      ContentLength: bytes.length,
      ...checksumFor(digest),
    }),
  );
}

export async function deleteContent(ctx: BucketContext, digest: string): Promise<void> {
  await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: blobKey(ctx.prefix, digest) }));
}
