/**
 * EventBridgeEventSink (lambdas/aws/eventbridge-event-sink.ts) against a fake EventBridge client:
 * the entries of the contract, at most 10 and 256 KB per PutEvents call, failed entries (and only
 * they) sent again with backoff, a rejection naming the codes when some still fail, none of the
 * retries for codes EventBridge will answer again. test/e2e/event-publisher.test.ts runs it on the
 * EventBridge stand-in under the real SDK.
 */
import { PutEventsCommand, type PutEventsCommandOutput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { imageActionEvent, putEventsEntry, type EventOrigin, type ImageChange } from '../../lambdas/contracts/events';
import { EventBridgeEventSink, MAX_PUT_EVENTS_BYTES, putEventsEntrySize, putEventsGroups } from '../../lambdas/aws/eventbridge-event-sink';

const ORIGIN: EventOrigin = { account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' };
const change = (n: number, tag?: string): ImageChange => ({
  action: 'PUSH',
  repository: 'team/app',
  digest: `sha256:${String(n).padStart(64, '0')}`,
  ...(tag !== undefined ? { tag } : {}),
  eventId: `event-${n}`,
  time: '2026-03-02T10:15:42.517Z',
});
const event = (n: number, tag?: string) => imageActionEvent(change(n, tag), ORIGIN, `id-${n}`);

/** A client answering each call with `answer(entries, call)`; records what each call sent. */
function fakeClient(answer: (entries: PutEventsRequestEntry[], call: number) => Partial<PutEventsCommandOutput>) {
  const calls: PutEventsRequestEntry[][] = [];
  return {
    calls,
    client: {
      send: async (command: unknown) => {
        expect(command).toBeInstanceOf(PutEventsCommand);
        const entries = (command as PutEventsCommand).input.Entries ?? [];
        calls.push(entries);
        return answer(entries, calls.length);
      },
    } as never,
  };
}
const allTaken = (entries: PutEventsRequestEntry[]) => ({ FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `eb-${i}` })) });

