/**
 * The AWS path on this machine (`berth serve --emulate-aws`): DynamoDB Local and the S3
 * stand-in, a table and a bucket made as the stack makes them, the real Lambda handlers
 * (registry API and authorizer, built by the same composition as on AWS) behind the API
 * Gateway simulator, and the ingest server (what runs on Fargate) on its own port. The event
 * publisher (emulated-events.ts), the garbage collector (emulated-gc.ts) and the lifecycle runner
 * (emulated-lifecycle.ts) run as the stack runs them.
 *
 * What cannot run here is a port with a local implementation, named as such: Secrets
 * Manager is a LocalSecretSource (the --basic-auth credential and a random upload-token key).
 *
 * With identities (`--config FILE` or BERTH_ACCESS_KEY_ID/BERTH_SECRET_ACCESS_KEY, as for `berth
 * serve`), identity and access run as in the stack: `POST /` (the ECR JSON API) behind API Gateway's
 * IAM authorization, emulated by the simulator (SigV4 for `execute-api` against the identities'
 * secrets, the stack's resource policy admitting identities of every account, the caller in
 * requestContext.identity); the authorizer in its 'tokens' mode verifying login
 * and access tokens; `/v2/token` straight to the handler. Stand-ins, named as such: KMS is a
 * LocalKmsStandIn (a P-256 key in `<data-dir>/keys/`), IAM's SimulatePrincipalPolicy is
 * LocalPolicySimulatorStandIn fed with the identities' policies, and IAM's authentication is the
 * simulator's SigV4 check against the identities' secrets.
 * Everything lives in memory: the S3 stand-in keeps no files, and a table that outlived its
 * blobs would point at nothing, so DynamoDB Local runs in memory too. The data directory
 * receives `emulated-aws.json` (endpoints, table, bucket) for tools and tests.
 */
