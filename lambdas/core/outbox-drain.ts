/**
 * Moving recorded image changes from the outbox to an EventSink: the one rule both deployments
 * follow (the local drainer in the server, the publisher function on AWS). An entry is acknowledged
 * only after the sink has taken all of its events, so a crash or a failure in between leaves it to be
 * delivered again: at least once, deduplicated by consumers on `berth-event-id` (docs/events.md).
 */
import type { ChangeOutbox, OutboxEntry } from '../storage/ports';
import { eventsOf, type EventOrigin, type EventSink } from './events';

/** Delivers the entries' events (in entry order) and then acknowledges the entries. Rejects, acknowledging nothing, when the sink does. */
export async function deliverOutboxEntries(
  entries: readonly OutboxEntry[],
  sink: EventSink,
  origin: EventOrigin,
  outbox: Pick<ChangeOutbox, 'acknowledgeOutbox'>,
): Promise<void> {
  if (entries.length === 0) return;
  const changes = entries.flatMap((entry) => entry.changes);
  if (changes.length > 0) await sink.deliver(eventsOf(changes, origin));
  await outbox.acknowledgeOutbox(entries.map((entry) => entry.id));
}

export interface DrainOptions {
  /** Entries read and delivered per sink call. @default 100 */
  batchSize?: number;
  /**
   * Only entries whose changes committed at least this long ago (a sweeper leaves the newest to the
   * stream that delivers them within seconds). @default 0, every entry
   */
  minAgeMs?: number;
  /** Stop after this many entries (one run's budget). @default no limit */
  maxEntries?: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

/**
 * Delivers what the outbox holds, oldest first, batch by batch, until it is empty (or holds only
 * entries younger than `minAgeMs`). Answers how many entries it delivered; rejects with the sink's
 * error, leaving the batch that failed (and everything after it) in the outbox.
 */
export async function drainOutbox(outbox: ChangeOutbox, sink: EventSink, origin: EventOrigin, options: DrainOptions = {}): Promise<number> {
  const batchSize = options.batchSize ?? 100;
  const minAgeMs = options.minAgeMs ?? 0;
  const maxEntries = options.maxEntries ?? Infinity;
  const now = options.now ?? Date.now;
  let delivered = 0;
  while (delivered < maxEntries) {
    const page = await outbox.readOutbox(Math.min(batchSize, maxEntries - delivered));
    const cutoff = now() - minAgeMs;
    const ripe = minAgeMs > 0 ? takeWhile(page, (entry) => committedAt(entry) <= cutoff) : page;
    if (ripe.length === 0) return delivered;
    await deliverOutboxEntries(ripe, sink, origin, outbox);
    delivered += ripe.length;
    if (ripe.length < page.length || page.length < batchSize) return delivered;
  }
  return delivered;
}

/** When the entry's write committed: its changes share that time (the latest, should they not). */
function committedAt(entry: OutboxEntry): number {
  return Math.max(0, ...entry.changes.map((change) => Date.parse(change.time)).filter((t) => !Number.isNaN(t)));
}

function takeWhile<T>(items: readonly T[], keep: (item: T) => boolean): T[] {
  const out: T[] = [];
  for (const item of items) {
    if (!keep(item)) break;
    out.push(item);
  }
  return out;
}
