/**
 * Scan on push with real clients (issue 15): OSV records imported with `berth vulndb import
 * --data-dir`, `berth serve --config`, a repository with scanOnPush, docker pushing a Debian 12 image
 * made from the fixture package database, `aws ecr wait image-scan-complete` returning, and
 * `aws ecr describe-image-scan-findings` showing exactly the findings of the image's packages;
 * DescribeImages' scan summary agreeing.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateRepositoryCommand, DescribeImagesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { inventoryOf } from '../../lambdas/core/scanning/inventory';
import { findingsOf, severityCounts } from '../../lambdas/core/scanning/osv/findings';
import { parseOsvRecord } from '../../lambdas/core/scanning/osv/record';
import { describeWithBinaries, run, runAsync } from '../support/clients';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { writeAdminConfig } from '../support/identity-config';
import { blobOf, writeLayout, tarWithFile } from '../support/oci-fixtures';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { fixtureImageFiles, osvFixtureRecords, OSV_FIXTURES } from '../support/scanning-fixtures';
import { gzipSync } from 'node:zlib';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0215', secretAccessKey: 'admin-secret-access-key-example-0215' };
const AWS_CLI = '/usr/bin/aws';

describeWithBinaries(['dockerd', 'docker', 'skopeo', AWS_CLI], 'scan on push: docker pushes, the AWS CLI waits for the scan and reads its findings', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess;
  let daemon: DockerDaemon;
  const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });
  const aws = (...args: string[]) =>
    runAsync(AWS_CLI, ['ecr', ...args, '--endpoint-url', proc.url, '--region', REGION, '--output', 'json'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_PAGER: '' },
      timeoutMs: 120_000,
    });

  beforeAll(async () => {
    work = scratchDir('scan-on-push');
    const dataDir = join(work.path, 'data');
    const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
    const serve = () => startRegistryProcess(dataDir, 0, ['--config', config, '--gc-interval', '0', '--lifecycle-interval', '0']);
    // The OSV records imported into the stopped server's data directory, as an operator would.
    await (await serve()).stop();
    await runAsync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'vulndb', 'import', OSV_FIXTURES, '--data-dir', dataDir], { timeoutMs: 60_000 });
    proc = await serve();
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/debian', imageScanningConfiguration: { scanOnPush: true } }));
    daemon = await startDockerd(join(work.path, 'dockerd'));
    const token = (await ecr().send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    run('docker', ['login', '-u', 'AWS', '--password-stdin', proc.host], { env: daemon.env, input: Buffer.from(token, 'base64').toString('utf8').slice(4) });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    await proc?.stop();
    work?.remove();
  });

  test('GIVEN a Debian 12 image pushed by docker to a scanOnPush repository WHEN aws ecr wait image-scan-complete THEN it returns and describe-image-scan-findings lists exactly its findings', async () => {
    // One layer holding the fixture's package database and os-release, loaded into docker through skopeo.
    const files = fixtureImageFiles('debian-12');
    const layerTar = Buffer.concat([...files].map(([path, content]) => tarWithFile(path, content).subarray(0, -1024)).concat([Buffer.alloc(1024)]));
    const layer = blobOf(gzipSync(layerTar), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const config = blobOf(
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(layerTar).digest('hex')}`] } })),
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = blobOf(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }] })),
      'application/vnd.oci.image.manifest.v1+json',
    );
    const layout = join(work.path, 'layout');
    writeLayout(layout, [{ tag: 'v1', manifest, blobs: [config, layer] }]);
    const ref = `${proc.host}/team/debian:v1`;
    const archive = join(work.path, 'debian.tar');
    run('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:${ref}`]);
    expect(run('docker', ['load', '-i', archive], { env: daemon.env })).toContain(`Loaded image: ${ref}`);
    const pushed = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(run('docker', ['push', ref], { env: daemon.env, timeoutMs: 120_000 }));
    expect(pushed).not.toBeNull();
    const digest = pushed![1];

    await aws('wait', 'image-scan-complete', '--repository-name', 'team/debian', '--image-id', `imageDigest=${digest}`);
    const described = JSON.parse(await aws('describe-image-scan-findings', '--repository-name', 'team/debian', '--image-id', 'imageTag=v1')) as {
      imageId: { imageDigest: string };
      imageScanStatus: { status: string };
      imageScanFindings: { findings: Array<{ name: string; severity: string; attributes: Array<{ key: string; value: string }> }>; findingSeverityCounts: Record<string, number>; vulnerabilitySourceUpdatedAt: unknown };
    };
    const records = osvFixtureRecords().map((r) => parseOsvRecord(r));
    const expected = findingsOf(inventoryOf(files).packages, records, { onUnevaluated: () => undefined });
    expect(expected.length).toBeGreaterThan(0);
    expect(described.imageId.imageDigest).toBe(digest);
    expect(described.imageScanStatus.status).toBe('COMPLETE');
    expect(described.imageScanFindings.findings.map((f) => [f.name, f.severity, f.attributes])).toEqual(expected.map((f) => [f.name, f.severity, f.attributes]));
    expect(described.imageScanFindings.findingSeverityCounts).toEqual(severityCounts(expected));
    expect(described.imageScanFindings.vulnerabilitySourceUpdatedAt).toBeDefined();

    const [detail] = (await ecr().send(new DescribeImagesCommand({ repositoryName: 'team/debian', imageIds: [{ imageDigest: digest }] }))).imageDetails ?? [];
    expect(detail.imageScanStatus?.status).toBe('COMPLETE');
    expect(detail.imageScanFindingsSummary?.findingSeverityCounts).toEqual(severityCounts(expected));
    writeFileSync(join(work.path, 'findings.json'), JSON.stringify(described));
  }, 240_000);
});