describe('EventBridgeEventSink', () => {
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  beforeEach(() => (waits.length = 0));

  test('GIVEN 23 events WHEN delivered THEN 3 PutEvents calls of 10, 10 and 3 entries, in order, each the contract’s entry on the configured bus', async () => {
    const { client, calls } = fakeClient(allTaken);
    const sink = new EventBridgeEventSink({ client, eventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/berth', sleep });
    const events = Array.from({ length: 23 }, (_, n) => event(n, n % 2 === 0 ? `v${n}` : undefined));
    await sink.deliver(events);
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(calls.flat()).toEqual(
      events.map((_, n) => putEventsEntry(change(n, n % 2 === 0 ? `v${n}` : undefined), { ...ORIGIN, eventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/berth' })),
    );
    expect(waits).toEqual([]);
  });

  test('GIVEN no events WHEN delivered THEN nothing is sent', async () => {
    const { client, calls } = fakeClient(allTaken);
    await new EventBridgeEventSink({ client, sleep }).deliver([]);
    expect(calls).toEqual([]);
  });

  test('GIVEN entries that together pass 256 KB WHEN grouped THEN no call carries more than 256 KB', () => {
    const big = (n: number) => ({ ...putEventsEntry(change(n), ORIGIN), Detail: JSON.stringify({ padding: 'x'.repeat(100 * 1024), n }) });
    const groups = putEventsGroups([big(1), big(2), big(3), big(4), big(5)], (entry) => [entry]);
    expect(groups.map((g) => g.length)).toEqual([2, 2, 1]);
    for (const group of groups) expect(group.reduce((sum, e) => sum + putEventsEntrySize(e), 0)).toBeLessThanOrEqual(MAX_PUT_EVENTS_BYTES);
  });

  test('GIVEN items of several entries each WHEN grouped THEN an item is never split and a group holds at most 10 entries (an item of more stands alone)', () => {
    const item = (n: number, entries: number) => ({ n, entries: Array.from({ length: entries }, (_, i) => putEventsEntry(change(n * 100 + i), ORIGIN)) });
    const groups = putEventsGroups([item(1, 4), item(2, 4), item(3, 4), item(4, 12), item(5, 1)], (i) => i.entries);
    expect(groups.map((g) => g.map((i) => i.n))).toEqual([[1, 2], [3], [4], [5]]);
  });

  test('GIVEN a call whose second entry is throttled WHEN delivered THEN only that entry is sent again, after a wait, and the delivery resolves', async () => {
    const { client, calls } = fakeClient((entries, call) =>
      call === 1
        ? { FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }, { EventId: 'c' }] }
        : allTaken(entries),
    );
    const sink = new EventBridgeEventSink({ client, sleep, baseDelayMs: 100 });
    await sink.deliver([event(1), event(2), event(3)]);
    expect(calls.map((c) => c.map((e) => JSON.parse(e.Detail!)['berth-event-id']))).toEqual([['event-1', 'event-2', 'event-3'], ['event-2']]);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThanOrEqual(100);
  });

  test('GIVEN an entry that keeps failing with InternalFailure WHEN delivered THEN it is sent 4 times with growing bounds and the delivery rejects naming the code', async () => {
    const { client, calls } = fakeClient((entries) => ({ FailedEntryCount: entries.length, Entries: entries.map(() => ({ ErrorCode: 'InternalFailure', ErrorMessage: 'try later' })) }));
    const sink = new EventBridgeEventSink({ client, sleep, baseDelayMs: 100, maxDelayMs: 250 });
    await expect(sink.deliver([event(1)])).rejects.toThrow(/EventBridge refused 1 of 1 entries \(InternalFailure\): try later/);
    expect(calls).toHaveLength(4);
    expect(waits).toHaveLength(3);
    [100, 200, 250].forEach((bound, i) => expect(waits[i]).toBeLessThanOrEqual(bound));
  });

  test('GIVEN an entry refused with NotAuthorizedForSourceException WHEN delivered THEN it is not sent again and the delivery rejects at once with the code', async () => {
    const { client, calls } = fakeClient((entries) => ({ FailedEntryCount: 1, Entries: entries.map((_, i) => (i === 0 ? { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' } : { EventId: 'x' })) }));
    const sink = new EventBridgeEventSink({ client, sleep });
    await expect(sink.deliver([event(1), event(2)])).rejects.toMatchObject({ name: 'EventBridgeDeliveryError', errorCodes: ['NotAuthorizedForSourceException'] });
    expect(calls).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  test('GIVEN a first call that fails in its second group WHEN delivered THEN the first group stays sent and the rejection comes from the second', async () => {
    const { client, calls } = fakeClient((entries, call) => (call === 1 ? allTaken(entries) : { FailedEntryCount: entries.length, Entries: entries.map(() => ({ ErrorCode: 'InvalidArgument' })) }));
    const sink = new EventBridgeEventSink({ client, sleep });
    await expect(sink.deliver(Array.from({ length: 12 }, (_, n) => event(n)))).rejects.toThrow(/refused 2 of 2 entries \(InvalidArgument\)/);
    expect(calls.map((c) => c.length)).toEqual([10, 2]);
  });

  test('GIVEN a call that throws (the SDK gave up) WHEN delivered THEN the delivery rejects with that error', async () => {
    const client = { send: async () => Promise.reject(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })) } as never;
    await expect(new EventBridgeEventSink({ client, sleep }).deliver([event(1)])).rejects.toThrow('socket hang up');
  });

  test('GIVEN an answer with FailedEntryCount but no per-entry results WHEN delivered THEN every entry counts as failed', async () => {
    const { client, calls } = fakeClient((entries, call) => (call === 1 ? { FailedEntryCount: 2 } : allTaken(entries)));
    await new EventBridgeEventSink({ client, sleep }).deliver([event(1), event(2)]);
    expect(calls.map((c) => c.length)).toEqual([2, 2]);
  });
});
