/**
 * How a replicator reads a failed call to a destination (EcrReplicationTarget): whether trying again
 * can change the answer, and the failure code DescribeImageReplicationStatus shows once it gives up
 * (docs/replication.md, "DescribeImageReplicationStatus"). Shared by every replicator, so that local
 * mode and AWS give up on the same refusals with the same codes.
 */
import { EcrJsonCallError } from './ecr-json-call';
import { BlobUploadError } from './replication-upload';

/** A network failure (refused, reset, timed out, DNS) through the retries: the destination never answered. */
export const DESTINATION_UNREACHABLE = 'DESTINATION_UNREACHABLE';
/** A failure of the replicator's own side (the source could not read what it replicates, a destination missing from configuration). */
export const INTERNAL_ERROR = 'INTERNAL_ERROR';

/**
 * 4xx refusals that a retry from the top can still turn into success: throttling; the source's blob URL
 * failing (a fresh URL is signed); and the destination's own state moving between two calls of one
 * attempt (its collector took a blob copied a moment before; an index still names a child whose delete
 * arrived first), which the next attempt's calls put right.
 */
const RETRIED_REFUSALS = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'BerthBlobSourceUnavailableException',
  'LayersNotFoundException',
  'ReferencedImagesNotFoundException',
  'BerthImageReferencedByManifestListException',
]);

export interface ReplicationFailure {
  /** ImageReplicationStatus `failureCode`: the destination's exception name, DESTINATION_UNREACHABLE or INTERNAL_ERROR. */
  code: string;
  /** Retrying cannot change it (the destination refused: AccessDeniedException, InvalidParameterException, ...). */
  permanent: boolean;
}

/** Socket and DNS codes (a file's ENOENT or EACCES at the source is no network failure), and undici's own. */
const NETWORK_CODE = /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EHOSTUNREACH|EHOSTDOWN|ENETUNREACH|ENETDOWN|ENOTFOUND|EAI_AGAIN|EPIPE|UND_ERR_[A-Z_]+)$/;

/** By shape, not `instanceof`: fetch's errors and DOMException may come from another realm. */
function isNetworkError(error: unknown): boolean {
  let e = error as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; typeof e === 'object' && e !== null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
    // undici's fetch: TypeError('fetch failed') whose cause carries the socket's code.
    if (e.name === 'TypeError' && e.message === 'fetch failed') return true;
    if (typeof e.code === 'string' && NETWORK_CODE.test(e.code)) return true;
  }
  return false;
}

export function replicationFailureOf(error: unknown): ReplicationFailure {
  // A large blob sent to the destination's ingest service: every failure is retried (the next attempt
  // opens a fresh session and signs a fresh source URL). A refusal is named by its OCI code (DIGEST_INVALID).
  if (error instanceof BlobUploadError) {
    if (error.side === 'source') return { code: INTERNAL_ERROR, permanent: false };
    if (error.answer) return { code: error.answer.code ?? `HTTP${error.answer.status}`, permanent: false };
    return { code: isNetworkError(error.cause) ? DESTINATION_UNREACHABLE : INTERNAL_ERROR, permanent: false };
  }
  if (error instanceof EcrJsonCallError) {
    const refusal = error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
    return { code: error.type, permanent: refusal && !RETRIED_REFUSALS.has(error.type) };
  }
  return { code: isNetworkError(error) ? DESTINATION_UNREACHABLE : INTERNAL_ERROR, permanent: false };
}
