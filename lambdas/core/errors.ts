/**
 * The one catalogue of registry errors. Every failure a client can cause maps to an
 * entry here; the HTTP layer renders it as the OCI error body
 * `{"errors":[{"code","message","detail"}]}` with the entry's status.
 *
 * Codes are the OCI Distribution Spec's (plus TAG_INVALID and PAGINATION_NUMBER_INVALID,
 * which Docker clients know from distribution/distribution). Several entries share a spec
 * code but differ in status, because the spec fixes codes, not every situation.
 */
export const ERROR_CATALOGUE = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry' },
  BLOB_IN_USE: { code: 'DENIED', status: 409, message: 'blob is still referenced by manifests' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid' },
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'manifest is larger than the registry accepts' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry' },
  MANIFEST_IN_USE: { code: 'DENIED', status: 409, message: 'manifest is still referenced by an image index' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { code: 'TAG_INVALID', status: 400, message: 'invalid tag' },
  TAG_IMMUTABLE: { code: 'TAG_INVALID', status: 400, message: 'tag is immutable' },
  CHUNK_OUT_OF_ORDER: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'chunk does not start where the upload ends' },
  RANGE_NOT_SATISFIABLE: { code: 'SIZE_INVALID', status: 416, message: 'requested range is not satisfiable' },
  CHUNK_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'request body is larger than this endpoint accepts' },
  BLOB_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'blob is larger than the registry accepts' },
  PAGINATION_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405, message: 'the operation is unsupported' },
  NOT_FOUND: { code: 'NOT_FOUND', status: 404, message: 'no such route' },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests' },
  INTERNAL: { code: 'UNKNOWN', status: 500, message: 'internal server error' },
} as const;

export type ErrorKind = keyof typeof ERROR_CATALOGUE;

/** A failure the client caused (or may retry), carrying what the renderer needs. */
export class RegistryError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers, such as the current `Range` on a 416. */
  readonly headers: Record<string, string>;

  constructor(kind: ErrorKind, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    const entry = ERROR_CATALOGUE[kind];
    super(message ?? entry.message);
    this.name = 'RegistryError';
    this.kind = kind;
    this.code = entry.code;
    this.status = entry.status;
    this.detail = detail;
    this.headers = headers;
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
