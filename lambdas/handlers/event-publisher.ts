/**
 * The event publisher's Lambda function (docs/events.md, "On AWS"), invoked three ways:
 * - by the table's stream, through an event source mapping filtered to outbox INSERTs: the records'
 *   new images are delivered to EventBridge and their items deleted; a failure answers the records
 *   from the first one not delivered on as batchItemFailures, which Lambda retries in stream order;
 * - by a schedule (`{"action":"sweep"}`): outbox items older than SWEEP_MIN_AGE_MS, which the stream
 *   failed to deliver past its retries, are published;
 * - by an operator (`{"action":"replay"}`): every outbox item is published, whatever its age.
 * Everything else is the core's (deliverOutboxEntries, drainOutbox) and the composition's.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { OUTBOX_CHANGES_ATTRIBUTE, OUTBOX_PK, DYNAMODB_TABLE_SCHEMA } from '../contracts/dynamodb-table';
import { CHANGE_ACTIONS, putEventsEntry, type EventOrigin, type ImageChange } from '../contracts/events';
import { REPLAY_INPUT, SWEEP_INPUT } from '../contracts/event-publisher';
import { deliverOutboxEntries, drainOutbox } from '../core/outbox-drain';
import type { OutboxEntry } from '../storage/ports';
import { putEventsGroups } from '../aws/eventbridge-event-sink';
import { createObservability } from '../aws/observability';
import { eventPublisherFromEnvironment, SWEEP_MIN_AGE_MS, type EventPublisher } from '../composition/aws/event-publisher';

/** What the schedule sends (the rule's input) and what an operator sends to replay. */
export type EventPublisherAction = typeof SWEEP_INPUT | typeof REPLAY_INPUT;
export type EventPublisherEvent = DynamoDBStreamEvent | EventPublisherAction;
export interface DrainResult {
  action: 'sweep' | 'replay';
  /** Outbox items published and deleted. */
  delivered: number;
  /** False when the run stopped for lack of time with items left: the next sweep (or another replay) goes on. */
  complete: boolean;
}
export type EventPublisherResult = DynamoDBBatchResponse | DrainResult;

/** Outbox items drained between two looks at the time left. */
const DRAIN_STEP = 500;
/** The time a run keeps for its last step when draining: a step of DRAIN_STEP items takes seconds. */
const DRAIN_RESERVE_MS = 60_000;

const PK = DYNAMODB_TABLE_SCHEMA.partitionKey.name;
const SK = DYNAMODB_TABLE_SCHEMA.sortKey.name;

/** The outbox entry a stream record carries, `undefined` for a record that is not an outbox INSERT; throws on a malformed outbox item. */
export function outboxEntryOfRecord(record: DynamoDBRecord): OutboxEntry | undefined {
  if (record.eventName !== 'INSERT' || record.dynamodb?.Keys?.[PK]?.S !== OUTBOX_PK) return undefined;
  const image = record.dynamodb.NewImage;
  if (!image) throw new Error(`stream record ${record.eventID ?? '?'} has no NewImage: the stream must show new images`);
  const item = unmarshall(image as Record<string, AttributeValue>);
  const id = item[SK];
  const changes: unknown = typeof item[OUTBOX_CHANGES_ATTRIBUTE] === 'string' ? JSON.parse(item[OUTBOX_CHANGES_ATTRIBUTE] as string) : undefined;
  if (typeof id !== 'string' || !Array.isArray(changes) || !changes.every(isImageChange)) {
    throw new Error(`outbox item ${JSON.stringify(id)} is malformed: no ${SK}, or ${OUTBOX_CHANGES_ATTRIBUTE} is not a JSON array of image changes`);
  }
  return { id, changes };
}

function isImageChange(value: unknown): value is ImageChange {
  const c = value as Partial<Record<keyof ImageChange, unknown>> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    // Every action the outbox records (archive and replication changes too), not only pushes and deletions.
    CHANGE_ACTIONS.includes(c.action as ImageChange['action']) &&
    typeof c.repository === 'string' &&
    typeof c.digest === 'string' &&
    (c.tag === undefined || typeof c.tag === 'string') &&
    typeof c.eventId === 'string' &&
    typeof c.time === 'string' &&
    !Number.isNaN(Date.parse(c.time))
  );
}

