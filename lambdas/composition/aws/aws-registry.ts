/**
 * Composition of the AWS deployment: the Registry on DynamoDB and S3, the upload tokens and
 * Basic credentials from Secrets Manager, the router, and the Powertools logger and metrics.
 * Built once per Lambda container (or ingest process) from the environment the CDK stack sets:
 *
 *   TABLE_NAME, BUCKET_NAME        the registry's table and bucket
 *   PRESIGN_TTL_SECONDS            lifetime of presigned blob GET URLs (default 300)
 *   CREDENTIALS_SECRET_ARN         {"username","password"}: Basic credentials (the emulator's authorizer only)
 *   UPLOAD_TOKEN_SECRET_ARN        HMAC key of upload tokens (API and ingest)
 *   TOKEN_KEY_ID, REGISTRY_ACCOUNT_ID, PROXY_ENDPOINT, CHALLENGE
 *                                  identity and access (registry-api.ts, aws-control-plane.ts)
 *   INGEST_URL                     base URL of the ingest service; unset: uploads go through Lambda in chunks
 *   POWERTOOLS_SERVICE_NAME        service name in logs and metrics
 *
 * The emulated AWS mode (lambdas/emulators/emulated-aws.ts) calls the same functions with clients
 * pointed at DynamoDB Local and the S3 stand-in, and a LocalSecretSource.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Registry, type BlobContent, type RegistryOptions } from '../../core/registry';
import { DEFAULT_REFERRERS_PAGE_BYTES } from '../../core/referrer-pages';
import { MAX_RESPONSE_BODY_BYTES } from '../../handlers/proxy-event';
import { UploadTokens } from '../../core/upload-tokens';
import type { Handler } from '../../http/types';
import type { Deployment } from '../deployment';
import { createRouter, ingestUploadLocation } from '../../http/router';
import type { Authenticator } from '../../http/auth';
import { BASIC_CHALLENGE } from '../../http/auth';
import type { IdentityPolicySource } from '../../core/identity-policies';
import type { RegistryTokens } from '../../core/registry-tokens';
import type { ChallengeOptions } from '../../http/registry-auth';
import { createRegistryAccess, deferredCanPull } from '../../http/registry-access';
import { tagImmutabilityFromSettings } from '../../core/tag-immutability';
import { CachedRepositorySettings } from '../../core/cached-repository-settings';
import { createOnPushFromSettings } from '../../core/create-on-push';
import { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../storage/s3/s3-blob-store';
import { createAwsClients, type AwsClients } from '../../aws/aws-clients';
import { containerSecretSource, type SecretSource } from '../../aws/secret-source';
import { coreLogger } from '../../aws/observability';

/**
 * Lambda's synchronous payload limit is 6 MB (6,291,456 bytes for a request) and API Gateway
 * hands a binary body to Lambda base64-encoded (4 bytes per 3), next to headers and the request
 * context. Keeping 256 KiB for those leaves about 4.5 MB of raw bytes for one upload chunk.
 */
export const LAMBDA_REQUEST_PAYLOAD_LIMIT = 6 * 1024 * 1024;
const EVENT_ENVELOPE_ALLOWANCE = 256 * 1024;
export const LAMBDA_MAX_CHUNK_BYTES = Math.floor(((LAMBDA_REQUEST_PAYLOAD_LIMIT - EVENT_ENVELOPE_ALLOWANCE) * 3) / 4);

/**
 * The largest referrers page (and ListImageReferrers answer) on this path. Lambda returns at most
 * 6 MB and the handler sends the body base64-encoded (4 bytes per 3), so it answers 500 for a body
 * above MAX_RESPONSE_BODY_BYTES (4.25 MiB raw, 5.67 MiB encoded; the rest of the 6 MB is the status,
 * headers and the result's JSON). A 4 MiB page (5.33 MiB encoded) fits, and so does a page of one
 * descriptor over budget: its annotations came from a manifest of at most 4 MiB. Capped by the
 * handler's limit should that shrink.
 */
export const LAMBDA_REFERRERS_PAGE_BYTES = Math.min(DEFAULT_REFERRERS_PAGE_BYTES, MAX_RESPONSE_BODY_BYTES);

