/**
 * Content records (ContentStore in ports.ts; the protocol in docs/garbage-collection.md): one item per
 * digest in its own partition, listed in gsi1's `content` partition for the collector. Every change
 * is one conditional write, or one action of the transaction that links, unlinks or commits what the
 * content is counted for (docs/storage.md, "Content records").
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONTENT_SK, contentPk, GSI1, GSI1_CONTENT, gsi1BlobPk } from '../../contracts/dynamodb-table';
import type { ContentClaim, ContentRecord, PageRequest } from '../ports';
import { batchGet, pageByKey } from './reads';
import { bytes, keyString, MAX_PK_BYTES, storable, writableKey, type Item, type Key, type TableContext } from './table';
import { isConditionFailure, retrying } from './transactions';

export const contentKey = (digest: string): Key => ({ pk: contentPk(digest), sk: CONTENT_SK });

/** Times are compared as strings in conditions: every one is written, and compared, in toISOString's form. */
const iso = (time: string) => new Date(time).toISOString();
const stamp = (t: TableContext) => new Date(t.now()).toISOString();

/**
 * The Update that changes a record's `links` by `by`, creating the record if it is absent (in the
 * index too). A claim or a link (`by` >= 0) renews `touchedAt`, from which the grace period runs; an
 * unlink leaves it, so content unlinked long after its last claim can go in the same collection.
 * `size` (a link knows it) is kept for statistics and the collector's report. With `refuseDeleting`,
 * it fails while the collector deletes the content: what links or claims it must not land then.
 */
export function countLinks(t: TableContext, digest: string, by: number, refuseDeleting: boolean, size?: number) {
  const sets = [
    by >= 0 ? 'touchedAt = :now' : 'touchedAt = if_not_exists(touchedAt, :now)',
    'links = if_not_exists(links, :base) + :by',
    'gpk = if_not_exists(gpk, :gpk)',
    'gsk = if_not_exists(gsk, :gsk)',
    ...(size !== undefined ? ['#size = :size'] : []),
  ];
  return {
    TableName: t.table,
    Key: writableKey(contentKey(digest)),
    // A decrement of a record that is gone (it never should be) leaves 0, never a negative count.
    UpdateExpression: `SET ${sets.join(', ')}`,
    ...(refuseDeleting ? { ConditionExpression: 'attribute_not_exists(deletingSince)' } : {}),
    ...(size !== undefined ? { ExpressionAttributeNames: { '#size': 'size' } } : {}),
    ExpressionAttributeValues: { ':now': stamp(t), ':base': Math.max(0, -by), ':by': by, ':gpk': GSI1_CONTENT, ':gsk': digest, ...(size !== undefined ? { ':size': size } : {}) },
  };
}

function recordFromItem(digest: string, item: Item): ContentRecord {
  return {
    digest,
    links: (item.links as number | undefined) ?? 0,
    touchedAt: item.touchedAt as string,
    ...(typeof item.size === 'number' ? { size: item.size } : {}),
    ...(item.deletingSince !== undefined ? { deletingSince: item.deletingSince as string } : {}),
  };
}

/** The record's `deletingSince` now (consistent), or undefined when it is absent or not being deleted. */
export async function deletingSince(t: TableContext, digest: string): Promise<string | undefined> {
  const key = contentKey(digest);
  if (!storable(key)) return undefined;
  const res = await t.doc.send(new GetCommand({ TableName: t.table, Key: key, ConsistentRead: true, ProjectionExpression: 'deletingSince' }));
  return res.Item?.deletingSince as string | undefined;
}

