/**
 * ECR's layer actions, PutImage, ListImageReferrers, DescribeRegistry, repository creation
 * templates with create-on-push, lastRecordedPullTime and `berth ecr` (runEcrCommand) on
 * `berth serve --config`, with the real `@aws-sdk/client-ecr` and the AWS CLI v2.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchCheckLayerAvailabilityCommand,
  CompleteLayerUploadCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteRepositoryCreationTemplateCommand,
  DescribeImagesCommand,
  DescribeRegistryCommand,
  DescribeRepositoriesCommand,
  DescribeRepositoryCreationTemplatesCommand,
  ECRClient,
  EmptyUploadException,
  GetAuthorizationTokenCommand,
  GetDownloadUrlForLayerCommand,
  GetRepositoryPolicyCommand,
  ImageAlreadyExistsException,
  ImageTagAlreadyExistsException,
  InitiateLayerUploadCommand,
  InvalidLayerException,
  InvalidLayerPartException,
  InvalidParameterException,
  LayerAlreadyExistsException,
  LayersNotFoundException,
  ListImageReferrersCommand,
  ListTagsForResourceCommand,
  PutAccountSettingCommand,
  PutImageCommand,
  ReferencedImagesNotFoundException,
  TemplateAlreadyExistsException,
  TemplateNotFoundException,
  UpdateRepositoryCreationTemplateCommand,
  UploadLayerPartCommand,
  UploadNotFoundException,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { describeWithBinaries, run } from '../support/clients';
import { blobOf, imageBlobs, makeImage, makeIndex, pseudoRandomBytes, type Blob, type Image } from '../support/oci-fixtures';
import { runEcrCommand } from '../../lambdas/cli/ecr/ecr-cli';
import { writeAdminConfig } from '../support/identity-config';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0003', secretAccessKey: 'admin-secret-access-key-example-0003' };
const AWS_CLI = '/usr/bin/aws';

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let basic: string;
let password: string;

const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });

/** A layer pushed with InitiateLayerUpload, UploadLayerPart (in parts of `partSize`) and CompleteLayerUpload only. */
async function uploadLayer(repositoryName: string, blob: Blob, partSize = 64 * 1024): Promise<void> {
  const { uploadId, partSize: advertised } = await ecr().send(new InitiateLayerUploadCommand({ repositoryName }));
  expect(advertised).toBe(20_971_520);
  for (let first = 0; first < blob.bytes.length; first += partSize) {
    const part = blob.bytes.subarray(first, Math.min(first + partSize, blob.bytes.length));
    const out = await ecr().send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: first, partLastByte: first + part.length - 1, layerPartBlob: part }));
    expect(out.lastByteReceived).toBe(first + part.length - 1);
  }
  const done = await ecr().send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [blob.digest] }));
  expect(done).toMatchObject({ registryId: ACCOUNT, repositoryName, uploadId, layerDigest: blob.digest });
}

async function pushWithEcrApi(repositoryName: string, image: Image, imageTag: string): Promise<void> {
  for (const blob of imageBlobs(image)) await uploadLayer(repositoryName, blob);
  const out = await ecr().send(
    new PutImageCommand({ repositoryName, imageTag, imageManifest: image.manifest.bytes.toString('utf8'), imageManifestMediaType: image.manifest.mediaType }),
  );
  expect(out.image).toEqual({
    registryId: ACCOUNT,
    repositoryName,
    imageId: { imageDigest: image.manifest.digest, imageTag },
    imageManifest: image.manifest.bytes.toString('utf8'),
    imageManifestMediaType: image.manifest.mediaType,
  });
}

async function ociPush(repo: string, image: Image, tag: string): Promise<number> {
  for (const blob of imageBlobs(image)) {
    const res = await fetch(`${proc.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { Authorization: basic } });
    if (res.status !== 201) return res.status;
  }
  const res = await fetch(`${proc.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType, Authorization: basic } });
  return res.status;
}

