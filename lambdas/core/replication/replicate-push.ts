/**
 * Replicating one pushed image to one destination, in the order that keeps the destination whole
 * whatever fails and whenever the replicator dies (docs/replication.md): the blobs the destination
 * lacks, then the manifests an index needs (children before the index), then the image with its tag.
 * The destination's own putManifest refuses a manifest whose blobs or children it lacks, so no tag
 * there ever names an incomplete image; every step is idempotent, so a retry starts again from the
 * top and skips what is there. Referrers are pushes of their own and replicate with their own events.
 *
 * The destination is a port (ReplicationTarget): Berth's replication actions on the destination's ECR
 * JSON endpoint, authorized there as `ecr:ReplicateImage` (lambdas/contracts/replication-actions.ts).
 */
import type { StoredManifest } from '../model';

/** The destination, as the replicator drives it. Every call is idempotent. */
export interface ReplicationTarget {
  /**
   * Makes the destination hold and link the blob, fetching it from `url` when it lacks it; a blob too
   * large for it to fetch within one request gets `{ upload }` instead, an upload session for uploadBlob.
   */
  replicateBlob(request: ReplicateBlobRequest): Promise<'PRESENT' | 'COPIED' | { upload: string }>;
  /** Streams the blob from `sourceUrl` into the upload session `uploadUrl`, whose end verifies the digest and links it. */
  uploadBlob(request: { uploadUrl: string; sourceUrl: string; digest: string; size: number }): Promise<void>;
  /** Stores the manifest (untagged when `tag` is absent, or when an immutable tag there names another image). */
  replicateImage(request: { repository: string; manifest: Uint8Array; mediaType: string; tag?: string; sourceRegion: string }): Promise<{ digest: string; tagged: boolean; reason?: string }>;
  /** Removes the tag (only while it names `digest`) or, without a tag, the image. */
  replicateDelete(request: { repository: string; digest: string; tag?: string; sourceRegion: string }): Promise<'DELETED' | 'ABSENT'>;
}

export interface ReplicateBlobRequest {
  repository: string;
  digest: string;
  size: number;
  url: string;
  sourceRegion: string;
}

/** What the replicator reads at the source. */
export interface ReplicationSource {
  getManifest(repository: string, digest: string): Promise<StoredManifest | null>;
  /** A manifest body kept outside the metadata store. */
  readManifestBody(repository: string, digest: string): Promise<Uint8Array>;
  /** The size of a blob the repository links, or null. */
  blobSize(repository: string, digest: string): Promise<number | null>;
  /** A URL the destination can fetch the blob from without credentials, for a while (presigned S3, or a download-token URL). */
  blobUrl(repository: string, digest: string): Promise<string>;
  /** The digest a tag names now, or null. */
  resolveTag(repository: string, tag: string): Promise<string | null>;
}

export type PushReplication =
  /** `tagMoved`: the tag names another image at the source now (or none), so the replica was stored untagged. */
  | { ok: true; digest: string; tagged: boolean; reason?: string; tagMoved?: boolean; blobsCopied: number }
  /** The image is gone at the source (deleted since its push): nothing to replicate. */
  | { ok: false; reason: 'gone' };

/** Indexes nest at most this deep (an index of indexes of manifests is as deep as registries go). */
const MAX_DEPTH = 4;

export async function replicatePush(
  source: ReplicationSource,
  target: ReplicationTarget,
  change: { repository: string; digest: string; tag?: string },
  sourceRegion: string,
): Promise<PushReplication> {
  const { repository } = change;
  const manifest = await source.getManifest(repository, change.digest);
  if (!manifest) return { ok: false, reason: 'gone' };
  const counts = { blobsCopied: 0 };
  const copied = new Set<string>();

  let tagMoved = false;
  async function replicateManifest(m: StoredManifest, tag: string | undefined, depth: number): Promise<{ digest: string; tagged: boolean; reason?: string }> {
    for (const blob of m.blobs) {
      if (copied.has(blob)) continue;
      const size = await source.blobSize(repository, blob);
      if (size === null) throw new Error(`the source no longer links blob ${blob} of ${repository}@${m.digest}`);
      const request = { repository, digest: blob, size, url: await source.blobUrl(repository, blob), sourceRegion };
      const result = await target.replicateBlob(request);
      if (typeof result === 'object') await uploadThrough(target, result.upload, request);
      copied.add(blob);
      if (result !== 'PRESENT') counts.blobsCopied++;
    }
    for (const childDigest of m.children) {
      if (depth >= MAX_DEPTH) throw new Error(`${repository}@${m.digest} nests indexes deeper than ${MAX_DEPTH}`);
      const child = await source.getManifest(repository, childDigest);
      if (!child) throw new Error(`the source no longer holds ${repository}@${childDigest}, a child of ${m.digest}`);
      await replicateManifest(child, undefined, depth + 1);
    }
    const body = m.body ?? (await source.readManifestBody(repository, m.digest));
    // Jobs of one image may run out of order (SQS): a push whose tag was moved or removed since must not
    // put it back. Read just before the tag is sent, so that only a change after this read can race it,
    // and that change's own job (a later push, or a delete) carries the tag to where it is then.
    if (tag !== undefined && (await source.resolveTag(repository, tag)) !== m.digest) {
      tagMoved = true;
      tag = undefined;
    }
    return target.replicateImage({ repository, manifest: body, mediaType: m.mediaType, ...(tag !== undefined ? { tag } : {}), sourceRegion });
  }

  const stored = await replicateManifest(manifest, change.tag, 0);
  return { ok: true, ...stored, ...(tagMoved ? { tagMoved } : {}), blobsCopied: counts.blobsCopied };
}

/**
 * The bytes of a blob the destination would not fetch itself go through the replicator into the
 * session it opened; asked again, the destination must then link it, or the attempt failed.
 */
async function uploadThrough(target: ReplicationTarget, uploadUrl: string, request: ReplicateBlobRequest): Promise<void> {
  await target.uploadBlob({ uploadUrl, sourceUrl: request.url, digest: request.digest, size: request.size });
  const after = await target.replicateBlob(request);
  if (after !== 'PRESENT') {
    throw new Error(`the destination does not link ${request.repository}@${request.digest} after its upload: it answered ${typeof after === 'object' ? 'UPLOAD' : after}`);
  }
}
