/**
 * ECR's control plane through the Lambda handler in the emulated AWS mode: one `berth serve
 * --emulate-aws --config FILE` child process (DynamoDB Local, the S3 stand-in, the API Gateway
 * simulator with IAM authorization on `POST /`), called with the real `@aws-sdk/client-ecr` signing
 * for `execute-api` and with `berth ecr ... --execute-api` (bin/berth.ts). The local-mode versions
 * are ecr-control-plane.test.ts and ecr-layers.test.ts; this file shows the same actions work in the
 * AWS composition (DynamoDbMetadataStore, S3BlobStore, the handler's wiring in aws-control-plane.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchCheckLayerAvailabilityCommand,
  BatchGetRepositoryScanningConfigurationCommand,
  GetRegistryScanningConfigurationCommand,
  InvalidParameterException,
  PutRegistryScanningConfigurationCommand,
  DeleteRegistryPolicyCommand,
  DeleteRepositoryCreationTemplateCommand,
  DeleteRepositoryPolicyCommand,
  DescribeRepositoryCreationTemplatesCommand,
  EmptyUploadException,
  GetAccountSettingCommand,
  GetRegistryPolicyCommand,
  GetRepositoryPolicyCommand,
  InvalidLayerException,
  PutImageScanningConfigurationCommand,
  PutRegistryPolicyCommand,
  RegistryPolicyNotFoundException,
  RepositoryPolicyNotFoundException,
  SetRepositoryPolicyCommand,
  UpdateRepositoryCreationTemplateCommand,
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CompleteLayerUploadCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteRepositoryCommand,
  DescribeImagesCommand,
  DescribeRegistryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetDownloadUrlForLayerCommand,
  ImageTagAlreadyExistsException,
  InitiateLayerUploadCommand,
  LayersNotFoundException,
  ListImageReferrersCommand,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutAccountSettingCommand,
  PutImageCommand,
  PutImageTagMutabilityCommand,
  RepositoryNotEmptyException,
  RepositoryNotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  UploadLayerPartCommand,
} from '@aws-sdk/client-ecr';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { HttpRequest as SmithyHttpRequest, RequestSigningArguments } from '@smithy/types';
import { describeWithBinaries, runAsync } from '../support/clients';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { blobOf, imageBlobs, makeImage, type Blob, type Image } from '../support/oci-fixtures';
import { LAMBDA_MAX_EVENT_BYTES } from '../../lambdas/emulators/api-gateway-simulator';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAEMUCONTROLPLANE1', secretAccessKey: 'emulated-control-plane-secret-0123' };
const ADMIN_ARN = `arn:aws:iam::${ACCOUNT}:user/admin`;
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
/** No shared or SSO configuration: only the keys the test passes. */
const CLEAN_AWS_ENV = { AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
const arnOf = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;
const sizeOf = (image: Image) => imageBlobs(image).reduce((n, b) => n + b.size, 0);

describeWithBinaries(['java'], 'emulated AWS: the ECR control plane through the Lambda handler, @aws-sdk/client-ecr signing for execute-api', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess;
  let s3Endpoint: string;
  let basic: string;
  const clients: ECRClient[] = [];

  /** @aws-sdk/client-ecr signing for `execute-api`, as lambdas/cli/ecr/ecr-login.ts does. */
  function ecr(): ECRClient {
    const signer = new SignatureV4({ service: 'execute-api', region: REGION, sha256: Sha256, credentials: ADMIN });
    const client = new ECRClient({
      region: REGION,
      endpoint: proc.url,
      credentials: ADMIN,
      maxAttempts: 1,
      signer: async () => ({ sign: (request: SmithyHttpRequest, args?: RequestSigningArguments) => signer.sign(request, { ...args, signingService: 'execute-api' }) }),
    });
    clients.push(client);
    return client;
  }
  let api: ECRClient;

  beforeAll(async () => {
    work = scratchDir('emulated-control-plane');
    const config = join(work.path, 'identities.json');
    writeFileSync(
      config,
      JSON.stringify({ registry: { account: ACCOUNT, regions: [REGION] }, identities: [{ name: 'admin', ...ADMIN, arn: ADMIN_ARN, policy: ALLOW_ALL }] }),
      { mode: 0o600 },
    );
    const dataDir = join(work.path, 'data');
    proc = await startRegistryProcess(dataDir, 0, ['--emulate-aws', '--config', config]);
    s3Endpoint = JSON.parse(readFileSync(join(dataDir, 'emulated-aws.json'), 'utf8')).s3;
    api = ecr();
    const token = await api.send(new GetAuthorizationTokenCommand({}));
    basic = `Basic ${token.authorizationData![0].authorizationToken}`;
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proc?.stop();
    work?.remove();
  });

  /** An OCI blob upload through the data plane (POST, then PUT to the Location: the ingest service). */
  async function ociBlob(repo: string, blob: Blob): Promise<number> {
    const start = await fetch(`${proc.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic } });
    if (start.status !== 202) return start.status;
    const location = new URL(start.headers.get('location')!, proc.url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: basic } });
    return put.status;
  }
  const putManifest = (repo: string, reference: string, manifest: Blob) =>
    fetch(`${proc.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: basic } });
  async function ociPush(repo: string, image: Image, tag: string): Promise<number> {
    for (const blob of imageBlobs(image)) {
      const status = await ociBlob(repo, blob);
      if (status !== 201) return status;
    }
    return (await putManifest(repo, tag, image.manifest)).status;
  }

  /** A layer through InitiateLayerUpload / UploadLayerPart (parts of the advertised partSize) / CompleteLayerUpload. */
  async function uploadLayer(repositoryName: string, blob: Blob): Promise<number> {
    const { uploadId, partSize } = await api.send(new InitiateLayerUploadCommand({ repositoryName }));
    let parts = 0;
    for (let first = 0; first < blob.bytes.length; first += partSize!) {
      const part = blob.bytes.subarray(first, Math.min(first + partSize!, blob.bytes.length));
      const out = await api.send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: first, partLastByte: first + part.length - 1, layerPartBlob: part }));
      expect(out.lastByteReceived).toBe(first + part.length - 1);
      parts++;
    }
    const done = await api.send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [blob.digest] }));
    expect(done).toMatchObject({ registryId: ACCOUNT, repositoryName, uploadId, layerDigest: blob.digest });
    return parts;
  }

  test('GIVEN CreateRepository WHEN described (paged), its mutability and tags changed, and deleted THEN ECR shapes; RepositoryNotEmpty until force', async () => {
    const created = await api.send(
      new CreateRepositoryCommand({ repositoryName: 'emu/created', imageScanningConfiguration: { scanOnPush: true }, tags: [{ Key: 'team', Value: 'payments' }] }),
    );
    expect(created.repository).toEqual({
      repositoryArn: arnOf('emu/created'),
      registryId: ACCOUNT,
      repositoryName: 'emu/created',
      repositoryUri: expect.stringMatching(/\/emu\/created$/),
      createdAt: expect.any(Date),
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      // No BLOB_KMS_KEY_ARN in the emulator: SSE-S3.
      encryptionConfiguration: { encryptionType: 'AES256' },
    });
    expect((await api.send(new DescribeRepositoriesCommand({ repositoryNames: ['emu/created'] }))).repositories).toEqual([created.repository]);

    for (let i = 0; i < 5; i++) await api.send(new CreateRepositoryCommand({ repositoryName: `emu/paged/r${i}` }));
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await api.send(new DescribeRepositoriesCommand({ maxResults: 2, nextToken }));
      expect(out.repositories!.length).toBeLessThanOrEqual(2);
      names.push(...out.repositories!.map((r) => r.repositoryName!));
      nextToken = out.nextToken;
    } while (nextToken);
    expect(names.filter((n) => n.startsWith('emu/paged/'))).toEqual([0, 1, 2, 3, 4].map((i) => `emu/paged/r${i}`));
    expect(new Set(names).size).toBe(names.length);

    const mut = await api.send(
      new PutImageTagMutabilityCommand({ repositoryName: 'emu/created', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'dev-*' }] }),
    );
    expect(mut).toMatchObject({ registryId: ACCOUNT, repositoryName: 'emu/created', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'dev-*' }] });

    await api.send(new TagResourceCommand({ resourceArn: arnOf('emu/created'), tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }));
    await api.send(new UntagResourceCommand({ resourceArn: arnOf('emu/created'), tagKeys: ['team', 'b'] }));
    expect((await api.send(new ListTagsForResourceCommand({ resourceArn: arnOf('emu/created') }))).tags).toEqual([{ Key: 'a', Value: '1' }]);

    // The exclusion and immutability hold on the data plane (the handler's registry).
    const one = makeImage({ layers: [300], seed: 'emu-created-1' });
    const two = makeImage({ layers: [300], seed: 'emu-created-2' });
    expect(await ociPush('emu/created', one, 'v1')).toBe(201);
    expect(await ociPush('emu/created', one, 'dev-1')).toBe(201);
    expect(await ociPush('emu/created', two, 'dev-1')).toBe(201);
    const moved = await ociPush('emu/created', two, 'v1');
    expect(moved).toBe(400);

    await expect(api.send(new DeleteRepositoryCommand({ repositoryName: 'emu/created' }))).rejects.toBeInstanceOf(RepositoryNotEmptyException);
    const deleted = await api.send(new DeleteRepositoryCommand({ repositoryName: 'emu/created', force: true }));
    expect(deleted.repository).toMatchObject({ repositoryName: 'emu/created', repositoryArn: arnOf('emu/created') });
    await expect(api.send(new DescribeRepositoriesCommand({ repositoryNames: ['emu/created'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
    expect((await fetch(`${proc.url}/v2/emu/created/manifests/v1`, { headers: { Authorization: basic } })).status).toBe(404);
  });

  describe('an image pushed with the layer actions and PutImage', () => {
    const repositoryName = 'emu/layers';
    // Over one part: the part size must fit API Gateway's and Lambda's limits (the body is base64 in JSON, the event base64 again).
    const image = makeImage({ layers: [3_600_000, 2_000], seed: 'emu-layers', docker: true });
    const other = makeImage({ layers: [1_000], seed: 'emu-layers-other' });

    beforeAll(async () => {
      await api.send(new CreateRepositoryCommand({ repositoryName }));
    });

    test('GIVEN the advertised partSize WHEN a 3.6 MB layer is uploaded in parts through the emulated gateway THEN every part fits; PutImage stores the image', async () => {
      const { uploadId, partSize } = await api.send(new InitiateLayerUploadCommand({ repositoryName }));
      // A part of partSize bytes: JSON (base64) in a proxy event (base64 again) must stay under Lambda's 6 MB.
      expect(Math.ceil((Math.ceil(partSize! / 3) * 4 + 400) / 3) * 4 + 16 * 1024).toBeLessThan(LAMBDA_MAX_EVENT_BYTES);
      expect(partSize).toBeLessThan(image.layers[0].size);
      expect(uploadId).toBeDefined(); // left behind: purged as abandoned uploads are
      const parts = [];
      for (const blob of imageBlobs(image)) parts.push(await uploadLayer(repositoryName, blob));
      expect(parts[1]).toBeGreaterThanOrEqual(2); // the big layer (imageBlobs: config first)
      const out = await api.send(new PutImageCommand({ repositoryName, imageTag: 'v1', imageManifest: image.manifest.bytes.toString('utf8'), imageManifestMediaType: image.manifest.mediaType }));
      expect(out.image).toEqual({
        registryId: ACCOUNT,
        repositoryName,
        imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' },
        imageManifest: image.manifest.bytes.toString('utf8'),
        imageManifestMediaType: image.manifest.mediaType,
      });
      await api.send(new PutImageCommand({ repositoryName, imageTag: 'stable', imageManifest: image.manifest.bytes.toString('utf8') }));
      for (const blob of imageBlobs(other)) await uploadLayer(repositoryName, blob);
      await api.send(new PutImageCommand({ repositoryName, imageDigest: other.manifest.digest, imageManifest: other.manifest.bytes.toString('utf8') }));
      const missing = makeImage({ layers: [10], seed: 'emu-missing' });
      await expect(api.send(new PutImageCommand({ repositoryName, imageTag: 'm', imageManifest: missing.manifest.bytes.toString('utf8') }))).rejects.toBeInstanceOf(LayersNotFoundException);
    });

    test('GIVEN the image WHEN BatchCheckLayerAvailability and GetDownloadUrlForLayer THEN the layers are there and plain fetch downloads the presigned S3 stand-in URL', async () => {
      const check = await api.send(new BatchCheckLayerAvailabilityCommand({ repositoryName, layerDigests: [image.layers[0].digest, `sha256:${'0'.repeat(64)}`, 'nope'] }));
      expect(check.layers).toEqual([{ layerDigest: image.layers[0].digest, layerAvailability: 'AVAILABLE', layerSize: image.layers[0].size, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }]);
      expect(check.failures!.map((f) => f.failureCode)).toEqual(['MissingLayerDigest', 'InvalidLayerDigest']);
      const { downloadUrl, layerDigest } = await api.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: image.layers[0].digest }));
      expect(layerDigest).toBe(image.layers[0].digest);
      expect(downloadUrl!.startsWith(s3Endpoint)).toBe(true);
      expect(new URL(downloadUrl!).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      const fetched = await fetch(downloadUrl!);
      expect(fetched.status).toBe(200);
      expect(Buffer.from(await fetched.arrayBuffer()).equals(image.layers[0].bytes)).toBe(true);
      await expect(api.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: `sha256:${'1'.repeat(64)}` }))).rejects.toBeInstanceOf(LayersNotFoundException);
    });

    test('GIVEN the images WHEN ListImages, DescribeImages (after a data-plane pull) and BatchGetImage THEN ids, sizes, tags, media types and pull time', async () => {
      const listed = await api.send(new ListImagesCommand({ repositoryName }));
      expect(new Set(listed.imageIds!.map((i) => JSON.stringify(i)))).toEqual(
        new Set([{ imageDigest: image.manifest.digest, imageTag: 'stable' }, { imageDigest: image.manifest.digest, imageTag: 'v1' }, { imageDigest: other.manifest.digest }].map((i) => JSON.stringify(i))),
      );
      expect((await api.send(new ListImagesCommand({ repositoryName, filter: { tagStatus: 'UNTAGGED' } }))).imageIds).toEqual([{ imageDigest: other.manifest.digest }]);

      const before = Date.now() - 1000;
      const pull = await fetch(`${proc.url}/v2/${repositoryName}/manifests/v1`, { headers: { Authorization: basic, Accept: image.manifest.mediaType } });
      expect(pull.status).toBe(200);
      expect(Buffer.from(await pull.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
      const described = await api.send(new DescribeImagesCommand({ repositoryName }));
      const byDigest = new Map(described.imageDetails!.map((d) => [d.imageDigest!, d]));
      expect(byDigest.get(image.manifest.digest)).toEqual({
        registryId: ACCOUNT,
        repositoryName,
        imageDigest: image.manifest.digest,
        imageTags: ['stable', 'v1'],
        imageSizeInBytes: sizeOf(image),
        imagePushedAt: expect.any(Date),
        imageManifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        artifactMediaType: 'application/vnd.docker.container.image.v1+json',
        lastRecordedPullTime: expect.any(Date),
        imageStatus: 'ACTIVE',
      });
      expect(byDigest.get(image.manifest.digest)!.lastRecordedPullTime!.getTime()).toBeGreaterThanOrEqual(before);
      expect(byDigest.get(other.manifest.digest)).toMatchObject({ imageSizeInBytes: sizeOf(other), imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' });
      expect(byDigest.get(other.manifest.digest)!.imageTags).toBeUndefined();
      expect(byDigest.get(other.manifest.digest)!.lastRecordedPullTime).toBeUndefined();

      const got = await api.send(new BatchGetImageCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }, { imageTag: 'missing' }] }));
      expect(got.images).toEqual([
        { registryId: ACCOUNT, repositoryName, imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' }, imageManifest: image.manifest.bytes.toString(), imageManifestMediaType: image.manifest.mediaType },
      ]);
      expect(got.failures).toEqual([{ imageId: { imageTag: 'missing' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }]);
    });

    test('GIVEN a subject with a referrer WHEN ListImageReferrers THEN it comes back', async () => {
      const empty = blobOf(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
      await uploadLayer(repositoryName, empty);
      const referrer = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.sig',
        config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.size },
        layers: [{ mediaType: empty.mediaType, digest: empty.digest, size: empty.size }],
        subject: { mediaType: other.manifest.mediaType, digest: other.manifest.digest, size: other.manifest.size },
      });
      const put = await api.send(new PutImageCommand({ repositoryName, imageManifest: referrer }));
      const out = await api.send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: other.manifest.digest } }));
      expect(out.referrers).toEqual([
        expect.objectContaining({ digest: put.image!.imageId!.imageDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example.sig', artifactStatus: 'ACTIVE', size: Buffer.byteLength(referrer) }),
      ]);
    });

    test('GIVEN the images WHEN BatchDeleteImage by tag, then by digest THEN the tag, then the image go; failures carry ECR codes', async () => {
      const byTag = await api.send(new BatchDeleteImageCommand({ repositoryName, imageIds: [{ imageTag: 'stable' }] }));
      expect(byTag).toEqual(expect.objectContaining({ imageIds: [{ imageDigest: image.manifest.digest, imageTag: 'stable' }], failures: [] }));
      expect((await fetch(`${proc.url}/v2/${repositoryName}/manifests/v1`, { method: 'HEAD', headers: { Authorization: basic, Accept: image.manifest.mediaType } })).status).toBe(200);
      const byDigest = await api.send(
        new BatchDeleteImageCommand({ repositoryName, imageIds: [{ imageTag: 'v1', imageDigest: other.manifest.digest }, { imageDigest: image.manifest.digest }, { imageTag: 'never' }, { imageDigest: 'sha256:zz' }] }),
      );
      expect(byDigest.imageIds).toEqual([{ imageDigest: image.manifest.digest, imageTag: 'v1' }]);
      expect(byDigest.failures!.map((f) => [f.imageId, f.failureCode])).toEqual([
        [{ imageTag: 'v1', imageDigest: other.manifest.digest }, 'ImageTagDoesNotMatchDigest'],
        [{ imageTag: 'never' }, 'ImageNotFound'],
        [{ imageDigest: 'sha256:zz' }, 'InvalidImageDigest'],
      ]);
      expect((await fetch(`${proc.url}/v2/${repositoryName}/manifests/${image.manifest.digest}`, { headers: { Authorization: basic } })).status).toBe(404);
      expect((await api.send(new ListImagesCommand({ repositoryName }))).imageIds!.map((i) => i.imageDigest)).not.toContain(image.manifest.digest);
    });
  });

  test('GIVEN an IMMUTABLE repository on DynamoDB WHEN a manifest PUT moves a tag THEN 400 TAG_INVALID; of 10 concurrent pushes of a new tag exactly one wins; PutImage gets ImageTagAlreadyExists', async () => {
    const repo = 'emu/immutable';
    await api.send(new CreateRepositoryCommand({ repositoryName: repo, imageTagMutability: 'IMMUTABLE' }));
    const first = makeImage({ layers: [200], seed: 'emu-imm-1' });
    const second = makeImage({ layers: [200], seed: 'emu-imm-2' });
    expect(await ociPush(repo, first, 'v1')).toBe(201);
    for (const blob of imageBlobs(second)) expect(await ociBlob(repo, blob)).toBe(201);
    const refused = await putManifest(repo, 'v1', second.manifest);
    expect(refused.status).toBe(400);
    const error = ((await refused.json()) as { errors: Array<{ code: string; message: string }> }).errors[0];
    expect(error.code).toBe('TAG_INVALID');
    expect(error.message).toContain('immutable');
    expect((await putManifest(repo, 'v1', first.manifest)).status).toBe(201);
    await expect(api.send(new PutImageCommand({ repositoryName: repo, imageTag: 'v1', imageManifest: second.manifest.bytes.toString('utf8') }))).rejects.toBeInstanceOf(ImageTagAlreadyExistsException);

    const images = Array.from({ length: 10 }, (_, i) => makeImage({ layers: [64], seed: `emu-race-${i}` }));
    for (const img of images) for (const blob of imageBlobs(img)) expect(await ociBlob(repo, blob)).toBe(201);
    const statuses = (await Promise.all(images.map((img) => putManifest(repo, 'release', img.manifest)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(9);
    const winner = images[statuses.indexOf(201)];
    const head = await fetch(`${proc.url}/v2/${repo}/manifests/release`, { method: 'HEAD', headers: { Authorization: basic, Accept: winner.manifest.mediaType } });
    expect(head.headers.get('docker-content-digest')).toBe(winner.manifest.digest);
  });

  test('GIVEN BERTH_CREATE_ON_PUSH DISABLED WHEN pushing to new repositories THEN NAME_UNKNOWN, except under a CREATE_ON_PUSH template, whose settings the repository gets; DescribeRegistry', async () => {
    await api.send(
      new CreateRepositoryCreationTemplateCommand({ prefix: 'emu-auto', appliedFor: ['CREATE_ON_PUSH'], imageTagMutability: 'IMMUTABLE', resourceTags: [{ Key: 'from', Value: 'emu-auto' }] }),
    );
    expect(await api.send(new PutAccountSettingCommand({ name: 'BERTH_CREATE_ON_PUSH', value: 'DISABLED' }))).toMatchObject({ name: 'BERTH_CREATE_ON_PUSH', value: 'DISABLED' });
    try {
      const image = makeImage({ layers: [10], seed: 'emu-create-on-push' });
      const refused = await fetch(`${proc.url}/v2/emu-loose/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic } });
      expect(refused.status).toBe(404);
      expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0].code).toBe('NAME_UNKNOWN');
      await expect(api.send(new InitiateLayerUploadCommand({ repositoryName: 'emu-loose/app' }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
      await expect(api.send(new DescribeRepositoriesCommand({ repositoryNames: ['emu-loose/app'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);

      expect(await ociPush('emu-auto/app', image, 'v1')).toBe(201);
      const [created] = (await api.send(new DescribeRepositoriesCommand({ repositoryNames: ['emu-auto/app'] }))).repositories!;
      expect(created).toMatchObject({ repositoryArn: arnOf('emu-auto/app'), imageTagMutability: 'IMMUTABLE', encryptionConfiguration: { encryptionType: 'AES256' } });
      expect((await api.send(new ListTagsForResourceCommand({ resourceArn: arnOf('emu-auto/app') }))).tags).toEqual([{ Key: 'from', Value: 'emu-auto' }]);
      expect(await ociPush('emu-auto/app', makeImage({ layers: [10], seed: 'emu-create-on-push-2' }), 'v1')).toBe(400);
    } finally {
      await api.send(new PutAccountSettingCommand({ name: 'BERTH_CREATE_ON_PUSH', value: 'ENABLED' }));
    }
    expect(await ociPush('emu-loose/app', makeImage({ layers: [10], seed: 'emu-loose' }), 'v1')).toBe(201);
    expect(await api.send(new DescribeRegistryCommand({}))).toMatchObject({ registryId: ACCOUNT, replicationConfiguration: { rules: [] } });
  });

  test('GIVEN the remaining control-plane actions WHEN called through the handler THEN scanning config, policies, templates, account settings and CompleteLayerUpload errors answer as ECR', async () => {
    await api.send(new CreateRepositoryCommand({ repositoryName: 'emu-misc/app' }));
    const scanning = await api.send(new PutImageScanningConfigurationCommand({ repositoryName: 'emu-misc/app', imageScanningConfiguration: { scanOnPush: true } }));
    expect(scanning).toMatchObject({ registryId: ACCOUNT, repositoryName: 'emu-misc/app', imageScanningConfiguration: { scanOnPush: true } });

    const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Pull', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::222222222222:root' }, Action: ['ecr:BatchGetImage'] }] });
    expect(await api.send(new SetRepositoryPolicyCommand({ repositoryName: 'emu-misc/app', policyText }))).toMatchObject({ repositoryName: 'emu-misc/app', policyText });
    expect((await api.send(new GetRepositoryPolicyCommand({ repositoryName: 'emu-misc/app' }))).policyText).toBe(policyText);
    await api.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'emu-misc/app' }));
    await expect(api.send(new GetRepositoryPolicyCommand({ repositoryName: 'emu-misc/app' }))).rejects.toBeInstanceOf(RepositoryPolicyNotFoundException);

    const registryPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Replicate', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::222222222222:root' }, Action: ['ecr:CreateRepository', 'ecr:ReplicateImage'], Resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/*` }] });
    expect((await api.send(new PutRegistryPolicyCommand({ policyText: registryPolicy }))).policyText).toBe(registryPolicy);
    expect((await api.send(new GetRegistryPolicyCommand({}))).policyText).toBe(registryPolicy);
    await api.send(new DeleteRegistryPolicyCommand({}));
    await expect(api.send(new GetRegistryPolicyCommand({}))).rejects.toBeInstanceOf(RegistryPolicyNotFoundException);

    await api.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'emu-tpl', appliedFor: ['CREATE_ON_PUSH'], imageTagMutability: 'MUTABLE' }));
    const updated = await api.send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'emu-tpl', imageTagMutability: 'IMMUTABLE' }));
    expect(updated.repositoryCreationTemplate).toMatchObject({ prefix: 'emu-tpl', imageTagMutability: 'IMMUTABLE' });
    const listed = await api.send(new DescribeRepositoryCreationTemplatesCommand({ prefixes: ['emu-tpl'] }));
    expect(listed.repositoryCreationTemplates?.map((t) => t.prefix)).toEqual(['emu-tpl']);
    await api.send(new DeleteRepositoryCreationTemplateCommand({ prefix: 'emu-tpl' }));
    expect((await api.send(new DescribeRepositoryCreationTemplatesCommand({ prefixes: ['emu-tpl'] }))).repositoryCreationTemplates ?? []).toEqual([]);

    expect(await api.send(new GetAccountSettingCommand({ name: 'BERTH_CREATE_ON_PUSH' }))).toMatchObject({ name: 'BERTH_CREATE_ON_PUSH', value: 'ENABLED' });

    const empty = await api.send(new InitiateLayerUploadCommand({ repositoryName: 'emu-misc/app' }));
    await expect(api.send(new CompleteLayerUploadCommand({ repositoryName: 'emu-misc/app', uploadId: empty.uploadId, layerDigests: [blobOf(Buffer.from('x')).digest] }))).rejects.toBeInstanceOf(EmptyUploadException);
    const wrong = await api.send(new InitiateLayerUploadCommand({ repositoryName: 'emu-misc/app' }));
    await api.send(new UploadLayerPartCommand({ repositoryName: 'emu-misc/app', uploadId: wrong.uploadId, partFirstByte: 0, partLastByte: 4, layerPartBlob: Buffer.from('bytes') }));
    await expect(api.send(new CompleteLayerUploadCommand({ repositoryName: 'emu-misc/app', uploadId: wrong.uploadId, layerDigests: [blobOf(Buffer.from('other')).digest] }))).rejects.toBeInstanceOf(InvalidLayerException);
  });

  test('GIVEN a registry scanning configuration WHEN put, read and applied through the handler THEN kept in the DynamoDB registry settings; ENHANCED refused', async () => {
    expect((await api.send(new GetRegistryScanningConfigurationCommand({}))).scanningConfiguration).toEqual({ scanType: 'BASIC', rules: [] });
    await api.send(new CreateRepositoryCommand({ repositoryName: 'emu-scan/api', imageScanningConfiguration: { scanOnPush: true } }));
    await api.send(new CreateRepositoryCommand({ repositoryName: 'emu-scan/web' }));
    const rules = [
      { scanFrequency: 'CONTINUOUS_SCAN' as const, repositoryFilters: [{ filter: '*/web', filterType: 'WILDCARD' as const }] },
      { scanFrequency: 'SCAN_ON_PUSH' as const, repositoryFilters: [{ filter: 'emu-scan/*', filterType: 'WILDCARD' as const }] },
    ];
    expect((await api.send(new PutRegistryScanningConfigurationCommand({ scanType: 'BASIC', rules }))).registryScanningConfiguration).toEqual({ scanType: 'BASIC', rules });
    const refused = await api.send(new PutRegistryScanningConfigurationCommand({ scanType: 'ENHANCED' })).catch((e) => e);
    expect(refused).toBeInstanceOf(InvalidParameterException);
    expect(refused.message).toContain('Amazon Inspector, which Berth does not have');
    expect(await api.send(new GetRegistryScanningConfigurationCommand({}))).toMatchObject({ registryId: ACCOUNT, scanningConfiguration: { scanType: 'BASIC', rules } });
    const batch = await api.send(new BatchGetRepositoryScanningConfigurationCommand({ repositoryNames: ['emu-scan/api', 'emu-scan/web', 'emu-scan/none'] }));
    expect(batch.scanningConfigurations).toEqual([
      { repositoryArn: arnOf('emu-scan/api'), repositoryName: 'emu-scan/api', scanOnPush: true, scanFrequency: 'SCAN_ON_PUSH', appliedScanFilters: [rules[1].repositoryFilters[0]] },
      { repositoryArn: arnOf('emu-scan/web'), repositoryName: 'emu-scan/web', scanOnPush: true, scanFrequency: 'CONTINUOUS_SCAN', appliedScanFilters: [rules[0].repositoryFilters[0]] },
    ]);
    expect(batch.failures).toEqual([{ repositoryName: 'emu-scan/none', failureCode: 'REPOSITORY_NOT_FOUND', failureReason: `The repository with name 'emu-scan/none' does not exist in the registry with id '${ACCOUNT}'` }]);
    // Put back what the other tests expect: no rules, each repository's scanOnPush decides.
    await api.send(new PutRegistryScanningConfigurationCommand({ scanType: 'BASIC', rules: [] }));
  });

  test('GIVEN `berth ecr ... --execute-api` (bin/berth.ts) WHEN create-repository, describe-repositories, list-images (--cli-input-json file://; --image-ids refused), describe-images / batch-get-image (--image-ids shorthand) THEN the AWS CLI JSON', async () => {
    const berth = async (args: string[]) => {
      const out = await runAsync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'ecr', ...args, '--execute-api', '--endpoint-url', proc.url, '--region', REGION], {
        env: { ...CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey },
        timeoutMs: 60_000,
      });
      return { text: out, json: out.trim() === '' ? {} : JSON.parse(out) };
    };
    const created = await berth(['create-repository', '--repository-name', 'emu/cli', '--image-tag-mutability', 'IMMUTABLE', '--tags', 'Key=owner,Value=ops']);
    expect(created.text).toMatch(/^\{\n {4}"repository": \{\n {8}"repositoryArn"/);
    expect(created.json.repository).toMatchObject({ repositoryArn: arnOf('emu/cli'), registryId: ACCOUNT, repositoryName: 'emu/cli', imageTagMutability: 'IMMUTABLE' });
    // Timestamps as the CLI prints them.
    expect(created.json.repository.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$/);
    const described = await berth(['describe-repositories', '--repository-names', 'emu/cli']);
    expect(described.json).toEqual({ repositories: [created.json.repository] });
    // Paginated: merged into one answer without nextToken.
    const all = await berth(['describe-repositories', '--max-results', '1']);
    expect(all.json.nextToken).toBeUndefined();
    expect(all.json.repositories.map((r: { repositoryName: string }) => r.repositoryName)).toEqual(expect.arrayContaining(['emu/cli', 'emu/layers', 'emu/immutable']));

    const image = makeImage({ layers: [100], seed: 'emu-cli' });
    expect(await ociPush('emu/cli', image, 'v1')).toBe(201);
    expect((await putManifest('emu/cli', 'v2', image.manifest)).status).toBe(201);
    const listed = await berth(['list-images', '--repository-name', 'emu/cli']);
    expect(listed.json).toEqual({ imageIds: [{ imageDigest: image.manifest.digest, imageTag: 'v1' }, { imageDigest: image.manifest.digest, imageTag: 'v2' }] });
    const shorthand = await berth(['batch-get-image', '--repository-name', 'emu/cli', '--image-ids', 'imageTag=v1']);
    expect(shorthand.json.images.map((i: { imageId: unknown }) => i.imageId)).toEqual([{ imageDigest: image.manifest.digest, imageTag: 'v1' }]);
    const described1 = await berth(['describe-images', '--repository-name', 'emu/cli', '--image-ids', 'imageTag=v1']);
    expect(described1.json.imageDetails).toEqual([expect.objectContaining({ imageDigest: image.manifest.digest, imageTags: ['v1', 'v2'], imageSizeInBytes: sizeOf(image) })]);
    const input = join(work.path, 'list-images.json');
    writeFileSync(input, JSON.stringify({ repositoryName: 'emu/cli', filter: { tagStatus: 'TAGGED' }, maxResults: 1 }));
    const fromJson = await berth(['list-images', '--cli-input-json', `file://${input}`]);
    // maxResults from the input pages; the CLI merges the pages.
    expect(fromJson.json).toEqual(listed.json);
    const untagged = await berth(['list-images', '--repository-name', 'emu/cli', '--filter', 'tagStatus=UNTAGGED']);
    expect(untagged.json).toEqual({ imageIds: [] });
    // ListImages has no imageIds: `--image-ids` is refused as the AWS CLI refuses it (exit 252), not dropped.
    await expect(berth(['list-images', '--repository-name', 'emu/cli', '--image-ids', 'imageTag=v1'])).rejects.toThrow(/Unknown options: --image-ids/);
    // Errors as the CLI words them, exit code 254.
    await expect(berth(['describe-repositories', '--repository-names', 'emu/none'])).rejects.toThrow(/An error occurred \(RepositoryNotFoundException\) when calling the DescribeRepositories operation/);
  }, 120_000);

  test('GIVEN `berth ecr --execute-api` WHEN a lifecycle policy is put and previewed, an image archived and restored, an exclusion registered THEN the AWS path (DynamoDB) answers as ECR', async () => {
    const berth = async (args: string[]) => {
      const out = await runAsync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'ecr', ...args, '--execute-api', '--endpoint-url', proc.url, '--region', REGION], {
        env: { ...CLEAN_AWS_ENV, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey },
        timeoutMs: 60_000,
      });
      return out.trim() === '' ? {} : JSON.parse(out);
    };
    await api.send(new CreateRepositoryCommand({ repositoryName: 'emu/lifecycle' }));
    const digests: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const image = makeImage({ layers: [100], seed: `emu-lifecycle-${i}` });
      expect(await ociPush('emu/lifecycle', image, `v${i}`)).toBe(201);
      digests.push(image.manifest.digest);
    }
    const policy = JSON.stringify({
      rules: [{ rulePriority: 1, description: 'keep the newest v image', selection: { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
    });
    const policyFile = join(work.path, 'lifecycle-policy.json');
    writeFileSync(policyFile, policy);
    expect((await berth(['put-lifecycle-policy', '--repository-name', 'emu/lifecycle', '--lifecycle-policy-text', `file://${policyFile}`])).lifecyclePolicyText).toBe(policy);
    expect((await berth(['get-lifecycle-policy', '--repository-name', 'emu/lifecycle'])).lifecyclePolicyText).toBe(policy);
    expect((await berth(['start-lifecycle-policy-preview', '--repository-name', 'emu/lifecycle'])).status).toBe('IN_PROGRESS');
    const preview = await berth(['get-lifecycle-policy-preview', '--repository-name', 'emu/lifecycle']);
    expect(preview.status).toBe('COMPLETE');
    expect(preview.previewResults.map((r: { imageDigest: string }) => r.imageDigest)).toEqual([digests[0], digests[1]]);
    expect(preview.summary).toEqual({ expiringImageTotalCount: 2, transitioningImageTotalCounts: [] });

    const archived = await berth(['update-image-storage-class', '--repository-name', 'emu/lifecycle', '--image-id', 'imageTag=v3', '--target-storage-class', 'ARCHIVE']);
    expect(archived.imageStatus).toBe('ARCHIVED');
    // The tag's copy of the record says so: a pull through the gateway is refused.
    const pulled = await fetch(`${proc.url}/v2/emu/lifecycle/manifests/v3`, { headers: { Authorization: basic, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(pulled.status).toBe(404);
    expect(((await pulled.json()) as { errors: Array<{ message: string }> }).errors[0].message).toContain('archived');
    const listed = await berth(['describe-images', '--repository-name', 'emu/lifecycle', '--filter', 'imageStatus=ARCHIVED']);
    expect(listed.imageDetails.map((d: { imageDigest: string; imageStatus: string }) => [d.imageDigest, d.imageStatus])).toEqual([[digests[2], 'ARCHIVED']]);
    expect((await berth(['update-image-storage-class', '--repository-name', 'emu/lifecycle', '--image-id', `imageDigest=${digests[2]}`, '--target-storage-class', 'STANDARD'])).imageStatus).toBe('ACTIVE');
    expect((await fetch(`${proc.url}/v2/emu/lifecycle/manifests/v3`, { headers: { Authorization: basic, Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(200);

    const scanner = `arn:aws:iam::${ACCOUNT}:role/scanner`;
    expect((await berth(['register-pull-time-update-exclusion', '--principal-arn', scanner])).principalArn).toBe(scanner);
    expect((await berth(['list-pull-time-update-exclusions'])).pullTimeUpdateExclusions).toEqual([scanner]);
    await berth(['deregister-pull-time-update-exclusion', '--principal-arn', scanner]);
    expect((await berth(['delete-lifecycle-policy', '--repository-name', 'emu/lifecycle'])).lifecyclePolicyText).toBe(policy);
  }, 120_000);
});
