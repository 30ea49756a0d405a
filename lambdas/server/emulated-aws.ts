/**
 * The AWS path on this machine (`berth serve --emulate-aws`): DynamoDB Local and the S3
 * stand-in, a table and a bucket made as the stack makes them, the real Lambda handlers
 * (registry API and authorizer, built by the same composition as on AWS) behind the API
 * Gateway simulator, and the ingest server (what runs on Fargate) on its own port.
 *
 * What cannot run here is a port with a local implementation, named as such: Secrets
 * Manager is a LocalSecretSource (the --basic-auth credential and a random upload-token key).
 * Everything lives in memory: the S3 stand-in keeps no files, and a table that outlived its
 * blobs would point at nothing, so DynamoDB Local runs in memory too. The data directory
 * receives `emulated-aws.json` (endpoints, table, bucket) for tools and tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../core/log';
import { BASIC_CHALLENGE, type BasicCredentials } from '../http/auth';
import type { HttpRequest } from '../http/types';
import { buildAwsRegistry, type AwsSettings } from '../handlers/aws-registry';
import { countSdkCalls, createAwsClients, summarizeSdkCalls, type SdkCallCounts } from '../handlers/aws-clients';
import { LocalSecretSource, loadBasicCredentials } from '../handlers/secret-source';
import { coreLogger, createObservability } from '../handlers/observability';
import { createRegistryApiHandler } from '../handlers/registry-api';
import { createAuthorizerHandler } from '../handlers/authorizer';
import { startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local';
import { startLocalS3, type LocalS3 } from './s3-local';
import { startApiGatewaySimulator, type RunningSimulator, type SimulatorStats } from './api-gateway-simulator';
import { startNodeServer, type RunningServer } from './node-server';
import { ingestHandler } from './ingest-handler';

export interface EmulatedAwsOptions {
  host: string;
  /** Port of the API Gateway simulator (0: a free one). */
  port: number;
  /** Port of the ingest server. @default 0 (a free one) */
  ingestPort?: number;
  dataDir: string;
  /** The credential the authorizer accepts; without one, everyone is anonymous. */
  basicAuth?: BasicCredentials;
  /** @default 60, the stack's default */
  authorizerCacheTtlSeconds?: number;
  /** @default 300, the stack's default */
  presignTtlSeconds?: number;
  /** The upload-token HMAC key (at least 32 characters); tests pass one to sign their own tokens. @default random */
  uploadTokenKey?: string;
  log: Logger;
}

export interface EmulatedAwsStats extends SimulatorStats {
  /** SDK requests of the registry handler, by `Service.Operation`. */
  handlerSdkCalls: SdkCallCounts;
  handlerDynamoDbReads: number;
  handlerDynamoDbWrites: number;
  handlerS3Requests: number;
  /** SDK requests of the ingest server. */
  ingestSdkCalls: SdkCallCounts;
  /** Requests the ingest server answered, and the body bytes it received. */
  ingestRequests: number;
  ingestRequestBodyBytes: number;
}

export interface EmulatedAws {
  /** The registry endpoint (the simulator). */
  url: string;
  ingestUrl: string;
  dynamodbEndpoint: string;
  s3Endpoint: string;
  tableName: string;
  bucketName: string;
  simulator: RunningSimulator;
  stats(): EmulatedAwsStats;
  resetStats(): void;
  close(): Promise<void>;
}

