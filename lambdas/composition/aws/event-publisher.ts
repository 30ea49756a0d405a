/**
 * The event publisher's composition on AWS (lambdas/handlers/event-publisher.ts): the outbox items
 * of the registry's table, an EventBridge sink, and who emits. Built once per container from the
 * environment RegistryEvents (lib/registry-events.ts) sets:
 *
 *   TABLE_NAME            the registry's table (the function reads and deletes its outbox items only)
 *   EVENT_BUS_NAME        the bus PutEvents names, by name or ARN (default: `default`)
 *   EVENT_SOURCE          the events' `source` (default `berth.ecr`; `aws.` refused)
 *   REGISTRY_ACCOUNT_ID   the events' `account` (else the account of the function's own ARN)
 *   AWS_REGION            the events' `region` (Lambda sets it)
 *
 * The emulated AWS mode builds the same function with buildEventPublisher and clients pointed at
 * DynamoDB Local and the EventBridge stand-in.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { validateEventSource, type EventOrigin } from '../../contracts/events';
import type { EventSink } from '../../core/events';
import type { ChangeOutbox } from '../../storage/ports';
import { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';
import { EventBridgeEventSink, type EventBridgeEventSinkOptions } from '../../aws/eventbridge-event-sink';
import { once } from './once';

/** How old an outbox item must be before the sweeper publishes it: younger ones are the stream's, which delivers within seconds. */
export const SWEEP_MIN_AGE_MS = 2 * 60 * 1000;

export interface EventPublisherSettings {
  tableName: string;
  /** @default 'default' */
  eventBusName?: string;
  /** Already validated for EventBridge. */
  source: string;
  /** @default the account of the invoked function's ARN */
  account?: string;
  region: string;
}

export function eventPublisherSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): EventPublisherSettings {
  if (!env.TABLE_NAME) throw new Error('environment variable TABLE_NAME is not set');
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('environment variable AWS_REGION is not set');
  return {
    tableName: env.TABLE_NAME,
    eventBusName: env.EVENT_BUS_NAME || undefined,
    source: validateEventSource(env.EVENT_SOURCE || undefined, 'aws'),
    account: env.REGISTRY_ACCOUNT_ID || undefined,
    region,
  };
}

/** What each invocation of the publisher runs with. */
export interface EventPublisher {
  /** The outbox items of the registry's table. */
  outbox: ChangeOutbox;
  sink: EventSink;
  /** Who emits; `invokedFunctionArn` gives the account when the settings do not. */
  origin(invokedFunctionArn?: string): EventOrigin;
  logger: PowertoolsLogger;
  metrics: Metrics;
  /** @default SWEEP_MIN_AGE_MS */
  sweepMinAgeMs?: number;
  /** The clock the sweeper ages items by. @default Date.now */
  now?: () => number;
}

export interface EventPublisherOptions {
  settings: EventPublisherSettings;
  clients: { dynamodb: DynamoDBClient; eventBridge: EventBridgeClient };
  logger: PowertoolsLogger;
  metrics: Metrics;
  /** Retries of refused entries (tests shorten the waits). */
  sink?: Omit<EventBridgeEventSinkOptions, 'client' | 'eventBusName'>;
  sweepMinAgeMs?: number;
  now?: () => number;
}

/** The publisher over the given clients: what the deployed function and the emulated mode both run. */
export function buildEventPublisher(options: EventPublisherOptions): EventPublisher {
  const { settings } = options;
  // Not DynamoDbMetadataStore.open: its layout check reads and may write `meta` items, which this
  // function's role may not touch (it reaches outbox items only); the outbox's layout is the contract's.
  const outbox = new DynamoDbMetadataStore({ client: options.clients.dynamodb, tableName: settings.tableName });
  const sink = new EventBridgeEventSink({ ...options.sink, client: options.clients.eventBridge, eventBusName: settings.eventBusName });
  return {
    outbox,
    sink,
    origin: (invokedFunctionArn) => ({
      account: settings.account ?? accountOfArn(invokedFunctionArn),
      region: settings.region,
      source: settings.source,
      ...(settings.eventBusName ? { eventBusName: settings.eventBusName } : {}),
    }),
    logger: options.logger,
    metrics: options.metrics,
    sweepMinAgeMs: options.sweepMinAgeMs,
    now: options.now,
  };
}

/** The publisher from its environment: built on the first invocation of a container, reused by the next ones. */
export function eventPublisherFromEnvironment(observability: { logger: PowertoolsLogger; metrics: Metrics }): () => Promise<EventPublisher> {
  return once(async () => {
    const settings = eventPublisherSettingsFromEnv();
    // Only the two clients this function uses (createAwsClients would load five SDK clients per cold start).
    const clients = { dynamodb: new DynamoDBClient({ region: settings.region }), eventBridge: new EventBridgeClient({ region: settings.region }) };
    return buildEventPublisher({ settings, clients, ...observability });
  });
}

/** The account of an ARN (`arn:aws:lambda:eu-west-1:123456789012:function:name`). */
export function accountOfArn(arn: string | undefined): string {
  const account = arn?.split(':')[4];
  if (!account || !/^\d{12}$/.test(account)) throw new Error(`no account in ${JSON.stringify(arn)}: set REGISTRY_ACCOUNT_ID`);
  return account;
}
