/**
 * The API/ingest split on one machine: an API server that hands out upload Locations on an
 * ingest server (another port, so clients treat it as another host) with a signed token,
 * and the ingest server that takes the bytes only with a valid token. Both share one
 * registry, as Lambda and the Fargate ingest service share DynamoDB and S3.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createRouter } from '../../lambdas/http/router';
import { basicAuthenticator } from '../../lambdas/http/auth';
import { startNodeServer, type RunningServer } from '../../lambdas/server/node-server';
import { openLocalRegistry, type LocalRegistry } from '../../lambdas/composition/local/local-registry';
import { UploadTokens } from '../../lambdas/core/upload-tokens';
import { silentLogger } from '../../lambdas/core/log';
import { scratchDir } from '../support/registry-harness';
import { RegistryClient, expectOciError, withQuery } from '../support/http-client';
import { blobOf, imageBlobs, makeImage, pseudoRandomBytes, sha256, writeLayout } from '../support/oci-fixtures';
import { describeWithBinaries, runAsync } from '../support/clients';

const CREDENTIALS = { username: 'ci', password: 'correct horse battery staple' };
const basic = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;

let work: ReturnType<typeof scratchDir>;
let local: LocalRegistry;
let api: RunningServer;
let ingest: RunningServer;
let tokens: UploadTokens;
let ingestRequests: string[];
let apiRequests: string[];

beforeAll(async () => {
  work = scratchDir('split');
  local = await openLocalRegistry(join(work.path, 'data'), silentLogger);
  tokens = new UploadTokens(randomBytes(32), 600);
  ingestRequests = [];
  apiRequests = [];
  const ingestRouter = createRouter({ registry: local.registry, role: 'ingest', uploadTokens: tokens });
  ingest = await startNodeServer({
    handler: async (request) => {
      ingestRequests.push(`${request.method} ${request.path}`);
      return ingestRouter(request);
    },
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
  });
  const authenticator = basicAuthenticator(async () => CREDENTIALS);
  const apiRouter = createRouter({ registry: local.registry, authenticator, uploadTokens: tokens, ingestUrl: ingest.url, maxChunkBytes: 64 * 1024 });
  api = await startNodeServer({
    handler: async (request) => {
      apiRequests.push(`${request.method} ${request.path}`);
      return apiRouter(request);
    },
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
  });
});
afterAll(async () => {
  await api?.close();
  await ingest?.close();
  await local?.close();
  work?.remove();
});

const auth = { Authorization: basic };

describe('API host', () => {
  test('GIVEN no credentials WHEN any endpoint is called THEN 401 UNAUTHORIZED with a Basic challenge', async () => {
    const client = new RegistryClient(api.url);
    for (const path of ['/v2/', '/v2/team/app/tags/list', '/v2/_catalog']) {
      const res = await client.get(path);
      expectOciError(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="Berth registry"');
    }
    expectOciError(await client.get('/v2/', { Authorization: 'Basic ' + Buffer.from('ci:wrong').toString('base64') }), 401, 'UNAUTHORIZED');
    expect((await client.get('/v2/', auth)).status).toBe(200);
  });

  test('GIVEN credentials WHEN an upload starts THEN the Location is absolute on the ingest host and carries a token', async () => {
    const res = await new RegistryClient(api.url).request('POST', '/v2/team/app/blobs/uploads/', { headers: auth });
    expect(res.status).toBe(202);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(ingest.url);
    expect(location.pathname).toMatch(/^\/v2\/team\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
    expect(location.searchParams.get('token')).toBeTruthy();
    expect(location.searchParams.has('digest')).toBe(false);
    expect(res.headers.get('oci-chunk-max-length')).toBe(String(64 * 1024));
  });

  test('GIVEN a chunk larger than the API accepts WHEN PATCHed to the API host THEN 413 SIZE_INVALID naming the limit, and the upload is unchanged', async () => {
    const client = new RegistryClient(api.url);
    const started = await client.request('POST', '/v2/team/app/blobs/uploads/', { headers: auth });
    const id = new URL(started.headers.get('location')!).pathname.split('/').pop()!;
    const res = await client.request('PATCH', `/v2/team/app/blobs/uploads/${id}`, { headers: { ...auth, 'Content-Type': 'application/octet-stream' }, body: Buffer.alloc(64 * 1024 + 1) });
    expectOciError(res, 413, 'SIZE_INVALID');
    expect(res.json().errors[0].message).toContain('65536');
    const status = await client.request('GET', `/v2/team/app/blobs/uploads/${id}`, { headers: auth });
    expect(status.headers.get('range')).toBe('0-0');
  });
});

describe('ingest host', () => {
  async function startUpload(repo: string): Promise<URL> {
    const res = await new RegistryClient(api.url).request('POST', `/v2/${repo}/blobs/uploads/`, { headers: auth });
    expect(res.status).toBe(202);
    return new URL(res.headers.get('location')!);
  }

  test('GIVEN a token WHEN the whole blob is PUT to the ingest Location (containerd, no Authorization) THEN 201 with Docker-Content-Digest and the API serves it at once', async () => {
    const blob = blobOf(pseudoRandomBytes(300 * 1024, 'ingest-put'));
    const location = await startUpload('team/ingest');
    const ingestClient = new RegistryClient(ingest.url);
    const res = await ingestClient.request('PUT', withQuery(location.toString(), { digest: blob.digest }), { body: blob.bytes });
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
    const head = await new RegistryClient(api.url).head(`/v2/team/ingest/blobs/${blob.digest}`, auth);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.size));
  });

  test('GIVEN a PATCH on the ingest host WHEN it answers THEN its Location keeps the same host and token', async () => {
    const location = await startUpload('team/ingest');
    const res = await new RegistryClient(ingest.url).request('PATCH', location.toString(), { body: Buffer.from('abc') });
    expect(res.status).toBe(202);
    const next = new URL(res.headers.get('location')!, location);
    expect(next.origin).toBe(ingest.url);
    expect(next.searchParams.get('token')).toBe(location.searchParams.get('token'));
    expect(res.headers.get('range')).toBe('0-2');
  });

  test('GIVEN a forged, expired, or other-repository token WHEN bytes are sent THEN 401 UNAUTHORIZED and the upload is unchanged', async () => {
    const location = await startUpload('team/guarded');
    const id = location.pathname.split('/').pop()!;
    const ingestClient = new RegistryClient(ingest.url);
    const token = location.searchParams.get('token')!;
    const [payload, signature] = token.split('.');
    const forged = `${Buffer.from(JSON.stringify({ r: 'team/guarded', u: id, e: 9999999999 })).toString('base64url')}.${signature}`;
    const expired = new UploadTokens(Buffer.alloc(32, 1)).issue('team/guarded', id);
    const otherKey = new UploadTokens(randomBytes(32)).issue('team/guarded', id);
    const pastDue = tokens.issue('team/guarded', id, Date.now() - 601_000);
    const otherRepo = tokens.issue('team/other', id);
    for (const bad of [forged, expired, otherKey, pastDue, `${payload}.`, '', 'garbage']) {
      const url = new URL(location);
      url.searchParams.set('token', bad);
      expectOciError(await ingestClient.request('PATCH', url.toString(), { body: Buffer.from('evil') }), 401, 'UNAUTHORIZED');
    }
    const moved = new URL(`${ingest.url}/v2/team/other/blobs/uploads/${id}`);
    moved.searchParams.set('token', otherRepo);
    expect((await ingestClient.request('PATCH', moved.toString(), { body: Buffer.from('evil') })).status).toBe(404);
    const status = await new RegistryClient(api.url).request('GET', `/v2/team/guarded/blobs/uploads/${id}`, { headers: auth });
    expect(status.headers.get('range')).toBe('0-0');
  });

  test('GIVEN the ingest host WHEN anything but an upload session is asked THEN 404, and /healthz answers 200', async () => {
    const ingestClient = new RegistryClient(ingest.url);
    expect((await ingestClient.get('/v2/')).status).toBe(404);
    expect((await ingestClient.get('/v2/team/ingest/tags/list')).status).toBe(404);
    expect((await ingestClient.get('/healthz')).status).toBe(200);
  });
});

describeWithBinaries(['skopeo'], 'skopeo through the split', () => {
  test('GIVEN an image with a layer larger than the API accepts WHEN skopeo pushes and pulls THEN every layer byte went to the ingest host and the digests match', async () => {
    const image = makeImage({ layers: [2 * 1024 * 1024, 4096], seed: 'split-skopeo' });
    const layout = join(work.path, 'src');
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const host = new URL(api.url).host;
    const creds = `${CREDENTIALS.username}:${CREDENTIALS.password}`;
    ingestRequests.length = 0;
    apiRequests.length = 0;
    await runAsync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:v1`, `docker://${host}/team/split:v1`]);
    expect(ingestRequests.filter((r) => r.startsWith('PATCH') || r.startsWith('PUT')).length).toBeGreaterThanOrEqual(imageBlobs(image).length);
    expect(apiRequests.filter((r) => /^(PATCH|PUT) .*\/blobs\/uploads\//.test(r))).toEqual([]);
    const raw = await runAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${host}/team/split:v1`]);
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    const back = join(work.path, 'back');
    await runAsync('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/team/split:v1`, `oci:${back}:v1`]);
    const layer = require('node:fs').readFileSync(join(back, 'blobs', 'sha256', image.layers[0].digest.slice(7)));
    expect(sha256(layer)).toBe(image.layers[0].digest);
  });
});