export interface AwsSettings {
  tableName: string;
  bucketName: string;
  presignTtlSeconds: number;
  credentialsSecretId?: string;
  uploadTokenSecretId?: string;
  ingestUrl?: string;
  serviceName: string;
  /** The stack's createOnPush prop (CREATE_ON_PUSH): false turns create-on-push off whatever the account setting says. */
  createOnPush: boolean;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env, required: Array<'TABLE_NAME' | 'BUCKET_NAME'> = ['TABLE_NAME', 'BUCKET_NAME']): AwsSettings {
  for (const name of required) if (!env[name]) throw new Error(`environment variable ${name} is not set`);
  const ttl = env.PRESIGN_TTL_SECONDS === undefined || env.PRESIGN_TTL_SECONDS === '' ? 300 : Number(env.PRESIGN_TTL_SECONDS);
  if (!Number.isInteger(ttl) || ttl < 1) throw new Error(`PRESIGN_TTL_SECONDS must be a positive integer, got ${env.PRESIGN_TTL_SECONDS}`);
  return {
    tableName: env.TABLE_NAME ?? '',
    bucketName: env.BUCKET_NAME ?? '',
    presignTtlSeconds: ttl,
    credentialsSecretId: env.CREDENTIALS_SECRET_ARN || undefined,
    uploadTokenSecretId: env.UPLOAD_TOKEN_SECRET_ARN || undefined,
    ingestUrl: env.INGEST_URL || undefined,
    serviceName: env.POWERTOOLS_SERVICE_NAME || 'berth',
    createOnPush: env.CREATE_ON_PUSH !== 'false',
  };
}

/** What one request did that the response does not show (bytes handed to S3 by a redirect). */
export interface RequestObservation {
  bytesRedirected: number;
}

/** Per-request observations; an AsyncLocalStorage because the emulator runs invocations concurrently. */
export const requestObservations = new AsyncLocalStorage<RequestObservation>();

/** The Registry, noting the size of every blob it answers with a redirect. */
class ObservedRegistry extends Registry {
  override async readBlob(repository: string, digestText: string, rangeHeader?: string): Promise<BlobContent> {
    const content = await super.readBlob(repository, digestText, rangeHeader);
    const observation = requestObservations.getStore();
    if (observation && content.kind === 'redirect') observation.bytesRedirected += content.size;
    return content;
  }
}

// ---- composition ---------------------------------------------------------------------------

export interface AwsRegistryOptions {
  settings: AwsSettings;
  clients: Pick<AwsClients, 'dynamodb' | 's3'>;
  secrets: SecretSource;
  logger: PowertoolsLogger;
  /** 'registry' (the Lambda handler) or 'ingest' (the Fargate service). */
  role: 'registry' | 'ingest';
  /** Overrides of registry settings (tests). */
  registryOptions?: Omit<RegistryOptions, 'blobs' | 'metadata' | 'log'>;
  /**
   * The ECR JSON API on `POST /` (aws-control-plane.ts), built on the registry's metadata store.
   * `openIngestUpload` is given when there is an ingest service (INGEST_URL).
   */
  controlPlane?: (metadata: DynamoDbMetadataStore, readContent: (digest: string) => Promise<Uint8Array>, registry: Registry, openIngestUpload?: OpenIngestUpload) => Handler;
  /**
   * The data plane's identity and access, as in local mode: registry tokens (verified again here
   * when a request did not come through the authorizer), per-request policy evaluation (403 DENIED,
   * repository and registry policies, public repositories, mount source checks) and the token
   * endpoint `/v2/token`. Without it the router only requires the authorizer's identity.
   */
  access?: AwsAccessOptions;
}

/**
 * Opens an upload session on the ingest service exactly as the data plane's `POST /v2/<name>/blobs/uploads/`
 * does, and answers its Location (with its upload token): where a replication's large blob is sent.
 */
export type OpenIngestUpload = (repository: string) => Promise<string>;

export interface AwsAccessOptions {
  tokens: RegistryTokens;
  /** The callers' identity policies: IAM's policy simulator on AWS (SimulatedIdentityPolicies over IamPolicySimulator). */
  identityPolicies: IdentityPolicySource;
  registryAccount: string;
  region: string;
  /** @default { scheme: 'bearer' } with realm `<publicUrl>/v2/token` */
  challenge?: ChallengeOptions;
  /** The registry's public base URL (`https://<registry host>`): realm and service of the challenge. */
  publicUrl?: string;
  /** How long policies read from the table are reused by a container. @default 5 s */
  policyCacheMs?: number;
}

/**
 * The AWS deployment, in the shape of composition/deployment.ts but with a router per upload-token
 * key. Its scheduled jobs run as functions on EventBridge schedules: the garbage collector
 * (garbage-collector.ts), which purges abandoned uploads too.
 */
export interface AwsRegistry extends Omit<Deployment, 'router' | 'close'> {
  /** The router for the current upload-token key (rebuilt when the key rotates). */
  router(): Promise<Handler>;
}

/**
 * The handler's router refuses requests without an identity: on AWS the authorizer always puts
 * one in the request context, so a request without one did not come through it.
 */
const noIdentityWithoutAuthorizer: Authenticator = { challenge: BASIC_CHALLENGE, authenticate: async () => null };

