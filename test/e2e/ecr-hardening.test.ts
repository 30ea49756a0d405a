/**
 * Issue 9's ECR defects on `berth serve --config` with the real @aws-sdk/client-ecr and curl:
 * DescribeRepositories authorizes every repository it names (and a listing against `repository/*`,
 * leaving out repositories whose own policy denies the caller); GetDownloadUrlForLayer answers a
 * signed URL that downloads without credentials for that blob only; BatchDeleteImage by an
 * image's last tag deletes the image and its referrers, while an OCI DELETE by tag stays tag-only.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchDeleteImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetDownloadUrlForLayerCommand,
  ListImagesCommand,
  SetRepositoryPolicyCommand,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { run } from '../support/clients';
import { EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, makeIndex, type Blob, type Image } from '../support/oci-fixtures';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAHARDENADMIN00001', secretAccessKey: 'harden-admin-secret-access-key-000001' };
const TEAM_A = { accessKeyId: 'AKIAHARDENTEAMA00002', secretAccessKey: 'harden-team-a-secret-access-key-00002' };
const AUDITOR = { accessKeyId: 'AKIAHARDENAUDIT00003', secretAccessKey: 'harden-auditor-secret-access-key-0003' };
const arnOf = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;
const userArn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let basic: string;

const client = (credentials: { accessKeyId: string; secretAccessKey: string }) => new ECRClient({ region: REGION, endpoint: proc.url, credentials, maxAttempts: 1 });
const admin = () => client(ADMIN);

async function pushBlob(repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${proc.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { Authorization: basic } });
  expect(res.status).toBe(201);
}

async function putManifest(repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await fetch(`${proc.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: basic } });
  expect(res.status).toBe(201);
}

async function pushImage(repo: string, image: Image, ...tags: string[]): Promise<void> {
  for (const blob of imageBlobs(image)) await pushBlob(repo, blob);
  if (tags.length === 0) await putManifest(repo, image.manifest.digest, image.manifest);
  for (const tag of tags) await putManifest(repo, tag, image.manifest);
}

async function pushReferrer(repo: string, subject: Blob, artifactType: string, tag?: string): Promise<Blob> {
  const artifact = makeArtifact({ artifactType, subject });
  await pushBlob(repo, EMPTY_CONFIG);
  await pushBlob(repo, artifact.layer);
  await putManifest(repo, tag ?? artifact.manifest.digest, artifact.manifest);
  return artifact.manifest;
}

async function manifestStatus(repo: string, reference: string): Promise<number> {
  return (await fetch(`${proc.url}/v2/${repo}/manifests/${reference}`, { method: 'HEAD', headers: { Authorization: basic, Accept: '*/*' } })).status;
}

const denyPolicy = (action: string, principal: string) =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'NoEntry', Effect: 'Deny', Principal: { AWS: principal }, Action: action }] });

