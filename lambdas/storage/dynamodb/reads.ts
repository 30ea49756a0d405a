/** Reads of the DynamoDB adapter: items by key, batches, and Query pages of a partition. */
import { BatchGetCommand, GetCommand, QueryCommand, type BatchGetCommandOutput, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Page, PageRequest } from '../ports';
import { clip, keyString, MAX_SK_BYTES, storable, type Item, type Key, type TableContext } from './table';
import { backoff, sleep } from './transactions';

export async function get(t: TableContext, key: Key, consistent = true, projection?: string, names?: Record<string, string>): Promise<Item | undefined> {
  if (!storable(key)) return undefined;
  const res = await t.doc.send(
    new GetCommand({
      TableName: t.table,
      Key: key,
      ConsistentRead: consistent,
      ...(projection ? { ProjectionExpression: projection } : {}),
      ...(names ? { ExpressionAttributeNames: names } : {}),
    }),
  );
  return res.Item;
}

/** Consistent BatchGetItem of any number of keys, keyed by `keyString`. */
export async function batchGet(t: TableContext, keys: Key[], projection?: string, names?: Record<string, string>): Promise<Map<string, Item>> {
  const out = new Map<string, Item>();
  const unique = [...new Map(keys.map((k) => [keyString(k), k])).values()];
  for (let i = 0; i < unique.length; i += 100) {
    let pending: Item[] | undefined = unique.slice(i, i + 100);
    for (let round = 0; pending && pending.length > 0; round++) {
      if (round > 0) await sleep(backoff(round));
      const res: BatchGetCommandOutput = await t.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [t.table]: { Keys: pending, ConsistentRead: true, ...(projection ? { ProjectionExpression: projection } : {}), ...(names ? { ExpressionAttributeNames: names } : {}) },
          },
        }),
      );
      for (const item of res.Responses?.[t.table] ?? []) out.set(keyString(item as Key), item);
      pending = res.UnprocessedKeys?.[t.table]?.Keys;
    }
  }
  return out;
}

/** The part after `prefix` of every sort key under it, up to `limit`. */
export async function suffixes(t: TableContext, pk: string, prefix: string, limit: number): Promise<string[]> {
  return (await queryPrefix(t, pk, prefix, limit, 'sk')).map((item) => (item.sk as string).slice(prefix.length));
}

export async function queryPrefix(t: TableContext, pk: string, prefix: string, limit: number, projection?: string, names?: Record<string, string>): Promise<Item[]> {
  const out: Item[] = [];
  for await (const page of prefixPages(t, pk, prefix, { limit, projection, names })) out.push(...page);
  return out;
}

/** Consistent Query pages of the items under `prefix`: `limit` items in all, `pageSize` per page at most. */
export async function* prefixPages(
  t: TableContext,
  pk: string,
  prefix: string,
  options: { limit?: number; pageSize?: number; projection?: string; names?: Record<string, string> },
): AsyncGenerator<Item[]> {
  const limit = options.limit ?? Infinity;
  let read = 0;
  let start: Item | undefined;
  do {
    const pageLimit = Math.min(limit - read, options.pageSize ?? Infinity);
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        ConsistentRead: true,
        ExclusiveStartKey: start,
        ...(Number.isFinite(pageLimit) ? { Limit: pageLimit } : {}),
        ...(options.projection ? { ProjectionExpression: options.projection } : {}),
        ...(options.names ? { ExpressionAttributeNames: options.names } : {}),
      }),
    );
    const items = res.Items ?? [];
    read += items.length;
    start = res.LastEvaluatedKey;
    yield items;
  } while (start && read < limit);
}

/**
 * One page of the sort keys under `prefix` in partition `partition`, after `last` (exclusive).
 * DynamoDB orders sort keys by their UTF-8 bytes, as the port asks. A bound longer than
 * a sort key may be is clipped to a prefix (which sorts at or before it) and what sorts
 * at or before the whole bound is skipped here.
 */
export async function pageByKey(
  t: TableContext,
  base: Pick<QueryCommandInput, 'TableName' | 'IndexName' | 'ConsistentRead' | 'ProjectionExpression'>,
  pkName: string,
  partition: string,
  skName: string,
  prefix: string,
  page: PageRequest,
  extract: (item: Item) => string,
): Promise<Page> {
  const { items, more } = await pageItemsByKey(t, base, pkName, partition, skName, prefix, page, extract);
  return { items: items.map((i) => i.name), more };
}

/** pageByKey, with each name's item. */
export async function pageItemsByKey(
  t: TableContext,
  base: Pick<QueryCommandInput, 'TableName' | 'IndexName' | 'ConsistentRead' | 'ProjectionExpression'>,
  pkName: string,
  partition: string,
  skName: string,
  prefix: string,
  { last, limit }: PageRequest,
  extract: (item: Item) => string,
): Promise<{ items: Array<{ name: string; item: Item }>; more: boolean }> {
  const values: Record<string, unknown> = { ':p': partition };
  let condition: string;
  const bound = last !== undefined && last !== '' ? Buffer.from(last) : undefined;
  if (last === undefined || last === '') {
    condition = prefix === '' ? '#pk = :p' : '#pk = :p AND begins_with(#sk, :prefix)';
    if (prefix !== '') values[':prefix'] = prefix;
  } else {
    const from = clip(prefix + last, MAX_SK_BYTES);
    if (prefix === '') {
      condition = '#pk = :p AND #sk >= :from';
      values[':from'] = from;
    } else {
      // Every key under `prefix` sorts below `prefix` with its last character raised by one.
      condition = '#pk = :p AND #sk BETWEEN :from AND :to';
      values[':from'] = from;
      values[':to'] = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    }
  }
  const items: Array<{ name: string; item: Item }> = [];
  let start: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        ...base,
        KeyConditionExpression: condition,
        ExpressionAttributeNames: prefix === '' && condition === '#pk = :p' ? { '#pk': pkName } : { '#pk': pkName, '#sk': skName },
        ExpressionAttributeValues: values,
        Limit: Math.min(1000, limit + 1 - items.length + (bound ? 1 : 0)),
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      const name = extract(item);
      if (bound && Buffer.compare(Buffer.from(name), bound) <= 0) continue;
      if (items.length === limit) return { items, more: true };
      items.push({ name, item });
    }
    start = res.LastEvaluatedKey;
  } while (start);
  return { items, more: false };
}

/** Up to `limit` keys of a partition (consistent). */
export async function queryPartition(t: TableContext, pk: string, limit: number): Promise<Item[]> {
  const res = await t.doc.send(
    new QueryCommand({ TableName: t.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ProjectionExpression: 'sk', ConsistentRead: true, Limit: limit }),
  );
  return res.Items ?? [];
}
