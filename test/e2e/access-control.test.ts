/**
 * Data-plane identity and access against an in-process registry: login tokens as Basic
 * `AWS:<token>`, the Docker token flow (GET with Basic, POST with a form as containerd does),
 * authorization by identity, registry and repository policies, public repositories with an
 * anonymous rate limit, cross-repository mounts, and attacks on tokens.
 *
 * The identities are built here (what `--config` configures for `berth serve`): an admin of
 * account 111111111111 allowed everything, a CI identity of that account allowed to push to
 * `ci/*` only, and an identity of account 222222222222.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { BatchDeleteImageCommand, DescribeImagesCommand, ECRClient, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { loadOrCreateTokenSigner } from '../../lambdas/composition/local/identities';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { createRouter } from '../../lambdas/http/router';
import { startNodeServer, type RunningServer } from '../../lambdas/server/node-server';
import { openLocalRegistry, type LocalRegistry } from '../../lambdas/composition/local/local-registry';
import { silentLogger } from '../../lambdas/core/log';
import { Ed25519TokenSigner, RegistryTokens } from '../../lambdas/core/registry-tokens';
import { StaticIdentityPolicies } from '../../lambdas/core/identity-policies';
import { validatePolicy } from '../../lambdas/core/policy/policy-document';
import { createRegistryAccess, deferredCanPull, type RegistryAccess } from '../../lambdas/http/registry-access';
import { UploadTokens } from '../../lambdas/core/upload-tokens';
import type { RateLimit } from '../../lambdas/core/rate-limit';
import type { ChallengeOptions } from '../../lambdas/http/registry-auth';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { RegistryClient, expectOciError, withQuery, type Reply } from '../support/http-client';
import { blobOf, imageBlobs, makeImage, pseudoRandomBytes, writeLayout, sha256, type Blob, type Image } from '../support/oci-fixtures';
import { describeWithBinaries, run, runAsync } from '../support/clients';

const ACCOUNT = '111111111111';
const OTHER_ACCOUNT = '222222222222';
const REGION = 'us-east-1';
const ADMIN = { arn: `arn:aws:iam::${ACCOUNT}:user/admin`, account: ACCOUNT };
const CI = { arn: `arn:aws:iam::${ACCOUNT}:user/ci`, account: ACCOUNT };
const OTHER = { arn: `arn:aws:iam::${OTHER_ACCOUNT}:user/partner`, account: OTHER_ACCOUNT };
const PUSH_ACTIONS = ['ecr:BatchCheckLayerAvailability', 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'];
const PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];

const identityPolicy = (name: string, statements: object[]) => ({ name: `identity:${name}`, document: validatePolicy({ Version: '2012-10-17', Statement: statements }, 'identity') });

const IDENTITIES = [
  { arn: ADMIN.arn, policies: [identityPolicy('admin', [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }])] },
  {
    arn: CI.arn,
    policies: [
      identityPolicy('ci', [
        { Effect: 'Allow', Action: [...PUSH_ACTIONS, 'ecr:DescribeRepositories'], Resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/ci/*` },
      ]),
    ],
  },
  // The partner account's own identity policy allows it everything; our resource policies decide.
  { arn: OTHER.arn, policies: [identityPolicy('partner', [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }])] },
];

let work: ReturnType<typeof scratchDir>;
let local: LocalRegistry;
let tokens: RegistryTokens;
const servers: RunningServer[] = [];
let main: { url: string; host: string; access: RegistryAccess };

/** A router + server on the shared registry, with its own access pieces (challenge, rate limit, ingest split). */
async function startStack(options: { challenge?: ChallengeOptions; rateLimit?: RateLimit | false; ingest?: boolean } = {}) {
  const access = createRegistryAccess({
    tokens,
    metadata: local.metadata,
    registryAccount: ACCOUNT,
    region: REGION,
    identityPolicies: new StaticIdentityPolicies(IDENTITIES, ACCOUNT),
    challenge: options.challenge,
    anonymousRateLimit: options.rateLimit ?? { burst: 10_000, perSecond: 100 },
    policyCacheMs: 0, // policies change within tests
  });
  bindCanPull(access);
  let ingestUrl: string | undefined;
  let uploadTokens: UploadTokens | undefined;
  if (options.ingest) {
    uploadTokens = new UploadTokens(Buffer.alloc(32, 7), 600);
    const ingest = await startNodeServer({ handler: createRouter({ registry: local.registry, role: 'ingest', uploadTokens }), host: '127.0.0.1', port: 0, log: silentLogger });
    servers.push(ingest);
    ingestUrl = ingest.url;
  }
  const router = createRouter({
    registry: local.registry,
    authenticator: access.authenticator,
    accessControl: access.accessControl,
    tokenService: access.tokenService,
    uploadTokens,
    ingestUrl,
  });
  const server = await startNodeServer({ handler: router, host: '127.0.0.1', port: 0, log: silentLogger });
  servers.push(server);
  return { url: server.url, host: `127.0.0.1:${server.port}`, access, ingestUrl };
}

