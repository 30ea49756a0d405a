import type { ByteStream } from '../storage/ports';
import type { Identity } from './auth';

/** A request as the router sees it, whatever carried it (node:http, API Gateway, ALB). */
export interface HttpRequest {
  method: string;
  /** The path as sent, still percent-encoded, without the query. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** Null when the request carries no body (no Content-Length and no Transfer-Encoding, or a zero length). */
  body: ByteStream | null;
  /** The client's address as the transport saw it (API Gateway's sourceIp, the socket's peer). */
  sourceIp?: string;
  /** Who is calling, when the transport already established it (a Lambda authorizer's context). */
  identity?: Identity;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array | ByteStream;
}

export type Handler = (request: HttpRequest) => Promise<HttpResponse>;
