/**
 * The replicator's composition on AWS (lambdas/handlers/replicator.ts; docs/replication.md, "Running
 * it on AWS"): the core's replicator over the registry's table and bucket, the destinations' control
 * planes signed with the function's own role (SigV4 for `execute-api`), and the SQS queue it reads.
 * Built once per container from the environment RegistryReplication (lib/registry-replication.ts) sets:
 *
 *   TABLE_NAME, BUCKET_NAME              the registry's table and bucket
 *   REGISTRY_ACCOUNT_ID                  the registry's account (a destination may not be itself)
 *   REPLICATION_DESTINATIONS             where each destination's control plane is (contracts/replication.ts)
 *   REPLICATION_QUEUE_URL                the queue the rule fills and the function reads
 *   REPLICATION_DEAD_LETTER_QUEUE_URL    where given-up jobs go
 *   PRESIGN_TTL_SECONDS                  lifetime of the blob URLs destinations fetch (default 3600)
 *   AWS_REGION                           the clients' region and the events' source region (Lambda sets it)
 *
 * The emulated AWS mode builds the same with buildReplicator over DynamoDB Local, the S3 stand-in and
 * a queue stand-in (emulators/emulated-replication.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { replicationDestinationsFromEnv, type ReplicationDestinationEndpoint } from '../../contracts/replication';
import { REPLICATION_DEAD_LETTER_QUEUE_URL_ENV, REPLICATION_PRESIGN_TTL_SECONDS, REPLICATION_QUEUE_URL_ENV } from '../../contracts/replicator';
import type { StoredManifest } from '../../core/model';
import type { ReplicationTarget } from '../../core/replication/replicate-push';
import type { ReplicationQueue } from '../../core/replication/replication-queue';
import { createReplicator, type Replicator } from '../../core/replication/replicator';
import { EcrReplicationTarget } from '../../aws/ecr-replication-target';
import type { EcrJsonEndpoint } from '../../aws/ecr-json-call';
import { coreLogger } from '../../aws/observability';
import { SqsReplicationQueue } from '../../aws/sqs-replication-queue';
import { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../storage/s3/s3-blob-store';
import { largeManifestBodyReader } from './large-manifest-body-reader';
import { once } from './once';

export interface ReplicatorSettings {
  tableName: string;
  bucketName: string;
  registryAccount: string;
  region: string;
  destinations: ReplicationDestinationEndpoint[];
  queueUrl: string;
  deadLetterQueueUrl: string;
  presignTtlSeconds: number;
}

export function replicatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ReplicatorSettings {
  for (const name of ['TABLE_NAME', 'BUCKET_NAME', 'REGISTRY_ACCOUNT_ID', REPLICATION_QUEUE_URL_ENV, REPLICATION_DEAD_LETTER_QUEUE_URL_ENV]) {
    if (!env[name]) throw new Error(`environment variable ${name} is not set`);
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('environment variable AWS_REGION is not set');
  const ttl = env.PRESIGN_TTL_SECONDS ? Number(env.PRESIGN_TTL_SECONDS) : REPLICATION_PRESIGN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 7 * 24 * 3600) throw new Error(`PRESIGN_TTL_SECONDS must be whole seconds from 60 to 604800, got ${JSON.stringify(env.PRESIGN_TTL_SECONDS)}`);
  return {
    tableName: env.TABLE_NAME!,
    bucketName: env.BUCKET_NAME!,
    registryAccount: env.REGISTRY_ACCOUNT_ID!,
    region,
    destinations: replicationDestinationsFromEnv(env, { registryId: env.REGISTRY_ACCOUNT_ID!, regions: [region] }),
    queueUrl: env[REPLICATION_QUEUE_URL_ENV]!,
    deadLetterQueueUrl: env[REPLICATION_DEAD_LETTER_QUEUE_URL_ENV]!,
    presignTtlSeconds: ttl,
  };
}

/** What each invocation works with. */
export interface ReplicatorDependencies {
  replicator: Replicator;
  queue: ReplicationQueue;
  logger: PowertoolsLogger;
  metrics: Metrics;
}

export interface ReplicatorOptions {
  settings: Omit<ReplicatorSettings, 'queueUrl' | 'deadLetterQueueUrl'>;
  clients: { dynamodb: DynamoDBClient; s3: S3Client };
  queue: ReplicationQueue;
  /** How calls to destinations are signed: the function's role on AWS, an identity's key in the emulated mode. */
  credentialsFor: (destination: ReplicationDestinationEndpoint) => EcrJsonEndpoint['credentials'];
  logger: PowertoolsLogger;
  metrics: Metrics;
  now?: () => number;
}

/** The replicator over the given clients and queue: what the deployed function and the emulated mode both run. */
export async function buildReplicator(options: ReplicatorOptions): Promise<ReplicatorDependencies> {
  const { settings } = options;
  // `open`: the replicator reads manifests and links, which it must only do on the layout this build reads.
  const metadata = await DynamoDbMetadataStore.open({ client: options.clients.dynamodb, tableName: settings.tableName });
  const blobs = new S3BlobStore({ client: options.clients.s3, bucket: settings.bucketName, presignTtlSeconds: settings.presignTtlSeconds });
  const log = coreLogger(options.logger);
  const readBody = largeManifestBodyReader(blobs, metadata, log);
  const targets = new Map<string, ReplicationTarget>(
    settings.destinations.map((d) => [
      `${d.region}/${d.registryId}`,
      new EcrReplicationTarget({
        url: d.endpoint,
        region: d.region,
        service: 'execute-api',
        credentials: options.credentialsFor(d),
      }),
    ]),
  );
  const replicator = createReplicator({
    store: metadata,
    source: {
      getManifest: (repository, digest): Promise<StoredManifest | null> => metadata.getManifest(repository, digest),
      readManifestBody: async (repository, digest) => {
        const body = await readBody(repository, digest);
        if (body === undefined) throw new Error(`the body of ${repository}@${digest} is missing from the bucket`);
        return body;
      },
      blobSize: async (repository, digest) => (await metadata.statBlobLink(repository, digest))?.size ?? null,
      blobUrl: (_repository, digest) => blobs.blobRedirectUrl(digest),
      resolveTag: (repository, tag) => metadata.resolveTag(repository, tag),
    },
    targetOf: (d) => targets.get(`${d.region}/${d.registryId}`),
    region: settings.region,
    log,
    ...(options.now ? { now: options.now } : {}),
  });
  return { replicator, queue: options.queue, logger: options.logger, metrics: options.metrics };
}

/** The replicator from its environment: built on the first invocation of a container, reused by the next ones. */
export function replicatorFromEnvironment(observability: { logger: PowertoolsLogger; metrics: Metrics }): () => Promise<ReplicatorDependencies> {
  return once(async () => {
    const settings = replicatorSettingsFromEnv();
    // Only the clients this function uses (createAwsClients would load five SDK clients per cold start).
    const clients = { dynamodb: new DynamoDBClient({ region: settings.region }), s3: new S3Client({ region: settings.region }) };
    const queue = new SqsReplicationQueue({ client: new SQSClient({ region: settings.region }), queueUrl: settings.queueUrl, deadLetterQueueUrl: settings.deadLetterQueueUrl });
    // The role's credentials, refreshed as they expire; the same for every destination.
    const role = defaultProvider();
    return buildReplicator({ settings, clients, queue, credentialsFor: () => role, ...observability });
  });
}
