/**
 * What API Gateway answers itself: the gateway responses the stack configures (from the contract,
 * lambdas/contracts/api-gateway.ts), API Gateway's defaults for the other types, and the version
 * check's MOCK integration; and how it passes a Lambda proxy result on (headers it reserves are
 * renamed `x-amzn-Remapped-<name>`).
 */
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { GATEWAY_RESPONSES, VERSION_CHECK_BODY, VERSION_CHECK_HEADERS } from '../contracts/api-gateway';
import type { StatsRecorder } from './api-gateway-stats';

/** API Gateway's own answers for the types the stack leaves at their defaults. */
export const DEFAULT_GATEWAY_RESPONSES = {
  MISSING_AUTHENTICATION_TOKEN: { status: 403, body: '{"message":"Missing Authentication Token"}' },
  /** Over API Gateway's 10 MB request quota. */
  REQUEST_TOO_LARGE: { status: 413, body: '{"message":"Request Too Long"}' },
  /** Over Lambda's 6 MB event: API Gateway reports Lambda's RequestEntityTooLarge. */
  LAMBDA_EVENT_TOO_LARGE: { status: 413, body: '{"message":"Request Entity Too Large"}' },
  AUTHORIZER_FAILURE: { status: 500, body: '{"message":null}' },
  INTEGRATION_TIMEOUT: { status: 504, body: '{"message": "Endpoint request timed out"}' },
  /** A handler that throws, or answers no valid proxy result or one over 6 MB. */
  DEFAULT_5XX: { status: 502, body: '{"message": "Internal server error"}' },
} as const;

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

/** Writes API Gateway's own answers, counting each by type. */
export class GatewayResponses {
  constructor(
    private readonly stats: StatsRecorder,
    /** The `WWW-Authenticate` value of the UNAUTHORIZED response, known once the simulator listens. */
    private readonly challenge: () => string,
  ) {}

  /** A gateway response the stack configures: its status, headers and body as the contract states them. */
  configured(res: ServerResponse, type: keyof typeof GATEWAY_RESPONSES): void {
    const spec = GATEWAY_RESPONSES[type];
    this.send(res, type, spec.status, spec.body, { ...spec.headers, ...(spec.withChallenge ? { 'WWW-Authenticate': this.challenge() } : {}) });
  }

  /** One of API Gateway's defaults (an oversized Lambda event is counted as REQUEST_TOO_LARGE, the type API Gateway files it under). */
  byDefault(res: ServerResponse, type: keyof typeof DEFAULT_GATEWAY_RESPONSES): void {
    const spec = DEFAULT_GATEWAY_RESPONSES[type];
    this.send(res, type === 'LAMBDA_EVENT_TOO_LARGE' ? 'REQUEST_TOO_LARGE' : type, spec.status, spec.body);
  }

  /** A refusal of IAM authorization: 403 with `body` and the error code in `x-amzn-ErrorType`. */
  iamRefusal(res: ServerResponse, code: string, body: Record<string, string>): void {
    this.stats.current.iamRefusals++;
    this.send(res, `IAM:${code}`, 403, JSON.stringify(body), { 'x-amzn-ErrorType': code });
  }

  private send(res: ServerResponse, type: string, status: number, body: string, headers: Record<string, string> = {}): void {
    this.stats.gatewayResponse(type);
    const bytes = Buffer.from(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(bytes.length),
      'x-amzn-RequestId': randomUUID(),
      'x-amzn-ErrorType': errorType(type),
      ...headers,
    });
    res.end(bytes);
  }
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

/** The version check's MOCK integration: 200 `{}` without invoking the handler. */
export function answerVersionCheck(res: ServerResponse, method: string, requestId: string): void {
  const body = Buffer.from(VERSION_CHECK_BODY);
  res.writeHead(200, {
    ...VERSION_CHECK_HEADERS,
    'Content-Length': String(body.length),
    'x-amzn-RequestId': requestId,
    'x-amz-apigw-id': requestId.slice(0, 16),
  });
  res.end(method === 'HEAD' ? undefined : body);
}

/** A Lambda proxy result as API Gateway passes it on: reserved headers renamed, Content-Length its own. */
export function writeProxyResult(res: ServerResponse, method: string, requestId: string, result: APIGatewayProxyResult, body: Buffer): void {
  const out: Record<string, string | string[]> = {};
  const put = (name: string, value: string | number | boolean) => {
    const key = REMAPPED_RESPONSE_HEADERS.has(name.toLowerCase()) ? `x-amzn-Remapped-${name}` : name;
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
    out['Content-Length'] = String(body.length);
  }
  out['x-amzn-RequestId'] = requestId;
  out['x-amz-apigw-id'] = requestId.slice(0, 16);
  res.writeHead(result.statusCode, out);
  res.end(method === 'HEAD' ? undefined : body);
}
