/**
 * `berth stats` against a real `berth serve` with identities (route `GET /v2/_berth/stats`) and on its
 * stopped data directory: images, tags, blobs and stored bytes per repository and for the registry (a
 * layer shared by two repositories counted in each, and once for the registry), filtered by what the
 * caller may describe; and the last collection, as the server's job and `berth gc` keep it in
 * gc-last.json.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import type { StatsReport } from '../../lambdas/core/registry-stats';
import { RegistryClient, manifestOf, type RequestOptions, type Reply } from '../support/http-client';
import { descriptor, imageBlobs, makeImage, type Blob, type Image } from '../support/oci-fixtures';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIASTATSADMIN000001', secretAccessKey: 'stats-admin-secret-000001' };
const VIEWER = { accessKeyId: 'AKIASTATSVIEWER00001', secretAccessKey: 'stats-viewer-secret-00001' };

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
const asBerth = (credentials: typeof ADMIN) => ({ BERTH_ACCESS_KEY_ID: credentials.accessKeyId, BERTH_SECRET_ACCESS_KEY: credentials.secretAccessKey });

function statsJson(args: string[], env: NodeJS.ProcessEnv = {}): StatsReport {
  const result = berth(['stats', ...args, '--json'], env);
  if (result.status !== 0) throw new Error(`berth stats ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return JSON.parse(result.stdout) as StatsReport;
}

/** An image whose first layer is `shared`: the same bytes another repository's image uses. */
function imageSharing(shared: Blob, seed: string, size: number): Image {
  const own = makeImage({ layers: [size], seed });
  const layers = [shared, own.layers[0]];
  const manifest = manifestOf({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor(own.config),
    layers: layers.map(descriptor),
  });
  return { ...own, manifest, layers };
}

const bytesOf = (blobs: Blob[]) => blobs.reduce((n, b) => n + b.size, 0);

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

