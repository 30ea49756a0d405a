/**
 * The data plane's access pieces wired together: the token authenticator, the per-request
 * authorization and the token endpoint, sharing one RegistryTokens and one policy cache.
 * Hand `authenticator`, `accessControl` and `tokenService` to createRouter, and
 * `accessControl.canPull` to the Registry (see `deferredCanPull` when the Registry must
 * exist first).
 */
import type { Logger } from '../core/log';
import type { IdentityPolicySource } from '../core/identity-policies';
import type { RateLimit } from '../core/rate-limit';
import type { RegistryTokens } from '../core/registry-tokens';
import type { MetadataStore } from '../storage/ports';
import { AccessControl } from './access-control';
import { RegistryTokenAuthenticator, type ChallengeOptions } from './registry-auth';
import { createTokenService } from './token-service';
import type { Handler } from './types';

export interface RegistryAccessOptions {
  tokens: RegistryTokens;
  metadata: Pick<MetadataStore, 'getRepositoryPolicy' | 'getRegistryPolicy'>;
  registryAccount: string;
  region: string;
  identityPolicies: IdentityPolicySource;
  challenge?: ChallengeOptions;
  publicUrl?: string;
  scheme?: 'http' | 'https';
  anonymousRateLimit?: RateLimit | false;
  policyCacheMs?: number;
  accessTokenSeconds?: number;
  log?: Logger;
  now?: () => number;
}

export interface RegistryAccess {
  authenticator: RegistryTokenAuthenticator;
  accessControl: AccessControl;
  tokenService: Handler;
}

export function createRegistryAccess(options: RegistryAccessOptions): RegistryAccess {
  const authenticator = new RegistryTokenAuthenticator({ tokens: options.tokens, challenge: options.challenge, publicUrl: options.publicUrl, scheme: options.scheme, now: options.now });
  const accessControl = new AccessControl({
    metadata: options.metadata,
    registryAccount: options.registryAccount,
    region: options.region,
    identityPolicies: options.identityPolicies,
    challenge: (request, scope, error) => authenticator.challengeFor(request, scope, error),
    anonymousRateLimit: options.anonymousRateLimit,
    policyCacheMs: options.policyCacheMs,
    log: options.log,
    now: options.now,
  });
  const tokenService = createTokenService({ tokens: options.tokens, authenticator, access: accessControl, lifetimeSeconds: options.accessTokenSeconds, now: options.now });
  return { authenticator, accessControl, tokenService };
}

/**
 * A `canPull` for a Registry built before its AccessControl (which needs the Registry's
 * metadata store): it asks whatever `bind` was given, and refuses until then.
 */
export function deferredCanPull(): { canPull: (repository: string) => Promise<boolean>; bind(access: AccessControl): void } {
  let target: AccessControl | undefined;
  return {
    canPull: async (repository) => (target ? target.canPull(repository) : false),
    bind(access) {
      target = access;
    },
  };
}
