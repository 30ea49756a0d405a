/**
 * What every part of the DynamoDB adapter works on: the table (a borrowed client and its name),
 * DynamoDB's key and item limits, and the item types. The layout is in docs/storage.md
 * ("DynamoDB single-table layout"); the key builders are the table's contract.
 */
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { TableKey } from '../../contracts/dynamodb-table';
import { StorageLimitError } from '../errors';

/** The context each operation of the adapter takes. */
export interface TableContext {
  /** Borrowed from the caller (one per Lambda container), never closed here. */
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
  /** How old a pin record must be before it may be taken for one a crash left (docs/storage.md, "Orphan pins"). */
  readonly orphanPinGraceMs: number;
  /** The clock that stamps and ages pins. */
  readonly now: () => number;
}

export type Key = TableKey;
export type Item = Record<string, unknown>;
export type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** TransactWriteItems takes at most this many actions. */
export const MAX_ACTIONS = 100;
export const MAX_PK_BYTES = 2048;
export const MAX_SK_BYTES = 1024;
/** What this store lets an item grow to before refusing it (DynamoDB's limit is 400 KB). */
export const MAX_ITEM_BYTES = 390 * 1024;

export const bytes = (s: string): number => Buffer.byteLength(s);

/** Ids and bounds come straight from URLs: a key DynamoDB could not store names nothing stored. */
export const storable = (k: Key): boolean => bytes(k.pk) <= MAX_PK_BYTES && bytes(k.sk) <= MAX_SK_BYTES;

export function writableKey(key: Key): Key {
  if (!storable(key)) {
    throw new Error(
      `DynamoDB cannot store the key ${key.pk.slice(0, 80)}… / ${key.sk.slice(0, 80)}… (partition keys hold ${MAX_PK_BYTES} bytes, sort keys ${MAX_SK_BYTES})`,
    );
  }
  return key;
}

/** A key as one string, for maps of items read in a batch. */
export const keyString = (k: Key) => `${k.pk}\u0000${k.sk}`;

/** The longest prefix of `s` within `max` UTF-8 bytes, never ending inside a surrogate pair. */
export function clip(s: string, max: number): string {
  if (bytes(s) <= max) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (bytes(s.slice(0, mid)) <= max) lo = mid;
    else hi = mid - 1;
  }
  const cut = s.slice(0, lo);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A record that cannot fit in one DynamoDB item (400 KB) even without its body. */
export class ItemTooLargeError extends StorageLimitError {
  constructor(readonly what: string, readonly bytes: number) {
    super(`${what} needs about ${bytes} bytes in one DynamoDB item, which holds at most 400 KB`);
    this.name = 'ItemTooLargeError';
  }
}

/** An upper estimate of DynamoDB's item size (names + values; numbers counted as 21 bytes). */
export function itemSize(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'string') return bytes(value);
  if (typeof value === 'number' || typeof value === 'boolean') return 21;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + itemSize(v), 0);
  return 3 + Object.entries(value as Item).reduce((n, [k, v]) => n + 1 + bytes(k) + itemSize(v), 0);
}

export function checkItemSize(what: string, item: Item): void {
  const size = itemSize(item);
  if (size > MAX_ITEM_BYTES) throw new ItemTooLargeError(what, size);
}
