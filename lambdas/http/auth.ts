import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, Identity } from './types';

/** Who is calling, as established by a transport (a Lambda authorizer) or by an Authenticator. */
export type { Identity } from './types';

/** Turns a request's credentials into an identity; null means "no valid credentials" (401). */
export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Identity | null>;
  /** The `WWW-Authenticate` value of a 401. */
  readonly challenge: string;
  /** The challenge for one request, when it depends on the request (a Bearer realm on the request's host). */
  challengeFor?(request: HttpRequest): string;
}

/** A fixed user name and password (local mode's --basic-auth; a Secrets Manager secret on AWS). */
export interface BasicCredentials {
  username: string;
  password: string;
}

export function parseBasicAuthorization(authorization: string | undefined): BasicCredentials | null {
  if (!authorization) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) return null;
  const bytes = Buffer.from(match[1], 'base64');
  // One spelling per credential (as for the tokens inside it): the encoder's own, padded or not.
  const canonical = bytes.toString('base64');
  if (match[1] !== canonical && match[1] !== canonical.replace(/=+$/, '')) return null;
  const decoded = bytes.toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Compares in constant time whatever the lengths: both sides are hashed first. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function basicCredentialsMatch(given: BasicCredentials | null, expected: BasicCredentials): boolean {
  if (!given) return false;
  // Evaluate both comparisons always, so timing does not tell which part was wrong.
  const user = sameSecret(given.username, expected.username);
  const password = sameSecret(given.password, expected.password);
  return user && password;
}

export const BASIC_CHALLENGE = 'Basic realm="Berth registry"';

/** Basic authentication against credentials fetched (and possibly rotated) by `load`. */
export function basicAuthenticator(load: () => Promise<BasicCredentials>): Authenticator {
  return {
    challenge: BASIC_CHALLENGE,
    async authenticate(authorization) {
      const given = parseBasicAuthorization(authorization);
      if (!given) return null;
      return basicCredentialsMatch(given, await load()) ? { subject: given.username, method: 'basic' } : null;
    },
  };
}

/** Everyone is `anonymous`: local mode on loopback without --basic-auth. */
export const anonymousAuthenticator: Authenticator = {
  challenge: BASIC_CHALLENGE,
  authenticate: async () => ({ subject: 'anonymous', method: 'anonymous' }),
};
