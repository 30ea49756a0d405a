/**
 * Draining an outbox into a sink (core/outbox-drain.ts) and local mode's drain job: entries are
 * acknowledged only after the sink took them, a failing sink leaves them all, the sweeper's minimum
 * age holds back young entries, and a failing destination is retried with growing pauses.
 */
import type { EventOrigin, ImageActionEvent, ImageChange } from '../../lambdas/contracts/events';
import type { EventSink } from '../../lambdas/core/events';
import { drainOutbox } from '../../lambdas/core/outbox-drain';
import { outboxDrainJob } from '../../lambdas/composition/local/local-events';
import type { ChangeOutbox, OutboxEntry } from '../../lambdas/storage/ports';

const ORIGIN: EventOrigin = { account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' };

function change(n: number, time: string): ImageChange {
  return { action: 'PUSH', repository: 'team/app', digest: `sha256:${String(n).padStart(64, '0')}`, tag: `v${n}`, eventId: `id-${n}`, time };
}

/** An outbox in memory, as the adapters behave: ordered by id, acknowledged ids gone. */
function memoryOutbox(entries: OutboxEntry[]): ChangeOutbox & { left(): string[] } {
  const held = new Map(entries.map((e) => [e.id, e]));
  return {
    async readOutbox(limit, after) {
      return [...held.values()].filter((e) => after === undefined || e.id > after).slice(0, limit);
    },
    async acknowledgeOutbox(ids) {
      for (const id of ids) held.delete(id);
    },
    // Part of the port since the source records FAILED replications; the drainer never calls it.
    async recordChanges(changes) {
      const id = `z${String(held.size).padStart(8, '0')}`;
      held.set(id, { id, changes: [...changes] });
    },
    left: () => [...held.keys()],
  };
}

function recordingSink(fail: () => boolean = () => false): EventSink & { got: ImageActionEvent[]; calls: number } {
  const sink = {
    got: [] as ImageActionEvent[],
    calls: 0,
    async deliver(events: readonly ImageActionEvent[]) {
      sink.calls++;
      if (fail()) throw new Error('destination down');
      sink.got.push(...events);
    },
  };
  return sink;
}

const entries = (count: number, time = '2026-12-01T10:00:00.000Z') => Array.from({ length: count }, (_, i) => ({ id: String(i).padStart(4, '0'), changes: [change(i, time)] }));

test('GIVEN 250 entries WHEN drained in batches of 100 THEN every event goes out once, in order, with its event id, and the outbox is empty', async () => {
  const outbox = memoryOutbox(entries(250));
  const sink = recordingSink();
  expect(await drainOutbox(outbox, sink, ORIGIN, { batchSize: 100 })).toBe(250);
  expect(sink.calls).toBe(3);
  expect(sink.got.map((e) => e.detail['berth-event-id'])).toEqual(Array.from({ length: 250 }, (_, i) => `id-${i}`));
  expect(sink.got[0]).toMatchObject({ source: 'berth.ecr', account: '123456789012', region: 'eu-west-1', detail: { 'image-tag': 'v0', 'action-type': 'PUSH' } });
  expect(outbox.left()).toEqual([]);
});

test('GIVEN a sink that fails WHEN drained THEN it rejects and every entry stays, to be delivered with the same event ids later', async () => {
  const outbox = memoryOutbox(entries(3));
  let down = true;
  const sink = recordingSink(() => down);
  await expect(drainOutbox(outbox, sink, ORIGIN)).rejects.toThrow('destination down');
  expect(outbox.left()).toHaveLength(3);
  down = false;
  expect(await drainOutbox(outbox, sink, ORIGIN)).toBe(3);
  expect(sink.got.map((e) => e.detail['berth-event-id'])).toEqual(['id-0', 'id-1', 'id-2']);
});

test('GIVEN entries of various ages WHEN swept with a minimum age THEN only the older ones go, oldest first, and maxEntries bounds a run', async () => {
  const now = Date.parse('2026-12-01T10:10:00.000Z');
  const outbox = memoryOutbox([
    { id: 'a', changes: [change(1, '2026-12-01T10:00:00.000Z')] },
    { id: 'b', changes: [change(2, '2026-12-01T10:05:00.000Z')] },
    { id: 'c', changes: [change(3, '2026-12-01T10:09:30.000Z')] },
  ]);
  const sink = recordingSink();
  expect(await drainOutbox(outbox, sink, ORIGIN, { minAgeMs: 2 * 60_000, now: () => now, maxEntries: 1 })).toBe(1);
  expect(outbox.left()).toEqual(['b', 'c']);
  expect(await drainOutbox(outbox, sink, ORIGIN, { minAgeMs: 2 * 60_000, now: () => now })).toBe(1);
  expect(outbox.left()).toEqual(['c']);
});

test('GIVEN a destination that fails WHEN the local drain job runs every turn THEN it pauses between attempts, and delivers everything once the destination is back', async () => {
  const outbox = memoryOutbox(entries(2));
  let down = true;
  const sink = recordingSink(() => down);
  const job = outboxDrainJob(outbox, [sink], ORIGIN);
  await expect(job.run()).rejects.toThrow('destination down');
  for (let i = 0; i < 5; i++) await job.run();
  expect(sink.calls).toBe(1);
  down = false;
  await new Promise((r) => setTimeout(r, 600));
  await job.run();
  expect(sink.got).toHaveLength(2);
  expect(outbox.left()).toEqual([]);
});