const LOCAL_CREDENTIALS_SECRET = 'local:berth/credentials';
const LOCAL_UPLOAD_TOKEN_SECRET = 'local:berth/upload-token-key';
const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export async function startEmulatedAws(options: EmulatedAwsOptions): Promise<EmulatedAws> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const cleanup: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((error) => options.log.warn('stopping failed', { error }));
  };
  try {
    const [dynamo, s3] = await Promise.all([startDynamoDbLocal(), startLocalS3()]);
    cleanup.push(() => dynamo.stop(), () => s3.stop());
    const tableName = await dynamo.createTable('berth');
    const bucketName = await s3.createBucket('berth');
    return await compose(options, dataDir, dynamo, s3, tableName, bucketName, cleanup, closeAll);
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function compose(
  options: EmulatedAwsOptions,
  dataDir: string,
  dynamo: DynamoDbLocal,
  s3: LocalS3,
  tableName: string,
  bucketName: string,
  cleanup: Array<() => Promise<void>>,
  closeAll: () => Promise<void>,
): Promise<EmulatedAws> {
  const secrets = new LocalSecretSource({
    [LOCAL_UPLOAD_TOKEN_SECRET]: options.uploadTokenKey ?? randomBytes(32).toString('hex'),
    ...(options.basicAuth ? { [LOCAL_CREDENTIALS_SECRET]: JSON.stringify(options.basicAuth) } : {}),
  });
  const base: Omit<AwsSettings, 'ingestUrl' | 'serviceName'> = {
    tableName,
    bucketName,
    presignTtlSeconds: options.presignTtlSeconds ?? 300,
    credentialsSecretId: options.basicAuth ? LOCAL_CREDENTIALS_SECRET : undefined,
    uploadTokenSecretId: LOCAL_UPLOAD_TOKEN_SECRET,
  };
  const clientOptions = { dynamodbEndpoint: dynamo.endpoint, s3Endpoint: s3.endpoint, credentials: LOCAL_AWS_CREDENTIALS, region: 'us-east-1' };

  // The ingest service, as on Fargate: its own SDK clients, its own process in AWS.
  const ingestSdkCalls: SdkCallCounts = {};
  let ingestRequests = 0;
  let ingestRequestBodyBytes = 0;
  const ingestClients = createAwsClients(clientOptions);
  countSdkCalls(ingestClients.dynamodb, 'DynamoDB', ingestSdkCalls);
  countSdkCalls(ingestClients.s3, 'S3', ingestSdkCalls);
  const ingestLogger = new PowertoolsLogger({ serviceName: 'berth-ingest' });
  const ingestApp = await buildAwsRegistry({
    settings: { ...base, serviceName: 'berth-ingest' },
    clients: ingestClients,
    secrets,
    logger: ingestLogger,
    role: 'ingest',
  });
  const ingest: RunningServer = await startNodeServer({
    handler: ingestHandler(ingestApp.router, ingestLogger, (request) => {
      ingestRequests++;
      if (!request.body) return request;
      const body = request.body;
      return {
        ...request,
        body: (async function* () {
          for await (const chunk of body) {
            ingestRequestBodyBytes += chunk.length;
            yield chunk;
          }
        })(),
      };
    }),
    host: options.host,
    port: options.ingestPort ?? 0,
    log: coreLogger(ingestLogger),
  });
  cleanup.push(() => ingest.close());

  // The registry function and the authorizer, behind the simulator.
  const handlerSdkCalls: SdkCallCounts = {};
  const apiClients = createAwsClients(clientOptions);
  countSdkCalls(apiClients.dynamodb, 'DynamoDB', handlerSdkCalls);
  countSdkCalls(apiClients.s3, 'S3', handlerSdkCalls);
  const observability = createObservability('berth-registry');
  const settings: AwsSettings = { ...base, ingestUrl: ingest.url, serviceName: 'berth-registry' };
  const apiApp = await buildAwsRegistry({ settings, clients: apiClients, secrets, logger: observability.logger, role: 'registry' });
  const handler = createRegistryApiHandler(async () => ({ router: apiApp.router, ...observability }), observability);
  const authorizerLogger = new PowertoolsLogger({ serviceName: 'berth-authorizer' });
  const basicAuth = options.basicAuth;
  const authorizer = createAuthorizerHandler(
    basicAuth ? { mode: 'basic', credentials: () => loadBasicCredentials(secrets, LOCAL_CREDENTIALS_SECRET) } : { mode: 'anonymous' },
    authorizerLogger,
  );

  const extraStats = () => {
    const summary = summarizeSdkCalls(handlerSdkCalls);
    return {
      handlerSdkCalls: { ...handlerSdkCalls },
      handlerDynamoDbReads: summary.dynamodbReads,
      handlerDynamoDbWrites: summary.dynamodbWrites,
      handlerS3Requests: summary.s3Requests,
      ingestSdkCalls: { ...ingestSdkCalls },
      ingestRequests,
      ingestRequestBodyBytes,
    };
  };
  const simulator = await startApiGatewaySimulator({
    host: options.host,
    port: options.port,
    handler: (event, context) => handler(event, context),
    authorizer: (event, context) => authorizer(event, context),
    identitySourceRequired: basicAuth !== undefined,
    authorizerCacheTtlSeconds: options.authorizerCacheTtlSeconds ?? 60,
    challenge: BASIC_CHALLENGE,
    extraStats,
    // `DELETE /__berth/stats` and resetStats() reset the SDK and ingest counts too.
    onResetStats: () => {
      for (const counts of [handlerSdkCalls, ingestSdkCalls]) for (const key of Object.keys(counts)) delete counts[key];
      ingestRequests = 0;
      ingestRequestBodyBytes = 0;
    },
    log: options.log,
  });
  cleanup.push(() => simulator.close());

  const description = {
    registry: simulator.url,
    ingest: ingest.url,
    dynamodb: dynamo.endpoint,
    s3: s3.endpoint,
    table: tableName,
    bucket: bucketName,
    authentication: basicAuth ? 'basic' : 'anonymous',
  };
  writeFileSync(join(dataDir, 'emulated-aws.json'), JSON.stringify(description, null, 2) + '\n');

  return {
    url: simulator.url,
    ingestUrl: ingest.url,
    dynamodbEndpoint: dynamo.endpoint,
    s3Endpoint: s3.endpoint,
    tableName,
    bucketName,
    simulator,
    stats: () => simulator.stats() as EmulatedAwsStats,
    resetStats: () => simulator.resetStats(),
    close: closeAll,
  };
}