beforeAll(async () => {
  work = scratchDir('ecr-layers');
  const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config]);
  const token = await ecr().send(new GetAuthorizationTokenCommand({}));
  basic = `Basic ${token.authorizationData![0].authorizationToken}`;
  password = Buffer.from(token.authorizationData![0].authorizationToken!, 'base64').toString('utf8').slice('AWS:'.length);
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('layers and PutImage with @aws-sdk/client-ecr', () => {
  test('GIVEN an image pushed with the layer actions and PutImage only WHEN described and read back THEN sizes, layers and download URLs match', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'layers/app' }));
    const image = makeImage({ layers: [300_000, 2_000], seed: 'layers-app' });
    await pushWithEcrApi('layers/app', image, 'v1');

    const [detail] = (await ecr().send(new DescribeImagesCommand({ repositoryName: 'layers/app', imageIds: [{ imageTag: 'v1' }] }))).imageDetails!;
    expect(detail).toMatchObject({ imageDigest: image.manifest.digest, imageTags: ['v1'], imageSizeInBytes: imageBlobs(image).reduce((n, b) => n + b.size, 0) });

    const check = await ecr().send(new BatchCheckLayerAvailabilityCommand({ repositoryName: 'layers/app', layerDigests: [image.layers[0].digest, `sha256:${'0'.repeat(64)}`, 'nope'] }));
    expect(check.layers).toEqual([{ layerDigest: image.layers[0].digest, layerAvailability: 'AVAILABLE', layerSize: image.layers[0].size, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }]);
    expect(check.failures!.map((f) => f.failureCode)).toEqual(['MissingLayerDigest', 'InvalidLayerDigest']);

    // Local mode: a signed URL to the data plane's blob, fetched without credentials as ECR's presigned
    // URLs are (issue 9 point 7; the URL used to need the caller's registry credentials).
    const { downloadUrl, layerDigest } = await ecr().send(new GetDownloadUrlForLayerCommand({ repositoryName: 'layers/app', layerDigest: image.layers[0].digest }));
    expect(layerDigest).toBe(image.layers[0].digest);
    expect(downloadUrl!.startsWith(`${proc.url}/v2/layers/app/blobs/${image.layers[0].digest}?download-token=`)).toBe(true);
    const fetched = await fetch(downloadUrl!);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(image.layers[0].bytes)).toBe(true);
    await expect(ecr().send(new GetDownloadUrlForLayerCommand({ repositoryName: 'layers/app', layerDigest: `sha256:${'1'.repeat(64)}` }))).rejects.toBeInstanceOf(LayersNotFoundException);
  });

  test('GIVEN bad parts and completions WHEN uploading THEN InvalidLayerPart (with lastValidByteReceived), EmptyUpload, InvalidLayer, LayerAlreadyExists, UploadNotFound', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'layers/errors' }));
    const blob = blobOf(pseudoRandomBytes(1000, 'errors'));
    const repositoryName = 'layers/errors';
    const { uploadId } = await ecr().send(new InitiateLayerUploadCommand({ repositoryName }));
    await expect(ecr().send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [blob.digest] }))).rejects.toBeInstanceOf(EmptyUploadException);
    await ecr().send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: 0, partLastByte: 499, layerPartBlob: blob.bytes.subarray(0, 500) }));
    const gap = await ecr()
      .send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: 600, partLastByte: 999, layerPartBlob: blob.bytes.subarray(600) }))
      .catch((e) => e);
    expect(gap).toBeInstanceOf(InvalidLayerPartException);
    expect(gap).toMatchObject({ lastValidByteReceived: 499, uploadId, repositoryName });
    const wrongLength = await ecr()
      .send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: 500, partLastByte: 600, layerPartBlob: blob.bytes.subarray(500) }))
      .catch((e) => e);
    expect(wrongLength).toBeInstanceOf(InvalidLayerPartException);
    await ecr().send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: 500, partLastByte: 999, layerPartBlob: blob.bytes.subarray(500) }));
    // Another digest: the upload is discarded.
    await expect(ecr().send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [`sha256:${'2'.repeat(64)}`] }))).rejects.toBeInstanceOf(InvalidLayerException);
    await expect(ecr().send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [blob.digest] }))).rejects.toBeInstanceOf(UploadNotFoundException);

    await uploadLayer(repositoryName, blob);
    const again = await ecr().send(new InitiateLayerUploadCommand({ repositoryName }));
    await ecr().send(new UploadLayerPartCommand({ repositoryName, uploadId: again.uploadId, partFirstByte: 0, partLastByte: 999, layerPartBlob: blob.bytes }));
    await expect(ecr().send(new CompleteLayerUploadCommand({ repositoryName, uploadId: again.uploadId, layerDigests: [blob.digest] }))).rejects.toBeInstanceOf(LayerAlreadyExistsException);
  });

  test('GIVEN PutImage WHEN the image exists, the tag is immutable, layers or children are missing, or the manifest is bad THEN ECR exceptions', async () => {
    const repositoryName = 'layers/put';
    await ecr().send(new CreateRepositoryCommand({ repositoryName, imageTagMutability: 'IMMUTABLE' }));
    const a = makeImage({ layers: [100], seed: 'put-a' });
    const b = makeImage({ layers: [100], seed: 'put-b' });
    await pushWithEcrApi(repositoryName, a, 'v1');
    for (const blob of imageBlobs(b)) await uploadLayer(repositoryName, blob);
    const manifest = (img: Image) => img.manifest.bytes.toString('utf8');

    await expect(ecr().send(new PutImageCommand({ repositoryName, imageTag: 'v1', imageManifest: manifest(a) }))).rejects.toBeInstanceOf(ImageAlreadyExistsException);
    const moved = await ecr().send(new PutImageCommand({ repositoryName, imageTag: 'v1', imageManifest: manifest(b) })).catch((e) => e);
    expect(moved).toBeInstanceOf(ImageTagAlreadyExistsException);
    expect(moved.message).toContain('immutable');
    // By digest only, then untagged: no tag involved.
    const byDigest = await ecr().send(new PutImageCommand({ repositoryName, imageDigest: b.manifest.digest, imageManifest: manifest(b) }));
    expect(byDigest.image!.imageId).toEqual({ imageDigest: b.manifest.digest });

    const missing = makeImage({ layers: [100], seed: 'put-missing' });
    await expect(ecr().send(new PutImageCommand({ repositoryName, imageTag: 'm', imageManifest: manifest(missing) }))).rejects.toBeInstanceOf(LayersNotFoundException);
    const index = makeIndex([a, missing]);
    await expect(ecr().send(new PutImageCommand({ repositoryName, imageTag: 'multi', imageManifest: index.bytes.toString('utf8') }))).rejects.toBeInstanceOf(
      ReferencedImagesNotFoundException,
    );
    await expect(ecr().send(new PutImageCommand({ repositoryName, imageTag: 'bad', imageManifest: '{"schemaVersion": 2' }))).rejects.toBeInstanceOf(InvalidParameterException);
  });

  test('GIVEN a subject with referrers WHEN ListImageReferrers THEN the referrers come back, filtered and paged', async () => {
    const repositoryName = 'layers/referred';
    await ecr().send(new CreateRepositoryCommand({ repositoryName }));
    const subject = makeImage({ layers: [50], seed: 'subject' });
    await pushWithEcrApi(repositoryName, subject, 'v1');
    const empty = blobOf(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
    await uploadLayer(repositoryName, empty);
    const referrer = (artifactType: string, n: number) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType,
          config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.size },
          layers: [{ mediaType: empty.mediaType, digest: empty.digest, size: empty.size }],
          subject: { mediaType: subject.manifest.mediaType, digest: subject.manifest.digest, size: subject.manifest.size },
          annotations: { n: String(n) },
        }),
      ).toString('utf8');
    for (const [i, type] of ['application/vnd.example.sig', 'application/vnd.example.sbom', 'application/vnd.example.sig'].entries()) {
      await ecr().send(new PutImageCommand({ repositoryName, imageManifest: referrer(type, i) }));
    }
    const all = await ecr().send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: subject.manifest.digest } }));
    expect(all.referrers).toHaveLength(3);
    expect(all.referrers![0]).toMatchObject({ mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactStatus: 'ACTIVE', size: expect.any(Number) });
    const sigs = await ecr().send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: subject.manifest.digest }, filter: { artifactTypes: ['application/vnd.example.sig'] } }));
    expect(sigs.referrers!.map((r) => r.artifactType)).toEqual(['application/vnd.example.sig', 'application/vnd.example.sig']);
    const first = await ecr().send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: subject.manifest.digest }, maxResults: 2 }));
    const second = await ecr().send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: subject.manifest.digest }, maxResults: 2, nextToken: first.nextToken }));
    expect([...first.referrers!, ...second.referrers!].map((r) => r.digest)).toEqual(all.referrers!.map((r) => r.digest));
    expect(second.nextToken).toBeUndefined();
  });
});

