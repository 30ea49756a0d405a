/**
 * The port's records as DynamoDB items and back. A tag item carries a copy of its manifest's
 * record, its archive state included (docs/storage.md, "A manifest by tag in one read", "The archive state").
 */
import type { ReferrerRecord, StoredManifest, UploadState } from '../../core/model';
import { itemSize, MAX_ITEM_BYTES, type Item, type Key } from './table';

/** `bodyCounted`: a body kept as content is counted on its content record (docs/storage.md, "Content records"). */
export function manifestItem(key: Key, m: StoredManifest, pinId: string): Item {
  return { ...key, ...recordFields(m), rev: 0, parents: 0, pinId, ...(m.body === undefined ? { bodyCounted: true } : {}) };
}

/** The tag's item: the digest it names and a copy of that manifest's record (body included), when it fits in an item. */
export function tagItem(key: Key, m: StoredManifest): Item {
  const item = { ...key, ...recordFields(m) };
  return itemSize(item) <= MAX_ITEM_BYTES ? item : { ...key, digest: m.digest };
}

/** A StoredManifest as item attributes (the inverse of manifestFromItem). */
function recordFields(m: StoredManifest): Item {
  return {
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    blobs: m.blobs,
    children: m.children,
    pushedAt: m.pushedAt,
    ...(m.subject !== undefined ? { subject: m.subject } : {}),
    ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
    ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
    ...(m.body !== undefined ? { body: m.body } : {}),
    ...(m.storageClass !== undefined ? { storageClass: m.storageClass } : {}),
    ...(m.lastArchivedAt !== undefined ? { lastArchivedAt: m.lastArchivedAt } : {}),
    ...(m.lastActivatedAt !== undefined ? { lastActivatedAt: m.lastActivatedAt } : {}),
  };
}

/** A projection of a manifest item's record without its body or counters (what manifestFromItem reads). */
export const RECORD_PROJECTION = {
  expression:
    '#digest, #mediaType, #size, #blobs, #children, #pushedAt, #subject, #artifactType, #annotations, #lastPulledAt, #storageClass, #lastArchivedAt, #lastActivatedAt',
  names: {
    '#digest': 'digest',
    '#mediaType': 'mediaType',
    '#size': 'size',
    '#blobs': 'blobs',
    '#children': 'children',
    '#pushedAt': 'pushedAt',
    '#subject': 'subject',
    '#artifactType': 'artifactType',
    '#annotations': 'annotations',
    '#lastPulledAt': 'lastPulledAt',
    '#storageClass': 'storageClass',
    '#lastArchivedAt': 'lastArchivedAt',
    '#lastActivatedAt': 'lastActivatedAt',
  },
};

export function manifestFromItem(item: Item): StoredManifest {
  return {
    digest: item.digest as string,
    mediaType: item.mediaType as string,
    size: item.size as number,
    blobs: item.blobs as string[],
    children: item.children as string[],
    pushedAt: item.pushedAt as string,
    ...(item.subject !== undefined ? { subject: item.subject as string } : {}),
    ...(item.artifactType !== undefined ? { artifactType: item.artifactType as string } : {}),
    ...(item.annotations !== undefined ? { annotations: item.annotations as Record<string, string> } : {}),
    ...(item.body !== undefined ? { body: item.body as Uint8Array } : {}),
    ...(item.lastPulledAt !== undefined ? { lastPulledAt: item.lastPulledAt as string } : {}),
    ...(item.storageClass === 'ARCHIVE' ? { storageClass: 'ARCHIVE' as const } : {}),
    ...(item.lastArchivedAt !== undefined ? { lastArchivedAt: item.lastArchivedAt as string } : {}),
    ...(item.lastActivatedAt !== undefined ? { lastActivatedAt: item.lastActivatedAt as string } : {}),
  };
}

export function referrerFromItem(item: Item): ReferrerRecord {
  return {
    digest: item.digest as string,
    mediaType: item.mediaType as string,
    size: item.size as number,
    ...(item.artifactType !== undefined ? { artifactType: item.artifactType as string } : {}),
    ...(item.annotations !== undefined ? { annotations: item.annotations as Record<string, string> } : {}),
  };
}

export function referrerItem(key: Key, m: StoredManifest): Item {
  return {
    ...key,
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
    ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
  };
}

export function uploadFields(s: UploadState): Item {
  return {
    id: s.id,
    repository: s.repository,
    offset: s.offset,
    startedAt: s.startedAt,
    ...(s.hashState !== undefined ? { hashState: s.hashState } : {}),
  };
}

export function uploadFromItem(item: Item): UploadState {
  return {
    id: item.id as string,
    repository: item.repository as string,
    offset: item.offset as number,
    startedAt: item.startedAt as string,
    ...(item.hashState !== undefined ? { hashState: item.hashState as string } : {}),
  };
}
