/**
 * A small HTTP client for protocol tests: global fetch for ordinary requests, node:http
 * for what fetch cannot express (a chunked body with no length). Every error response it
 * sees is checked for a stack trace, so no test can pass while the registry leaks one.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { blobOf, descriptor, type Blob, type Image, imageBlobs } from './oci-fixtures';

export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
];

export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  text(): string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** Anything that looks like a JavaScript stack frame or a source path. */
const STACK_TRACE = /(\n\s*at [^\n]+:\d+:\d+)|(\.ts:\d+)|(\.js:\d+)|node_modules|\/work\/|at async /;

function reply(status: number, headers: Headers, body: Buffer): Reply {
  if (status >= 400) {
    const text = body.toString('utf8');
    if (STACK_TRACE.test(text)) throw new Error(`error response ${status} carries a stack trace or source path: ${text.slice(0, 2000)}`);
  }
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

export class RegistryClient {
  constructor(readonly base: string) {}

  /** Resolves a path or a (possibly relative) Location against the registry. */
  url(pathOrLocation: string): string {
    return new URL(pathOrLocation, this.base).toString();
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const res = await fetch(this.url(path), { method, headers: options.headers, body: options.body, redirect: 'manual' });
    return reply(res.status, res.headers, Buffer.from(await res.arrayBuffer()));
  }

  get(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('GET', path, { headers });
  }

  head(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('HEAD', path, { headers });
  }

  delete(path: string): Promise<Reply> {
    return this.request('DELETE', path);
  }

  /** A request whose body goes out with `Transfer-Encoding: chunked` and no Content-Length. */
  chunked(method: string, path: string, parts: Buffer[], headers: Record<string, string> = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(this.url(path), { method, headers: { ...headers, 'Transfer-Encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          try {
            resolve(reply(res.statusCode ?? 0, h, Buffer.concat(chunks)));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
  }

  // ---- steps several tests share ----------------------------------------------------

  async startUpload(repo: string): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`);
    if (res.status !== 202) throw new Error(`POST upload in ${repo}: ${res.status} ${res.text()}`);
    return res.headers.get('location')!;
  }

  /** Uploads a blob with POST + monolithic PUT. */
  async pushBlob(repo: string, blob: Blob): Promise<void> {
    const location = await this.startUpload(repo);
    const res = await this.request('PUT', withQuery(location, { digest: blob.digest }), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob.bytes,
    });
    if (res.status !== 201) throw new Error(`PUT blob ${blob.digest} in ${repo}: ${res.status} ${res.text()}`);
  }

  async putManifest(repo: string, reference: string, manifest: Blob, contentType = manifest.mediaType): Promise<Reply> {
    return this.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'Content-Type': contentType }, body: manifest.bytes });
  }

  /** Pushes an image's blobs and its manifest under `tag` (or by digest without one). */
  async pushImage(repo: string, image: Image, tag?: string): Promise<void> {
    for (const blob of imageBlobs(image)) await this.pushBlob(repo, blob);
    const res = await this.putManifest(repo, tag ?? image.manifest.digest, image.manifest);
    if (res.status !== 201) throw new Error(`PUT manifest in ${repo}: ${res.status} ${res.text()}`);
  }
}

/** Adds query parameters to a Location, keeping any it already has. */
export function withQuery(location: string, params: Record<string, string>): string {
  const url = new URL(location, 'http://placeholder.invalid');
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return /^https?:/.test(location) ? url.toString() : `${url.pathname}${url.search}`;
}

/** Asserts an OCI error response: status, `{"errors":[{"code","message",...}]}` and the code. */
export function expectOciError(res: Reply, status: number, code: string): { code: string; message: string; detail?: unknown } {
  // status and body together, so a failure shows what came back instead
  expect(`${res.status} ${res.text().slice(0, 500)}`).toMatch(new RegExp(`^${status} `));
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = res.json();
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.errors.length).toBeGreaterThan(0);
  const [first] = body.errors;
  expect(first.code).toBe(code);
  expect(typeof first.message).toBe('string');
  expect(first.message.length).toBeGreaterThan(0);
  return first;
}

/** Builds a manifest blob from an object, as JSON text. */
export function manifestOf(body: Record<string, unknown>, mediaType = String(body.mediaType)): Blob {
  return blobOf(Buffer.from(JSON.stringify(body)), mediaType);
}

export { descriptor };

/** Sends raw bytes over a plain TCP connection and collects what comes back until close or `waitMs`. */
export function rawExchange(host: string, port: number, bytes: Buffer, waitMs: number): Promise<{ data: Buffer; elapsedMs: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, host);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), elapsedMs: Date.now() - started, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => (chunks.length > 0 ? finish(true) : reject(err)));
  });
}