beforeAll(async () => {
  work = scratchDir('ecr-hardening');
  const config = join(work.path, 'identities.json');
  const allow = (resource: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: resource }] });
  writeFileSync(
    config,
    JSON.stringify({
      registry: { account: ACCOUNT, regions: [REGION] },
      identities: [
        { name: 'admin', ...ADMIN, arn: userArn('admin'), policy: allow('*') },
        { name: 'team-a', ...TEAM_A, arn: userArn('team-a'), policy: allow(arnOf('team-a/*')) },
        { name: 'auditor', ...AUDITOR, arn: userArn('auditor'), policy: allow('*') },
      ],
    }),
    { mode: 0o600 },
  );
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config]);
  const token = await admin().send(new GetAuthorizationTokenCommand({}));
  basic = `Basic ${token.authorizationData![0].authorizationToken}`;
  for (const name of ['team-a/app', 'team-a/other', 'team-b/app', 'secret/vault']) await admin().send(new CreateRepositoryCommand({ repositoryName: name }));
  await admin().send(new SetRepositoryPolicyCommand({ repositoryName: 'secret/vault', policyText: denyPolicy('ecr:DescribeRepositories', userArn('auditor')) }));
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('DescribeRepositories authorizes every repository it covers (point 2)', () => {
  test('GIVEN a repository policy denying the caller WHEN that repository is named beside another THEN AccessDeniedException naming its ARN', async () => {
    const auditor = client(AUDITOR);
    const alone = await auditor.send(new DescribeRepositoriesCommand({ repositoryNames: ['secret/vault'] })).catch((e) => e);
    expect(alone.name).toBe('AccessDeniedException');
    const both = await auditor.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-b/app', 'secret/vault'] })).catch((e) => e);
    expect(both.name).toBe('AccessDeniedException');
    expect(both.message).toContain(`on resource: ${arnOf('secret/vault')}`);
    expect(both.message).toContain('explicit deny in a resource-based policy');
    // The other one alone is fine.
    expect((await auditor.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-b/app'] }))).repositories!.map((r) => r.repositoryName)).toEqual(['team-b/app']);
  });

  test('GIVEN an identity allowed only on team-a/* WHEN it names two team-a repositories THEN both come back; naming a team-b one THEN AccessDenied on that ARN', async () => {
    const teamA = client(TEAM_A);
    const out = await teamA.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-a/app', 'team-a/other'] }));
    expect(out.repositories!.map((r) => r.repositoryName)).toEqual(['team-a/app', 'team-a/other']);
    const mixed = await teamA.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-a/app', 'team-b/app'] })).catch((e) => e);
    expect(mixed.name).toBe('AccessDeniedException');
    expect(mixed.message).toContain(`on resource: ${arnOf('team-b/app')}`);
  });

  test('GIVEN no names WHEN listing THEN it is authorized against repository/*, and repositories whose policy denies the caller are left out', async () => {
    const listing = await client(TEAM_A).send(new DescribeRepositoriesCommand({})).catch((e) => e);
    expect(listing.name).toBe('AccessDeniedException');
    expect(listing.message).toContain(`on resource: ${arnOf('*')}`);

    const seen = (await client(AUDITOR).send(new DescribeRepositoriesCommand({}))).repositories!.map((r) => r.repositoryName);
    expect(seen).toEqual(expect.arrayContaining(['team-a/app', 'team-a/other', 'team-b/app']));
    expect(seen).not.toContain('secret/vault');
    expect((await admin().send(new DescribeRepositoriesCommand({}))).repositories!.map((r) => r.repositoryName)).toContain('secret/vault');
  });
});

describe('GetDownloadUrlForLayer answers a signed URL (point 7)', () => {
  let image: Image;
  beforeAll(async () => {
    image = makeImage({ layers: [40_000], seed: 'harden-download' });
    await pushImage('team-a/app', image, 'v1');
    await pushImage('team-b/app', image, 'v1');
  });

  test('GIVEN a URL from GetDownloadUrlForLayer WHEN curl fetches it without credentials THEN the layer bytes; HEAD and a range work too', async () => {
    const { downloadUrl } = await admin().send(new GetDownloadUrlForLayerCommand({ repositoryName: 'team-a/app', layerDigest: image.layers[0].digest }));
    const file = join(work.path, 'layer.bin');
    run('curl', ['-sSf', '-o', file, downloadUrl!]);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(file).equals(image.layers[0].bytes)).toBe(true);
    const head = await fetch(downloadUrl!, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(image.layers[0].size));
    const ranged = await fetch(downloadUrl!, { headers: { Range: 'bytes=0-9' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(image.layers[0].bytes.subarray(0, 10))).toBe(true);
  });

  test('GIVEN a signed URL WHEN it is used for another repository, another blob, a manifest, a DELETE or with its token altered THEN refused and nothing is served or changed', async () => {
    const { downloadUrl } = await admin().send(new GetDownloadUrlForLayerCommand({ repositoryName: 'team-a/app', layerDigest: image.layers[0].digest }));
    const url = new URL(downloadUrl!);
    const token = url.searchParams.get('download-token')!;
    const withToken = (path: string, t = token) => `${proc.url}${path}?download-token=${encodeURIComponent(t)}`;
    expect((await fetch(withToken(`/v2/team-b/app/blobs/${image.layers[0].digest}`))).status).toBe(403);
    expect((await fetch(withToken(`/v2/team-a/app/blobs/${image.config.digest}`))).status).toBe(403);
    expect((await fetch(withToken(`/v2/team-a/app/manifests/v1`))).status).toBe(403);
    expect((await fetch(withToken(`/v2/team-a/app/blobs/${image.layers[0].digest}`), { method: 'DELETE' })).status).toBe(403);
    const last = token.at(-1)!;
    const altered = token.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    expect((await fetch(withToken(`/v2/team-a/app/blobs/${image.layers[0].digest}`, altered))).status).toBe(403);
    expect((await fetch(withToken(`/v2/team-a/app/blobs/${image.layers[0].digest}`, `${token}=`))).status).toBe(403);
    // Without a token the blob still needs credentials.
    expect((await fetch(`${proc.url}/v2/team-a/app/blobs/${image.layers[0].digest}`)).status).toBe(401);
    // And the blob is still there.
    expect((await fetch(downloadUrl!)).status).toBe(200);
  });

  test('GIVEN a repository policy that denies the caller pulls WHEN it asks for a URL THEN AccessDeniedException and no URL', async () => {
    await admin().send(new SetRepositoryPolicyCommand({ repositoryName: 'team-b/app', policyText: denyPolicy('ecr:GetDownloadUrlForLayer', userArn('auditor')) }));
    const refused = await client(AUDITOR).send(new GetDownloadUrlForLayerCommand({ repositoryName: 'team-b/app', layerDigest: image.layers[0].digest })).catch((e) => e);
    expect(refused.name).toBe('AccessDeniedException');
    expect(refused.message).toContain(arnOf('team-b/app'));
  });
});

describe('BatchDeleteImage by an image last tag deletes the image (point 8)', () => {
  const repo = 'team-a/deletions';
  beforeAll(async () => {
    await admin().send(new CreateRepositoryCommand({ repositoryName: repo }));
  });

  const digestsIn = async () => (await admin().send(new ListImagesCommand({ repositoryName: repo }))).imageIds!.map((i) => i.imageDigest);

  test('GIVEN an image with one tag and two referrers WHEN BatchDeleteImage by that tag THEN the image and its untagged referrers are gone; a tagged referrer stays', async () => {
    const image = makeImage({ layers: [300], seed: 'harden-last-tag' });
    await pushImage(repo, image, 'only');
    const signature = await pushReferrer(repo, image.manifest, 'application/vnd.example.signature');
    const sbom = await pushReferrer(repo, image.manifest, 'application/vnd.example.sbom');
    const signatureOfSbom = await pushReferrer(repo, sbom, 'application/vnd.example.signature');
    const named = await pushReferrer(repo, image.manifest, 'application/vnd.example.kept', 'kept-attestation');

    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'only' }] }));
    expect(out.imageIds).toEqual([{ imageDigest: image.manifest.digest, imageTag: 'only' }]);
    expect(out.failures).toEqual([]);
    expect(await manifestStatus(repo, image.manifest.digest)).toBe(404);
    for (const gone of [signature, sbom, signatureOfSbom]) expect(await manifestStatus(repo, gone.digest)).toBe(404);
    expect(await manifestStatus(repo, named.digest)).toBe(200);
    const described = await admin().send(new DescribeImagesCommand({ repositoryName: repo }));
    expect(described.imageDetails!.map((d) => d.imageDigest)).toEqual([named.digest]);
  });

  test('GIVEN an image with two tags WHEN BatchDeleteImage by one THEN only that tag goes; by the second THEN the image goes', async () => {
    const image = makeImage({ layers: [300], seed: 'harden-two-tags' });
    await pushImage(repo, image, 'a', 'b');
    await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'a' }] }));
    expect(await manifestStatus(repo, image.manifest.digest)).toBe(200);
    expect(await manifestStatus(repo, 'b')).toBe(200);
    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'b', imageDigest: image.manifest.digest }] }));
    expect(out.imageIds).toEqual([{ imageDigest: image.manifest.digest, imageTag: 'b' }]);
    expect(await manifestStatus(repo, image.manifest.digest)).toBe(404);
    expect(await digestsIn()).not.toContain(image.manifest.digest);
  });

  test('GIVEN an image an index references WHEN BatchDeleteImage by its last tag THEN ImageReferencedByManifestList and the tag stays', async () => {
    const child = makeImage({ layers: [300], seed: 'harden-child' });
    await pushImage(repo, child, 'child-tag');
    const index = makeIndex([child]);
    await putManifest(repo, 'multi', index);
    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'child-tag' }] }));
    expect(out.imageIds).toEqual([]);
    expect(out.failures).toEqual([{ imageId: { imageTag: 'child-tag' }, failureCode: 'ImageReferencedByManifestList', failureReason: expect.stringContaining(index.digest) }]);
    expect(await manifestStatus(repo, 'child-tag')).toBe(200);
  });

  test('GIVEN an image an index references, with two tags WHEN BatchDeleteImage by one THEN that tag goes and the image stays (only a last tag deletes)', async () => {
    const child = makeImage({ layers: [300], seed: 'harden-child-two-tags' });
    await pushImage(repo, child, 'arch', 'arch-1.0');
    await putManifest(repo, 'multi-two', makeIndex([child]));
    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'arch' }] }));
    expect(out.imageIds).toEqual([{ imageDigest: child.manifest.digest, imageTag: 'arch' }]);
    expect(out.failures).toEqual([]);
    expect(await manifestStatus(repo, 'arch')).toBe(404);
    expect(await manifestStatus(repo, 'arch-1.0')).toBe(200);
  });

  test('GIVEN an image with 25 tags WHEN BatchDeleteImage removes one that sorts late THEN that tag only goes', async () => {
    const image = makeImage({ layers: [300], seed: 'harden-many-tags' });
    const tags = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    await pushImage(repo, image, ...tags);
    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 't23' }] }));
    expect(out.imageIds).toEqual([{ imageDigest: image.manifest.digest, imageTag: 't23' }]);
    expect(out.failures).toEqual([]);
    expect(await manifestStatus(repo, 't23')).toBe(404);
    expect(await manifestStatus(repo, image.manifest.digest)).toBe(200);
  });

  test('GIVEN an image with one tag WHEN the OCI DELETE removes that tag THEN the image stays, untagged (the spec: a tag delete is tag-only)', async () => {
    const image = makeImage({ layers: [300], seed: 'harden-oci-tag' });
    await pushImage(repo, image, 'oci-only');
    const res = await fetch(`${proc.url}/v2/${repo}/manifests/oci-only`, { method: 'DELETE', headers: { Authorization: basic } });
    expect(res.status).toBe(202);
    expect(await manifestStatus(repo, 'oci-only')).toBe(404);
    expect(await manifestStatus(repo, image.manifest.digest)).toBe(200);
  });

  test('GIVEN an image deleted by digest WHEN it had referrers THEN they go with it', async () => {
    const image = makeImage({ layers: [300], seed: 'harden-by-digest' });
    await pushImage(repo, image, 'd1', 'd2');
    const signature = await pushReferrer(repo, image.manifest, 'application/vnd.example.signature');
    const out = await admin().send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageDigest: image.manifest.digest }] }));
    expect(out.imageIds).toHaveLength(2);
    expect(await manifestStatus(repo, signature.digest)).toBe(404);
  });
});
