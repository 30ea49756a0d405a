/** S3BlobStore's key layout (docs/storage.md, "S3 blob store"): every key under the optional prefix. */
import { ContentNotFoundError } from '../errors';

/** Upload and staging ids a key may carry; anything else names nothing stored. */
export const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** A digest safe in a key or a path. */
export const SAFE_DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;
const OFFSET_DIGITS = 16;

/** `blobs/<algorithm>/<hex>`: committed content. */
export function blobKey(prefix: string, digest: string): string {
  const match = SAFE_DIGEST.exec(digest);
  if (!match) throw new ContentNotFoundError(digest);
  return `${prefix}blobs/${match[1]}/${match[2]}`;
}

/** `staging/<algorithm>/<hex>/<staging id>`; with an empty id: the prefix of every staged copy of `digest`. */
export function stagingKey(prefix: string, stagingId: string, digest: string): string {
  if (stagingId !== '' && !SAFE_ID.test(stagingId)) throw new ContentNotFoundError(stagingId);
  const match = SAFE_DIGEST.exec(digest);
  if (!match) throw new ContentNotFoundError(digest);
  return `${prefix}staging/${match[1]}/${match[2]}/${stagingId}`;
}

/** `uploads/<id>/<rest>`: an upload's session, segments, multipart markers and chain manifests. */
export function uploadKey(prefix: string, uploadId: string, rest: string): string {
  if (!SAFE_ID.test(uploadId)) throw new ContentNotFoundError(uploadId);
  return `${prefix}uploads/${uploadId}/${rest}`;
}

/** An offset as it appears in keys: zero-padded, so keys sort by offset. */
export function pad(n: number): string {
  return String(n).padStart(OFFSET_DIGITS, '0');
}

