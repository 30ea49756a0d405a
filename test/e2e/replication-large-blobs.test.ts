/**
 * Large blobs between two emulated AWS deployments (issue 14): the destination's fetch limit is 1 MiB
 * (REPLICATION_FETCH_LIMIT_BYTES of its `berth serve --emulate-aws` process), so a layer above it is
 * answered UPLOAD and its bytes go from the source's presigned URL through the replicator into the
 * destination's ingest server, as on AWS where a fetch inside API Gateway's 29 s could not take them;
 * a layer below it is fetched by the destination itself, as before. The setup is
 * replication-emulated.test.ts's, without docker: pushes go through the source's OCI API.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeWithBinaries } from '../support/clients';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, sha256, type Blob, type Image } from '../support/oci-fixtures';
import { callEcrJson } from '../../lambdas/aws/ecr-json-call';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
const SOURCE_ADMIN = { accessKeyId: 'AKIAEMUSOURCEADMIN15', secretAccessKey: 'emulated-source-admin-secret-0015' };
const DEST_ADMIN = { accessKeyId: 'AKIAEMUDESTADMIN0015', secretAccessKey: 'emulated-dest-admin-secret-00015' };
const REPLICATOR = { accessKeyId: 'AKIAEMUREPLICATOR015', secretAccessKey: 'emulated-replicator-secret-00015' };
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const ALLOW_REPLICATION = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };
const FETCH_LIMIT = 1024 * 1024;

interface IngestStats {
  ingestRequests: number;
  ingestRequestBodyBytes: number;
}

describeWithBinaries(['java'], 'replication of blobs above the destination’s fetch limit between two emulated AWS deployments', () => {
  let work: ReturnType<typeof scratchDir>;
  let source: RegistryProcess;
  let dest: RegistryProcess;
  const basic = { source: '', dest: '' };

  const sourceApi = (action: string, input: Record<string, unknown>) =>
    callEcrJson({ url: source.url, region: SOURCE.region, credentials: SOURCE_ADMIN, service: 'execute-api' }, action, input);
  const destApi = (action: string, input: Record<string, unknown>) => callEcrJson({ url: dest.url, region: DEST.region, credentials: DEST_ADMIN, service: 'execute-api' }, action, input);

  function writeConfig(name: string, config: Record<string, unknown>): string {
    const file = join(work.path, `${name}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  async function pushBlob(repo: string, blob: Blob): Promise<void> {
    const start = await fetch(`${source.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic.source } });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location')!, source.url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: basic.source } });
    expect(put.status).toBe(201);
  }
  async function push(repo: string, image: Image, tag: string): Promise<void> {
    for (const blob of imageBlobs(image)) await pushBlob(repo, blob);
    const res = await fetch(`${source.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType, Authorization: basic.source } });
    expect(res.status).toBe(201);
  }
  const destStats = async (): Promise<IngestStats> => (await fetch(`${dest.url}/__berth/stats`)).json() as Promise<IngestStats>;

  beforeAll(async () => {
    work = scratchDir('replication-large-blobs');
    const destConfig = writeConfig('dest', {
      registry: { account: DEST.account, regions: [DEST.region] },
      identities: [
        { name: 'admin', ...DEST_ADMIN, arn: `arn:aws:iam::${DEST.account}:user/admin`, policy: ALLOW_ALL },
        { name: 'replicator', ...REPLICATOR, arn: `arn:aws:iam::${SOURCE.account}:role/berth-replicator`, policy: ALLOW_REPLICATION },
      ],
    });
    dest = await startRegistryProcess(join(work.path, 'dest-data'), 0, ['--emulate-aws', '--config', destConfig], { REPLICATION_FETCH_LIMIT_BYTES: String(FETCH_LIMIT) });
    const sourceConfig = writeConfig('source', {
      registry: { account: SOURCE.account, regions: [SOURCE.region] },
      identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: ALLOW_ALL }],
      replicationDestinations: [{ region: DEST.region, registryId: DEST.account, endpoint: dest.url, ...REPLICATOR }],
    });
    // The source's own limit stays the default: only the destination's decides.
    source = await startRegistryProcess(join(work.path, 'source-data'), 0, ['--emulate-aws', '--config', sourceConfig]);
    for (const [name, api] of [
      ['source', sourceApi],
      ['dest', destApi],
    ] as const) {
      const answer = (await api('GetAuthorizationToken', {})) as { authorizationData: Array<{ authorizationToken: string }> };
      basic[name] = `Basic ${answer.authorizationData[0].authorizationToken}`;
    }
    await destApi('PutRegistryPolicy', {
      policyText: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE.account}:root` }, Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: `arn:aws:ecr:${DEST.region}:${DEST.account}:repository/*` }],
      }),
    });
    await sourceApi('PutReplicationConfiguration', {
      replicationConfiguration: { rules: [{ destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }] }] },
    });
  }, 120_000);

  afterAll(async () => {
    await source?.stop();
    await dest?.stop();
    work?.remove();
  });

  test('GIVEN a layer above the destination’s fetch limit and one below WHEN pushed THEN the destination holds identical digests, the large one having gone through its ingest service alone', async () => {
    const image = makeImage({ layers: [6 * 1024 * 1024, 200 * 1024], seed: 'large-blobs' });
    const [large, small] = image.layers;
    expect([large.size > FETCH_LIMIT, small.size < FETCH_LIMIT, image.config.size < FETCH_LIMIT]).toEqual([true, true, true]);
    await fetch(`${dest.url}/__berth/stats`, { method: 'DELETE' });
    await push('prod/big', image, 'v1');

    const deadline = Date.now() + 30_000;
    let res: Response;
    for (;;) {
      res = await fetch(`${dest.url}/v2/prod/big/manifests/v1`, { headers: { Accept: image.manifest.mediaType, Authorization: basic.dest } });
      if (res.status === 200 || Date.now() > deadline) break;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.manifest.digest);
    for (const blob of imageBlobs(image)) {
      // Followed to the destination's bucket: the bytes themselves, not only a link.
      const got = await fetch(`${dest.url}/v2/prod/big/blobs/${blob.digest}`, { headers: { Authorization: basic.dest }, redirect: 'follow' });
      expect([blob.digest, got.status, sha256(Buffer.from(await got.arrayBuffer()))]).toEqual([blob.digest, 200, blob.digest]);
    }
    // One upload to the ingest server, of the large layer's bytes only: the config and the small layer were fetched.
    expect(await destStats()).toMatchObject({ ingestRequests: 1, ingestRequestBodyBytes: large.size });
    // Recorded just after the manifest is stored at the destination.
    let statuses: Array<{ status: string }> = [];
    for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
      ({ replicationStatuses: statuses } = (await sourceApi('DescribeImageReplicationStatus', { repositoryName: 'prod/big', imageId: { imageDigest: image.manifest.digest } })) as {
        replicationStatuses: Array<{ status: string }>;
      });
      if (statuses[0]?.status === 'COMPLETE') break;
    }
    expect(statuses).toEqual([{ region: DEST.region, registryId: DEST.account, status: 'COMPLETE' }]);
  }, 60_000);
});
