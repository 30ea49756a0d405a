/** LmdbMetadataStore's upload sessions. */
import type { RootDatabase } from 'lmdb';
import type { UploadState } from '../../../core/model';
import { HIGH, key, prefix, storable } from './keys';

export async function createUpload(db: RootDatabase, state: UploadState): Promise<void> {
  await db.put(key('upload', state.id), state);
}

export async function getUpload(db: RootDatabase, id: string): Promise<UploadState | null> {
  if (!storable(key('upload', id))) return null;
  return db.get(key('upload', id)) ?? null;
}

export async function advanceUpload(db: RootDatabase, id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
  if (!storable(key('upload', id))) return false;
  return db.transaction(() => {
    const current: UploadState | undefined = db.get(key('upload', id));
    if (current === undefined || current.offset !== expectedOffset) return false;
    db.put(key('upload', id), { ...current, ...next });
    return true;
  });
}

export async function deleteUpload(db: RootDatabase, id: string): Promise<void> {
  if (!storable(key('upload', id))) return;
  await db.remove(key('upload', id));
}

export async function listUploadsStartedBefore(db: RootDatabase, isoTime: string, limit: number): Promise<UploadState[]> {
  // Uploads are few and short-lived, so a scan is cheaper than keeping a time index.
  const start = prefix('upload');
  const out: UploadState[] = [];
  for (const { value } of db.getRange({ start, end: start + HIGH })) {
    if (out.length >= limit) break;
    const upload = value as UploadState;
    if (upload.startedAt < isoTime) out.push(upload);
  }
  return out;
}
