/**
 * Local mode's ECR JSON API: the endpoint of lambdas/http/ecr-api.ts with callers authenticated
 * by the server itself (SigV4, service `ecr`, the configured regions, AWS's 15-minute window) against
 * the configured access keys, tokens signed with the data directory's key.
 */
import type { Logger } from '../../core/log';
import type { RegistryTokens } from '../../core/registry-tokens';
import { createEcrApi, type EcrApiOptions } from '../../http/ecr-api';
import { controlPlaneOperations, type ControlPlaneStore } from '../../core/control-plane';
import type { ControlPlaneScanning } from '../../core/scanning/scan-operations';
import { verifySigV4 } from '../../http/sigv4';
import type { Handler, HttpRequest } from '../../http/types';
import { DOWNLOAD_TOKEN_PARAM } from '../../http/router';
import type { BlobDownloadTokens } from '../../core/download-tokens';
import type { LocalIdentities } from './identities';
import type { Registry } from '../../core/registry';
import { localRegistryOf } from './local-registry';

export const ECR_SIGNING_SERVICE = 'ecr';

export function localControlPlane(options: {
  identities: LocalIdentities;
  store: ControlPlaneStore;
  /** The registry the layer actions and PutImage push through, whose repository role (settings cache) the API shares. @default the local registry opened over `store` */
  registry?: Registry;
  tokens: RegistryTokens;
  /** Signs GetDownloadUrlForLayer's URLs (the router's `downloadTokens` must be the same). @default the URL needs the caller's registry credentials */
  downloadTokens?: BlobDownloadTokens;
  /** Whether the server speaks HTTPS (the scheme of proxyEndpoint). */
  tls: boolean;
  /** BerthRunLifecyclePolicy's runs (the server's lifecycle queue, local-lifecycle.ts). @default the action is unknown */
  runLifecyclePolicies?: EcrApiOptions['runLifecyclePolicies'];
  /** The scanner's content store and queue for the scan actions (StartImageScan, DescribeImageScanFindings). @default none (core/scanning/scan-operations.ts) */
  scanning?: ControlPlaneScanning;
  log: Logger;
  now?: () => number;
}): Handler {
  const { identities } = options;
  const now = options.now ?? Date.now;
  const proxyEndpoint = (request: HttpRequest) => `${options.tls ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}`;
  const { downloadTokens } = options;
  return createEcrApi({
    operations: controlPlaneOperations({
      store: options.store,
      registry: options.registry ?? localRegistryOf(options.store),
      now,
      // Rules may name only the destinations of the --config file (its `registry` is this registry itself).
      replication: {
        self: { registryId: identities.account, regions: identities.regions },
        destinations: identities.replicationDestinations,
        configuredBy: 'replicationDestinations in the --config file (docs/replication.md)',
      },
      ...(options.scanning ? { scanning: options.scanning } : {}),
    }),
    tokens: options.tokens,
    registryAccount: identities.account,
    region: identities.regions[0],
    identityPolicies: identities.policies,
    log: options.log,
    now,
    proxyEndpoint,
    ...(options.runLifecyclePolicies ? { runLifecyclePolicies: options.runLifecyclePolicies } : {}),
    // As a presigned S3 URL: fetched without credentials while it lasts (the data plane checks the token).
    ...(downloadTokens
      ? {
          layerDownloadUrl: (request: HttpRequest, repository: string, digest: string) =>
            `${proxyEndpoint(request)}/v2/${repository}/blobs/${digest}?${DOWNLOAD_TOKEN_PARAM}=${downloadTokens.issue(repository, digest, now())}`,
        }
      : {}),
    async authenticate(request, body) {
      const result = await verifySigV4(
        { method: request.method, path: request.path, query: request.query, headers: request.headers, body },
        { lookupSecret: identities.lookupSecret, service: ECR_SIGNING_SERVICE, regions: identities.regions, now: new Date(now()) },
      );
      if (!result.ok) return result;
      return { ok: true, caller: { principal: result.principal.principal } };
    },
  });
}
