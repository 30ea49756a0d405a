/**
 * Replication between two emulated AWS deployments (issue 14): `berth serve --emulate-aws` twice, each
 * with its own DynamoDB Local table, its own S3 stand-in bucket and its own account. The source's rule
 * sends its events to an SQS queue (fauxqs), which the real replicator handler reads through the stack's
 * adapter and signs its calls to the destination's API Gateway (the simulator, IAM authorization) for
 * `execute-api`. The replicator's identity is of the source's account, so the destination's registry
 * policy decides (cross-account, as ECR). docker pushes to the source, skopeo pulls from the destination.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchDeleteImageCommand,
  DescribeImageReplicationStatusCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  RepositoryNotFoundException,
  type ImageReplicationStatus,
} from '@aws-sdk/client-ecr';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { HttpRequest as SmithyHttpRequest, RequestSigningArguments } from '@smithy/types';
import { describeWithBinaries, run, runAsync } from '../support/clients';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, makeIndex, sha256, writeLayout, type Blob, type Image } from '../support/oci-fixtures';
import { callEcrJson } from '../../lambdas/aws/ecr-json-call';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
const SOURCE_ADMIN = { accessKeyId: 'AKIAEMUSOURCEADMIN14', secretAccessKey: 'emulated-source-admin-secret-0014' };
const DEST_ADMIN = { accessKeyId: 'AKIAEMUDESTADMIN0014', secretAccessKey: 'emulated-dest-admin-secret-00014' };
/** The source's replicator: on AWS its function's role, here an identity of the source's account that the destination knows. */
const REPLICATOR = { accessKeyId: 'AKIAEMUREPLICATOR014', secretAccessKey: 'emulated-replicator-secret-00014' };
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const ALLOW_REPLICATION = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };
const OCI_ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