// The registry's canPull follows whichever stack is handling the request (each has its own AccessControl, same policies).
const deferred = deferredCanPull();
let bindCanPull: (access: RegistryAccess) => void = (access) => deferred.bind(access.accessControl);

beforeAll(async () => {
  work = scratchDir('access', { shortPath: true });
  local = await openLocalRegistry(join(work.path, 'data'), silentLogger, { canPull: deferred.canPull });
  tokens = new RegistryTokens(new Ed25519TokenSigner(Ed25519TokenSigner.generatePem(), 'test-key'));
  main = await startStack();
  // Later stacks share the same policies; canPull stays with the main stack's AccessControl, which reads the same store.
  bindCanPull = () => {};
});
afterAll(async () => {
  for (const server of servers.reverse()) await server.close();
  await local?.close();
  work?.remove();
});

// ---- helpers ------------------------------------------------------------------------------

const basicFor = (token: string) => ({ Authorization: `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}` });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
async function loginToken(principal: { arn: string; account: string }, now = Date.now()): Promise<string> {
  return (await tokens.issueLogin(principal, now)).token;
}
async function basic(principal: { arn: string; account: string }) {
  return basicFor(await loginToken(principal));
}

let counter = 0;
const fresh = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

async function pushBlob(client: RegistryClient, repo: string, blob: Blob, headers: Record<string, string>): Promise<Reply> {
  const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers });
  if (start.status !== 202) return start;
  return client.request('PUT', withQuery(start.headers.get('location')!, { digest: blob.digest }), {
    headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    body: blob.bytes,
  });
}

async function pushImage(client: RegistryClient, repo: string, image: Image, tag: string, headers: Record<string, string>): Promise<Reply> {
  for (const blob of imageBlobs(image)) {
    const res = await pushBlob(client, repo, blob, headers);
    if (res.status !== 201) return res;
  }
  return client.request('PUT', `/v2/${repo}/manifests/${tag}`, { headers: { ...headers, 'Content-Type': image.manifest.mediaType }, body: image.manifest.bytes });
}

async function tokenFor(client: RegistryClient, headers: Record<string, string>, ...scopes: string[]): Promise<Reply> {
  const query = new URLSearchParams({ service: new URL(client.base).host });
  for (const scope of scopes) query.append('scope', scope);
  return client.get(`/v2/token?${query}`, headers);
}

