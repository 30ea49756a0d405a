/** LmdbMetadataStore's repositories: records, settings, policy, blob links and the one-transaction delete. */
import type { RootDatabase } from 'lmdb';
import { DEFAULT_REPOSITORY_SETTINGS, type RepositoryRecord, type RepositorySettings, type RepositorySettingsRecord } from '../../../core/model';
import type { BlobLink, DeleteRepositoryResult, DeleteResult, LinkedBlob, Page, PageRequest, UnlinkOptions } from '../../ports';
import { countLink, uncountLink } from './content';
import { HIGH, entryPage, key, page, prefix, storable, suffixes } from './keys';
import { record } from './outbox';
import { imageDeleteChanges } from '../../image-changes';

/** A link's value: its size, and since when (absent on links written before it was recorded). */
type StoredLink = BlobLink & { linkedAt?: number };

export async function getRepository(db: RootDatabase, name: string): Promise<RepositoryRecord | null> {
  return db.get(key('repo', name)) ?? null;
}

export async function listRepositories(db: RootDatabase, request: PageRequest): Promise<Page> {
  return page(db, prefix('repo'), request);
}

export async function createRepository(db: RootDatabase, name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
  return db.transaction((): RepositorySettingsRecord | null => {
    if (db.get(key('repo', name)) !== undefined) return null;
    const record: RepositoryRecord = { name, createdAt: new Date().toISOString() };
    db.put(key('repo', name), record);
    db.put(key('settings', name), settings);
    return { ...settings, createdAt: record.createdAt };
  });
}

/** Must run inside a transaction. */
export function ensureRepository(db: RootDatabase, name: string): void {
  if (db.get(key('repo', name)) === undefined) {
    const record: RepositoryRecord = { name, createdAt: new Date().toISOString() };
    db.put(key('repo', name), record);
  }
}

export async function getRepositorySettings(db: RootDatabase, name: string): Promise<RepositorySettingsRecord | null> {
  const transaction = db.useReadTransaction();
  try {
    const repo: RepositoryRecord | undefined = db.get(key('repo', name), { transaction });
    if (repo === undefined) return null;
    const settings: RepositorySettings = db.get(key('settings', name), { transaction }) ?? DEFAULT_REPOSITORY_SETTINGS;
    return { ...settings, createdAt: repo.createdAt };
  } finally {
    transaction.done();
  }
}

export async function updateRepositorySettings(
  db: RootDatabase,
  name: string,
  update: (current: RepositorySettings) => RepositorySettings,
): Promise<RepositorySettingsRecord | null> {
  return db.transaction((): RepositorySettingsRecord | null => {
    const repo: RepositoryRecord | undefined = db.get(key('repo', name));
    if (repo === undefined) return null;
    const current: RepositorySettings = db.get(key('settings', name)) ?? DEFAULT_REPOSITORY_SETTINGS;
    const next = update(structuredClone(current));
    db.put(key('settings', name), next);
    return { ...next, createdAt: repo.createdAt };
  });
}

/** One write transaction: the repository and everything under it disappear at one instant, or not at all. */
export async function deleteRepository(db: RootDatabase, name: string, force: boolean): Promise<DeleteRepositoryResult> {
  return db.transaction((): DeleteRepositoryResult => {
    if (db.get(key('repo', name)) === undefined) return { ok: false, reason: 'unknown' };
    if (!force && suffixes(db, prefix('manifest', name), 1).length > 0) return { ok: false, reason: 'not-empty' };
    record(db, imagesDeletedWith(db, name));
    for (const digest of suffixes(db, prefix('link', name), Infinity)) {
      db.remove(key('blobrepo', digest, name));
      uncountLink(db, digest);
    }
    for (const kind of ['link', 'manifest', 'tag', 'tagsof', 'usage', 'parent', 'referrer', 'pulled', 'storageclass', 'replication', 'scan']) {
      const start = prefix(kind, name);
      for (const k of [...db.getKeys({ start, end: start + HIGH })]) db.remove(k);
    }
    db.remove(key('policy', name));
    db.remove(key('settings', name));
    db.remove(key('repo', name));
    return { ok: true };
  });
}

