/**
 * The stack's event wiring in the emulated AWS mode (docs/events.md, "On AWS"): DynamoDB Local's
 * stream of the table, read by an emulation of the publisher's event source mapping (the contract's
 * filter, batch size, retries, bisection, batch item failures), invokes the real publisher handler;
 * it sends PutEvents to the EventBridge stand-in, which writes `<data-dir>/events.jsonl` and hands
 * events to its rules' targets. A batch discarded after its retries goes where the stack's
 * dead-letter queue would have it: `<data-dir>/event-publisher-dlq.jsonl`. The sweep runs on the
 * stack's schedule too.
 */
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  DEFAULT_OUTBOX_STREAM_RETRY_ATTEMPTS,
  DEFAULT_SWEEP_INTERVAL_MINUTES,
  OUTBOX_STREAM_BATCH_SIZE,
  OUTBOX_STREAM_FILTER_PATTERN,
  SWEEP_INPUT,
} from '../contracts/event-publisher';
import { createObservability } from '../aws/observability';
import { buildEventPublisher } from '../composition/aws/event-publisher';
import { createEventPublisherHandler } from '../handlers/event-publisher';
import type { Logger } from '../core/log';
import { appendLines } from '../events/append-lines';
import { emulatedLambdaContext } from './lambda-context';
import { startStreamPoller, type StreamPoller } from './dynamodb-stream-poller';
import { EventBridgeStandIn, type StandInRule } from './eventbridge-stand-in';

export const PUBLISHER_DLQ_FILE = 'event-publisher-dlq.jsonl';

export interface EmulatedEventsOptions {
  dataDir: string;
  tableName: string;
  /** The table's client (DynamoDB Local). */
  dynamodb: DynamoDBClient;
  dynamodbEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  account: string;
  region: string;
  /** Validated for EventBridge by the caller. */
  source: string;
  /** The stack's rules and their targets (replication and scanning add theirs). @default none */
  rules?: readonly StandInRule[];
  log: Logger;
}

export interface EmulatedEvents {
  eventBridgeEndpoint: string;
  /** Where every event EventBridge accepted is written. */
  eventsFile: string;
  /** Resolves once what the stream holds now is published (tests use it). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** A publisher function's context, as Lambda gives one (the account comes from its ARN, as on AWS). */
const publisherContext = (account: string, region: string, timeoutMs: number) =>
  emulatedLambdaContext({ functionName: 'berth-event-publisher', memoryMB: 256, timeoutMs, region, account });

/** The publisher's timeout in the stack: five minutes. */
const PUBLISHER_TIMEOUT_MS = 5 * 60 * 1000;

export async function startEmulatedEvents(options: EmulatedEventsOptions): Promise<EmulatedEvents> {
  const standIn = new EventBridgeStandIn({
    dir: options.dataDir,
    account: options.account,
    region: options.region,
    rules: options.rules ?? [],
    log: (line) => options.log.warn(line),
  });
  const eventBridgeEndpoint = await standIn.start();
  const eventBridge = new EventBridgeClient({ endpoint: eventBridgeEndpoint, region: options.region, credentials: options.credentials });
  const observability = createObservability('berth-event-publisher');
  const publisher = buildEventPublisher({
    settings: { tableName: options.tableName, source: options.source, region: options.region },
    clients: { dynamodb: options.dynamodb, eventBridge },
    ...observability,
  });
  const handler = createEventPublisherHandler(async () => publisher, observability);
  const invoke = (event: Parameters<typeof handler>[0]) => handler(event, publisherContext(options.account, options.region, PUBLISHER_TIMEOUT_MS));

  const streams = new DynamoDBStreamsClient({ endpoint: options.dynamodbEndpoint, region: options.region, credentials: options.credentials });
  const dlq = join(options.dataDir, PUBLISHER_DLQ_FILE);
  let poller: StreamPoller;
  try {
    poller = await startStreamPoller({
      client: streams,
      tableName: options.tableName,
      dynamoDb: options.dynamodb,
      filters: [OUTBOX_STREAM_FILTER_PATTERN],
      batchSize: OUTBOX_STREAM_BATCH_SIZE,
      maxRetryAttempts: DEFAULT_OUTBOX_STREAM_RETRY_ATTEMPTS,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      awsRegion: options.region,
      functionArn: publisherContext(options.account, options.region, 0).invokedFunctionArn,
      handler: async (event) => (await invoke(event)) as { batchItemFailures?: { itemIdentifier: string }[] },
      onFailure: async (message, error) => {
        options.log.error('event publisher: a stream batch was discarded after its retries; its outbox items stay for the sweep', { error, batch: message.DDBStreamBatchInfo });
        await appendLines(dlq, [JSON.stringify(message)]);
      },
      log: (line) => options.log.warn(line),
    });
  } catch (error) {
    eventBridge.destroy();
    streams.destroy();
    await standIn.close();
    throw error;
  }
  // The stack's schedule: items the stream left behind get published by the sweep.
  let sweeping: Promise<unknown> | undefined;
  const sweep = setInterval(() => {
    sweeping ??= invoke(SWEEP_INPUT)
      .catch((error: unknown) => options.log.error('event publisher: the sweep failed', { error }))
      .finally(() => (sweeping = undefined));
  }, DEFAULT_SWEEP_INTERVAL_MINUTES * 60_000).unref();

  return {
    eventBridgeEndpoint,
    eventsFile: standIn.eventsFile,
    idle: async () => {
      await poller.idle();
      await standIn.idle();
    },
    close: async () => {
      clearInterval(sweep);
      await poller.close();
      await sweeping;
      await standIn.close();
      eventBridge.destroy();
      streams.destroy();
    },
  };
}
