/**
 * The ECR JSON API in the deployed stack. `POST /` sits behind the REST API's IAM authorization:
 * API Gateway has checked the SigV4 signature (service `execute-api`) and puts the caller in
 * `requestContext.identity` (userArn, accountId), which proxy-event.ts turns into an `iam` identity.
 * No signature is checked here. Tokens are signed with the KMS key TOKEN_KEY_ID (KmsTokenSigner).
 *
 * Environment: TOKEN_KEY_ID (the KMS key), REGISTRY_ACCOUNT_ID (the registry's account, the stack's),
 * AWS_REGION (set by Lambda), PROXY_ENDPOINT (optional: the registry URL clients log in to; default
 * https://<Host of the request>; the stack sets it, since the control plane is called on the API's own
 * host while docker uses the registry host), CHALLENGE (`bearer`, the default, or `basic`),
 * REPLICATION_DESTINATIONS (optional: the destinations replication rules may name, JSON of
 * contracts/replication.ts's ReplicationDestinationEndpoint; none when unset), REPLICATION_FETCH_LIMIT_BYTES
 * (optional: the largest blob a replication's BerthReplicateBlob fetches itself when there is an
 * ingest service; default contracts/replication-actions.ts's REPLICATION_FETCH_LIMIT_BYTES).
 */
import type { Logger } from '../../core/log';
import type { IdentityPolicySource } from '../../core/identity-policies';
import { RegistryTokens } from '../../core/registry-tokens';
import { createEcrApi } from '../../http/ecr-api';
import { controlPlaneOperations, type ControlPlaneStore } from '../../core/control-plane';
import type { ControlPlaneScanning } from '../../core/scanning/scan-operations';
import type { Registry } from '../../core/registry';
import type { Handler } from '../../http/types';
import { KmsTokenSigner, type KmsSigningApi } from '../../aws/kms-token-signer';
import { replicationDestinationsFromEnv, type ReplicationDestinationEndpoint } from '../../contracts/replication';
import { REPLICATION_FETCH_LIMIT_BYTES, replicationFetchLimitFromEnv } from '../../contracts/replication-actions';
import type { OpenIngestUpload } from './aws-registry';

export interface AwsControlPlaneSettings {
  tokenKeyId: string;
  registryAccount: string;
  region: string;
  proxyEndpoint?: string;
  /** Which challenge the data plane presents (the stack's gateway response presents the same). */
  challenge: 'bearer' | 'basic';
  /** The bucket's KMS key (BLOB_KMS_KEY_ARN); absent: SSE-S3. Every repository reports it. */
  blobKmsKeyArn?: string;
  /** The destinations replication rules may name (REPLICATION_DESTINATIONS). @default none */
  replicationDestinations?: ReplicationDestinationEndpoint[];
  /** A replicated blob larger than this goes to the ingest service, when there is one (REPLICATION_FETCH_LIMIT_BYTES). @default REPLICATION_FETCH_LIMIT_BYTES */
  replicationFetchLimitBytes?: number;
}

/** The control plane's settings, or undefined when TOKEN_KEY_ID is not set (no control plane). */
export function controlPlaneSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsControlPlaneSettings | undefined {
  if (!env.TOKEN_KEY_ID) return undefined;
  if (!env.REGISTRY_ACCOUNT_ID || !/^\d{12}$/.test(env.REGISTRY_ACCOUNT_ID)) throw new Error('TOKEN_KEY_ID needs REGISTRY_ACCOUNT_ID (12 digits)');
  if (!env.AWS_REGION) throw new Error('TOKEN_KEY_ID needs AWS_REGION');
  const blobKmsKeyArn = env.BLOB_KMS_KEY_ARN || undefined;
  const challenge = env.CHALLENGE || 'bearer';
  if (challenge !== 'bearer' && challenge !== 'basic') throw new Error(`CHALLENGE must be bearer or basic, got ${challenge}`);
  const replicationDestinations = replicationDestinationsFromEnv(env, { registryId: env.REGISTRY_ACCOUNT_ID, regions: [env.AWS_REGION] });
  const replicationFetchLimitBytes = replicationFetchLimitFromEnv(env);
  return {
    tokenKeyId: env.TOKEN_KEY_ID,
    registryAccount: env.REGISTRY_ACCOUNT_ID,
    region: env.AWS_REGION,
    proxyEndpoint: env.PROXY_ENDPOINT || undefined,
    challenge,
    ...(blobKmsKeyArn ? { blobKmsKeyArn } : {}),
    ...(replicationDestinations.length > 0 ? { replicationDestinations } : {}),
    replicationFetchLimitBytes,
  };
}

