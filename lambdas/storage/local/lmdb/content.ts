/**
 * LmdbMetadataStore's content records (ContentStore in ports.ts; the protocol in
 * docs/garbage-collection.md): one value per digest under `content`, changed only inside write
 * transactions, so a claim, a link and the collector's begin never interleave.
 */
import type { RootDatabase } from 'lmdb';
import { ContentBeingDeletedError, type ContentClaim, type ContentRecord, type PageRequest } from '../../ports';
import { entryPage, HIGH, key, prefix, storable, suffixes } from './keys';

/** The stored value (the digest is the key). */
export type StoredContent = Omit<ContentRecord, 'digest'>;

const now = () => new Date().toISOString();

function read(db: RootDatabase, digest: string): StoredContent | undefined {
  return db.get(key('content', digest)) as StoredContent | undefined;
}

/** Must run inside a write transaction: one more link (when `added`), the record touched; refused while the content is being deleted. */
export function countLink(db: RootDatabase, digest: string, added: boolean, size: number): void {
  const record = read(db, digest);
  if (record?.deletingSince !== undefined) throw new ContentBeingDeletedError(digest);
  db.put(key('content', digest), { links: (record?.links ?? 0) + (added ? 1 : 0), size, touchedAt: now() } satisfies StoredContent);
}

/** Must run inside a write transaction: one link fewer (`touchedAt` stays: the grace period runs from the last claim or link). */
export function uncountLink(db: RootDatabase, digest: string): void {
  const record = read(db, digest);
  if (record === undefined) return;
  db.put(key('content', digest), { ...record, links: Math.max(0, record.links - 1) } satisfies StoredContent);
}

export async function claimContent(db: RootDatabase, digest: string): Promise<ContentClaim> {
  return db.transaction((): ContentClaim => {
    const record = read(db, digest);
    if (record?.deletingSince !== undefined) return { ok: false, reason: 'being-deleted', since: record.deletingSince };
    db.put(key('content', digest), { ...record, links: record?.links ?? 0, touchedAt: now() } satisfies StoredContent);
    return { ok: true };
  });
}

export async function getContentRecord(db: RootDatabase, digest: string): Promise<ContentRecord | null> {
  if (!storable(key('content', digest))) return null;
  const record = read(db, digest);
  return record ? { digest, ...record } : null;
}

export async function listContentRecords(db: RootDatabase, request: PageRequest): Promise<{ items: ContentRecord[]; more: boolean }> {
  const { items, more } = entryPage<StoredContent>(db, prefix('content'), request);
  return { items: items.map(({ suffix, value }) => ({ digest: suffix, ...value })), more };
}

export async function beginContentDeletion(db: RootDatabase, digest: string, touchedBefore: string, staleBefore: string): Promise<boolean> {
  if (!storable(key('content', digest))) return false;
  return db.transaction((): boolean => {
    const record = read(db, digest);
    if (record === undefined) {
      // Content stored before records were kept, or left by a crash: only if truly nothing links it.
      if (suffixes(db, prefix('blobrepo', digest), 1).length > 0) return false;
      db.put(key('content', digest), { links: 0, touchedAt: new Date(0).toISOString(), deletingSince: now() } satisfies StoredContent);
      return true;
    }
    if (record.deletingSince !== undefined) {
      if (record.deletingSince >= staleBefore) return false;
    } else if (record.links > 0 || record.touchedAt >= touchedBefore) {
      return false;
    }
    db.put(key('content', digest), { ...record, deletingSince: now() } satisfies StoredContent);
    return true;
  });
}

export async function finishContentDeletion(db: RootDatabase, digest: string): Promise<void> {
  if (!storable(key('content', digest))) return;
  await db.transaction(() => {
    if (read(db, digest)?.deletingSince !== undefined) db.remove(key('content', digest));
  });
}

/**
 * Layout 1 → 2: a record for every linked digest, counting its links (one transaction, with the
 * layout's version, so an interrupted upgrade did nothing). Content no repository links gets no
 * record; the collector treats it as content stored before records were kept.
 */
export function recordExistingContent(db: RootDatabase): void {
  const counts = new Map<string, { links: number; size?: number }>();
  const start = prefix('blobrepo');
  for (const k of db.getKeys({ start, end: start + HIGH })) {
    const [digest, repository] = String(k).slice(start.length).split('\x1f');
    const link = db.get(key('link', repository, digest)) as { size?: number } | undefined;
    const seen = counts.get(digest);
    counts.set(digest, { links: (seen?.links ?? 0) + 1, size: seen?.size ?? link?.size });
  }
  const touchedAt = now();
  for (const [digest, { links, size }] of counts) db.put(key('content', digest), { links, ...(size !== undefined ? { size } : {}), touchedAt } satisfies StoredContent);
}
