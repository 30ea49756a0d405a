/**
 * The stack's garbage collector in the emulated AWS mode (docs/garbage-collection.md, "Running it"):
 * the real handler, built by the same composition as on AWS over DynamoDB Local and the S3 stand-in,
 * invoked on a timer as the EventBridge schedule invokes it, with a Lambda-like context (its
 * remaining time is the stack's timeout), and never twice at once, as reserved concurrency 1 has it:
 * a tick that finds a run still at work is skipped.
 */
import { emulatedSchedule } from './emulated-schedule';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_GC_TIMEOUT_MINUTES } from '../contracts/garbage-collector';
import { createObservability } from '../aws/observability';
import { buildGarbageCollector } from '../composition/aws/garbage-collector';
import { createGarbageCollectorHandler, type GarbageCollectionSummary } from '../handlers/garbage-collector';
import type { Logger } from '../core/log';
import { randomUUID } from 'node:crypto';
import { emulatedLambdaContext } from './lambda-context';

export interface EmulatedCollectorOptions {
  tableName: string;
  bucketName: string;
  /** The collector's own clients (DynamoDB Local, the S3 stand-in), as its own function on AWS has. */
  clients: { dynamodb: DynamoDBClient; s3: S3Client };
  account: string;
  region: string;
  /** Between two runs; 0: never on a timer (runNow still runs). */
  intervalMs: number;
  /** The stack's gcGracePeriod. */
  graceMs: number;
  /** The remaining time the context starts with. @default the stack's timeout, 10 minutes */
  timeoutMs?: number;
  log: Logger;
}

export interface EmulatedCollector {
  /** Runs the collector now (after the run under way, if any) and answers its summary. */
  runNow(): Promise<GarbageCollectionSummary>;
  /** The last run's summary, or null before the first one ended. */
  last(): GarbageCollectionSummary | null;
  /** Stops the timer and waits for the run under way. */
  close(): Promise<void>;
}

const FUNCTION_NAME = 'berth-garbage-collector';

/** The collector function's context, as Lambda gives one. */
const collectorContext = (account: string, region: string, timeoutMs: number) =>
  emulatedLambdaContext({ functionName: FUNCTION_NAME, memoryMB: 512, timeoutMs, region, account });

/** What EventBridge's schedule sends (the handler reads none of it). */
function scheduledEvent(account: string, region: string) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    time: new Date().toISOString(),
    region,
    resources: [`arn:aws:events:${region}:${account}:rule/berth-garbage-collector`],
    detail: {},
  };
}

export function startEmulatedCollector(options: EmulatedCollectorOptions): EmulatedCollector {
  const observability = createObservability(FUNCTION_NAME);
  // Built on the first run, as on a cold start: the layout check needs the table the caller made.
  let built: ReturnType<typeof buildGarbageCollector> | undefined;
  const deps = () =>
    (built ??= buildGarbageCollector({
      settings: { tableName: options.tableName, bucketName: options.bucketName, graceMs: options.graceMs },
      clients: options.clients,
      ...observability,
    }).catch((error: unknown) => {
      built = undefined;
      throw error;
    }));
  const handler = createGarbageCollectorHandler(deps, observability);
  const timeoutMs = options.timeoutMs ?? DEFAULT_GC_TIMEOUT_MINUTES * 60_000;

  const schedule = emulatedSchedule(
    () => handler(scheduledEvent(options.account, options.region), collectorContext(options.account, options.region, timeoutMs)),
    options.intervalMs,
    options.log,
    'garbage collector: the run failed; the next one goes on',
  );
  return { runNow: schedule.runNow, last: schedule.last, close: schedule.close };
}
