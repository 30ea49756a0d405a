/**
 * The ECR JSON API of `berth serve --config` with the real `@aws-sdk/client-ecr` and the real AWS CLI v2:
 * GetAuthorizationToken, repository and registry policies, errors as the SDK's typed exceptions, and
 * SigV4 checks (wrong secret, unknown key, stale clock).
 *
 * The server signs tokens with the Ed25519 key of its data directory; the deployed stack's KMS signer
 * (lambdas/aws/kms-token-signer.ts) cannot run here and is covered by a unit test with a stand-in.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  DeleteRegistryPolicyCommand,
  DeleteRepositoryPolicyCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetRegistryPolicyCommand,
  GetRepositoryPolicyCommand,
  InvalidParameterException,
  PutRegistryPolicyCommand,
  RegistryPolicyNotFoundException,
  RepositoryNotFoundException,
  RepositoryPolicyNotFoundException,
  SetRepositoryPolicyCommand,
} from '@aws-sdk/client-ecr';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { run, underCI } from '../support/clients';
import { verifySigV4 } from '../../lambdas/http/sigv4';

const ACCOUNT = '111122223333';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0001', secretAccessKey: 'admin-secret-access-key-example-0001' };
const READER = { accessKeyId: 'AKIAREADEREXAMPLE001', secretAccessKey: 'reader-secret-access-key-example-001' };
const READER_ARN = `arn:aws:iam::${ACCOUNT}:user/reader`;
const ENV_ADMIN = { accessKeyId: 'AKIAENVADMINEXAMPLE1', secretAccessKey: 'env-admin-secret-access-key-example' };
const AWS_CLI = '/usr/bin/aws';

const repositoryPolicy = (principal: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Pull', Effect: 'Allow', Principal: { AWS: principal }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }],
  });

let work: { path: string; remove: () => void };
let proc: RegistryProcess;

const client = (credentials = ADMIN, extra: Partial<ConstructorParameters<typeof ECRClient>[0]> = {}) =>
  new ECRClient({ region: 'us-east-1', endpoint: proc.url, credentials, maxAttempts: 1, ...extra });

/** Creates a repository the way repositories come to exist today: by pushing a blob into it. */
async function createRepository(name: string, password: string): Promise<void> {
  const data = Buffer.from(`content of ${name}`);
  const digest = `sha256:${require('node:crypto').createHash('sha256').update(data).digest('hex')}`;
  const res = await fetch(`${proc.url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: data,
    headers: { 'Content-Type': 'application/octet-stream', Authorization: `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}` },
  });
  expect(res.status).toBe(201);
}

async function loginPassword(credentials = ADMIN): Promise<string> {
  const out = await client(credentials).send(new GetAuthorizationTokenCommand({}));
  return Buffer.from(out.authorizationData![0].authorizationToken!, 'base64').toString().slice('AWS:'.length);
}

beforeAll(async () => {
  work = scratchDir('ecr-api');
  const config = join(work.path, 'identities.json');
  writeFileSync(
    config,
    JSON.stringify({
      registry: { account: ACCOUNT, regions: ['us-east-1', 'eu-west-1'] },
      identities: [
        { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } },
        {
          name: 'reader',
          ...READER,
          arn: READER_ARN,
          policy: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: ['ecr:GetAuthorizationToken', 'ecr:GetRepositoryPolicy'], Resource: '*' }],
          },
        },
      ],
    }),
    { mode: 0o600 },
  );
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config]);
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('ECR API with @aws-sdk/client-ecr against berth serve --config', () => {
  test('GIVEN a configured key WHEN GetAuthorizationToken THEN a 12-hour AWS:<jwt> token for this registry, signed for the caller', async () => {
    const before = Date.now();
    const out = await client().send(new GetAuthorizationTokenCommand({}));
    expect(out.authorizationData).toHaveLength(1);
    const data = out.authorizationData![0];
    expect(data.expiresAt).toBeInstanceOf(Date);
    const twelveHours = 12 * 60 * 60 * 1000;
    expect(data.expiresAt!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + twelveHours - 1000);
    expect(data.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + twelveHours + 1000);
    expect(data.proxyEndpoint).toBe(proc.url);
    const decoded = Buffer.from(data.authorizationToken!, 'base64').toString('utf8');
    expect(decoded).toMatch(/^AWS:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const claims = JSON.parse(Buffer.from(decoded.slice(4).split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ kind: 'login', sub: `arn:aws:iam::${ACCOUNT}:user/admin`, acct: ACCOUNT });
    expect(claims.exp - claims.iat).toBe(12 * 60 * 60);
  });

  test('GIVEN the token key WHEN looked at on disk THEN it is in <data-dir>/keys/token-signing.pem, mode 0600', () => {
    const { statSync } = require('node:fs');
    expect(statSync(join(proc.dataDir, 'keys', 'token-signing.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(proc.dataDir, 'keys')).mode & 0o777).toBe(0o700);
  });

  test('GIVEN a repository WHEN its policy is set, read and deleted THEN each answer names registry, repository and policy, as ECR does', async () => {
    await createRepository('team/app', await loginPassword());
    const policyText = repositoryPolicy(READER_ARN);
    const ecr = client();
    await expect(ecr.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/app' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);

    const set = await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/app', policyText }));
    expect(set).toMatchObject({ registryId: ACCOUNT, repositoryName: 'team/app', policyText });
    const got = await ecr.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/app', registryId: ACCOUNT }));
    expect(got).toMatchObject({ registryId: ACCOUNT, repositoryName: 'team/app', policyText });
    const deleted = await ecr.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'team/app' }));
    expect(deleted).toMatchObject({ registryId: ACCOUNT, repositoryName: 'team/app', policyText });
    await expect(ecr.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/app' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);
    await expect(ecr.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'team/app' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);
  });

  test('GIVEN the registry WHEN its policy is put, read and deleted THEN the round trip holds and a missing one is RegistryPolicyNotFoundException', async () => {
    const ecr = client();
    await expect(ecr.send(new GetRegistryPolicyCommand({}))).rejects.toBeInstanceOf(RegistryPolicyNotFoundException);
    const policyText = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::444455556666:root' }, Action: 'ecr:BatchGetImage', Resource: '*' }],
    });
    expect(await ecr.send(new PutRegistryPolicyCommand({ policyText }))).toMatchObject({ registryId: ACCOUNT, policyText });
    expect(await ecr.send(new GetRegistryPolicyCommand({}))).toMatchObject({ registryId: ACCOUNT, policyText });
    expect(await ecr.send(new DeleteRegistryPolicyCommand({}))).toMatchObject({ registryId: ACCOUNT, policyText });
    await expect(ecr.send(new DeleteRegistryPolicyCommand({}))).rejects.toBeInstanceOf(RegistryPolicyNotFoundException);
  });

  test('GIVEN a malformed policy WHEN set THEN InvalidParameterException with what is wrong, and nothing is stored', async () => {
    await createRepository('team/malformed', await loginPassword());
    const ecr = client();
    const misspelt = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImages' }] });
    const err = await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/malformed', policyText: misspelt })).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidParameterException);
    expect(err.message).toMatch(/^Invalid parameter at 'PolicyText' failed to satisfy constraint: '.*ecr:BatchGetImages/);
    const notJson = await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/malformed', policyText: '{"Version":' })).catch((e) => e);
    expect(notJson).toBeInstanceOf(InvalidParameterException);
    expect(notJson.message).toContain('not valid JSON');
    const registryErr = await ecr.send(new PutRegistryPolicyCommand({ policyText: '{"Statement":[]}' })).catch((e) => e);
    expect(registryErr).toBeInstanceOf(InvalidParameterException);
    expect(registryErr.message).toContain('Statement must not be empty');
    await expect(ecr.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/malformed' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);
  });

  test('GIVEN an unknown repository WHEN its policy is set or read THEN RepositoryNotFoundException naming it', async () => {
    const ecr = client();
    const err = await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'no/such-repo', policyText: repositoryPolicy(READER_ARN) })).catch((e) => e);
    expect(err).toBeInstanceOf(RepositoryNotFoundException);
    expect(err.message).toBe(`The repository with name 'no/such-repo' does not exist in the registry with id '${ACCOUNT}'`);
    await expect(ecr.send(new GetRepositoryPolicyCommand({ repositoryName: 'no/such-repo' }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });

  test('GIVEN an action the endpoint does not know WHEN called THEN UnknownOperationException as an AWS JSON error', async () => {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { Sha256 } = await import('@aws-crypto/sha256-js');
    const url = new URL(proc.url);
    const signer = new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials: ADMIN, sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.FlyToTheMoon' },
      body: '{}',
    });
    const res = await fetch(`${proc.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body: '{}' });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await res.json()).toEqual({ __type: 'UnknownOperationException', message: 'Unknown operation AmazonEC2ContainerRegistry_V20150921.FlyToTheMoon' });

    // An action of ECR's model Berth does not implement yet: the SDK raises ECRServiceException named by the code.
    const { GetSigningConfigurationCommand } = await import('@aws-sdk/client-ecr');
    const err = await client().send(new GetSigningConfigurationCommand({})).catch((e) => e);
    expect(err.name).toBe('UnknownOperationException');
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  test('GIVEN an identity whose policy does not allow an action WHEN it calls it THEN AccessDeniedException in ECR wording', async () => {
    await createRepository('team/guarded', await loginPassword());
    const reader = client(READER);
    const err = await reader.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/guarded', policyText: repositoryPolicy(READER_ARN) })).catch((e) => e);
    expect(err.name).toBe('AccessDeniedException');
    expect(err.message).toBe(
      `User: ${READER_ARN} is not authorized to perform: ecr:SetRepositoryPolicy on resource: arn:aws:ecr:us-east-1:${ACCOUNT}:repository/team/guarded because no identity-based policy allows the ecr:SetRepositoryPolicy action`,
    );
    // What its policy allows, it may do.
    await expect(reader.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/guarded' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);
    expect((await reader.send(new GetAuthorizationTokenCommand({}))).authorizationData).toHaveLength(1);
    await expect(reader.send(new GetRegistryPolicyCommand({}))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  test('GIVEN a wrong secret or an unknown key WHEN called THEN the SDK raises InvalidSignatureException / UnrecognizedClientException', async () => {
    const wrong = await client({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'not-the-secret-at-all-0000' }).send(new GetAuthorizationTokenCommand({})).catch((e) => e);
    expect(wrong.name).toBe('InvalidSignatureException');
    expect(wrong.message).toMatch(/^The request signature we calculated does not match/);
    const unknown = await client({ accessKeyId: 'AKIANOBODYEXAMPLE000', secretAccessKey: 'whatever-secret-000000' }).send(new GetAuthorizationTokenCommand({})).catch((e) => e);
    expect(unknown.name).toBe('UnrecognizedClientException');
    expect(unknown.$metadata.httpStatusCode).toBe(400);
    // A region the registry is not configured for is refused too; a configured second region works.
    const otherRegion = await client(ADMIN, { region: 'ap-south-1' }).send(new GetAuthorizationTokenCommand({})).catch((e) => e);
    expect(otherRegion.name).toBe('InvalidSignatureException');
    expect(otherRegion.message).toContain("Credential should be scoped to a valid region, not 'ap-south-1'");
    expect((await client(ADMIN, { region: 'eu-west-1' }).send(new GetAuthorizationTokenCommand({}))).authorizationData).toHaveLength(1);
  });

  test('GIVEN a client clock 20 minutes behind WHEN it signs THEN the signature is refused as expired; with retries the SDK corrects its clock from Date as with AWS', async () => {
    const skewed = client(ADMIN, { systemClockOffset: -20 * 60 * 1000 });
    const err = await skewed.send(new GetAuthorizationTokenCommand({})).catch((e) => e);
    expect(err.name).toBe('InvalidSignatureException');
    expect(err.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    const ahead = await client(ADMIN, { systemClockOffset: 20 * 60 * 1000 }).send(new GetAuthorizationTokenCommand({})).catch((e) => e);
    expect(ahead.message).toMatch(/^Signature not yet current/);

    const retrying = client(ADMIN, { systemClockOffset: -20 * 60 * 1000, maxAttempts: 3 });
    expect((await retrying.send(new GetAuthorizationTokenCommand({}))).authorizationData).toHaveLength(1);
  });

  test('GIVEN a tampered body WHEN sent with the original signature THEN InvalidSignatureException and nothing is written', async () => {
    await createRepository('team/tamper', await loginPassword());
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { Sha256 } = await import('@aws-crypto/sha256-js');
    const url = new URL(proc.url);
    const body = JSON.stringify({ repositoryName: 'team/tamper', policyText: repositoryPolicy(READER_ARN) });
    const signed = await new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials: ADMIN, sha256: Sha256 }).sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.SetRepositoryPolicy' },
      body,
    });
    const tampered = body.replace(READER_ARN, '*');
    const res = await fetch(`${proc.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body: tampered });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { __type: string }).__type).toBe('InvalidSignatureException');
    await expect(client().send(new GetRepositoryPolicyCommand({ repositoryName: 'team/tamper' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);
  });
});

describe('berth ecr get-login-password', () => {
  const berth = (args: string[], env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: undefined, ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' },
    });

  test('GIVEN credentials in the environment WHEN run against berth serve THEN it prints only the password', () => {
    const result = berth(['ecr', 'get-login-password', '--endpoint-url', proc.url, '--region', 'us-east-1'], {
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    // stderr may carry the SDK's Node-version notice, never the password.
    expect(result.stderr).not.toContain(result.stdout.trim());
  });

  test('GIVEN --execute-api WHEN run THEN the request is signed for execute-api (what API Gateway IAM authorization checks)', async () => {
    // A stand-in for the deployed stack's POST /: it verifies SigV4 for service execute-api and answers like ECR.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c)).on('end', async () => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
        const verdict = await verifySigV4(
          { method: req.method!, path: req.url!.split('?')[0], query: '', headers, body: Buffer.concat(chunks) },
          {
            service: 'execute-api',
            regions: ['eu-west-1'],
            lookupSecret: async (id) => (id === ADMIN.accessKeyId ? { secretAccessKey: ADMIN.secretAccessKey, principal: 'admin' } : null),
          },
        );
        seen.push(verdict.ok ? 'ok' : verdict.message);
        const body = verdict.ok
          ? { authorizationData: [{ authorizationToken: Buffer.from('AWS:stand-in-password').toString('base64'), expiresAt: Date.now() / 1000 + 43200, proxyEndpoint: 'https://x' }] }
          : { __type: 'InvalidSignatureException', message: verdict.message };
        res.writeHead(verdict.ok ? 200 : 403, { 'Content-Type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const env = { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey };
      const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const { execFile } = require('node:child_process');
        execFile(
          process.execPath,
          ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'ecr', 'get-login-password', '--endpoint-url', endpoint, '--region', 'eu-west-1', '--execute-api'],
          { cwd: PROJECT_ROOT, env: { ...process.env, ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' } },
          (err: { code?: number } | null, stdout: string, stderr: string) => resolve({ status: err ? (err.code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(seen).toEqual(['ok']);
      expect(result).toMatchObject({ status: 0, stdout: 'stand-in-password\n' });
      // Without --execute-api the same call is signed for ecr, which the stand-in refuses.
      const plain = await new Promise<string>((resolve) => {
        const { execFile } = require('node:child_process');
        execFile(
          process.execPath,
          ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'ecr', 'get-login-password', '--endpoint-url', endpoint, '--region', 'eu-west-1'],
          { cwd: PROJECT_ROOT, env: { ...process.env, ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' } },
          (_err: unknown, _stdout: string, stderr: string) => resolve(String(stderr)),
        );
      });
      expect(seen[1]).toContain("Credential should be scoped to correct service: 'execute-api'");
      expect(plain).toContain('GetAuthorizationToken failed');
    } finally {
      server.close();
    }
  });
});

/** The AWS CLI v2 (Debian's awscli); an older v1 may be first on PATH, so it is called by path. */
const cliVersion = spawnSync(AWS_CLI, ['--version'], { encoding: 'utf8' });
const hasCliV2 = cliVersion.status === 0 && /^aws-cli\/2\./.test(cliVersion.stdout + cliVersion.stderr);
const cliBlock = hasCliV2 ? describe : underCI ? describe : describe.skip;

cliBlock(`AWS CLI v2 (${AWS_CLI}) against berth serve`, () => {
  if (!hasCliV2) {
    test(`needs the AWS CLI v2 at ${AWS_CLI}`, () => {
      throw new Error(`CI=true but ${AWS_CLI} is not the AWS CLI v2 (${(cliVersion.stdout || cliVersion.stderr || String(cliVersion.error)).trim()}): .ci/run installs awscli`);
    });
    return;
  }
  const aws = (args: string[], credentials = ADMIN) =>
    run(AWS_CLI, [...args, '--region', 'us-east-1', '--endpoint-url', proc.url], {
      env: {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PAGER: '',
      },
      timeoutMs: 60_000,
    });

  test('GIVEN a configured key WHEN aws ecr get-login-password THEN it prints the login token', () => {
    const password = aws(['ecr', 'get-login-password']).trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const claims = JSON.parse(Buffer.from(password.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ kind: 'login', sub: `arn:aws:iam::${ACCOUNT}:user/admin` });
  });

  test('GIVEN a configured key WHEN aws ecr get-authorization-token THEN its JSON carries AWS:<token>, a 12-hour expiry and the proxy endpoint', () => {
    const out = JSON.parse(aws(['ecr', 'get-authorization-token', '--output', 'json']));
    const data = out.authorizationData[0];
    expect(Buffer.from(data.authorizationToken, 'base64').toString()).toMatch(/^AWS:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const hours = (new Date(data.expiresAt).getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);
    expect(data.proxyEndpoint).toBe(proc.url);
  });

  test('GIVEN policies WHEN set and read with the CLI THEN the CLI parses the answers', async () => {
    await createRepository('cli/app', await loginPassword());
    const policyText = repositoryPolicy(READER_ARN);
    const set = JSON.parse(aws(['ecr', 'set-repository-policy', '--repository-name', 'cli/app', '--policy-text', policyText]));
    expect(set).toMatchObject({ registryId: ACCOUNT, repositoryName: 'cli/app', policyText });
    expect(JSON.parse(aws(['ecr', 'get-repository-policy', '--repository-name', 'cli/app'])).policyText).toBe(policyText);
    expect(() => aws(['ecr', 'get-registry-policy'])).toThrow(/RegistryPolicyNotFoundException/);
  });

  test('GIVEN a wrong secret WHEN the CLI calls THEN it reports InvalidSignatureException', () => {
    expect(() => aws(['ecr', 'get-login-password'], { accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'wrong-secret-wrong-secret' })).toThrow(/InvalidSignatureException/);
  });
});

/** The environment admin: the quick start without a configuration file. */
describe('berth serve with BERTH_ACCESS_KEY_ID / BERTH_SECRET_ACCESS_KEY', () => {
  test('GIVEN only the environment admin WHEN it calls the ECR API THEN it may do everything, in account 000000000000', async () => {
    const scratch = scratchDir('ecr-env-admin');
    const admin = await startRegistryProcess(join(scratch.path, 'data'), 0, [], {
      BERTH_ACCESS_KEY_ID: ENV_ADMIN.accessKeyId,
      BERTH_SECRET_ACCESS_KEY: ENV_ADMIN.secretAccessKey,
    });
    try {
      const ecr = new ECRClient({ region: 'us-east-1', endpoint: admin.url, credentials: ENV_ADMIN, maxAttempts: 1 });
      const out = await ecr.send(new GetAuthorizationTokenCommand({}));
      const claims = JSON.parse(Buffer.from(Buffer.from(out.authorizationData![0].authorizationToken!, 'base64').toString().split('.')[1], 'base64url').toString());
      expect(claims).toMatchObject({ sub: 'arn:aws:iam::000000000000:user/berth-admin', acct: '000000000000' });
      const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'ecr:DeleteRepository', Resource: '*' }] });
      expect(await ecr.send(new PutRegistryPolicyCommand({ policyText }))).toMatchObject({ registryId: '000000000000' });
    } finally {
      await admin.stop();
      scratch.remove();
    }
  });
});