describeWithBinaries(['skopeo'], 'an image pushed with the ECR layer API, pulled with skopeo', () => {
  test('GIVEN InitiateLayerUpload/UploadLayerPart/CompleteLayerUpload/PutImage WHEN skopeo copies the image out THEN the digests are equal', async () => {
    const image = makeImage({ layers: [200_000, 70_000], seed: 'skopeo-ecr', docker: true });
    await pushWithEcrApi('layers/skopeo', image, 'v1');
    const out = mkdtempSync(join(work.path, 'skopeo-'));
    run('skopeo', ['copy', '--src-tls-verify=false', `--src-creds=AWS:${password}`, `docker://${proc.host}/layers/skopeo:v1`, `dir:${out}`]);
    const raw = run('skopeo', ['inspect', '--raw', '--tls-verify=false', `--creds=AWS:${password}`, `docker://${proc.host}/layers/skopeo:v1`]);
    expect(raw).toBe(image.manifest.bytes.toString('utf8'));
    const inspected = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `--creds=AWS:${password}`, `docker://${proc.host}/layers/skopeo:v1`]));
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.digest));
  }, 120_000);
});

describe('lastRecordedPullTime', () => {
  test('GIVEN an image WHEN its manifest is pulled (GET) THEN DescribeImages shows the pull time; a HEAD records nothing', async () => {
    const repositoryName = 'layers/pulled';
    await ecr().send(new CreateRepositoryCommand({ repositoryName }));
    const image = makeImage({ layers: [10], seed: 'pulled' });
    await pushWithEcrApi(repositoryName, image, 'v1');
    const describe = async () => (await ecr().send(new DescribeImagesCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }] }))).imageDetails![0];
    await fetch(`${proc.url}/v2/${repositoryName}/manifests/v1`, { method: 'HEAD', headers: { Authorization: basic } });
    expect((await describe()).lastRecordedPullTime).toBeUndefined();
    const before = Date.now() - 1000;
    const pull = await fetch(`${proc.url}/v2/${repositoryName}/manifests/v1`, { headers: { Authorization: basic, Accept: image.manifest.mediaType } });
    expect(pull.status).toBe(200);
    const first = (await describe()).lastRecordedPullTime!;
    expect(first.getTime()).toBeGreaterThanOrEqual(before);
    // A second pull within the hour leaves the recorded time alone.
    await fetch(`${proc.url}/v2/${repositoryName}/manifests/${image.manifest.digest}`, { headers: { Authorization: basic, Accept: image.manifest.mediaType } });
    expect((await describe()).lastRecordedPullTime).toEqual(first);
  });
});

