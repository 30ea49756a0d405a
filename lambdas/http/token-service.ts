/**
 * The token endpoint of the Docker token flow, at `/v2/token`:
 *
 * - `GET /v2/token?service=..&scope=repository:<name>:pull,push` (docker, skopeo, podman),
 *   with Basic `AWS:<login token>` or no credentials (anonymous);
 * - `POST /v2/token` with a form (containerd): `grant_type=password` with `username=AWS` and
 *   `password=<login token>`, or `grant_type=refresh_token` with `refresh_token=<login token>`
 *   (what containerd sends for an identity token), plus `service`, `scope`, `client_id`.
 *
 * It answers `{"token","access_token","expires_in","issued_at"}`: a short access token whose
 * scopes are the requested ones that the policies allow (an empty grant is still a token:
 * `docker login` asks with no scope). Unknown or malformed scopes are ignored.
 */
import { RegistryError } from '../core/errors';
import { ACCESS_TOKEN_SECONDS, type RegistryTokens, type RepositoryAccess } from '../core/registry-tokens';
import { readBody } from './body';
import { json } from './render';
import { CATALOG_ACCESS, type AccessControl } from './access-control';
import { LOGIN_USER, ANONYMOUS, type RegistryTokenAuthenticator } from './registry-auth';
import type { Identity } from './auth';
import type { HttpRequest, HttpResponse } from './types';

export const TOKEN_PATH = '/v2/token';

/** At most this many scopes are looked at per request; the rest are ignored. */
const MAX_SCOPES = 32;
const MAX_FORM_BYTES = 64 * 1024;

export interface TokenServiceOptions {
  tokens: RegistryTokens;
  authenticator: RegistryTokenAuthenticator;
  access: AccessControl;
  /** Lifetime of issued access tokens, in seconds. @default ACCESS_TOKEN_SECONDS (15 min) */
  lifetimeSeconds?: number;
  now?: () => number;
}

export type TokenService = (request: HttpRequest) => Promise<HttpResponse>;

export function createTokenService(options: TokenServiceOptions): TokenService {
  const now = options.now ?? Date.now;
  const lifetime = options.lifetimeSeconds ?? ACCESS_TOKEN_SECONDS;

  const refuse = (request: HttpRequest, message = 'the login token is invalid or expired: get a new one with `aws ecr get-login-password`') =>
    new RegistryError('UNAUTHORIZED', message, undefined, { 'WWW-Authenticate': `Basic realm="${options.authenticator.publicBase(request).replace(/"/g, '')}"` });

  async function issue(request: HttpRequest, identity: Identity, scopes: string[]): Promise<HttpResponse> {
    const principal = identity.principal ?? null;
    const granted = await options.access.grant(principal, parseScopes(scopes), request.sourceIp);
    const at = now();
    const { token } = await options.tokens.issueAccess(principal ?? { arn: 'anonymous', account: '' }, granted, at, lifetime);
    return json(200, { token, access_token: token, expires_in: lifetime, issued_at: new Date(Math.floor(at / 1000) * 1000).toISOString() }, { 'Cache-Control': 'no-store' });
  }

  return async function tokenService(request: HttpRequest): Promise<HttpResponse> {
    if (request.method === 'GET' || request.method === 'HEAD') {
      const authorization = request.headers['authorization'];
      let identity: Identity | null = ANONYMOUS;
      if (authorization !== undefined && authorization.trim() !== '') {
        // Only a login token buys a token here: an access token cannot be traded for broader scopes.
        identity = /^Basic\s/i.test(authorization) ? await options.authenticator.authenticate(authorization) : null;
        if (!identity || identity.method !== 'login-token') throw refuse(request);
      }
      return issue(request, identity, request.query.getAll('scope'));
    }
    if (request.method === 'POST') {
      const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new RegistryError('UNSUPPORTED', 'POST the token request as application/x-www-form-urlencoded');
      }
      const form = new URLSearchParams(Buffer.from(await readBody(request.body, MAX_FORM_BYTES, 'CHUNK_TOO_LARGE')).toString('utf8'));
      const grantType = form.get('grant_type');
      let identity: Identity | null;
      if (grantType === 'password') {
        if (form.get('username') !== LOGIN_USER) throw refuse(request, `the user name is ${LOGIN_USER}, and the password a login token`);
        identity = await options.authenticator.verifyLogin(form.get('password') ?? '');
      } else if (grantType === 'refresh_token') {
        identity = await options.authenticator.verifyLogin(form.get('refresh_token') ?? '');
      } else {
        return json(400, { error: 'unsupported_grant_type', error_description: 'grant_type must be password or refresh_token' });
      }
      if (!identity) throw refuse(request);
      return issue(request, identity, form.getAll('scope'));
    }
    throw new RegistryError('UNSUPPORTED', `${request.method} is not supported here; allowed: GET, POST`, undefined, { Allow: 'GET, HEAD, POST' });
  };
}

/**
 * `repository:<name>:<actions>` (and `registry:catalog:*`), several per parameter separated
 * by spaces, several parameters; whatever does not parse is ignored.
 */
export function parseScopes(values: string[]): RepositoryAccess[] {
  const byName = new Map<string, Set<string>>();
  let seen = 0;
  for (const value of values) {
    for (const scope of value.split(' ')) {
      if (scope === '' || ++seen > MAX_SCOPES) continue;
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last <= first) continue;
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const actions = scope.slice(last + 1).split(',').filter((a) => a === 'pull' || a === 'push' || a === 'delete' || a === '*');
      if (type === 'registry' && name === 'catalog' && actions.includes('*')) {
        byName.set(CATALOG_ACCESS, new Set(['*']));
        continue;
      }
      // `repository(plugin)` and other types are not this registry's.
      if (type !== 'repository' || name.length === 0 || name.length > 256 || actions.length === 0) continue;
      const set = byName.get(name) ?? new Set<string>();
      actions.forEach((a) => set.add(a));
      byName.set(name, set);
    }
  }
  return [...byName].map(([name, actions]) => ({ name, actions: [...actions] as RepositoryAccess['actions'] }));
}