/**
 * What deleting every manifest of a repository records: each manifest's deletion, indexes before the
 * manifests they name, as deleting them one by one would have to go.
 */
function imagesDeletedWith(db: RootDatabase, name: string) {
  const remaining = new Set(suffixes(db, prefix('manifest', name), Infinity));
  const ordered: string[] = [];
  while (remaining.size > 0) {
    // A manifest goes once no remaining manifest names it; in a cycle (never written by a put) the rest go as they are.
    const free = [...remaining].filter((digest) => !suffixes(db, prefix('parent', name, digest), Infinity).some((index) => remaining.has(index)));
    for (const digest of free.length > 0 ? free : [...remaining]) {
      ordered.push(digest);
      remaining.delete(digest);
    }
  }
  return ordered.flatMap((digest) => imageDeleteChanges(name, digest, suffixes(db, prefix('tagsof', name, digest), Infinity)));
}

export async function getRepositoryPolicy(db: RootDatabase, repository: string): Promise<string | null> {
  return db.get(key('policy', repository)) ?? null;
}

export async function setRepositoryPolicy(db: RootDatabase, repository: string, policy: string | null): Promise<boolean> {
  return db.transaction(() => {
    if (db.get(key('repo', repository)) === undefined) return false;
    if (policy === null) db.remove(key('policy', repository));
    else db.put(key('policy', repository), policy);
    return true;
  });
}

export async function linkBlob(db: RootDatabase, repository: string, digest: string, link: BlobLink): Promise<void> {
  await db.transaction(() => {
    // First, so that content being deleted refuses the link before anything is written.
    countLink(db, digest, db.get(key('link', repository, digest)) === undefined, link.size);
    ensureRepository(db, repository);
    // linkedAt: garbage collection judges a link's age by it (a mount links old content anew).
    db.put(key('link', repository, digest), { size: link.size, linkedAt: Date.now() });
    db.put(key('blobrepo', digest, repository), 1);
  });
}

export async function statBlobLink(db: RootDatabase, repository: string, digest: string): Promise<BlobLink | null> {
  const link: StoredLink | undefined = db.get(key('link', repository, digest));
  return link ? { size: link.size } : null;
}

export async function unlinkBlob(db: RootDatabase, repository: string, digest: string, options: UnlinkOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'recent'>> {
  return db.transaction((): DeleteResult<'in-use' | 'unknown' | 'recent'> => {
    const link: StoredLink | undefined = db.get(key('link', repository, digest));
    if (link === undefined) return { ok: false, reason: 'unknown', by: [] };
    const users = suffixes(db, prefix('usage', repository, digest), 20);
    if (users.length > 0) return { ok: false, reason: 'in-use', by: users };
    if (options.linkedBefore !== undefined && (link.linkedAt ?? 0) >= Date.parse(options.linkedBefore)) return { ok: false, reason: 'recent', by: [] };
    db.remove(key('link', repository, digest));
    db.remove(key('blobrepo', digest, repository));
    uncountLink(db, digest);
    return { ok: true };
  });
}

export async function listBlobLinksPage(db: RootDatabase, repository: string, request: PageRequest): Promise<{ items: LinkedBlob[]; more: boolean }> {
  const start = prefix('link', repository);
  if (!storable(start)) return { items: [], more: false };
  const { items, more } = entryPage<StoredLink>(db, start, request);
  return { items: items.map(({ suffix, value }) => ({ digest: suffix, size: value.size, linkedAt: new Date(value.linkedAt ?? 0).toISOString() })), more };
}

export async function repositoriesWithBlob(db: RootDatabase, digest: string, limit: number): Promise<string[]> {
  return suffixes(db, prefix('blobrepo', digest), limit);
}
