/** The bucket S3BlobStore works in, and the object operations its parts share. */
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface BucketContext {
  client: S3Client;
  bucket: string;
  /** Prefix of every key: empty or ending in `/`. */
  prefix: string;
  /** Multipart part size while streaming, and the size under which a trailing segment is carried forward. */
  partSize: number;
}

export async function getBytes(ctx: BucketContext, key: string, start?: number, length?: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const res = await ctx.client.send(
    new GetObjectCommand({
      Bucket: ctx.bucket,
      Key: key,
      Range: start !== undefined && length !== undefined ? `bytes=${start}-${start + length - 1}` : undefined,
    }),
  );
  return Buffer.from(await res.Body!.transformToByteArray());
}

export async function exists(ctx: BucketContext, key: string): Promise<boolean> {
  return (await objectSize(ctx, key)) !== null;
}

async function objectSize(ctx: BucketContext, key: string): Promise<number | null> {
  try {
    const head = await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key }));
    return head.ContentLength ?? 0;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

export async function deleteKeys(ctx: BucketContext, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const res = await ctx.client.send(
      new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) throw new Error(`could not delete ${failed.length} object(s), first ${failed[0].Key}: ${failed[0].Code}`);
  }
}

export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The checksum S3 verifies a PutObject against, for sha256 digests (so S3 rejects other bytes). */
export function checksumFor(digest: string): { ChecksumSHA256?: string } {
  const [algorithm, hex] = digest.split(':');
  return algorithm === 'sha256' ? { ChecksumSHA256: Buffer.from(hex, 'hex').toString('base64') } : {};
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchUpload' || e?.$metadata?.httpStatusCode === 404;
}
