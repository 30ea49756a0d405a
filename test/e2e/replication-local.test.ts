/**
 * Replication between two local-mode servers (issue 14): a source (account 111122223333, us-east-1)
 * whose `--config` names the destination (account 222233334444, eu-west-1) in `replicationDestinations`,
 * a rule put with PutReplicationConfiguration, images pushed to the source and found at the
 * destination with identical digests, prefix filters respected, a multi-arch index replicated whole.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand, PutReplicationConfigurationCommand } from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, makeIndex, type Blob, type Image } from '../support/oci-fixtures';
import { callEcrJson } from '../../lambdas/aws/ecr-json-call';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
const SOURCE_ADMIN = { accessKeyId: 'AKIASOURCEADMIN00014', secretAccessKey: 'source-admin-secret-access-key-00014' };
const DEST_ADMIN = { accessKeyId: 'AKIADESTADMIN0000014', secretAccessKey: 'dest-admin-secret-access-key-0000014' };
const REPLICATOR = { accessKeyId: 'AKIAREPLICATOR000014', secretAccessKey: 'replicator-secret-access-key-000014' };
const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const allowReplication = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };

let work: { path: string; remove: () => void };
let destConfig: string;
let source: RegistryProcess;
let dest: RegistryProcess;
const basic = { source: '', dest: '' };

const client = (proc: RegistryProcess, region: string, credentials: typeof SOURCE_ADMIN) => new ECRClient({ region, endpoint: proc.url, credentials, maxAttempts: 1 });

function writeConfig(name: string, config: Record<string, unknown>): string {
  const file = join(work.path, `${name}.json`);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

async function pushBlob(repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${source.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    body: blob.bytes,
    headers: { 'Content-Type': 'application/octet-stream', Authorization: basic.source },
  });
  expect(res.status).toBe(201);
}

async function putManifest(repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await fetch(`${source.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: basic.source } });
  expect(res.status).toBe(201);
}

async function push(repo: string, image: Image, tag?: string): Promise<void> {
  for (const blob of imageBlobs(image)) await pushBlob(repo, blob);
  await putManifest(repo, tag ?? image.manifest.digest, image.manifest);
}

/** The destination's answer for a manifest, polled until `until` holds or 30 s pass. */
async function atDestination(repo: string, reference: string, until: (status: number) => boolean = (s) => s === 200): Promise<Response> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${dest.url}/v2/${repo}/manifests/${reference}`, {
      headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json', Authorization: basic.dest },
    });
    if (until(res.status) || Date.now() > deadline) return res;
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  work = scratchDir('replication-local');
  destConfig = writeConfig('dest', {
    registry: { account: DEST.account, regions: [DEST.region] },
    identities: [
      { name: 'admin', ...DEST_ADMIN, arn: `arn:aws:iam::${DEST.account}:user/admin`, policy: allowAll },
      { name: 'replicator', ...REPLICATOR, arn: `arn:aws:iam::${DEST.account}:user/replicator`, policy: allowReplication },
    ],
  });
  dest = await startRegistryProcess(join(work.path, 'dest-data'), 0, ['--config', destConfig]);
  const sourceConfig = writeConfig('source', {
    registry: { account: SOURCE.account, regions: [SOURCE.region] },
    identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: allowAll }],
    replicationDestinations: [{ region: DEST.region, registryId: DEST.account, endpoint: dest.url, ...REPLICATOR }],
  });
  source = await startRegistryProcess(join(work.path, 'source-data'), 0, ['--config', sourceConfig]);
  for (const [name, proc, region, credentials] of [
    ['source', source, SOURCE.region, SOURCE_ADMIN],
    ['dest', dest, DEST.region, DEST_ADMIN],
  ] as const) {
    const token = await client(proc, region, credentials).send(new GetAuthorizationTokenCommand({}));
    basic[name] = `Basic ${token.authorizationData![0].authorizationToken}`;
  }
  await client(source, SOURCE.region, SOURCE_ADMIN).send(
    new PutReplicationConfigurationCommand({
      replicationConfiguration: { rules: [{ destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }] }] },
    }),
  );
}, 90_000);

afterAll(async () => {
  await source?.stop();
  await dest?.stop();
  work?.remove();
});

test('GIVEN a rule for prod/ WHEN an image is pushed to prod/app and to dev/app THEN prod/app:v1 appears at the destination with the same digest, and dev/app does not', async () => {
  const image = makeImage({ layers: [2048, 512], seed: 'replicated' });
  await push('prod/app', image, 'v1');
  await push('dev/app', makeImage({ layers: [64], seed: 'not-replicated' }), 'v1');
  const res = await atDestination('prod/app', 'v1');
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
  for (const blob of imageBlobs(image)) {
    const got = await fetch(`${dest.url}/v2/prod/app/blobs/${blob.digest}`, { headers: { Authorization: basic.dest } });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(blob.bytes)).toBe(true);
  }
  // Given the time prod/app took, dev/app would be there by now if it were replicated.
  expect((await atDestination('dev/app', 'v1', () => true)).status).toBe(404);
}, 60_000);

test('GIVEN a multi-arch index WHEN pushed with its children THEN the destination holds the index, its tag and both children', async () => {
  const amd = makeImage({ layers: [300], seed: 'multi-amd64', architecture: 'amd64' });
  const arm = makeImage({ layers: [300], seed: 'multi-arm64', architecture: 'arm64' });
  const index = makeIndex([amd, arm]);
  await push('prod/multi', amd);
  await push('prod/multi', arm);
  await putManifest('prod/multi', 'v2', index);
  const res = await atDestination('prod/multi', 'v2');
  expect(res.headers.get('docker-content-digest')).toBe(index.digest);
  for (const child of [amd, arm]) expect((await atDestination('prod/multi', child.manifest.digest)).status).toBe(200);
}, 60_000);

/** The SDK drops `deleteReplication` (its model predates it): the configuration goes as raw signed JSON. */
async function putRules(deleteReplication: boolean): Promise<void> {
  await callEcrJson({ url: source.url, region: SOURCE.region, credentials: SOURCE_ADMIN }, 'PutReplicationConfiguration', {
    replicationConfiguration: {
      rules: [
        {
          destinations: [{ region: DEST.region, registryId: DEST.account }],
          repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }],
          deleteReplication: { enabled: deleteReplication },
        },
      ],
    },
  });
}

const deleteTag = (repo: string, tag: string) => fetch(`${source.url}/v2/${repo}/manifests/${tag}`, { method: 'DELETE', headers: { Authorization: basic.source } });

test('GIVEN deleteReplication on WHEN a tag is deleted at the source THEN it goes at the destination; with it off, the replica stays', async () => {
  await putRules(true);
  await push('prod/del', makeImage({ layers: [100], seed: 'delete-on' }), 'v1');
  expect((await atDestination('prod/del', 'v1')).status).toBe(200);
  expect((await deleteTag('prod/del', 'v1')).status).toBe(202);
  expect((await atDestination('prod/del', 'v1', (s) => s === 404)).status).toBe(404);

  await putRules(false);
  await push('prod/keep', makeImage({ layers: [100], seed: 'delete-off' }), 'v1');
  expect((await atDestination('prod/keep', 'v1')).status).toBe(200);
  expect((await deleteTag('prod/keep', 'v1')).status).toBe(202);
  // Jobs run in order: once a later push is at the destination, a delete job would have run before it.
  await push('prod/keep', makeImage({ layers: [100], seed: 'marker' }), 'marker');
  expect((await atDestination('prod/keep', 'marker')).status).toBe(200);
  expect((await atDestination('prod/keep', 'v1', () => true)).status).toBe(200);
}, 90_000);

test('GIVEN the destination stopped WHEN an image is pushed THEN it is replicated by itself once the destination is back', async () => {
  const port = Number(new URL(dest.url).port);
  await dest.stop();
  const image = makeImage({ layers: [500], seed: 'while-down' });
  await push('prod/late', image, 'v1');
  await new Promise((r) => setTimeout(r, 3000));
  expect(source.stderr()).toContain('replication failed, retrying');
  dest = await startRegistryProcess(join(work.path, 'dest-data'), port, ['--config', destConfig]);
  const deadline = Date.now() + 60_000;
  let res = await atDestination('prod/late', 'v1');
  while (res.status !== 200 && Date.now() < deadline) res = await atDestination('prod/late', 'v1');
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
}, 120_000);
