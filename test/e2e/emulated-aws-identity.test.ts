/**
 * Identity and access in the emulated AWS mode (`berth serve --emulate-aws --config FILE`, child
 * processes as `npm start` runs them), with real clients: `berth ecr get-login-password --execute-api`
 * (SigV4 for `execute-api`, checked by the API Gateway simulator's IAM authorization) piped into
 * `docker login`, docker push and pull, skopeo `--creds AWS:<token>`, podman login, ctr `--user
 * AWS:<token>` (the token flow's POST on the gateway's `/v2/token` resource, which has no
 * authorizer), a second account (admitted by the API's resource policy, as the stack's) denied push
 * and allowed pull once a repository policy names it, a
 * public repository pulled anonymously by docker (`--public-repositories`: the authorizer without
 * identity source), and attacks on tokens and on SigV4, each refused with nothing written.
 *
 * Stand-ins, named as such: IAM's authentication is the simulator's SigV4 check against the
 * configured secrets, IAM's SimulatePrincipalPolicy is LocalPolicySimulatorStandIn fed with the
 * identities' policies, and KMS is LocalKmsStandIn (a P-256 key in `<data-dir>/keys/`). The test
 * reads that key to make tokens the registry did not issue (expired ones). The second account logs in
 * with GetAuthorizationToken as ECR lets it (its own account allowed the call); this registry's
 * policies decide what it may then pull or push.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand, GetRepositoryPolicyCommand, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { HttpRequest as SmithyHttpRequest, RequestSigningArguments } from '@smithy/types';
import { describeWithBinaries, hasBinary, runAsync } from '../support/clients';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { RegistryClient, expectOciError, withQuery } from '../support/http-client';
import { blobOf, imageBlobs, makeImage, pseudoRandomBytes, sha256, writeLayout, type Image } from '../support/oci-fixtures';
import { RegistryTokens } from '../../lambdas/core/registry-tokens';
import { KmsTokenSigner } from '../../lambdas/aws/kms-token-signer';
import { LocalKmsStandIn, loadOrCreateKmsStandIn } from '../../lambdas/emulators/kms-stand-in';

const ACCOUNT = '111111111111';
const PARTNER_ACCOUNT = '222222222222';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAEMUADMINEXAMPLE1', secretAccessKey: 'emulated-admin-secret-0123456789' };
const PARTNER = { accessKeyId: 'AKIAEMUPARTNEREXAMP1', secretAccessKey: 'emulated-partner-secret-012345678' };
const ADMIN_ARN = `arn:aws:iam::${ACCOUNT}:user/admin`;
const PARTNER_ARN = `arn:aws:iam::${PARTNER_ACCOUNT}:user/partner`;
const PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
const AWS_CLI = '/usr/bin/aws';
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
/** No shared or SSO configuration: only the keys the test passes. */
const CLEAN_AWS_ENV = { AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };

interface Emulator {
  process: RegistryProcess;
  url: string;
  host: string;
  dataDir: string;
  /** Tokens signed with the emulator's KMS stand-in key (what the registry signs with). */
  tokens: RegistryTokens;
  kms: LocalKmsStandIn;
}

async function startEmulator(dir: string, config: string, extra: string[] = []): Promise<Emulator> {
  const dataDir = join(dir, 'data');
  const child = await startRegistryProcess(dataDir, 0, ['--emulate-aws', '--config', config, ...extra]);
  // The same key file the emulator signs with (created by it on start).
  const kms = loadOrCreateKmsStandIn(dataDir, { region: REGION, account: ACCOUNT });
  expect(child.banner).toContain(kms.keyId);
  return { process: child, url: child.url, host: child.host, dataDir, kms, tokens: new RegistryTokens(new KmsTokenSigner(kms, kms.keyId)) };
}

/** @aws-sdk/client-ecr signing for `execute-api` (what API Gateway's IAM authorization checks), as lambdas/cli/ecr/ecr-login.ts does. */
function ecr(e: Emulator, credentials = ADMIN, extra: Partial<ConstructorParameters<typeof ECRClient>[0]> = {}): ECRClient {
  const signer = new SignatureV4({ service: 'execute-api', region: REGION, sha256: Sha256, credentials });
  return new ECRClient({
    region: REGION,
    endpoint: e.url,
    credentials,
    maxAttempts: 1,
    signer: async () => ({ sign: (request: SmithyHttpRequest, args?: RequestSigningArguments) => signer.sign(request, { ...args, signingService: 'execute-api' }) }),
    ...extra,
  });
}

