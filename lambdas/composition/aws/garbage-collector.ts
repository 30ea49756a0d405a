/**
 * The garbage collector's composition on AWS (lambdas/handlers/garbage-collector.ts; the protocol in
 * docs/garbage-collection.md): the core's collector over the registry's table and bucket, and the
 * Registry's purge of abandoned uploads. Built once per container from the environment
 * RegistryGarbageCollector (lib/registry-gc.ts) sets:
 *
 *   TABLE_NAME, BUCKET_NAME   the registry's table and bucket
 *   GC_GRACE_SECONDS          how old unused links and unlinked content must be before they go (default 24 hours)
 *   AWS_REGION                the clients' region (Lambda sets it)
 *
 * The emulated AWS mode builds the same with buildGarbageCollector over DynamoDB Local and the S3 stand-in.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_GC_GRACE_HOURS } from '../../contracts/garbage-collector';
import type { CollectorBlobs, CollectorMetadata } from '../../core/garbage-collection';
import { Registry } from '../../core/registry';
import { coreLogger } from '../../aws/observability';
import { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../storage/s3/s3-blob-store';
import { once } from './once';

import { largeManifestBodyReader } from './large-manifest-body-reader';

// The reader is shared with the replicator, which must not bundle the collector for it.
export { largeManifestBodyReader };

export interface GarbageCollectorSettings {
  tableName: string;
  bucketName: string;
  /** Unused links and unlinked content younger than this stay. */
  graceMs: number;
  region: string;
}

export function garbageCollectorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): GarbageCollectorSettings {
  for (const name of ['TABLE_NAME', 'BUCKET_NAME'] as const) if (!env[name]) throw new Error(`environment variable ${name} is not set`);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('environment variable AWS_REGION is not set');
  const text = env.GC_GRACE_SECONDS;
  const seconds = text === undefined || text === '' ? DEFAULT_GC_GRACE_HOURS * 3600 : Number(text);
  if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`GC_GRACE_SECONDS must be a whole number of seconds, got ${JSON.stringify(text)}`);
  return { tableName: env.TABLE_NAME!, bucketName: env.BUCKET_NAME!, graceMs: seconds * 1000, region };
}

/** What each run of the collector works with. */
export interface GarbageCollector {
  metadata: CollectorMetadata;
  blobs: CollectorBlobs;
  graceMs: number;
  /** Reads a manifest body kept in the bucket (DynamoDB keeps bodies over inlineManifestLimit there). */
  readBody: (repository: string, digest: string) => Promise<Uint8Array | undefined>;
  /** Purges the uploads started longer than the upload lifetime before `now` (records, objects, multipart uploads); answers how many. */
  purgeUploads: (now: number) => Promise<number>;
  logger: PowertoolsLogger;
  metrics: Metrics;
  /** The clock of the grace period and the deadline. @default Date.now */
  now?: () => number;
}

export interface GarbageCollectorOptions {
  settings: Omit<GarbageCollectorSettings, 'region'>;
  clients: { dynamodb: DynamoDBClient; s3: S3Client };
  logger: PowertoolsLogger;
  metrics: Metrics;
  now?: () => number;
}

/** The collector over the given clients: what the deployed function and the emulated mode both run. */
export async function buildGarbageCollector(options: GarbageCollectorOptions): Promise<GarbageCollector> {
  const { settings } = options;
  // `open`: the collector may be the first to meet a table of an older layout, and reads content records only layout 3 has.
  const metadata = await DynamoDbMetadataStore.open({ client: options.clients.dynamodb, tableName: settings.tableName });
  const blobs = new S3BlobStore({ client: options.clients.s3, bucket: settings.bucketName });
  const log = coreLogger(options.logger);
  // The purge is the Registry's, as local mode's server runs it; no request of this process holds an upload.
  const registry = new Registry({ blobs, metadata, log, shareHashState: true });
  return {
    metadata,
    blobs,
    graceMs: settings.graceMs,
    readBody: largeManifestBodyReader(blobs, metadata, log),
    purgeUploads: (now) => registry.purgeStaleUploads(now),
    logger: options.logger,
    metrics: options.metrics,
    now: options.now,
  };
}

/** The collector from its environment: built on the first invocation of a container, reused by the next ones. */
export function garbageCollectorFromEnvironment(observability: { logger: PowertoolsLogger; metrics: Metrics }): () => Promise<GarbageCollector> {
  return once(async () => {
    const settings = garbageCollectorSettingsFromEnv();
    // Only the two clients this function uses (createAwsClients would load five SDK clients per cold start).
    const clients = { dynamodb: new DynamoDBClient({ region: settings.region }), s3: new S3Client({ region: settings.region }) };
    return buildGarbageCollector({ settings, clients, ...observability });
  });
}
