/**
 * The storage roles of managing images over time (part of the metadata port, ports.ts's MetadataStore):
 * ECR's archive state, replication statuses, image scan records; and the vulnerability data the
 * scanner matches against, a port of its own. Re-exported by ports.ts: import them from there.
 */
import type { ImageStorageClass, ReplicationDestination, ReplicationStatus, ReplicationStatusRecord, StoredManifest } from '../core/model';
import type { ChangeInitiator } from '../contracts/events';
import type {
  FinishScanResult,
  ImageFindingsUpdate,
  ImageScanPage,
  ImageScanRecord,
  ImageScanResult,
  StartScanResult,
  UpdateFindingsResult,
} from '../core/scanning/scan-records';
import type { ScanContentKind } from '../core/scanning/scan-content';

export type StorageClassUpdate =
  | { ok: true; manifest: StoredManifest; changed: boolean }
  | { ok: false; reason: 'unknown' };

/** ECR's archive state (docs/lifecycle.md, "The archive state"). The bytes stay where they are. */
export interface ImageStorageClassStore {
  /**
   * Moves a manifest to `target` at `at` (ISO): to ARCHIVE sets `storageClass` and `lastArchivedAt`, to
   * STANDARD clears `storageClass` and sets `lastActivatedAt`; recorded in the outbox (one
   * UPDATE_STORAGE_CLASS, with `initiatedBy`) in the same transaction. Already in `target`: nothing
   * changes and nothing is recorded (`changed: false`). Every read after it (getManifest,
   * getTaggedManifest, listManifests) sees the new state. Answers the manifest's record as it now is.
   */
  setImageStorageClass(repository: string, digest: string, target: ImageStorageClass, at: string, options?: { initiatedBy?: ChangeInitiator }): Promise<StorageClassUpdate>;
}

/**
 * Where each image's replication stands, per destination (DescribeImageReplicationStatus;
 * docs/replication.md). Kept beside the image in its repository, and deleted with the repository.
 */
export interface ReplicationStatusStore {
  /**
   * Records the status of the replication of `digest` to `destination`, only while the manifest exists
   * and only if the status stored for that destination has an older `updatedAt` (or there is none), in
   * one conditional write: a COMPLETE or FAILED of an earlier push that lands after the IN_PROGRESS of
   * a newer push of the same digest never hides it. True when it wrote.
   */
  setReplicationStatus(repository: string, digest: string, destination: ReplicationDestination, status: ReplicationStatus): Promise<boolean>;
  /**
   * The stored statuses of `digest` in `repository`, one per destination, in byte order of region then
   * registryId. Those of a deleted manifest may remain until it is pushed again (which writes anew) or
   * its repository is deleted; readers ask only about images that exist.
   */
  getReplicationStatuses(repository: string, digest: string): Promise<ReplicationStatusRecord[]>;
}

export type { FinishScanResult, ImageScanPage, StartScanResult, UpdateFindingsResult } from '../core/scanning/scan-records';

/**
 * Image scan records (DescribeImageScanFindings, DescribeImages' scan status and summary;
 * docs/storage.md "Image scan records"): one per image, beside it in its repository. Written only while
 * the image exists, deleted with it (in its delete's transaction) and with its repository, so a record
 * never outlives its image. Times are stored as `toISOString()` writes them; a time that is not one, a
 * count that is not a whole number from 0, or a finish as IN_PROGRESS is refused (thrown) before
 * anything is written.
 */
