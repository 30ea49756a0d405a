/**
 * The image changes the metadata adapters record in their outbox (ChangeOutbox in ports.ts), built in
 * one place so that both adapters record the same changes for the same write.
 */
import { randomUUID } from 'node:crypto';
import type { ChangeInitiator, ImageChange, ReplicatedFrom } from '../contracts/events';
import type { ImageStorageClass, ManifestRecord } from '../core/model';

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

function initiator(initiatedBy: ChangeInitiator | undefined): { initiatedBy?: ChangeInitiator } {
  return initiatedBy !== undefined ? { initiatedBy } : {};
}

/** Only the marks, and of the source only its two fields: callers may pass their whole options object. */
function deleteMarks(marks: DeleteMarks): DeleteMarks {
  const from = marks.replicatedFrom;
  return { ...initiator(marks.initiatedBy), ...(from !== undefined ? { replicatedFrom: { account: from.account, region: from.region } } : {}) };
}