function claimsOf(token: string): { access: { name: string; actions: string[] }[]; sub: string } {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** What the registry holds, seen by the admin: the repository's tags, or null when it does not exist. */
async function tagsOf(repo: string): Promise<string[] | null> {
  const res = await new RegistryClient(main.url).get(`/v2/${repo}/tags/list`, await basic(ADMIN));
  if (res.status === 404) return null;
  expect(res.status).toBe(200);
  return res.json().tags;
}

async function setRepositoryPolicy(repo: string, statements: object[]): Promise<void> {
  const ok = await local.metadata.setRepositoryPolicy(repo, JSON.stringify({ Version: '2012-10-17', Statement: statements }));
  expect(ok).toBe(true);
}

const challengeRe = (host: string) => new RegExp(`^Bearer realm="http://${host.replace(/\./g, '\\.')}/v2/token",service="${host.replace(/\./g, '\\.')}"`);

// ---- tests ------------------------------------------------------------------------------

describe('login tokens as Basic AWS:<token>', () => {
  test('GIVEN the admin login token WHEN it pushes and pulls with Basic THEN both work, and /v2/ answers 200', async () => {
    const client = new RegistryClient(main.url);
    const auth = await basic(ADMIN);
    expect((await client.get('/v2/', auth)).status).toBe(200);
    const repo = `team/${fresh('basic')}`;
    const image = makeImage({ layers: [2048], seed: repo });
    expect((await pushImage(client, repo, image, 'v1', auth)).status).toBe(201);
    const pulled = await client.get(`/v2/${repo}/manifests/v1`, { ...auth, Accept: image.manifest.mediaType });
    expect(pulled.status).toBe(200);
    expect(pulled.body.equals(image.manifest.bytes)).toBe(true);
  });

  test('GIVEN no credentials WHEN /v2/ is called THEN 401 UNAUTHORIZED with the Bearer challenge naming the token endpoint', async () => {
    const res = await new RegistryClient(main.url).get('/v2/');
    expectOciError(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toMatch(challengeRe(main.host));
  });

  test('GIVEN the Basic challenge configured WHEN an anonymous request comes THEN the challenge is Basic, as ECR presents it, and Basic logins work', async () => {
    const stack = await startStack({ challenge: { scheme: 'basic' } });
    const client = new RegistryClient(stack.url);
    const res = await client.get('/v2/');
    expectOciError(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBe(`Basic realm="${stack.host}"`);
    expect((await client.get('/v2/', await basic(ADMIN))).status).toBe(200);
  });
});

describe('the Docker token flow', () => {
  test('GIVEN docker-style GET /v2/token with Basic WHEN the Bearer token is used THEN push and pull work, within the granted scope only', async () => {
    const client = new RegistryClient(main.url);
    const repo = `team/${fresh('flow')}`;
    const res = await tokenFor(client, await basic(ADMIN), `repository:${repo}:pull,push`);
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(new Date(body.issued_at).getTime()).toBeLessThanOrEqual(Date.now());
    expect(claimsOf(body.token).access).toEqual([{ name: repo, actions: ['pull', 'push'] }]);
    const image = makeImage({ layers: [1024], seed: repo });
    expect((await pushImage(client, repo, image, 'v1', bearer(body.token))).status).toBe(201);
    expect((await client.get(`/v2/${repo}/manifests/v1`, bearer(body.token))).status).toBe(200);
    // Another repository is outside the token: 401 asking for a token that covers it.
    const other = await client.get(`/v2/team/elsewhere/tags/list`, bearer(body.token));
    expectOciError(other, 401, 'UNAUTHORIZED');
    expect(other.headers.get('www-authenticate')).toContain('scope="repository:team/elsewhere:pull",error="insufficient_scope"');
  });

  test('GIVEN docker login (no scope) WHEN the token is used on /v2/ THEN 200; bad credentials get 401 from the token endpoint', async () => {
    const client = new RegistryClient(main.url);
    const res = await tokenFor(client, await basic(ADMIN));
    expect(res.status).toBe(200);
    expect(claimsOf(res.json().token).access).toEqual([]);
    expect((await client.get('/v2/', bearer(res.json().token))).status).toBe(200);
    expectOciError(await tokenFor(client, basicFor('not-a-token')), 401, 'UNAUTHORIZED');
    expectOciError(await tokenFor(client, { Authorization: `Basic ${Buffer.from(`admin:${await loginToken(ADMIN)}`).toString('base64')}` }), 401, 'UNAUTHORIZED');
    // An access token cannot be traded for another.
    expectOciError(await tokenFor(client, bearer(res.json().token), 'repository:team/x:pull'), 401, 'UNAUTHORIZED');
  });

  test('GIVEN containerd-style POST with a form WHEN grant_type is password or refresh_token THEN a token comes back; other grants and bad passwords are refused', async () => {
    const client = new RegistryClient(main.url);
    const repo = `team/${fresh('ctr')}`;
    const login = await loginToken(ADMIN);
    expect((await pushImage(client, repo, makeImage({ layers: [512], seed: repo }), 'v1', basicFor(login))).status).toBe(201);
    const post = (form: Record<string, string>) =>
      client.request('POST', '/v2/token', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    const common = { service: main.host, scope: `repository:${repo}:pull`, client_id: 'containerd-client' };
    const res = await post({ ...common, grant_type: 'password', username: 'AWS', password: login });
    expect(res.status).toBe(200);
    const token = res.json().access_token;
    expect(claimsOf(token).access).toEqual([{ name: repo, actions: ['pull'] }]);
    expect((await client.get(`/v2/${repo}/manifests/v1`, bearer(token))).status).toBe(200);
    // A pull-only token cannot push, though the admin could.
    const push = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: bearer(token) });
    expectOciError(push, 401, 'UNAUTHORIZED');
    expect(push.headers.get('www-authenticate')).toContain(`scope="repository:${repo}:pull,push",error="insufficient_scope"`);
    const refreshed = await post({ ...common, grant_type: 'refresh_token', refresh_token: login });
    expect(refreshed.status).toBe(200);
    expectOciError(await post({ ...common, grant_type: 'password', username: 'AWS', password: login.slice(0, -4) }), 401, 'UNAUTHORIZED');
    expectOciError(await post({ ...common, grant_type: 'password', username: 'root', password: login }), 401, 'UNAUTHORIZED');
    expect((await post({ ...common, grant_type: 'client_credentials' })).status).toBe(400);
  });

  test('GIVEN malformed and unknown scopes WHEN a token is asked for THEN they are ignored and the rest granted', async () => {
    const client = new RegistryClient(main.url);
    const res = await tokenFor(
      client,
      await basic(ADMIN),
      'repository:UPPER/case:pull',
      'repository:team/ok:pull,fly',
      'repository(plugin):team/x:pull',
      'nonsense',
      'repository::pull',
      'repository:team/none:',
      'registry:catalog:*',
    );
    expect(res.status).toBe(200);
    expect(claimsOf(res.json().token).access).toEqual([
      { name: 'team/ok', actions: ['pull'] },
      { name: 'registry:catalog', actions: ['*'] },
    ]);
  });
});

describe('authorization by identity and repository policies', () => {
  test('GIVEN the CI identity (push to ci/* only) WHEN it pushes to ci/ and elsewhere and pulls THEN ci/ works, the rest is 403 DENIED, and its token grants push only', async () => {
    const client = new RegistryClient(main.url);
    const auth = await basic(CI);
    const repo = `ci/${fresh('app')}`;
    expect((await pushImage(client, repo, makeImage({ layers: [256], seed: repo }), 'v1', auth)).status).toBe(201);
    expectOciError(await client.get(`/v2/${repo}/manifests/v1`, auth), 403, 'DENIED');
    const elsewhere = `team/${fresh('ci-denied')}`;
    expectOciError(await client.request('POST', `/v2/${elsewhere}/blobs/uploads/`, { headers: auth }), 403, 'DENIED');
    expect(await tagsOf(elsewhere)).toBeNull();
    const token = await tokenFor(client, auth, `repository:${repo}:pull,push`, `repository:${elsewhere}:pull,push`);
    expect(claimsOf(token.json().token).access).toEqual([{ name: repo, actions: ['push'] }]);
  });

  test('GIVEN a second account WHEN it pushes or pulls THEN 403, until a repository policy grants it pull: then pull works and push is still denied', async () => {
    const client = new RegistryClient(main.url);
    const repo = `team/${fresh('shared')}`;
    const image = makeImage({ layers: [700], seed: repo });
    expect((await pushImage(client, repo, image, 'v1', await basic(ADMIN))).status).toBe(201);
    const partner = await basic(OTHER);
    expectOciError(await client.get(`/v2/${repo}/manifests/v1`, partner), 403, 'DENIED');
    expectOciError(await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: partner }), 403, 'DENIED');
    expect(claimsOf((await tokenFor(client, partner, `repository:${repo}:pull,push`)).json().token).access).toEqual([]);

    await setRepositoryPolicy(repo, [{ Sid: 'PartnerPull', Effect: 'Allow', Principal: { AWS: OTHER_ACCOUNT }, Action: PULL_ACTIONS }]);
    const pulled = await client.get(`/v2/${repo}/manifests/v1`, { ...partner, Accept: image.manifest.mediaType });
    expect(pulled.status).toBe(200);
    expect((await client.get(`/v2/${repo}/blobs/${image.layers[0].digest}`, partner)).status).toBe(200);
    const pushed = await pushImage(client, repo, makeImage({ layers: [10], seed: `${repo}-evil` }), 'evil', partner);
    expectOciError(pushed, 403, 'DENIED');
    expect(await tagsOf(repo)).toEqual(['v1']);
    // The token flow agrees: pull granted, push not.
    const token = (await tokenFor(client, partner, `repository:${repo}:pull,push`)).json().token;
    expect(claimsOf(token).access).toEqual([{ name: repo, actions: ['pull'] }]);
    expect((await client.get(`/v2/${repo}/manifests/v1`, bearer(token))).status).toBe(200);
  });

  test('GIVEN a repository policy with an explicit Deny WHEN the admin (allowed everything by its identity policy) pushes THEN 403, while pull still works', async () => {
    const client = new RegistryClient(main.url);
    const repo = `team/${fresh('locked')}`;
    const auth = await basic(ADMIN);
    expect((await pushImage(client, repo, makeImage({ layers: [300], seed: repo }), 'v1', auth)).status).toBe(201);
    await setRepositoryPolicy(repo, [{ Sid: 'Frozen', Effect: 'Deny', Principal: '*', Action: ['ecr:PutImage', 'ecr:InitiateLayerUpload', 'ecr:BatchDeleteImage'] }]);
    expectOciError(await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: auth }), 403, 'DENIED');
    const manifest = makeImage({ layers: [300], seed: repo }).manifest;
    expectOciError(await client.request('PUT', `/v2/${repo}/manifests/v2`, { headers: { ...auth, 'Content-Type': manifest.mediaType }, body: manifest.bytes }), 403, 'DENIED');
    expectOciError(await client.request('DELETE', `/v2/${repo}/manifests/v1`, { headers: auth }), 403, 'DENIED');
    expect((await client.get(`/v2/${repo}/manifests/v1`, auth)).status).toBe(200);
    expect(await tagsOf(repo)).toEqual(['v1']);
  });

  test('GIVEN several repositories WHEN each identity lists the catalog THEN it sees only what it may describe', async () => {
    const client = new RegistryClient(main.url);
    const admin = (await client.get('/v2/_catalog?n=1000', await basic(ADMIN))).json().repositories as string[];
    expect(admin.some((r) => r.startsWith('team/'))).toBe(true);
    expect(admin.some((r) => r.startsWith('ci/'))).toBe(true);
    const ci = (await client.get('/v2/_catalog?n=1000', await basic(CI))).json().repositories as string[];
    expect(ci.length).toBeGreaterThan(0);
    expect(ci.every((r) => r.startsWith('ci/'))).toBe(true);
    expect((await client.get('/v2/_catalog?n=1000', await basic(OTHER))).json().repositories).toEqual([]);
    expectOciError(await client.get('/v2/_catalog'), 401, 'UNAUTHORIZED');
  });
});

