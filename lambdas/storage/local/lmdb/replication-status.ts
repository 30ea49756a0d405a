/**
 * LmdbMetadataStore's replication statuses (ReplicationStatusStore in ports.ts): one key per image and
 * destination (`replication <repo> <digest> <region> <registryId>`), beside the manifest like `pulled`,
 * so that a put neither loses nor carries them; they go with the repository (repositories.ts).
 */
import type { RootDatabase } from 'lmdb';
import type { ReplicationDestination, ReplicationStatus, ReplicationStatusRecord } from '../../../core/model';
import { HIGH, key, prefix, storable } from './keys';

const statusKey = (repository: string, digest: string, d: ReplicationDestination) => key('replication', repository, digest, d.region, d.registryId);

/** Conditional on the manifest and on the stored time, inside one write transaction (LMDB's one writer decides). */
export async function setReplicationStatus(db: RootDatabase, repository: string, digest: string, destination: ReplicationDestination, status: ReplicationStatus): Promise<boolean> {
  const k = statusKey(repository, digest, destination);
  if (!storable(k)) return false;
  // One format, so that the stored times compare as strings.
  const updatedAt = new Date(status.updatedAt).toISOString();
  return db.transaction((): boolean => {
    if (!db.doesExist(key('manifest', repository, digest))) return false;
    const stored = db.get(k) as ReplicationStatusRecord | undefined;
    if (stored !== undefined && stored.updatedAt >= updatedAt) return false;
    const record: ReplicationStatusRecord = {
      destination: { region: destination.region, registryId: destination.registryId },
      status: status.status,
      ...(status.failureCode !== undefined ? { failureCode: status.failureCode } : {}),
      updatedAt,
    };
    db.put(k, record);
    return true;
  });
}

export async function getReplicationStatuses(db: RootDatabase, repository: string, digest: string): Promise<ReplicationStatusRecord[]> {
  const start = prefix('replication', repository, digest);
  if (!storable(start)) return [];
  return [...db.getRange({ start, end: start + HIGH })].map(({ value }) => value as ReplicationStatusRecord);
}