describeWithBinaries(['java', 'dockerd', 'docker', 'skopeo'], 'replication between two emulated AWS deployments', () => {
  let work: ReturnType<typeof scratchDir>;
  let source: RegistryProcess;
  let dest: RegistryProcess;
  let daemon: DockerDaemon;
  const basic = { source: '', dest: '' };
  const passwords = { source: '', dest: '' };
  const clients: Array<{ destroy(): void }> = [];
  let sourceDescription: { events: string; replication: { deadLetterQueue: string; sqs: string } };
  let destDescription: { events: string };

  /** @aws-sdk/client-ecr signing for `execute-api`, as `berth ecr --execute-api` does. */
  function ecr(proc: RegistryProcess, region: string, credentials: typeof SOURCE_ADMIN): ECRClient {
    const signer = new SignatureV4({ service: 'execute-api', region, sha256: Sha256, credentials });
    const client = new ECRClient({
      region,
      endpoint: proc.url,
      credentials,
      maxAttempts: 1,
      signer: async () => ({ sign: (request: SmithyHttpRequest, args?: RequestSigningArguments) => signer.sign(request, { ...args, signingService: 'execute-api' }) }),
    });
    clients.push(client);
    return client;
  }
  const sourceEcr = () => ecr(source, SOURCE.region, SOURCE_ADMIN);
  const destEcr = () => ecr(dest, DEST.region, DEST_ADMIN);
  const skopeo = (...args: string[]) => run('skopeo', args, { timeoutMs: 120_000 });
  const docker = (...args: string[]) => run('docker', args, { env: daemon.env, timeoutMs: 120_000 });

  function writeConfig(name: string, config: Record<string, unknown>): string {
    const file = join(work.path, `${name}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  /** An OCI push through the source's data plane (POST, then PUT to the ingest service's Location). */
  async function pushBlob(repo: string, blob: Blob): Promise<void> {
    const start = await fetch(`${source.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic.source } });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location')!, source.url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: basic.source } });
    expect(put.status).toBe(201);
  }
  async function putManifest(repo: string, reference: string, manifest: Blob): Promise<void> {
    const res = await fetch(`${source.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: basic.source } });
    expect(res.status).toBe(201);
  }
  async function push(repo: string, image: Image, tag?: string): Promise<void> {
    for (const blob of imageBlobs(image)) await pushBlob(repo, blob);
    await putManifest(repo, tag ?? image.manifest.digest, image.manifest);
  }

  /** The destination's answer for a manifest, polled until `until` holds or `ms` pass. */
  async function atDestination(repo: string, reference: string, until: (status: number) => boolean = (s) => s === 200, ms = 60_000): Promise<Response> {
    const deadline = Date.now() + ms;
    for (;;) {
      const res = await fetch(`${dest.url}/v2/${repo}/manifests/${reference}`, { headers: { Accept: OCI_ACCEPT, Authorization: basic.dest } });
      if (until(res.status)) return res;
      if (Date.now() > deadline) {
        // What the replicator said, so that a failure here explains itself.
        const said = source.stderr().split('\n').filter((line) => /replicat/i.test(line) && line.includes(repo)).slice(-5);
        process.stderr.write(`${repo}:${reference} not as expected at the destination (${res.status}); the source's replicator said:\n${said.join('\n')}\n`);
        return res;
      }
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function replicationStatus(repositoryName: string, imageDigest: string, until: (s: ImageReplicationStatus | undefined) => boolean): Promise<ImageReplicationStatus | undefined> {
    const api = sourceEcr();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const out = await api.send(new DescribeImageReplicationStatusCommand({ repositoryName, imageId: { imageDigest } }));
      const status = out.replicationStatuses?.find((s) => s.region === DEST.region && s.registryId === DEST.account);
      if (until(status) || Date.now() > deadline) return status;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  type DeliveredEvent = { 'detail-type': string; detail: Record<string, unknown> };
  /** The events EventBridge accepted (the stand-in's file), polled until one of `detailType` names `digest` (the publisher runs on the table's stream). */
  async function eventsFor(file: string, detailType: string, digest: string): Promise<DeliveredEvent[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const found = readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as DeliveredEvent)
        .filter((e) => e['detail-type'] === detailType && e.detail['image-digest'] === digest);
      if (found.length > 0 || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    work = scratchDir('replication-emulated');
    const destConfig = writeConfig('dest', {
      registry: { account: DEST.account, regions: [DEST.region] },
      identities: [
        { name: 'admin', ...DEST_ADMIN, arn: `arn:aws:iam::${DEST.account}:user/admin`, policy: ALLOW_ALL },
        { name: 'replicator', ...REPLICATOR, arn: `arn:aws:iam::${SOURCE.account}:role/berth-replicator`, policy: ALLOW_REPLICATION },
      ],
    });
    dest = await startRegistryProcess(join(work.path, 'dest-data'), 0, ['--emulate-aws', '--config', destConfig]);
    const sourceConfig = writeConfig('source', {
      registry: { account: SOURCE.account, regions: [SOURCE.region] },
      identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: ALLOW_ALL }],
      replicationDestinations: [{ region: DEST.region, registryId: DEST.account, endpoint: dest.url, ...REPLICATOR }],
    });
    source = await startRegistryProcess(join(work.path, 'source-data'), 0, ['--emulate-aws', '--config', sourceConfig]);
    sourceDescription = JSON.parse(readFileSync(join(source.dataDir, 'emulated-aws.json'), 'utf8'));
    destDescription = JSON.parse(readFileSync(join(dest.dataDir, 'emulated-aws.json'), 'utf8'));
    for (const [name, api] of [
      ['source', sourceEcr()],
      ['dest', destEcr()],
    ] as const) {
      const token = (await api.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
      basic[name] = `Basic ${token}`;
      passwords[name] = Buffer.from(token, 'base64').toString('utf8').slice('AWS:'.length);
    }
    // The SDK drops `deleteReplication` (its model predates it): the configuration goes as raw signed JSON.
    await callEcrJson({ url: source.url, region: SOURCE.region, credentials: SOURCE_ADMIN, service: 'execute-api' }, 'PutReplicationConfiguration', {
      replicationConfiguration: {
        rules: [{ destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } }],
      },
    });
    daemon = await startDockerd(join(work.path, 'dockerd'));
    run('docker', ['login', '-u', 'AWS', '--password-stdin', source.host], { env: daemon.env, input: passwords.source });
  }, 240_000);

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await daemon?.stop();
    await source?.stop();
    await dest?.stop();
    work?.remove();
  });

  test('GIVEN no registry policy at the destination WHEN an image is pushed THEN FAILED AccessDeniedException, a FAILED event at the source and the job in the dead-letter queue', async () => {
    const image = makeImage({ layers: [2000], seed: 'emulated-refused' });
    await push('prod/refused', image, 'v1');
    const status = await replicationStatus('prod/refused', image.manifest.digest, (s) => s?.status === 'FAILED');
    expect(status).toEqual({ region: DEST.region, registryId: DEST.account, status: 'FAILED', failureCode: 'AccessDeniedException' });
    const failed = await eventsFor(sourceDescription.events, 'ECR Replication Action', image.manifest.digest);
    expect(failed).toHaveLength(1);
    expect(failed[0].detail).toMatchObject({ result: 'FAILED', 'action-type': 'REPLICATE', 'repository-name': 'prod/refused', 'image-tag': 'v1' });
    const sqs = new SQSClient({ endpoint: sourceDescription.replication.sqs, region: SOURCE.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, useQueueUrlAsEndpoint: false });
    clients.push(sqs);
    const letters = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sourceDescription.replication.deadLetterQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const bodies = (letters.Messages ?? []).map((m) => JSON.parse(m.Body!) as { failureCode: string; attempts: number; message: { 'berth-replication-job': { digest: string } } });
    expect(bodies).toEqual([expect.objectContaining({ failureCode: 'AccessDeniedException', attempts: 1, message: expect.objectContaining({ 'berth-replication-job': expect.objectContaining({ digest: image.manifest.digest }) }) })]);
    expect((await atDestination('prod/refused', 'v1', () => true, 0)).status).toBe(404);

    // The destination's registry policy lets the source's account replicate (and create repositories),
    // put with `berth ecr put-registry-policy --execute-api` as docs/replication.md's walk-through does.
    const policyFile = join(work.path, 'registry-policy.json');
    writeFileSync(
      policyFile,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Sid: 'ReplicationFromSource', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE.account}:root` }, Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: `arn:aws:ecr:${DEST.region}:${DEST.account}:repository/*` }],
      }),
    );
    const out = await runAsync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'ecr', 'put-registry-policy', '--policy-text', `file://${policyFile}`, '--execute-api', '--endpoint-url', dest.url, '--region', DEST.region], {
      env: { AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', AWS_ACCESS_KEY_ID: DEST_ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: DEST_ADMIN.secretAccessKey },
      timeoutMs: 60_000,
    });
    expect(JSON.parse(out)).toMatchObject({ registryId: DEST.account, policyText: expect.stringContaining('ReplicationFromSource') });
  }, 120_000);

  test('GIVEN the registry policy WHEN docker pushes to the source THEN the destination holds identical digests, skopeo pulls it, the status is COMPLETE, and other prefixes stay', async () => {
    const image = makeImage({ layers: [400 * 1024, 64 * 1024], seed: 'emulated-docker' });
    await push('dev/app', makeImage({ layers: [300], seed: 'emulated-dev' }), 'v1');
    const layout = join(work.path, 'layout-docker');
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const ref = `${source.host}/prod/app:v1`;
    const archive = join(work.path, 'image.tar');
    skopeo('copy', `oci:${layout}:v1`, `docker-archive:${archive}:${ref}`);
    expect(docker('load', '-i', archive)).toContain(`Loaded image: ${ref}`);
    const pushed = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(docker('push', ref));
    expect(pushed).not.toBeNull();
    const digest = pushed![1];

    const res = await atDestination('prod/app', 'v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const manifest = JSON.parse(await res.text()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const sourceManifest = await fetch(`${source.url}/v2/prod/app/manifests/${digest}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json', Authorization: basic.source } });
    expect(JSON.parse(await sourceManifest.text())).toEqual(manifest);
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const blob = await fetch(`${dest.url}/v2/prod/app/blobs/${d}`, { method: 'HEAD', headers: { Authorization: basic.dest }, redirect: 'follow' });
      expect([d, blob.status]).toEqual([d, 200]);
    }
    const pulled = join(work.path, 'pulled');
    // `dir:` keeps the manifest as served (an OCI layout would convert docker's manifest, and its digest).
    skopeo('copy', '--src-tls-verify=false', '--src-creds', `AWS:${passwords.dest}`, `docker://${dest.host}/prod/app:v1`, `dir:${pulled}`);
    expect(sha256(readFileSync(join(pulled, 'manifest.json')))).toBe(digest);

    expect(await replicationStatus('prod/app', digest, (s) => s?.status === 'COMPLETE')).toEqual({ region: DEST.region, registryId: DEST.account, status: 'COMPLETE' });
    const replicated = await eventsFor(destDescription.events, 'ECR Replication Action', digest);
    expect(replicated[0]?.detail).toMatchObject({ result: 'SUCCESS', 'action-type': 'REPLICATE', 'repository-name': 'prod/app', 'source-account': SOURCE.account, 'source-region': SOURCE.region, 'image-tag': 'v1' });
    // dev/app was pushed first: it would be there by now if the rule's filter let it through.
    await expect(destEcr().send(new DescribeRepositoriesCommand({ repositoryNames: ['dev/app'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  }, 180_000);

  test('GIVEN a multi-arch index and a signature of it WHEN pushed THEN the destination holds the index, its children and the referrer', async () => {
    const amd = makeImage({ layers: [300], seed: 'emulated-amd64', architecture: 'amd64' });
    const arm = makeImage({ layers: [300], seed: 'emulated-arm64', architecture: 'arm64' });
    const index = makeIndex([amd, arm]);
    await push('prod/multi', amd);
    await push('prod/multi', arm);
    await putManifest('prod/multi', 'v1', index);
    const signature = makeArtifact({ artifactType: 'application/vnd.example.signature.v1', subject: index, payload: Buffer.from('signed') });
    await pushBlob('prod/multi', signature.layer);
    await pushBlob('prod/multi', EMPTY_CONFIG);
    await putManifest('prod/multi', signature.manifest.digest, signature.manifest);

    expect((await atDestination('prod/multi', 'v1')).headers.get('docker-content-digest')).toBe(index.digest);
    for (const child of [amd, arm]) expect((await atDestination('prod/multi', child.manifest.digest)).status).toBe(200);
    expect((await atDestination('prod/multi', signature.manifest.digest)).status).toBe(200);
    const referrers = await fetch(`${dest.url}/v2/prod/multi/referrers/${index.digest}`, { headers: { Authorization: basic.dest } });
    expect(((await referrers.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)).toEqual([signature.manifest.digest]);
  }, 120_000);

  test('GIVEN deleteReplication on WHEN an image is deleted at the source THEN it goes at the destination', async () => {
    const image = makeImage({ layers: [500], seed: 'emulated-delete' });
    await push('prod/del', image, 'v1');
    expect((await atDestination('prod/del', 'v1')).status).toBe(200);
    await sourceEcr().send(new BatchDeleteImageCommand({ repositoryName: 'prod/del', imageIds: [{ imageDigest: image.manifest.digest }] }));
    expect((await atDestination('prod/del', image.manifest.digest, (s) => s === 404)).status).toBe(404);
  }, 120_000);

  test('GIVEN the destination unreachable (the gateway fault switch) WHEN an image is pushed THEN it is retried and replicated by itself once the destination is back', async () => {
    expect((await fetch(`${dest.url}/__berth/fault`, { method: 'PUT' })).status).toBe(204);
    const image = makeImage({ layers: [700], seed: 'emulated-outage' });
    try {
      await push('prod/outage', image, 'v1');
      await new Promise((r) => setTimeout(r, 4000));
      expect(source.stderr()).toContain('replication failed, retrying');
      expect(await replicationStatus('prod/outage', image.manifest.digest, () => true)).toMatchObject({ status: 'IN_PROGRESS' });
    } finally {
      expect((await fetch(`${dest.url}/__berth/fault`, { method: 'DELETE' })).status).toBe(204);
    }
    expect((await atDestination('prod/outage', 'v1')).status).toBe(200);
    expect(await replicationStatus('prod/outage', image.manifest.digest, (s) => s?.status === 'COMPLETE')).toMatchObject({ status: 'COMPLETE' });
  }, 120_000);
});

