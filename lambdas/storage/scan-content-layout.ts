/**
 * Where scan content lives (ScanContentStore): the layout S3ScanContent and FilesystemScanContent
 * share, and the checks that keep a name, a digest or a reference from leaving it.
 */
import { isValidRepositoryName } from '../core/names';
import type { ScanContentKind } from '../core/scanning/scan-content';
import { SAFE_DIGEST } from './s3/keys';

//
//   scans/<repository>/<digest>/<kind>-<scanId>.json.gz
//
// The repository keeps its `/`s: its components never hold a `:` (core/names.ts), the digest always
// does, so the first component with one ends the repository and `scans/<repository>/<digest>/` is
// one image's and no other's (`a/sha256:…/` never lies under `a/b/…`, nor the other way). The same
// relative key is the reference answered, in a data directory (`<data-dir>/scans/…`) and in the
// bucket (`<prefix>scans/…`) alike, so content copied from one to the other reads the same.

/** The prefix of scan content, relative to the data directory or the registry's key prefix. */
export const SCANS_PREFIX = 'scans/';
/** Every kind (a record, so that a kind added to ScanContentKind must be added here). */
const SCAN_CONTENT_KINDS = Object.keys({ findings: true, inventory: true } satisfies Record<ScanContentKind, true>);
/** A scan id: the scan's start (an ISO time) or a rematch's generation; never a path separator, never a leading dot. */
const SCAN_ID_GRAMMAR = '[A-Za-z0-9][A-Za-z0-9._:-]{0,127}';
const SCAN_ID = new RegExp(`^${SCAN_ID_GRAMMAR}$`);
const SCAN_FILE = new RegExp(`^(?:${SCAN_CONTENT_KINDS.join('|')})-${SCAN_ID_GRAMMAR}\\.json\\.gz$`);
const MAX_REF_LENGTH = 1024;

/** `scans/<repository>/<digest>/`: the prefix of one image's scan content; throws RangeError for a name or digest that could not be one. */
export function scanImagePrefix(repository: string, digest: string): string {
  if (typeof repository !== 'string' || !isValidRepositoryName(repository)) throw new RangeError(`not a repository name: ${quote(repository)}`);
  if (typeof digest !== 'string' || !SAFE_DIGEST.test(digest)) throw new RangeError(`not an image digest (sha256:<64 hex> or sha512:<128 hex>): ${quote(digest)}`);
  return `${SCANS_PREFIX}${repository}/${digest}/`;
}

/** The file name of one kind of content of one scan; throws RangeError for a kind or scan id that could not be one. */
export function scanContentFileName(kind: string, scanId: string): string {
  if (!SCAN_CONTENT_KINDS.includes(kind)) throw new RangeError(`not a kind of scan content (${SCAN_CONTENT_KINDS.join(', ')}): ${quote(kind)}`);
  if (typeof scanId !== 'string' || !SCAN_ID.test(scanId)) {
    throw new RangeError(`not a scan id (letters, digits and . _ : -, starting with a letter or digit, at most 128): ${quote(scanId)}`);
  }
  return `${kind}-${scanId}.json.gz`;
}

/** Whether a name found under an image's prefix is scan content (not a temporary file or a stranger's). */
export function isScanContentFileName(name: string): boolean {
  return SCAN_FILE.test(name);
}

/**
 * The image and file a reference names (a key `scanImagePrefix` + `scanContentFileName` make); throws
 * RangeError for anything else, before it becomes a path or a key: `..`, another prefix, a temporary file.
 */
export function parseScanContentRef(ref: string): { repository: string; digest: string; file: string } {
  const refused = () => new RangeError(`not a scan content reference (scans/<repository>/<digest>/<kind>-<scan id>.json.gz): ${quote(ref)}`);
  if (typeof ref !== 'string' || ref.length > MAX_REF_LENGTH || !ref.startsWith(SCANS_PREFIX)) throw refused();
  const parts = ref.slice(SCANS_PREFIX.length).split('/');
  if (parts.length < 3) throw refused();
  const file = parts[parts.length - 1];
  const digest = parts[parts.length - 2];
  const repository = parts.slice(0, -2).join('/');
  if (!isValidRepositoryName(repository) || !SAFE_DIGEST.test(digest) || !SCAN_FILE.test(file)) throw refused();
  return { repository, digest, file };
}

function quote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 300 ? `${value.slice(0, 300)}…` : value) : String(value);
}
