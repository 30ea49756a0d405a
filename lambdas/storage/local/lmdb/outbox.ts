/**
 * LmdbMetadataStore's outbox of image changes (ChangeOutbox in ports.ts): `record` runs inside the
 * write transaction of the change, so an entry exists exactly when its change committed. Entries are
 * keyed by a counter kept in the same transactions; LMDB serialises write transactions, so key order
 * is commit order.
 */
import type { RootDatabase } from 'lmdb';
import type { ImageChange } from '../../../contracts/events';
import type { OutboxEntry } from '../../ports';
import { entryPage, key, prefix, storable } from './keys';

const COUNTER = key('outboxseq');
/** Wide enough for any counter a store reaches (2^53), so that byte order is numeric order. */
const ID_DIGITS = 16;

/** Must run inside a write transaction: adds one entry holding `changes`. */
export function record(db: RootDatabase, changes: ImageChange[]): void {
  if (changes.length === 0) return;
  const next = ((db.get(COUNTER) as number | undefined) ?? 0) + 1;
  db.put(COUNTER, next);
  db.put(key('outbox', String(next).padStart(ID_DIGITS, '0')), changes);
}

/** Changes of no image write (ChangeOutbox.recordChanges): one entry, in a transaction of its own. */
export async function recordChanges(db: RootDatabase, changes: readonly ImageChange[]): Promise<void> {
  if (changes.length === 0) return;
  await db.transaction(() => record(db, [...changes]));
}

export async function readOutbox(db: RootDatabase, limit: number, after?: string): Promise<OutboxEntry[]> {
  return entryPage<ImageChange[]>(db, prefix('outbox'), { last: after, limit }).items.map(({ suffix, value }) => ({ id: suffix, changes: value }));
}

export async function acknowledgeOutbox(db: RootDatabase, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.transaction(() => {
    for (const id of ids) {
      const k = key('outbox', id);
      if (storable(k)) db.remove(k);
    }
  });
}
