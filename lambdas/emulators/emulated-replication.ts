/**
 * The stack's replicator in the emulated AWS mode (docs/replication.md, "Running it on AWS"): the real
 * handler, built by the same composition as on AWS over DynamoDB Local and the S3 stand-in, reading a
 * real SQS API (fauxqs, which answers SQS on the S3 stand-in's port) through the same adapter
 * (SqsReplicationQueue), with the queue and dead-letter queue made as the stack makes them. The
 * EventBridge stand-in's replication rule sends the registry's events to the queue, as the stack's
 * rule does, and a stand-in for Lambda's event source mapping (sqs-event-source.ts) invokes the
 * handler. Calls to destinations are signed, for `execute-api`, with the access key the `--config`
 * file's `replicationDestinations` gives each (on AWS: the function's role).
 *
 * One difference, on purpose: the queue's visibility timeout is `visibilityTimeoutSeconds` (5 s), not
 * the stack's 30 minutes, so that a job whose invocation died is tried again while one watches.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { LocalReplicationDestination } from '../contracts/replication';
import { DEFAULT_REPLICATOR_CONCURRENCY, REPLICATION_MAX_RECEIVE_COUNT, REPLICATION_PRESIGN_TTL_SECONDS, replicationEventPattern } from '../contracts/replicator';
import type { Logger } from '../core/log';
import { createObservability } from '../aws/observability';
import { SqsReplicationQueue } from '../aws/sqs-replication-queue';
import { buildReplicator } from '../composition/aws/replicator';
import { createReplicatorHandler } from '../handlers/replicator';
import type { StandInRule } from './eventbridge-stand-in';
import { emulatedLambdaContext } from './lambda-context';
import { startSqsEventSource, type SqsEventSource } from './sqs-event-source';

export interface EmulatedReplicationOptions {
  tableName: string;
  bucketName: string;
  clients: { dynamodb: DynamoDBClient; s3: S3Client };
  /** The SQS API (the S3 stand-in's endpoint) and the credentials the emulated clients use. */
  sqsEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  destinations: readonly LocalReplicationDestination[];
  account: string;
  region: string;
  /** The events' source, which the rule matches (validated by the caller). */
  eventSource: string;
  /** How soon a job whose invocation died is received again. @default 5 */
  visibilityTimeoutSeconds?: number;
  log: Logger;
}

export interface EmulatedReplication {
  /** The stack's replication rule, for the EventBridge stand-in. */
  rule: StandInRule;
  queueUrl: string;
  deadLetterQueueUrl: string;
  eventSource: SqsEventSource;
  close(): Promise<void>;
}

const REPLICATOR_TIMEOUT_MS = 5 * 60_000;

export async function startEmulatedReplication(options: EmulatedReplicationOptions): Promise<EmulatedReplication> {
  // The queue URL names a host of its own (sqs.<region>.localhost): requests go to the endpoint instead.
  const sqs = new SQSClient({ endpoint: options.sqsEndpoint, region: options.region, credentials: options.credentials, useQueueUrlAsEndpoint: false });
  const { QueueUrl: deadLetterQueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'berth-replication-dlq', Attributes: { MessageRetentionPeriod: String(14 * 86_400) } }));
  const deadLetterArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: 'berth-replication',
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 5),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: String(REPLICATION_MAX_RECEIVE_COUNT) }),
      },
    }),
  );
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
  const byKey = new Map(options.destinations.map((d) => [`${d.region}/${d.registryId}`, d]));
  const observability = createObservability('berth-replicator');
  const dependencies = await buildReplicator({
    settings: {
      tableName: options.tableName,
      bucketName: options.bucketName,
      registryAccount: options.account,
      region: options.region,
      destinations: [...options.destinations],
      presignTtlSeconds: REPLICATION_PRESIGN_TTL_SECONDS,
    },
    clients: options.clients,
    queue: new SqsReplicationQueue({ client: sqs, queueUrl: queueUrl!, deadLetterQueueUrl: deadLetterQueueUrl! }),
    credentialsFor: (d) => {
      const found = byKey.get(`${d.region}/${d.registryId}`)!;
      return { accessKeyId: found.accessKeyId, secretAccessKey: found.secretAccessKey };
    },
    ...observability,
  });
  const handler = createReplicatorHandler(async () => dependencies, observability);
  const eventSource = startSqsEventSource({
    client: sqs,
    queueUrl: queueUrl!,
    queueArn,
    region: options.region,
    batchSize: 1,
    concurrency: DEFAULT_REPLICATOR_CONCURRENCY,
    handler: (event) =>
      handler(event, emulatedLambdaContext({ functionName: 'berth-replicator', memoryMB: 512, timeoutMs: REPLICATOR_TIMEOUT_MS, region: options.region, account: options.account })),
    log: (line, fields) => options.log.warn(line, fields),
  });
  return {
    rule: {
      name: 'berth-replication',
      eventPattern: replicationEventPattern(options.eventSource),
      // EventBridge's SQS target: the event, as delivered, is the message body.
      target: async (event) => {
        await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event) }));
      },
    },
    queueUrl: queueUrl!,
    deadLetterQueueUrl: deadLetterQueueUrl!,
    eventSource,
    close: async () => {
      await eventSource.close();
      sqs.destroy();
    },
  };
}
