/**
 * Data-plane authentication with registry tokens (lambdas/core/registry-tokens.ts):
 *
 * - `Basic AWS:<login token>`: the 12-hour password GetAuthorizationToken hands out, as
 *   `docker login -u AWS`, podman, skopeo `--creds` and `ctr --user` send it;
 * - `Bearer <access token>`: the short, scoped tokens the token endpoint (token-service.ts)
 *   issues in the Docker token flow;
 * - nothing: an anonymous identity. Whether that is enough is the authorization step's
 *   call (access-control.ts): a public repository's pulls are.
 *
 * Anything else (expired, forged, truncated, re-signed, a login token sent as Bearer, an
 * access token sent as Basic, another user name than AWS) is null, which the router answers
 * with 401 UNAUTHORIZED and the challenge. Tokens are never logged.
 */
import { isValidRepositoryName } from '../core/names';
import type { RegistryTokens, TokenClaims } from '../core/registry-tokens';
import { parseBasicAuthorization, type Authenticator, type Identity } from './auth';
import type { HttpRequest } from './types';

/** The user name ECR's login tokens go with. */
export const LOGIN_USER = 'AWS';

/** Which `WWW-Authenticate` challenge a 401 presents. */
export type ChallengeOptions =
  /**
   * The Docker token flow (the default): the only challenge with which docker pulls a public
   * repository without login; `docker login` works with it too. `realm` defaults to
   * `<public base>/v2/token`, `service` to the public host.
   */
  | { scheme: 'bearer'; realm?: string; service?: string }
  /** What ECR presents: `Basic realm="..."`; clients then send `AWS:<token>` on every request. */
  | { scheme: 'basic'; realm?: string };

export interface RegistryAuthOptions {
  tokens: RegistryTokens;
  /** @default { scheme: 'bearer' } */
  challenge?: ChallengeOptions;
  /**
   * The registry's public base URL (`https://registry.example.com`), for the realm and the
   * service of the Bearer challenge. @default from the request: X-Forwarded-Proto (or http) and Host
   */
  publicUrl?: string;
  /** The scheme clients reach this server with, when there is no publicUrl and no X-Forwarded-Proto. @default 'http' */
  scheme?: 'http' | 'https';
  now?: () => number;
}

/** A repository and the token-flow actions a 401 asks the client to fetch a token for. */
export interface ChallengeScope {
  name: string;
  actions: string[];
}

export const ANONYMOUS: Identity = Object.freeze({ subject: 'anonymous', method: 'anonymous' }) as Identity;

export class RegistryTokenAuthenticator implements Authenticator {
  readonly challenge: string;
  readonly scheme: 'bearer' | 'basic';
  private readonly options: RegistryAuthOptions;
  private readonly now: () => number;

  constructor(options: RegistryAuthOptions) {
    this.options = options;
    this.scheme = options.challenge?.scheme ?? 'bearer';
    this.now = options.now ?? Date.now;
    const base = options.publicUrl?.replace(/\/+$/, '');
    // The static challenge, for callers that have no request at hand.
    this.challenge =
      this.scheme === 'basic'
        ? `Basic realm="${quoteSafe(options.challenge?.realm ?? (base ? new URL(base).host : 'Berth registry'))}"`
        : bearerChallenge(options.challenge?.scheme === 'bearer' ? options.challenge : {}, base ?? 'http://localhost');
  }

  /** The challenge for one request: realm and service from the public URL or the request's host, and the scope docker expects. */
  challengeFor(request: HttpRequest, scope?: ChallengeScope, error?: 'insufficient_scope' | 'invalid_token'): string {
    const base = this.publicBase(request);
    if (this.scheme === 'basic') {
      const configured = this.options.challenge?.realm;
      return `Basic realm="${quoteSafe(configured ?? new URL(base).host)}"`;
    }
    let challenge = bearerChallenge(this.options.challenge?.scheme === 'bearer' ? this.options.challenge : {}, base);
    if (scope && isValidRepositoryName(scope.name) && scope.actions.length > 0) challenge += `,scope="repository:${scope.name}:${scope.actions.join(',')}"`;
    if (error) challenge += `,error="${error}"`;
    return challenge;
  }

