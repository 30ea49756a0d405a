/**
 * Lifecycle policies in local mode, against a real `berth serve` with identities: the server's timer
 * (`--lifecycle-interval 1s`) expires what a policy put with @aws-sdk/client-ecr selects and keeps the
 * rest pullable; `berth lifecycle run --endpoint` (BerthRunLifecyclePolicy, SigV4) runs now, as a dry
 * run, for one repository, at a later `--now`, authorized as ecr:BatchDeleteImage; `--data-dir` is
 * refused while the server holds the directory and runs on it once stopped.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand, GetLifecyclePolicyCommand, PutLifecyclePolicyCommand } from '@aws-sdk/client-ecr';
import type { LifecycleRunReport } from '../../lambdas/core/lifecycle/run';
import { RegistryClient, type Reply, type RequestOptions } from '../support/http-client';
import { imageBlobs, makeImage, type Image } from '../support/oci-fixtures';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIALIFECYCLEADMIN01', secretAccessKey: 'lifecycle-admin-secret-0001' };
/** May delete images of team/old only. */
const DELETER = { accessKeyId: 'AKIALIFECYCLEDELETE1', secretAccessKey: 'lifecycle-deleter-secret-001' };
const DAY = 24 * 3_600_000;

/** No credentials but those a test gives: nothing from this machine's environment or files. */
const CLEAN_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  BERTH_ACCESS_KEY_ID: undefined,
  BERTH_SECRET_ACCESS_KEY: undefined,
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  AWS_EC2_METADATA_DISABLED: 'true',
};

const berth = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...CLEAN_ENV, ...env },
  });
const as = (credentials: typeof ADMIN) => ({ BERTH_ACCESS_KEY_ID: credentials.accessKeyId, BERTH_SECRET_ACCESS_KEY: credentials.secretAccessKey });

