/**
 * The image changes the metadata adapters record in their outbox (ChangeOutbox in ports.ts), built in
 * one place so that both adapters record the same changes for the same write.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ChangeInitiator, ImageChange, ReplicatedFrom } from '../contracts/events';
import type { ImageStorageClass, ManifestRecord } from '../core/model';
import type { ImageScanRecord } from '../core/scanning/scan-records';

/** A manifest put: one PUSH, naming the tag the put named. */
export function pushChange(repository: string, digest: string, tag: string | undefined, time = new Date()): ImageChange {
  return { action: 'PUSH', repository, digest, ...(tag !== undefined ? { tag } : {}), eventId: randomUUID(), time: time.toISOString() };
}

/**
 * What a manifest put records: its PUSH and, when it stored a replica, the PUSH marked as one (so
 * replicators skip it) followed by the REPLICATE of ECR's `ECR Replication Action`, both in the put's
 * own transaction, with the tag the put set.
 */
export function manifestPutChanges(repository: string, digest: string, tag: string | undefined, time = new Date(), replicatedFrom?: ReplicatedFrom): ImageChange[] {
  const push = pushChange(repository, digest, tag, time);
  if (replicatedFrom === undefined) return [push];
  const from = { account: replicatedFrom.account, region: replicatedFrom.region };
  return [
    { ...push, replicatedFrom: from },
    { action: 'REPLICATE', repository, digest, ...(tag !== undefined ? { tag } : {}), eventId: randomUUID(), time: push.time, replicatedFrom: from },
  ];
}

/**
 * What marks a delete's DELETEs: `initiatedBy` when no client request made it (a lifecycle expiry),
 * `replicatedFrom` when it carries out a source's deletion (BerthReplicateDelete), so that
 * replicators skip it as they skip a replica's PUSH.
 */
export interface DeleteMarks {
  initiatedBy?: ChangeInitiator;
  replicatedFrom?: ReplicatedFrom;
}

/** Tags removed from a manifest that stays: one DELETE per tag. */
export function untagChanges(repository: string, digest: string, tags: readonly string[], time = new Date(), marks: DeleteMarks = {}): ImageChange[] {
  return tags.map((tag) => ({ action: 'DELETE', repository, digest, tag, eventId: randomUUID(), time: time.toISOString(), ...deleteMarks(marks) }));
}

/** A manifest deleted: one DELETE per tag it had, or one without a tag when it had none. */
export function imageDeleteChanges(repository: string, digest: string, tags: readonly string[], time = new Date(), marks: DeleteMarks = {}): ImageChange[] {
  if (tags.length > 0) return untagChanges(repository, digest, tags, time, marks);
  return [{ action: 'DELETE', repository, digest, eventId: randomUUID(), time: time.toISOString(), ...deleteMarks(marks) }];
}

/** A manifest moved to another storage class (archived, or restored to STANDARD at `time`): one UPDATE_STORAGE_CLASS. */
export function storageClassChange(
  repository: string,
  manifest: Pick<ManifestRecord, 'digest' | 'mediaType' | 'artifactType'>,
  target: ImageStorageClass,
  time = new Date(),
  initiatedBy?: ChangeInitiator,
): ImageChange {
  const at = time.toISOString();
  return {
    action: 'UPDATE_STORAGE_CLASS',
    repository,
    digest: manifest.digest,
    eventId: randomUUID(),
    time: at,
    storageClass: {
      target,
      mediaType: manifest.mediaType,
      ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
      ...(target === 'STANDARD' ? { activatedAt: at } : {}),
    },
    ...initiator(initiatedBy),
  };
}

/**
 * A scan record written by a finish or a findings update: one SCAN (ECR's `ECR Image Scan`) with the
 * record's status, its counts when COMPLETE, and `tags`, the image's tags as that write saw them. Its
 * event id derives from the record written (repository, digest, the scan's start, the record's
 * generation), never drawn at random: a write that is tried again is the same change under the same id,
 * and two writes of one record are impossible (each is conditional on the generation before it).
 */
export function scanChange(repository: string, scan: Pick<ImageScanRecord, 'digest' | 'status' | 'severityCounts' | 'startedAt' | 'generation'>, tags: readonly string[], time = new Date()): ImageChange {
  if (scan.status === 'IN_PROGRESS') throw new Error(`a scan in progress records no SCAN change (${repository}@${scan.digest})`);
  return {
    action: 'SCAN',
    repository,
    digest: scan.digest,
    eventId: scanEventId(repository, scan.digest, scan.startedAt, scan.generation),
    time: time.toISOString(),
    scanStatus: scan.status,
    ...(scan.status === 'COMPLETE' ? { severityCounts: { ...scan.severityCounts } } : {}),
    tags: [...tags],
  };
}

/** The event id of the scan record `generation` of the scan of `digest` started at `startedAt`: UUID-shaped (version 8, name-based), from SHA-256. */
export function scanEventId(repository: string, digest: string, startedAt: string, generation: number): string {
  const hex = createHash('sha256').update(JSON.stringify(['scan', repository, digest, startedAt, generation])).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function initiator(initiatedBy: ChangeInitiator | undefined): { initiatedBy?: ChangeInitiator } {
  return initiatedBy !== undefined ? { initiatedBy } : {};
}

/** Only the marks, and of the source only its two fields: callers may pass their whole options object. */
function deleteMarks(marks: DeleteMarks): DeleteMarks {
  const from = marks.replicatedFrom;
  return { ...initiator(marks.initiatedBy), ...(from !== undefined ? { replicatedFrom: { account: from.account, region: from.region } } : {}) };
}
