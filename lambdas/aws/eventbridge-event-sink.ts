/**
 * The EventSink of the AWS deployment: image events to an EventBridge bus with PutEvents, in the
 * entries of the contract (contracts/events.ts), at most 10 entries and 256 KB per call. Entries
 * that come back failed are sent again with backoff; the delivery rejects, naming the error codes,
 * when some still fail, and the caller keeps the events (docs/events.md, "On AWS").
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { putEventsEntryOf, type PutEventsEntry } from '../contracts/events';
import type { EventSink, ImageActionEvent } from '../core/events';

/** PutEvents' limits (EventBridge API reference: 1 to 10 entries, 256 KB per request). */
export const MAX_PUT_EVENTS_ENTRIES = 10;
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;

/**
 * Codes EventBridge answers for an entry it will refuse however often it is sent (a reserved
 * source, a malformed entry, a missing permission): not retried, the delivery rejects at once.
 */
export const PERMANENT_ENTRY_ERRORS: ReadonlySet<string> = new Set([
  'NotAuthorizedForSourceException',
  'InvalidArgument',
  'MalformedDetail',
  'AccessDeniedException',
]);

export interface EventBridgeEventSinkOptions {
  client: Pick<EventBridgeClient, 'send'>;
  /** The bus, by name or ARN (an ARN also reaches a bus of another account). @default 'default' */
  eventBusName?: string;
  /** Sends of an entry, the first included, before the delivery rejects. @default 4 */
  attempts?: number;
  /** The wait after the first failed send, doubled after each next one (full jitter). @default 200 */
  baseDelayMs?: number;
  /** The longest wait between two sends. @default 5000 */
  maxDelayMs?: number;
  /** For tests. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

/** An entry's size as EventBridge counts it ("Calculating PutEvents event entry size"): 14 bytes for Time, the UTF-8 bytes of the strings. */
export function putEventsEntrySize(entry: PutEventsEntry): number {
  const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
  return 14 + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + entry.Resources.reduce((sum, resource) => sum + bytes(resource), 0);
}

/**
 * Consecutive groups of `items` whose entries fit one PutEvents call together (a single item over
 * the limits makes a group of its own, which the sink then splits). Order is kept.
 */
export function putEventsGroups<T>(items: readonly T[], entriesOf: (item: T) => readonly PutEventsEntry[]): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let count = 0;
  let size = 0;
  for (const item of items) {
    const entries = entriesOf(item);
    const bytes = entries.reduce((sum, entry) => sum + putEventsEntrySize(entry), 0);
    if (current.length > 0 && (count + entries.length > MAX_PUT_EVENTS_ENTRIES || size + bytes > MAX_PUT_EVENTS_BYTES)) {
      groups.push(current);
      current = [];
      count = 0;
      size = 0;
    }
    current.push(item);
    count += entries.length;
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export class EventBridgeEventSink implements EventSink {
  private readonly eventBusName: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: EventBridgeEventSinkOptions) {
    this.eventBusName = options.eventBusName ?? 'default';
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Sends the events in order, call after call; rejects at the first call whose entries still fail after the retries. */
  async deliver(events: readonly ImageActionEvent[]): Promise<void> {
    const entries = events.map((event) => putEventsEntryOf(event, this.eventBusName));
    for (const group of putEventsGroups(entries, (entry) => [entry])) await this.put(group);
  }

  private async put(entries: PutEventsEntry[]): Promise<void> {
    let pending = entries;
    let failures: PutEventsResultEntry[];
    for (let attempt = 1; ; attempt++) {
      // A call the SDK could not make at all (network, throttling past its own retries) rejects here.
      const output = await this.options.client.send(new PutEventsCommand({ Entries: pending }));
      const results = output.Entries ?? [];
      const failed = pending.flatMap((entry, index) => {
        const result = results[index];
        // No result for an entry while some failed: it cannot be known to have been taken.
        const taken = result !== undefined ? result.ErrorCode === undefined || result.ErrorCode === null : !output.FailedEntryCount;
        return taken ? [] : [{ entry, result: result ?? { ErrorCode: 'NoResult', ErrorMessage: 'PutEvents answered no result for the entry' } }];
      });
      if (failed.length === 0) return;
      pending = failed.map((f) => f.entry);
      failures = failed.map((f) => f.result);
      const permanent = failures.every((f) => PERMANENT_ENTRY_ERRORS.has(f.ErrorCode ?? ''));
      if (permanent || attempt >= this.attempts) break;
      const bound = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
      await this.sleep(Math.random() * bound);
    }
    throw new EventBridgeDeliveryError(failures, entries.length);
  }
}

/** Entries EventBridge still refused after the retries, with its error codes and messages. */
export class EventBridgeDeliveryError extends Error {
  readonly errorCodes: string[];

  constructor(readonly failures: readonly PutEventsResultEntry[], sent: number) {
    const codes = [...new Set(failures.map((f) => f.ErrorCode ?? 'Unknown'))];
    const first = failures[0];
    super(`EventBridge refused ${failures.length} of ${sent} entries (${codes.join(', ')})${first?.ErrorMessage ? `: ${first.ErrorMessage}` : ''}`);
    this.name = 'EventBridgeDeliveryError';
    this.errorCodes = codes;
  }
}
