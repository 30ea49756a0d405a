/** LmdbMetadataStore's manifests and tags: puts and deletes in one transaction with their usage, parent, referrer and tag entries. */
import type { RootDatabase } from 'lmdb';
import type { ImageRecord, ReferrerRecord, StoredManifest } from '../../../core/model';
import { sameTags, type DeleteManifestOptions, type DeleteTagOptions, type DeleteResult, type ImagePage, type Page, type PageRequest, type PutManifestOptions, type PutManifestResult, type ReferrerPage } from '../../ports';
import { HIGH, key, page, prefix, storable, storablePrefix, suffixes, type ReadTransaction } from './keys';
import { ensureRepository } from './repositories';
import { record } from './outbox';
import { imageDeleteChanges, manifestPutChanges, untagChanges } from '../../image-changes';
import { archiveKey, archiveStateIn, restoreOnPut, withoutArchiveState } from './storage-class';
import { scanKey, startScanOnPut } from './image-scans';
import { scanTime } from '../../image-scans';

/**
 * About how many bytes of referrers one listReferrers call reads before it stops (plus the one that
 * crosses it): about what a DynamoDB Query returns, so a caller asking for a thousand referrers with
 * megabytes of annotations each holds a few megabytes, not gigabytes.
 */
const REFERRER_READ_BYTES = 1024 * 1024;

export async function putManifest(db: RootDatabase, repository: string, manifest: StoredManifest, tag?: string, options: PutManifestOptions = {}): Promise<PutManifestResult> {
  // Checked before the transaction: bad input writes nothing.
  const scanStartedAt = options.scan !== undefined ? scanTime(options.scan.startedAt, 'scan.startedAt') : undefined;
  return db.transaction((): PutManifestResult => {
    if (tag !== undefined && options.immutableTag) {
      const holder: string | undefined = db.get(key('tag', repository, tag));
      if (holder !== undefined && holder !== manifest.digest) return { ok: false, tagHeldBy: holder };
    }
    const missingBlobs = manifest.blobs.filter((d) => db.get(key('link', repository, d)) === undefined);
    const missingManifests = manifest.children.filter((d) => db.get(key('manifest', repository, d)) === undefined);
    if (missingBlobs.length > 0 || missingManifests.length > 0) return { ok: false, missingBlobs, missingManifests };

    ensureRepository(db, repository);
    const now = new Date();
    // Pulls and the archive state live under keys of their own, which a put keeps (or, archived, restores).
    const { lastPulledAt: _pulled, ...stored } = withoutArchiveState(manifest);
    const existed = db.doesExist(key('manifest', repository, manifest.digest));
    db.put(key('manifest', repository, manifest.digest), stored);
    if (scanStartedAt !== undefined) startScanOnPut(db, repository, manifest.digest, scanStartedAt, existed);
    restoreOnPut(db, repository, manifest.digest, now.toISOString());
    for (const blob of manifest.blobs) db.put(key('usage', repository, blob, manifest.digest), 1);
    for (const child of manifest.children) db.put(key('parent', repository, child, manifest.digest), 1);
    if (manifest.subject) {
      const referrer: ReferrerRecord = {
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        size: manifest.size,
        ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
        ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
      };
      db.put(key('referrer', repository, manifest.subject, manifest.digest), referrer);
    }
    if (tag !== undefined) {
      const previous: string | undefined = db.get(key('tag', repository, tag));
      if (previous !== undefined && previous !== manifest.digest) db.remove(key('tagsof', repository, previous, tag));
      db.put(key('tag', repository, tag), manifest.digest);
      db.put(key('tagsof', repository, manifest.digest, tag), 1);
    }
    record(db, manifestPutChanges(repository, manifest.digest, tag, now, options.replicatedFrom));
    return { ok: true };
  });
}

export async function getManifest(db: RootDatabase, repository: string, digest: string): Promise<StoredManifest | null> {
  const transaction = db.useReadTransaction();
  try {
    return manifestIn(db, repository, digest, transaction);
  } finally {
    transaction.done();
  }
}

function manifestIn(db: RootDatabase, repository: string, digest: string, transaction: ReadTransaction): StoredManifest | null {
  const k = key('manifest', repository, digest);
  if (!storable(k)) return null;
  const manifest: StoredManifest | undefined = db.get(k, { transaction });
  if (manifest === undefined) return null;
  const pulled: string | undefined = db.get(key('pulled', repository, digest), { transaction });
  return { ...manifest, ...(pulled !== undefined ? { lastPulledAt: pulled } : {}), ...archiveStateIn(db, repository, digest, transaction) };
}

export async function listManifests(db: RootDatabase, repository: string, { last, limit }: PageRequest): Promise<ImagePage> {
  const start = prefix('manifest', repository);
  const transaction = db.useReadTransaction();
  try {
    const items: ImageRecord[] = [];
    const from = last === undefined ? start : start + last;
    if (!storable(from)) return { items, more: false };
    for (const { key: k, value } of db.getRange({ start: from, end: start + HIGH, transaction })) {
      const digest = String(k).slice(start.length);
      if (digest === last) continue;
      if (items.length === limit) return { items, more: true };
      const { body: _body, ...record } = value as StoredManifest;
      const pulled: string | undefined = db.get(key('pulled', repository, digest), { transaction });
      items.push({
        ...record,
        ...(pulled !== undefined ? { lastPulledAt: pulled } : {}),
        ...archiveStateIn(db, repository, digest, transaction),
        tags: suffixes(db, prefix('tagsof', repository, digest), Infinity, transaction),
      });
    }
    return { items, more: false };
  } finally {
    transaction.done();
  }
}

