/**
 * An upload's chain manifests (docs/storage.md, "S3 blob store"): `uploads/<id>/at/<end>` names
 * the ordered segments that hold the bytes [0, end), so every manifest that exists describes a
 * prefix of the upload's current bytes.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ContentNotFoundError } from '../errors';
import { getBytes, isNotFound, type BucketContext } from './bucket';
import { pad, uploadKey } from './keys';
import type { Segment } from './segments';

interface Manifest {
  v: 1;
  end: number;
  segments: Segment[];
}

export function manifestKey(ctx: BucketContext, uploadId: string, end: number): string {
  return uploadKey(ctx.prefix, uploadId, `at/${pad(end)}`);
}

/** Writes the manifest of `segments`, which end at `end`. */
export async function putManifest(ctx: BucketContext, uploadId: string, end: number, segments: Segment[]): Promise<void> {
  const manifest: Manifest = { v: 1, end, segments };
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: manifestKey(ctx, uploadId, end),
      Body: Buffer.from(JSON.stringify(manifest)),
      ContentType: 'application/json',
    }),
  );
}

/** The segment chain holding the first `size` bytes, or ContentNotFoundError. */
export async function chainFor(ctx: BucketContext, uploadId: string, size: number): Promise<{ segments: Segment[]; whole: boolean }> {
  let manifest = await getManifest(ctx, uploadId, size).catch((err) => {
    if (err instanceof ContentNotFoundError) return undefined;
    throw err;
  });
  if (!manifest) {
    const longer = await listManifests(ctx, uploadId, size, 1);
    if (longer.length === 0) throw new ContentNotFoundError(uploadId);
    manifest = await getManifest(ctx, uploadId, longer[0].end);
  }
  return cutChain(manifest.segments, size);
}

/** Manifests whose end is >= `from`, in order. */
export async function listManifests(ctx: BucketContext, uploadId: string, from: number, limit = Infinity): Promise<{ end: number }[]> {
  const prefix = uploadKey(ctx.prefix, uploadId, 'at/');
  const found: { end: number }[] = [];
  let token: string | undefined;
  do {
    const res = await ctx.client.send(
      new ListObjectsV2Command({
        Bucket: ctx.bucket,
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

export async function getManifest(ctx: BucketContext, uploadId: string, end: number): Promise<Manifest> {
  const bytes = await getBytes(ctx, manifestKey(ctx, uploadId, end)).catch((err) => {
    throw isNotFound(err) ? new ContentNotFoundError(uploadId) : err;
  });
  const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  if (manifest.v !== 1 || manifest.end !== end) throw new Error(`upload ${uploadId}: unreadable manifest at ${end}`);
  return manifest;
}

/** The first `size` bytes of a chain; `whole` when no segment had to be cut. */
export function cutChain(segments: Segment[], size: number): { segments: Segment[]; whole: boolean } {
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
