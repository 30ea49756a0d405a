/**
 * A client that goes silent in the middle of a PATCH (a dead NAT mapping, a hung CI runner)
 * against a real `berth serve`: the body is cut after --body-idle-timeout and the upload
 * resumes from what was acknowledged; before that, a DELETE, a retried PATCH or the closing
 * PUT of the same upload takes over from the stalled request instead of waiting behind it.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { RegistryClient, expectOciError, rawExchange, withQuery, type Reply } from '../support/http-client';
import { pseudoRandomBytes, sha256 } from '../support/oci-fixtures';

/** The layer: 10 bytes acknowledged by a first PATCH, the other 100 follow. */
const LAYER = pseudoRandomBytes(110, 'stalled-uploads');
const DIGEST = sha256(LAYER);
const HEAD = LAYER.subarray(0, 10);
const REST = LAYER.subarray(10);

/** Fails fast with a clear message instead of waiting for the test's budget. */
async function timed<T>(what: string, work: Promise<T>, capMs = 10_000): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${capMs} ms`)), capMs);
  });
  try {
    const value = await Promise.race([work, cap]);
    return { value, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** An upload holding HEAD (acknowledged), and its path. */
async function uploadWithHead(client: RegistryClient, repo: string): Promise<string> {
  const location = await client.startUpload(repo);
  const first = await client.request('PATCH', location, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${HEAD.length - 1}` },
    body: HEAD,
  });
  expect(first.status).toBe(202);
  expect(first.headers.get('range')).toBe(`0-${HEAD.length - 1}`);
  const url = new URL(first.headers.get('location')!, client.base);
  return `${url.pathname}${url.search}`;
}

/**
 * A PATCH of REST on its own connection that sends 30 bytes (not REST's: a stalled request
 * must never contribute bytes) and then nothing, never closing: what a hung client does.
 */
function stalledPatch(registry: RegistryProcess, path: string, waitMs: number) {
  const { hostname, port } = new URL(registry.url);
  const head =
    `PATCH ${path} HTTP/1.1\r\nHost: ${registry.host}\r\nContent-Type: application/octet-stream\r\n` +
    `Content-Length: ${REST.length}\r\nContent-Range: ${HEAD.length}-${LAYER.length - 1}\r\n\r\n`;
  return rawExchange(hostname, Number(port), Buffer.concat([Buffer.from(head), Buffer.alloc(30, 'X')]), waitMs);
}

const statusLine = (data: Buffer) => data.toString('latin1').split('\r\n')[0];

async function expectLayerStored(client: RegistryClient, repo: string): Promise<void> {
  const back = await client.get(`/v2/${repo}/blobs/${DIGEST}`);
  expect(back.status).toBe(200);
  expect(sha256(back.body)).toBe(DIGEST);
}

