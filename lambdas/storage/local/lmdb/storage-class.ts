/**
 * LmdbMetadataStore's archive state (ImageStorageClassStore in ports.ts): kept under its own key per
 * manifest (`storageclass <repo> <digest>`), beside the manifest like `pulled`, so that a put, which
 * rewrites the manifest's key, neither loses nor has to carry it.
 */
import type { RootDatabase } from 'lmdb';
import type { ChangeInitiator } from '../../../contracts/events';
import type { ImageStorageClass, ManifestRecord, StoredManifest } from '../../../core/model';
import type { StorageClassUpdate } from '../../ports';
import { storageClassChange } from '../../image-changes';
import { key, storable, type ReadTransaction } from './keys';
import { record } from './outbox';

export type ArchiveState = Pick<ManifestRecord, 'storageClass' | 'lastArchivedAt' | 'lastActivatedAt'>;

export const archiveKey = (repository: string, digest: string) => key('storageclass', repository, digest);

/** The archive state of a manifest ({} when it never had one); inside a read or write transaction. */
export function archiveStateIn(db: RootDatabase, repository: string, digest: string, transaction?: ReadTransaction): ArchiveState {
  return (db.get(archiveKey(repository, digest), transaction ? { transaction } : undefined) as ArchiveState | undefined) ?? {};
}

/** A record without the fields this key owns (they never go into the manifest's key). */
export function withoutArchiveState<T extends ManifestRecord>(m: T): Omit<T, keyof ArchiveState> {
  const { storageClass: _class, lastArchivedAt: _archived, lastActivatedAt: _activated, ...rest } = m;
  return rest;
}

/** Must run inside the put's write transaction: an archived manifest put again is active from `at` on. */
export function restoreOnPut(db: RootDatabase, repository: string, digest: string, at: string): void {
  const state = archiveStateIn(db, repository, digest);
  if (state.storageClass !== 'ARCHIVE') return;
  db.put(archiveKey(repository, digest), { ...(state.lastArchivedAt !== undefined ? { lastArchivedAt: state.lastArchivedAt } : {}), lastActivatedAt: at });
}

export async function setImageStorageClass(
  db: RootDatabase,
  repository: string,
  digest: string,
  target: ImageStorageClass,
  at: string,
  options: { initiatedBy?: ChangeInitiator } = {},
): Promise<StorageClassUpdate> {
  const k = key('manifest', repository, digest);
  if (!storable(k)) return { ok: false, reason: 'unknown' };
  return db.transaction((): StorageClassUpdate => {
    const stored: StoredManifest | undefined = db.get(k);
    if (stored === undefined) return { ok: false, reason: 'unknown' };
    const { body: _body, ...manifest } = stored;
    const pulled: string | undefined = db.get(key('pulled', repository, digest));
    const state = archiveStateIn(db, repository, digest);
    const current = { ...manifest, ...(pulled !== undefined ? { lastPulledAt: pulled } : {}) };
    if ((state.storageClass ?? 'STANDARD') === target) return { ok: true, manifest: { ...current, ...state }, changed: false };
    const next: ArchiveState =
      target === 'ARCHIVE'
        ? { storageClass: 'ARCHIVE', lastArchivedAt: at, ...(state.lastActivatedAt !== undefined ? { lastActivatedAt: state.lastActivatedAt } : {}) }
        : { ...(state.lastArchivedAt !== undefined ? { lastArchivedAt: state.lastArchivedAt } : {}), lastActivatedAt: at };
    db.put(archiveKey(repository, digest), next);
    record(db, [storageClassChange(repository, manifest, target, new Date(at), options.initiatedBy)]);
    return { ok: true, manifest: { ...current, ...next }, changed: true };
  });
}
