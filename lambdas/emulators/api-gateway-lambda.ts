/**
 * The Lambda proxy integration as API Gateway runs it: the proxy event (every media type binary,
 * so a body travels base64), Lambda's payload limits on the event and the result, the 29 s
 * integration timeout, and the proxy result passed on to the client.
 */
import type { ServerResponse } from 'node:http';
import { emulatedLambdaContext } from './lambda-context';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Logger } from '../core/log';
import { INTEGRATION_TIMEOUT_SECONDS, PAYLOAD_LIMITS } from '../contracts/api-gateway';
import type { RequestParts, SimulatedApi } from './api-gateway-requests';
import { writeProxyResult, type GatewayResponses } from './api-gateway-responses';
import type { StatsRecorder } from './api-gateway-stats';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export const INTEGRATION_TIMEOUT_MS = INTEGRATION_TIMEOUT_SECONDS * 1000;

export interface ProxyIntegration {
  handler: ProxyHandler;
  api: SimulatedApi;
  gateway: GatewayResponses;
  stats: StatsRecorder;
  log: Logger;
}

/**
 * Invokes the handler with the request's proxy event and answers with its result.
 *
 * @param authorizer the authorizer's context (with `principalId`), or null on a method without authorizer
 */
export async function invokeProxy(res: ServerResponse, parts: RequestParts, authorizer: Record<string, unknown> | null, integration: ProxyIntegration): Promise<void> {
  const { gateway, stats, log } = integration;
  const event = proxyEvent(parts, authorizer);
  if (Buffer.byteLength(JSON.stringify(event)) > PAYLOAD_LIMITS.lambdaEventBytes) {
    gateway.byDefault(res, 'LAMBDA_EVENT_TOO_LARGE');
    return;
  }

  stats.current.handlerInvocations++;
  stats.current.handlerRequestBodyBytes += parts.body.length;
  let result: APIGatewayProxyResult;
  try {
    result = await withTimeout(integration.handler(event, lambdaContext('registry', INTEGRATION_TIMEOUT_MS, integration.api)), INTEGRATION_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof IntegrationTimeout) {
      gateway.byDefault(res, 'INTEGRATION_TIMEOUT');
    } else {
      log.error('handler failed', { requestId: parts.requestId, error });
      gateway.byDefault(res, 'DEFAULT_5XX');
    }
    return;
  }
  if (!result || typeof result.statusCode !== 'number' || Buffer.byteLength(JSON.stringify(result)) > PAYLOAD_LIMITS.lambdaResultBytes) {
    log.error('handler answered no valid proxy result or one over 6 MB', { requestId: parts.requestId });
    gateway.byDefault(res, 'DEFAULT_5XX');
    return;
  }
  const responseBody = result.body ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  stats.handled({ method: parts.method, path: parts.path, status: result.statusCode, requestBodyBytes: parts.body.length, responseBodyBytes: responseBody.length });
  writeProxyResult(res, parts.method, parts.requestId, result, responseBody);
}

function proxyEvent(parts: RequestParts, authorizer: Record<string, unknown> | null): APIGatewayProxyEvent {
  return {
    resource: parts.resource,
    path: parts.path,
    httpMethod: parts.method,
    headers: parts.headers,
    multiValueHeaders: parts.multiValueHeaders,
    queryStringParameters: parts.query.single,
    multiValueQueryStringParameters: parts.query.multi,
    pathParameters: parts.pathParameters,
    stageVariables: null,
    requestContext: { ...parts.requestContext, ...(authorizer ? { authorizer } : {}) } as unknown as APIGatewayProxyEvent['requestContext'],
    body: parts.body.length > 0 ? parts.body.toString('base64') : null,
    isBase64Encoded: parts.body.length > 0,
  };
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

/** The context a Lambda function of the stack gets (`registry`: 1024 MB, `authorizer`: 256 MB). */
export function lambdaContext(name: 'registry' | 'authorizer', timeoutMs: number, api: SimulatedApi): Context {
  return emulatedLambdaContext({ functionName: `berth-${name}`, memoryMB: name === 'authorizer' ? 256 : 1024, timeoutMs, region: api.region, account: api.account });
}