describe('berth stats', () => {
  const work = scratchDir('stats');
  const dataDir = join(work.path, 'data');
  const config = join(work.path, 'identities.json');
  let server: RegistryProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    work.remove();
  });

  const shared = makeImage({ layers: [1_500_000], seed: 'stats-shared' }).layers[0];
  const imageA = imageSharing(shared, 'stats-a', 300_000);
  const imageB = imageSharing(shared, 'stats-b', 200_000);
  const imageD = imageSharing(shared, 'stats-d', 400_000);
  // team/a links A's and D's blobs (D deleted, its links stay until a collection); team/b links B's.
  const linkedA = [...imageBlobs(imageA), imageD.config, imageD.layers[1]];
  const linkedB = imageBlobs(imageB);
  const distinct = [...new Map([...linkedA, ...linkedB].map((b) => [b.digest, b])).values()];

  let endpointReport: StatsReport;

  test('GIVEN a running server with identities and a layer shared by two repositories WHEN asked over HTTP THEN each repository counts the layer, the registry once, and each caller sees what it may describe', async () => {
    writeFileSync(
      config,
      JSON.stringify({
        registry: { account: ACCOUNT, regions: [REGION] },
        identities: [
          { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } },
          {
            name: 'viewer',
            ...VIEWER,
            arn: `arn:aws:iam::${ACCOUNT}:user/viewer`,
            policy: {
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
                { Effect: 'Allow', Action: 'ecr:DescribeRepositories', Resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/team/a` },
              ],
            },
          },
        ],
      }),
    );
    // The default --gc-interval: the server collects once at start-up, and keeps that run in gc-last.json.
    server = await startRegistryProcess(dataDir, 0, ['--config', config], CLEAN_ENV);
    const ecr = new ECRClient({ region: REGION, endpoint: server.url, credentials: ADMIN });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    ecr.destroy();
    const admin = new AuthenticatedClient(server.url, `Basic ${token}`);
    await admin.pushImage('team/a', imageA, 'v1');
    await admin.pushImage('team/a', imageD, 'old');
    await admin.pushImage('team/b', imageB, 'v1');
    expect((await admin.putManifest('team/b', 'latest', imageB.manifest)).status).toBe(201);
    expect((await admin.delete(`/v2/team/a/manifests/${imageD.manifest.digest}`)).status).toBe(202);

    const report = statsJson(['--endpoint', server.url], asBerth(ADMIN));
    expect(report.repositories).toEqual([
      { repository: 'team/a', images: 1, tags: 1, blobs: 5, storedBytes: bytesOf(linkedA) },
      { repository: 'team/b', images: 1, tags: 2, blobs: 3, storedBytes: bytesOf(linkedB) },
    ]);
    expect(report.registry).toEqual({ repositories: 2, images: 2, tags: 3, blobs: 7, storedBytes: bytesOf(distinct) });
    expect(bytesOf(distinct)).toBe(bytesOf(linkedA) + bytesOf(linkedB) - shared.size);
    expect(report.lastCollection).toEqual({ finishedAt: expect.any(String), durationMs: expect.any(Number), unlinked: 0, deleted: 0, bytesFreed: 0, complete: true });
    endpointReport = report;

    // The text output: a row per repository, the registry's line, the last collection.
    const text = berth(['stats', '--endpoint', server.url], asBerth(ADMIN));
    expect(text.status).toBe(0);
    expect(text.stderr).not.toContain('berth:'); // the AWS SDK may warn about the Node version
    expect(text.stdout).toMatch(/^REPOSITORY\s+IMAGES\s+TAGS\s+BLOBS\s+STORED$/m);
    expect(text.stdout).toMatch(new RegExp(`^team/a\\s+1\\s+1\\s+5\\s+${(bytesOf(linkedA) / 1048576).toFixed(1)} MiB$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^team/b\\s+1\\s+2\\s+3\\s+${(bytesOf(linkedB) / 1048576).toFixed(1)} MiB$`, 'm'));
    expect(text.stdout).toContain(`registry: 2 repositories, 2 images, 3 tags, 7 blobs, ${(bytesOf(distinct) / 1048576).toFixed(1)} MiB stored (deduplicated)`);
    expect(text.stdout).toContain(`last collection: ${report.lastCollection!.finishedAt}, freed 0.0 MiB (0 links, 0 blobs)`);

    // One repository.
    expect(statsJson(['--endpoint', server.url, '--repository', 'team/b'], asBerth(ADMIN))).toEqual({
      repositories: [report.repositories[1]],
      registry: { repositories: 1, images: 1, tags: 2, blobs: 3, storedBytes: bytesOf(linkedB) },
      lastCollection: report.lastCollection,
    });
    const unknown = berth(['stats', '--endpoint', server.url, '--repository', 'team/none'], asBerth(ADMIN));
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/answered 404: NAME_UNKNOWN/);

    // The viewer may describe team/a only: team/b is left out, and asking for it is refused.
    const viewed = statsJson(['--endpoint', server.url], asBerth(VIEWER));
    expect(viewed.repositories).toEqual([report.repositories[0]]);
    expect(viewed.registry).toEqual({ repositories: 1, images: 1, tags: 1, blobs: 5, storedBytes: bytesOf(linkedA) });
    const denied = berth(['stats', '--endpoint', server.url, '--repository', 'team/b'], asBerth(VIEWER));
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/answered 403: DENIED: .*viewer is not authorized to perform ecr:DescribeRepositories on repository team\/b/);
    // The AWS default chain stands in for BERTH_*, as for berth ecr get-login-password.
    expect(statsJson(['--endpoint', server.url], { AWS_ACCESS_KEY_ID: VIEWER.accessKeyId, AWS_SECRET_ACCESS_KEY: VIEWER.secretAccessKey })).toEqual(viewed);

    // Anonymous: 401 with the challenge.
    const anonymous = await fetch(`${server.url}/v2/_berth/stats`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const noCredentials = berth(['stats', '--endpoint', server.url]);
    expect(noCredentials.status).toBe(1);
    expect(noCredentials.stderr).toMatch(/needs credentials: set BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY/);

    // The running server's data directory is its own.
    const busy = berth(['stats', '--data-dir', dataDir]);
    expect(busy.status).toBe(2);
    expect(busy.stderr).toMatch(/in use by another Berth process.*berth stats --endpoint/);
  }, 180_000);

  test('GIVEN the server stopped WHEN read from its data directory THEN the same figures; after berth gc, what it freed', async () => {
    await server!.stop();
    server = undefined;
    expect(statsJson(['--data-dir', dataDir])).toEqual(endpointReport);

    // A dry run frees nothing and records nothing.
    expect(berth(['gc', '--data-dir', dataDir, '--min-age', '0', '--dry-run']).status).toBe(0);
    expect(statsJson(['--data-dir', dataDir]).lastCollection).toEqual(endpointReport.lastCollection);

    const gc = berth(['gc', '--data-dir', dataDir, '--min-age', '0']);
    expect(gc.stderr).toBe('');
    expect(gc.status).toBe(0);
    // D's own config and layer go; the layer it shared stays, used in both repositories.
    const freed = [imageD.config, imageD.layers[1]];
    const after = statsJson(['--data-dir', dataDir]);
    expect(after.repositories).toEqual([
      { repository: 'team/a', images: 1, tags: 1, blobs: 3, storedBytes: bytesOf(imageBlobs(imageA)) },
      { repository: 'team/b', images: 1, tags: 2, blobs: 3, storedBytes: bytesOf(linkedB) },
    ]);
    expect(after.registry).toEqual({ repositories: 2, images: 2, tags: 3, blobs: 5, storedBytes: bytesOf(distinct) - bytesOf(freed) });
    expect(after.lastCollection).toEqual({ finishedAt: expect.any(String), durationMs: expect.any(Number), unlinked: 2, deleted: 2, bytesFreed: bytesOf(freed), complete: true });
    expect(Date.parse(after.lastCollection!.finishedAt)).toBeGreaterThan(Date.parse(endpointReport.lastCollection!.finishedAt));

    const text = berth(['stats', '--data-dir', dataDir, '--repository', 'team/a']);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain(`registry: 1 repository, 1 image, 1 tag, 3 blobs`);
    expect(text.stdout).toContain(`last collection: ${after.lastCollection!.finishedAt}, freed ${(bytesOf(freed) / 1048576).toFixed(1)} MiB (2 links, 2 blobs)`);

    // A server without identities answers anyone, with the collection berth gc kept (it collects none itself here).
    server = await startRegistryProcess(dataDir, 0, ['--gc-interval', '0'], CLEAN_ENV);
    expect(statsJson(['--endpoint', server.url])).toEqual(after);
  }, 180_000);

  test('GIVEN no data directory, or both sources WHEN run THEN it says so', () => {
    const missing = berth(['stats', '--data-dir', join(work.path, 'never-written')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no data directory at .*--endpoint URL asks a running server/);
    const both = berth(['stats', '--data-dir', dataDir, '--endpoint', 'http://127.0.0.1:1']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/give one of them/);
  });
});
