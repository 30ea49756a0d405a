/**
 * The outbox of image changes (ChangeOutbox in ports.ts): one item per committed write that changed
 * images, in its own partition (OUTBOX_PK), put by the write's own transaction (manifest-puts.ts,
 * deletes.ts). The table's stream carries each new item to the event publisher; readOutbox and
 * acknowledgeOutbox are the sweep's and the local drainer's way in. Layout: docs/storage.md.
 */
import { randomUUID } from 'node:crypto';
import { BatchWriteCommand, QueryCommand, type BatchWriteCommandOutput } from '@aws-sdk/lib-dynamodb';
import { OUTBOX_CHANGES_ATTRIBUTE, OUTBOX_PK, outboxSk } from '../../contracts/dynamodb-table';
import type { ImageChange } from '../../contracts/events';
import type { OutboxEntry } from '../ports';
import { storable, type Action, type Item, type TableContext } from './table';
import { backoff, MAX_ATTEMPTS, sleep, transact } from './transactions';

/** BatchWriteItem takes at most this many requests. */
const BATCH_WRITE_MAX = 25;

let lastStamp = 0;

/**
 * The time of a change about to be written: the wall clock, but never the same millisecond twice in
 * this process, so that writes made one after another list in that order (an outbox item's key starts
 * with it, and ties would fall to the random part).
 */
export function changeTime(): Date {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return new Date(lastStamp);
}

/**
 * The Put that records `changes` (one write's, at least one) in the transaction that makes them, keyed
 * by `at`: a changeTime, the first change's own time unless that is a caller's (a storage class change's).
 */
export function outboxPut(t: TableContext, changes: readonly ImageChange[], at: string = changes[0].time): Action {
  return {
    Put: {
      TableName: t.table,
      Item: { pk: OUTBOX_PK, sk: outboxSk(at, randomUUID()), [OUTBOX_CHANGES_ATTRIBUTE]: JSON.stringify(changes) },
    },
  };
}

/**
 * Changes of no image write (ChangeOutbox.recordChanges): the item outboxPut builds, alone in its
 * transaction (whose token makes a resend commit once). Keyed by a changeTime, not the caller's time,
 * so that it lists after the writes this process made before it.
 */
export async function recordChanges(t: TableContext, changes: readonly ImageChange[]): Promise<void> {
  if (changes.length === 0) return;
  await transact(t, [outboxPut(t, changes, changeTime().toISOString())]);
}

export async function readOutbox(t: TableContext, limit: number, after?: string): Promise<OutboxEntry[]> {
  const out: OutboxEntry[] = [];
  const from = after !== undefined && after !== '' ? after : undefined;
  let start: Item | undefined;
  while (out.length < limit) {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        KeyConditionExpression: from !== undefined ? 'pk = :pk AND sk > :after' : 'pk = :pk',
        ExpressionAttributeValues: { ':pk': OUTBOX_PK, ...(from !== undefined ? { ':after': from } : {}) },
        ConsistentRead: true,
        ScanIndexForward: true,
        Limit: limit - out.length,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      out.push({ id: item.sk as string, changes: JSON.parse(item[OUTBOX_CHANGES_ATTRIBUTE] as string) as ImageChange[] });
    }
    start = res.LastEvaluatedKey;
    // A page cut short by DynamoDB's 1 MB: the next one follows.
    if (!start) break;
  }
  return out;
}

export async function acknowledgeOutbox(t: TableContext, ids: readonly string[]): Promise<void> {
  // A batch refuses duplicate keys and keys DynamoDB cannot hold; neither names an item of the outbox.
  const keys = [...new Set(ids)].filter((sk) => sk !== '' && storable({ pk: OUTBOX_PK, sk })).map((sk) => ({ pk: OUTBOX_PK, sk }));
  for (let i = 0; i < keys.length; i += BATCH_WRITE_MAX) {
    let pending: NonNullable<BatchWriteCommandOutput['UnprocessedItems']>[string] = keys.slice(i, i + BATCH_WRITE_MAX).map((Key) => ({ DeleteRequest: { Key } }));
    for (let round = 0; pending.length > 0; round++) {
      if (round === MAX_ATTEMPTS) throw new Error(`DynamoDB table ${t.table}: ${pending.length} outbox items still unprocessed after ${MAX_ATTEMPTS} attempts`);
      if (round > 0) await sleep(backoff(round));
      const res = await t.doc.send(new BatchWriteCommand({ RequestItems: { [t.table]: pending } }));
      pending = res.UnprocessedItems?.[t.table] ?? [];
    }
  }
}
