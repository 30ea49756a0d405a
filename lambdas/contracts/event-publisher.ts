/**
 * How the event publisher is invoked, as a contract: the event source mapping on the table's stream
 * (which records, how many, how often retried), and the inputs of its schedule and of a replay.
 * The CDK construct (lib/registry-events.ts) deploys it, the handler (lambdas/handlers/event-publisher.ts)
 * answers it, and the emulated AWS mode wires the same mapping to DynamoDB Local's stream.
 * docs/events.md ("On AWS") is the reader's version.
 */
import { DYNAMODB_TABLE_SCHEMA, OUTBOX_PK } from './dynamodb-table';

/**
 * The mapping's filter (Lambda event filtering, an EventBridge-style pattern over the stream record):
 * new outbox items only. Other items' changes, and the outbox items' own deletions, never invoke it.
 */
export const OUTBOX_STREAM_FILTER_PATTERN = {
  eventName: ['INSERT'],
  dynamodb: { Keys: { [DYNAMODB_TABLE_SCHEMA.partitionKey.name]: { [DYNAMODB_TABLE_SCHEMA.partitionKey.type]: [OUTBOX_PK] } } },
} as const;

/** Records per invocation: a batch costs one PutEvents call per 10 events. */
export const OUTBOX_STREAM_BATCH_SIZE = 100;

/** Retries of a failed batch before Lambda sends its description to the dead-letter queue and moves on. */
export const DEFAULT_OUTBOX_STREAM_RETRY_ATTEMPTS = 10;

/** The schedule's input: publish outbox items the stream left behind (older than the sweeper's minimum age). */
export const SWEEP_INPUT = { action: 'sweep' } as const;

/** An operator's input (`aws lambda invoke --payload '{"action":"replay"}'`): publish every outbox item, whatever its age. */
export const REPLAY_INPUT = { action: 'replay' } as const;

/** Minutes between two sweeps unless configured. */
export const DEFAULT_SWEEP_INTERVAL_MINUTES = 5;
