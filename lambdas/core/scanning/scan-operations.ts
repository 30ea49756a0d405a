/**
 * What the control plane does with image scans (ECR's StartImageScan, DescribeImageScanFindings and
 * the scan fields of DescribeImages; docs/scanning.md, "The scan actions"): reads an image's scan
 * record and the findings its `findingsRef` names, and starts a manual scan.
 *
 * A manual start is refused before anything is written for an image that cannot be scanned (an
 * image index, an artifact), for an archived image, and within MANUAL_SCAN_INTERVAL_MS of the image's
 * last start (the store's `limit-exceeded`). Otherwise the record becomes IN_PROGRESS from now and the
 * scanner is asked to run (`requestScan`). Without a scanner configured the record stays IN_PROGRESS
 * (the answer is as if the scan were queued), so a scanner that starts later must take up the records
 * left IN_PROGRESS.
 */
import type { ImageScanStore, ManifestStore, ScanContentStore } from '../../storage/ports';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { INDEX_TYPES } from '../media-types';
import type { ScanFinding } from './model';
import { decodeFindings } from './scan-content';
import type { ImageScanRecord } from './scan-records';

/** Config media types of container images (OCI and Docker): any other config, or a declared artifactType, makes an artifact. */
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

/** Asks the scanner to scan `repository@digest` as the scan started at `startedAt` (the start names the scan: finishScan's `expectedStartedAt`). */
export type RequestScan = (repository: string, digest: string, startedAt: string) => Promise<void> | void;

/** What the deployment gives the scan actions besides the metadata store. */
export interface ControlPlaneScanning {
  /** Where the scanner keeps findings (`readScanContent(findingsRef)`). @default none: a completed scan's findings cannot be read (a server error) */
  content?: Pick<ScanContentStore, 'readScanContent'>;
  /** Runs (or queues) a scan StartImageScan started. @default none: the record stays IN_PROGRESS until a scanner takes it up */
  requestScan?: RequestScan;
  /** Where a start the scanner could not take, or one with no scanner, is logged. @default silent */
  log?: Logger;
}

export type ImageScanOperationsStore = Pick<ImageScanStore, 'startScan' | 'getScan' | 'getScans'> & Pick<ManifestStore, 'getManifest'>;

export type ManualScanStart =
  | { ok: true; scan: ImageScanRecord }
  /** No such image. */
  | { ok: false; reason: 'unknown' }
  /** Archived (storage class ARCHIVE): restore it first. */
  | { ok: false; reason: 'archived' }
  /** Not a container image: an index (`kind: 'index'`, its platform images are scanned each) or an artifact; `mediaType` says which. */
  | { ok: false; reason: 'unsupported'; kind: 'index' | 'artifact'; mediaType: string }
  /** A scan started within MANUAL_SCAN_INTERVAL_MS (or at or after now): `startedAt` is its start. */
  | { ok: false; reason: 'limit-exceeded'; startedAt: string };

/** The findings of a record, or why they cannot be read. */
export type RecordFindings = { ok: true; findings: ScanFinding[] } | { ok: false; reason: 'no-content-store' | 'gone' };

export class ImageScanOperations {
  private readonly log: Logger;

  constructor(
    private readonly store: ImageScanOperationsStore,
    private readonly scanning: ControlPlaneScanning,
    private readonly now: () => Date,
  ) {
    this.log = scanning.log ?? silentLogger;
  }

  /** The image's scan record, or null when it was never scanned. */
  record(repository: string, digest: string): Promise<ImageScanRecord | null> {
    return this.store.getScan(repository, digest);
  }

  /** The records of those of `digests` that have one (one read for a page of DescribeImages). */
  records(repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>> {
    return digests.length === 0 ? Promise.resolve(new Map()) : this.store.getScans(repository, digests);
  }

  /**
   * The findings of a completed scan, in the stored order (DescribeImageScanFindings pages over them).
   * A record without `findingsRef` has none. The content may be replaced between reading the record
   * and reading it (a match against new vulnerability data): the caller reads the record again on `gone`.
   */
  async findings(record: ImageScanRecord): Promise<RecordFindings> {
    if (record.findingsRef === undefined) return { ok: true, findings: [] };
    if (!this.scanning.content) return { ok: false, reason: 'no-content-store' };
    const bytes = await this.scanning.content.readScanContent(record.findingsRef);
    if (bytes === null) return { ok: false, reason: 'gone' };
    return { ok: true, findings: decodeFindings(bytes).findings };
  }

  /** StartImageScan: checks the image, records the start (IN_PROGRESS from now) and asks the scanner to run. */
  async start(repository: string, digest: string): Promise<ManualScanStart> {
    const manifest = await this.store.getManifest(repository, digest);
    if (!manifest) return { ok: false, reason: 'unknown' };
    if (manifest.children.length > 0 || INDEX_TYPES.has(manifest.mediaType)) return { ok: false, reason: 'unsupported', kind: 'index', mediaType: manifest.mediaType };
    // A manifest's recorded artifactType is its declared one, else its config's media type (core/manifest.ts).
    if (manifest.artifactType !== undefined && !IMAGE_CONFIG_TYPES.has(manifest.artifactType)) {
      return { ok: false, reason: 'unsupported', kind: 'artifact', mediaType: manifest.artifactType };
    }
    if (manifest.storageClass === 'ARCHIVE') return { ok: false, reason: 'archived' };

    const at = this.now().toISOString();
    const started = await this.store.startScan(repository, digest, at, { manual: true });
    if (!started.ok) {
      if (started.reason === 'unknown') return { ok: false, reason: 'unknown' };
      // `superseded`: a start at or after now is recorded (a push's scan in the same millisecond), which the 24 hours cover too.
      return { ok: false, reason: 'limit-exceeded', startedAt: started.startedAt };
    }
    if (this.scanning.requestScan) {
      try {
        await this.scanning.requestScan(repository, digest, at);
      } catch (err) {
        // The record stays IN_PROGRESS (the 24 hours run from it): the scanner's own recovery must take it up.
        this.log.error('a started scan could not be handed to the scanner', { repository, digest, startedAt: at, error: err });
        throw err;
      }
    } else {
      this.log.warn('StartImageScan with no scanner configured: the scan stays IN_PROGRESS until one takes it up', { repository, digest, startedAt: at });
    }
    return started;
  }
}
