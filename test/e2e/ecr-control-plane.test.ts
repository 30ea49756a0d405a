/**
 * ECR's control plane (repositories and images) on `berth serve --config`, with the real
 * `@aws-sdk/client-ecr` and the AWS CLI v2: every action's parsed output and typed exceptions,
 * images pushed over the OCI API (Basic `AWS:<token>` from GetAuthorizationToken) and then
 * described, deleted and guarded by tag immutability.
 */
import { join } from 'node:path';
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  ImageNotFoundException,
  InvalidParameterException,
  InvalidTagParameterException,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  RepositoryAlreadyExistsException,
  RepositoryNotEmptyException,
  RepositoryNotFoundException,
  TagResourceCommand,
  TooManyTagsException,
  UntagResourceCommand,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { describeWithBinaries, run } from '../support/clients';
import { imageBlobs, makeImage, makeIndex, type Blob, type Image } from '../support/oci-fixtures';
import { writeAdminConfig } from '../support/identity-config';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0002', secretAccessKey: 'admin-secret-access-key-example-0002' };
const AWS_CLI = '/usr/bin/aws';

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let basic: string;

const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });
const arnOf = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;

async function pushBlob(repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${proc.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    body: blob.bytes,
    headers: { 'Content-Type': 'application/octet-stream', Authorization: basic },
  });
  expect(res.status).toBe(201);
}

