/**
 * The destination's side of replication (issue 14) on `berth serve --config`: Berth's actions
 * BerthReplicateBlob, BerthReplicateImage and BerthReplicateDelete, sent as raw signed JSON (the SDK
 * does not know them) by a "source" identity of another account (111122223333) and by a replicator
 * of the destination's own account (222233334444). Blobs come from a tiny HTTP server standing in for
 * the source's presigned URLs, and from the destination's own download-token URL; events are read
 * from `--events-file`. The tests run in order on one server: the registry policy the second one
 * puts is what the later ones replicate under.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  BatchCheckLayerAvailabilityCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetDownloadUrlForLayerCommand,
  PutRegistryPolicyCommand,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import type { ImageActionEvent } from '../../lambdas/contracts/events';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { readEventLines } from '../support/image-events';
import { blobOf, EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, makeIndex, pseudoRandomBytes, type Blob, type Image } from '../support/oci-fixtures';

const DEST = '222233334444';
const SOURCE_ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const SOURCE_REGION = 'us-west-2';
const TARGET = 'AmazonEC2ContainerRegistry_V20150921.';
type Credentials = { accessKeyId: string; secretAccessKey: string };
const ADMIN: Credentials = { accessKeyId: 'AKIADESTADMIN0014RA', secretAccessKey: 'dest-admin-secret-access-key-14ra' };
/** The destination account's own replicator (another region of the same deployment): identity policy ecr:ReplicateImage only. */
const LOCAL: Credentials = { accessKeyId: 'AKIADESTREPLICA14RA', secretAccessKey: 'dest-replicator-secret-key-14ra' };
/** The source registry's replicator, of another account: its own account lets it do anything with ECR. */
const SOURCE: Credentials = { accessKeyId: 'AKIASOURCEREPL14RAX', secretAccessKey: 'source-replicator-secret-key-14ra' };
const SOURCE_ARN = `arn:aws:iam::${SOURCE_ACCOUNT}:user/replicator`;
const repoArn = (name: string) => `arn:aws:ecr:${REGION}:${DEST}:repository/${name}`;

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let eventsFile: string;
let basic: string;
let source: Server;
let sourceUrl: string;
/** What the stand-in source serves: path -> bytes (chunked: without Content-Length; truncated: the connection drops half-way). */
const served = new Map<string, { bytes: Buffer; chunked?: boolean; truncated?: boolean; status?: number }>();

const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });

interface Answer {
  status: number;
  type?: string;
  body: Record<string, unknown>;
}