export async function claimContent(t: TableContext, digest: string): Promise<ContentClaim> {
  return retrying<ContentClaim>(t, async () => {
    try {
      await t.doc.send(new UpdateCommand(countLinks(t, digest, 0, true)));
      return { done: { ok: true } };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
    const since = await deletingSince(t, digest);
    // Finished meanwhile (the record is gone): claim again.
    return since !== undefined ? { done: { ok: false, reason: 'being-deleted', since } } : { again: true, immediately: true };
  });
}

export async function getContentRecord(t: TableContext, digest: string): Promise<ContentRecord | null> {
  const key = contentKey(digest);
  if (!storable(key)) return null;
  const res = await t.doc.send(new GetCommand({ TableName: t.table, Key: key, ConsistentRead: true }));
  return res.Item ? recordFromItem(digest, res.Item) : null;
}

/**
 * The index nominates (eventually consistent, keys only); each record is then read from the table
 * (consistent), and one gone meanwhile is left out. The collector's begin re-checks what it decides on.
 */
export async function listContentRecords(t: TableContext, page: PageRequest): Promise<{ items: ContentRecord[]; more: boolean }> {
  const { items: digests, more } = await pageByKey(t, { TableName: t.table, IndexName: GSI1 }, 'gpk', GSI1_CONTENT, 'gsk', '', page, (item) => item.gsk as string);
  const found = await batchGet(t, digests.map(contentKey));
  const items: ContentRecord[] = [];
  for (const digest of digests) {
    const item = found.get(keyString(contentKey(digest)));
    if (item) items.push(recordFromItem(digest, item));
  }
  return { items, more };
}

export async function beginContentDeletion(t: TableContext, digest: string, touchedBefore: string, staleBefore: string): Promise<boolean> {
  const key = contentKey(digest);
  if (!storable(key)) return false;
  // A backstop for links nothing counted (written by version-2 code still running after the upgrade:
  // docs/storage.md, "Upgrading from layout version 2"). The index lags writes by a moment; a link is
  // older than the grace period by the time its content may go.
  if (await linkedSomewhere(t, digest)) return false;
  const now = stamp(t);
  try {
    await t.doc.send(
      new UpdateCommand({
        TableName: t.table,
        Key: key,
        UpdateExpression: 'SET deletingSince = :now',
        // An absent record fails both sides: it is created below, only if truly nothing links the content.
        ConditionExpression: '(links = :zero AND touchedAt < :touchedBefore AND attribute_not_exists(deletingSince)) OR deletingSince < :staleBefore',
        ExpressionAttributeValues: { ':now': now, ':zero': 0, ':touchedBefore': iso(touchedBefore), ':staleBefore': iso(staleBefore) },
      }),
    );
    return true;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
  const existing = await t.doc.send(new GetCommand({ TableName: t.table, Key: key, ConsistentRead: true, ProjectionExpression: 'pk' }));
  if (existing.Item) return false;
  // No record: since layout 3 every counted link and manifest body kept as content has one, so nothing uses the content.
  try {
    await t.doc.send(
      new PutCommand({
        TableName: t.table,
        Item: { ...key, links: 0, touchedAt: new Date(0).toISOString(), deletingSince: now, gpk: GSI1_CONTENT, gsk: digest },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return true;
  } catch (err) {
    // A claim created it meanwhile.
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

async function linkedSomewhere(t: TableContext, digest: string): Promise<boolean> {
  if (bytes(gsi1BlobPk(digest)) > MAX_PK_BYTES) return false;
  const res = await t.doc.send(
    new QueryCommand({ TableName: t.table, IndexName: GSI1, KeyConditionExpression: 'gpk = :gpk', ExpressionAttributeValues: { ':gpk': gsi1BlobPk(digest) }, Limit: 1 }),
  );
  return (res.Items?.length ?? 0) > 0;
}

export async function finishContentDeletion(t: TableContext, digest: string): Promise<void> {
  const key = contentKey(digest);
  if (!storable(key)) return;
  try {
    await t.doc.send(new DeleteCommand({ TableName: t.table, Key: key, ConditionExpression: 'attribute_exists(deletingSince)' }));
  } catch (err) {
    // Not being deleted (finished by another, or never begun): nothing to remove.
    if (!isConditionFailure(err)) throw err;
  }
}