async function putManifest(repo: string, reference: string, manifest: Blob): Promise<Response> {
  return fetch(`${proc.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: manifest.bytes,
    headers: { 'Content-Type': manifest.mediaType, Authorization: basic },
  });
}

async function pushImage(repo: string, image: Image, tag?: string): Promise<void> {
  for (const blob of imageBlobs(image)) await pushBlob(repo, blob);
  const res = await putManifest(repo, tag ?? image.manifest.digest, image.manifest);
  expect(res.status).toBe(201);
}

const sizeOf = (image: Image) => imageBlobs(image).reduce((n, b) => n + b.size, 0);

beforeAll(async () => {
  work = scratchDir('ecr-control-plane');
  const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config]);
  const token = await ecr().send(new GetAuthorizationTokenCommand({}));
  basic = `Basic ${token.authorizationData![0].authorizationToken}`;
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('repositories with @aws-sdk/client-ecr', () => {
  test('GIVEN settings WHEN CreateRepository THEN the repository comes back shaped as ECR, and DescribeRepositories shows the same', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const out = await ecr().send(
      new CreateRepositoryCommand({
        repositoryName: 'team/created',
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
        imageScanningConfiguration: { scanOnPush: true },
        tags: [{ Key: 'team', Value: 'payments' }],
      }),
    );
    const repository = out.repository!;
    expect(repository).toEqual({
      repositoryArn: arnOf('team/created'),
      registryId: ACCOUNT,
      repositoryName: 'team/created',
      repositoryUri: `${proc.host}/team/created`,
      createdAt: expect.any(Date),
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' },
    });
    expect(repository.createdAt!.getTime()).toBeGreaterThanOrEqual(before);
    const described = await ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['team/created'] }));
    expect(described.repositories).toEqual([repository]);
    expect((await ecr().send(new ListTagsForResourceCommand({ resourceArn: arnOf('team/created') }))).tags).toEqual([{ Key: 'team', Value: 'payments' }]);
  });

  test('GIVEN an existing repository or bad input WHEN CreateRepository THEN RepositoryAlreadyExists, InvalidParameter (another KMS key, a bad name or list), TooManyTags', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/dup' }));
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/dup' }))).rejects.toBeInstanceOf(RepositoryAlreadyExistsException);
    const kms = await ecr()
      .send(new CreateRepositoryCommand({ repositoryName: 'team/kms', encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:us-east-1:111122223333:key/other' } }))
      .catch((e) => e);
    expect(kms).toBeInstanceOf(InvalidParameterException);
    expect(kms.message).toContain("encrypts every image with the deployment's setting, AES256");
    expect(kms.message).toContain('arn:aws:kms:us-east-1:111122223333:key/other');
    // Asking for exactly the deployment's setting is fine.
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/aes', encryptionConfiguration: { encryptionType: 'AES256' } }));
    // CreateRepository is one of ECR's classic actions (no ValidationException in its API reference): a name
    // breaking the pattern or length is InvalidParameterException "Invalid parameter at 'repositoryName' ...",
    // as real ECR answers (test/e2e/ecr-invalid-parameters.test.ts has every classic action).
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: 'Team/Upper' }))).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: `a/${'b'.repeat(255)}` }))).rejects.toBeInstanceOf(InvalidParameterException);
    const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/tags', tags }))).rejects.toBeInstanceOf(TooManyTagsException);
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/tags', tags: [{ Key: 'aws:x', Value: 'v' }] }))).rejects.toBeInstanceOf(InvalidTagParameterException);
    const filters = Array.from({ length: 6 }, (_, i) => ({ filterType: 'WILDCARD' as const, filter: `f${i}*` }));
    await expect(ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/filters', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: filters }))).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['team/tags'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });

  test('GIVEN many repositories WHEN DescribeRepositories pages with maxResults THEN nextToken walks them all in order', async () => {
    for (let i = 0; i < 5; i++) await ecr().send(new CreateRepositoryCommand({ repositoryName: `paged/r${i}` }));
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await ecr().send(new DescribeRepositoriesCommand({ maxResults: 2, nextToken }));
      expect(out.repositories!.length).toBeLessThanOrEqual(2);
      names.push(...out.repositories!.map((r) => r.repositoryName!));
      nextToken = out.nextToken;
    } while (nextToken);
    expect(names.filter((n) => n.startsWith('paged/'))).toEqual(['paged/r0', 'paged/r1', 'paged/r2', 'paged/r3', 'paged/r4']);
    // A classic action: maxResults out of range is InvalidParameterException, as in ECR (not ValidationException).
    await expect(ecr().send(new DescribeRepositoriesCommand({ maxResults: 1001 }))).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(ecr().send(new DescribeRepositoriesCommand({ nextToken: 'garbage!' }))).rejects.toBeInstanceOf(InvalidParameterException);
  });

  test('GIVEN a repository WHEN mutability, scanning and tags change THEN each answer and DescribeRepositories reflect it', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/settings' }));
    const mut = await ecr().send(
      new PutImageTagMutabilityCommand({ repositoryName: 'team/settings', imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'release-*' }] }),
    );
    expect(mut).toMatchObject({ registryId: ACCOUNT, repositoryName: 'team/settings', imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'release-*' }] });
    await expect(ecr().send(new PutImageTagMutabilityCommand({ repositoryName: 'team/settings', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' }))).rejects.toBeInstanceOf(InvalidParameterException);
    const scan = await ecr().send(new PutImageScanningConfigurationCommand({ repositoryName: 'team/settings', imageScanningConfiguration: { scanOnPush: true } }));
    expect(scan).toMatchObject({ registryId: ACCOUNT, repositoryName: 'team/settings', imageScanningConfiguration: { scanOnPush: true } });

    await ecr().send(new TagResourceCommand({ resourceArn: arnOf('team/settings'), tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }));
    await ecr().send(new TagResourceCommand({ resourceArn: arnOf('team/settings'), tags: [{ Key: 'a', Value: 'one' }] }));
    await ecr().send(new UntagResourceCommand({ resourceArn: arnOf('team/settings'), tagKeys: ['b'] }));
    expect((await ecr().send(new ListTagsForResourceCommand({ resourceArn: arnOf('team/settings') }))).tags).toEqual([{ Key: 'a', Value: 'one' }]);
    const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    await expect(ecr().send(new TagResourceCommand({ resourceArn: arnOf('team/settings'), tags: many }))).rejects.toBeInstanceOf(TooManyTagsException);
    expect((await ecr().send(new ListTagsForResourceCommand({ resourceArn: arnOf('team/settings') }))).tags).toHaveLength(1);
    await expect(ecr().send(new ListTagsForResourceCommand({ resourceArn: arnOf('team/none') }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
    await expect(ecr().send(new ListTagsForResourceCommand({ resourceArn: `arn:aws:ecr:${REGION}:999999999999:repository/team/settings` }))).rejects.toBeInstanceOf(InvalidParameterException);

    const [repo] = (await ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['team/settings'] }))).repositories!;
    expect(repo).toMatchObject({ imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageScanningConfiguration: { scanOnPush: true } });
  });

  test('GIVEN a repository holding an image WHEN DeleteRepository THEN RepositoryNotEmpty unless force; with force it is gone and the name is free', async () => {
    await pushImage('team/doomed', makeImage({ layers: [100], seed: 'doomed' }), 'v1');
    await expect(ecr().send(new DeleteRepositoryCommand({ repositoryName: 'team/doomed' }))).rejects.toBeInstanceOf(RepositoryNotEmptyException);
    const out = await ecr().send(new DeleteRepositoryCommand({ repositoryName: 'team/doomed', force: true }));
    expect(out.repository).toMatchObject({ repositoryName: 'team/doomed', repositoryArn: arnOf('team/doomed'), imageTagMutability: 'MUTABLE' });
    await expect(ecr().send(new DescribeRepositoriesCommand({ repositoryNames: ['team/doomed'] }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
    expect((await fetch(`${proc.url}/v2/team/doomed/manifests/v1`, { headers: { Authorization: basic } })).status).toBe(404);
    await expect(ecr().send(new DeleteRepositoryCommand({ repositoryName: 'team/doomed' }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/doomed' }));
    // An empty repository needs no force.
    await ecr().send(new DeleteRepositoryCommand({ repositoryName: 'team/doomed' }));
  });
});

describe('images with @aws-sdk/client-ecr', () => {
  const docker = makeImage({ layers: [3000, 5000], seed: 'docker', docker: true });
  const oci = makeImage({ layers: [7000], seed: 'oci', architecture: 'arm64' });
  const index = makeIndex([docker, oci]);

  beforeAll(async () => {
    await pushImage('team/images', docker, 'v1');
    await putManifest('team/images', 'stable', docker.manifest);
    await pushImage('team/images', oci);
    const res = await putManifest('team/images', 'multi', index);
    expect(res.status).toBe(201);
  });

  test('GIVEN pushed images and an index WHEN DescribeImages THEN sizes, tags, media types and push times are right', async () => {
    const out = await ecr().send(new DescribeImagesCommand({ repositoryName: 'team/images' }));
    const byDigest = new Map(out.imageDetails!.map((d) => [d.imageDigest!, d]));
    expect(byDigest.size).toBe(3);
    expect(byDigest.get(docker.manifest.digest)).toEqual({
      registryId: ACCOUNT,
      repositoryName: 'team/images',
      imageDigest: docker.manifest.digest,
      imageTags: ['stable', 'v1'],
      imageSizeInBytes: sizeOf(docker),
      imagePushedAt: expect.any(Date),
      imageManifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      artifactMediaType: 'application/vnd.docker.container.image.v1+json',
      imageStatus: 'ACTIVE',
    });
    expect(byDigest.get(oci.manifest.digest)).toMatchObject({ imageSizeInBytes: sizeOf(oci), imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(byDigest.get(oci.manifest.digest)!.imageTags).toBeUndefined();
    // An index: the largest of its children, as ECR's model says.
    expect(byDigest.get(index.digest)).toMatchObject({ imageTags: ['multi'], imageSizeInBytes: Math.max(sizeOf(docker), sizeOf(oci)), imageManifestMediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(Math.abs(byDigest.get(docker.manifest.digest)!.imagePushedAt!.getTime() - Date.now())).toBeLessThan(120_000);

    const byTag = await ecr().send(new DescribeImagesCommand({ repositoryName: 'team/images', imageIds: [{ imageTag: 'v1' }, { imageDigest: docker.manifest.digest }] }));
    expect(byTag.imageDetails!.map((d) => d.imageDigest)).toEqual([docker.manifest.digest]);
    const untagged = await ecr().send(new DescribeImagesCommand({ repositoryName: 'team/images', filter: { tagStatus: 'UNTAGGED' } }));
    expect(untagged.imageDetails!.map((d) => d.imageDigest)).toEqual([oci.manifest.digest]);
    await expect(ecr().send(new DescribeImagesCommand({ repositoryName: 'team/images', imageIds: [{ imageTag: 'nope' }] }))).rejects.toBeInstanceOf(ImageNotFoundException);
    await expect(ecr().send(new DescribeImagesCommand({ repositoryName: 'team/none' }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });

  test('GIVEN images WHEN ListImages with filters and pages of 1 THEN every id comes once, tagged ones per tag', async () => {
    const all = await ecr().send(new ListImagesCommand({ repositoryName: 'team/images' }));
    const expected = [
      { imageDigest: docker.manifest.digest, imageTag: 'stable' },
      { imageDigest: docker.manifest.digest, imageTag: 'v1' },
      { imageDigest: index.digest, imageTag: 'multi' },
      { imageDigest: oci.manifest.digest },
    ];
    expect(new Set(all.imageIds!.map((i) => JSON.stringify(i)))).toEqual(new Set(expected.map((i) => JSON.stringify(i))));
    const paged: unknown[] = [];
    let nextToken: string | undefined;
    do {
      const out = await ecr().send(new ListImagesCommand({ repositoryName: 'team/images', maxResults: 1, nextToken }));
      expect(out.imageIds!.length).toBeLessThanOrEqual(1);
      paged.push(...out.imageIds!);
      nextToken = out.nextToken;
    } while (nextToken);
    expect(paged).toEqual(all.imageIds);
    const tagged = await ecr().send(new ListImagesCommand({ repositoryName: 'team/images', filter: { tagStatus: 'TAGGED' } }));
    expect(tagged.imageIds!.every((i) => i.imageTag !== undefined)).toBe(true);
    expect(tagged.imageIds).toHaveLength(3);
    const untagged = await ecr().send(new ListImagesCommand({ repositoryName: 'team/images', filter: { tagStatus: 'UNTAGGED' } }));
    expect(untagged.imageIds).toEqual([{ imageDigest: oci.manifest.digest }]);
  });

  test('GIVEN images WHEN BatchGetImage by tag and digest, with and without acceptedMediaTypes THEN manifests byte for byte, and failures per id', async () => {
    const out = await ecr().send(
      new BatchGetImageCommand({ repositoryName: 'team/images', imageIds: [{ imageTag: 'v1' }, { imageDigest: index.digest }, { imageTag: 'missing' }, { imageDigest: 'sha256:zz' }] }),
    );
    expect(out.images).toEqual([
      { registryId: ACCOUNT, repositoryName: 'team/images', imageId: { imageDigest: docker.manifest.digest, imageTag: 'v1' }, imageManifest: docker.manifest.bytes.toString(), imageManifestMediaType: docker.manifest.mediaType },
      { registryId: ACCOUNT, repositoryName: 'team/images', imageId: { imageDigest: index.digest }, imageManifest: index.bytes.toString(), imageManifestMediaType: index.mediaType },
    ]);
    expect(out.failures).toEqual([
      { imageId: { imageTag: 'missing' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
      { imageId: { imageDigest: 'sha256:zz' }, failureCode: 'InvalidImageDigest', failureReason: 'Invalid image digest' },
    ]);
    const filtered = await ecr().send(
      new BatchGetImageCommand({ repositoryName: 'team/images', imageIds: [{ imageTag: 'v1' }], acceptedMediaTypes: ['application/vnd.oci.image.manifest.v1+json'] }),
    );
    expect(filtered.images).toEqual([]);
    expect(filtered.failures![0]).toMatchObject({ failureCode: 'ImageNotFound', failureReason: expect.stringContaining('acceptedMediaTypes') });
  });

  test('GIVEN images WHEN BatchDeleteImage by tag, by digest, mismatched and referenced THEN ECR failure codes; a digest delete makes the manifest 404', async () => {
    const img = makeImage({ layers: [500], seed: 'deletable' });
    await pushImage('team/images', img, 'gone');
    await putManifest('team/images', 'gone-too', img.manifest);
    const byTag = await ecr().send(new BatchDeleteImageCommand({ repositoryName: 'team/images', imageIds: [{ imageTag: 'gone-too' }] }));
    expect(byTag).toMatchObject({ imageIds: [{ imageDigest: img.manifest.digest, imageTag: 'gone-too' }], failures: [] });
    // The tag only: the image stays under its other tag.
    expect((await fetch(`${proc.url}/v2/team/images/manifests/${img.manifest.digest}`, { headers: { Authorization: basic } })).status).toBe(200);

    const mixed = await ecr().send(
      new BatchDeleteImageCommand({
        repositoryName: 'team/images',
        imageIds: [{ imageDigest: img.manifest.digest }, { imageTag: 'v1', imageDigest: oci.manifest.digest }, { imageDigest: oci.manifest.digest }, { imageTag: 'never' }],
      }),
    );
    expect(mixed.imageIds).toEqual([{ imageDigest: img.manifest.digest, imageTag: 'gone' }]);
    expect(mixed.failures!.map((f) => f.failureCode)).toEqual(['ImageTagDoesNotMatchDigest', 'ImageReferencedByManifestList', 'ImageNotFound']);
    expect((await fetch(`${proc.url}/v2/team/images/manifests/${img.manifest.digest}`, { headers: { Authorization: basic } })).status).toBe(404);
    expect((await fetch(`${proc.url}/v2/team/images/manifests/gone`, { headers: { Authorization: basic } })).status).toBe(404);
  });
});

describe('tag immutability on the OCI push path', () => {
  test('GIVEN PutImageTagMutability IMMUTABLE WHEN a docker-style PUT moves an existing tag THEN TAG_INVALID; the same digest again is fine', async () => {
    const first = makeImage({ layers: [200], seed: 'imm-1', docker: true });
    const second = makeImage({ layers: [200], seed: 'imm-2', docker: true });
    await pushImage('team/immutable', first, 'v1');
    await pushImage('team/immutable', second);
    await ecr().send(new PutImageTagMutabilityCommand({ repositoryName: 'team/immutable', imageTagMutability: 'IMMUTABLE' }));
    const res = await putManifest('team/immutable', 'v1', second.manifest);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0].code).toBe('TAG_INVALID');
    expect(body.errors[0].message).toContain('immutable');
    expect((await putManifest('team/immutable', 'v1', first.manifest)).status).toBe(201);
    // Back to MUTABLE: the tag moves again.
    await ecr().send(new PutImageTagMutabilityCommand({ repositoryName: 'team/immutable', imageTagMutability: 'MUTABLE' }));
    expect((await putManifest('team/immutable', 'v1', second.manifest)).status).toBe(201);
  });

  test('GIVEN an immutable repository WHEN 20 pushes of one new tag with different digests race THEN exactly one wins and the tag names it', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'team/race', imageTagMutability: 'IMMUTABLE' }));
    const images = Array.from({ length: 20 }, (_, i) => makeImage({ layers: [64], seed: `race-${i}` }));
    for (const img of images) {
      for (const blob of imageBlobs(img)) await pushBlob('team/race', blob);
    }
    const results = await Promise.all(images.map((img) => putManifest('team/race', 'release', img.manifest)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
    const winner = images[statuses.indexOf(201)];
    const head = await fetch(`${proc.url}/v2/team/race/manifests/release`, { method: 'HEAD', headers: { Authorization: basic, Accept: winner.manifest.mediaType } });
    expect(head.headers.get('docker-content-digest')).toBe(winner.manifest.digest);
  });

  test('GIVEN IMMUTABLE_WITH_EXCLUSION for latest WHEN latest and v1 are pushed twice THEN latest moves and v1 does not', async () => {
    await ecr().send(
      new CreateRepositoryCommand({ repositoryName: 'team/excluded', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'lat*' }] }),
    );
    const a = makeImage({ layers: [64], seed: 'excl-a' });
    const b = makeImage({ layers: [64], seed: 'excl-b' });
    await pushImage('team/excluded', a, 'latest');
    await pushImage('team/excluded', b);
    expect((await putManifest('team/excluded', 'latest', b.manifest)).status).toBe(201);
    expect((await putManifest('team/excluded', 'v1', a.manifest)).status).toBe(201);
    expect((await putManifest('team/excluded', 'v1', b.manifest)).status).toBe(400);
  });
});

describeWithBinaries([AWS_CLI], `AWS CLI v2 (${AWS_CLI}) control plane`, () => {
  const aws = (args: string[]) =>
    JSON.parse(
      run(AWS_CLI, ['ecr', ...args, '--region', REGION, '--endpoint-url', proc.url, '--output', 'json'], {
        env: {
          AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
          AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
          AWS_CONFIG_FILE: '/nonexistent',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PAGER: '',
        },
        timeoutMs: 60_000,
      }) || '{}',
    );

  test('GIVEN the CLI WHEN a runbook creates, describes, tags, lists, gets and deletes THEN every JSON answer parses and says what happened', async () => {
    const version = run(AWS_CLI, ['--version']);
    expect(version).toMatch(/^aws-cli\/2\./);
    const created = aws(['create-repository', '--repository-name', 'cli/runbook', '--image-scanning-configuration', 'scanOnPush=true', '--tags', 'Key=owner,Value=ops']);
    expect(created.repository).toMatchObject({ repositoryName: 'cli/runbook', repositoryArn: arnOf('cli/runbook'), registryId: ACCOUNT, imageScanningConfiguration: { scanOnPush: true } });
    expect(typeof created.repository.createdAt).toBe('string'); // the CLI prints timestamps as ISO text
    expect(aws(['describe-repositories', '--repository-names', 'cli/runbook']).repositories[0].repositoryUri).toBe(`${proc.host}/cli/runbook`);

    const img = makeImage({ layers: [900], seed: 'cli' });
    await pushImage('cli/runbook', img, 'v1');
    const described = aws(['describe-images', '--repository-name', 'cli/runbook']).imageDetails;
    expect(described).toEqual([expect.objectContaining({ imageDigest: img.manifest.digest, imageTags: ['v1'], imageSizeInBytes: sizeOf(img) })]);
    expect(aws(['list-images', '--repository-name', 'cli/runbook']).imageIds).toEqual([{ imageDigest: img.manifest.digest, imageTag: 'v1' }]);
    const got = aws(['batch-get-image', '--repository-name', 'cli/runbook', '--image-ids', 'imageTag=v1']);
    expect(JSON.parse(got.images[0].imageManifest)).toEqual(JSON.parse(img.manifest.bytes.toString()));

    expect(aws(['put-image-tag-mutability', '--repository-name', 'cli/runbook', '--image-tag-mutability', 'IMMUTABLE'])).toMatchObject({ imageTagMutability: 'IMMUTABLE' });
    aws(['tag-resource', '--resource-arn', arnOf('cli/runbook'), '--tags', 'Key=cost-center,Value=42']);
    expect(aws(['list-tags-for-resource', '--resource-arn', arnOf('cli/runbook')]).tags).toEqual([
      { Key: 'owner', Value: 'ops' },
      { Key: 'cost-center', Value: '42' },
    ]);
    const deleted = aws(['batch-delete-image', '--repository-name', 'cli/runbook', '--image-ids', `imageDigest=${img.manifest.digest}`]);
    expect(deleted).toEqual({ imageIds: [{ imageDigest: img.manifest.digest, imageTag: 'v1' }], failures: [] });
    expect(aws(['list-images', '--repository-name', 'cli/runbook']).imageIds).toEqual([]);
  });
});
