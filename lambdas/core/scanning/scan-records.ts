/**
 * An image's scan as the registry records it (ImageScanStore in lambdas/storage/ports.ts; docs/scanning.md,
 * docs/storage.md "Image scan records"): one record per repository and image digest, what
 * DescribeImageScanFindings and DescribeImages answer from. The findings and the package inventory
 * are not in it (thousands of findings exceed a DynamoDB item): the scanner stores them as content and
 * the record holds their references.
 */
import type { EcrSeverity } from './model';

/** ECR's scan statuses that basic scanning reports (`imageScanStatus.status`). */
export type ImageScanStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED' | 'UNSUPPORTED_IMAGE';

/** How a scan ended. */
export type FinishedScanStatus = Exclude<ImageScanStatus, 'IN_PROGRESS'>;

/** Findings per ECR severity level; every level present (0 when none). */
export type SeverityCounts = Record<EcrSeverity, number>;

export const ECR_SEVERITIES: readonly EcrSeverity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];

/**
 * StartImageScan starts a scan of an image at most once in this time, counted from the image's last
 * scan start, the scan on push included (as ECR documents); matching again after new vulnerability
 * data is no start and does not count.
 */
export const MANUAL_SCAN_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Every level at 0 (a scan in progress, or one that found nothing). */
export function noFindings(): SeverityCounts {
  return { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 };
}

/** One image's scan record. Times are ISO 8601 as `Date.prototype.toISOString` writes them. */
export interface ImageScanRecord {
  digest: string;
  status: ImageScanStatus;
  /** ECR's `imageScanStatus.description` (why a scan failed or the image is unsupported). */
  description?: string;
  /**
   * When the current scan started: with the push (scan on push), or by StartImageScan. It names the
   * scan: a finish applies only to the scan it was started as. StartImageScan's 24 hours run from it.
   */
  startedAt: string;
  /** `imageScanCompletedAt`: when the scan, or the last match against new vulnerability data, ended. */
  completedAt?: string;
  /** The age of the vulnerability data the findings come from. */
  vulnerabilitySourceUpdatedAt?: string;
  /** `findingSeverityCounts`. */
  severityCounts: SeverityCounts;
  /** Where the findings (JSON, ScanFinding[]) are stored: the scanner's reference, opaque here. */
  findingsRef?: string;
  /** Where the package inventory is stored, so the image can be matched again without reading its layers. */
  inventoryRef?: string;
  /** The digest of the SBOM referrer made for the image. */
  sbomDigest?: string;
  /** The last StartImageScan that was accepted. */
  manualScanAt?: string;
  /**
   * Raised by every write of the record (a start, a finish, a findings update): updateFindings is
   * conditional on it, so a match computed from a record that changed since is refused.
   */
  generation: number;
}

/** How a scan ended, as the scanner reports it (finishScan). */
export interface ImageScanResult {
  status: FinishedScanStatus;
  description?: string;
  completedAt: string;
  vulnerabilitySourceUpdatedAt?: string;
  /** @default every level 0 */
  severityCounts?: SeverityCounts;
  findingsRef?: string;
  inventoryRef?: string;
  sbomDigest?: string;
}

/** The findings of a completed scan matched again against new vulnerability data (updateFindings). */
export interface ImageFindingsUpdate {
  findingsRef: string;
  severityCounts: SeverityCounts;
  vulnerabilitySourceUpdatedAt: string;
  completedAt: string;
}

/** A scan record with its repository (listScansSince). */
export interface ListedImageScan extends ImageScanRecord {
  repository: string;
}

// What ImageScanStore (lambdas/storage/ports.ts) answers.

export type StartScanResult =
  | { ok: true; scan: ImageScanRecord }
  /** No such image (or repository): nothing is written. */
  | { ok: false; reason: 'unknown' }
  /** A manual start within MANUAL_SCAN_INTERVAL_MS of the image's last scan start (`startedAt`): ECR's LimitExceededException. */
  | { ok: false; reason: 'limit-exceeded'; startedAt: string }
  /** A scan started at or after `at` is recorded (`startedAt`): it stays. */
  | { ok: false; reason: 'superseded'; startedAt: string };

export type FinishScanResult =
  | { ok: true; scan: ImageScanRecord }
  /** `unknown`: no scan record (the image is gone); `superseded`: another scan started since; `finished`: this scan ended already. */
  | { ok: false; reason: 'unknown' | 'superseded' | 'finished' };

export type UpdateFindingsResult =
  | { ok: true; scan: ImageScanRecord }
  /** `stale`: the record changed since it was read (its generation), or holds findings from newer data; `no-inventory`: no finished scan that stored an inventory. */
  | { ok: false; reason: 'unknown' | 'stale' | 'no-inventory' };

export interface ImageScanPage {
  items: ListedImageScan[];
  /** Present when more may follow: pass it to the next call. A page may be short, even empty, while more follow. */
  cursor?: string;
}
