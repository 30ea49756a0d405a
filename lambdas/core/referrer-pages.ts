/**
 * Reading a subject's referrers without holding them all: a referrer carries its manifest's
 * annotations (up to the manifest limit each), and anyone who may push can add any number of
 * them, so both the reads from the metadata store and the page answered are bounded.
 */
import type { ReferrerRecord } from './model';
import type { ManifestStore } from '../storage/ports';

/** Largest referrers page (OCI listing, ListImageReferrers) in bytes of JSON: the manifest limit, so one descriptor always fits. */
export const DEFAULT_REFERRERS_PAGE_BYTES = 4 * 1024 * 1024;

/** Referrers asked of the store per read when the caller does not say; the adapters bound a read in bytes too. */
const READ_CHUNK = 100;

type ReferrerSource = Pick<ManifestStore, 'listReferrers'>;

/** Every referrer of `subject` after `after`, in digest byte order, read a page at a time. */
export async function* eachReferrer(store: ReferrerSource, repository: string, subject: string, options: { after?: string; chunk?: number } = {}): AsyncGenerator<ReferrerRecord> {
  let last = options.after;
  const limit = Math.max(1, options.chunk ?? READ_CHUNK);
  for (;;) {
    const page = await store.listReferrers(repository, subject, { last, limit });
    yield* page.items;
    // An empty page ends the listing even if `more` was said: the port never returns none while any follow.
    if (!page.more || page.items.length === 0) return;
    last = page.items[page.items.length - 1].digest;
  }
}

export interface ReferrerPageRequest<T> {
  /** The previous page's last digest (exclusive). */
  after?: string;
  /** Which referrers the page lists (the rest are read past). @default all */
  matches?: (record: ReferrerRecord) => boolean;
  /** A referrer as the answer's JSON shows it. */
  describe: (record: ReferrerRecord) => T;
  maxItems: number;
  /** Bytes the items' JSON may take, commas between them included; the first item is listed whatever its size. */
  maxBytes: number;
}

export interface ReferrerPageResult<T> {
  items: T[];
  /** Present when a matching referrer follows: the `after` of the next page. */
  nextAfter?: string;
}

/** One page of referrers, ending where the next matching one would exceed the count or the byte budget. */
export async function readReferrerPage<T>(store: ReferrerSource, repository: string, subject: string, request: ReferrerPageRequest<T>): Promise<ReferrerPageResult<T>> {
  const items: T[] = [];
  let bytes = 0;
  let lastDigest: string | undefined;
  // One more than the page holds shows whether another follows without a second read.
  for await (const record of eachReferrer(store, repository, subject, { after: request.after, chunk: request.maxItems + 1 })) {
    if (request.matches && !request.matches(record)) continue;
    const item = request.describe(record);
    const size = jsonBytes(item) + (items.length > 0 ? 1 : 0);
    if (items.length > 0 && (items.length >= request.maxItems || bytes + size > request.maxBytes)) return { items, nextAfter: lastDigest };
    items.push(item);
    bytes += size;
    lastDigest = record.digest;
  }
  return { items };
}

/** The length of `value` as JSON.stringify writes it, in UTF-8 bytes. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