import type { Registry } from '../core/registry';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../core/log';
import { BASIC_CHALLENGE, type BasicCredentials } from '../http/auth';
import { buildAwsRegistry, type AwsSettings, type OpenIngestUpload } from '../composition/aws/aws-registry';
import { countSdkCalls, createAwsClients, summarizeSdkCalls, type SdkCallCounts } from '../aws/aws-clients';
import { loadBasicCredentials } from '../aws/secret-source';
import { LocalSecretSource } from './local-secret-source';
import { coreLogger, createObservability } from '../aws/observability';
import { createRegistryApiHandler } from '../handlers/registry-api';
import { createAuthorizerHandler } from '../handlers/authorizer';
import { startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local';
import { startLocalS3, type LocalS3 } from './s3-local';
import { startApiGatewaySimulator, type RunningSimulator, type SimulatorStats } from './api-gateway-simulator';
import { DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS, DEFAULT_STAGE_NAME, challengeFor } from '../contracts/api-gateway';
import { startNodeServer, type RunningServer } from '../server/node-server';
import { ingestHandler } from '../handlers/ingest-logging';
import type { LocalIdentities } from '../composition/local/identities';
import { loadOrCreateKmsStandIn, type LocalKmsStandIn } from './kms-stand-in';
import { RegistryTokens } from '../core/registry-tokens';
import { SimulatedIdentityPolicies, type IdentityPolicySource } from '../core/identity-policies';
import { LocalPolicySimulatorStandIn } from './iam-policy-simulator-stand-in';
import type { NamedPolicy } from '../core/policy/evaluate';
import { KmsTokenSigner } from '../aws/kms-token-signer';
import { awsControlPlane, type AwsControlPlaneSettings } from '../composition/aws/aws-control-plane';
import { AnonymousPullPolicy, type AuthorizerDependencies } from '../handlers/authorizer';
import { DynamoDbMetadataStore } from '../storage/dynamodb/dynamodb-metadata-store';
import { validateEventSource } from '../contracts/events';
import { DEFAULT_ACCOUNT, DEFAULT_REGIONS } from '../composition/local/identities';
import { startEmulatedEvents } from './emulated-events';
import { startEmulatedCollector, type EmulatedCollector } from './emulated-gc';
import { DEFAULT_GC_GRACE_HOURS, DEFAULT_GC_INTERVAL_HOURS } from '../contracts/garbage-collector';
import { startEmulatedLifecycle, type EmulatedLifecycle } from './emulated-lifecycle';
import { DEFAULT_LIFECYCLE_INTERVAL_HOURS } from '../contracts/lifecycle-runner';
import { startEmulatedReplication, type EmulatedReplication } from './emulated-replication';

export interface EmulatedAwsOptions {
  host: string;
  /** Port of the API Gateway simulator (0: a free one). */
  port: number;
  /** Port of the ingest server. @default 0 (a free one) */
  ingestPort?: number;
  dataDir: string;
  /** The credential the authorizer accepts; without one (and without identities), everyone is anonymous. */
  basicAuth?: BasicCredentials;
  /**
   * Identities (the IAM stand-in): `POST /` with IAM authorization, tokens signed by the KMS stand-in,
   * the authorizer verifying them. Not with basicAuth.
   */
  identities?: LocalIdentities;
  /**
   * The stack's `publicRepositories`: the authorizer has no identity source (and so no cache) and lets
   * anonymous pulls of repositories whose policies allow `Principal: "*"` through. Needs identities.
   */
  publicRepositories?: boolean;
  /** @default 60, the stack's default */
  authorizerCacheTtlSeconds?: number;
  /** @default 300, the stack's default */
  presignTtlSeconds?: number;
  /** The upload-token HMAC key (at least 32 characters); tests pass one to sign their own tokens. @default random */
  uploadTokenKey?: string;
  /** How long an upload body may send nothing before the ingest server cuts it (0: never). @default 60 s */
  bodyIdleTimeoutMs?: number;
  /** The stack's eventSource (validated as the stack does). @default 'berth.ecr' */
  eventSource?: string;
  /** How often the garbage collector function runs (the stack's schedule); 0: never on a timer. @default 1 hour */
  gcIntervalMs?: number;
  /** The stack's gcGracePeriod. @default 24 hours */
  gcGraceMs?: number;
  /** How often the lifecycle runner dispatches (the stack's lifecycleSchedule); 0: never on a timer. @default 24 hours */
  lifecycleIntervalMs?: number;
  /** The registry function's REPLICATION_FETCH_LIMIT_BYTES: replicated blobs above it go to the ingest server. @default the contract's */
  replicationFetchLimitBytes?: number;
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
  /** With identities: the KMS stand-in (its key id is the tokens' `kid`). */
  kms?: LocalKmsStandIn;
  /** The garbage collector function on its timer (runNow runs it at once). */
  garbageCollector: EmulatedCollector;
  /** The lifecycle runner function on its timer (runNow dispatches at once and waits for every run). */
  lifecycle: EmulatedLifecycle;
  /** With `replicationDestinations` in the identities' configuration: the replicator and its queue. */
  replication?: EmulatedReplication;
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
    createOnPush: true,
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
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs,
  });
  cleanup.push(() => ingest.close());

  // Identity and access, as the stack composes them, on stand-ins for KMS and IAM.
  const identities = options.identities && options.identities.identities.length > 0 ? options.identities : undefined;
  if (identities && options.basicAuth) throw new Error('identities and --basic-auth do not go together: the authorizer verifies either tokens or one Basic credential');
  if (options.publicRepositories && !identities) throw new Error('public repositories need identities (--config or BERTH_ACCESS_KEY_ID): someone must be able to make a repository public');
  let kms: LocalKmsStandIn | undefined;
  let tokens: RegistryTokens | undefined;
  let identityPolicies: IdentityPolicySource | undefined;
  let iamStandIn: LocalPolicySimulatorStandIn | undefined;
  const replicationDestinations = identities?.replicationDestinations ?? [];
  const controlPlaneSettings: AwsControlPlaneSettings | undefined = identities
    ? {
        tokenKeyId: '',
        registryAccount: identities.account,
        region: identities.regions[0],
        challenge: 'bearer',
        ...(options.replicationFetchLimitBytes !== undefined ? { replicationFetchLimitBytes: options.replicationFetchLimitBytes } : {}),
        // What the stack's REPLICATION_DESTINATIONS says: where each lives (the credentials are the replicator's only).
        ...(replicationDestinations.length > 0 ? { replicationDestinations: replicationDestinations.map(({ region, registryId, endpoint }) => ({ region, registryId, endpoint })) } : {}),
      }
    : undefined;
  if (identities && controlPlaneSettings) {
    kms = loadOrCreateKmsStandIn(dataDir, { region: identities.regions[0], account: identities.account });
    controlPlaneSettings.tokenKeyId = kms.keyId;
    // The handler's and the authorizer's signers are separate, as in two Lambda functions: each fetches the public key once.
    tokens = new RegistryTokens(new KmsTokenSigner(kms, kms.keyId));
    const byArn = new Map<string, NamedPolicy[]>(identities.identities.map((identity) => [identity.principal.arn, identity.identityPolicies]));
    iamStandIn = new LocalPolicySimulatorStandIn(byArn);
    identityPolicies = new SimulatedIdentityPolicies(iamStandIn, { registryAccount: identities.account, onError: (error) => options.log.warn('IAM stand-in failed', { error }) });
  }

  // The registry function and the authorizer, behind the simulator.
  const handlerSdkCalls: SdkCallCounts = {};
  const apiClients = createAwsClients(clientOptions);
  countSdkCalls(apiClients.dynamodb, 'DynamoDB', handlerSdkCalls);
  countSdkCalls(apiClients.s3, 'S3', handlerSdkCalls);
  const observability = createObservability('berth-registry');
  const settings: AwsSettings = { ...base, ingestUrl: ingest.url, serviceName: 'berth-registry' };
  const apiApp = await buildAwsRegistry({
    settings,
    clients: apiClients,
    secrets,
    logger: observability.logger,
    role: 'registry',
    ...(identities && kms && tokens && identityPolicies && controlPlaneSettings
      ? {
          controlPlane: (metadata: DynamoDbMetadataStore, readManifestBody: (digest: string) => Promise<Uint8Array>, registry: Registry, openIngestUpload?: OpenIngestUpload) =>
            awsControlPlane({
              settings: controlPlaneSettings,
              tokens: tokens!,
              store: metadata,
              identityPolicies: identityPolicies!,
              readManifestBody,
              registry,
              openIngestUpload,
              log: coreLogger(observability.logger),
            }),
          // No publicUrl: the realm and service come from the request (Host, and X-Forwarded-Proto as API Gateway sets it).
          access: { tokens, identityPolicies, registryAccount: identities.account, region: identities.regions[0], policyCacheMs: 0 },
        }
      : {}),
  });
  const handler = createRegistryApiHandler(async () => ({ router: apiApp.router, ...observability }), observability);
  const authorizerLogger = new PowertoolsLogger({ serviceName: 'berth-authorizer' });
  const basicAuth = options.basicAuth;
  let authorizerDeps: AuthorizerDependencies;
  if (identities && kms) {
    // The authorizer function: its own signer (public key fetched once) and, for public repositories, its own table client.
    const authorizerTokens = new RegistryTokens(new KmsTokenSigner(kms, kms.keyId));
    let publicRepositories: AnonymousPullPolicy | undefined;
    if (options.publicRepositories) {
      const authorizerClients = createAwsClients(clientOptions);
      const metadata = await DynamoDbMetadataStore.open({ client: authorizerClients.dynamodb, tableName });
      publicRepositories = new AnonymousPullPolicy({ metadata, registryAccount: identities.account, region: identities.regions[0], policyCacheMs: 0 });
    }
    authorizerDeps = { mode: 'tokens', tokens: authorizerTokens, publicRepositories };
  } else {
    authorizerDeps = basicAuth ? { mode: 'basic', credentials: () => loadBasicCredentials(secrets, LOCAL_CREDENTIALS_SECRET) } : { mode: 'anonymous' };
  }
  const authorizer = createAuthorizerHandler(authorizerDeps, authorizerLogger);

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
      ...(kms ? { kmsSignCalls: kms.calls.sign, kmsGetPublicKeyCalls: kms.calls.getPublicKey, iamSimulateCalls: iamStandIn?.calls ?? 0 } : {}),
    };
  };
  const simulator = await startApiGatewaySimulator({
    host: options.host,
    port: options.port,
    handler: (event, context) => handler(event, context),
    authorizer: (event, context) => authorizer(event, context),
    // publicRepositories: an authorizer without identity source, whose answers API Gateway cannot cache.
    identitySourceRequired: basicAuth !== undefined || (identities !== undefined && !options.publicRepositories),
    authorizerCacheTtlSeconds: options.publicRepositories ? 0 : (options.authorizerCacheTtlSeconds ?? DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS),
    // With identities, the stack's Bearer challenge, naming the simulator's URL and host.
    challenge: identities ? (url) => challengeFor('bearer', { url, host: new URL(url).host }) : BASIC_CHALLENGE,
    stage: DEFAULT_STAGE_NAME,
    ...(identities
      ? {
          region: identities.regions[0],
          account: identities.account,
          tokenResource: true,
          iam: {
            lookupSecret: async (accessKeyId: string, sessionToken?: string) => {
              const found = await identities.lookupSecret(accessKeyId, sessionToken);
              return found ? { secretAccessKey: found.secretAccessKey, principal: { arn: found.principal.principal.arn, account: found.principal.principal.account } } : null;
            },
          },
        }
      : {}),
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

  // The replicator function behind the stack's rule and queue, with its own clients.
  const eventSource = validateEventSource(options.eventSource, 'aws');
  let replication: EmulatedReplication | undefined;
  if (identities && replicationDestinations.length > 0) {
    const replicationClients = createAwsClients(clientOptions);
    replication = await startEmulatedReplication({
      tableName,
      bucketName,
      clients: { dynamodb: replicationClients.dynamodb, s3: replicationClients.s3 },
      sqsEndpoint: s3.endpoint,
      credentials: LOCAL_AWS_CREDENTIALS,
      destinations: replicationDestinations,
      account: identities.account,
      region: identities.regions[0],
      eventSource,
      log: options.log,
    });
    cleanup.push(() => replication!.close());
  }
  // The event publisher on the table's stream, and EventBridge (events.jsonl in the data directory).
  const eventsClients = createAwsClients(clientOptions);
  const events = await startEmulatedEvents({
    dataDir,
    tableName,
    dynamodb: eventsClients.dynamodb,
    dynamodbEndpoint: dynamo.endpoint,
    credentials: LOCAL_AWS_CREDENTIALS,
    account: identities?.account ?? DEFAULT_ACCOUNT,
    region: identities?.regions[0] ?? DEFAULT_REGIONS[0],
    source: eventSource,
    rules: replication ? [replication.rule] : [],
    log: options.log,
  });
  cleanup.push(() => events.close());
  // The garbage collector function on the stack's schedule, with its own clients.
  const gcClients = createAwsClients(clientOptions);
  const gcIntervalMs = options.gcIntervalMs ?? DEFAULT_GC_INTERVAL_HOURS * 3_600_000;
  const gcGraceMs = options.gcGraceMs ?? DEFAULT_GC_GRACE_HOURS * 3_600_000;
  const garbageCollector = startEmulatedCollector({
    tableName,
    bucketName,
    clients: { dynamodb: gcClients.dynamodb, s3: gcClients.s3 },
    account: identities?.account ?? DEFAULT_ACCOUNT,
    region: identities?.regions[0] ?? DEFAULT_REGIONS[0],
    intervalMs: gcIntervalMs,
    graceMs: gcGraceMs,
    log: options.log,
  });
  cleanup.push(() => garbageCollector.close());
  // The lifecycle runner function on the stack's schedule, with its own client.
  const lifecycleIntervalMs = options.lifecycleIntervalMs ?? DEFAULT_LIFECYCLE_INTERVAL_HOURS * 3_600_000;
  const lifecycle = startEmulatedLifecycle({
    tableName,
    clients: { dynamodb: createAwsClients(clientOptions).dynamodb },
    account: identities?.account ?? DEFAULT_ACCOUNT,
    region: identities?.regions[0] ?? DEFAULT_REGIONS[0],
    intervalMs: lifecycleIntervalMs,
    log: options.log,
  });
  cleanup.push(() => lifecycle.close());
  // GetAuthorizationToken's proxyEndpoint: the simulator's URL (http), not https://<Host>.
  if (controlPlaneSettings) controlPlaneSettings.proxyEndpoint = simulator.url;

  const description = {
    registry: simulator.url,
    ingest: ingest.url,
    dynamodb: dynamo.endpoint,
    s3: s3.endpoint,
    table: tableName,
    bucket: bucketName,
    eventBridge: events.eventBridgeEndpoint,
    events: events.eventsFile,
    garbageCollection: { intervalMs: gcIntervalMs, graceMs: gcGraceMs },
    lifecycle: { intervalMs: lifecycleIntervalMs },
    ...(replication ? { replication: { destinations: replicationDestinations.map(({ region, registryId, endpoint }) => ({ region, registryId, endpoint })), queue: replication.queueUrl, deadLetterQueue: replication.deadLetterQueueUrl, sqs: s3.endpoint } } : {}),
    authentication: identities ? (options.publicRepositories ? 'tokens, public repositories' : 'tokens') : basicAuth ? 'basic' : 'anonymous',
    ...(identities && kms ? { account: identities.account, region: identities.regions[0], kmsKeyId: kms.keyId, controlPlane: `${simulator.url}/` } : {}),
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
    kms,
    garbageCollector,
    lifecycle,
    ...(replication ? { replication } : {}),
    stats: () => simulator.stats() as EmulatedAwsStats,
    resetStats: () => simulator.resetStats(),
    close: closeAll,
  };
}