export async function buildAwsRegistry(options: AwsRegistryOptions): Promise<AwsRegistry> {
  const { settings, role } = options;
  const log = coreLogger(options.logger);
  const metadata = await DynamoDbMetadataStore.open({ client: options.clients.dynamodb, tableName: settings.tableName });
  const blobs = new S3BlobStore({ client: options.clients.s3, bucket: settings.bucketName, presignTtlSeconds: settings.presignTtlSeconds });
  // Lambda: the requests of one upload land on different containers, so the running hash
  // lives in the upload's item. The ingest service runs several tasks behind a load
  // balancer without stickiness: same reason.
  // With access control, a cross-repository mount needs pull permission on the source.
  const mountCheck = options.access && role === 'registry' ? deferredCanPull() : undefined;
  // Settings cached per container: the control plane below writes through the same object, other containers' writes show within SETTINGS_CACHE_MS.
  const repositories = new CachedRepositorySettings(metadata);
  const registry = new ObservedRegistry({
    referrersPageBytes: LAMBDA_REFERRERS_PAGE_BYTES,
    ...options.registryOptions,
    ...(mountCheck ? { canPull: mountCheck.canPull } : {}),
    blobs,
    metadata,
    repositories,
    log,
    shareHashState: true,
    isTagImmutable: tagImmutabilityFromSettings(repositories),
    mayCreateOnPush: createOnPushFromSettings(metadata, { enabled: settings.createOnPush }),
  });

  if (role === 'ingest' && !settings.uploadTokenSecretId) throw new Error('the ingest service needs UPLOAD_TOKEN_SECRET_ARN');
  if (settings.ingestUrl && !settings.uploadTokenSecretId) throw new Error('INGEST_URL needs UPLOAD_TOKEN_SECRET_ARN to sign upload tokens');

  const access =
    options.access && role === 'registry'
      ? createRegistryAccess({
          tokens: options.access.tokens,
          metadata,
          registryAccount: options.access.registryAccount,
          region: options.access.region,
          identityPolicies: options.access.identityPolicies,
          challenge: options.access.challenge,
          publicUrl: options.access.publicUrl,
          scheme: 'https',
          policyCacheMs: options.access.policyCacheMs,
          log,
        })
      : undefined;
  if (access) mountCheck?.bind(access.accessControl);
  // Manifest bodies too large for a DynamoDB item live in S3 (under their digest, or staged until promoted).
  const readContent = (digest: string) => registry.readManifestBody(digest);
  // The key rotates: it is read per request, and its signer rebuilt when it changed.
  let signer: { key: string; tokens: UploadTokens } | undefined;
  const uploadTokensFor = (key: string): UploadTokens => {
    if (signer?.key !== key) signer = { key, tokens: new UploadTokens(Buffer.from(key, 'utf8')) };
    return signer.tokens;
  };
  const ingestUrl = settings.ingestUrl;
  const openIngestUpload: OpenIngestUpload | undefined =
    ingestUrl !== undefined
      ? async (repository) => {
          const key = await options.secrets.getSecret(settings.uploadTokenSecretId!);
          const upload = await registry.startUpload(repository);
          return ingestUploadLocation(ingestUrl, uploadTokensFor(key), repository, upload.id);
        }
      : undefined;
  const plainControlPlane = role === 'registry' ? options.controlPlane?.(metadata, readContent, registry, openIngestUpload) : undefined;
  // A policy changed through this container applies here at once; other containers see it within policyCacheMs.
  const controlPlane: Handler | undefined =
    plainControlPlane && access
      ? async (request) => {
          const response = await plainControlPlane(request);
          access.accessControl.invalidatePolicies();
          return response;
        }
      : plainControlPlane;
  let current: { key: string | undefined; router: Handler } | undefined;
  const router = async (): Promise<Handler> => {
    const key = settings.uploadTokenSecretId ? await options.secrets.getSecret(settings.uploadTokenSecretId) : undefined;
    if (current && current.key === key) return current.router;
    const uploadTokens = key !== undefined ? uploadTokensFor(key) : undefined;
    const built =
      role === 'ingest'
        ? createRouter({ registry, log, role: 'ingest', uploadTokens })
        : createRouter({
            registry,
            log,
            // With access: a request that did not come through the authorizer (the token endpoint) is
            // authenticated here with the same token checks; without: it is refused.
            authenticator: access?.authenticator ?? noIdentityWithoutAuthorizer,
            accessControl: access?.accessControl,
            tokenService: access?.tokenService,
            controlPlane,
            uploadTokens,
            ingestUrl: settings.ingestUrl,
            // Without an ingest service, upload bytes pass through Lambda: advertise what fits.
            maxChunkBytes: settings.ingestUrl ? undefined : LAMBDA_MAX_CHUNK_BYTES,
          });
    current = { key, router: built };
    return built;
  };
  return { registry, router, jobs: [] };
}

// ---- once per container -------------------------------------------------------------------

let containerClients: AwsClients | undefined;

/** SDK clients and the Secrets Manager source of this container, created on first use. */
export function containerDependencies(): { clients: AwsClients; secrets: SecretSource } {
  containerClients ??= createAwsClients();
  return { clients: containerClients, secrets: containerSecretSource(containerClients.secretsManager) };
}

export { once } from './once';
