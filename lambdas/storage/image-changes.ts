/**
 * The image changes the metadata adapters record in their outbox (ChangeOutbox in ports.ts), built in
 * one place so that both adapters record the same changes for the same write.
 */
import { randomUUID } from 'node:crypto';
import type { ImageChange } from '../contracts/events';

/** A manifest put: one PUSH, naming the tag the put named. */
export function pushChange(repository: string, digest: string, tag: string | undefined, time = new Date()): ImageChange {
  return { action: 'PUSH', repository, digest, ...(tag !== undefined ? { tag } : {}), eventId: randomUUID(), time: time.toISOString() };
}

/** Tags removed from a manifest that stays: one DELETE per tag. */
export function untagChanges(repository: string, digest: string, tags: readonly string[], time = new Date()): ImageChange[] {
  return tags.map((tag) => ({ action: 'DELETE', repository, digest, tag, eventId: randomUUID(), time: time.toISOString() }));
}

/** A manifest deleted: one DELETE per tag it had, or one without a tag when it had none. */
export function imageDeleteChanges(repository: string, digest: string, tags: readonly string[], time = new Date()): ImageChange[] {
  if (tags.length > 0) return untagChanges(repository, digest, tags, time);
  return [{ action: 'DELETE', repository, digest, eventId: randomUUID(), time: time.toISOString() }];
}
