/**
 * Writes of the DynamoDB adapter: transactions, the optimistic loop every conditional change
 * runs in, and how DynamoDB's errors are told apart (a failed condition: read again; a
 * conflict: nothing was written, back off and try again; an outcome not known yet: send the same
 * transaction again).
 */
import { randomUUID } from 'node:crypto';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Action, Key, TableContext } from './table';

/** Optimistic rounds before giving up: 20 pushes of one tag need about 20. */
export const MAX_ATTEMPTS = 80;

/** One round of an optimistic loop: a result, or "the state changed under me, read again". */
export type Step<T> = { done: T } | { again: true; immediately?: boolean };

interface CancellationReason {
  Code?: string;
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | null)?.name;
}

function reasons(err: unknown): string[] {
  return ((err as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/** A condition of this write (or of one action of this transaction) did not hold. */
export function isConditionFailure(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'ConditionalCheckFailedException') return true;
  return name === 'TransactionCanceledException' && reasons(err).includes('ConditionalCheckFailed');
}

/** Another transaction held an item at the same moment: nothing was written, try again. */
export function isConflict(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'TransactionConflictException' || name === 'TransactionInProgressException') return true;
  if (name !== 'TransactionCanceledException') return false;
  const codes = reasons(err).filter((c) => c !== 'None');
  return codes.length > 0 && codes.every((c) => c === 'TransactionConflict' || c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded');
}

export const backoff = (attempt: number) => Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6));
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One transaction, committed at most once: every send of it carries the same ClientRequestToken, so
 * that when DynamoDB cannot yet tell its outcome (TransactionInProgress: an earlier send, the SDK's
 * own retry included, is still running or landed unseen) it is sent again as it is, and a send after
 * it landed answers success without writing twice (DynamoDB keeps a token's outcome ten minutes).
 * Reading again and deciding anew instead could commit a second outbox record for the same change.
 */
export async function transact(t: TableContext, actions: Action[]): Promise<void> {
  const input = { TransactItems: actions, ClientRequestToken: randomUUID() };
  for (let attempt = 0; ; attempt++) {
    try {
      await t.doc.send(new TransactWriteCommand(input));
      return;
    } catch (err) {
      if (errorName(err) !== 'TransactionInProgressException') throw err;
      // Not a conflict past this point: a caller that read again could commit the same change twice.
      if (attempt + 1 >= MAX_ATTEMPTS) throw new Error(`DynamoDB table ${t.table}: the outcome of a transaction stayed unknown after ${MAX_ATTEMPTS} attempts`, { cause: err });
    }
    await sleep(backoff(attempt));
  }
}

/** Runs a transaction; false when a condition failed (the caller reads again), and conflicts are retried. */
export async function transactOrRetry(t: TableContext, actions: Action[]): Promise<boolean> {
  try {
    await transact(t, actions);
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/** transactOrRetry, with conflicts retried here (for callers outside `retrying`). */
export async function transactOrRetryConflicts(t: TableContext, actions: Action[]): Promise<boolean> {
  return retrying<boolean>(t, async () => ({ done: await transactOrRetry(t, actions) }));
}

/**
 * Optimistic loop: `step` reads, decides and writes; `{ again }` means the state changed
 * under it (a failed condition) and it runs again on fresh reads. Transaction conflicts
 * (two transactions on one item at once) back off and run again too.
 */
export async function retrying<T>(t: TableContext, step: () => Promise<Step<T>>): Promise<T> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      const outcome = await step();
      if ('done' in outcome) return outcome.done;
      if (outcome.immediately) continue;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    await sleep(backoff(attempt));
  }
  throw new Error(`DynamoDB table ${t.table}: gave up after ${MAX_ATTEMPTS} attempts against concurrent writers`);
}

/** ADD on an existing item only: a counter must never create the item it counts on. */
export function increment(t: TableContext, key: Key, attribute: string, by: number) {
  return {
    TableName: t.table,
    Key: key,
    UpdateExpression: 'ADD #a :by',
    ConditionExpression: 'attribute_exists(pk)',
    ExpressionAttributeNames: { '#a': attribute },
    ExpressionAttributeValues: { ':by': by },
  };
}
