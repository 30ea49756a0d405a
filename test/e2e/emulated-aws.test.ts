/**
 * The AWS path on this machine: `berth serve --emulate-aws` (a child process, exactly as
 * `npm start -- --emulate-aws` runs it) with DynamoDB Local, the S3 stand-in (fauxqs), the real
 * registry and authorizer Lambda handlers behind the API Gateway simulator, and the ingest
 * server; real clients (docker, skopeo, ctr) push an image with a 50 MiB layer and pull it back.
 *
 * Local implementations, named as such: Secrets Manager is LocalSecretSource (the --basic-auth
 * credential and an upload-token key the test passes in BERTH_EMULATOR_UPLOAD_TOKEN_KEY); API
 * Gateway is lambdas/emulators/api-gateway-simulator.ts (no IAM, no CloudFront); S3 is fauxqs, which
 * checks no SigV4 signature and no presigned expiry, so the presigned URLs' validity is not shown here.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeWithBinaries, runAsync } from '../support/clients';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { startRegistryProcess, scratchDir, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, writeLayout, sha256, type Image } from '../support/oci-fixtures';
import { RegistryClient, expectOciError, withQuery } from '../support/http-client';
import { UploadTokens } from '../../lambdas/core/upload-tokens';

const LAYER = 50 * 1024 * 1024;
const TOKEN_KEY = randomBytes(32).toString('hex');
const CREDENTIALS = { username: 'ci', password: 'emulated horse battery' };
const NAMESPACE = 'berth-emulated';

interface Emulator {
  process: RegistryProcess;
  url: string;
  host: string;
  ingestUrl: string;
}

async function startEmulator(dataDir: string, extra: string[] = []): Promise<Emulator> {
  process.env.BERTH_EMULATOR_UPLOAD_TOKEN_KEY = TOKEN_KEY;
  const child = await startRegistryProcess(dataDir, 0, ['--emulate-aws', ...extra]);
  const ingest = /ingest on (\S+?);/.exec(child.banner);
  if (!ingest) throw new Error(`no ingest URL in the banner: ${child.banner}`);
  return { process: child, url: child.url, host: child.host, ingestUrl: ingest[1] };
}

interface Stats {
  handlerInvocations: number;
  authorizerInvocations: number;
  authorizerCacheHits: number;
  mockResponses: number;
  handlerRequestBodyBytes: number;
  handlerResponseBodyBytes: number;
  handled: { method: string; path: string; status: number; requestBodyBytes: number; responseBodyBytes: number }[];
  handlerSdkCalls: Record<string, number>;
  handlerDynamoDbReads: number;
  handlerDynamoDbWrites: number;
  handlerS3Requests: number;
  ingestRequests: number;
  ingestRequestBodyBytes: number;
  gatewayResponses: Record<string, number>;
}

const stats = async (e: Emulator): Promise<Stats> => (await fetch(`${e.url}/__berth/stats`)).json() as Promise<Stats>;
const resetStats = async (e: Emulator): Promise<void> => void (await fetch(`${e.url}/__berth/stats`, { method: 'DELETE' })).arrayBuffer();
/** Forgets the authorizer's cached answers, so a measurement starts cold. */
const flushAuthorizer = async (e: Emulator): Promise<void> => void (await fetch(`${e.url}/__berth/authorizer-cache`, { method: 'DELETE' })).arrayBuffer();
const pullFigures = (s: Stats, blobs: number) => ({
  blobs,
  handlerInvocations: s.handlerInvocations,
  authorizerInvocations: s.authorizerInvocations,
  answeredByGateway: s.mockResponses,
  dynamodbReads: s.handlerDynamoDbReads,
  dynamodbWrites: s.handlerDynamoDbWrites,
  s3Requests: s.handlerS3Requests,
  requests: s.handled.map((h) => `${h.method} ${h.path.replace(/sha256:[0-9a-f]{64}/, 'sha256:…').replace(/^\/v2\/[^]*?\/(manifests|blobs)/, '/v2/<name>/$1')} ${h.status}`),
});

/** Figures a later test (and docs/benchmarks.md) reports. */
const measured: Record<string, unknown> = {};

