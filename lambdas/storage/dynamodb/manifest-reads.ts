/**
 * Reads of manifests, tags and referrers, and the one write a pull makes (`lastPulledAt`). A tag
 * is read in one GetItem (docs/storage.md, "A manifest by tag in one read").
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { manifestSk, referrerSk, repoPk, tagSk } from '../../contracts/dynamodb-table';
import type { ImageRecord, ManifestRecord, ReferrerRecord, StoredManifest } from '../../core/model';
import type { ImagePage, Page, PageRequest, ReferrerPage } from '../ports';
import { manifestFromItem, RECORD_PROJECTION, referrerFromItem } from './items';
import { get, pageByKey, suffixes } from './reads';
import { bytes, clip, MAX_PK_BYTES, MAX_SK_BYTES, storable, type Item, type TableContext } from './table';
import { isConditionFailure } from './transactions';

export async function getManifest(t: TableContext, repository: string, digest: string): Promise<StoredManifest | null> {
  const item = await get(t, { pk: repoPk(repository), sk: manifestSk(digest) });
  return item ? manifestFromItem(item) : null;
}

export async function resolveTag(t: TableContext, repository: string, tag: string): Promise<string | null> {
  // The digest only (the item carries the manifest's record and body too).
  const item = await get(t, { pk: repoPk(repository), sk: tagSk(tag) }, true, '#digest', { '#digest': 'digest' });
  return item ? (item.digest as string) : null;
}

export async function getTaggedManifest(t: TableContext, repository: string, tag: string): Promise<StoredManifest | null> {
  const item = await get(t, { pk: repoPk(repository), sk: tagSk(tag) });
  if (!item) return null;
  if (item.mediaType !== undefined) return manifestFromItem(item);
  // A tag item without a copy of the record: the manifest's own item.
  return getManifest(t, repository, item.digest as string);
}

export async function getManifestTags(t: TableContext, repository: string, digest: string): Promise<string[]> {
  const prefix = `tagged#${digest}#`;
  if (!storable({ pk: repoPk(repository), sk: prefix })) return [];
  return suffixes(t, repoPk(repository), prefix, Infinity);
}

export async function listTags(t: TableContext, repository: string, page: PageRequest): Promise<Page> {
  if (bytes(repoPk(repository)) > MAX_PK_BYTES) return { items: [], more: false };
  // Tag items carry their manifest's record: return the keys only (the read capacity is by whole items all the same).
  return pageByKey(t, { TableName: t.table, ConsistentRead: true, ProjectionExpression: '#sk' }, 'pk', repoPk(repository), 'sk', 'tag#', page, (item) =>
    (item.sk as string).slice('tag#'.length),
  );
}

export async function listManifests(t: TableContext, repository: string, { last, limit }: PageRequest): Promise<ImagePage> {
  const pk = repoPk(repository);
  if (bytes(pk) > MAX_PK_BYTES || limit <= 0) return { items: [], more: false };
  const from = clip(`manifest#${last ?? ''}`, MAX_SK_BYTES);
  const records: ManifestRecord[] = [];
  let more = false;
  let start: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': 'manifest$' },
        // Everything but the body and the counters.
        ProjectionExpression: RECORD_PROJECTION.expression,
        ExpressionAttributeNames: RECORD_PROJECTION.names,
        ConsistentRead: true,
        Limit: Math.min(1000, limit + 2 - records.length),
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      const digest = item.digest as string;
      if (last !== undefined && Buffer.compare(Buffer.from(digest), Buffer.from(last)) <= 0) continue;
      if (records.length === limit) {
        more = true;
        break;
      }
      const { body: _body, ...record } = manifestFromItem(item);
      records.push(record);
    }
    start = res.LastEvaluatedKey;
  } while (start && !more);
  if (records.length === 0) return { items: [], more };
  // The tags of the page's manifests: one range of reverse records, in the same (digest) order.
  const tags = new Map<string, string[]>(records.map((r) => [r.digest, []]));
  const first = `tagged#${records[0].digest}#`;
  const after = `tagged#${records[records.length - 1].digest}$`;
  let tagStart: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': first, ':to': after },
        ProjectionExpression: 'sk',
        ConsistentRead: true,
        ExclusiveStartKey: tagStart,
      }),
    );
    for (const item of res.Items ?? []) {
      const rest = (item.sk as string).slice('tagged#'.length);
      const cut = rest.lastIndexOf('#');
      tags.get(rest.slice(0, cut))?.push(rest.slice(cut + 1));
    }
    tagStart = res.LastEvaluatedKey;
  } while (tagStart);
  const items: ImageRecord[] = records.map((r) => ({ ...r, tags: tags.get(r.digest)! }));
  return { items, more };
}

/**
 * One Query per call as a rule: DynamoDB ends a Query at 1 MB whatever its Limit, which is the
 * read bound the port asks for (a referrer item holds up to ~390 KB of annotations). Another
 * Query follows only while none was found (everything read was at or before `last`).
 */
export async function listReferrers(t: TableContext, repository: string, subject: string, { last, limit }: PageRequest): Promise<ReferrerPage> {
  const pk = repoPk(repository);
  const prefix = referrerSk(subject, '');
  if (!storable({ pk, sk: prefix })) return { items: [], more: false };
  const bound = last !== undefined && last !== '' ? Buffer.from(last) : undefined;
  // Every key under `prefix` sorts below `prefix` with its closing '#' raised to '$'. A bound longer
  // than a sort key may be is clipped (it sorts at or before the whole bound), and BETWEEN includes
  // it: what sorts at or before the bound is skipped below.
  const range = bound
    ? { condition: 'pk = :pk AND sk BETWEEN :from AND :to', values: { ':pk': pk, ':from': clip(prefix + last, MAX_SK_BYTES), ':to': `${prefix.slice(0, -1)}$` } }
    : { condition: 'pk = :pk AND begins_with(sk, :prefix)', values: { ':pk': pk, ':prefix': prefix } };
  const items: ReferrerRecord[] = [];
  let start: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: range.condition,
        ExpressionAttributeValues: range.values,
        ConsistentRead: true,
        ExclusiveStartKey: start,
        // One more shows whether more follow, and one more again for the bound itself.
        Limit: Math.min(1000, limit + 2),
      }),
    );
    start = res.LastEvaluatedKey;
    for (const item of res.Items ?? []) {
      if (bound && Buffer.compare(Buffer.from(item.digest as string), bound) <= 0) continue;
      if (items.length >= limit) return { items, more: true };
      items.push(referrerFromItem(item));
    }
  } while (start && items.length === 0);
  return { items, more: start !== undefined };
}

/** Writes once per burst of pulls: conditional on the stored time being absent or older than `notBefore`. */
export async function recordImagePull(t: TableContext, repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
  const key = { pk: repoPk(repository), sk: manifestSk(digest) };
  if (!storable(key)) return false;
  try {
    await t.doc.send(
      new UpdateCommand({
        TableName: t.table,
        Key: key,
        UpdateExpression: 'SET #pulled = :at',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#pulled) OR #pulled < :notBefore)',
        ExpressionAttributeNames: { '#pulled': 'lastPulledAt' },
        ExpressionAttributeValues: { ':at': at, ':notBefore': notBefore },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}
