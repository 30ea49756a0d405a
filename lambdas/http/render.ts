import { RegistryError, isRegistryError } from '../core/errors';
import type { Logger } from '../core/log';
import type { HttpRequest, HttpResponse } from './types';

export const API_VERSION_HEADER = { 'Docker-Distribution-Api-Version': 'registry/2.0' } as const;

/**
 * The headers of the answer to the version check (`GET /v2/`, 200 `{}`). On AWS, API Gateway gives
 * that answer itself (a MOCK integration, lib/registry-api.ts), and the simulator mirrors it.
 */
export const VERSION_CHECK_HEADERS = { ...API_VERSION_HEADER, 'Content-Type': 'application/json' } as const;

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