describe('public repositories', () => {
  test('GIVEN a repository whose policy allows Principal "*" the pull actions WHEN anonymous clients pull THEN it works, while anonymous push gets 401 with the Bearer challenge', async () => {
    const client = new RegistryClient(main.url);
    const repo = `pub/${fresh('app')}`;
    const image = makeImage({ layers: [900], seed: repo });
    expect((await pushImage(client, repo, image, 'v1', await basic(ADMIN))).status).toBe(201);
    // Before the policy: anonymous pull gets the challenge with the pull scope.
    const before = await client.get(`/v2/${repo}/manifests/v1`);
    expectOciError(before, 401, 'UNAUTHORIZED');
    expect(before.headers.get('www-authenticate')).toMatch(challengeRe(main.host));
    expect(before.headers.get('www-authenticate')).toContain(`scope="repository:${repo}:pull"`);

    await setRepositoryPolicy(repo, [{ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: PULL_ACTIONS }]);
    const pulled = await client.get(`/v2/${repo}/manifests/v1`, { Accept: image.manifest.mediaType });
    expect(pulled.status).toBe(200);
    const layer = await client.get(`/v2/${repo}/blobs/${image.layers[0].digest}`);
    expect(layer.status).toBe(200);
    expect(sha256(layer.body)).toBe(image.layers[0].digest);

    const push = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
    expectOciError(push, 401, 'UNAUTHORIZED');
    expect(push.headers.get('www-authenticate')).toMatch(challengeRe(main.host));
    expect(push.headers.get('www-authenticate')).toContain(`scope="repository:${repo}:pull,push"`);

    // docker's way: an anonymous token, granted pull only.
    const token = await tokenFor(client, {}, `repository:${repo}:pull,push`);
    expect(token.status).toBe(200);
    expect(claimsOf(token.json().token)).toMatchObject({ sub: 'anonymous', access: [{ name: repo, actions: ['pull'] }] });
    expect((await client.get(`/v2/${repo}/manifests/v1`, bearer(token.json().token))).status).toBe(200);
    expectOciError(await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: bearer(token.json().token) }), 401, 'UNAUTHORIZED');
    expect(await tagsOf(repo)).toEqual(['v1']);
  });

  test('GIVEN anonymous pulls over the limit WHEN they keep coming THEN 429 TOOMANYREQUESTS with Retry-After, while identified pulls go on', async () => {
    const stack = await startStack({ rateLimit: { burst: 3, perSecond: 0.05 } });
    const client = new RegistryClient(stack.url);
    const repo = `pub/${fresh('limited')}`;
    const image = makeImage({ layers: [100], seed: repo });
    const admin = await basic(ADMIN);
    expect((await pushImage(client, repo, image, 'v1', admin)).status).toBe(201);
    await setRepositoryPolicy(repo, [{ Effect: 'Allow', Principal: '*', Action: PULL_ACTIONS }]);
    for (let i = 0; i < 3; i++) expect((await client.get(`/v2/${repo}/manifests/v1`)).status).toBe(200);
    const limited = await client.get(`/v2/${repo}/manifests/v1`);
    expectOciError(limited, 429, 'TOOMANYREQUESTS');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await client.get(`/v2/${repo}/manifests/v1`, admin)).status).toBe(200);
  });
});