describeWithBinaries(['java', 'dockerd', 'docker', 'containerd', 'ctr', 'skopeo'], 'emulated AWS: real clients through API Gateway, Lambda, DynamoDB Local, S3 and the ingest host', () => {
  let work: ReturnType<typeof scratchDir>;
  let open: Emulator;
  let guarded: Emulator;
  let daemon: DockerDaemon;
  let counter = 0;
  const docker = (args: string[], env: Record<string, string> = {}) => runAsync('docker', args, { env: { ...daemon.env, ...env } });
  const skopeo = (...args: string[]) => runAsync('skopeo', args);
  const ctr = (...args: string[]) => runAsync('ctr', ['--address', daemon.containerdAddress, '-n', NAMESPACE, ...args]);
  const fresh = (e: Emulator, what: string) => `${e.host}/aws/${what}-${process.pid}-${++counter}`;

  beforeAll(async () => {
    work = scratchDir('emulated-aws');
    [open, guarded, daemon] = await Promise.all([
      startEmulator(join(work.path, 'open')),
      startEmulator(join(work.path, 'guarded'), ['--basic-auth', `${CREDENTIALS.username}:${CREDENTIALS.password}`]),
      startDockerd(join(work.path, 'dockerd')),
    ]);
  }, 120_000);
  afterAll(async () => {
    await daemon?.stop();
    await open?.process.stop();
    await guarded?.process.stop();
    work?.remove();
  });

  function layout(image: Image): string {
    const dir = join(work.path, `layout-${++counter}`);
    writeLayout(dir, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    return dir;
  }

  /** Every layer byte went to the ingest host; the handler saw manifests and small requests only. */
  function expectUploadSplit(s: Stats, image: Image): void {
    expect(s.ingestRequestBodyBytes).toBeGreaterThanOrEqual(LAYER);
    expect(s.handlerRequestBodyBytes).toBeLessThan(256 * 1024);
    expect(s.handled.filter((h) => /\/blobs\/uploads\/.+/.test(h.path) && h.method !== 'GET')).toEqual([]);
    void image;
  }

  /**
   * What a pull of `n` blobs may cost at most: handler invocations and DynamoDB reads (one per
   * manifest request, by tag or by digest, and one per blob), and at most the one write that records
   * the image's pull time (once an hour) with the one read of the pull time update exclusions that
   * precedes it (at most once a minute per container). The version check never reaches the handler
   * (API Gateway answers it, MOCK).
   */
  function expectPullCost(s: Stats, n: number, manifestRequests: number): void {
    expect(s.handled.filter((h) => h.path === '/v2/' || h.path === '/v2')).toEqual([]);
    expect(s.handlerInvocations).toBeLessThanOrEqual(n + manifestRequests);
    // lastRecordedPullTime: one conditional write per image per hour, never one per pull.
    expect(s.handlerDynamoDbWrites).toBeLessThanOrEqual(1);
    expect(s.handlerDynamoDbReads).toBeLessThanOrEqual(n + manifestRequests + s.handlerDynamoDbWrites);
    expect(s.authorizerInvocations).toBe(1);
  }

  /** No layer byte passed through the handler: blob GETs are 307 to S3 and the bodies it returned are small. */
  function expectRedirectedPull(s: Stats): void {
    const blobGets = s.handled.filter((h) => h.method === 'GET' && /\/blobs\/sha256:/.test(h.path));
    expect(blobGets.length).toBeGreaterThan(0);
    for (const get of blobGets) expect(get).toMatchObject({ status: 307, responseBodyBytes: 0 });
    expect(s.handlerResponseBodyBytes).toBeLessThan(64 * 1024);
  }

  test('GIVEN an image with a 50 MiB layer WHEN skopeo pushes it and copies it back THEN the bytes went to the ingest host, the pull was redirected to S3, and the digests match', async () => {
    const image = makeImage({ layers: [LAYER, 4096], seed: `aws-skopeo-${process.pid}` });
    const repo = fresh(open, 'skopeo');
    await resetStats(open);
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout(image)}:v1`, `docker://${repo}:v1`);
    expectUploadSplit(await stats(open), image);

    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${repo}:v1`);
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    await resetStats(open);
    await flushAuthorizer(open);
    const back = join(work.path, `back-${counter}`);
    await skopeo('copy', '--src-tls-verify=false', `docker://${repo}:v1`, `oci:${back}:v1`);
    const pulled = await stats(open);
    expectRedirectedPull(pulled);
    measured.skopeo = pullFigures(pulled, imageBlobs(image).length);
    process.stdout.write(`emulated AWS, skopeo copy (pull): ${JSON.stringify(measured.skopeo)}\n`);
    // skopeo GETs the manifest by tag once: N+1 handler calls and N+1 DynamoDB reads (the goal).
    expectPullCost(pulled, imageBlobs(image).length, 1);
    for (const blob of imageBlobs(image)) expect(sha256(readFileSync(join(back, 'blobs', 'sha256', blob.digest.slice(7))))).toBe(blob.digest);
  });

  test('GIVEN an image with a 50 MiB layer loaded into docker WHEN docker pushes and pulls it THEN the image is intact, the layer went through the ingest host, and a pull of N blobs costs N+2 handler calls and N+2 DynamoDB reads (docker HEADs by tag, then GETs by digest; its ping is answered by the gateway) and one authorizer call', async () => {
    const image = makeImage({ layers: [LAYER, 64 * 1024], seed: `aws-docker-${process.pid}` });
    const repo = fresh(open, 'docker');
    const archive = join(work.path, `docker-${counter}.tar`);
    await skopeo('copy', `oci:${layout(image)}:v1`, `docker-archive:${archive}:${repo}:v1`);
    await docker(['load', '-i', archive]);
    await resetStats(open);
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(await docker(['push', `${repo}:v1`]))?.[1];
    expect(pushed).toBeDefined();
    expectUploadSplit(await stats(open), image);

    await docker(['rmi', `${repo}:v1`]);
    await resetStats(open);
    await flushAuthorizer(open);
    expect(await docker(['pull', `${repo}:v1`])).toContain(`Digest: ${pushed}`);
    const s = await stats(open);
    expectRedirectedPull(s);
    const inspected = JSON.parse(await docker(['image', 'inspect', `${repo}:v1`]))[0];
    expect(inspected.Id).toBe(image.config.digest);
    expect(inspected.RootFS.Layers).toEqual(JSON.parse(image.config.bytes.toString()).rootfs.diff_ids);

    const n = imageBlobs(image).length; // config + layers
    measured.docker = pullFigures(s, n);
    process.stdout.write(`emulated AWS, docker pull of ${n} blobs: ${JSON.stringify(measured.docker, null, 1)}\n`);
    // docker 20.10 asks GET /v2/ (answered by API Gateway, MOCK), HEAD manifest by tag, GET manifest
    // by digest, then each blob: N+2 handler calls, one DynamoDB read each. The HEAD-then-GET is the
    // client's (it saves Docker Hub pulls); see docs/benchmarks.md.
    expect(s.mockResponses).toBeGreaterThanOrEqual(1);
    expectPullCost(s, n, 2);
    await docker(['rmi', `${repo}:v1`]);
  });

  test('GIVEN an image with a 50 MiB layer imported into containerd WHEN ctr pushes it (one PUT per blob, on the ingest host) and pulls it back THEN every byte survives', async () => {
    const image = makeImage({ layers: [LAYER, 8 * 1024], seed: `aws-ctr-${process.pid}` });
    const repo = fresh(open, 'ctr');
    const archive = join(work.path, `oci-${counter}.tar`);
    await skopeo('copy', `oci:${layout(image)}:v1`, `oci-archive:${archive}:v1`);
    await ctr('images', 'import', '--no-unpack', '--base-name', repo, archive);
    await resetStats(open);
    await ctr('images', 'push', '--plain-http', `${repo}:v1`);
    expectUploadSplit(await stats(open), image);

    await ctr('images', 'rm', '--sync', `${repo}:v1`);
    await resetStats(open);
    await flushAuthorizer(open);
    await ctr('images', 'pull', '--plain-http', `${repo}:v1`);
    const pulled = await stats(open);
    expectRedirectedPull(pulled);
    measured.ctr = pullFigures(pulled, imageBlobs(image).length);
    process.stdout.write(`emulated AWS, ctr pull: ${JSON.stringify(measured.ctr)}\n`);
    // containerd HEADs by tag and GETs by digest, like docker: N+2 and N+2.
    expectPullCost(pulled, imageBlobs(image).length, 2);
    const listed = await ctr('images', 'ls');
    expect(listed).toContain(image.manifest.digest);
    for (const blob of imageBlobs(image)) {
      const bytes = execFileSync('ctr', ['--address', daemon.containerdAddress, '-n', NAMESPACE, 'content', 'get', blob.digest], { maxBuffer: 128 * 1024 * 1024 }) as Buffer;
      expect(sha256(bytes)).toBe(blob.digest);
    }
    await ctr('images', 'rm', '--sync', `${repo}:v1`);
  });

  test('GIVEN upload tokens that are expired, forged, or for another repository WHEN bytes go to the ingest host THEN 401 and the upload is unchanged', async () => {
    const api = new RegistryClient(open.url);
    const started = await api.request('POST', '/v2/aws/guarded/blobs/uploads/');
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get('location')!);
    expect(location.origin).toBe(open.ingestUrl);
    const id = location.pathname.split('/').pop()!;
    const tokens = new UploadTokens(Buffer.from(TOKEN_KEY, 'utf8'));
    const [, signature] = location.searchParams.get('token')!.split('.');
    const forged = `${Buffer.from(JSON.stringify({ r: 'aws/guarded', u: id, e: 9999999999 })).toString('base64url')}.${signature}`;
    const expired = tokens.issue('aws/guarded', id, Date.now() - 2 * 3600 * 1000);
    const otherKey = new UploadTokens(randomBytes(32)).issue('aws/guarded', id);
    const ingest = new RegistryClient(open.ingestUrl);
    for (const bad of [expired, forged, otherKey]) {
      const url = new URL(location);
      url.searchParams.set('token', bad);
      expectOciError(await ingest.request('PATCH', url.toString(), { body: Buffer.from('evil') }), 401, 'UNAUTHORIZED');
      expectOciError(await ingest.request('PUT', withQuery(url.toString(), { digest: sha256(Buffer.from('evil')) }), { body: Buffer.from('evil') }), 401, 'UNAUTHORIZED');
    }
    // A valid token of another repository's upload does not open this one.
    const other = await api.request('POST', '/v2/aws/other/blobs/uploads/');
    const otherToken = new URL(other.headers.get('location')!).searchParams.get('token')!;
    const crossed = new URL(location);
    crossed.searchParams.set('token', otherToken);
    expectOciError(await ingest.request('PATCH', crossed.toString(), { body: Buffer.from('evil') }), 401, 'UNAUTHORIZED');
    const status = await api.request('GET', `/v2/aws/guarded/blobs/uploads/${id}`);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    // The ingest host serves uploads only.
    expect((await ingest.get('/v2/')).status).toBe(404);
    expect((await ingest.get('/healthz')).status).toBe(200);
  });

  test('GIVEN --basic-auth WHEN a client calls without credentials THEN the gateway answers 401 with the challenge; docker login works and a push and pull follow', async () => {
    const anonymous = await fetch(`${guarded.url}/v2/aws/anything/manifests/latest`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="Berth registry"');
    expect(((await anonymous.json()) as { errors: { code: string }[] }).errors[0].code).toBe('UNAUTHORIZED');
    const wrong = await fetch(`${guarded.url}/v2/`, { headers: { Authorization: `Basic ${Buffer.from('ci:wrong').toString('base64')}` } });
    expect(wrong.status).toBe(401);

    const image = makeImage({ layers: [256 * 1024], seed: `aws-login-${process.pid}` });
    const repo = fresh(guarded, 'login');
    const archive = join(work.path, `login-${counter}.tar`);
    await skopeo('copy', `oci:${layout(image)}:v1`, `docker-archive:${archive}:${repo}:v1`);
    await docker(['load', '-i', archive]);
    // Without credentials docker is refused.
    await expect(docker(['push', `${repo}:v1`])).rejects.toThrow(/no basic auth credentials|unauthorized|authentication required/i);
    const login = await new Promise<string>((resolve, reject) => {
      const child = spawn('docker', ['login', guarded.host, '-u', CREDENTIALS.username, '--password-stdin'], { env: { ...process.env, ...daemon.env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.on('exit', (code: number) => (code === 0 ? resolve(out) : reject(new Error(`docker login failed: ${out}`))));
      child.stdin.end(CREDENTIALS.password);
    });
    expect(login).toContain('Login Succeeded');
    await docker(['push', `${repo}:v1`]);
    await docker(['rmi', `${repo}:v1`]);
    await resetStats(guarded);
    await flushAuthorizer(guarded);
    await docker(['pull', `${repo}:v1`]);
    const s = await stats(guarded);
    expectRedirectedPull(s);
    measured.basicAuthPull = { ...pullFigures(s, imageBlobs(image).length), gatewayResponses: s.gatewayResponses };
    process.stdout.write(`emulated AWS with --basic-auth, docker pull: ${JSON.stringify(measured.basicAuthPull)}\n`);
    expectPullCost(s, imageBlobs(image).length, 2);
    await docker(['logout', guarded.host]);
    await expect(docker(['pull', `${repo}:v2-missing`])).rejects.toThrow();
  });
});
