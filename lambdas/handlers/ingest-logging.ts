import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Handler, HttpRequest } from '../http/types';
import { describeRequest } from './proxy-event';

/** The ingest server's handler: the ingest router, one log line per request (never the query: it holds the token). */
export function ingestHandler(router: () => Promise<Handler>, logger: PowertoolsLogger, observe: (request: HttpRequest) => HttpRequest = (r) => r) {
  return async (incoming: HttpRequest) => {
    const started = Date.now();
    const request = observe(incoming);
    const response = await (await router())(request);
    const { repository, action } = describeRequest(request.method, request.path);
    if (request.path !== '/healthz') logger.info('request', { method: request.method, repository, action, status: response.status, latencyMs: Date.now() - started });
    return response;
  };
}