describe('cross-repository mounts', () => {
  test('GIVEN a blob in a repository the caller cannot pull WHEN it mounts from there THEN 202 (a plain upload), and the blob is not linked', async () => {
    const client = new RegistryClient(main.url);
    const source = `team/${fresh('secret')}`;
    const image = makeImage({ layers: [4096], seed: source });
    const admin = await basic(ADMIN);
    expect((await pushImage(client, source, image, 'v1', admin)).status).toBe(201);
    const target = `ci/${fresh('mount')}`;
    const ci = await basic(CI);
    const digest = image.layers[0].digest;
    for (const query of [`mount=${digest}&from=${source}`, `mount=${digest}`, `mount=${digest}&from=team/does-not-exist`]) {
      const res = await client.request('POST', `/v2/${target}/blobs/uploads/?${query}`, { headers: ci });
      expect(res.status).toBe(202);
      expect(res.headers.get('docker-content-digest')).toBeNull();
    }
    // CI may check layer availability in its own repository: the blob is not there.
    expect((await client.head(`/v2/${target}/blobs/${digest}`, ci)).status).toBe(404);
    // The admin, who may read the source, mounts it.
    const mounted = await client.request('POST', `/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`, { headers: admin });
    expect(mounted.status).toBe(201);
  });
});

describe('attacks on tokens', () => {
  const victim = () => `ci/${fresh('victim')}`;

  async function expectNothingWritten(headers: Record<string, string>, repo: string, status: number, code: string): Promise<void> {
    const client = new RegistryClient(main.url);
    const blob = blobOf(pseudoRandomBytes(128, repo));
    expectOciError(await client.request('POST', `/v2/${repo}/blobs/uploads/`, { headers }), status, code);
    expectOciError(await client.request('POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: blob.bytes }), status, code);
    const manifest = makeImage({ layers: [1], seed: repo }).manifest;
    expectOciError(await client.request('PUT', `/v2/${repo}/manifests/v1`, { headers: { ...headers, 'Content-Type': manifest.mediaType }, body: manifest.bytes }), status, code);
    expect(await tagsOf(repo)).toBeNull();
  }

  test('GIVEN expired, forged, re-signed, signature-stripped, truncated and tampered login tokens WHEN used THEN 401 UNAUTHORIZED and nothing is written', async () => {
    const good = await loginToken(CI);
    const [header, claims, signature] = good.split('.');
    const otherKey = new RegistryTokens(new Ed25519TokenSigner(Ed25519TokenSigner.generatePem(), 'test-key'));
    const resigned = (await otherKey.issueLogin(CI)).token;
    const expired = await loginToken(CI, Date.now() - 13 * 60 * 60 * 1000);
    const tamperedClaims = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), sub: ADMIN.arn })).toString('base64url');
    const noneAlg = Buffer.from(JSON.stringify({ alg: 'none', kid: 'test-key', typ: 'JWT' })).toString('base64url');
    const bad = {
      expired,
      resigned,
      stripped: `${header}.${claims}.`,
      twoParts: `${header}.${claims}`,
      truncated: good.slice(0, -6),
      tampered: `${header}.${tamperedClaims}.${signature}`,
      noneAlg: `${noneAlg}.${claims}.`,
      garbage: 'x'.repeat(9000),
    };
    const client = new RegistryClient(main.url);
    for (const [what, token] of Object.entries(bad)) {
      const res = await client.get('/v2/', basicFor(token));
      expect(`${what}: ${res.status}`).toBe(`${what}: 401`);
      expectOciError(res, 401, 'UNAUTHORIZED');
      expect(res.text()).not.toContain(token.slice(0, 40));
      expectOciError(await client.get('/v2/', bearer(token)), 401, 'UNAUTHORIZED');
      expectOciError(await tokenFor(client, basicFor(token), 'repository:ci/x:push'), 401, 'UNAUTHORIZED');
      await expectNothingWritten(basicFor(token), victim(), 401, 'UNAUTHORIZED');
    }
  });

  test('GIVEN tokens of the wrong kind or account WHEN used THEN refused: a login token as Bearer, an access token as Basic, a claim whose account is not the ARN\'s, another account\'s login', async () => {
    const client = new RegistryClient(main.url);
    const login = await loginToken(CI);
    const access = (await tokens.issueAccess(CI, [{ name: 'ci/anything', actions: ['push'] }])).token;
    await expectNothingWritten(bearer(login), victim(), 401, 'UNAUTHORIZED');
    await expectNothingWritten(basicFor(access), victim(), 401, 'UNAUTHORIZED');
    // Correctly signed, but the account claim does not match the ARN: refused outright.
    const mismatched = (await tokens.issueLogin({ arn: CI.arn, account: OTHER_ACCOUNT })).token;
    expectOciError(await client.get('/v2/', basicFor(mismatched)), 401, 'UNAUTHORIZED');
    // A valid login of another account: authenticated, but not allowed to write here.
    await expectNothingWritten(await basic(OTHER), victim(), 403, 'DENIED');
  });

  test('GIVEN an access token scoped to repository A WHEN used on repository B THEN 401 insufficient_scope and nothing written to B', async () => {
    const client = new RegistryClient(main.url);
    const a = `ci/${fresh('a')}`;
    const b = victim();
    const token = (await tokenFor(client, await basic(CI), `repository:${a}:pull,push`)).json().token;
    expect((await pushImage(client, a, makeImage({ layers: [64], seed: a }), 'v1', bearer(token))).status).toBe(201);
    await expectNothingWritten(bearer(token), b, 401, 'UNAUTHORIZED');
    // Hand-made with the real key but for an anonymous subject: still only policies' worth.
    const anonymousPush = (await tokens.issueAccess({ arn: 'anonymous', account: '' }, [{ name: b, actions: ['push'] }])).token;
    await expectNothingWritten(bearer(anonymousPush), b, 401, 'UNAUTHORIZED');
  });

  test('GIVEN an upload Location WHEN it is replayed for another repository (same host, or the ingest host with its upload token) THEN refused and nothing written', async () => {
    const client = new RegistryClient(main.url);
    const ci = await basic(CI);
    const admin = await basic(ADMIN);
    const own = `ci/${fresh('own')}`;
    const start = await client.request('POST', `/v2/${own}/blobs/uploads/`, { headers: ci });
    expect(start.status).toBe(202);
    const id = start.headers.get('location')!.split('/').pop()!;
    const target = `team/${fresh('target')}`;
    expect((await pushImage(client, target, makeImage({ layers: [32], seed: target }), 'v1', admin)).status).toBe(201);
    // The CI identity may not write to team/: 403 before the upload is even looked up.
    expectOciError(await client.request('PATCH', `/v2/${target}/blobs/uploads/${id}`, { headers: ci, body: Buffer.from('evil') }), 403, 'DENIED');
    // Someone who may write there still cannot use another repository's upload.
    expectOciError(await client.request('PATCH', `/v2/${target}/blobs/uploads/${id}`, { headers: admin, body: Buffer.from('evil') }), 404, 'BLOB_UPLOAD_UNKNOWN');
    const status = await client.request('GET', `/v2/${own}/blobs/uploads/${id}`, { headers: ci });
    expect(status.headers.get('range')).toBe('0-0');

    // The ingest split: the upload token is bound to its repository and upload.
    const split = await startStack({ ingest: true });
    const api = new RegistryClient(split.url);
    const started = await api.request('POST', `/v2/${own}/blobs/uploads/`, { headers: ci });
    const location = new URL(started.headers.get('location')!);
    expect(location.origin).toBe(split.ingestUrl);
    const replay = new URL(location.toString().replace(`/v2/${own}/`, `/v2/${target}/`));
    const ingest = new RegistryClient(split.ingestUrl!);
    const blob = blobOf(pseudoRandomBytes(64, 'replay'));
    expectOciError(await ingest.request('PUT', withQuery(replay.toString(), { digest: blob.digest }), { body: blob.bytes }), 401, 'UNAUTHORIZED');
    expect((await client.head(`/v2/${target}/blobs/${blob.digest}`, admin)).status).toBe(404);
    expect(await tagsOf(target)).toEqual(['v1']);
  });
});

