/**
 * S3BlobStore's listings for garbage collection: committed content under `blobs/`, and staged copies
 * under `staging/` left behind by pushes that stopped before their commit.
 */
import { DeleteObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { StoredContentInfo } from '../ports';
import type { BucketContext } from './bucket';
import { statBlob } from './content';

const DIGEST_KEY = /^blobs\/(sha256|sha512)\/([a-f0-9]{64}|[a-f0-9]{128})$/;
const STAGED_KEY = /^staging\/(sha256|sha512)\/([a-f0-9]{64}|[a-f0-9]{128})\/[A-Za-z0-9_-]{1,128}$/;

async function* objects(ctx: BucketContext, under: string): AsyncGenerator<NonNullable<ListObjectsV2CommandOutput['Contents']>[number]> {
  let token: string | undefined;
  do {
    const page = await ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: `${ctx.prefix}${under}`, ContinuationToken: token }));
    yield* page.Contents ?? [];
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

export async function* storedContent(ctx: BucketContext): AsyncGenerator<StoredContentInfo> {
  for await (const object of objects(ctx, 'blobs/')) {
    const match = DIGEST_KEY.exec((object.Key ?? '').slice(ctx.prefix.length));
    // Anything not named like content is not ours to judge.
    if (!match) continue;
    yield { digest: `${match[1]}:${match[2]}`, size: object.Size ?? 0, modifiedAt: object.LastModified?.getTime() ?? 0 };
  }
}

/**
 * Staged copies older than `before` whose digest is stored as content: a push that stopped before
 * its commit, or a move that copied and did not delete. A staged copy whose content is absent may be
 * a committed body's only copy (a crash between the commit and the move, which the next read
 * finishes), so it stays.
 */
export async function discardStaleStaging(ctx: BucketContext, before: number): Promise<number> {
  let removed = 0;
  for await (const object of objects(ctx, 'staging/')) {
    const match = STAGED_KEY.exec((object.Key ?? '').slice(ctx.prefix.length));
    if (!match || (object.LastModified?.getTime() ?? Infinity) >= before) continue;
    if ((await statBlob(ctx, `${match[1]}:${match[2]}`)) === null) continue;
    await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: object.Key }));
    removed++;
  }
  return removed;
}
