/**
 * What the API Gateway simulator counts, as a bill would: handler and authorizer invocations, the
 * gateway's own answers, and the body bytes that passed through the handler. Read and reset with
 * `GET`/`DELETE /__berth/stats` or in-process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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
  /** Every request that reached the handler, oldest first (the last {@link HANDLED_KEPT}). */
  handled: HandledRequest[];
  [extra: string]: unknown;
}

export const HANDLED_KEPT = 10_000;

export function emptyStats(): SimulatorStats {
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

/** The counts of one simulator; `extra` adds figures of the emulated mode (SDK calls of the handler). */
export class StatsRecorder {
  current: SimulatorStats = emptyStats();

  constructor(private readonly hooks: { extra?: () => Record<string, unknown>; onReset?: () => void } = {}) {}

  gatewayResponse(type: string): void {
    this.current.gatewayResponses[type] = (this.current.gatewayResponses[type] ?? 0) + 1;
  }

  handled(request: HandledRequest): void {
    this.current.handlerResponseBodyBytes += request.responseBodyBytes;
    this.current.handled.push(request);
    if (this.current.handled.length > HANDLED_KEPT) this.current.handled.shift();
  }

  snapshot(): SimulatorStats {
    return { ...structuredClone(this.current), ...(this.hooks.extra?.() ?? {}) };
  }

  reset(): void {
    this.current = emptyStats();
    this.hooks.onReset?.();
  }
}

/** The simulator's fault switch: while `unreachable`, every request to the API has its connection cut, as an outage would. */
export interface SimulatedFaults {
  unreachable: boolean;
}

/**
 * The simulator's own endpoints, outside the API: `GET`/`DELETE /__berth/stats` (DELETE resets),
 * `DELETE /__berth/authorizer-cache`, `PUT`/`DELETE /__berth/fault` (PUT makes the API unreachable,
 * DELETE ends it; tests of what depends on the deployment being reachable). True when the request
 * was one of them (and is answered), or was cut by the fault switch.
 */
export function serveAdminRequest(req: IncomingMessage, res: ServerResponse, stats: StatsRecorder, flushAuthorizerCache: () => void, faults: SimulatedFaults = { unreachable: false }): boolean {
  const { pathname } = new URL(req.url ?? '/', 'http://apigateway.invalid');
  const method = (req.method ?? 'GET').toUpperCase();
  if (pathname === '/__berth/fault' && (method === 'PUT' || method === 'DELETE')) {
    faults.unreachable = method === 'PUT';
    res.writeHead(204).end();
    return true;
  }
  if (faults.unreachable && !pathname.startsWith('/__berth/')) {
    req.socket.destroy();
    return true;
  }
  if (pathname === '/__berth/authorizer-cache' && method === 'DELETE') {
    flushAuthorizerCache();
    res.writeHead(204).end();
    return true;
  }
  if (pathname !== '/__berth/stats') return false;
  if (method === 'DELETE') stats.reset();
  const body = Buffer.from(JSON.stringify(stats.snapshot()));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) }).end(body);
  return true;
}