/** A Berth action as raw signed JSON, as the source's replicator sends it. */
async function call(credentials: Credentials, action: string, input: Record<string, unknown>): Promise<Answer> {
  const url = new URL(proc.url);
  const body = JSON.stringify(input);
  const signed = await new SignatureV4({ service: 'ecr', region: REGION, credentials, sha256: Sha256 }).sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${TARGET}${action}` },
    body,
  });
  const res = await fetch(`${proc.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  return { status: res.status, type: res.headers.get('x-amzn-errortype') ?? undefined, body: (await res.json()) as Record<string, unknown> };
}

/** Serves `blob` at the stand-in source and answers its URL (with a query, as a presigned URL has). */
function serve(blob: Blob, options: { chunked?: boolean; truncated?: boolean; status?: number; bytes?: Buffer } = {}): string {
  const path = `/blobs/${blob.digest.slice(7, 23)}-${served.size}`;
  served.set(path, { bytes: options.bytes ?? blob.bytes, ...options });
  return `${sourceUrl}${path}?X-Amz-Signature=secret-${served.size}`;
}

const replicateBlob = (who: Credentials, repositoryName: string, blob: Blob, extra: Record<string, unknown> = {}) =>
  call(who, 'BerthReplicateBlob', { repositoryName, sourceRegion: SOURCE_REGION, digest: blob.digest, size: blob.size, url: serve(blob), ...extra });

async function replicateImage(who: Credentials, repositoryName: string, image: Image | Blob, tag?: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const manifest = 'manifest' in image ? image.manifest : image;
  if ('manifest' in image) for (const blob of imageBlobs(image)) expect((await replicateBlob(who, repositoryName, blob)).status).toBe(200);
  return call(who, 'BerthReplicateImage', {
    repositoryName,
    sourceRegion: SOURCE_REGION,
    imageManifest: manifest.bytes.toString('utf8'),
    imageManifestMediaType: manifest.mediaType,
    ...(tag !== undefined ? { imageTag: tag } : {}),
    ...extra,
  });
}

const get = (path: string, accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json') =>
  fetch(`${proc.url}${path}`, { headers: { Authorization: basic, Accept: accept } });

async function layerAvailable(repositoryName: string, digest: string): Promise<boolean> {
  const answer = await ecr().send(new BatchCheckLayerAvailabilityCommand({ repositoryName, layerDigests: [digest] }));
  return (answer.layers ?? []).length === 1;
}

async function registryPolicy(actions: string[]): Promise<void> {
  const policy = { Version: '2012-10-17', Statement: [{ Sid: 'Replication', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE_ACCOUNT}:root` }, Action: actions, Resource: repoArn('*') }] };
  await ecr().send(new PutRegistryPolicyCommand({ policyText: JSON.stringify(policy) }));
}

/** The events of `digest` once `count` of them arrived (the server drains its outbox every 250 ms). */
async function eventsOf(digest: string, count: number): Promise<ImageActionEvent[]> {
  for (let i = 0; ; i++) {
    const found = readEventLines(eventsFile).filter((e) => e.detail['image-digest'] === digest);
    if (found.length >= count || i > 80) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  work = scratchDir('replicate-actions');
  eventsFile = join(work.path, 'events.jsonl');
  const allow = (actions: string | string[]) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] });
  const config = join(work.path, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      registry: { account: DEST, regions: [REGION] },
      identities: [
        { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${DEST}:user/admin`, policy: allow('ecr:*') },
        { name: 'replicator', ...LOCAL, arn: `arn:aws:iam::${DEST}:user/replicator`, policy: allow('ecr:ReplicateImage') },
        { name: 'source', ...SOURCE, arn: SOURCE_ARN, policy: allow('ecr:*') },
      ],
    }),
    { mode: 0o600 },
  );
  source = createServer((req, res) => {
    const entry = served.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!entry) return res.writeHead(404).end('no such blob');
    if (entry.status !== undefined) return res.writeHead(entry.status).end('<Error><Code>AccessDenied</Code></Error>');
    if (entry.truncated) {
      res.writeHead(200, { 'Content-Length': String(entry.bytes.length) });
      res.write(entry.bytes.subarray(0, entry.bytes.length >> 1), () => res.destroy());
      return;
    }
    if (entry.chunked) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write(entry.bytes.subarray(0, 1));
      return res.end(entry.bytes.subarray(1));
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(entry.bytes.length) }).end(entry.bytes);
  });
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
  sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config, '--events-file', eventsFile]);
  const token = await ecr().send(new GetAuthorizationTokenCommand({}));
  basic = `Basic ${token.authorizationData![0].authorizationToken}`;
  await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/app' }));
  // Repositories replication creates under rep/ take this template (immutable tags); pushes are not its business.
  await ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'rep', appliedFor: ['REPLICATION'], imageTagMutability: 'IMMUTABLE' }));
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  await new Promise((r) => source?.close(r));
  work?.remove();
});

describe('who may replicate', () => {
  test('GIVEN no registry policy WHEN the other account’s replicator calls THEN AccessDeniedException for ecr:ReplicateImage; the destination’s own replicator needs only its identity policy', async () => {
    const blob = blobOf(pseudoRandomBytes(300, 'who-1'));
    const refused = await replicateBlob(SOURCE, 'team/app', blob);
    expect(refused).toMatchObject({ status: 400, type: 'AccessDeniedException' });
    expect(refused.body.message).toBe(`User: ${SOURCE_ARN} is not authorized to perform: ecr:ReplicateImage on resource: ${repoArn('team/app')} because no identity-based policy allows the ecr:ReplicateImage action`);
    expect(await layerAvailable('team/app', blob.digest)).toBe(false);
    expect(await replicateBlob(LOCAL, 'team/app', blob)).toMatchObject({ status: 200, body: { registryId: DEST, repositoryName: 'team/app', digest: blob.digest, result: 'COPIED' } });
    expect(await replicateBlob(LOCAL, 'team/app', blob)).toMatchObject({ status: 200, body: { result: 'PRESENT' } });
  });

  test('GIVEN a registry policy allowing ecr:ReplicateImage WHEN the other account replicates THEN accepted in existing repositories; creating one needs ecr:CreateRepository too, and takes the REPLICATION template', async () => {
    await registryPolicy(['ecr:ReplicateImage']);
    const blob = blobOf(pseudoRandomBytes(500, 'who-2'));
    expect(await replicateBlob(SOURCE, 'team/app', blob)).toMatchObject({ status: 200, body: { result: 'COPIED' } });

    const denied = await replicateBlob(SOURCE, 'rep/app', blob);
    expect(denied).toMatchObject({ status: 400, type: 'AccessDeniedException' });
    expect(denied.body.message).toContain(`not authorized to perform: ecr:CreateRepository on resource: ${repoArn('rep/app')}`);
    expect(await replicateBlob(LOCAL, 'rep/app', blob)).toMatchObject({ status: 400, type: 'AccessDeniedException' });
    await expect(ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['rep/app'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);

    await registryPolicy(['ecr:ReplicateImage', 'ecr:CreateRepository']);
    expect(await replicateBlob(SOURCE, 'rep/app', blob)).toMatchObject({ status: 200, body: { repositoryName: 'rep/app', result: 'COPIED' } });
    const [created] = (await ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['rep/app'] }))).repositories!;
    expect(created.imageTagMutability).toBe('IMMUTABLE');
    expect(await layerAvailable('rep/app', blob.digest)).toBe(true);
  });
});

