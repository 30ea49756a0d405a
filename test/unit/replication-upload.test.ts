/**
 * A large blob's bytes through the replicator (lambdas/aws/replication-upload.ts), against a source and
 * an ingest stand-in on loopback: streamed (the ingest has bytes before the source has sent its last)
 * as one monolithic PUT with Content-Length and `digest`, and each failure put on the side it came
 * from, which is how replication-failures.ts names it.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobUploadError, uploadBlob } from '../../lambdas/aws/replication-upload';
import { DESTINATION_UNREACHABLE, INTERNAL_ERROR, replicationFailureOf } from '../../lambdas/aws/replication-failures';

const SIZE = 3 * 1024 * 1024;
const bytes = Buffer.alloc(SIZE, 7).map((_, i) => (i * 31) % 251);
const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  bytes: number;
  sha256: string;
}

let server: Server;
let base: string;
const received: Received[] = [];
/** Resolved when the ingest stand-in has its first body bytes. */
let firstBytes: () => void = () => undefined;

function source(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/source/forbidden') {
    res.writeHead(403).end('expired');
    return;
  }
  res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
  const half = SIZE / 2;
  res.write(bytes.subarray(0, half));
  if (req.url === '/source/broken') {
    setTimeout(() => res.destroy(), 50);
    return;
  }
  if (req.url === '/source/stalled') return;
  if (req.url === '/source/all') {
    res.end(bytes.subarray(half));
    return;
  }
  // The rest only once the ingest has started receiving: from a replicator that buffered the blob, it never would.
  const cut = setTimeout(() => res.destroy(), 5_000).unref();
  firstBytes = () => {
    clearTimeout(cut);
    firstBytes = () => undefined;
    res.end(bytes.subarray(half));
  };
}

function ingest(req: IncomingMessage, res: ServerResponse): void {
  if (req.url!.startsWith('/stalled/')) return; // never reads, never answers
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    if (length === 0) firstBytes();
    length += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const actual = `sha256:${hash.digest('hex')}`;
    received.push({ url: req.url!, headers: req.headers, bytes: length, sha256: actual });
    const expected = new URL(req.url!, base).searchParams.get('digest');
    if (actual !== expected) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }] }));
      return;
    }
    res.writeHead(201, { 'docker-content-digest': actual, location: `/v2/team/app/blobs/${actual}`, 'content-length': '0' }).end();
  });
}

beforeAll(async () => {
  server = createServer((req, res) => (req.method === 'GET' ? source(req, res) : ingest(req, res)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  received.length = 0;
});

const session = (path = '/v2/team/app/blobs/uploads/u1') => `${base}${path}?token=tok`;

async function failureOf(promise: Promise<void>): Promise<BlobUploadError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(BlobUploadError);
  return error as BlobUploadError;
}

test('GIVEN an upload session WHEN the blob is sent THEN one PUT with Content-Length, the digest and the token, streamed as the source sends it', async () => {
  await uploadBlob({ uploadUrl: session(), sourceUrl: `${base}/source/ok`, digest, size: SIZE });
  expect(received).toHaveLength(1);
  const [put] = received;
  const query = new URL(put.url, base).searchParams;
  expect([query.get('token'), query.get('digest')]).toEqual(['tok', digest]);
  expect(put.headers['content-length']).toBe(String(SIZE));
  expect(put.headers['content-type']).toBe('application/octet-stream');
  expect(put.headers['transfer-encoding']).toBeUndefined();
  expect([put.bytes, put.sha256]).toEqual([SIZE, digest]);
});

test('GIVEN bytes that do not have the digest WHEN sent THEN the ingest’s refusal fails the attempt with its OCI code, retried', async () => {
  const wrong = `sha256:${'0'.repeat(64)}`;
  const error = await failureOf(uploadBlob({ uploadUrl: session(), sourceUrl: `${base}/source/ok`, digest: wrong, size: SIZE }));
  expect([error.side, error.answer]).toEqual(['destination', { status: 400, code: 'DIGEST_INVALID' }]);
  expect(error.message).not.toContain('tok');
  expect(replicationFailureOf(error)).toEqual({ code: 'DIGEST_INVALID', permanent: false });
});

test('GIVEN the source’s URL refused (expired) WHEN sent THEN the source’s failure, not the destination’s, and nothing reaches the ingest', async () => {
  const error = await failureOf(uploadBlob({ uploadUrl: session(), sourceUrl: `${base}/source/forbidden`, digest, size: SIZE }));
  expect(error.side).toBe('source');
  expect(error.message).toContain('HTTP 403');
  expect(replicationFailureOf(error)).toEqual({ code: INTERNAL_ERROR, permanent: false });
  expect(received).toEqual([]);
});

test('GIVEN the source breaking off half-way WHEN sent THEN the source’s failure, although the PUT fails as a network error would', async () => {
  const error = await failureOf(uploadBlob({ uploadUrl: session(), sourceUrl: `${base}/source/broken`, digest, size: SIZE }));
  expect(error.side).toBe('source');
  expect(replicationFailureOf(error)).toEqual({ code: INTERNAL_ERROR, permanent: false });
});

test('GIVEN the source stalling WHEN sent THEN cut after the idle time, the source’s failure', async () => {
  const error = await failureOf(uploadBlob({ uploadUrl: session(), sourceUrl: `${base}/source/stalled`, digest, size: SIZE }, { idleMs: 300 }));
  expect([error.side, error.message]).toEqual(['source', expect.stringContaining('sent nothing for 0.3 s')]);
});

test('GIVEN the ingest unreachable or stalling WHEN sent THEN DESTINATION_UNREACHABLE, retried', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const unreachable = await failureOf(uploadBlob({ uploadUrl: `http://127.0.0.1:${port}/v2/team/app/blobs/uploads/u1?token=tok`, sourceUrl: `${base}/source/all`, digest, size: SIZE }));
  expect(unreachable.side).toBe('destination');
  expect(replicationFailureOf(unreachable)).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });

  const stalled = await failureOf(uploadBlob({ uploadUrl: session('/stalled/u2'), sourceUrl: `${base}/source/all`, digest, size: SIZE }, { idleMs: 300, answerMs: 300 }));
  expect([stalled.side, stalled.message]).toEqual(['destination', expect.stringContaining('no progress')]);
  expect(replicationFailureOf(stalled)).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });
});

test('GIVEN an upload URL that is not http(s) WHEN sent THEN refused before anything is read', async () => {
  const error = await failureOf(uploadBlob({ uploadUrl: 'file:///etc/passwd', sourceUrl: `${base}/source/all`, digest, size: SIZE }));
  expect([error.side, error.message]).toEqual(['destination', 'the destination answered UPLOAD with a file: URL, not http(s)']);
});
