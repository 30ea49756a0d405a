/**
 * The destination's side of replication as a contract: Berth's three actions on the destination's ECR
 * JSON endpoint (`POST /`, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<name>`, AWS JSON 1.1,
 * SigV4 with the replicator's own identity), which the source's replicator calls and
 * lambdas/http/ecr-actions/replicate.ts answers (notes: docs/replication.md, "The destination's side").
 *
 * All three are authorized as `ecr:ReplicateImage` on the destination repository's ARN, an action IAM
 * and ECR policies already name: a principal of another account needs the destination's registry (or
 * repository) policy to allow it, one of the destination's own account only its identity policies.
 * A call that must create the repository also needs `ecr:CreateRepository` on it.
 *
 * Every call is idempotent: the replicator retries any of them after a failure or a crash.
 */

export const BERTH_REPLICATE_BLOB = 'BerthReplicateBlob';
export const BERTH_REPLICATE_IMAGE = 'BerthReplicateImage';
export const BERTH_REPLICATE_DELETE = 'BerthReplicateDelete';

export const REPLICATION_ACTION_NAMES = [BERTH_REPLICATE_BLOB, BERTH_REPLICATE_IMAGE, BERTH_REPLICATE_DELETE] as const;
export type ReplicationActionName = (typeof REPLICATION_ACTION_NAMES)[number];

/** The IAM action the three are authorized as. */
export const REPLICATION_IAM_ACTION = 'ecr:ReplicateImage';
/** The one more a call needs when the repository does not exist at the destination yet. */
export const REPLICATION_CREATE_IAM_ACTION = 'ecr:CreateRepository';

/**
 * The exception a BerthReplicateBlob answers when the destination could not fetch the blob from the
 * URL it was given (refused connection, timeout, an answer other than 200, a body cut short), with HTTP
 * 400 as every refusal of the catalogue: tell it by its name (`__type`, `x-amzn-ErrorType`). Nothing was
 * stored; the replicator retries, with a fresh URL if the old one may have expired.
 */
export const BLOB_SOURCE_UNAVAILABLE_EXCEPTION = 'BerthBlobSourceUnavailableException';
/**
 * What BerthReplicateDelete answers while an index of the destination repository still names the
 * image (BatchDeleteImage's failure code ImageReferencedByManifestList): nothing changed; the index's
 * own deletion, replicated before or after, lets a retry succeed.
 */
export const IMAGE_REFERENCED_EXCEPTION = 'BerthImageReferencedByManifestListException';

/** Members every call carries. */
interface ReplicationCall {
  /** The destination registry's account; when given, must be the destination's. */
  registryId?: string;
  repositoryName: string;
  /** The region the source replicates from: `source-region` of the destination's event (the caller's word for it). */
  sourceRegion: string;
}

export interface ReplicateBlobInput extends ReplicationCall {
  digest: string;
  /** Bytes; the fetched body must have exactly this many. */
  size: number;
  /** Where the destination fetches the bytes, without credentials of its own: a presigned S3 URL, or the source's download-token URL (GetDownloadUrlForLayer's). */
  url: string;
}

export type ReplicateBlobResult =
  /** The repository linked the blob already (the link is renewed, so the collector leaves it for a grace period). */
  | 'PRESENT'
  /** Fetched, its digest and size checked, stored and linked through the registry's upload path. */
  | 'COPIED'
  /**
   * Larger than the destination's fetch limit: nothing fetched; an upload session was opened as the
   * data plane's `POST /v2/<name>/blobs/uploads/` opens one, and `uploadUrl` is its Location. The
   * caller sends the bytes there itself (a monolithic `PUT <uploadUrl>&digest=<digest>`), then calls
   * again and must get PRESENT.
   */
  | 'UPLOAD';

export interface ReplicateBlobOutput {
  registryId: string;
  repositoryName: string;
  digest: string;
  result: ReplicateBlobResult;
  /** With UPLOAD only: the session's absolute URL on the destination's ingest service, its upload token in the query. */
  uploadUrl?: string;
}

/**
 * The largest blob a destination with an ingest service fetches itself; a larger one is answered
 * UPLOAD. On AWS the fetch runs inside one API Gateway request, cut at 29 s whatever the registry
 * function does, while the same bytes are also written to the bucket. 128 MiB asks for about
 * 4.4 MiB/s end to end: in-region S3 serves a single Lambda stream at tens of MiB/s, and a
 * cross-region GET (the usual case, the source's bucket being in another region) rarely drops below
 * 10 MiB/s, which still leaves the fetch about half the budget. Above it the ingest service (no time
 * limit) takes the bytes. A deployment without an ingest service, and local mode, fetch every blob.
 */
export const REPLICATION_FETCH_LIMIT_BYTES = 128 * 1024 * 1024;
/** The registry function's environment variable that overrides REPLICATION_FETCH_LIMIT_BYTES (bytes, 0 or more; the emulated mode reads its own process's). */
export const REPLICATION_FETCH_LIMIT_ENV = 'REPLICATION_FETCH_LIMIT_BYTES';

/** The fetch limit the environment sets, or the default; a value that is not a whole number of bytes is refused. */
export function replicationFetchLimitFromEnv(env: Record<string, string | undefined>): number {
  const text = env[REPLICATION_FETCH_LIMIT_ENV];
  if (text === undefined || text === '') return REPLICATION_FETCH_LIMIT_BYTES;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new Error(`${REPLICATION_FETCH_LIMIT_ENV} must be a whole number of bytes (0 or more), got ${JSON.stringify(text)}`);
  }
  return value;
}

export interface ReplicateImageInput extends ReplicationCall {
  /** The manifest as the source stores it (UTF-8 JSON text: it round-trips byte for byte, so the digest stays the source's). */
  imageManifest: string;
  imageManifestMediaType: string;
  imageTag?: string;
  /** The digest the source knows the manifest by; when given, the manifest must have it (ImageDigestDoesNotMatchException). */
  imageDigest?: string;
}

/** Why a replica stayed untagged although a tag was asked for: ECR's rule, an immutable tag at the destination names another image. */
export const IMAGE_TAG_ALREADY_EXISTS = 'IMAGE_TAG_ALREADY_EXISTS';

export interface ReplicateImageOutput {
  registryId: string;
  repositoryName: string;
  /** `imageTag` only when the replica was tagged. */
  imageId: { imageDigest: string; imageTag?: string };
  tagged: boolean;
  /** Present when a tag was asked for and not set. */
  reason?: typeof IMAGE_TAG_ALREADY_EXISTS;
}

export interface ReplicateDeleteInput extends ReplicationCall {
  imageDigest: string;
  /** With a tag: remove it, only while it names imageDigest (the image goes with its last tag). Without: delete the image by digest with its referrers. */
  imageTag?: string;
}

export type ReplicateDeleteResult = 'DELETED' | 'ABSENT';

export interface ReplicateDeleteOutput {
  registryId: string;
  repositoryName: string;
  result: ReplicateDeleteResult;
}