describe('BerthReplicateBlob', () => {
  test('GIVEN a URL serving other bytes than the digest names, or another size THEN InvalidParameterException and nothing is linked', async () => {
    const blob = blobOf(pseudoRandomBytes(1000, 'bad-1'));
    const other = blobOf(pseudoRandomBytes(1000, 'bad-2'));
    const wrongDigest = await call(SOURCE, 'BerthReplicateBlob', { repositoryName: 'team/app', sourceRegion: SOURCE_REGION, digest: blob.digest, size: blob.size, url: serve(blob, { bytes: other.bytes }) });
    expect(wrongDigest).toMatchObject({ status: 400, type: 'InvalidParameterException' });
    expect(wrongDigest.body.message).toContain("'digest'");
    // Announced with a Content-Length that disagrees, then without one (a chunked answer) and cut short by the size.
    expect(await replicateBlob(SOURCE, 'team/app', blob, { size: blob.size + 1 })).toMatchObject({ status: 400, type: 'InvalidParameterException' });
    const chunked = (size: number) =>
      call(SOURCE, 'BerthReplicateBlob', { repositoryName: 'team/app', sourceRegion: SOURCE_REGION, digest: blob.digest, size, url: serve(blob, { chunked: true }) });
    expect(await chunked(blob.size + 1)).toMatchObject({ status: 400, type: 'InvalidParameterException' });
    expect(await chunked(blob.size - 1)).toMatchObject({ status: 400, type: 'InvalidParameterException' });
    expect(await layerAvailable('team/app', blob.digest)).toBe(false);
    expect(await layerAvailable('team/app', other.digest)).toBe(false);
    expect(await chunked(blob.size)).toMatchObject({ status: 200, body: { result: 'COPIED' } });
  });

  test('GIVEN a source that answers 403, or is unreachable or drops the connection half-way THEN BerthBlobSourceUnavailableException naming the host only', async () => {
    const blob = blobOf(pseudoRandomBytes(100, 'gone'));
    const forbidden = await call(SOURCE, 'BerthReplicateBlob', { repositoryName: 'team/app', sourceRegion: SOURCE_REGION, digest: blob.digest, size: blob.size, url: serve(blob, { status: 403 }) });
    expect(forbidden).toMatchObject({ status: 400, type: 'BerthBlobSourceUnavailableException' });
    expect(forbidden.body.message).toContain('HTTP 403');
    expect(forbidden.body.message).toContain(new URL(sourceUrl).host);
    expect(forbidden.body.message).not.toContain('secret');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const unreachable = await replicateBlob(SOURCE, 'team/app', blob, { url: `http://127.0.0.1:${port}/blob` });
    expect(unreachable).toMatchObject({ status: 400, type: 'BerthBlobSourceUnavailableException' });
    expect(unreachable.body.message).toContain('ECONNREFUSED');
    const cut = await call(SOURCE, 'BerthReplicateBlob', { repositoryName: 'team/app', sourceRegion: SOURCE_REGION, digest: blob.digest, size: blob.size, url: serve(blob, { truncated: true }) });
    expect(cut).toMatchObject({ status: 400, type: 'BerthBlobSourceUnavailableException' });
    expect(await replicateBlob(SOURCE, 'team/app', blob, { url: 'file:///etc/passwd' })).toMatchObject({ status: 400, type: 'InvalidParameterException' });
    expect(await layerAvailable('team/app', blob.digest)).toBe(false);
  });

  test('GIVEN the source’s download-token URL (GetDownloadUrlForLayer in local mode) THEN the blob is copied from it', async () => {
    const blob = blobOf(pseudoRandomBytes(2048, 'token-url'));
    const pushed = await fetch(`${proc.url}/v2/origin/src/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { Authorization: basic } });
    expect(pushed.status).toBe(201);
    const { downloadUrl } = await ecr().send(new GetDownloadUrlForLayerCommand({ repositoryName: 'origin/src', layerDigest: blob.digest }));
    expect(await replicateBlob(SOURCE, 'team/app', blob, { url: downloadUrl })).toMatchObject({ status: 200, body: { result: 'COPIED' } });
    const res = await get(`/v2/team/app/blobs/${blob.digest}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(blob.bytes)).toBe(true);
  });
});

