/**
 * API Gateway REST API proxy events <-> the router's HttpRequest/HttpResponse. Pure functions,
 * no AWS SDK, no middy: the handler and its tests share them.
 */
import { bodyFromBytes } from '../http/body';
import { logNameOf, matchOciRoute } from '../contracts/oci-routes';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Identity } from '../http/auth';
import type { HttpRequest, HttpResponse } from '../http/types';
import type { ByteStream } from '../core/model';

/**
 * Largest response body the handler returns, raw: Lambda's response payload limit is
 * 6,291,556 bytes and the body goes base64. Manifests are at most 4 MiB; blob GETs are
 * redirects, so only a misconfiguration could reach this.
 */
export const MAX_RESPONSE_BODY_BYTES = 4 * 1024 * 1024 + 256 * 1024;

/**
 * The request the router sees. `event.path` is the resource path without the stage (API Gateway
 * puts the stage only in `requestContext.path`); it arrives percent-decoded, so it is encoded
 * again, and the router decodes it as it would a node:http path.
 */
export function toHttpRequest(event: APIGatewayProxyEvent): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  if (event.multiValueHeaders) {
    for (const [name, values] of Object.entries(event.multiValueHeaders)) if (values) headers[name.toLowerCase()] = values.join(', ');
  }
  if (event.headers) {
    for (const [name, value] of Object.entries(event.headers)) if (value !== undefined && headers[name.toLowerCase()] === undefined) headers[name.toLowerCase()] = value;
  }
  const query = new URLSearchParams();
  if (event.multiValueQueryStringParameters) {
    for (const [name, values] of Object.entries(event.multiValueQueryStringParameters)) for (const value of values ?? []) query.append(name, value);
  } else if (event.queryStringParameters) {
    for (const [name, value] of Object.entries(event.queryStringParameters)) if (value !== undefined) query.append(name, value);
  }
  const bytes = event.body === null || event.body === undefined ? null : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return {
    method: event.httpMethod.toUpperCase(),
    path: encodePath(event.path),
    query,
    headers,
    body: bytes && bytes.length > 0 ? bodyFromBytes(bytes) : null,
    sourceIp: event.requestContext?.identity?.sourceIp ?? undefined,
    identity: identityFromAuthorizer(event.requestContext?.authorizer) ?? iamIdentity(event),
  };
}

/**
 * The caller API Gateway's IAM authorization verified, on the ECR JSON API's `POST /` (the only
 * IAM-authorized route: elsewhere requestContext.identity carries no userArn).
 */
export function iamIdentity(event: APIGatewayProxyEvent): Identity | undefined {
  if (event.httpMethod?.toUpperCase() !== 'POST' || event.path !== '/') return undefined;
  const arn = event.requestContext?.identity?.userArn;
  const account = event.requestContext?.identity?.accountId;
  if (!arn || !account) return undefined;
  return { subject: arn, method: 'iam', principal: { arn, account } };
}

function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%3A/gi, ':').replace(/%40/g, '@'))
    .join('/');
}

/**
 * The identity the authorizer verified (its `context`, which API Gateway passes as strings: see
 * identityContext in authorizer.ts), or undefined when the request did not come through the
 * authorizer or the context does not hold together (then the router authenticates the request
 * itself, or refuses it).
 */
export function identityFromAuthorizer(authorizer: Record<string, unknown> | null | undefined): Identity | undefined {
  if (!authorizer || typeof authorizer.subject !== 'string' || authorizer.subject === '') return undefined;
  const method = authorizer.method;
  if (method === 'basic' || method === 'anonymous') return { subject: authorizer.subject, method };
  if (method !== 'login-token' && method !== 'access-token') return undefined;
  const identity: Identity = { subject: authorizer.subject, method };
  const { principalArn, account } = authorizer;
  if (principalArn !== undefined || account !== undefined) {
    if (typeof principalArn !== 'string' || typeof account !== 'string' || principalArn === '' || !/^\d{12}$/.test(account)) return undefined;
    identity.principal = { arn: principalArn, account };
  } else if (authorizer.subject !== 'anonymous') {
    return undefined;
  }
  if (authorizer.expiresAt !== undefined && authorizer.expiresAt !== null && authorizer.expiresAt !== '') {
    const expiresAt = Number(authorizer.expiresAt);
    if (!Number.isFinite(expiresAt)) return undefined;
    identity.expiresAt = expiresAt;
  }
  if (authorizer.access !== undefined && authorizer.access !== null && authorizer.access !== '') {
    const access = parseAccess(authorizer.access);
    if (!access) return undefined;
    identity.access = access;
  } else if (method === 'access-token') {
    // An access token always has scopes (possibly none): without them it would pass as unscoped.
    return undefined;
  }
  return identity;
}

function parseAccess(value: unknown): { name: string; actions: string[] }[] | undefined {
  if (typeof value !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const out: { name: string; actions: string[] }[] = [];
  for (const entry of parsed) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { name, actions } = entry as { name?: unknown; actions?: unknown };
    if (typeof name !== 'string' || !Array.isArray(actions) || !actions.every((a) => typeof a === 'string')) return undefined;
    out.push({ name, actions: actions as string[] });
  }
  return out;
}

/**
 * The authorizer's answer is cached by API Gateway for its TTL: anything time-bound it vouched
 * for (a token's `expiresAt`, Unix seconds) is checked again here, which costs no call: a login
 * token that expires while its Allow is cached stops working at its expiry, not at the cache's.
 */
export function authorizerContextExpired(authorizer: Record<string, unknown> | null | undefined, now = Date.now()): boolean {
  if (!authorizer || authorizer.expiresAt === undefined || authorizer.expiresAt === null || authorizer.expiresAt === '') return false;
  const expiresAt = Number(authorizer.expiresAt);
  return !Number.isFinite(expiresAt) || expiresAt * 1000 <= now;
}

export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response body larger than ${limit} bytes cannot pass through Lambda`);
  }
}

/** The proxy result: bodies base64 (the API's binary media type is every type), streams read fully. */
export async function toProxyResult(response: HttpResponse, method: string, limit = MAX_RESPONSE_BODY_BYTES): Promise<APIGatewayProxyResult> {
  let body = '';
  if (method !== 'HEAD' && response.body !== undefined) {
    const bytes = response.body instanceof Uint8Array ? response.body : await readAll(response.body, limit);
    if (bytes.length > limit) throw new ResponseTooLargeError(limit);
    body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  } else if (response.body !== undefined && !(response.body instanceof Uint8Array)) {
    await discard(response.body);
  }
  return { statusCode: response.status, headers: { ...response.headers }, body, isBase64Encoded: body !== '' };
}

async function readAll(stream: ByteStream, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const iterator = stream[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    total += next.value.length;
    if (total > limit) {
      await iterator.return?.();
      throw new ResponseTooLargeError(limit);
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks);
}

async function discard(stream: ByteStream): Promise<void> {
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.return?.();
}

/** Repository and action of a request, for logs and metrics (never the query: it may hold a token). */
export function describeRequest(method: string, path: string): { repository?: string; action: string } {
  const match = matchOciRoute(path);
  if (!match) return { action: 'other' };
  const action = logNameOf(match.route, method);
  return match.params.name === undefined ? { action } : { repository: match.params.name, action };
}