export async function getManifestTags(db: RootDatabase, repository: string, digest: string): Promise<string[]> {
  const start = prefix('tagsof', repository, digest);
  if (!storable(start)) return [];
  return suffixes(db, start, Infinity);
}

export async function recordImagePull(db: RootDatabase, repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
  if (!storable(key('pulled', repository, digest))) return false;
  return db.transaction(() => {
    if (db.get(key('manifest', repository, digest)) === undefined) return false;
    const current: string | undefined = db.get(key('pulled', repository, digest));
    if (current !== undefined && current >= notBefore) return false;
    db.put(key('pulled', repository, digest), at);
    return true;
  });
}

export async function resolveTag(db: RootDatabase, repository: string, tag: string): Promise<string | null> {
  return db.get(key('tag', repository, tag)) ?? null;
}

export async function getTaggedManifest(db: RootDatabase, repository: string, tag: string): Promise<StoredManifest | null> {
  // Both keys from one read transaction: a tag never pairs with a record from another moment.
  const transaction = db.useReadTransaction();
  try {
    const digest: string | undefined = db.get(key('tag', repository, tag), { transaction });
    if (digest === undefined) return null;
    return manifestIn(db, repository, digest, transaction);
  } finally {
    transaction.done();
  }
}

export async function deleteManifest(db: RootDatabase, repository: string, digest: string, options: DeleteManifestOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
  return db.transaction((): DeleteResult<'in-use' | 'unknown' | 'tagged'> => {
    const manifest: StoredManifest | undefined = db.get(key('manifest', repository, digest));
    if (manifest === undefined) return { ok: false, reason: 'unknown', by: [] };
    // Tags first: a delete meant for an image's last tag leaves an image with other tags alone, index or not.
    const tags = suffixes(db, prefix('tagsof', repository, digest), Infinity);
    if (options.onlyIfTags && !sameTags(tags, options.onlyIfTags)) return { ok: false, reason: 'tagged', by: tags.slice(0, 20) };
    const parents = suffixes(db, prefix('parent', repository, digest), 20);
    if (parents.length > 0) return { ok: false, reason: 'in-use', by: parents };

    for (const tag of tags) {
      db.remove(key('tag', repository, tag));
      db.remove(key('tagsof', repository, digest, tag));
    }
    for (const blob of manifest.blobs) db.remove(key('usage', repository, blob, digest));
    for (const child of manifest.children) db.remove(key('parent', repository, child, digest));
    if (manifest.subject) db.remove(key('referrer', repository, manifest.subject, digest));
    db.remove(key('pulled', repository, digest));
    db.remove(archiveKey(repository, digest));
    db.remove(scanKey(repository, digest));
    db.remove(key('manifest', repository, digest));
    record(db, imageDeleteChanges(repository, digest, tags, new Date(), options));
    return { ok: true };
  });
}

export async function deleteTag(db: RootDatabase, repository: string, tag: string, options: DeleteTagOptions = {}): Promise<boolean> {
  return db.transaction(() => {
    const digest: string | undefined = db.get(key('tag', repository, tag));
    if (digest === undefined || (options.ifDigest !== undefined && digest !== options.ifDigest)) return false;
    db.remove(key('tag', repository, tag));
    db.remove(key('tagsof', repository, digest, tag));
    record(db, untagChanges(repository, digest, [tag], new Date(), options));
    return true;
  });
}

export async function listTags(db: RootDatabase, repository: string, request: PageRequest): Promise<Page> {
  return page(db, prefix('tag', repository), request);
}

export async function listReferrers(db: RootDatabase, repository: string, subject: string, { last, limit }: PageRequest): Promise<ReferrerPage> {
  const start = prefix('referrer', repository, subject);
  if (!storable(start)) return { items: [], more: false };
  // A bound LMDB could not store is sought by a prefix (never shorter than this subject's); what sorts at or before it is skipped.
  const clipped = last === undefined ? start : storable(start + last) ? start + last : storablePrefix(start + last);
  const from = clipped.length > start.length ? clipped : start;
  const bound = last === undefined ? undefined : Buffer.from(last);
  const items: ReferrerRecord[] = [];
  let read = 0;
  for (const { value } of db.getRange({ start: from, end: start + HIGH })) {
    const record = value as ReferrerRecord;
    if (bound && Buffer.compare(Buffer.from(record.digest), bound) <= 0) continue;
    if (items.length >= limit || read >= REFERRER_READ_BYTES) return { items, more: true };
    items.push(record);
    read += referrerBytes(record);
  }
  return { items, more: false };
}

/** A referrer's size, counted as its strings' lengths (close enough to bound a read). */
function referrerBytes(r: ReferrerRecord): number {
  let n = r.digest.length + r.mediaType.length + (r.artifactType?.length ?? 0);
  for (const [k, v] of Object.entries(r.annotations ?? {})) n += k.length + v.length;
  return n;
}