describe('BerthReplicateImage', () => {
  test('GIVEN an image’s blobs replicated WHEN its manifest is replicated with a tag THEN it is pullable by tag with the identical digest and bytes; replicating it again is fine', async () => {
    const image = makeImage({ seed: 'image-1', layers: [4096, 128] });
    const first = await replicateImage(SOURCE, 'team/app', image, 'v1');
    expect(first).toMatchObject({ status: 200, body: { registryId: DEST, repositoryName: 'team/app', imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' }, tagged: true } });
    expect(first.body).not.toHaveProperty('reason');
    const res = await get('/v2/team/app/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
    for (const blob of imageBlobs(image)) {
      const pulled = await get(`/v2/team/app/blobs/${blob.digest}`);
      expect(Buffer.from(await pulled.arrayBuffer()).equals(blob.bytes)).toBe(true);
    }
    expect(await replicateImage(SOURCE, 'team/app', image, 'v1', { imageDigest: image.manifest.digest })).toMatchObject({ status: 200, body: { tagged: true } });
    const wrong = await replicateImage(SOURCE, 'team/app', image.manifest, undefined, { imageDigest: makeImage({ seed: 'other', layers: [1] }).manifest.digest });
    expect(wrong).toMatchObject({ status: 400, type: 'ImageDigestDoesNotMatchException' });
  });

  test('GIVEN blobs or children missing at the destination THEN LayersNotFoundException / ReferencedImagesNotFoundException, and nothing is tagged', async () => {
    const image = makeImage({ seed: 'missing-blobs', layers: [64] });
    expect(await replicateImage(SOURCE, 'team/app', image.manifest, 'missing')).toMatchObject({ status: 400, type: 'LayersNotFoundException' });
    const child = makeImage({ seed: 'missing-child', layers: [64] });
    const index = makeIndex([child]);
    expect(await replicateImage(SOURCE, 'team/app', index, 'multi')).toMatchObject({ status: 400, type: 'ReferencedImagesNotFoundException' });
    expect((await get('/v2/team/app/manifests/missing')).status).toBe(404);
    expect((await get('/v2/team/app/manifests/multi')).status).toBe(404);
    // Children first, then the index: the order a replicator keeps.
    expect(await replicateImage(SOURCE, 'team/app', child)).toMatchObject({ status: 200, body: { tagged: false, imageId: { imageDigest: child.manifest.digest } } });
    expect(await replicateImage(SOURCE, 'team/app', index, 'multi')).toMatchObject({ status: 200, body: { tagged: true } });
    expect((await get('/v2/team/app/manifests/multi')).headers.get('docker-content-digest')).toBe(index.digest);
  });

  test('GIVEN an immutable tag naming another image at the destination WHEN an image is replicated under it THEN it is stored untagged and the answer says why', async () => {
    const held = makeImage({ seed: 'held', layers: [64] });
    const newer = makeImage({ seed: 'newer', layers: [64] });
    expect(await replicateImage(SOURCE, 'rep/app', held, 'v1')).toMatchObject({ status: 200, body: { tagged: true } });
    const untagged = await replicateImage(SOURCE, 'rep/app', newer, 'v1');
    expect(untagged).toMatchObject({ status: 200, body: { tagged: false, reason: 'IMAGE_TAG_ALREADY_EXISTS', imageId: { imageDigest: newer.manifest.digest } } });
    expect((untagged.body.imageId as Record<string, unknown>).imageTag).toBeUndefined();
    expect((await get('/v2/rep/app/manifests/v1')).headers.get('docker-content-digest')).toBe(held.manifest.digest);
    expect((await get(`/v2/rep/app/manifests/${newer.manifest.digest}`)).status).toBe(200);
    // The same image again under its own tag is no conflict.
    expect(await replicateImage(SOURCE, 'rep/app', held.manifest, 'v1')).toMatchObject({ status: 200, body: { tagged: true } });
  });

  test('GIVEN a replica stored WHEN the events are read THEN its PUSH says it is a replica and an ECR Replication Action follows with ECR’s keys, source-account the caller’s', async () => {
    const image = makeImage({ seed: 'evented', layers: [64] });
    // A member claiming another account changes nothing: the source is who signed.
    expect(await replicateImage(SOURCE, 'team/app', image, 'ev1', { sourceAccount: '999999999999' })).toMatchObject({ status: 200 });
    const [push, replicate] = await eventsOf(image.manifest.digest, 2);
    expect(push).toMatchObject({ 'detail-type': 'ECR Image Action', account: DEST, region: REGION, resources: [] });
    expect(push.detail).toMatchObject({ 'action-type': 'PUSH', 'image-tag': 'ev1', 'berth-replicated-from': { account: SOURCE_ACCOUNT, region: SOURCE_REGION } });
    expect(replicate).toMatchObject({ 'detail-type': 'ECR Replication Action', source: 'berth.ecr', account: DEST, region: REGION, resources: [repoArn('team/app')] });
    expect(replicate.detail).toEqual({
      result: 'SUCCESS',
      'repository-name': 'team/app',
      'image-digest': image.manifest.digest,
      'source-account': SOURCE_ACCOUNT,
      'action-type': 'REPLICATE',
      'source-region': SOURCE_REGION,
      'image-tag': 'ev1',
      'berth-event-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(Object.keys(replicate.detail)).toEqual(['result', 'repository-name', 'image-digest', 'source-account', 'action-type', 'source-region', 'image-tag', 'berth-event-id']);

    // The destination's own replicator is of this account; a replica left untagged has no image-tag.
    const local = makeImage({ seed: 'evented-local', layers: [64] });
    expect(await replicateImage(LOCAL, 'team/app', local)).toMatchObject({ status: 200 });
    const [, localReplicate] = await eventsOf(local.manifest.digest, 2);
    expect(localReplicate.detail).toMatchObject({ 'source-account': DEST, 'action-type': 'REPLICATE' });
    expect(localReplicate.detail).not.toHaveProperty('image-tag');
  });
});

describe('BerthReplicateDelete', () => {
  const del = (repositoryName: string, imageDigest: string, imageTag?: string) =>
    call(SOURCE, 'BerthReplicateDelete', { repositoryName, sourceRegion: SOURCE_REGION, imageDigest, ...(imageTag !== undefined ? { imageTag } : {}) });

  test('GIVEN a replica with two tags WHEN deleted by tag THEN the tag only while it names the digest, the image with its last tag; by digest the image; each idempotent', async () => {
    const image = makeImage({ seed: 'deleted', layers: [64] });
    const other = makeImage({ seed: 'deleted-other', layers: [64] });
    await replicateImage(SOURCE, 'team/app', image, 'd1');
    await replicateImage(SOURCE, 'team/app', image.manifest, 'd2');
    await replicateImage(SOURCE, 'team/app', other, 'o1');
    const digest = image.manifest.digest;
    expect(await del('team/app', digest, 'o1')).toMatchObject({ status: 200, body: { result: 'ABSENT' } });
    expect((await get('/v2/team/app/manifests/o1')).status).toBe(200);
    expect(await del('team/app', digest, 'd1')).toMatchObject({ status: 200, body: { registryId: DEST, repositoryName: 'team/app', result: 'DELETED' } });
    expect((await get('/v2/team/app/manifests/d1')).status).toBe(404);
    expect((await get(`/v2/team/app/manifests/${digest}`)).status).toBe(200);
    expect(await del('team/app', digest, 'd1')).toMatchObject({ status: 200, body: { result: 'ABSENT' } });
    expect(await del('team/app', digest, 'd2')).toMatchObject({ status: 200, body: { result: 'DELETED' } });
    expect((await get(`/v2/team/app/manifests/${digest}`)).status).toBe(404);

    expect(await del('team/app', other.manifest.digest)).toMatchObject({ status: 200, body: { result: 'DELETED' } });
    expect((await get('/v2/team/app/manifests/o1')).status).toBe(404);
    expect(await del('team/app', other.manifest.digest)).toMatchObject({ status: 200, body: { result: 'ABSENT' } });
    expect(await del('no/such-repo', other.manifest.digest, 'o1')).toMatchObject({ status: 200, body: { result: 'ABSENT' } });
  });

  test('GIVEN replicas deleted by tag and by digest WHEN the events are read THEN every DELETE it caused (a tag, the image with its last tag, its referrer) carries berth-replicated-from, the signed caller’s account', async () => {
    const image = makeImage({ seed: 'marked-delete', layers: [64] });
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.sbom', subject: image.manifest, payload: Buffer.from('marked-delete sbom') });
    const other = makeImage({ seed: 'marked-delete-local', layers: [64] });
    await replicateImage(SOURCE, 'team/app', image, 'md1');
    await replicateImage(SOURCE, 'team/app', image.manifest, 'md2');
    for (const blob of [EMPTY_CONFIG, artifact.layer]) expect((await replicateBlob(SOURCE, 'team/app', blob)).status).toBe(200);
    expect(await replicateImage(SOURCE, 'team/app', artifact.manifest)).toMatchObject({ status: 200 });
    await replicateImage(SOURCE, 'team/app', other, 'ml1');
    const from = { account: SOURCE_ACCOUNT, region: SOURCE_REGION };
    // By tag with another tag left: the tag alone; then the last tag: the image and its untagged referrer.
    expect(await del('team/app', image.manifest.digest, 'md1')).toMatchObject({ status: 200, body: { result: 'DELETED' } });
    expect(await del('team/app', image.manifest.digest, 'md2')).toMatchObject({ status: 200, body: { result: 'DELETED' } });
    expect((await get(`/v2/team/app/manifests/${artifact.manifest.digest}`)).status).toBe(404);
    const deletes = (await eventsOf(image.manifest.digest, 6)).filter((e) => e.detail['action-type'] === 'DELETE');
    expect(deletes.map((e) => e.detail)).toEqual([
      expect.objectContaining({ 'image-tag': 'md1', 'berth-replicated-from': from }),
      expect.objectContaining({ 'image-tag': 'md2', 'berth-replicated-from': from }),
    ]);
    const [referrerDelete] = (await eventsOf(artifact.manifest.digest, 3)).filter((e) => e.detail['action-type'] === 'DELETE');
    expect(referrerDelete.detail).toMatchObject({ 'action-type': 'DELETE', 'berth-replicated-from': from });
    expect(referrerDelete.detail).not.toHaveProperty('image-tag');

    // By digest, by the destination's own replicator: its account, and the region it says.
    const local = (imageDigest: string) => call(LOCAL, 'BerthReplicateDelete', { repositoryName: 'team/app', sourceRegion: 'eu-west-1', imageDigest });
    expect(await local(other.manifest.digest)).toMatchObject({ status: 200, body: { result: 'DELETED' } });
    const [localDelete] = (await eventsOf(other.manifest.digest, 3)).filter((e) => e.detail['action-type'] === 'DELETE');
    expect(localDelete.detail).toMatchObject({ 'image-tag': 'ml1', 'berth-replicated-from': { account: DEST, region: 'eu-west-1' } });
  });

  test('GIVEN a child an index still names WHEN deleted by digest THEN refused, nothing changed', async () => {
    const child = makeImage({ seed: 'in-use-child', layers: [64] });
    const index = makeIndex([child]);
    await replicateImage(SOURCE, 'team/app', child);
    await replicateImage(SOURCE, 'team/app', index, 'in-use');
    expect(await del('team/app', child.manifest.digest)).toMatchObject({ status: 400, type: 'BerthImageReferencedByManifestListException' });
    expect((await get(`/v2/team/app/manifests/${child.manifest.digest}`)).status).toBe(200);
  });

  test('GIVEN a caller of another account without the registry policy THEN refused as the other actions are', async () => {
    await ecr().send(new PutRegistryPolicyCommand({ policyText: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE_ACCOUNT}:root` }, Action: 'ecr:BatchGetImage', Resource: repoArn('*') }] }) }));
    expect(await del('team/app', makeImage({ seed: 'x', layers: [1] }).manifest.digest)).toMatchObject({ status: 400, type: 'AccessDeniedException' });
    await registryPolicy(['ecr:ReplicateImage', 'ecr:CreateRepository']);
  });
});