  /** The registry's base URL as clients see it. */
  publicBase(request?: HttpRequest): string {
    if (this.options.publicUrl) return this.options.publicUrl.replace(/\/+$/, '');
    const host = safeHost(request?.headers['host']) ?? 'localhost';
    const forwarded = request?.headers['x-forwarded-proto']?.split(',')[0]?.trim().toLowerCase();
    const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : (this.options.scheme ?? 'http');
    return `${scheme}://${host}`;
  }

  async authenticate(authorization: string | undefined): Promise<Identity | null> {
    if (authorization === undefined || authorization.trim() === '') return ANONYMOUS;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (bearer) return this.verifyAccess(bearer[1]);
    if (/^Basic\s/i.test(authorization)) {
      const given = parseBasicAuthorization(authorization);
      if (!given || given.username !== LOGIN_USER) return null;
      return this.verifyLogin(given.password);
    }
    return null;
  }

  /** The identity a login token stands for; null unless it is a valid, unexpired login token of this registry. */
  async verifyLogin(token: string): Promise<Identity | null> {
    const claims = await this.options.tokens.verify(token, this.now());
    if (!claims || claims.kind !== 'login' || !principalConsistent(claims) || claims.sub === 'anonymous') return null;
    return { subject: claims.sub, method: 'login-token', principal: { arn: claims.sub, account: claims.acct }, expiresAt: claims.exp };
  }

  /** The identity an access token stands for, with its scopes; anonymous tokens have no principal. */
  async verifyAccess(token: string): Promise<Identity | null> {
    const claims = await this.options.tokens.verify(token, this.now());
    if (!claims || claims.kind !== 'access') return null;
    const access = validAccess(claims.access);
    if (!access) return null;
    if (claims.sub === 'anonymous') {
      if (claims.acct !== '') return null;
      return { subject: 'anonymous', method: 'access-token', expiresAt: claims.exp, access };
    }
    if (!principalConsistent(claims)) return null;
    return { subject: claims.sub, method: 'access-token', principal: { arn: claims.sub, account: claims.acct }, expiresAt: claims.exp, access };
  }
}

function bearerChallenge(options: { realm?: string; service?: string }, base: string): string {
  const realm = options.realm ?? `${base}/v2/token`;
  const service = options.service ?? new URL(base).host;
  return `Bearer realm="${quoteSafe(realm)}",service="${quoteSafe(service)}"`;
}

/** A Host header fit to go into a challenge (no quotes, spaces or control characters). */
function safeHost(host: string | undefined): string | undefined {
  if (!host || host.length > 255 || !/^[A-Za-z0-9.\-_:[\]]+$/.test(host)) return undefined;
  return host;
}

function quoteSafe(value: string): string {
  return value.replace(/["\\\r\n]/g, '');
}

/** The ARN's account and the account claim agree: a token that says otherwise is refused. */
function principalConsistent(claims: TokenClaims): boolean {
  if (!/^\d{12}$/.test(claims.acct)) return false;
  const parts = claims.sub.split(':');
  return parts.length >= 6 && parts[0] === 'arn' && (parts[2] === 'iam' || parts[2] === 'sts') && parts[4] === claims.acct;
}

function validAccess(access: unknown): { name: string; actions: string[] }[] | null {
  if (!Array.isArray(access) || access.length > 64) return null;
  const out: { name: string; actions: string[] }[] = [];
  for (const entry of access) {
    if (typeof entry !== 'object' || entry === null) return null;
    const { name, actions } = entry as { name?: unknown; actions?: unknown };
    if (typeof name !== 'string' || !Array.isArray(actions) || !actions.every((a) => typeof a === 'string')) return null;
    out.push({ name, actions: actions as string[] });
  }
  return out;
}
