/**
 * The registry's Lambda function behind API Gateway (REST API, Lambda proxy integration):
 * proxy event -> the transport-neutral router -> proxy result. Thin on purpose: the rules are
 * in lambdas/core, the routes in lambdas/http, the composition in lambdas/composition/aws.
 *
 * Identity comes from the REQUEST authorizer (`requestContext.authorizer`: subject, method,
 * principalArn, account, expiresAt, access), or for `POST /` from API Gateway's IAM authorization
 * (`requestContext.identity`); the expiry is re-checked here, and authorization per repository and
 * action (policies, IAM's policy simulator for identity policies) runs in the router, as locally. Blob GETs answer 307 to a
 * presigned S3 URL, so no layer byte passes through this function; upload bytes go to the
 * ingest service when INGEST_URL is set, otherwise through here in chunks of at most
 * LAMBDA_MAX_CHUNK_BYTES.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { RegistryError } from '../core/errors';
import { errorResponse } from '../http/render';
import { requestObservations } from '../composition/aws/aws-registry';
import { registryFunctionFromEnvironment, type RegistryFunction } from '../composition/aws/registry-function';
import { createObservability } from '../aws/observability';
import { observationOf, requestLog } from './middleware/request-log';
import { authorizerContextExpired, toHttpRequest, toProxyResult } from './proxy-event';

/** What each invocation runs with (the router, observability, the clock). */
export type RegistryApiDependencies = RegistryFunction;

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * The invocation itself: one request through the router. Logging and metrics are the requestLog
 * middleware's (createRegistryApiHandler), as is the answer to an error that escapes.
 */
export function registryApiInvocation(deps: () => Promise<RegistryApiDependencies>): ProxyHandler {
  return async (event) => {
    const request = toHttpRequest(event);
    const d = await deps();
    if (authorizerContextExpired(event.requestContext?.authorizer, (d.now ?? Date.now)())) {
      // The authorizer's cached Allow outlived what it vouched for.
      return toProxyResult(errorResponse(new RegistryError('UNAUTHORIZED', 'credentials expired: log in again')), request.method);
    }
    const router = await d.router();
    const observation = observationOf(event);
    const response = await requestObservations.run(observation, () => router(request));
    observation.subject = request.identity?.subject;
    return toProxyResult(response, request.method);
  };
}

/** The middy-wrapped handler: Lambda context in every log line, a log line and metrics per request, metrics flushed after each invocation. */
export function createRegistryApiHandler(deps: () => Promise<RegistryApiDependencies>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(registryApiInvocation(deps))
    .use(injectLambdaContext(observability.logger))
    .use(logMetrics(observability.metrics))
    .use(requestLog(observability));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-registry');

export const handler = createRegistryApiHandler(registryFunctionFromEnvironment(observability), observability);