/**
 * Publishes the outbox items of a stream batch, one PutEvents call's worth at a time, in stream
 * order; answers the records from the first one not delivered on (Lambda retries from there).
 */
export async function publishStreamRecords(records: readonly DynamoDBRecord[], d: EventPublisher, origin: EventOrigin): Promise<DynamoDBBatchResponse> {
  const failedFrom = (index: number): DynamoDBBatchResponse => ({
    batchItemFailures: records.slice(index).map((record) => ({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' })),
  });
  const parsed: Array<{ index: number; entry: OutboxEntry }> = [];
  let malformedAt: number | undefined;
  for (const [index, record] of records.entries()) {
    try {
      const entry = outboxEntryOfRecord(record);
      if (entry) parsed.push({ index, entry });
    } catch (error) {
      d.logger.error('malformed outbox record: it and the records after it are reported failed', { error, eventID: record.eventID });
      malformedAt = index;
      break;
    }
  }
  let delivered = 0;
  for (const group of putEventsGroups(parsed, ({ entry }) => entry.changes.map((change) => putEventsEntry(change, origin)))) {
    try {
      await deliverOutboxEntries(group.map((g) => g.entry), d.sink, origin, d.outbox);
      delivered += group.length;
    } catch (error) {
      d.logger.error('publishing outbox records failed: they are reported failed and retried from the first one', { error, outboxIds: group.map((g) => g.entry.id) });
      d.metrics.addMetric('OutboxItemsPublished', MetricUnit.Count, delivered);
      return failedFrom(group[0].index);
    }
  }
  d.metrics.addMetric('OutboxItemsPublished', MetricUnit.Count, delivered);
  return malformedAt !== undefined ? failedFrom(malformedAt) : { batchItemFailures: [] };
}

/** Drains the outbox (items at least `minAgeMs` old) while the invocation has time left. */
export async function drainWithin(d: EventPublisher, origin: EventOrigin, minAgeMs: number, remainingMs: () => number): Promise<{ delivered: number; complete: boolean }> {
  let delivered = 0;
  for (;;) {
    const step = await drainOutbox(d.outbox, d.sink, origin, { minAgeMs, maxEntries: DRAIN_STEP, now: d.now });
    delivered += step;
    if (step < DRAIN_STEP) return { delivered, complete: true };
    if (remainingMs() < DRAIN_RESERVE_MS) return { delivered, complete: false };
  }
}

function isStreamEvent(event: unknown): event is DynamoDBStreamEvent {
  return typeof event === 'object' && event !== null && Array.isArray((event as DynamoDBStreamEvent).Records);
}

/** The invocation itself, without middleware. */
export function eventPublisherInvocation(deps: () => Promise<EventPublisher>) {
  return async (event: EventPublisherEvent, context: Context): Promise<EventPublisherResult> => {
    const d = await deps();
    const origin = d.origin(context?.invokedFunctionArn);
    if (isStreamEvent(event)) return publishStreamRecords(event.Records, d, origin);
    const action = (event as { action?: unknown } | null)?.action;
    if (action !== SWEEP_INPUT.action && action !== REPLAY_INPUT.action) {
      throw new Error(`unknown invocation ${JSON.stringify(event)?.slice(0, 200)}: expected a DynamoDB stream batch, {"action":"sweep"} or {"action":"replay"}`);
    }
    const minAgeMs = action === 'sweep' ? (d.sweepMinAgeMs ?? SWEEP_MIN_AGE_MS) : 0;
    const remaining = () => (typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : Infinity);
    const result = await drainWithin(d, origin, minAgeMs, remaining);
    d.metrics.addMetric('OutboxItemsPublished', MetricUnit.Count, result.delivered);
    if (result.delivered > 0) d.logger.info(`${action}: published outbox items`, { ...result });
    return { action, ...result };
  };
}

/** The middy-wrapped handler: Lambda context in every log line, metrics flushed after each invocation. */
export function createEventPublisherHandler(deps: () => Promise<EventPublisher>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(eventPublisherInvocation(deps)).use(injectLambdaContext(observability.logger)).use(logMetrics(observability.metrics));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-event-publisher');

export const handler = createEventPublisherHandler(eventPublisherFromEnvironment(observability), observability);
