/**
 * Per-request logging and metrics of the registry function, as a middy middleware: one `request`
 * log line (method, repository, action, status, latency, subject) and the Requests, ClientErrors,
 * Errors and BytesRedirected metrics, whatever the handler did. An error that escapes the handler
 * is logged with its context here and answered as the generic 500 (never a stack trace).
 */
import type middy from '@middy/core';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { RegistryError } from '../../core/errors';
import { errorResponse } from '../../http/render';
import { describeRequest, toProxyResult } from '../proxy-event';

/** What the handler noticed while serving one request (blob bytes answered with a redirect). */
export interface RequestObservation {
  bytesRedirected: number;
  /** Who the router found the caller to be. */
  subject?: string;
}

interface InFlight {
  started: number;
  observation: RequestObservation;
}

const inFlight = new WeakMap<APIGatewayProxyEvent, InFlight>();

/** The observation of the request `event` is, for the handler to fill in (a fresh one outside the middleware). */
export function observationOf(event: APIGatewayProxyEvent): RequestObservation {
  return inFlight.get(event)?.observation ?? { bytesRedirected: 0 };
}

type ProxyRequest = middy.Request<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>;

export function requestLog(observability: { logger: PowertoolsLogger; metrics: Metrics }): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  const { logger, metrics } = observability;

  const record = (request: ProxyRequest, status: number) => {
    const state = inFlight.get(request.event);
    const { repository, action } = describeRequest(request.event.httpMethod, request.event.path);
    logger.info('request', {
      requestId: request.event.requestContext?.requestId,
      awsRequestId: request.context?.awsRequestId,
      method: request.event.httpMethod,
      repository,
      action,
      status,
      latencyMs: state ? Date.now() - state.started : undefined,
      subject: state?.observation.subject,
    });
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    if (status >= 500) metrics.addMetric('Errors', MetricUnit.Count, 1);
    else if (status >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
    if (state && state.observation.bytesRedirected > 0) metrics.addMetric('BytesRedirected', MetricUnit.Bytes, state.observation.bytesRedirected);
  };

  return {
    before: (request) => {
      inFlight.set(request.event, { started: Date.now(), observation: { bytesRedirected: 0 } });
    },
    after: (request) => {
      record(request, request.response?.statusCode ?? 500);
    },
    onError: async (request) => {
      const { repository, action } = describeRequest(request.event.httpMethod, request.event.path);
      logger.error('request failed', { requestId: request.event.requestContext?.requestId, method: request.event.httpMethod, repository, action, error: request.error });
      request.response = await toProxyResult(errorResponse(new RegistryError('INTERNAL')), request.event.httpMethod);
      record(request, request.response.statusCode);
    },
  };
}