const berthCli = (args: string[]) => [process.execPath, '--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args];
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const basicFor = (token: string) => ({ Authorization: `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}` });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

describeWithBinaries(['java', 'dockerd', 'docker', 'ctr', 'skopeo'], 'emulated AWS: identity and access through the API Gateway simulator, the authorizer and the handler', () => {
  let work: ReturnType<typeof scratchDir>;
  let guarded: Emulator;
  let open: Emulator;
  let daemon: DockerDaemon;
  let counter = 0;
  const fresh = (e: Emulator, what: string) => `${e.host}/team/${what}-${process.pid}-${++counter}`;
  const docker = (args: string[]) => runAsync('docker', args, { env: daemon.env });
  const skopeo = (...args: string[]) => runAsync('skopeo', args);
  const ctr = (...args: string[]) => runAsync('ctr', ['--address', daemon.containerdAddress, '-n', 'berth-emulated-identity', ...args]);

  beforeAll(async () => {
    work = scratchDir('emulated-identity');
    const config = join(work.path, 'identities.json');
    writeFileSync(
      config,
      JSON.stringify({
        registry: { account: ACCOUNT, regions: [REGION] },
        identities: [
          { name: 'admin', ...ADMIN, arn: ADMIN_ARN, policy: ALLOW_ALL },
          // The partner's own identity policy allows it everything; this registry's resource policies decide.
          { name: 'partner', ...PARTNER, arn: PARTNER_ARN, policy: ALLOW_ALL },
        ],
      }),
      { mode: 0o600 },
    );
    // Each is kept as soon as it runs, so that afterAll stops it even when another failed to start.
    const started = await Promise.allSettled([
      startEmulator(join(work.path, 'guarded'), config).then((e) => (guarded = e)),
      startEmulator(join(work.path, 'open'), config, ['--public-repositories']).then((e) => (open = e)),
      startDockerd(join(work.path, 'dockerd')).then((d) => (daemon = d)),
    ]);
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
  }, 120_000);
  afterAll(async () => {
    await daemon?.stop();
    await guarded?.process.stop();
    await open?.process.stop();
    work?.remove();
  });

  /** `berth ecr get-login-password --execute-api` with the given keys (the default credential chain reads them from the environment). */
  const loginPassword = async (e: Emulator, credentials = ADMIN) =>
    (
      await runAsync(berthCli([])[0], [...berthCli([]).slice(1), 'ecr', 'get-login-password', '--execute-api', '--endpoint-url', e.url, '--region', REGION], {
        env: { ...CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
      })
    ).trim();

  /** An image loaded into the daemon as `<repo>:v1`. */
  async function loadImage(repo: string, seed: string): Promise<Image> {
    const image = makeImage({ layers: [48 * 1024, 1024], seed });
    const layout = join(work.path, `layout-${++counter}`);
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const archive = join(work.path, `image-${counter}.tar`);
    await skopeo('copy', `oci:${layout}:v1`, `docker-archive:${archive}:${repo}:v1`);
    await docker(['load', '-i', archive]);
    return image;
  }

  function layoutOf(image: Image): string {
    const dir = join(work.path, `layout-${++counter}`);
    writeLayout(dir, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    return dir;
  }

  /** Tags of a repository as the admin sees them; null when it does not exist. */
  async function tagsOf(e: Emulator, name: string): Promise<string[] | null> {
    const res = await new RegistryClient(e.url).get(`/v2/${name}/tags/list`, basicFor((await e.tokens.issueLogin({ arn: ADMIN_ARN, account: ACCOUNT })).token));
    if (res.status === 404) return null;
    expect(res.status).toBe(200);
    return res.json().tags;
  }

  test('GIVEN the admin keys WHEN berth ecr get-login-password --execute-api is piped into docker login THEN docker pushes and pulls through the emulator, with equal digests', async () => {
    const repo = fresh(guarded, 'docker');
    await loadImage(repo, repo);
    const login = await runAsync('sh', ['-c', `${berthCli(['ecr', 'get-login-password', '--execute-api', '--endpoint-url', guarded.url, '--region', REGION]).map(shellQuote).join(' ')} | docker login -u AWS --password-stdin ${guarded.host}`], {
      env: { ...daemon.env, ...CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey },
    });
    expect(login).toContain('Login Succeeded');
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(await docker(['push', `${repo}:v1`]))?.[1];
    expect(pushed).toBeDefined();
    await docker(['rmi', `${repo}:v1`]);
    const pulled = /Digest: (sha256:[0-9a-f]{64})/.exec(await docker(['pull', `${repo}:v1`]))?.[1];
    expect(pulled).toBe(pushed);
    await docker(['logout', guarded.host]);
    // The token names the caller IAM authenticated, and KMS signed it (ES256, the stand-in's key).
    const password = await loginPassword(guarded);
    expect(claimsOf(password)).toMatchObject({ kind: 'login', sub: ADMIN_ARN, acct: ACCOUNT });
    expect(JSON.parse(Buffer.from(password.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'ES256', kid: guarded.kms.keyId });
    // GetAuthorizationToken's answer, through the SDK: proxyEndpoint is the emulator.
    const out = await ecr(guarded).send(new GetAuthorizationTokenCommand({}));
    expect(out.authorizationData?.[0].proxyEndpoint).toBe(guarded.url);
  });

  test('GIVEN a login token WHEN skopeo copies with --creds AWS:<token> and podman logs in THEN both work; a truncated token is refused', async () => {
    const password = await loginPassword(guarded);
    const image = makeImage({ layers: [16 * 1024], seed: `skopeo-${process.pid}` });
    const ref = `docker://${fresh(guarded, 'skopeo')}:v1`;
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${password}`, `oci:${layoutOf(image)}:v1`, ref);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', '--creds', `AWS:${password}`, ref);
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    await expect(skopeo('inspect', '--raw', '--tls-verify=false', '--creds', `AWS:${password.slice(0, -4)}`, ref)).rejects.toThrow();

    if (hasBinary('podman')) {
      const authFile = join(work.path, 'podman-auth.json');
      writeFileSync(authFile, JSON.stringify({ auths: {} }));
      const podmanLogin = (token: string) =>
        runAsync('sh', ['-c', `printf %s "$T" | podman login --tls-verify=false -u AWS --password-stdin ${guarded.host}`], { env: { REGISTRY_AUTH_FILE: authFile, T: token } });
      expect(await podmanLogin(password)).toMatch(/Login Succeeded/i);
      await expect(podmanLogin(password.slice(0, -3))).rejects.toThrow();
    } else {
      process.stdout.write('podman not installed: podman login through the emulator not shown\n');
    }
  });

  test('GIVEN a login token WHEN ctr pushes and pulls with --user AWS:<token> (token flow: POST /v2/token, a resource without authorizer) THEN the image arrives intact', async () => {
    const password = await loginPassword(guarded);
    const ref = `${fresh(guarded, 'ctr')}:v1`;
    const image = makeImage({ layers: [8 * 1024], seed: ref });
    const archive = join(work.path, `oci-${++counter}.tar`);
    await skopeo('copy', `oci:${layoutOf(image)}:v1`, `oci-archive:${archive}:v1`);
    await ctr('images', 'import', '--no-unpack', '--index-name', ref, archive);
    const before = (await (await fetch(`${guarded.url}/__berth/stats`)).json()) as { handled: { method: string; path: string; status: number }[] };
    await ctr('images', 'push', '--plain-http', '--user', `AWS:${password}`, ref);
    const after = (await (await fetch(`${guarded.url}/__berth/stats`)).json()) as { handled: { method: string; path: string; status: number }[] };
    // containerd asked the token endpoint with a form (POST), and it answered.
    expect(after.handled.slice(before.handled.length).filter((h) => h.path === '/v2/token' && h.method === 'POST' && h.status === 200).length).toBeGreaterThan(0);
    await ctr('images', 'rm', '--sync', ref);
    await ctr('images', 'pull', '--plain-http', '--user', `AWS:${password}`, ref);
    expect(await ctr('images', 'ls')).toContain(ref);
    // Without credentials, the push is refused at the gateway (401, and the token endpoint grants nobody a push).
    const anon = ref.replace(':v1', ':anon');
    await ctr('images', 'tag', ref, anon);
    await expect(ctr('images', 'push', '--plain-http', anon)).rejects.toThrow(/401|unauthorized|authorization failed/i);
    await ctr('images', 'rm', '--sync', ref, anon);
  });

  test('GIVEN a second account WHEN it logs in through the control plane, pushes and pulls THEN API Gateway lets its signed call through, it gets a login token, push is 403 DENIED and pull is refused, until SetRepositoryPolicy (SDK, execute-api signer) names it: then it pulls, and still cannot push', async () => {
    // Issue 10 point 1, the one test whose assertion changes: it asserted API Gateway's 403
    // AccessDeniedException (execute-api:Invoke) for a caller of another account, while the stack has a
    // resource policy that lets every account reach the API (lambdas/contracts/api-gateway.ts, which
    // lib/registry-api.ts and the simulator both build from). Now the call reaches the handler, and
    // what it answers is the registry's own decision.
    const statsOf = async () => (await (await fetch(`${guarded.url}/__berth/stats`)).json()) as { iamRefusals: number; handled: { method: string; path: string }[] };
    const before = await statsOf();
    const answer = await ecr(guarded, PARTNER).send(new GetAuthorizationTokenCommand({}));
    const after = await statsOf();
    expect(after.iamRefusals).toBe(before.iamRefusals);
    expect(after.handled.at(-1)).toMatchObject({ method: 'POST', path: '/' });
    // Its own login token: the registry vouches for who it is, not for what it may do here.
    const partner = Buffer.from(answer.authorizationData![0].authorizationToken!, 'base64').toString('utf8').replace(/^AWS:/, '');
    expect((await guarded.tokens.verify(partner))?.sub).toBe(PARTNER_ARN);

    const repo = fresh(guarded, 'shared');
    const name = repo.slice(guarded.host.length + 1);
    const image = await loadImage(repo, repo);
    await runAsync('sh', ['-c', `printf %s "$T" | docker login -u AWS --password-stdin ${guarded.host}`], { env: { ...daemon.env, T: await loginPassword(guarded) } });
    await docker(['push', `${repo}:v1`]);
    await docker(['logout', guarded.host]);

    const api = new RegistryClient(guarded.url);
    expectOciError(await api.request('POST', `/v2/${name}/blobs/uploads/`, { headers: basicFor(partner) }), 403, 'DENIED');
    expectOciError(await api.get(`/v2/${name}/manifests/v1`, basicFor(partner)), 403, 'DENIED');
    await runAsync('sh', ['-c', `printf %s "$T" | docker login -u AWS --password-stdin ${guarded.host}`], { env: { ...daemon.env, T: partner } });
    await docker(['tag', `${repo}:v1`, `${repo}:partner`]);
    await expect(docker(['push', `${repo}:partner`])).rejects.toThrow(/denied/i);
    await docker(['rmi', `${repo}:v1`]);
    await expect(docker(['pull', `${repo}:v1`])).rejects.toThrow(/denied/i);

    const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Partner', Effect: 'Allow', Principal: { AWS: PARTNER_ARN }, Action: PULL_ACTIONS }] });
    const admin = ecr(guarded);
    expect(await admin.send(new SetRepositoryPolicyCommand({ repositoryName: name, policyText }))).toMatchObject({ registryId: ACCOUNT, repositoryName: name, policyText });
    admin.destroy();
    const pulled = /Digest: (sha256:[0-9a-f]{64})/.exec(await docker(['pull', `${repo}:v1`]))?.[1];
    expect(pulled).toBeDefined();
    expect((await docker(['image', 'inspect', '--format', '{{.Id}}', `${repo}:v1`])).trim()).toBe(image.config.digest);
    await expect(docker(['push', `${repo}:partner`])).rejects.toThrow(/denied/i);
    expect(await tagsOf(guarded, name)).toEqual(['v1']);
    await docker(['logout', guarded.host]);
    await docker(['rmi', `${repo}:v1`, `${repo}:partner`]);
  });

  test('GIVEN --public-repositories and a repository whose policy allows Principal "*" to pull WHEN docker pulls without login THEN it works; an anonymous push gets 401 with the Bearer challenge of the gateway response', async () => {
    const repo = fresh(open, 'public');
    const name = repo.slice(open.host.length + 1);
    await loadImage(repo, repo);
    await runAsync('sh', ['-c', `printf %s "$T" | docker login -u AWS --password-stdin ${open.host}`], { env: { ...daemon.env, T: await loginPassword(open) } });
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(await docker(['push', `${repo}:v1`]))?.[1];
    await docker(['logout', open.host]);
    await docker(['rmi', `${repo}:v1`]);
    // Not public yet: refused.
    await expect(docker(['pull', `${repo}:v1`])).rejects.toThrow();
    const admin = ecr(open);
    await admin.send(
      new SetRepositoryPolicyCommand({ repositoryName: name, policyText: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: PULL_ACTIONS }] }) }),
    );
    admin.destroy();
    expect(/Digest: (sha256:[0-9a-f]{64})/.exec(await docker(['pull', `${repo}:v1`]))?.[1]).toBe(pushed);

    const anonymous = await fetch(`${open.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer realm="${open.url}/v2/token",service="${open.host}"`);
    expect(((await anonymous.json()) as { errors: { code: string }[] }).errors[0].code).toBe('UNAUTHORIZED');
    await docker(['tag', `${repo}:v1`, `${repo}:anon`]);
    await expect(docker(['push', `${repo}:anon`])).rejects.toThrow();
    expect(await tagsOf(open, name)).toEqual(['v1']);
    await docker(['rmi', `${repo}:v1`, `${repo}:anon`]);
  });

  test('GIVEN expired, forged, re-signed and cross-repository tokens WHEN they push through the emulator THEN 401 UNAUTHORIZED and nothing is written', async () => {
    const admin = { arn: ADMIN_ARN, account: ACCOUNT };
    const good = (await guarded.tokens.issueLogin(admin)).token;
    const [header, claims, signature] = good.split('.');
    const expired = (await guarded.tokens.issueLogin(admin, Date.now() - 13 * 60 * 60 * 1000)).token;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claimsOf(good), sub: `arn:aws:iam::${ACCOUNT}:user/someone-else` })).toString('base64url')}.${signature}`;
    // Another P-256 key claiming the registry's key id.
    const other = new LocalKmsStandIn(LocalKmsStandIn.generatePem(), { region: REGION, account: ACCOUNT });
    const impostor = { sign: (i: Parameters<LocalKmsStandIn['sign']>[0]) => other.sign({ ...i, KeyId: other.keyId }), getPublicKey: () => other.getPublicKey({ KeyId: other.keyId }) };
    const resigned = (await new RegistryTokens(new KmsTokenSigner(impostor, guarded.kms.keyId)).issueLogin(admin)).token;
    expect(JSON.parse(Buffer.from(resigned.split('.')[0], 'base64url').toString()).kid).toBe(guarded.kms.keyId);

    const api = new RegistryClient(guarded.url);
    // An access token from the token endpoint for repository A, used on repository B.
    const a = `team/scoped-a-${process.pid}`;
    const scoped = await api.get(`/v2/token?${new URLSearchParams({ service: guarded.host, scope: `repository:${a}:pull,push` })}`, basicFor(good));
    expect(scoped.status).toBe(200);
    const accessToken = scoped.json().token as string;
    expect(claimsOf(accessToken).access).toEqual([{ name: a, actions: ['pull', 'push'] }]);

    const attempts: Record<string, Record<string, string>> = {
      expired: basicFor(expired),
      forged: basicFor(forged),
      resigned: basicFor(resigned),
      'signature stripped': basicFor(`${header}.${claims}.`),
      'cross-repository': { Authorization: `Bearer ${accessToken}` },
    };
    for (const [what, headers] of Object.entries(attempts)) {
      const victim = `team/victim-${process.pid}-${++counter}`;
      const blob = blobOf(pseudoRandomBytes(256, victim));
      const manifest = makeImage({ layers: [1], seed: victim }).manifest;
      const replies = [
        await api.request('POST', `/v2/${victim}/blobs/uploads/`, { headers }),
        await api.request('POST', `/v2/${victim}/blobs/uploads/?digest=${blob.digest}`, { headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: blob.bytes }),
        await api.request('PUT', `/v2/${victim}/manifests/v1`, { headers: { ...headers, 'Content-Type': manifest.mediaType }, body: manifest.bytes }),
      ];
      for (const reply of replies) {
        expect(`${what}: ${reply.status}`).toBe(`${what}: 401`);
        expectOciError(reply, 401, 'UNAUTHORIZED');
      }
      expect(await tagsOf(guarded, victim)).toBeNull();
      const withAdmin = await api.head(`/v2/${victim}/blobs/${blob.digest}`, basicFor(good));
      expect(withAdmin.status).toBe(404);
    }
    // The scoped token does what it was issued for.
    const mine = blobOf(pseudoRandomBytes(64, a));
    const start = await api.request('POST', `/v2/${a}/blobs/uploads/`, { headers: { Authorization: `Bearer ${accessToken}` } });
    expect(start.status).toBe(202);
    const put = await api.request('PUT', withQuery(start.headers.get('location')!, { digest: mine.digest }), { headers: { 'Content-Type': 'application/octet-stream' }, body: mine.bytes });
    expect(put.status).toBe(201);
  });

  test('GIVEN POST / behind the emulated IAM authorization WHEN a request is unsigned, signed with a wrong secret, signed 10 minutes ago, tampered with, or signed for ecr (the AWS CLI) THEN 403 with API Gateway\'s {"message"} and nothing is written', async () => {
    const repo = fresh(guarded, 'iam');
    const name = repo.slice(guarded.host.length + 1);
    const seed = blobOf(pseudoRandomBytes(32, name));
    const created = await new RegistryClient(guarded.url).request('POST', `/v2/${name}/blobs/uploads/?digest=${seed.digest}`, {
      headers: { ...basicFor(await loginPassword(guarded)), 'Content-Type': 'application/octet-stream' },
      body: seed.bytes,
    });
    expect(created.status).toBe(201);
    const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: PULL_ACTIONS }] });

    const unsigned = await fetch(`${guarded.url}/`, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' }, body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });

    const wrong = await ecr(guarded, { accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'not-the-secret-at-all-00000' }).send(new SetRepositoryPolicyCommand({ repositoryName: name, policyText })).catch((e) => e);
    expect(wrong.name).toBe('InvalidSignatureException');
    expect(wrong.$metadata.httpStatusCode).toBe(403);
    expect(wrong.message).toMatch(/^The request signature we calculated does not match the signature you provided/);

    // Ten minutes: inside ECR's 15-minute window, outside API Gateway's 5.
    const stale = await ecr(guarded, ADMIN, { systemClockOffset: -10 * 60 * 1000 }).send(new SetRepositoryPolicyCommand({ repositoryName: name, policyText })).catch((e) => e);
    expect(stale.name).toBe('InvalidSignatureException');
    expect(stale.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);

    // A correctly signed request whose body is changed on the way.
    const url = new URL(guarded.url);
    const body = JSON.stringify({ repositoryName: name, policyText });
    const signed = await new SignatureV4({ service: 'execute-api', region: REGION, sha256: Sha256, credentials: ADMIN }).sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy' },
      body,
    });
    const tampered = await fetch(`${guarded.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body: body.replace(PULL_ACTIONS[0], 'ecr:*') });
    expect(tampered.status).toBe(403);
    expect(tampered.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(((await tampered.json()) as { message: string }).message).toMatch(/^The request signature we calculated does not match/);

    // The AWS CLI signs for `ecr`: API Gateway refuses the service in the credential scope.
    const cli = spawnSync(AWS_CLI, ['--version'], { encoding: 'utf8' });
    if (cli.status === 0 && /^aws-cli\/2\./.test(cli.stdout + cli.stderr)) {
      await expect(
        runAsync(AWS_CLI, ['ecr', 'get-login-password', '--region', REGION, '--endpoint-url', guarded.url], {
          env: { ...CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_MAX_ATTEMPTS: '1' },
          timeoutMs: 60_000,
        }),
      ).rejects.toThrow(/InvalidSignatureException|Credential should be scoped to correct service: 'execute-api'/);
    } else {
      process.stdout.write(`${AWS_CLI} is not the AWS CLI v2: its refusal by the emulated IAM authorization not shown\n`);
    }

    // Nothing was written: the repository still has no policy, and the signed original goes through.
    await expect(ecr(guarded).send(new GetRepositoryPolicyCommand({ repositoryName: name }))).rejects.toMatchObject({ name: 'RepositoryPolicyNotFoundException' });
    const original = await fetch(`${guarded.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    expect(original.status).toBe(200);
    expect(((await original.json()) as { policyText: string }).policyText).toBe(policyText);
  });
});
