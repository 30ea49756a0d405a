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
import type { ByteStream } from '../storage/ports';
import type { Handler, HttpRequest } from '../http/types';
import { errorResponse } from '../http/render';
import { FileRegion } from '../storage/local/file-region';
import { ClientHungUpError, sendFileRegion } from './send-file-region';

export interface NodeServerOptions {
  handler: Handler;
  host: string;
  port: number;
  /** PEM certificate and key: serve HTTPS instead of HTTP. */
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
}

export interface RunningServer {
  server: Server;
  /** Base URL, with the port actually bound (useful with port 0). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<RunningServer> {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    serve(options.handler, req, res, options.log).catch((err) => {
      options.log.error('response failed', { method: req.method, path: req.url?.slice(0, 256), error: err });
      res.destroy();
    });
  };
  // Layer uploads can take far longer than Node's default five-minute request timeout.
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

async function serve(handler: Handler, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
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
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    path: rawPath(req.url ?? '/'),
    query: url.searchParams,
    headers,
    sourceIp: req.socket.remoteAddress,
    body: hasBody(req) ? bodyOf(req) : null,
  };
  const response = await handler(request);
  res.writeHead(response.status, response.headers);
  const body = response.body;
  if (body === undefined || request.method === 'HEAD') {
    if (body instanceof FileRegion) await body.close();
    res.end();
  } else if (body instanceof Uint8Array) {
    res.end(body);
  } else if (body instanceof FileRegion) {
    try {
      await sendFileRegion(body, res);
    } catch (err) {
      if (!(err instanceof ClientHungUpError)) log.warn('response stream failed', { path: request.path.slice(0, 256), error: err });
      res.destroy();
    }
  } else {
    try {
      await pipeline(body instanceof Readable ? body : Readable.from(body), res);
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

/** The request body; a client that hangs up mid-body is the client's failure, not ours. */
async function* bodyOf(req: IncomingMessage): ByteStream {
  try {
    for await (const chunk of req) yield chunk as Uint8Array;
  } catch (err) {
    if (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'the request body ended before it was complete');
    }
    throw err;
  }
  if (!req.complete) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the request body ended before it was complete');
}
