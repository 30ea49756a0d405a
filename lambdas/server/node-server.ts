/**
 * node:http(s) in front of the transport-neutral router: local mode, the ingest service
 * and the end-to-end tests all run the registry through this file.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../core/errors';
import type { Logger } from '../core/log';
import type { Handler, HttpRequest } from '../http/types';
import { errorResponse } from '../http/render';
import { FileRegion } from '../storage/local/file-region';
import { ClientHungUpError, sendFileRegion } from './send-file-region';
import { requestBody, type RequestBody } from './request-body';

/** How long a request body may send nothing before it is cut, unless the server is told otherwise. */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 60_000;

export interface NodeServerOptions {
  handler: Handler;
  host: string;
  port: number;
  /** PEM certificate and key: serve HTTPS instead of HTTP. */
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
  /**
   * A request body that sends nothing for this long while it is read is cut: the request
   * fails and its connection is closed. 0 never cuts. @default DEFAULT_BODY_IDLE_TIMEOUT_MS
   */
  bodyIdleTimeoutMs?: number;
}

export interface RunningServer {
  server: Server;
  /** Base URL, with the port actually bound (useful with port 0). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<RunningServer> {
  const bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    serve(options.handler, req, res, options.log, bodyIdleTimeoutMs).catch((err) => {
      options.log.error('response failed', { method: req.method, path: req.url?.slice(0, 256), error: err });
      res.destroy();
    });
  };
  // Layer uploads can take far longer than Node's default five-minute request timeout: a body
  // that keeps arriving may take any time, one that stops is cut by bodyIdleTimeoutMs instead.
  const serverOptions = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 };
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, listener)
    : createHttpServer(serverOptions, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    port,
    url: `${options.tls ? 'https' : 'http'}://${hostForUrl}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(handler: Handler, req: IncomingMessage, res: ServerResponse, log: Logger, bodyIdleTimeoutMs: number): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://registry.invalid');
  } catch {
    const refused = errorResponse(new RegistryError('NAME_INVALID', 'malformed request target'));
    res.writeHead(refused.status, refused.headers).end(refused.body);
    return;
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const body: RequestBody | null = hasBody(req) ? requestBody(req, bodyIdleTimeoutMs) : null;
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    path: rawPath(req.url ?? '/'),
    query: url.searchParams,
    headers,
    sourceIp: req.socket.remoteAddress,
    body: body?.stream ?? null,
  };
  const response = await handler(request);
  // A body the handler stopped reading part way (cut, or given up for a request that took over
  // its upload) cannot be told from the next request on this connection, and one it never read
  // (answered before its body: an unknown upload, a refusal) would keep the socket for as long as
  // a silent client likes while Node drains it: answer, then close the connection.
  if (body && (body.abandoned() || !req.complete)) res.setHeader('Connection', 'close');
  res.writeHead(response.status, response.headers);
  const content = response.body;
  if (content === undefined || request.method === 'HEAD') {
    if (content instanceof FileRegion) await content.close();
    res.end();
  } else if (content instanceof Uint8Array) {
    res.end(content);
  } else if (content instanceof FileRegion) {
    try {
      await sendFileRegion(content, res);
    } catch (err) {
      if (!(err instanceof ClientHungUpError)) log.warn('response stream failed', { path: request.path.slice(0, 256), error: err });
      res.destroy();
    }
  } else {
    try {
      await pipeline(content instanceof Readable ? content : Readable.from(content), res);
    } catch (err) {
      if (!res.destroyed) log.warn('response stream failed', { path: request.path.slice(0, 256), error: err });
      res.destroy();
    }
  }
}

function rawPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}
