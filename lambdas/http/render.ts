import { RegistryError, isRegistryError } from '../core/errors';
import type { Logger } from '../core/log';
import type { HttpRequest, HttpResponse } from './types';

// On AWS, API Gateway answers the version check itself (lambdas/contracts/api-gateway.ts), with these headers.
export { API_VERSION_HEADER, VERSION_CHECK_HEADERS } from '../contracts/api-gateway';

export function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  const body = Buffer.from(JSON.stringify(value));
  return {
    status,
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...headers },
    body,
  };
}

/** The one renderer for errors: the spec's body for what the client caused, a generic 500 for anything else. */
export function renderError(err: unknown, request: HttpRequest, log: Logger): HttpResponse {
  if (isRegistryError(err)) return errorResponse(err);
  log.error('unexpected error', { method: request.method, path: request.path.slice(0, 512), error: err });
  return errorResponse(new RegistryError('INTERNAL'));
}

export function errorResponse(err: RegistryError): HttpResponse {
  const entry: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.detail !== undefined) entry.detail = err.detail;
  return json(err.status, { errors: [entry] }, err.headers);
}
