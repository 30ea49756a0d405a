/**
 * Replication between two local-mode servers (issue 14): a source (account 111122223333, us-east-1)
 * whose `--config` names the destination (account 222233334444, eu-west-1) in `replicationDestinations`,
 * a rule put with PutReplicationConfiguration, images pushed to the source and found at the
 * destination with identical digests, prefix filters respected, a multi-arch index replicated whole;
 * DescribeImageReplicationStatus at the source, and a third server (account 333344445555) that refuses the
 * source's replicator until its registry policy allows it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeImageReplicationStatusCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  PutRegistryPolicyCommand,
  PutReplicationConfigurationCommand,
  type ImageReplicationStatus,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, makeIndex, type Blob, type Image } from '../support/oci-fixtures';
import { callEcrJson } from '../../lambdas/aws/ecr-json-call';
import type { RegistryEvent } from '../../lambdas/contracts/events';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
/** A destination of another account, whose replicator identity is of the source's account (cross-account: its registry policy decides). */
const THIRD = { account: '333344445555', region: 'ap-southeast-2' };
const SOURCE_ADMIN = { accessKeyId: 'AKIASOURCEADMIN00014', secretAccessKey: 'source-admin-secret-access-key-00014' };
const DEST_ADMIN = { accessKeyId: 'AKIADESTADMIN0000014', secretAccessKey: 'dest-admin-secret-access-key-0000014' };
const REPLICATOR = { accessKeyId: 'AKIAREPLICATOR000014', secretAccessKey: 'replicator-secret-access-key-000014' };
const THIRD_ADMIN = { accessKeyId: 'AKIATHIRDADMIN000014', secretAccessKey: 'third-admin-secret-access-key-000014' };
const THIRD_REPLICATOR = { accessKeyId: 'AKIATHIRDREPLICA0014', secretAccessKey: 'third-replicator-secret-access-key-14' };
const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const allowReplication = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };

let work: { path: string; remove: () => void };
let destConfig: string;
let source: RegistryProcess;
let dest: RegistryProcess;
let third: RegistryProcess;
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
  const thirdConfig = writeConfig('third', {
    registry: { account: THIRD.account, regions: [THIRD.region] },
    identities: [
      { name: 'admin', ...THIRD_ADMIN, arn: `arn:aws:iam::${THIRD.account}:user/admin`, policy: allowAll },
      { name: 'replicator', ...THIRD_REPLICATOR, arn: `arn:aws:iam::${SOURCE.account}:user/replicator`, policy: allowReplication },
    ],
  });
  third = await startRegistryProcess(join(work.path, 'third-data'), 0, ['--config', thirdConfig]);
  const sourceConfig = writeConfig('source', {
    registry: { account: SOURCE.account, regions: [SOURCE.region] },
    identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: allowAll }],
    replicationDestinations: [
      { region: DEST.region, registryId: DEST.account, endpoint: dest.url, ...REPLICATOR },
      { region: THIRD.region, registryId: THIRD.account, endpoint: third.url, ...THIRD_REPLICATOR },
    ],
  });
  source = await startRegistryProcess(join(work.path, 'source-data'), 0, ['--config', sourceConfig, '--events-file', join(work.path, 'source-events.jsonl')]);
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
  await third?.stop();
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

/** The source's DescribeImageReplicationStatus for an image, polled until `until` holds or 30 s pass. */
async function statusesAtSource(repo: string, imageTag: string, until: (statuses: ImageReplicationStatus[]) => boolean): Promise<ImageReplicationStatus[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await client(source, SOURCE.region, SOURCE_ADMIN).send(new DescribeImageReplicationStatusCommand({ repositoryName: repo, imageId: { imageTag } }));
    const statuses = answer.replicationStatuses ?? [];
    if (until(statuses) || Date.now() > deadline) return statuses;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The source's FAILED replication events for a repository in its --events-file, polled until `until` holds or 30 s pass. */
async function failedReplicationEvents(repo: string, until: (events: RegistryEvent[]) => boolean): Promise<RegistryEvent[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(join(work.path, 'source-events.jsonl'), 'utf8');
    } catch {
      // Not written yet: no event has been delivered.
    }
    const events = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as RegistryEvent)
      .filter((e) => e['detail-type'] === 'ECR Replication Action' && e.detail.result === 'FAILED' && e.detail['repository-name'] === repo);
    if (until(events) || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const settled = (statuses: ImageReplicationStatus[]) => statuses.length > 0 && statuses.every((s) => s.status !== 'IN_PROGRESS');

test('GIVEN deleteReplication on WHEN the source\'s lifecycle policy expires an image THEN it goes at the destination too, and the kept one stays', async () => {
  await putRules(true);
  const old = makeImage({ layers: [128], seed: 'lifecycle-old' });
  const kept = makeImage({ layers: [128], seed: 'lifecycle-kept' });
  await push('prod/life', old, 'old');
  await push('prod/life', kept, 'new');
  expect((await atDestination('prod/life', 'old')).status).toBe(200);
  expect((await atDestination('prod/life', 'new')).status).toBe(200);
  const admin = { url: source.url, region: SOURCE.region, credentials: SOURCE_ADMIN };
  await callEcrJson(admin, 'PutLifecyclePolicy', {
    repositoryName: 'prod/life',
    lifecyclePolicyText: JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] }),
  });
  const run = await callEcrJson(admin, 'BerthRunLifecyclePolicy', { repositoryName: 'prod/life' });
  expect(JSON.stringify(run)).toContain(old.manifest.digest);
  expect((await atDestination('prod/life', old.manifest.digest, (s) => s === 404)).status).toBe(404);
  expect((await atDestination('prod/life', 'new', () => true)).status).toBe(200);
}, 60_000);

