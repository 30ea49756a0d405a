/** Upload sessions: one item each, found by startedAt through gsi1, expired by DynamoDB's TTL as a backstop. */
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GSI1, GSI1_UPLOADS, UPLOAD_SK, uploadPk } from '../../contracts/dynamodb-table';
import type { UploadState } from '../../core/model';
import { uploadFields, uploadFromItem } from './items';
import { batchGet, get } from './reads';
import { bytes, keyString, MAX_SK_BYTES, storable, writableKey, type Item, type TableContext } from './table';
import { isConditionFailure } from './transactions';

/** Upload sessions disappear this long after they were created (the core purges far earlier). */
export const UPLOAD_TTL_SECONDS = 7 * 24 * 60 * 60;

export async function createUpload(t: TableContext, state: UploadState): Promise<void> {
  const key = writableKey({ pk: uploadPk(state.id), sk: UPLOAD_SK });
  // From creation, not from startedAt: a caller-supplied time in the past must not make AWS drop a live session.
  const expiresAt = Math.floor(Math.max(Date.now(), Date.parse(state.startedAt) || 0) / 1000) + UPLOAD_TTL_SECONDS;
  await t.doc.send(
    new PutCommand({
      TableName: t.table,
      Item: { ...key, ...uploadFields(state), expiresAt, gpk: GSI1_UPLOADS, gsk: `${state.startedAt}#${state.id}` },
    }),
  );
}

export async function getUpload(t: TableContext, id: string): Promise<UploadState | null> {
  const item = await get(t, { pk: uploadPk(id), sk: UPLOAD_SK });
  return item ? uploadFromItem(item) : null;
}

export async function advanceUpload(t: TableContext, id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
  const key = { pk: uploadPk(id), sk: UPLOAD_SK };
  if (!storable(key)) return false;
  // The hash state describes exactly `offset` bytes (see the core): an advance without one clears it.
  const hash = next.hashState !== undefined;
  try {
    await t.doc.send(
      new UpdateCommand({
        TableName: t.table,
        Key: key,
        UpdateExpression: hash ? 'SET #offset = :next, hashState = :hash' : 'SET #offset = :next REMOVE hashState',
        ConditionExpression: 'attribute_exists(pk) AND #offset = :expected',
        ExpressionAttributeNames: { '#offset': 'offset' },
        ExpressionAttributeValues: { ':next': next.offset, ':expected': expectedOffset, ...(hash ? { ':hash': next.hashState } : {}) },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

export async function deleteUpload(t: TableContext, id: string): Promise<void> {
  const key = { pk: uploadPk(id), sk: UPLOAD_SK };
  if (!storable(key)) return;
  await t.doc.send(new DeleteCommand({ TableName: t.table, Key: key }));
}

export async function listUploadsStartedBefore(t: TableContext, isoTime: string, limit: number): Promise<UploadState[]> {
  // By startedAt, through the index, never by the TTL: AWS deletes expired items only
  // eventually (and DynamoDB Local never does).
  if (limit <= 0 || isoTime === '' || bytes(isoTime) > MAX_SK_BYTES) return [];
  const out: UploadState[] = [];
  let start: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        IndexName: GSI1,
        KeyConditionExpression: 'gpk = :gpk AND gsk < :before',
        ExpressionAttributeValues: { ':gpk': GSI1_UPLOADS, ':before': isoTime },
        Limit: Math.min(100, limit - out.length),
        ExclusiveStartKey: start,
      }),
    );
    const keys = (res.Items ?? []).map((i) => ({ pk: i.pk as string, sk: i.sk as string }));
    const found = await batchGet(t, keys);
    // The index lags the table: skip what is gone or no longer matches.
    for (const k of keys) {
      const item = found.get(keyString(k));
      if (item && (item.startedAt as string) < isoTime && out.length < limit) out.push(uploadFromItem(item));
    }
    start = res.LastEvaluatedKey;
  } while (start && out.length < limit);
  return out;
}
