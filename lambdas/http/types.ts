import type { ByteStream } from '../core/model';

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

/** Who made a request, as the transport or an authenticator established it. */
export interface Identity {
  /** A stable name for logs and policies: a principal ARN, a user name, or `anonymous`. */
  subject: string;
  /** How the identity was established. */
  method: 'basic' | 'anonymous' | 'upload-token' | 'download-token' | 'login-token' | 'access-token' | 'sigv4' | 'iam';
  /** The IAM principal, for policy evaluation; absent for anonymous callers. */
  principal?: { arn: string; account: string };
  /** When the credential stops being valid (unix seconds): re-checked on every request, even behind a cache. */
  expiresAt?: number;
  /** A scoped token's grants (the Docker token flow); absent means "whatever policies allow". */
  access?: { name: string; actions: string[] }[];
}