export interface ImageScanStore {
  /**
   * Starts a scan of the image at `at`: the record becomes IN_PROGRESS from `at`, without findings, its
   * generation raised, in one write conditional on the image existing and on the record read. Refused
   * when a start at or after `at` is recorded (the later of two starts wins), and with `manual`
   * (StartImageScan) within MANUAL_SCAN_INTERVAL_MS of the last start of any kind (the scan on push
   * included, as ECR counts it); a manual start also sets `manualScanAt`.
   */
  startScan(repository: string, digest: string, at: string, options?: { manual?: boolean }): Promise<StartScanResult>;
  /**
   * Ends the scan started at `expectedStartedAt`, only while it is the image's scan and in progress, and
   * records its SCAN change (ECR's `ECR Image Scan`, whatever the status it ends with) in the outbox in the
   * same transaction: `tags` the image's tags at that commit (read by the adapter in the transaction, or
   * made conditions of it), the event id derived from the record written (scanChange in image-changes.ts),
   * so a finish tried again is the same event. A refused finish records nothing.
   */
  finishScan(repository: string, digest: string, result: ImageScanResult, options: { expectedStartedAt: string }): Promise<FinishScanResult>;
  getScan(repository: string, digest: string): Promise<ImageScanRecord | null>;
  /** The records of those of `digests` that have one, by digest (DescribeImages' page). */
  getScans(repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>>;
  /**
   * Finished scans that stored an inventory (`inventoryRef`) and started at or after `since`, in every
   * repository, in byte order of repository then digest, up to `limit` (default 100) a page: the images
   * to match again when vulnerability data changes.
   */
  listScansSince(since: Date, cursor?: string, limit?: number): Promise<ImageScanPage>;
  /**
   * Replaces the findings of a finished scan that stored an inventory with those of a new match (no
   * layer read: not a start, so the 24 hours do not renew): the record becomes COMPLETE (a scan that
   * FAILED for want of vulnerability data included), only while its generation is `expectedGeneration`
   * and its findings are not from newer vulnerability data. Records a SCAN change as finishScan does,
   * one per update that lands; a refused update records nothing.
   */
  updateFindings(repository: string, digest: string, update: ImageFindingsUpdate, options: { expectedGeneration: number }): Promise<UpdateFindingsResult>;
}

/** One ecosystem's vulnerability data as published (what `berth vulndb status` lists). */
export interface VulnerabilityEcosystemInfo {
  /** The OSV ecosystem: `Debian:12`, `Alpine:v3.19`, `npm`, or a bare `Debian` (every release). */
  ecosystem: string;
  /** The import that wrote its file: an ecosystem not imported again keeps its generation, and readers their cached copy. */
  generation: string;
  /** The latest `modified` of its records (ECR's vulnerabilitySourceUpdatedAt). */
  sourceUpdatedAt: string;
  importedAt: string;
  recordCount: number;
  /** Bytes stored (gzipped JSON). */
  size: number;
}

/** The published vulnerability data: one small pointer document naming every ecosystem's file. */
export interface VulnerabilityDataGeneration {
  generation: string;
  publishedAt: string;
  ecosystems: VulnerabilityEcosystemInfo[];
}

/**
 * The vulnerability data the scanner matches against (core/scanning/vulndb/). An import writes its
 * ecosystems' files under a new generation nobody reads, then publishes it by replacing the pointer in
 * one atomic write, so a reader sees all of an import or none of it. Ecosystems an import does not
 * carry stay as they were. What the replaced pointer named and the new one does not is removed after
 * the switch (best effort); a reader that still held the old pointer finds its file gone (null) and
 * reads the pointer again. Generations are opaque ids from `startImport`, so an import can be driven
 * across requests (the bytes uploaded elsewhere, then published).
 */
export interface VulnerabilityDataStore {
  /** A new, empty generation for one import. */
  startImport(): Promise<string>;
  /** Stores one ecosystem's compiled data (gzipped JSON) in an unpublished generation. */
  putEcosystem(generation: string, ecosystem: string, compiled: Uint8Array): Promise<void>;
  /** Makes the generation's ecosystems current, each put before; throws when one was not. */
  publishImport(generation: string, ecosystems: ReadonlyArray<Omit<VulnerabilityEcosystemInfo, 'generation' | 'size'>>): Promise<VulnerabilityDataGeneration>;
  /** Removes an unpublished generation (an import that failed); a published one is left alone. */
  discardImport(generation: string): Promise<void>;
  /** The published data, or null before the first import. */
  currentGeneration(): Promise<VulnerabilityDataGeneration | null>;
  /** The file of an ecosystem as `generation` (its VulnerabilityEcosystemInfo's) wrote it, or null when it is gone. */
  readEcosystem(generation: string, ecosystem: string): Promise<Uint8Array | null>;
}

/**
 * A scan's content (core/scanning/scan-content.ts): its findings and its inventory, gzipped JSON, kept
 * outside the metadata store (thousands of findings exceed a DynamoDB item) and outside what the
 * garbage collector lists. The scan record names them by the reference `putScanContent` answers.
 */
export interface ScanContentStore {
  /**
   * Stores one kind of content of one scan of the image (`scanId` tells two scans of the same image
   * apart: the scan's start, or a rematch's generation), atomically: readable whole or not at all.
   * Answers its reference. Storing the same scan's content again replaces it.
   */
  putScanContent(repository: string, digest: string, kind: ScanContentKind, scanId: string, bytes: Uint8Array): Promise<string>;
  /** The content a reference names, or null when it is gone. */
  readScanContent(ref: string): Promise<Uint8Array | null>;
  /** Removes every scan content of the image except `keep` (references); missing content is no error. */
  deleteScanContent(repository: string, digest: string, keep?: readonly string[]): Promise<void>;
}
