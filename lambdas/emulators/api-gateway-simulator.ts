/**
 * A local stand-in for the API Gateway REST API of the stack (lib/registry-api.ts), for the
 * emulated AWS mode and its tests. It turns each HTTP request into a REST API Lambda proxy
 * event and runs the real authorizer and registry handlers in this process, doing what API
 * Gateway does around them:
 *
 * - resources `/v2` and `/v2/{proxy+}` (ANY), behind a REQUEST authorizer whose identity source is
 *   the Authorization header: without the header API Gateway answers 401 without calling the
 *   authorizer; its answers are cached per header value for the stack's TTL (60 s by default);
 *   other paths get 403 "Missing Authentication Token", as API Gateway answers unknown resources;
 * - `GET` and `HEAD /v2` (the version check) answered by the gateway itself, as the stack's MOCK
 *   integration does: 200 `{}` with the registry version header, after the authorizer (so the
 *   401 challenge is unchanged) and without invoking the handler (counted as `mockResponses`);
 * - gateway responses: UNAUTHORIZED (401, the static `WWW-Authenticate` challenge, the OCI error
 *   body), ACCESS_DENIED (403, OCI DENIED body), as the stack configures them;
 * - limits: a request body over 10 MB gets 413 (API Gateway's payload quota); a Lambda event
 *   over 6 MB (the body goes base64, so about 4.5 MB of raw bytes) gets 413 and a Lambda
 *   response over 6 MB gets 502, as API Gateway reports Lambda's RequestEntityTooLarge
 *   (https://jun711.github.io/aws/handling-aws-api-gateway-and-lambda-413-error/: an oversized
 *   request "413 request entity too large", an oversized response "502"; the Lambda limits,
 *   6,291,456 bytes in and 6,291,556 out, as measured in
 *   https://zaccharles.medium.com/deep-dive-lambdas-request-payload-size-limit-2-2-6350c1ae5577);
 *   a handler that throws or answers no valid proxy result gets 502 "Internal server error";
 *   a handler slower than the 29 s integration timeout gets 504;
 * - the handler's `WWW-Authenticate` (and the other headers API Gateway reserves) is renamed to
 *   `x-amzn-Remapped-WWW-Authenticate`, as API Gateway does for a Lambda proxy response.
 *
 * - with `iam`: the control plane route `POST /` with IAM authorization: SigV4 for `execute-api`
 *   verified against the callers' secrets (an IAM stand-in: the local identities), API Gateway's
 *   5-minute skew and its 403 `{"message": ...}` refusals, a caller of another account refused (no
 *   resource policy on the API), and the caller in requestContext.identity (userArn, accountId,
 *   accessKey, caller, user, sourceIp); without `iam`, `POST /` answers 403 "Missing Authentication
 *   Token" like any resource the API lacks;
 * - with `tokenResource`: `/v2/token` without authorizer (the stack's authorization NONE), straight
 *   to the handler;
 * - X-Forwarded-For/Port/Proto on the event's headers, as API Gateway adds them.
 *
 * It is not API Gateway: IAM's evaluation of execute-api:Invoke is not run (a same-account caller is
 * taken to hold it), no throttling, no custom domain or CloudFront, and whether API Gateway keeps a
 * handler's Content-Length on HEAD is a check for a real account (docs/deploy.md); here it is kept.
 *
 * It counts what a bill would: handler and authorizer invocations, and the body bytes that
 * passed through the handler (GET /__berth/stats, or `stats()` in-process; DELETE resets them;
 * DELETE /__berth/authorizer-cache forgets cached authorizer answers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import type { Logger } from '../core/log';
import { VERSION_CHECK_HEADERS } from '../http/render';
import { verifySigV4, type SigV4Secret } from '../http/sigv4';

/** API Gateway's request payload quota (REST APIs): 10 MB. */
export const API_GATEWAY_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** Lambda's synchronous invocation payload limits, as measured (see above). */
export const LAMBDA_MAX_EVENT_BYTES = 6_291_456;
export const LAMBDA_MAX_RESULT_BYTES = 6_291_556;
/** API Gateway's default (maximum without a quota raise) integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

const OCI_UNAUTHORIZED_BODY = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}';
const OCI_DENIED_BODY = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}';

/**
 * Response headers API Gateway does not pass through from an integration but renames to
 * `x-amzn-Remapped-<name>` (REST API, Lambda proxy; AWS's "Amazon API Gateway important notes").
 */