export function awsControlPlane(options: {
  settings: AwsControlPlaneSettings;
  /** KMS, for a signer of this control plane's own; or `tokens`, shared with the data plane. */
  kms?: KmsSigningApi;
  tokens?: RegistryTokens;
  store: ControlPlaneStore;
  identityPolicies: IdentityPolicySource;
  log: Logger;
  /** Reads a manifest body kept in the blob store (too large for its item). */
  readManifestBody?: (digest: string) => Promise<Uint8Array>;
  /** The data plane's registry: the layer actions and PutImage go through its rules, and settings through its (cached) repository role. */
  registry?: Registry;
  /** The ingest service's upload sessions (INGEST_URL): replicated blobs above the fetch limit are sent there. @default every replicated blob is fetched */
  openIngestUpload?: OpenIngestUpload;
  /** The scanner's content store and queue for the scan actions (StartImageScan, DescribeImageScanFindings). @default none (core/scanning/scan-operations.ts) */
  scanning?: ControlPlaneScanning;
}): Handler {
  const { settings } = options;
  if (!options.tokens && !options.kms) throw new Error('awsControlPlane needs kms or tokens');
  return createEcrApi({
    operations: controlPlaneOperations({
      store: options.store,
      registry: options.registry,
      readManifestBody: options.readManifestBody,
      replication: {
        self: { registryId: settings.registryAccount, regions: [settings.region] },
        destinations: settings.replicationDestinations ?? [],
        configuredBy: 'the stack\'s replication destinations (REPLICATION_DESTINATIONS)',
      },
      ...(options.scanning ? { scanning: options.scanning } : {}),
    }),
    tokens: options.tokens ?? new RegistryTokens(new KmsTokenSigner(options.kms!, settings.tokenKeyId)),
    registryAccount: settings.registryAccount,
    region: settings.region,
    encryption: settings.blobKmsKeyArn ? { encryptionType: 'KMS', kmsKey: settings.blobKmsKeyArn } : { encryptionType: 'AES256' },
    // A part travels base64-encoded in the JSON body (4/3), and API Gateway hands that body to Lambda
    // base64-encoded again (binaryMediaTypes */*): 16/9 of the part must fit Lambda's 6 MB request
    // payload (LAMBDA_REQUEST_PAYLOAD_LIMIT), not only API Gateway's 10 MB. 3 MiB -> about 5.6 MB.
    layerPartSize: 3 * 1024 * 1024,
    ...(options.openIngestUpload
      ? { replicationUploads: { fetchLimitBytes: settings.replicationFetchLimitBytes ?? REPLICATION_FETCH_LIMIT_BYTES, open: options.openIngestUpload } }
      : {}),
    identityPolicies: options.identityPolicies,
    log: options.log,
    proxyEndpoint: (request) => settings.proxyEndpoint ?? `https://${request.headers.host ?? 'localhost'}`,
    async authenticate(request) {
      const identity = request.identity;
      if (identity?.method !== 'iam' || !identity.principal) {
        // Only reachable if the route lost its IAM authorization: refuse rather than trust anyone.
        return { ok: false, status: 403, code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
      }
      return { ok: true, caller: { principal: identity.principal } };
    },
  });
}
