/**
 * A request as API Gateway sees it before any integration runs: its body read whole (up to the
 * payload quota), the method of the contract's front door it matches, and what the proxy event and
 * the authorizer event carry (headers with X-Forwarded-*, the query, the request context).
 */
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GREEDY_PATH_PART, type FrontDoorMethod } from '../contracts/api-gateway';

/** The API the simulator stands for: what method ARNs and request contexts name. */
export interface SimulatedApi {
  apiId: string;
  region: string;
  account: string;
  stage: string;
}

/** A method of the front door matched by a request, with the greedy path variable's value. */
export interface MatchedMethod {
  method: FrontDoorMethod;
  pathParameters: Record<string, string> | null;
}

/**
 * The method `httpMethod` on `path` reaches: the resource named exactly (a trailing slash aside)
 * before a greedy `{proxy+}` one, and the resource's own method before its `ANY`. Null when the API
 * has none: API Gateway then answers 403 "Missing Authentication Token", not 404.
 */
export function matchMethod(methods: readonly FrontDoorMethod[], httpMethod: string, path: string): MatchedMethod | null {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const exact = methods.filter((m) => m.resource === trimmed);
  const onResource = exact.length > 0 ? exact : greedyMethods(methods, path);
  const method = onResource.find((m) => m.httpMethod === httpMethod) ?? onResource.find((m) => m.httpMethod === 'ANY');
  if (!method) return null;
  if (!method.resource.endsWith(`/${GREEDY_PATH_PART}`)) return { method, pathParameters: null };
  const parent = method.resource.slice(0, -GREEDY_PATH_PART.length);
  return { method, pathParameters: { proxy: path.slice(parent.length) } };
}

/** The methods of the greedy resources that take `path` (at least one character below their parent). */
function greedyMethods(methods: readonly FrontDoorMethod[], path: string): FrontDoorMethod[] {
  return methods.filter((m) => {
    if (!m.resource.endsWith(`/${GREEDY_PATH_PART}`)) return false;
    const parent = m.resource.slice(0, -GREEDY_PATH_PART.length);
    return path.startsWith(parent) && path.length > parent.length;
  });
}

/** What the proxy event and the authorizer event are made of. */
export interface RequestParts {
  method: string;
  path: string;
  resource: string;
  pathParameters: Record<string, string> | null;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  query: { single: Record<string, string> | null; multi: Record<string, string[]> | null };
  body: Buffer;
  requestId: string;
  /** `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD><path>`: what the authorizer and IAM decide on. */
  methodArn: string;
  requestContext: Record<string, unknown> & { identity: Record<string, string | null> };
}

export function requestParts(req: IncomingMessage, url: URL, path: string, matched: MatchedMethod, body: Buffer, api: SimulatedApi): RequestParts {
  const method = (req.method ?? 'GET').toUpperCase();
  const resource = matched.method.resource;
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  // API Gateway adds X-Forwarded-For (appending the client), X-Forwarded-Port and X-Forwarded-Proto
  // to what the integration sees; here the scheme is http.
  const forwarded = {
    'X-Forwarded-For': [headerOf(req, 'x-forwarded-for'), sourceIp].filter(Boolean).join(', '),
    'X-Forwarded-Port': String(req.socket.localPort ?? ''),
    'X-Forwarded-Proto': 'http',
  };
  const headers: Record<string, string> = { ...withoutForwarded(singleHeaders(req)), ...forwarded };
  const multiValueHeaders = { ...withoutForwarded(multiHeaders(req)), ...Object.fromEntries(Object.entries(forwarded).map(([k, v]) => [k, [v]])) };
  const requestId = randomUUID();
  const requestContext = {
    accountId: api.account,
    apiId: api.apiId,
    httpMethod: method,
    path: `/${api.stage}${path}`,
    protocol: `HTTP/${req.httpVersion}`,
    requestId,
    requestTimeEpoch: Date.now(),
    resourceId: resource === '/' ? 'root' : resource.replace(/[^A-Za-z0-9]/g, ''),
    resourcePath: resource,
    stage: api.stage,
    identity: identityOf(sourceIp, headers['User-Agent'] ?? headers['user-agent']),
  };
  return {
    method,
    path,
    resource,
    pathParameters: matched.pathParameters,
    headers,
    multiValueHeaders,
    query: queryParameters(url.searchParams),
    body,
    requestId,
    methodArn: `arn:aws:execute-api:${api.region}:${api.account}:${api.apiId}/${api.stage}/${method}${path}`,
    requestContext,
  };
}

/** The body, or null when it is larger than `limit` (the rest is not read). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      req.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** API Gateway hands the handler a decoded path. */
export function decodePath(pathname: string): string | null {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return null;
  }
}

export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** Header names in lower case, repeated values joined with `,` (what verifySigV4 expects). */
export function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  return out;
}

/** `headers` keeps the last value of each header, with the case the client sent. */
function singleHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) out[req.rawHeaders[i]] = req.rawHeaders[i + 1];
  return out;
}

function multiHeaders(req: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) (out[req.rawHeaders[i]] ??= []).push(req.rawHeaders[i + 1]);
  return out;
}

function withoutForwarded<T>(headers: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !/^x-forwarded-(for|port|proto)$/i.test(name)));
}

function queryParameters(params: URLSearchParams): RequestParts['query'] {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of params) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return Object.keys(single).length === 0 ? { single: null, multi: null } : { single, multi };
}

function identityOf(sourceIp: string, userAgent: string | undefined): Record<string, string | null> {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp,
    user: null,
    userAgent: userAgent ?? null,
    userArn: null,
  };
}