const REMAPPED_RESPONSE_HEADERS = new Set([
  'authorization',
  'connection',
  'content-md5',
  'date',
  'expect',
  'host',
  'max-forwards',
  'proxy-authenticate',
  'server',
  'te',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'user-agent',
  'via',
  'warn',
  'www-authenticate',
]);

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
export type RequestAuthorizer = (event: APIGatewayRequestAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

export interface ApiGatewaySimulatorOptions {
  host: string;
  port: number;
  /** @default 'local' */
  stage?: string;
  handler: ProxyHandler;
  authorizer: RequestAuthorizer;
  /**
   * The authorizer's identity source is the Authorization header: requests without it get 401
   * without an authorizer call. Off in anonymous mode (the authorizer then sees every request).
   * @default true
   */
  identitySourceRequired?: boolean;
  /** @default 60 (the stack's default) */
  authorizerCacheTtlSeconds?: number;
  /**
   * The static `WWW-Authenticate` value of the UNAUTHORIZED gateway response, or a function of the
   * simulator's URL (the stack's `{registryHost}` placeholder, resolved once the port is known).
   */
  challenge: string | ((url: string) => string);
  /**
   * The control plane route `POST /` with IAM authorization (SigV4 for `execute-api`) emulated:
   * the callers' secrets (the IAM stand-in: local identities). Without it `POST /` answers 403
   * "Missing Authentication Token", as for any resource the API does not have.
   */
  iam?: {
    lookupSecret(accessKeyId: string, sessionToken?: string): Promise<SigV4Secret<IamCaller> | null>;
  };
  /**
   * A `/v2/token` resource without authorizer (authorization NONE), straight to the handler: the token
   * endpoint checks the credentials itself, and containerd POSTs them in a form, without the
   * Authorization header an authorizer's identity source needs. @default false
   */
  tokenResource?: boolean;
  /** The API's region (IAM signatures must be scoped to it) and account. @default 'us-east-1', '000000000000' */
  region?: string;
  account?: string;
  /** More figures for the stats (SDK calls of the handler). */
  extraStats?: () => Record<string, unknown>;
  /** Called when the stats are reset (to reset the extra figures). */
  onResetStats?: () => void;
  log: Logger;
}

/** A caller IAM knows: what API Gateway puts in requestContext.identity after IAM authorization. */
export interface IamCaller {
  arn: string;
  account: string;
  /** IAM's unique id of the principal (`AIDA...` for a user), requestContext.identity.caller/user. @default the access key id */
  principalId?: string;
}

/**
 * API Gateway's IAM authorization accepts signatures within 5 minutes of its clock, not the 15 of most
 * AWS services: `{"message":"Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z
 * (20170215T150034Z - 5 min.)"}`, 403, from an API Gateway IAM-authorized method
 * (https://github.com/aws-amplify/aws-sdk-android/issues/253; the same window on execute-api's
 * @connections API: https://github.com/cognitect-labs/aws-api/issues/255).
 */
export const API_GATEWAY_SIGV4_SKEW_MS = 5 * 60 * 1000;

export interface HandledRequest {
  method: string;
  path: string;
  status: number;
  /** Raw bytes of the request body handed to the handler. */
  requestBodyBytes: number;
  /** Raw bytes of the response body the handler returned. */
  responseBodyBytes: number;
}

export interface SimulatorStats {
  handlerInvocations: number;
  authorizerInvocations: number;
  authorizerCacheHits: number;
  /** Requests API Gateway answered itself (the MOCK integration of `GET|HEAD /v2/`), without the handler. */
  mockResponses: number;
  /** Gateway responses by type (UNAUTHORIZED, ACCESS_DENIED, REQUEST_TOO_LARGE, ...). */
  gatewayResponses: Record<string, number>;
  /** `POST /` requests API Gateway's IAM authorization refused (also in gatewayResponses as `IAM:<code>`). */
  iamRefusals: number;
  handlerRequestBodyBytes: number;
  handlerResponseBodyBytes: number;
  /** Every request that reached the handler, oldest first (the last 10,000). */
  handled: HandledRequest[];
  [extra: string]: unknown;
}

export interface RunningSimulator {
  url: string;
  port: number;
  stats(): SimulatorStats;
  resetStats(): void;
  /** Forgets cached authorizer answers. */
  flushAuthorizerCache(): void;
  close(): Promise<void>;
}

const API_ID = 'berthlocal';
const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

export async function startApiGatewaySimulator(options: ApiGatewaySimulatorOptions): Promise<RunningSimulator> {
  const stage = options.stage ?? 'local';
  const region = options.region ?? REGION;
  const apiAccount = options.account ?? ACCOUNT;
  let challenge = typeof options.challenge === 'string' ? options.challenge : '';
  const ttlMs = (options.authorizerCacheTtlSeconds ?? 60) * 1000;
  const identitySourceRequired = options.identitySourceRequired ?? true;
  const cache = new Map<string, { result: APIGatewayAuthorizerResult; until: number }>();
  let stats = emptyStats();

  const gateway = (res: ServerResponse, type: string, status: number, body: string, headers: Record<string, string> = {}) => {
    stats.gatewayResponses[type] = (stats.gatewayResponses[type] ?? 0) + 1;
    const bytes = Buffer.from(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(bytes.length),
      'x-amzn-RequestId': randomUUID(),
      'x-amzn-ErrorType': errorType(type),
      ...headers,
    });
    res.end(bytes);
  };
  const ociHeaders = { 'Docker-Distribution-API-Version': 'registry/2.0' };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://apigateway.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname === '/__berth/authorizer-cache' && method === 'DELETE') {
      cache.clear();
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/__berth/stats') {
      if (method === 'DELETE') {
        stats = emptyStats();
        options.onResetStats?.();
      }
      const body = Buffer.from(JSON.stringify({ ...stats, ...(options.extraStats?.() ?? {}) }));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) }).end(body);
      return;
    }

    // API Gateway buffers the whole request; over its quota it answers 413 and reads no further.
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > API_GATEWAY_MAX_REQUEST_BYTES) {
      res.shouldKeepAlive = false;
      gateway(res, 'REQUEST_TOO_LARGE', 413, '{"message":"Request Too Long"}');
      req.destroy();
      return;
    }
    const body = await readBody(req, API_GATEWAY_MAX_REQUEST_BYTES);
    if (body === null) {
      res.shouldKeepAlive = false;
      gateway(res, 'REQUEST_TOO_LARGE', 413, '{"message":"Request Too Long"}');
      return;
    }

    const path = decodePath(url.pathname);
    const controlPlane = path === '/' && method === 'POST' && options.iam !== undefined;
    const tokenRoute = path === '/v2/token' && options.tokenResource === true;
    if (path === null || !(controlPlane || path === '/v2' || path.startsWith('/v2/'))) {
      // No such resource: API Gateway answers 403 "Missing Authentication Token", not 404.
      gateway(res, 'MISSING_AUTHENTICATION_TOKEN', 403, '{"message":"Missing Authentication Token"}');
      return;
    }
    const resource = controlPlane ? '/' : tokenRoute ? '/v2/token' : path === '/v2' || path === '/v2/' ? '/v2' : '/v2/{proxy+}';
    const pathParameters = resource === '/v2/{proxy+}' ? { proxy: path.slice('/v2/'.length) } : null;
    const sourceIpEarly = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    // API Gateway adds X-Forwarded-For (appending the client), X-Forwarded-Port and X-Forwarded-Proto
    // to what the integration sees; here the scheme is http.
    const forwarded = {
      'X-Forwarded-For': [headerOf(req, 'x-forwarded-for'), sourceIpEarly].filter(Boolean).join(', '),
      'X-Forwarded-Port': String(req.socket.localPort ?? ''),
      'X-Forwarded-Proto': 'http',
    };
    const headers: Record<string, string> = { ...withoutForwarded(singleHeaders(req)), ...forwarded };
    const multiValueHeaders = { ...withoutForwarded(multiHeaders(req)), ...Object.fromEntries(Object.entries(forwarded).map(([k, v]) => [k, [v]])) };
    const query = queryParameters(url.searchParams);
    const requestId = randomUUID();
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const methodArn = `arn:aws:execute-api:${region}:${apiAccount}:${API_ID}/${stage}/${method}${path}`;
    const requestContext = {
      accountId: apiAccount,
      apiId: API_ID,
      httpMethod: method,
      path: `/${stage}${path}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: { '/': 'root', '/v2': 'v2root', '/v2/token': 'v2token', '/v2/{proxy+}': 'v2proxy' }[resource],
      resourcePath: resource,
      stage,
      identity: identityOf(sourceIp, headers['User-Agent'] ?? headers['user-agent']),
    };
    const parts: RequestParts = { method, path, resource, pathParameters, headers, multiValueHeaders, query, body, requestId };

    if (controlPlane) {
      // IAM authorization: API Gateway verifies the SigV4 signature (service execute-api, the API's region,
      // 5 minutes of skew) and refuses with 403 and `{"message": ...}` before any integration runs. The
      // bodies and x-amzn-ErrorType as API Gateway sends them:
      // - no signature: `{"message":"Missing Authentication Token"}`, MissingAuthenticationTokenException
      //   (https://repost.aws/knowledge-center/api-gateway-authentication-token-errors: "The API request isn't
      //   signed when the API method has IAM authentication turned on");
      // - wrong secret or tampered request: `{"message":"The request signature we calculated does not match
      //   the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service
      //   documentation for details.\n\nThe Canonical String for this request should have been ..."}`,
      //   InvalidSignatureException, 403 (https://github.com/rpgreen/apigateway-generic-java-sdk/issues/11,
      //   https://github.com/mhart/aws4/issues/33; the canonical string and string-to-sign that API Gateway
      //   appends are left out here);
      // - stale date: `{"message":"Signature expired: ... (... - 5 min.)"}` (see API_GATEWAY_SIGV4_SKEW_MS);
      // - unknown key: `{"message":"The security token included in the request is invalid."}`,
      //   UnrecognizedClientException;
      // - a caller IAM does not allow to invoke the method: `{"Message":"User: <arn> is not authorized to
      //   perform: execute-api:Invoke on resource: <method ARN>"}` (capital M, AccessDeniedException;
      //   https://github.com/guardian/manage-frontend/pull/483, https://github.com/ASFHyP3/hyp3/issues/2283).
      const verdict = await verifySigV4(
        { method, path: url.pathname, query: url.search, headers: lowerHeaders(req), body },
        { lookupSecret: options.iam!.lookupSecret, service: 'execute-api', regions: [region], maxSkewMs: API_GATEWAY_SIGV4_SKEW_MS },
      );
      if (!verdict.ok) {
        stats.iamRefusals++;
        gateway(res, 'IAM:' + verdict.code, 403, JSON.stringify({ message: verdict.message }), { 'x-amzn-ErrorType': verdict.code });
        return;
      }
      // Who may invoke: the API has no resource policy (the stack sets one on PRIVATE APIs only), so IAM allows
      // callers of the API's own account whose identity policy grants execute-api:Invoke, and no one else.
      // STAND-IN: the local identities' policies are written in ECR's vocabulary, so an identity of the API's
      // account is taken to hold execute-api:Invoke on it (grant it in IAM on AWS: docs/deploy.md); one of
      // another account is refused, as IAM refuses a cross-account caller without a resource policy.
      const caller = verdict.principal;
      if (caller.account !== apiAccount) {
        stats.iamRefusals++;
        gateway(res, 'IAM:AccessDeniedException', 403, JSON.stringify({ Message: `User: ${caller.arn} is not authorized to perform: execute-api:Invoke on resource: ${methodArn}` }), {
          'x-amzn-ErrorType': 'AccessDeniedException',
        });
        return;
      }
      const principalId = caller.principalId ?? verdict.accessKeyId;
      requestContext.identity = {
        ...requestContext.identity,
        accessKey: verdict.accessKeyId,
        accountId: caller.account,
        caller: principalId,
        user: principalId,
        userArn: caller.arn,
      };
      return invoke(res, parts, requestContext, null);
    }
    if (tokenRoute) return invoke(res, parts, requestContext, null);

    // The authorizer.
    const authorization = headerOf(req, 'authorization');
    if (identitySourceRequired && !authorization) {
      gateway(res, 'UNAUTHORIZED', 401, OCI_UNAUTHORIZED_BODY, { ...ociHeaders, 'WWW-Authenticate': challenge });
      return;
    }
    const cacheKey = authorization ?? '';
    let decision = cache.get(cacheKey);
    if (decision && decision.until > Date.now()) {
      stats.authorizerCacheHits++;
    } else {
      cache.delete(cacheKey);
      stats.authorizerInvocations++;
      const event: APIGatewayRequestAuthorizerEvent = {
        type: 'REQUEST',
        methodArn,
        resource,
        path,
        httpMethod: method,
        headers,
        multiValueHeaders,
        pathParameters,
        queryStringParameters: query.single,
        multiValueQueryStringParameters: query.multi,
        stageVariables: null,
        requestContext: requestContext as unknown as APIGatewayRequestAuthorizerEvent['requestContext'],
      };
      try {
        const result = await options.authorizer(event, lambdaContext('authorizer', 10_000));
        decision = { result, until: Date.now() + ttlMs };
        if (ttlMs > 0) cache.set(cacheKey, decision);
      } catch (err) {
        if ((err as Error)?.message === 'Unauthorized') {
          gateway(res, 'UNAUTHORIZED', 401, OCI_UNAUTHORIZED_BODY, { ...ociHeaders, 'WWW-Authenticate': challenge });
        } else {
          options.log.error('authorizer failed', { requestId, error: err });
          gateway(res, 'AUTHORIZER_FAILURE', 500, '{"message":null}');
        }
        return;
      }
    }
    if (!policyAllows(decision.result, methodArn)) {
      gateway(res, 'ACCESS_DENIED', 403, OCI_DENIED_BODY, ociHeaders);
      return;
    }

    // The version check: the stack's MOCK integration on /v2 (GET and HEAD), no Lambda invocation.
    if (resource === '/v2' && (method === 'GET' || method === 'HEAD')) {
      stats.mockResponses++;
      const pong = Buffer.from('{}');
      res.writeHead(200, {
        ...VERSION_CHECK_HEADERS,
        'Content-Length': String(pong.length),
        'x-amzn-RequestId': requestId,
        'x-amz-apigw-id': requestId.slice(0, 16),
      });
      res.end(method === 'HEAD' ? undefined : pong);
      return;
    }

    return invoke(res, parts, requestContext, { ...(decision.result.context ?? {}), principalId: decision.result.principalId });
  }

  /** The Lambda proxy integration: the event, the payload limits, the handler, the proxy result. */
  async function invoke(res: ServerResponse, parts: RequestParts, requestContext: Record<string, unknown>, authorizer: Record<string, unknown> | null): Promise<void> {
    const { method, path, resource, pathParameters, headers, multiValueHeaders, query, body, requestId } = parts;
    // The proxy event: every media type is binary (`*/*`), so a body travels base64.
    const event: APIGatewayProxyEvent = {
      resource,
      path,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters: query.single,
      multiValueQueryStringParameters: query.multi,
      pathParameters,
      stageVariables: null,
      requestContext: {
        ...requestContext,
        ...(authorizer ? { authorizer } : {}),
      } as unknown as APIGatewayProxyEvent['requestContext'],
      body: body.length > 0 ? body.toString('base64') : null,
      isBase64Encoded: body.length > 0,
    };
    if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_MAX_EVENT_BYTES) {
      gateway(res, 'REQUEST_TOO_LARGE', 413, '{"message":"Request Entity Too Large"}');
      return;
    }

    stats.handlerInvocations++;
    stats.handlerRequestBodyBytes += body.length;
    let result: APIGatewayProxyResult;
    try {
      result = await withTimeout(options.handler(event, lambdaContext('registry', INTEGRATION_TIMEOUT_MS)), INTEGRATION_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof IntegrationTimeout) {
        gateway(res, 'INTEGRATION_TIMEOUT', 504, '{"message": "Endpoint request timed out"}');
      } else {
        options.log.error('handler failed', { requestId, error: err });
        gateway(res, 'DEFAULT_5XX', 502, '{"message": "Internal server error"}');
      }
      return;
    }
    if (!result || typeof result.statusCode !== 'number' || Buffer.byteLength(JSON.stringify(result)) > LAMBDA_MAX_RESULT_BYTES) {
      options.log.error('handler answered no valid proxy result or one over 6 MB', { requestId });
      gateway(res, 'DEFAULT_5XX', 502, '{"message": "Internal server error"}');
      return;
    }
    const responseBody = result.body ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
    stats.handlerResponseBodyBytes += responseBody.length;
    stats.handled.push({ method, path, status: result.statusCode, requestBodyBytes: body.length, responseBodyBytes: responseBody.length });
    if (stats.handled.length > 10_000) stats.handled.shift();

    const out: Record<string, string | string[]> = {};
    const put = (name: string, value: string | number | boolean) => {
      const lower = name.toLowerCase();
      const key = REMAPPED_RESPONSE_HEADERS.has(lower) ? `x-amzn-Remapped-${name}` : name;
      const existing = out[key];
      out[key] = existing === undefined ? String(value) : [...(Array.isArray(existing) ? existing : [existing]), String(value)];
    };
    for (const [name, value] of Object.entries(result.headers ?? {})) put(name, value);
    for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) for (const value of values) put(name, value);
    for (const key of Object.keys(out)) if (key.toLowerCase() === 'content-length') delete out[key];
    if (method === 'HEAD') {
      // Kept as the handler set it (containerd sizes a manifest from a HEAD); to be confirmed on AWS.
      const declaredLength = Object.entries(result.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-length')?.[1];
      if (declaredLength !== undefined) out['Content-Length'] = String(declaredLength);
    } else {
      out['Content-Length'] = String(responseBody.length);
    }
    out['x-amzn-RequestId'] = requestId;
    out['x-amz-apigw-id'] = requestId.slice(0, 16);
    res.writeHead(result.statusCode, out);
    res.end(method === 'HEAD' ? undefined : responseBody);
  }

  const server: Server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 }, (req, res) => {
    serve(req, res).catch((err) => {
      options.log.error('simulator failed', { method: req.method, path: req.url?.slice(0, 256), error: err });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":null}');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${hostForUrl}:${port}`;
  if (typeof options.challenge === 'function') challenge = options.challenge(url);
  return {
    url,
    port,
    stats: () => ({ ...structuredClone(stats), ...(options.extraStats?.() ?? {}) }),
    resetStats: () => {
      stats = emptyStats();
      options.onResetStats?.();
    },
    flushAuthorizerCache: () => cache.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function emptyStats(): SimulatorStats {
  return {
    handlerInvocations: 0,
    authorizerInvocations: 0,
    authorizerCacheHits: 0,
    mockResponses: 0,
    gatewayResponses: {},
    iamRefusals: 0,
    handlerRequestBodyBytes: 0,
    handlerResponseBodyBytes: 0,
    handled: [],
  };
}

function errorType(type: string): string {
  switch (type) {
    case 'UNAUTHORIZED':
      return 'UnauthorizedException';
    case 'ACCESS_DENIED':
      return 'AccessDeniedException';
    case 'MISSING_AUTHENTICATION_TOKEN':
      return 'MissingAuthenticationTokenException';
    case 'REQUEST_TOO_LARGE':
      return 'RequestTooLargeException';
    case 'AUTHORIZER_FAILURE':
      return 'AuthorizerConfigurationException';
    default:
      return 'InternalServerErrorException';
  }
}

/** The body, or null when it is larger than `limit` (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
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
function decodePath(pathname: string): string | null {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return null;
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
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

function queryParameters(params: URLSearchParams): { single: Record<string, string> | null; multi: Record<string, string[]> | null } {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of params) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return Object.keys(single).length === 0 ? { single: null, multi: null } : { single, multi };
}

interface RequestParts {
  method: string;
  path: string;
  resource: string;
  pathParameters: Record<string, string> | null;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  query: { single: Record<string, string> | null; multi: Record<string, string[]> | null };
  body: Buffer;
  requestId: string;
}

function withoutForwarded<T>(headers: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !/^x-forwarded-(for|port|proto)$/i.test(name)));
}

/** Header names in lower case, repeated values joined with `,` (what verifySigV4 expects). */
function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  return out;
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

/** Allowed when an Allow statement matches and no Deny does (IAM's `*` wildcards). */
export function policyAllows(result: APIGatewayAuthorizerResult, methodArn: string): boolean {
  let allowed = false;
  for (const statement of result.policyDocument?.Statement ?? []) {
    const s = statement as { Effect: string; Resource?: string | string[]; Action?: string | string[] };
    const resources = s.Resource === undefined ? [] : Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    const actions = s.Action === undefined ? [] : Array.isArray(s.Action) ? s.Action : [s.Action];
    if (!actions.some((a) => a === '*' || a === 'execute-api:*' || a === 'execute-api:Invoke')) continue;
    if (!resources.some((r) => wildcard(r).test(methodArn))) continue;
    if (s.Effect === 'Deny') return false;
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

class IntegrationTimeout extends Error {}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new IntegrationTimeout()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function lambdaContext(name: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const functionName = `berth-${name}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: name === 'authorizer' ? '256' : '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
