/**
 * What both metadata adapters decide the same way about image scan records (ImageScanStore in
 * ports.ts): the input checks (thrown before anything is written), whether a start is taken, the
 * record a start, a finish or a findings update makes, and the cursor of listScansSince. Each adapter
 * only reads, writes and makes the write conditional on what it read.
 */
import {
  ECR_SEVERITIES,
  MANUAL_SCAN_INTERVAL_MS,
  noFindings,
  type FinishScanResult,
  type ImageFindingsUpdate,
  type ImageScanRecord,
  type ImageScanResult,
  type SeverityCounts,
  type StartScanResult,
  type UpdateFindingsResult,
} from '../core/scanning/scan-records';

const FINISHED = new Set(['COMPLETE', 'FAILED', 'UNSUPPORTED_IMAGE']);

/** An ISO time in the one form stored, so that stored times compare as strings; throws RangeError for one that is not a time. */
export function scanTime(value: string, what: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new RangeError(`${what} is not an ISO 8601 time: ${String(value)}`);
  return new Date(ms).toISOString();
}

/** Every level, each a whole number from 0; throws RangeError otherwise. */
export function severityCounts(given: SeverityCounts | undefined): SeverityCounts {
  const counts = noFindings();
  if (given === undefined) return counts;
  for (const [level, n] of Object.entries(given)) {
    if (!(ECR_SEVERITIES as readonly string[]).includes(level)) throw new RangeError(`unknown severity level ${level}`);
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`the count of ${level} findings must be a whole number from 0: ${String(n)}`);
    counts[level as keyof SeverityCounts] = n;
  }
  return counts;
}

function reference(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new RangeError(`${what} must be a non-empty string`);
  return value;
}

/** The record a push's scan starts as (PutManifestOptions.scan): the first of its image. */
export function scanStartedOnPush(digest: string, startedAt: string): ImageScanRecord {
  return { digest, status: 'IN_PROGRESS', startedAt, severityCounts: noFindings(), generation: 1 };
}

/**
 * Whether a start at `at` (normalised) is taken over `stored`, and the record it writes: IN_PROGRESS
 * without findings, `manualScanAt` kept or (manual) set, the generation raised.
 */
export function decideStart(digest: string, stored: ImageScanRecord | undefined, at: string, manual: boolean): StartScanResult {
  if (stored !== undefined) {
    if (manual && Date.parse(at) - Date.parse(stored.startedAt) < MANUAL_SCAN_INTERVAL_MS) return { ok: false, reason: 'limit-exceeded', startedAt: stored.startedAt };
    if (stored.startedAt >= at) return { ok: false, reason: 'superseded', startedAt: stored.startedAt };
  }
  const manualScanAt = manual ? at : stored?.manualScanAt;
  return {
    ok: true,
    scan: {
      digest,
      status: 'IN_PROGRESS',
      startedAt: at,
      severityCounts: noFindings(),
      ...(manualScanAt !== undefined ? { manualScanAt } : {}),
      generation: (stored?.generation ?? 0) + 1,
    },
  };
}

/** The result checked and normalised; throws RangeError for a status that is no end or a bad time or count. */
export function checkedResult(result: ImageScanResult): ImageScanResult {
  if (!FINISHED.has(result.status)) throw new RangeError(`a scan ends COMPLETE, FAILED or UNSUPPORTED_IMAGE, not ${String(result.status)}`);
  if (result.description !== undefined && typeof result.description !== 'string') throw new RangeError('description must be a string');
  const vulnerabilitySourceUpdatedAt = result.vulnerabilitySourceUpdatedAt !== undefined ? scanTime(result.vulnerabilitySourceUpdatedAt, 'vulnerabilitySourceUpdatedAt') : undefined;
  const findingsRef = reference(result.findingsRef, 'findingsRef');
  const inventoryRef = reference(result.inventoryRef, 'inventoryRef');
  const sbomDigest = reference(result.sbomDigest, 'sbomDigest');
  return {
    status: result.status,
    ...(result.description !== undefined ? { description: result.description } : {}),
    completedAt: scanTime(result.completedAt, 'completedAt'),
    ...(vulnerabilitySourceUpdatedAt !== undefined ? { vulnerabilitySourceUpdatedAt } : {}),
    severityCounts: severityCounts(result.severityCounts),
    ...(findingsRef !== undefined ? { findingsRef } : {}),
    ...(inventoryRef !== undefined ? { inventoryRef } : {}),
    ...(sbomDigest !== undefined ? { sbomDigest } : {}),
  };
}

