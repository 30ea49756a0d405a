/**
 * A local stand-in for the stack's API Gateway REST API, for the emulated AWS mode and its tests.
 * It answers as the front door's contract (lambdas/contracts/api-gateway.ts) says, the same
 * description lib/registry-api.ts deploys, turning each HTTP request into a Lambda proxy event for
 * the real authorizer and registry handlers in this process:
 *
 * - the contract's methods (api-gateway-requests.ts): `/v2` and `/v2/{proxy+}` behind the REQUEST
 *   authorizer (api-gateway-authorizer.ts: identity source, cache for the stack's TTL), `GET|HEAD /v2`
 *   answered by the gateway itself (the MOCK integration, counted as `mockResponses`), with
 *   `tokenResource` `/v2/token` straight to the handler, with `iam` `POST /` behind IAM
 *   authorization (api-gateway-iam.ts: SigV4 for `execute-api`, 5 minutes of skew, the resource
 *   policy, which admits callers of every account as the stack's does; registry and repository
 *   policies then decide in the handler); anything else gets 403 "Missing Authentication Token";
 * - the gateway responses (api-gateway-responses.ts): UNAUTHORIZED and ACCESS_DENIED as the stack
 *   configures them, API Gateway's defaults for the rest, the handler's `WWW-Authenticate` renamed
 *   `x-amzn-Remapped-WWW-Authenticate`;
 * - the limits (api-gateway-lambda.ts): a request over 10 MB gets 413, a Lambda event over 6 MB 413,
 *   a Lambda result over 6 MB or a handler that throws 502, one slower than 29 s 504;
 * - X-Forwarded-For/Port/Proto on the event's headers, as API Gateway adds them.
 *
 * It is not API Gateway: the callers' identity policies are taken to allow execute-api:Invoke, no
 * throttling, no custom domain or CloudFront, and whether API Gateway keeps a handler's
 * Content-Length on HEAD is a check for a real account (docs/deploy.md); here it is kept.
 * It counts what a bill would (api-gateway-stats.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/log';
import {
  AUTHORIZER_IDENTITY_HEADER,
  DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS,
  FRONT_DOOR_METHODS,
  PAYLOAD_LIMITS,
  resourcePolicyStatements,
  type FrontDoorMethod,
  type ResourcePolicyStatement,
} from '../contracts/api-gateway';
import { SimulatedAuthorizer, type RequestAuthorizer } from './api-gateway-authorizer';
import { authorizeIam, type IamSecretLookup } from './api-gateway-iam';
import { invokeProxy, lambdaContext, type ProxyHandler, type ProxyIntegration } from './api-gateway-lambda';
import { decodePath, headerOf, matchMethod, readBody, requestParts, type RequestParts, type SimulatedApi } from './api-gateway-requests';
import { GatewayResponses, answerVersionCheck } from './api-gateway-responses';
import { StatsRecorder, serveAdminRequest, type SimulatedFaults, type SimulatorStats } from './api-gateway-stats';

export { policyAllows, type RequestAuthorizer } from './api-gateway-authorizer';
export { API_GATEWAY_SIGV4_SKEW_MS, type IamCaller } from './api-gateway-iam';
export { INTEGRATION_TIMEOUT_MS, type ProxyHandler } from './api-gateway-lambda';
export type { HandledRequest, SimulatorStats } from './api-gateway-stats';

/** API Gateway's request payload quota (REST APIs): 10 MB. */
export const API_GATEWAY_MAX_REQUEST_BYTES = PAYLOAD_LIMITS.requestBytes;
/** Lambda's synchronous invocation payload limits (lambdas/contracts/api-gateway.ts). */
export const LAMBDA_MAX_EVENT_BYTES = PAYLOAD_LIMITS.lambdaEventBytes;
export const LAMBDA_MAX_RESULT_BYTES = PAYLOAD_LIMITS.lambdaResultBytes;

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
  iam?: { lookupSecret: IamSecretLookup };
  /**
   * The API's resource policy, which IAM authorization evaluates.
   * @default the stack's on a REGIONAL API (resourcePolicyStatements(): every account may reach it)
   */
  resourcePolicy?: readonly ResourcePolicyStatement[];
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

export interface RunningSimulator {
  url: string;
  port: number;
  stats(): SimulatorStats;
  resetStats(): void;
  /** Forgets cached authorizer answers. */
  flushAuthorizerCache(): void;
  close(): Promise<void>;
}