describe('registry: DescribeRegistry, creation templates, create-on-push', () => {
  test('GIVEN the registry WHEN DescribeRegistry THEN its id and an empty replication configuration', async () => {
    expect(await ecr().send(new DescribeRegistryCommand({}))).toMatchObject({ registryId: ACCOUNT, replicationConfiguration: { rules: [] } });
  });

  test('GIVEN templates WHEN created, described, updated and deleted THEN ECR shapes and exceptions', async () => {
    const created = await ecr().send(
      new CreateRepositoryCreationTemplateCommand({
        prefix: 'tmpl',
        description: 'team templates',
        appliedFor: ['CREATE_ON_PUSH'],
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
        resourceTags: [{ Key: 'team', Value: 'tmpl' }],
      }),
    );
    expect(created.registryId).toBe(ACCOUNT);
    expect(created.repositoryCreationTemplate).toEqual({
      prefix: 'tmpl',
      description: 'team templates',
      encryptionConfiguration: { encryptionType: 'AES256' },
      resourceTags: [{ Key: 'team', Value: 'tmpl' }],
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
      appliedFor: ['CREATE_ON_PUSH'],
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    await expect(ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'tmpl', appliedFor: ['CREATE_ON_PUSH'] }))).rejects.toBeInstanceOf(TemplateAlreadyExistsException);
    await expect(
      ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'kms', appliedFor: ['CREATE_ON_PUSH'], encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'other' } })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    const updated = await ecr().send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'tmpl', imageTagMutability: 'MUTABLE' }));
    expect(updated.repositoryCreationTemplate).toMatchObject({ prefix: 'tmpl', imageTagMutability: 'MUTABLE', description: 'team templates' });
    expect(updated.repositoryCreationTemplate!.imageTagMutabilityExclusionFilters).toBeUndefined();
    const described = await ecr().send(new DescribeRepositoryCreationTemplatesCommand({ prefixes: ['tmpl'] }));
    expect(described.repositoryCreationTemplates).toEqual([updated.repositoryCreationTemplate]);
    await expect(ecr().send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'none', imageTagMutability: 'MUTABLE' }))).rejects.toBeInstanceOf(TemplateNotFoundException);
    expect((await ecr().send(new DeleteRepositoryCreationTemplateCommand({ prefix: 'tmpl' }))).repositoryCreationTemplate!.prefix).toBe('tmpl');
    await expect(ecr().send(new DeleteRepositoryCreationTemplateCommand({ prefix: 'tmpl' }))).rejects.toBeInstanceOf(TemplateNotFoundException);
  });

  test('GIVEN create-on-push off and templates WHEN pushing to new repositories THEN only names a template matches are created, with the longest prefix’s settings', async () => {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'pull', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'ecr:BatchGetImage' }] });
    await ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'ROOT', appliedFor: ['REPLICATION'] }));
    await ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'auto', appliedFor: ['CREATE_ON_PUSH'], resourceTags: [{ Key: 'from', Value: 'auto' }] }));
    await ecr().send(
      new CreateRepositoryCreationTemplateCommand({
        prefix: 'auto/locked',
        appliedFor: ['CREATE_ON_PUSH'],
        imageTagMutability: 'IMMUTABLE',
        resourceTags: [{ Key: 'from', Value: 'auto/locked' }],
        repositoryPolicy: policy,
      }),
    );
    await ecr().send(new PutAccountSettingCommand({ name: 'BERTH_CREATE_ON_PUSH', value: 'DISABLED' }));
    try {
      const image = makeImage({ layers: [10], seed: 'create-on-push' });
      // No template matches (ROOT is not for CREATE_ON_PUSH): NAME_UNKNOWN, nothing created.
      const refused = await fetch(`${proc.url}/v2/loose/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic } });
      expect(refused.status).toBe(404);
      expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0].code).toBe('NAME_UNKNOWN');
      await expect(ecr().send(new InitiateLayerUploadCommand({ repositoryName: 'loose/app' }))).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });
      await expect(ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['loose/app'] }))).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });

      expect(await ociPush('auto/locked/app', image, 'v1')).toBe(201);
      expect(await ociPush('auto/open', image, 'v1')).toBe(201);
      const [locked] = (await ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['auto/locked/app'] }))).repositories!;
      expect(locked.imageTagMutability).toBe('IMMUTABLE');
      expect((await ecr().send(new ListTagsForResourceCommand({ resourceArn: locked.repositoryArn }))).tags).toEqual([{ Key: 'from', Value: 'auto/locked' }]);
      expect((await ecr().send(new GetRepositoryPolicyCommand({ repositoryName: 'auto/locked/app' }))).policyText).toBe(policy);
      const [open] = (await ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['auto/open'] }))).repositories!;
      expect(open.imageTagMutability).toBe('MUTABLE');
      expect((await ecr().send(new ListTagsForResourceCommand({ resourceArn: open.repositoryArn }))).tags).toEqual([{ Key: 'from', Value: 'auto' }]);
      // The template's immutability holds on the new repository.
      const other = makeImage({ layers: [10], seed: 'create-on-push-2' });
      expect(await ociPush('auto/locked/app', other, 'v1')).toBe(400);
    } finally {
      await ecr().send(new PutAccountSettingCommand({ name: 'BERTH_CREATE_ON_PUSH', value: 'ENABLED' }));
    }
    expect(await ociPush('loose/app', makeImage({ layers: [10], seed: 'loose' }), 'v1')).toBe(201);
  });
});

/**
 * `berth ecr` prints with the SDK's model (3.1169, which has ECR's 2025 `imageStatus`); the Debian AWS
 * CLI here (2.9.19) has a model from before it and drops the member, as an old CLI does against ECR
 * itself. The comparison leaves out what that CLI cannot know: `imageStatus` of image details.
 */
function asInstalledCli(out: string, output: string): string {
  if (output === 'text') return out.replace(/^(IMAGEDETAILS\t.*)\t(?:ACTIVE|ARCHIVED)(\t)/gm, '$1$2');
  return out.replace(/,(\n\s*)(\\?)"imageStatus\2": \2"[A-Z]+\2"(?=\n)/g, '').replace(/(\n\s*)(\\?)"imageStatus\2": \2"[A-Z]+\2",/g, '');
}

describeWithBinaries([AWS_CLI], 'berth ecr (runEcrCommand) prints what the AWS CLI prints', () => {
  const env = () => ({ AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  const globals = (output = 'json') => ['--region', REGION, '--endpoint-url', proc.url, '--output', output];
  const aws = (args: string[], output = 'json') => run(AWS_CLI, ['ecr', ...args, ...globals(output)], { env: env() });
  async function berth(args: string[], output = 'json'): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const saved = { ...process.env };
    Object.assign(process.env, env());
    try {
      const code = await runEcrCommand(['ecr', ...args, ...globals(output)], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
      return { code, out: asInstalledCli(out, output), err };
    } finally {
      for (const k of Object.keys(env())) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  }

  test('GIVEN repositories and images WHEN describe-repositories, list-images, describe-images THEN byte-for-byte the same output', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'cli/app', imageScanningConfiguration: { scanOnPush: true } }));
    const image = makeImage({ layers: [1000, 20], seed: 'cli-app' });
    await pushWithEcrApi('cli/app', image, 'v1');
    await ecr().send(new PutImageCommand({ repositoryName: 'cli/app', imageTag: 'latest', imageManifest: image.manifest.bytes.toString('utf8') }));
    for (const args of [
      ['describe-repositories'],
      ['describe-repositories', '--repository-names', 'cli/app'],
      ['list-images', '--repository-name', 'cli/app'],
      ['describe-images', '--repository-name', 'cli/app'],
      ['describe-images', '--repository-name', 'cli/app', '--image-ids', 'imageTag=v1'],
      ['batch-get-image', '--repository-name', 'cli/app', '--image-ids', 'imageTag=latest'],
      ['describe-registry'],
    ]) {
      const expected = aws(args);
      const got = await berth(args);
      expect({ args, code: got.code, err: got.err }).toEqual({ args, code: 0, err: '' });
      expect(got.out).toBe(expected);
    }
    // Errors as the CLI words them.
    const missing = await berth(['describe-repositories', '--repository-names', 'cli/none']);
    expect(missing.code).toBe(254);
    expect(missing.err).toContain('An error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation:');
  }, 120_000);

  test('GIVEN --query and --output text WHEN berth ecr and the AWS CLI run the same command THEN byte-for-byte the same output', async () => {
    const repositoryName = 'cli/query';
    await ecr().send(new CreateRepositoryCommand({ repositoryName, tags: [{ Key: 'team', Value: 'platform' }] }));
    const first = makeImage({ layers: [200], seed: 'cli-query-1' });
    const second = makeImage({ layers: [100, 50], seed: 'cli-query-2' });
    await pushWithEcrApi(repositoryName, first, 'v1');
    await pushWithEcrApi(repositoryName, second, 'v2');
    await ecr().send(new PutImageCommand({ repositoryName, imageTag: 'latest', imageManifest: second.manifest.bytes.toString('utf8') }));
    const cases: [string[], string][] = [
      // What runbooks do: the newest tag, the digests, a count, a filter.
      [['describe-images', '--repository-name', repositoryName, '--query', 'sort_by(imageDetails,& imagePushedAt)[-1].imageTags[0]'], 'text'],
      [['describe-images', '--repository-name', repositoryName, '--query', 'imageDetails[].imageDigest'], 'text'],
      [['describe-images', '--repository-name', repositoryName, '--query', 'length(imageDetails)'], 'json'],
      [['list-images', '--repository-name', repositoryName, '--query', "imageIds[?imageTag=='v1'].imageDigest | [0]"], 'json'],
      [['list-images', '--repository-name', repositoryName, '--query', 'imageIds[*].imageTag'], 'json'],
      [['describe-repositories', '--repository-names', repositoryName, '--query', 'repositories[0].{name: repositoryName, uri: repositoryUri, scan: imageScanningConfiguration.scanOnPush}'], 'json'],
      [['describe-repositories', '--repository-names', repositoryName, '--query', 'repositories[0].imageScanningConfiguration.scanOnPush'], 'text'],
      [['describe-repositories', '--repository-names', repositoryName, '--query', 'repositories[0].nothing'], 'text'],
      [['describe-repositories', '--repository-names', repositoryName, '--query', 'repositories[0].nothing'], 'json'],
      // Whole answers as text: structures, lists of structures, nested lists.
      [['describe-repositories', '--repository-names', repositoryName], 'text'],
      [['describe-images', '--repository-name', repositoryName], 'text'],
      [['list-images', '--repository-name', repositoryName], 'text'],
      [['list-tags-for-resource', '--resource-arn', `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${repositoryName}`], 'text'],
      [['batch-get-image', '--repository-name', repositoryName, '--image-ids', 'imageTag=nope', 'imageTag=v1', '--query', 'failures'], 'text'],
    ];
    for (const [args, output] of cases) {
      const expected = aws(args, output);
      const got = await berth(args, output);
      expect({ args, output, code: got.code, err: got.err }).toEqual({ args, output, code: 0, err: '' });
      expect({ args, output, out: got.out }).toEqual({ args, output, out: expected });
      expect(expected.trim()).not.toBe('');
    }
    expect((await berth(cases[0][0], 'text')).out).toMatch(/^(v2|latest)\n$/);
    expect((await berth(cases[7][0], 'text')).out).toBe('None\n');
    // A malformed expression is refused before any request, by both.
    const bad = ['describe-images', '--repository-name', repositoryName, '--query', 'imageDetails[']; 
    const cli = spawnSync(AWS_CLI, ['ecr', ...bad, ...globals()], { env: { ...process.env, ...env() }, encoding: 'utf8' });
    expect(cli.status).toBe(252);
    expect(cli.stderr).toContain('Bad value for --query imageDetails[');
    expect(await berth(bad)).toEqual({ code: 252, out: '', err: expect.stringContaining('Bad value for --query imageDetails[') });
    expect(await berth(['describe-registry'], 'table')).toEqual({ code: 252, out: '', err: expect.stringContaining('--output table is not supported') });
    expect(await berth(['describe-images', '--repository-name', repositoryName, '--max-items', '1'])).toEqual({ code: 252, out: '', err: expect.stringContaining('does not take --max-items') });
  }, 120_000);

  test('GIVEN shorthand, JSON, file:// values and --cli-input-json WHEN berth ecr and the AWS CLI run the same command THEN byte-for-byte the same output; an option the command lacks is refused by both', async () => {
    const repositoryName = 'cli/inputs';
    await ecr().send(new CreateRepositoryCommand({ repositoryName }));
    const image = makeImage({ layers: [300], seed: 'cli-inputs' });
    await pushWithEcrApi(repositoryName, image, 'v1');
    const dir = mkdtempSync(join(work.path, 'cli-inputs-'));
    const file = (name: string, value: unknown) => {
      const path = join(dir, name);
      writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
      return `file://${path}`;
    };
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'pull', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'ecr:BatchGetImage' }] });
    for (const args of [
      // Shorthand structures and lists of structures.
      ['put-image-scanning-configuration', '--repository-name', repositoryName, '--image-scanning-configuration', 'scanOnPush=true'],
      ['list-images', '--repository-name', repositoryName, '--filter', 'tagStatus=TAGGED'],
      ['batch-get-image', '--repository-name', repositoryName, '--image-ids', 'imageTag=v1', `imageDigest=${image.manifest.digest}`],
      // JSON, inline and from file://.
      ['batch-get-image', '--repository-name', repositoryName, '--image-ids', JSON.stringify([{ imageTag: 'v1' }])],
      ['describe-images', '--repository-name', repositoryName, '--image-ids', file('ids.json', [{ imageDigest: image.manifest.digest }])],
      ['set-repository-policy', '--repository-name', repositoryName, '--policy-text', file('policy.json', policy)],
      ['get-repository-policy', '--repository-name', repositoryName],
      // --cli-input-json (a file), with an option on the command line winning over it.
      ['list-images', '--cli-input-json', file('list-images.json', { repositoryName, filter: { tagStatus: 'UNTAGGED' } }), '--filter', 'tagStatus=ANY'],
      ['put-image-tag-mutability', '--cli-input-json', file('mutability.json', { repositoryName, imageTagMutability: 'IMMUTABLE' })],
      ['describe-repositories', '--cli-input-json', JSON.stringify({ repositoryNames: [repositoryName] })],
    ]) {
      const expected = aws(args);
      const got = await berth(args);
      expect({ args, code: got.code, err: got.err }).toEqual({ args, code: 0, err: '' });
      expect({ args, out: got.out }).toEqual({ args, out: expected });
    }
    expect(JSON.parse((await berth(['list-images', '--repository-name', repositoryName, '--filter', 'tagStatus=ANY'])).out).imageIds).toEqual([{ imageDigest: image.manifest.digest, imageTag: 'v1' }]);

    // list-images takes no --image-ids (ListImages has no such member): the AWS CLI refuses it, and so does berth ecr.
    const cli = spawnSync(AWS_CLI, ['ecr', 'list-images', '--repository-name', repositoryName, '--image-ids', 'imageTag=v1', ...globals()], { env: { ...process.env, ...env() }, encoding: 'utf8' });
    expect(cli.status).toBe(252);
    expect(cli.stderr).toContain('Unknown options: --image-ids');
    const refused = await berth(['list-images', '--repository-name', repositoryName, '--image-ids', 'imageTag=v1']);
    expect(refused).toEqual({ code: 252, out: '', err: expect.stringContaining('Unknown options: --image-ids') });
    const unknownInJson = await berth(['list-images', '--cli-input-json', JSON.stringify({ repositoryName, imageIds: [{ imageTag: 'v1' }] })]);
    expect(unknownInJson).toEqual({ code: 252, out: '', err: expect.stringContaining('Unknown parameter in input: "imageIds"') });
  }, 120_000);
});
