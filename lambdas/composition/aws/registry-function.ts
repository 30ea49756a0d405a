/**
 * The registry function's composition on AWS: tokens signed with the KMS key, identity policies
 * from IAM's policy simulator, the control plane on `POST /` and the data plane's access control,
 * over the storage buildAwsRegistry composes. Built once per container.
 */
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Registry } from '../../core/registry';
import type { Handler } from '../../http/types';
import { buildAwsRegistry, containerDependencies, once, settingsFromEnv, type AwsAccessOptions, type OpenIngestUpload } from './aws-registry';
import { awsControlPlane, controlPlaneSettingsFromEnv, type AwsControlPlaneSettings } from './aws-control-plane';
import { coreLogger } from '../../aws/observability';
import { IamPolicySimulator } from '../../aws/iam-policy-simulator';
import { KmsClientSigner, KmsTokenSigner } from '../../aws/kms-token-signer';
import type { AwsClients } from '../../aws/aws-clients';
import { SimulatedIdentityPolicies } from '../../core/identity-policies';
import { RegistryTokens } from '../../core/registry-tokens';
import { OCI_ENDPOINT_PERMISSIONS } from '../../contracts/oci-routes';
import type { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';

/** What the registry function runs with. */
export interface RegistryFunction {
  /** The router (resolved per invocation: it follows a rotated upload-token key). */
  router: () => Promise<Handler>;
  logger: PowertoolsLogger;
  metrics: Metrics;
  now?: () => number;
}

/** Every action a data-plane endpoint needs: simulated together, so a cold pull or push costs one IAM call. */
export const DATA_PLANE_ACTIONS: readonly string[] = [...new Set(OCI_ENDPOINT_PERMISSIONS.flatMap((entry) => [...entry.actions, ...(entry.sourceActions ?? [])]))];

/**
 * Identity and access of the deployed handler: tokens signed with the KMS key (one signer per
 * container, so the public key is fetched once), identity policies from IAM's policy simulator
 * (cached for 5 minutes per principal, action, repository and client address), the control plane on
 * `POST /` and the data plane's access control, sharing both.
 */
export function awsIdentityAndAccess(
  settings: AwsControlPlaneSettings,
  clients: Pick<AwsClients, 'kms' | 'iam'>,
  logger: PowertoolsLogger,
): {
  access: AwsAccessOptions;
  controlPlane: (metadata: DynamoDbMetadataStore, readManifestBody: (digest: string) => Promise<Uint8Array>, registry: Registry, openIngestUpload?: OpenIngestUpload) => Handler;
} {
  const tokens = new RegistryTokens(new KmsTokenSigner(new KmsClientSigner(clients.kms), settings.tokenKeyId));
  const identityPolicies = new SimulatedIdentityPolicies(new IamPolicySimulator(clients.iam), {
    registryAccount: settings.registryAccount,
    batch: DATA_PLANE_ACTIONS,
    // Fails closed (an implicit deny, not cached); the error says why (throttling, a missing permission).
    onError: (error) => logger.warn('SimulatePrincipalPolicy failed: counted as an implicit deny', { error }),
  });
  const publicUrl = settings.proxyEndpoint?.replace(/\/+$/, '');
  return {
    access: {
      tokens,
      identityPolicies,
      registryAccount: settings.registryAccount,
      region: settings.region,
      challenge: settings.challenge === 'basic' ? { scheme: 'basic' } : { scheme: 'bearer' },
      publicUrl,
    },
    controlPlane: (metadata, readManifestBody, registry, openIngestUpload) =>
      awsControlPlane({ settings, tokens, store: metadata, identityPolicies, readManifestBody, registry, openIngestUpload, log: coreLogger(logger) }),
  };
}

/** The registry function's dependencies from its environment: built on the first invocation of a container, reused by the next ones. */
export function registryFunctionFromEnvironment(observability: { logger: PowertoolsLogger; metrics: Metrics }): () => Promise<RegistryFunction> {
  return once(async (): Promise<RegistryFunction> => {
    const { clients, secrets } = containerDependencies();
    const identity = controlPlaneSettingsFromEnv();
    const wiring = identity ? awsIdentityAndAccess(identity, clients, observability.logger) : undefined;
    const app = await buildAwsRegistry({
      settings: settingsFromEnv(),
      clients,
      secrets,
      logger: observability.logger,
      role: 'registry',
      access: wiring?.access,
      controlPlane: wiring?.controlPlane,
    });
    return { router: app.router, ...observability };
  });
}
