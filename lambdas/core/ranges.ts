import { RegistryError } from './errors';

/** An inclusive byte range, as HTTP and the OCI spec write it. */
export interface InclusiveRange {
  start: number;
  end: number;
}

/** `Range` header value describing what an upload holds so far (`0-0` when empty, as distribution answers). */
export function uploadRangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

/**
 * Parses an upload chunk's `Content-Range` (`start-end`, inclusive; `bytes=` and `bytes `
 * prefixes tolerated because some tools send them).
 */
export function parseContentRange(value: string): InclusiveRange {
  const match = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(value.trim());
  if (!match) throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range must be "<start>-<end>" (inclusive byte offsets)', { contentRange: value.slice(0, 64) });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range end is before its start', { contentRange: value });
  return { start, end };
}

/**
 * Parses a blob GET's `Range` header against the blob's size. Returns undefined for "the
 * whole blob": no header, a header that is not one `bytes=` range (RFC 9110 lets a server
 * ignore those, which serves a resuming client better than an error), or an empty blob.
 */
export function parseRequestedRange(value: string | undefined, size: number): InclusiveRange | undefined {
  if (value === undefined || size === 0) return undefined;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(value.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(size, 'empty suffix range');
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== '' && Number(last) < start)) throw unsatisfiable(size, 'range starts beyond the end of the blob');
  return { start, end };
}

function unsatisfiable(size: number, message: string): RegistryError {
  return new RegistryError('RANGE_NOT_SATISFIABLE', message, { size }, { 'Content-Range': `bytes */${size}` });
}
