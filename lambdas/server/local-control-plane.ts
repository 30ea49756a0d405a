/**
 * Local mode's ECR JSON API: the endpoint of lambdas/http/ecr-api.ts with callers authenticated
 * by the server itself (SigV4, service `ecr`, the configured regions, AWS's 15-minute window) against
 * the configured access keys, tokens signed with the data directory's key.
 */
import type { Logger } from '../core/log';
import type { RegistryTokens } from '../core/registry-tokens';
import { createEcrApi, type EcrApiStore } from '../http/ecr-api';
import { verifySigV4 } from '../http/sigv4';
import type { Handler } from '../http/types';
import type { LocalIdentities } from './identities';
import type { Registry } from '../core/registry';
import { localRegistryOf } from './local-registry';

export const ECR_SIGNING_SERVICE = 'ecr';

export function localControlPlane(options: {
  identities: LocalIdentities;
  store: EcrApiStore;
  /** The registry the layer actions and PutImage push through. @default the local registry opened over `store` */
  registry?: Registry;
  tokens: RegistryTokens;
  /** Whether the server speaks HTTPS (the scheme of proxyEndpoint). */
  tls: boolean;
  log: Logger;
  now?: () => number;
}): Handler {
  const { identities } = options;
  const now = options.now ?? Date.now;
  return createEcrApi({
    store: options.store,
    registry: options.registry ?? localRegistryOf(options.store),
    tokens: options.tokens,
    registryAccount: identities.account,
    region: identities.regions[0],
    identityPolicies: identities.policies,
    log: options.log,
    now,
    proxyEndpoint: (request) => `${options.tls ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}`,
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
