/**
 * Lifecycle policies, previews, the archive state and pull time exclusions on `berth serve --config`,
 * with the real `@aws-sdk/client-ecr` and the AWS CLI: ECR's shapes and typed exceptions, archived
 * images listed but not pullable, a scanner's pulls that do not move lastRecordedPullTime, and a
 * creation template's lifecycle policy given to the repository a push creates.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteLifecyclePolicyCommand,
  DeregisterPullTimeUpdateExclusionCommand,
  DescribeImagesCommand,
  ECRClient,
  ExclusionAlreadyExistsException,
  ExclusionNotFoundException,
  GetAuthorizationTokenCommand,
  GetLifecyclePolicyCommand,
  GetLifecyclePolicyPreviewCommand,
  ImageNotFoundException,
  ImageStorageClassUpdateNotSupportedException,
  InvalidParameterException,
  LifecyclePolicyNotFoundException,
  LifecyclePolicyPreviewNotFoundException,
  ListImagesCommand,
  ListPullTimeUpdateExclusionsCommand,
  PutLifecyclePolicyCommand,
  RegisterPullTimeUpdateExclusionCommand,
  RepositoryNotFoundException,
  StartLifecyclePolicyPreviewCommand,
  UpdateImageStorageClassCommand,
  ValidationException,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { describeWithBinaries, run } from '../support/clients';
import { EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, type Blob, type Image } from '../support/oci-fixtures';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0013', secretAccessKey: 'admin-secret-access-key-example-0013' };
const SCANNER = { accessKeyId: 'AKIASCANNEREXAMPLE13', secretAccessKey: 'scanner-secret-access-key-example-13' };
const SCANNER_ARN = `arn:aws:iam::${ACCOUNT}:user/scanner`;
const AWS_CLI = '/usr/bin/aws';

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
const basic: Record<'admin' | 'scanner', string> = { admin: '', scanner: '' };

const client = (credentials = ADMIN) => new ECRClient({ region: REGION, endpoint: proc.url, credentials, maxAttempts: 1 });
const ecr = () => client();

const POLICY = JSON.stringify({
  rules: [{ rulePriority: 1, description: 'keep the two newest v images', selection: { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 2 }, action: { type: 'expire' } }],
});

async function pushBlob(repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${proc.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    body: blob.bytes,
    headers: { 'Content-Type': 'application/octet-stream', Authorization: basic.admin },
  });
  expect(res.status).toBe(201);
}

async function pushImage(repo: string, image: Image | { manifest: Blob; layer: Blob }, tag?: string): Promise<string> {
  const blobs = 'config' in image ? imageBlobs(image) : [EMPTY_CONFIG, image.layer];
  for (const blob of blobs) await pushBlob(repo, blob);
  const res = await fetch(`${proc.url}/v2/${repo}/manifests/${tag ?? image.manifest.digest}`, {
    method: 'PUT',
    body: image.manifest.bytes,
    headers: { 'Content-Type': image.manifest.mediaType, Authorization: basic.admin },
  });
  expect(res.status).toBe(201);
  return image.manifest.digest;
}

const pull = (repo: string, reference: string, who: 'admin' | 'scanner' = 'admin') =>
  fetch(`${proc.url}/v2/${repo}/manifests/${reference}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json', Authorization: basic[who] },
  });

beforeAll(async () => {
  work = scratchDir('ecr-lifecycle');
  const file = join(work.path, 'identities.json');
  const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
  writeFileSync(
    file,
    JSON.stringify({
      registry: { account: ACCOUNT, regions: [REGION] },
      identities: [
        { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: allowAll },
        { name: 'scanner', ...SCANNER, arn: SCANNER_ARN, policy: allowAll },
      ],
    }),
    { mode: 0o600 },
  );
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', file, '--lifecycle-interval', '0']);
  for (const [who, credentials] of [['admin', ADMIN], ['scanner', SCANNER]] as const) {
    const token = await client(credentials).send(new GetAuthorizationTokenCommand({}));
    basic[who] = `Basic ${token.authorizationData![0].authorizationToken}`;
  }
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('lifecycle policies with @aws-sdk/client-ecr', () => {
  test('GIVEN a repository WHEN a policy is put, read and deleted THEN ECR’s shapes; none left is LifecyclePolicyNotFoundException', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/crud' }));
    await expect(ecr().send(new GetLifecyclePolicyCommand({ repositoryName: 'lc/crud' }))).rejects.toBeInstanceOf(LifecyclePolicyNotFoundException);
    const put = await ecr().send(new PutLifecyclePolicyCommand({ repositoryName: 'lc/crud', lifecyclePolicyText: POLICY }));
    expect(put).toMatchObject({ registryId: ACCOUNT, repositoryName: 'lc/crud', lifecyclePolicyText: POLICY });
    const got = await ecr().send(new GetLifecyclePolicyCommand({ repositoryName: 'lc/crud' }));
    expect(got).toMatchObject({ registryId: ACCOUNT, repositoryName: 'lc/crud', lifecyclePolicyText: POLICY });
    expect(got.lastEvaluatedAt).toBeUndefined();
    const deleted = await ecr().send(new DeleteLifecyclePolicyCommand({ repositoryName: 'lc/crud' }));
    expect(deleted.lifecyclePolicyText).toBe(POLICY);
    await expect(ecr().send(new DeleteLifecyclePolicyCommand({ repositoryName: 'lc/crud' }))).rejects.toBeInstanceOf(LifecyclePolicyNotFoundException);
    await expect(ecr().send(new PutLifecyclePolicyCommand({ repositoryName: 'lc/none', lifecyclePolicyText: POLICY }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });

  test('GIVEN policies ECR refuses WHEN put THEN InvalidParameterException naming the rule and the field, or ValidationException for the length, and nothing stored', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/invalid' }));
    const untaggedWithPrefix = JSON.stringify({
      rules: [{ rulePriority: 3, description: 'x', selection: { tagStatus: 'untagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
    });
    const err = await ecr()
      .send(new PutLifecyclePolicyCommand({ repositoryName: 'lc/invalid', lifecyclePolicyText: untaggedWithPrefix }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(InvalidParameterException);
    expect(err.message).toMatch(/^Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: /);
    expect(err.message).toContain('3');
    expect(err.message).toContain('tagPrefixList');
    await expect(ecr().send(new PutLifecyclePolicyCommand({ repositoryName: 'lc/invalid', lifecyclePolicyText: '{"rules":[]}' }))).rejects.toBeInstanceOf(ValidationException);
    await expect(ecr().send(new GetLifecyclePolicyCommand({ repositoryName: 'lc/invalid' }))).rejects.toBeInstanceOf(LifecyclePolicyNotFoundException);
  });

  test('GIVEN five v images WHEN a preview is started and read THEN IN_PROGRESS, then COMPLETE with the three oldest, a summary and pages', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/preview' }));
    await expect(ecr().send(new GetLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview' }))).rejects.toBeInstanceOf(LifecyclePolicyPreviewNotFoundException);
    await expect(ecr().send(new StartLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview' }))).rejects.toBeInstanceOf(LifecyclePolicyNotFoundException);
    const digests: string[] = [];
    for (let i = 1; i <= 5; i++) {
      digests.push(await pushImage('lc/preview', makeImage({ seed: `preview-${i}`, layers: [64] }), `v${i}`));
      await new Promise((r) => setTimeout(r, 5));
    }
    await pushImage('lc/preview', makeImage({ seed: 'preview-other', layers: [64] }), 'other');
    await ecr().send(new PutLifecyclePolicyCommand({ repositoryName: 'lc/preview', lifecyclePolicyText: POLICY }));
    const started = await ecr().send(new StartLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview' }));
    expect(started).toMatchObject({ registryId: ACCOUNT, repositoryName: 'lc/preview', lifecyclePolicyText: POLICY, status: 'IN_PROGRESS' });
    const preview = await ecr().send(new GetLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview' }));
    expect(preview.status).toBe('COMPLETE');
    expect(preview.previewResults!.map((r) => [r.imageTags, r.imageDigest, r.action, r.appliedRulePriority, r.storageClass])).toEqual([
      [['v1'], digests[0], { type: 'EXPIRE' }, 1, 'STANDARD'],
      [['v2'], digests[1], { type: 'EXPIRE' }, 1, 'STANDARD'],
      [['v3'], digests[2], { type: 'EXPIRE' }, 1, 'STANDARD'],
    ]);
    expect(preview.previewResults![0].imagePushedAt).toBeInstanceOf(Date);
    expect(preview.summary).toEqual({ expiringImageTotalCount: 3, transitioningImageTotalCounts: [] });
    const first = await ecr().send(new GetLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview', maxResults: 2 }));
    expect(first.previewResults).toHaveLength(2);
    const second = await ecr().send(new GetLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview', maxResults: 2, nextToken: first.nextToken }));
    expect(second.previewResults!.map((r) => r.imageDigest)).toEqual([digests[2]]);
    expect(second.nextToken).toBeUndefined();
    const byId = await ecr().send(new GetLifecyclePolicyPreviewCommand({ repositoryName: 'lc/preview', imageIds: [{ imageTag: 'v2' }] }));
    expect(byId.previewResults!.map((r) => r.imageDigest)).toEqual([digests[1]]);
    // A preview changes nothing.
    expect((await ecr().send(new ListImagesCommand({ repositoryName: 'lc/preview' }))).imageIds).toHaveLength(6);
  });
});

describe('the archive state', () => {
  test('GIVEN an image WHEN archived THEN listed only under ARCHIVED, not pullable (404 saying so), restored by UpdateImageStorageClass and by a re-push', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/archive' }));
    const image = makeImage({ seed: 'archive-me', layers: [64] });
    const digest = await pushImage('lc/archive', image, 'v1');
    const signature = makeArtifact({ artifactType: 'application/vnd.example.signature', subject: image.manifest });
    await pushImage('lc/archive', signature);

    const archived = await ecr().send(new UpdateImageStorageClassCommand({ repositoryName: 'lc/archive', imageId: { imageTag: 'v1' }, targetStorageClass: 'ARCHIVE' }));
    expect(archived).toMatchObject({ registryId: ACCOUNT, repositoryName: 'lc/archive', imageId: { imageDigest: digest, imageTag: 'v1' }, imageStatus: 'ARCHIVED' });

    const active = await ecr().send(new DescribeImagesCommand({ repositoryName: 'lc/archive' }));
    expect(active.imageDetails!.map((d) => d.imageDigest)).toEqual([signature.manifest.digest]);
    const listed = await ecr().send(new DescribeImagesCommand({ repositoryName: 'lc/archive', filter: { imageStatus: 'ARCHIVED' } }));
    expect(listed.imageDetails).toHaveLength(1);
    expect(listed.imageDetails![0]).toMatchObject({ imageDigest: digest, imageTags: ['v1'], imageStatus: 'ARCHIVED', lastArchivedAt: expect.any(Date) });
    expect((await ecr().send(new ListImagesCommand({ repositoryName: 'lc/archive', filter: { imageStatus: 'ANY' } }))).imageIds).toHaveLength(2);
    expect((await ecr().send(new DescribeImagesCommand({ repositoryName: 'lc/archive', imageIds: [{ imageDigest: digest }] }))).imageDetails![0].imageStatus).toBe('ARCHIVED');

    for (const reference of ['v1', digest]) {
      const res = await pull('lc/archive', reference);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0].code).toBe('MANIFEST_UNKNOWN');
      expect(body.errors[0].message).toContain('archived');
    }
    const batch = await ecr().send(new BatchGetImageCommand({ repositoryName: 'lc/archive', imageIds: [{ imageTag: 'v1' }] }));
    expect(batch.failures![0]).toMatchObject({ failureCode: 'ImageNotFound', failureReason: expect.stringContaining('archived') });
    await expect(
      ecr().send(new UpdateImageStorageClassCommand({ repositoryName: 'lc/archive', imageId: { imageDigest: signature.manifest.digest }, targetStorageClass: 'ARCHIVE' })),
    ).rejects.toBeInstanceOf(ImageStorageClassUpdateNotSupportedException);
    await expect(
      ecr().send(new UpdateImageStorageClassCommand({ repositoryName: 'lc/archive', imageId: { imageTag: 'nope' }, targetStorageClass: 'ARCHIVE' })),
    ).rejects.toBeInstanceOf(ImageNotFoundException);

    const restored = await ecr().send(new UpdateImageStorageClassCommand({ repositoryName: 'lc/archive', imageId: { imageDigest: digest }, targetStorageClass: 'STANDARD' }));
    expect(restored.imageStatus).toBe('ACTIVE');
    expect((await pull('lc/archive', 'v1')).status).toBe(200);
    const detail = (await ecr().send(new DescribeImagesCommand({ repositoryName: 'lc/archive', imageIds: [{ imageDigest: digest }] }))).imageDetails![0];
    expect(detail).toMatchObject({ imageStatus: 'ACTIVE', lastArchivedAt: expect.any(Date), lastActivatedAt: expect.any(Date) });

    await ecr().send(new UpdateImageStorageClassCommand({ repositoryName: 'lc/archive', imageId: { imageDigest: digest }, targetStorageClass: 'ARCHIVE' }));
    await pushImage('lc/archive', image, 'v1');
    expect((await pull('lc/archive', 'v1')).status).toBe(200);
  });
});

describe('pull time update exclusions', () => {
  test('GIVEN a scanner excluded WHEN it pulls THEN lastRecordedPullTime stays unset; when the admin pulls it is recorded; the list answers as ECR', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/pulls' }));
    await pushImage('lc/pulls', makeImage({ seed: 'scanned', layers: [64] }), 'v1');
    const registered = await ecr().send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: SCANNER_ARN }));
    expect(registered).toMatchObject({ principalArn: SCANNER_ARN, createdAt: expect.any(Date) });
    await expect(ecr().send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: SCANNER_ARN }))).rejects.toBeInstanceOf(ExclusionAlreadyExistsException);
    await expect(ecr().send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: 'arn:aws:sts::111122223333:assumed-role/x/y' }))).rejects.toBeInstanceOf(ValidationException);
    expect((await ecr().send(new ListPullTimeUpdateExclusionsCommand({}))).pullTimeUpdateExclusions).toEqual([SCANNER_ARN]);

    expect((await pull('lc/pulls', 'v1', 'scanner')).status).toBe(200);
    const after = async () => (await ecr().send(new DescribeImagesCommand({ repositoryName: 'lc/pulls' }))).imageDetails![0].lastRecordedPullTime;
    expect(await after()).toBeUndefined();
    expect((await pull('lc/pulls', 'v1', 'admin')).status).toBe(200);
    expect(await after()).toBeInstanceOf(Date);

    await ecr().send(new DeregisterPullTimeUpdateExclusionCommand({ principalArn: SCANNER_ARN }));
    await expect(ecr().send(new DeregisterPullTimeUpdateExclusionCommand({ principalArn: SCANNER_ARN }))).rejects.toBeInstanceOf(ExclusionNotFoundException);
    expect((await ecr().send(new ListPullTimeUpdateExclusionsCommand({}))).pullTimeUpdateExclusions).toEqual([]);
  });
});

describe('repository creation templates', () => {
  test('GIVEN a CREATE_ON_PUSH template with a lifecycle policy WHEN a push creates a repository under it THEN the repository has the policy; an invalid template policy is refused', async () => {
    await ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'lct', appliedFor: ['CREATE_ON_PUSH'], lifecyclePolicy: POLICY }));
    await pushImage('lct/app', makeImage({ seed: 'templated', layers: [64] }), 'v1');
    expect((await ecr().send(new GetLifecyclePolicyCommand({ repositoryName: 'lct/app' }))).lifecyclePolicyText).toBe(POLICY);
    await expect(
      ecr().send(new CreateRepositoryCreationTemplateCommand({ prefix: 'lcbad', appliedFor: ['CREATE_ON_PUSH'], lifecyclePolicy: POLICY.replace('"expire"', '"explode"') })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });
});

describeWithBinaries([AWS_CLI], `AWS CLI (${AWS_CLI}) lifecycle commands`, () => {
  const cli = (...args: string[]) =>
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
    });

  test('GIVEN images WHEN put-lifecycle-policy, start-lifecycle-policy-preview, the waiter and get-lifecycle-policy-preview THEN the CLI prints ECR’s JSON', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'lc/cli' }));
    for (let i = 1; i <= 3; i++) await pushImage('lc/cli', makeImage({ seed: `cli-${i}`, layers: [64] }), `v${i}`);
    const policyFile = join(work.path, 'policy.json');
    writeFileSync(policyFile, POLICY.replace('"countNumber":2', '"countNumber":1'));
    const put = JSON.parse(cli('put-lifecycle-policy', '--repository-name', 'lc/cli', '--lifecycle-policy-text', `file://${policyFile}`));
    expect(put.repositoryName).toBe('lc/cli');
    expect(JSON.parse(cli('start-lifecycle-policy-preview', '--repository-name', 'lc/cli')).status).toBe('IN_PROGRESS');
    cli('wait', 'lifecycle-policy-preview-complete', '--repository-name', 'lc/cli');
    const preview = JSON.parse(cli('get-lifecycle-policy-preview', '--repository-name', 'lc/cli'));
    expect(preview.status).toBe('COMPLETE');
    expect(preview.previewResults.map((r: { imageTags: string[] }) => r.imageTags)).toEqual([['v1'], ['v2']]);
    expect(preview.summary.expiringImageTotalCount).toBe(2);
  });
});