describe('a stalled upload body', () => {
  let work: ReturnType<typeof scratchDir>;
  beforeAll(() => {
    work = scratchDir('stalled-uploads');
  });
  afterAll(() => work.remove());

  describe('with a short --body-idle-timeout', () => {
    let registry: RegistryProcess;
    let client: RegistryClient;
    beforeAll(async () => {
      registry = await startRegistryProcess(join(work.path, 'short'), 0, ['--body-idle-timeout', '1s']);
      client = new RegistryClient(registry.url);
    });
    afterAll(async () => {
      await registry?.stop();
    });

    test('GIVEN a PATCH that goes silent mid-body WHEN the timeout passes THEN the request fails, its socket is closed, and the upload resumes from the acknowledged offset', async () => {
      const path = await uploadWithHead(client, 'stall/cut');
      const stalled = await stalledPatch(registry, path, 15_000);
      expect(stalled.closed).toBe(true);
      expect(stalled.elapsedMs).toBeGreaterThanOrEqual(900);
      expect(stalled.elapsedMs).toBeLessThan(10_000);
      expect(statusLine(stalled.data)).toMatch(/^HTTP\/1\.1 400 /);
      expect(stalled.data.toString('latin1')).toContain('BLOB_UPLOAD_INVALID');

      const status = await client.get(path);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${HEAD.length - 1}`);

      const resumed = await client.request('PATCH', path, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${HEAD.length}-${LAYER.length - 1}` },
        body: REST,
      });
      expect(resumed.status).toBe(202);
      expect(resumed.headers.get('range')).toBe(`0-${LAYER.length - 1}`);
      expect((await client.request('PUT', withQuery(path, { digest: DIGEST }))).status).toBe(201);
      await expectLayerStored(client, 'stall/cut');
    });
  });

  describe('with the default --body-idle-timeout (60 s)', () => {
    let registry: RegistryProcess;
    let client: RegistryClient;
    beforeAll(async () => {
      registry = await startRegistryProcess(join(work.path, 'long'));
      client = new RegistryClient(registry.url);
    });
    afterAll(async () => {
      await registry?.stop();
    });

    test('GIVEN a request answered before its body (an unknown upload) WHEN the client then goes silent THEN the answer comes with Connection: close and the server closes the socket at once', async () => {
      const { hostname, port } = new URL(registry.url);
      const head =
        `PATCH /v2/stall/unread/blobs/uploads/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: ${registry.host}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n`;
      const { value } = await timed('unread body', rawExchange(hostname, Number(port), Buffer.concat([Buffer.from(head), Buffer.alloc(10, 'X')]), 8_000));
      expect(statusLine(value.data)).toMatch(/^HTTP\/1\.1 404/);
      expect(value.data.toString('latin1').toLowerCase()).toContain('connection: close');
      expect(value.closed).toBe(true);
      expect(value.elapsedMs).toBeLessThan(3_000);
    });

    /**
     * Starts a stalled PATCH on a fresh upload, gives the server time to take the upload's
     * lock and read what was sent, runs `next` on the same upload, and answers both outcomes.
     */
    async function afterStall(
      repo: string,
      next: (path: string) => Promise<Reply>,
    ): Promise<{ reply: Reply; elapsedMs: number; stalled: { data: Buffer; closed: boolean } }> {
      const path = await uploadWithHead(client, repo);
      const stalled = stalledPatch(registry, path, 20_000);
      await sleep(750);
      const { value: reply, elapsedMs } = await timed('the request after the stalled PATCH', next(path));
      return { reply, elapsedMs, stalled: await stalled };
    }

    const expectPreempted = (stalled: { data: Buffer; closed: boolean }) => {
      expect(statusLine(stalled.data)).toMatch(/^HTTP\/1\.1 400 /);
      expect(stalled.data.toString('latin1')).toContain('BLOB_UPLOAD_INVALID');
      expect(stalled.closed).toBe(true);
    };

    test('GIVEN a stalled PATCH WHEN the client cancels the upload THEN the DELETE is answered at once and the stalled request fails', async () => {
      let path = '';
      const { reply, elapsedMs, stalled } = await afterStall('stall/delete', (p) => {
        path = p;
        return client.delete(p);
      });
      expect(reply.status).toBe(204);
      expect(elapsedMs).toBeLessThan(1000);
      expectPreempted(stalled);
      expectOciError(await client.get(path), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    test('GIVEN a stalled PATCH WHEN the client retries it from the acknowledged offset THEN the retry is answered at once and the blob holds only its bytes', async () => {
      let path = '';
      const { reply, elapsedMs, stalled } = await afterStall('stall/patch', (p) => {
        path = p;
        return client.request('PATCH', p, {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${HEAD.length}-${LAYER.length - 1}` },
          body: REST,
        });
      });
      expect(reply.status).toBe(202);
      expect(reply.headers.get('range')).toBe(`0-${LAYER.length - 1}`);
      expect(elapsedMs).toBeLessThan(1000);
      expectPreempted(stalled);
      expect((await client.request('PUT', withQuery(path, { digest: DIGEST }))).status).toBe(201);
      await expectLayerStored(client, 'stall/patch');
    });

    test('GIVEN a stalled PATCH WHEN the client closes the upload with a PUT carrying the rest THEN the PUT is answered at once with the blob', async () => {
      const { reply, elapsedMs, stalled } = await afterStall('stall/put', (p) =>
        client.request('PUT', withQuery(p, { digest: DIGEST }), { headers: { 'Content-Type': 'application/octet-stream' }, body: REST }),
      );
      expect(reply.status).toBe(201);
      expect(reply.headers.get('docker-content-digest')).toBe(DIGEST);
      expect(elapsedMs).toBeLessThan(1000);
      expectPreempted(stalled);
      await expectLayerStored(client, 'stall/put');
    });
  });
});
