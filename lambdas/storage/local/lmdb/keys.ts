/**
 * LmdbMetadataStore's keys (the layout: docs/storage.md, "LMDB metadata store"): string keys whose
 * parts are joined by \x1f, and the prefix scans over them.
 */
import type { RootDatabase } from 'lmdb';
import type { Page, PageRequest } from '../../ports';

const SEP = '\x1f';
/** Sorts above every character allowed in names, tags and digests. */
export const HIGH = '\x7f';

/**
 * LMDB's key limit (and lmdb-js throws outright a little above it). Every key this store
 * writes is far shorter, but ids and `last` bounds come straight from URLs: a longer one
 * cannot name anything stored and must not turn a client's request into a crash.
 */
const MAX_KEY_BYTES = 1978;

export type ReadTransaction = ReturnType<RootDatabase['useReadTransaction']>;

export const key = (...parts: string[]): string => parts.join(SEP);
export const storable = (k: string): boolean => Buffer.byteLength(k) <= MAX_KEY_BYTES;
export const prefix = (...parts: string[]): string => parts.join(SEP) + SEP;

/** A prefix of `k` that fits the key limit (a UTF-16 unit is at most 3 UTF-8 bytes), never ending inside a surrogate pair. */
export function storablePrefix(k: string): string {
  const cut = k.slice(0, Math.floor(MAX_KEY_BYTES / 3));
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** The last key part of every entry under `start`, up to `limit` of them. */
export function suffixes(db: RootDatabase, start: string, limit: number, transaction?: ReadTransaction): string[] {
  const out: string[] = [];
  for (const k of db.getKeys({ start, end: start + HIGH, ...(transaction ? { transaction } : {}) })) {
    if (out.length >= limit) break;
    out.push(String(k).slice(start.length));
  }
  return out;
}

/** One page of the last key parts under `start`, after `last`. */
export function page(db: RootDatabase, start: string, request: PageRequest): Page {
  const { items, more } = entryPage(db, start, request, false);
  return { items: items.map((entry) => entry.suffix), more };
}

/** One page of the entries under `start` (each key's last part, and its value unless `values` is false), after `last`. */
export function entryPage<T = unknown>(
  db: RootDatabase,
  start: string,
  { last, limit }: PageRequest,
  values = true,
): { items: Array<{ suffix: string; value: T }>; more: boolean } {
  const items: Array<{ suffix: string; value: T }> = [];
  let from = last === undefined ? start : start + last;
  // LMDB cannot seek to a key it could not store: seek to a prefix of the bound instead,
  // and skip what sorts at or before the whole bound (byte order, as LMDB sorts).
  const clipped = !storable(from);
  if (clipped) from = storablePrefix(from);
  const bound = clipped ? Buffer.from(last!) : undefined;
  const range = { start: from, end: start + HIGH };
  const entries = values ? db.getRange(range) : db.getKeys(range).map((k) => ({ key: k, value: undefined }));
  for (const { key: k, value } of entries) {
    const suffix = String(k).slice(start.length);
    if (suffix === last) continue;
    if (bound && Buffer.compare(Buffer.from(suffix), bound) <= 0) continue;
    if (items.length === limit) return { items, more: true };
    items.push({ suffix, value: value as T });
  }
  return { items, more: false };
}
