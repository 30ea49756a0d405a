/**
 * Local mode's composition root: the registry over LMDB and files in one data directory, and, once
 * identities exist, the ECR control plane, login and access tokens, policies on every request and
 * signed layer URLs. `berth serve` starts a node:http server on the router it answers.
 */
import type { Logger } from '../../core/log';
import { computeRegistryStats } from '../../core/registry-stats';
import { RegistryTokens } from '../../core/registry-tokens';
import { createRouter } from '../../http/router';
import { createRegistryAccess, deferredCanPull } from '../../http/registry-access';
import type { Handler } from '../../http/types';
import type { Deployment } from '../deployment';
import { loadOrCreateDownloadTokens, loadOrCreateTokenSigner, type LocalIdentities } from './identities';
import { localControlPlane } from './local-control-plane';
import { openLocalRegistry, type LocalRegistry } from './local-registry';
import { localEventOrigin, localEventSinks, type LocalEventSettings } from './local-events';
import type { LocalGcSettings } from './local-gc';
import type { LocalLifecycleSettings } from './local-lifecycle';
import { readLastCollection } from '../../storage/local/last-collection';
import { DOWNLOAD_TOKEN_PARAM } from '../../http/router';
import type { Registry } from '../../core/registry';
import { localReplication } from './local-replication';

export interface LocalDeploymentOptions {
  dataDir: string;
  identities: LocalIdentities;
  /** Whether the server speaks HTTPS (URLs and challenges name the scheme). */
  tls: boolean;
  /** The `WWW-Authenticate` challenge with identities. @default 'bearer' */
  challenge?: 'bearer' | 'basic';
  /** Where image events go (the account and region are the identities'). @default nowhere */
  events?: Omit<LocalEventSettings, 'account' | 'region'>;
  /** Online garbage collection. @default every hour, grace period 24 hours */
  gc?: LocalGcSettings;
  /** Lifecycle policies on the server's timer. @default every 24 hours */
  lifecycle?: LocalLifecycleSettings;
  /** The URL this server is reached at (known once it listens): where replication destinations fetch blobs from. */
  publicUrl?: () => string | undefined;
  log: Logger;
}

export interface LocalDeployment extends Deployment {
  dataDir: string;
  metadata: LocalRegistry['metadata'];
}

export async function composeLocal(options: LocalDeploymentOptions): Promise<LocalDeployment> {
  const { identities, log } = options;
  const withIdentities = identities.identities.length > 0;
  // With identities, a cross-repository mount needs pull permission on the source (checked by the data plane's access control).
  const mountCheck = deferredCanPull();
  const eventSettings: LocalEventSettings = { ...options.events, account: identities.account, region: identities.regions[0] };
  const events = { sinks: localEventSinks(options.dataDir, eventSettings, log), origin: localEventOrigin(eventSettings) };
  const downloadTokens = withIdentities ? loadOrCreateDownloadTokens(options.dataDir) : undefined;
  // Replication needs identities: the destination fetches blobs with signed download URLs.
  const replicate =
    downloadTokens && identities.replicationDestinations.length > 0
      ? ({ registry, metadata, dataDir }: { registry: Registry; metadata: LocalRegistry['metadata']; dataDir: string }) => {
          const replication = localReplication({
            dataDir,
            store: metadata,
            readManifestBody: (digest) => registry.readManifestBody(digest),
            blobUrl: async (repository, digest) => {
              const base = options.publicUrl?.();
              // The replication worker's timer starts before the server listens: an attempt that early waits for the next.
              if (base === undefined) throw new Error('the server is not listening yet: no address for the blob URLs');
              return `${base}/v2/${repository}/blobs/${digest}?${DOWNLOAD_TOKEN_PARAM}=${downloadTokens.issue(repository, digest)}`;
            },
            destinations: identities.replicationDestinations,
            region: identities.regions[0],
            log,
          });
          return { sinks: [replication.sink], jobs: [replication.job] };
        }
      : undefined;
  const local = await openLocalRegistry(options.dataDir, log, withIdentities ? { canPull: mountCheck.canPull } : {}, events, options.gc, options.lifecycle, replicate);
  // The ECR JSON API answers once there is someone to authenticate; the token key lives in the data directory.
  const tokens = new RegistryTokens(loadOrCreateTokenSigner(local.dataDir));
  const controlPlane = withIdentities ? localControlPlane({
        identities,
        store: local.metadata,
        tokens,
        downloadTokens,
        tls: options.tls,
        runLifecyclePolicies: local.lifecycle.run,
        scanning: { content: local.scanning.content, requestScan: local.scanning.requestScan, log },
        log,
      }) : undefined;
  // The data plane: login tokens (Basic AWS:<token>), the token flow at /v2/token, and policies on every request.
  // Without identities, everyone stays anonymous and allowed (loopback only).
  const access = withIdentities
    ? createRegistryAccess({
        tokens,
        metadata: local.metadata,
        registryAccount: identities.account,
        region: identities.regions[0],
        identityPolicies: identities.policies,
        scheme: options.tls ? 'https' : 'http',
        challenge: { scheme: options.challenge ?? 'bearer' },
        log,
      })
    : undefined;
  if (access) mountCheck.bind(access.accessControl);
  // One process: a policy changed through the ECR API applies to the next request.
  const policyAwareControlPlane: Handler | undefined =
    controlPlane && access
      ? async (request) => {
          const response = await controlPlane(request);
          access.accessControl.invalidatePolicies();
          return response;
        }
      : controlPlane;
  const router = createRouter({
    registry: local.registry,
    log,
    controlPlane: policyAwareControlPlane,
    authenticator: access?.authenticator,
    accessControl: access?.accessControl,
    tokenService: access?.tokenService,
    downloadTokens,
    // berth stats --endpoint: counted over the store; the last collection is the one the data directory keeps.
    stats: async (query) => ({ ...(await computeRegistryStats(local.metadata, query)), lastCollection: await readLastCollection(local.dataDir) }),
  });
  return { registry: local.registry, router, jobs: local.jobs, dataDir: local.dataDir, metadata: local.metadata, close: local.close };
}