test('GIVEN an image replicated WHEN DescribeImageReplicationStatus is asked at the source THEN COMPLETE for the destination', async () => {
  const image = makeImage({ layers: [256], seed: 'status-complete' });
  await push('prod/status', image, 'v1');
  expect((await atDestination('prod/status', 'v1')).status).toBe(200);
  expect(await statusesAtSource('prod/status', 'v1', settled)).toEqual([{ region: DEST.region, registryId: DEST.account, status: 'COMPLETE' }]);
}, 60_000);

test('GIVEN a destination of another account without a registry policy for the source WHEN an image is pushed THEN FAILED with AccessDeniedException at once; with the policy, the next push replicates', async () => {
  await callEcrJson({ url: source.url, region: SOURCE.region, credentials: SOURCE_ADMIN }, 'PutReplicationConfiguration', {
    replicationConfiguration: {
      rules: [
        { destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: false } },
        { destinations: [{ region: THIRD.region, registryId: THIRD.account }], repositoryFilters: [{ filter: 'partner/', filterType: 'PREFIX_MATCH' }] },
      ],
    },
  });
  const image = makeImage({ layers: [128], seed: 'cross-account' });
  const pushedAt = Date.now();
  await push('partner/app', image, 'v1');
  const refused = await statusesAtSource('partner/app', 'v1', settled);
  expect(refused).toEqual([{ region: THIRD.region, registryId: THIRD.account, status: 'FAILED', failureCode: 'AccessDeniedException' }]);
  // A refusal is not retried: the first retry alone would wait a second, all of them two hours.
  expect(Date.now() - pushedAt).toBeLessThan(20_000);
  // The status is written before the job is dead-lettered and logged: wait for the log line.
  const refusedLogged = () => source.stderr().split('\n').some((line) => line.includes('partner/app') && line.includes('replication refused by the destination, job dead-lettered'));
  for (const deadline = Date.now() + 10_000; !refusedLogged() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
  const lines = source.stderr().split('\n').filter((line) => line.includes('partner/app'));
  expect(lines.some((line) => line.includes('replication refused by the destination, job dead-lettered'))).toBe(true);
  expect(lines.filter((line) => line.includes('replication failed, retrying'))).toEqual([]);
  const deadLetters = readFileSync(join(work.path, 'source-data', 'replication', 'dead-letters.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { attempts: number; failureCode?: string; job: { repository: string } });
  expect(deadLetters.filter((d) => d.job.repository === 'partner/app')).toEqual([expect.objectContaining({ attempts: 1, failureCode: 'AccessDeniedException' })]);
  // The source's own FAILED `ECR Replication Action`: the destination refused, so only the source can say so.
  const failedEvents = await failedReplicationEvents('partner/app', (events) => events.length > 0);
  expect(failedEvents).toEqual([
    expect.objectContaining({
      'detail-type': 'ECR Replication Action',
      account: SOURCE.account,
      region: SOURCE.region,
      resources: [`arn:aws:ecr:${THIRD.region}:${THIRD.account}:repository/partner/app`],
      detail: expect.objectContaining({
        result: 'FAILED',
        'repository-name': 'partner/app',
        'image-digest': image.manifest.digest,
        'source-account': SOURCE.account,
        'action-type': 'REPLICATE',
        'source-region': SOURCE.region,
        'image-tag': 'v1',
      }),
    }),
  ]);

  // The destination's registry policy lets the source's account replicate (and create repositories).
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReplicationFromSource',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${SOURCE.account}:root` },
        Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'],
        Resource: `arn:aws:ecr:${THIRD.region}:${THIRD.account}:repository/*`,
      },
    ],
  };
  const thirdClient = client(third, THIRD.region, THIRD_ADMIN);
  await thirdClient.send(new PutRegistryPolicyCommand({ policyText: JSON.stringify(policy) }));
  // The same image pushed again: a new push, IN_PROGRESS anew, then COMPLETE.
  await push('partner/app', image, 'v1');
  expect(await statusesAtSource('partner/app', 'v1', (statuses) => statuses.some((s) => s.status === 'COMPLETE'))).toEqual([
    { region: THIRD.region, registryId: THIRD.account, status: 'COMPLETE' },
  ]);
  const token = await thirdClient.send(new GetAuthorizationTokenCommand({}));
  const res = await fetch(`${third.url}/v2/partner/app/manifests/v1`, {
    headers: { Accept: image.manifest.mediaType, Authorization: `Basic ${token.authorizationData![0].authorizationToken}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  // Once per job: the replicated push added no FAILED event.
  expect(await failedReplicationEvents('partner/app', () => true)).toHaveLength(1);
}, 90_000);