/** Why a finish of the scan started at `expectedStartedAt` does not apply to `stored`, or undefined when it does. */
export function finishRefusal(stored: ImageScanRecord | undefined, expectedStartedAt: string): Extract<FinishScanResult, { ok: false }> | undefined {
  if (stored === undefined) return { ok: false, reason: 'unknown' };
  if (stored.startedAt !== expectedStartedAt) return { ok: false, reason: 'superseded' };
  if (stored.status !== 'IN_PROGRESS') return { ok: false, reason: 'finished' };
  return undefined;
}

/** The finished record: the scan's identity (digest, start, manual start) kept, the rest from the (checked) result. */
export function finishedRecord(stored: ImageScanRecord, result: ImageScanResult): ImageScanRecord {
  return {
    digest: stored.digest,
    ...result,
    severityCounts: result.severityCounts ?? noFindings(),
    startedAt: stored.startedAt,
    ...(stored.manualScanAt !== undefined ? { manualScanAt: stored.manualScanAt } : {}),
    generation: stored.generation + 1,
  };
}

/** The update checked and normalised; throws RangeError for a bad time, count or reference. */
export function checkedUpdate(update: ImageFindingsUpdate): ImageFindingsUpdate {
  return {
    findingsRef: reference(update.findingsRef, 'findingsRef') ?? '',
    severityCounts: severityCounts(update.severityCounts),
    vulnerabilitySourceUpdatedAt: scanTime(update.vulnerabilitySourceUpdatedAt, 'vulnerabilitySourceUpdatedAt'),
    completedAt: scanTime(update.completedAt, 'completedAt'),
  };
}

export function checkedGeneration(generation: number): number {
  if (!Number.isSafeInteger(generation) || generation < 1) throw new RangeError(`expectedGeneration must be a whole number from 1: ${String(generation)}`);
  return generation;
}

/** Why a findings update does not apply to `stored`, or undefined when it does. */
export function updateRefusal(stored: ImageScanRecord | undefined, update: ImageFindingsUpdate, expectedGeneration: number): Extract<UpdateFindingsResult, { ok: false }> | undefined {
  if (stored === undefined) return { ok: false, reason: 'unknown' };
  if (stored.generation !== expectedGeneration) return { ok: false, reason: 'stale' };
  if (stored.status === 'IN_PROGRESS' || stored.inventoryRef === undefined) return { ok: false, reason: 'no-inventory' };
  if (stored.vulnerabilitySourceUpdatedAt !== undefined && stored.vulnerabilitySourceUpdatedAt > update.vulnerabilitySourceUpdatedAt) return { ok: false, reason: 'stale' };
  return undefined;
}

/** A finished scan with an inventory matched again: COMPLETE with the new findings (a FAILED one's description goes). */
export function updatedRecord(stored: ImageScanRecord, update: ImageFindingsUpdate): ImageScanRecord {
  const { description: _description, ...rest } = stored;
  return { ...rest, ...update, status: 'COMPLETE', generation: stored.generation + 1 };
}

/** Whether listScansSince lists the record: a finished scan that stored an inventory, started at or after `since` (ISO). */
export const rematchable = (record: ImageScanRecord, since: string): boolean => record.status !== 'IN_PROGRESS' && record.inventoryRef !== undefined && record.startedAt >= since;

export const DEFAULT_SCAN_PAGE = 100;

export function checkedLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a whole number from 1: ${String(limit)}`);
  return limit;
}

/** A listScansSince cursor: the last record looked at, as (repository, digest). Opaque to callers. */
export function scanCursor(repository: string, digest: string): string {
  return Buffer.from(JSON.stringify([repository, digest])).toString('base64url');
}

/** The position a cursor names; throws RangeError for one this store did not give. */
export function readScanCursor(cursor: string): { repository: string; digest: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') return { repository: parsed[0], digest: parsed[1] };
  } catch {
    // Not JSON: answered below.
  }
  throw new RangeError('not a cursor of listScansSince');
}