// ---- real clients against the in-process registry (runAsync: a synchronous child would deadlock) ----

describeWithBinaries(['skopeo'], 'skopeo with AWS:<token> credentials', () => {
  test('GIVEN a login token WHEN skopeo copies with --creds AWS:<token> (token flow behind the Bearer challenge) THEN push and pull work; the second account is denied', async () => {
    const image = makeImage({ layers: [64 * 1024], seed: fresh('skopeo') });
    const layout = join(work.path, fresh('layout'));
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const repo = `ci/${fresh('skopeo')}`;
    const ref = `docker://${main.host}/${repo}:v1`;
    await runAsync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${await loginToken(CI)}`, `oci:${layout}:v1`, ref]);
    expect(await tagsOf(repo)).toEqual(['v1']);
    const raw = await runAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `AWS:${await loginToken(ADMIN)}`, ref]);
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    await expect(runAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `AWS:${await loginToken(OTHER)}`, ref])).rejects.toThrow();
  });
});

describeWithBinaries(['podman'], 'podman login', () => {
  test('GIVEN a login token WHEN podman login -u AWS --password-stdin THEN it logs in; a wrong token is refused', async () => {
    const authFile = join(work.path, 'podman-auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: {} }));
    const env = { REGISTRY_AUTH_FILE: authFile };
    const token = await loginToken(ADMIN);
    const out = await runAsync('sh', ['-c', `printf %s "$T" | podman login --tls-verify=false -u AWS --password-stdin ${main.host}`], { env: { ...env, T: token } });
    expect(out).toMatch(/Login Succeeded/i);
    await expect(runAsync('sh', ['-c', `printf %s "$T" | podman login --tls-verify=false -u AWS --password-stdin ${main.host}`], { env: { ...env, T: token.slice(0, -3) } })).rejects.toThrow();
  });
});

// ---- real clients against `berth serve --config` (a child process: synchronous `run` is safe) ----

describeWithBinaries(['dockerd', 'docker', 'ctr', 'skopeo', '/usr/bin/aws'], 'docker and ctr against berth serve --config', () => {
  let served: RegistryProcess;
  let daemon: DockerDaemon;
  let serveWork: ReturnType<typeof scratchDir>;
  let serveTokens: RegistryTokens;
  const ADMIN_KEY = { accessKeyId: 'AKIAADMINEXAMPLE0001', secretAccessKey: 'admin-secret-key-0123456789' };
  const docker = (...args: string[]) => run('docker', args, { env: daemon.env });

  beforeAll(async () => {
    serveWork = scratchDir('access-serve');
    const dataDir = join(serveWork.path, 'data');
    mkdirSync(dataDir, { recursive: true });
    // The server signs with the data directory's key; the test issues login tokens with the same key.
    serveTokens = new RegistryTokens(loadOrCreateTokenSigner(dataDir));
    const config = join(serveWork.path, 'berth.json');
    writeFileSync(
      config,
      JSON.stringify({
        registry: { account: ACCOUNT, regions: [REGION] },
        identities: [{ ...ADMIN_KEY, arn: ADMIN.arn, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } }],
      }),
    );
    [served, daemon] = await Promise.all([startRegistryProcess(dataDir, 0, ['--config', config]), startDockerd(join(serveWork.path, 'dockerd'))]);
  });
  afterAll(async () => {
    await daemon?.stop();
    await served?.stop();
    serveWork?.remove();
  });

  test('GIVEN aws ecr get-login-password (the AWS CLI v2) WHEN docker logs in with it, pushes and pulls, and an anonymous docker pulls a public repository THEN all work; anonymous push is refused', async () => {
    const repo = `${served.host}/pub/${fresh('docker')}`;
    const image = makeImage({ layers: [32 * 1024], seed: repo });
    const layout = join(serveWork.path, fresh('layout'));
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const archive = join(serveWork.path, `${fresh('image')}.tar`);
    run('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:${repo}:v1`]);
    docker('load', '-i', archive);
    // The unmodified AWS CLI v2 (Debian's; a v1 may be first on PATH) with only --endpoint-url changed.
    const token = run('/usr/bin/aws', ['ecr', 'get-login-password', '--region', REGION, '--endpoint-url', served.url], {
      env: {
        AWS_ACCESS_KEY_ID: ADMIN_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: ADMIN_KEY.secretAccessKey,
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    }).trim();
    expect(run('docker', ['login', '-u', 'AWS', '--password-stdin', served.host], { env: daemon.env, input: token })).toMatch(/Login Succeeded/);
    docker('push', `${repo}:v1`);
    docker('rmi', `${repo}:v1`);
    docker('pull', `${repo}:v1`);
    docker('logout', served.host);
    // Not public yet: an anonymous pull is refused.
    docker('rmi', `${repo}:v1`);
    expect(() => docker('pull', `${repo}:v1`)).toThrow();
    // Make it public through the ECR API, then pull anonymously.
    const ecr = new ECRClient({ endpoint: served.url, region: REGION, credentials: ADMIN_KEY });
    await ecr.send(
      new SetRepositoryPolicyCommand({
        repositoryName: repo.slice(served.host.length + 1),
        policyText: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: PULL_ACTIONS }] }),
      }),
    );
    ecr.destroy();
    docker('pull', `${repo}:v1`);
    docker('tag', `${repo}:v1`, `${repo}:anon`);
    expect(() => docker('push', `${repo}:anon`)).toThrow();
  });

  test('GIVEN docker pushed an image WHEN DescribeImages and BatchDeleteImage are called THEN sizes, tags and media types match what docker pushed, and docker cannot pull it afterwards', async () => {
    const name = `ci/${fresh('described')}`;
    const repo = `${served.host}/${name}`;
    const image = makeImage({ layers: [48 * 1024, 8 * 1024], seed: repo });
    const layout = join(serveWork.path, fresh('layout'));
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const archive = join(serveWork.path, `${fresh('image')}.tar`);
    run('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:${repo}:v1`]);
    docker('load', '-i', archive);
    const token = (await serveTokens.issueLogin(ADMIN)).token;
    run('docker', ['login', '-u', 'AWS', '--password-stdin', served.host], { env: daemon.env, input: token });
    const pushed = docker('push', `${repo}:v1`);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)![1];

    const manifest = JSON.parse(Buffer.from(await (await fetch(`${served.url}/v2/${name}/manifests/${digest}`, { headers: basicFor(token) })).arrayBuffer()).toString());
    const expectedSize = manifest.config.size + manifest.layers.reduce((n: number, l: { size: number }) => n + l.size, 0);
    const ecr = new ECRClient({ endpoint: served.url, region: REGION, credentials: ADMIN_KEY });
    try {
      const described = await ecr.send(new DescribeImagesCommand({ repositoryName: name }));
      expect(described.imageDetails).toHaveLength(1);
      expect(described.imageDetails![0]).toMatchObject({
        imageDigest: digest,
        imageTags: ['v1'],
        imageSizeInBytes: expectedSize,
        imageManifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        artifactMediaType: 'application/vnd.docker.container.image.v1+json',
      });
      const deleted = await ecr.send(new BatchDeleteImageCommand({ repositoryName: name, imageIds: [{ imageDigest: digest }] }));
      expect(deleted.imageIds).toEqual([expect.objectContaining({ imageDigest: digest })]);
      expect(deleted.failures).toEqual([]);
    } finally {
      ecr.destroy();
    }
    docker('rmi', `${repo}:v1`);
    expect(() => docker('pull', `${repo}:v1`)).toThrow(/manifest unknown|not found/i);
    docker('logout', served.host);
  });

  test('GIVEN a login token WHEN ctr pushes with --user AWS:<token> (token flow, POST) THEN the image arrives', async () => {
    const ref = `${served.host}/ci/${fresh('ctr')}:v1`;
    const image = makeImage({ layers: [16 * 1024], seed: ref });
    const layout = join(serveWork.path, fresh('layout'));
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const archive = join(serveWork.path, `${fresh('oci')}.tar`);
    run('skopeo', ['copy', `oci:${layout}:v1`, `oci-archive:${archive}:v1`]);
    const ctr = (...args: string[]) => run('ctr', ['--address', daemon.containerdAddress, '-n', 'berth-access', ...args]);
    ctr('images', 'import', '--index-name', ref, archive);
    const token = (await serveTokens.issueLogin(ADMIN)).token;
    ctr('images', 'push', '--plain-http', '--user', `AWS:${token}`, ref);
    const res = await fetch(`${served.url}/v2/${ref.slice(served.host.length + 1).replace(':v1', '')}/manifests/v1`, { headers: { ...basicFor(token), Accept: `${image.manifest.mediaType}, application/vnd.oci.image.index.v1+json` } });
    expect(res.status).toBe(200);
    // ctr pushes what it imported (an index around the fixture's manifest).
    expect(JSON.parse(Buffer.from(await res.arrayBuffer()).toString()).schemaVersion).toBe(2);
    ctr('images', 'rm', ref);
  });
});
