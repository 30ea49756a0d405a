/**
 * LmdbMetadataStore's image scan records (ImageScanStore in ports.ts): one key per image
 * (`scan <repo> <digest>`), beside the manifest like `pulled`, so that a put neither loses nor carries
 * it. Each write is one write transaction that checks the manifest (or the record, which exists only
 * with its manifest) first; a push writes the record in its own transaction (startScanOnPut), a
 * manifest's delete removes it in its own (manifests.ts), and it goes with the repository (repositories.ts).
 * A finish and a findings update record their SCAN change (ECR's `ECR Image Scan`) in the outbox in
 * the same transaction, with the image's tags read in it.
 */
import type { RootDatabase } from 'lmdb';
import type {
  FinishScanResult,
  ImageFindingsUpdate,
  ImageScanPage,
  ImageScanRecord,
  ImageScanResult,
  ListedImageScan,
  StartScanResult,
  UpdateFindingsResult,
} from '../../../core/scanning/scan-records';
import {
  checkedGeneration,
  checkedLimit,
  checkedResult,
  checkedUpdate,
  decideStart,
  DEFAULT_SCAN_PAGE,
  finishedRecord,
  finishRefusal,
  readScanCursor,
  rematchable,
  scanCursor,
  scanStartedOnPush,
  scanTime,
  updatedRecord,
  updateRefusal,
} from '../../image-scans';
import { scanChange } from '../../image-changes';
import { HIGH, key, prefix, storable, suffixes } from './keys';
import { record } from './outbox';

export const scanKey = (repository: string, digest: string) => key('scan', repository, digest);

/**
 * Must run inside the put's write transaction, with whether the manifest was stored before it
 * (PutManifestOptions.scan): a new image's scan starts; a stored one's only when it has no record.
 */
export function startScanOnPut(db: RootDatabase, repository: string, digest: string, startedAt: string, existed: boolean): void {
  const k = scanKey(repository, digest);
  if (existed && db.doesExist(k)) return;
  db.put(k, scanStartedOnPush(digest, startedAt));
}

export async function startScan(db: RootDatabase, repository: string, digest: string, at: string, options: { manual?: boolean } = {}): Promise<StartScanResult> {
  const startedAt = scanTime(at, 'at');
  const k = scanKey(repository, digest);
  const manifestKey = key('manifest', repository, digest);
  if (!storable(k) || !storable(manifestKey)) return { ok: false, reason: 'unknown' };
  return db.transaction((): StartScanResult => {
    if (!db.doesExist(manifestKey)) return { ok: false, reason: 'unknown' };
    const decision = decideStart(digest, db.get(k) as ImageScanRecord | undefined, startedAt, options.manual === true);
    if (decision.ok) db.put(k, decision.scan);
    return decision;
  });
}

export async function finishScan(db: RootDatabase, repository: string, digest: string, result: ImageScanResult, options: { expectedStartedAt: string }): Promise<FinishScanResult> {
  const expected = scanTime(options.expectedStartedAt, 'expectedStartedAt');
  const checked = checkedResult(result);
  const k = scanKey(repository, digest);
  if (!storable(k)) return { ok: false, reason: 'unknown' };
  return db.transaction((): FinishScanResult => {
    const stored = db.get(k) as ImageScanRecord | undefined;
    const refusal = finishRefusal(stored, expected);
    if (refusal || !stored) return refusal ?? { ok: false, reason: 'unknown' };
    const next = finishedRecord(stored, checked);
    db.put(k, next);
    recordScanChange(db, repository, next);
    return { ok: true, scan: next };
  });
}

export async function updateFindings(
  db: RootDatabase,
  repository: string,
  digest: string,
  update: ImageFindingsUpdate,
  options: { expectedGeneration: number },
): Promise<UpdateFindingsResult> {
  const checked = checkedUpdate(update);
  const expectedGeneration = checkedGeneration(options.expectedGeneration);
  const k = scanKey(repository, digest);
  if (!storable(k)) return { ok: false, reason: 'unknown' };
  return db.transaction((): UpdateFindingsResult => {
    const stored = db.get(k) as ImageScanRecord | undefined;
    const refusal = updateRefusal(stored, checked, expectedGeneration);
    if (refusal || !stored) return refusal ?? { ok: false, reason: 'unknown' };
    const next = updatedRecord(stored, checked);
    db.put(k, next);
    recordScanChange(db, repository, next);
    return { ok: true, scan: next };
  });
}

/** Must run inside the write transaction that wrote `scan`: its SCAN change, with the image's tags as they are in it. */
function recordScanChange(db: RootDatabase, repository: string, scan: ImageScanRecord): void {
  const tagsOf = prefix('tagsof', repository, scan.digest);
  // A prefix too long for a key has no tag under it.
  record(db, [scanChange(repository, scan, storable(tagsOf) ? suffixes(db, tagsOf, Infinity) : [])]);
}

export async function getScan(db: RootDatabase, repository: string, digest: string): Promise<ImageScanRecord | null> {
  const k = scanKey(repository, digest);
  return storable(k) ? ((db.get(k) as ImageScanRecord | undefined) ?? null) : null;
}

/** Every record from one read transaction. */
export async function getScans(db: RootDatabase, repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>> {
  const out = new Map<string, ImageScanRecord>();
  const transaction = db.useReadTransaction();
  try {
    for (const digest of digests) {
      const k = scanKey(repository, digest);
      const record = storable(k) ? (db.get(k, { transaction }) as ImageScanRecord | undefined) : undefined;
      if (record !== undefined) out.set(digest, record);
    }
    return out;
  } finally {
    transaction.done();
  }
}

/** One range over every repository's `scan` keys (byte order of repository, then digest), from the cursor's on. */
export async function listScansSince(db: RootDatabase, since: Date, cursor?: string, limit: number = DEFAULT_SCAN_PAGE): Promise<ImageScanPage> {
  const from = since.toISOString();
  checkedLimit(limit);
  const start = prefix('scan');
  const after = cursor !== undefined ? readScanCursor(cursor) : undefined;
  const first = after ? scanKey(after.repository, after.digest) : start;
  if (!storable(first)) throw new RangeError('not a cursor of listScansSince');
  const items: ListedImageScan[] = [];
  for (const { key: k, value } of db.getRange({ start: first, end: start + HIGH })) {
    if (after && k === first) continue;
    const record = value as ImageScanRecord;
    // The key's parts after `scan`: the repository, then the digest (neither holds the separator).
    const rest = String(k).slice(start.length);
    const repository = rest.slice(0, rest.length - record.digest.length - 1);
    if (!rematchable(record, from)) continue;
    items.push({ repository, ...record });
    if (items.length === limit) return { items, cursor: scanCursor(repository, record.digest) };
  }
  return { items };
}