const policy = (selection: Record<string, unknown>) =>
  JSON.stringify({ rules: [{ rulePriority: 1, description: 'lifecycle-run end-to-end test rule', selection, action: { type: 'expire' } }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class AuthenticatedClient extends RegistryClient {
  constructor(
    base: string,
    private readonly authorization: string,
  ) {
    super(base);
  }

  override request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    return super.request(method, path, { ...options, headers: { Authorization: this.authorization, ...options.headers } });
  }
}

describe('lifecycle policies in local mode', () => {
  const work = scratchDir('lifecycle-run');
  const dataDir = join(work.path, 'data');
  const config = join(work.path, 'identities.json');
  let server: RegistryProcess | undefined;
  let ecr: ECRClient;
  let registry: AuthenticatedClient;
  afterAll(async () => {
    ecr?.destroy();
    await server?.stop();
    work.remove();
  });

  const app = [1, 2, 3, 4].map((n) => makeImage({ layers: [2_000], seed: `lifecycle-app-${n}` }));
  const old = [1, 2].map((n) => makeImage({ layers: [2_000], seed: `lifecycle-old-${n}` }));
  const keep = makeImage({ layers: [2_000], seed: 'lifecycle-keep' });
  const plain = makeImage({ layers: [2_000], seed: 'lifecycle-plain' });
  const inTwoDays = () => new Date(Date.now() + 2 * DAY).toISOString();

  const manifestStatus = async (repository: string, image: Image) => (await registry.get(`/v2/${repository}/manifests/${image.manifest.digest}`)).status;
  async function expectPullable(repository: string, image: Image): Promise<void> {
    expect(await manifestStatus(repository, image)).toBe(200);
    for (const blob of imageBlobs(image)) expect((await registry.get(`/v2/${repository}/blobs/${blob.digest}`)).status).toBe(200);
  }

  test('GIVEN a policy keeping two images WHEN the server timer runs THEN the older ones expire, the kept ones pull, and the log says what went', async () => {
    writeFileSync(
      config,
      JSON.stringify({
        registry: { account: ACCOUNT, regions: [REGION] },
        identities: [
          { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } },
          {
            name: 'deleter',
            ...DELETER,
            arn: `arn:aws:iam::${ACCOUNT}:user/deleter`,
            policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:BatchDeleteImage', Resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/team/old` }] },
          },
        ],
      }),
    );
    server = await startRegistryProcess(dataDir, 0, ['--config', config, '--lifecycle-interval', '1s', '--gc-interval', '0'], CLEAN_ENV);
    ecr = new ECRClient({ region: REGION, endpoint: server.url, credentials: ADMIN });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    registry = new AuthenticatedClient(server.url, `Basic ${token}`);
    for (const [i, image] of app.entries()) await registry.pushImage('team/app', image, `v${i + 1}`);
    for (const [i, image] of old.entries()) await registry.pushImage('team/old', image, i === 0 ? 'a' : undefined);
    await registry.pushImage('team/keep', keep, 'k');
    await registry.pushImage('team/plain', plain, 'p');
    const olderThanADay = policy({ tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: 'team/old', lifecyclePolicyText: olderThanADay }));
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: 'team/keep', lifecyclePolicyText: olderThanADay }));
    await ecr.send(
      new PutLifecyclePolicyCommand({ repositoryName: 'team/app', lifecyclePolicyText: policy({ tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 2 }) }),
    );

    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await manifestStatus('team/app', app[1])) !== 404) await sleep(250);
    expect(await manifestStatus('team/app', app[0])).toBe(404);
    expect(await manifestStatus('team/app', app[1])).toBe(404);
    await expectPullable('team/app', app[2]);
    await expectPullable('team/app', app[3]);
    expect((await registry.get('/v2/team/app/tags/list')).json().tags.sort()).toEqual(['v3', 'v4']);
    const applied = server
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"lifecycle policy applied"'))
      .map((line) => JSON.parse(line) as { repository: string; expired: string[]; archived: string[] });
    expect(applied).toEqual([expect.objectContaining({ repository: 'team/app', expired: [app[0].manifest.digest, app[1].manifest.digest], archived: [] })]);
    expect((await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: 'team/app' }))).lastEvaluatedAt).toBeInstanceOf(Date);
    // Nothing is a day old yet: the age policies expired nothing.
    for (const image of old) expect(await manifestStatus('team/old', image)).toBe(200);
  }, 120_000);

  test('GIVEN berth lifecycle run --endpoint WHEN a dry run, then one repository at a later --now THEN it prints what would go, then expires only that repository', async () => {
    const later = inTwoDays();
    const dry = berth(['lifecycle', 'run', '--dry-run', '--endpoint', server!.url, '--now', later], as(ADMIN));
    expect(dry.stderr).not.toContain('berth:');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain(`would expire team/old ${old[0].manifest.digest} (a; rule 1)\n`);
    expect(dry.stdout).toContain(`would expire team/old ${old[1].manifest.digest} (untagged; rule 1)\n`);
    expect(dry.stdout).toContain(`would expire team/keep ${keep.manifest.digest} (k; rule 1)\n`);
    expect(dry.stdout).toMatch(new RegExp(`berth lifecycle run: 3 repositories with a policy, 5 images evaluated at ${later.replace(/\./g, '\\.')}; would expire 3 images, would archive 0 images\n$`));
    for (const image of old) await expectPullable('team/old', image);
    await expectPullable('team/keep', keep);

    // The deleter may delete in team/old only: that repository, not the registry.
    const one = berth(['lifecycle', 'run', '--endpoint', server!.url, '--repository', 'team/old', '--now', later, '--json'], as(DELETER));
    expect(one.stderr).not.toContain('berth:');
    expect(one.status).toBe(0);
    const reports = one.stdout.trim().split('\n').map((line) => JSON.parse(line) as LifecycleRunReport);
    expect(reports).toEqual([
      {
        repository: 'team/old',
        evaluatedAt: later,
        dryRun: false,
        hasPolicy: true,
        imagesEvaluated: 2,
        outcomes: old.map((image, i) => expect.objectContaining({ digest: image.manifest.digest, tags: i === 0 ? ['a'] : [], action: { type: 'EXPIRE' }, result: 'done' })),
      },
    ]);
    for (const image of old) expect(await manifestStatus('team/old', image)).toBe(404);
    await expectPullable('team/keep', keep);
    await expectPullable('team/app', app[2]);

    const everything = berth(['lifecycle', 'run', '--endpoint', server!.url, '--now', later], as(DELETER));
    expect(everything.status).toBe(1);
    expect(everything.stderr).toMatch(/AccessDeniedException: .*deleter is not authorized to perform: ecr:BatchDeleteImage on resource: .*repository\/\*/);
    await expectPullable('team/keep', keep);
  }, 120_000);

  test('GIVEN refused requests and options THEN exit codes and messages say why, and nothing changes', async () => {
    const noPolicy = berth(['lifecycle', 'run', '--endpoint', server!.url, '--repository', 'team/plain'], as(ADMIN));
    expect(noPolicy.status).toBe(1);
    expect(noPolicy.stderr).toMatch(/LifecyclePolicyNotFoundException/);
    const unknown = berth(['lifecycle', 'run', '--endpoint', server!.url, '--repository', 'team/none'], as(ADMIN));
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/RepositoryNotFoundException/);
    const anonymous = berth(['lifecycle', 'run', '--endpoint', server!.url]);
    expect(anonymous.status).toBe(1);
    expect(anonymous.stderr).toMatch(/needs credentials: set BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY/);
    // The running server's data directory is its own.
    const busy = berth(['lifecycle', 'run', '--data-dir', dataDir]);
    expect(busy.status).toBe(2);
    expect(busy.stderr).toMatch(/in use by another Berth process.*berth lifecycle run --endpoint/);

    const usage = /berth lifecycle run \[--repository R\] \[--dry-run\]/;
    const bogus = berth(['lifecycle', 'run', '--bogus']);
    expect(bogus.status).toBe(2);
    expect(bogus.stderr).toMatch(usage);
    const badNow = berth(['lifecycle', 'run', '--now', 'tomorrow', '--endpoint', server!.url]);
    expect(badNow.status).toBe(2);
    expect(badNow.stderr).toMatch(/--now must be an ISO 8601 time/);
    expect(badNow.stderr).toMatch(usage);
    const both = berth(['lifecycle', 'run', '--endpoint', server!.url, '--data-dir', dataDir]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/give one of them/);
    await expectPullable('team/keep', keep);
    await expectPullable('team/plain', plain);
  }, 120_000);

  test('GIVEN the server stopped WHEN run on its data directory THEN it expires there, and the restarted server serves what is left', async () => {
    await server!.stop();
    server = undefined;
    const later = inTwoDays();
    const dry = berth(['lifecycle', 'run', '--data-dir', dataDir, '--dry-run', '--now', later]);
    expect(dry.stderr).toBe('');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain(`would expire team/keep ${keep.manifest.digest} (k; rule 1)\n`);

    const run = berth(['lifecycle', 'run', '--data-dir', dataDir, '--now', later]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`expired team/keep ${keep.manifest.digest} (k; rule 1)\n`);
    expect(run.stdout).toMatch(/; expired 1 image, archived 0 images\n$/);

    server = await startRegistryProcess(dataDir, 0, ['--config', config, '--lifecycle-interval', '0'], CLEAN_ENV);
    ecr.destroy();
    ecr = new ECRClient({ region: REGION, endpoint: server.url, credentials: ADMIN });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    registry = new AuthenticatedClient(server.url, `Basic ${token}`);
    expect(await manifestStatus('team/keep', keep)).toBe(404);
    await expectPullable('team/app', app[3]);
    await expectPullable('team/plain', plain);
  }, 120_000);
});