export async function startApiGatewaySimulator(options: ApiGatewaySimulatorOptions): Promise<RunningSimulator> {
  const api: SimulatedApi = { apiId: 'berthlocal', region: options.region ?? 'us-east-1', account: options.account ?? '000000000000', stage: options.stage ?? 'local' };
  let challenge = typeof options.challenge === 'string' ? options.challenge : '';
  const stats = new StatsRecorder({ extra: options.extraStats, onReset: options.onResetStats });
  const gateway = new GatewayResponses(stats, () => challenge);
  const authorizer = new SimulatedAuthorizer({
    authorizer: options.authorizer,
    identitySourceRequired: options.identitySourceRequired ?? true,
    ttlMs: (options.authorizerCacheTtlSeconds ?? DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS) * 1000,
    stats,
    lambdaContext: () => lambdaContext('authorizer', 10_000, api),
  });
  const door = new FrontDoor(options, api, gateway, authorizer, { handler: options.handler, api, gateway, stats, log: options.log });

  const faults: SimulatedFaults = { unreachable: false };
  const server: Server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 }, (req, res) => {
    if (serveAdminRequest(req, res, stats, () => authorizer.flush(), faults)) return;
    door.serve(req, res).catch((err) => {
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
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    flushAuthorizerCache: () => authorizer.flush(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One request through the front door: read, matched to a method, authorized as the method says, integrated. */
class FrontDoor {
  /** The contract's methods this simulator has (`iam` and `tokenResource` add theirs). */
  private readonly methods: readonly FrontDoorMethod[];
  private readonly resourcePolicy: readonly ResourcePolicyStatement[];

  constructor(
    private readonly options: ApiGatewaySimulatorOptions,
    private readonly api: SimulatedApi,
    private readonly gateway: GatewayResponses,
    private readonly authorizer: SimulatedAuthorizer,
    private readonly integration: ProxyIntegration,
  ) {
    this.methods = FRONT_DOOR_METHODS.filter(
      (m) => (m.authorization !== 'iam' || options.iam !== undefined) && (m.authorization !== 'none' || options.tokenResource === true),
    );
    this.resourcePolicy = options.resourcePolicy ?? resourcePolicyStatements();
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // API Gateway buffers the whole request; over its quota it answers 413 and reads no further.
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > PAYLOAD_LIMITS.requestBytes) {
      res.shouldKeepAlive = false;
      this.gateway.byDefault(res, 'REQUEST_TOO_LARGE');
      req.destroy();
      return;
    }
    const body = await readBody(req, PAYLOAD_LIMITS.requestBytes);
    if (body === null) {
      res.shouldKeepAlive = false;
      this.gateway.byDefault(res, 'REQUEST_TOO_LARGE');
      return;
    }

    const url = new URL(req.url ?? '/', 'http://apigateway.invalid');
    const path = decodePath(url.pathname);
    const matched = path === null ? null : matchMethod(this.methods, (req.method ?? 'GET').toUpperCase(), path);
    if (path === null || matched === null) {
      this.gateway.byDefault(res, 'MISSING_AUTHENTICATION_TOKEN');
      return;
    }
    const parts = requestParts(req, url, path, matched, body, this.api);

    const authorizerContext = await this.authorize(req, url, parts, matched.method, res);
    if (authorizerContext === 'refused') return;
    if (matched.method.integration === 'version-check') {
      this.integration.stats.current.mockResponses++;
      return answerVersionCheck(res, parts.method, parts.requestId);
    }
    return invokeProxy(res, parts, authorizerContext, this.integration);
  }

  /** The authorizer's context (null without an authorizer), or 'refused' once the gateway answered. */
  private async authorize(req: IncomingMessage, url: URL, parts: RequestParts, method: FrontDoorMethod, res: ServerResponse): Promise<Record<string, unknown> | null | 'refused'> {
    switch (method.authorization) {
      case 'none':
        return null;
      case 'iam': {
        const verdict = await authorizeIam(req, url, parts, this.api, { lookupSecret: this.options.iam!.lookupSecret, resourcePolicy: this.resourcePolicy });
        if (!verdict.allowed) {
          this.gateway.iamRefusal(res, verdict.code, verdict.body);
          return 'refused';
        }
        parts.requestContext.identity = { ...parts.requestContext.identity, ...verdict.identity };
        return null;
      }
      case 'authorizer': {
        const verdict = await this.authorizer.authorize(parts, headerOf(req, AUTHORIZER_IDENTITY_HEADER.toLowerCase()));
        if (verdict.allowed) return verdict.context;
        if (verdict.response === 'AUTHORIZER_FAILURE') {
          this.options.log.error('authorizer failed', { requestId: parts.requestId, error: verdict.error });
          this.gateway.byDefault(res, 'AUTHORIZER_FAILURE');
        } else {
          this.gateway.configured(res, verdict.response);
        }
        return 'refused';
      }
    }
  }
}
