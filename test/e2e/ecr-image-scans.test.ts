/**
 * The scan actions on `berth serve --config`, over the wire (issue 15, "API and events"): what
 * @aws-sdk/client-ecr and the AWS CLI v2 make of DescribeImageScanFindings for an image never scanned
 * (ScanNotFoundException, their typed error and the CLI's words), and StartImageScan's IN_PROGRESS and
 * its 24 hours (LimitExceededException). The answers with findings are asserted over the same handler
 * in test/unit/image-scan-actions.test.ts (no scanner is needed to write them there).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  CompleteLayerUploadCommand,
  CreateRepositoryCommand,
  DescribeImageScanFindingsCommand,
  DescribeImagesCommand,
  ECRClient,
  InitiateLayerUploadCommand,
  LimitExceededException,
  PutImageCommand,
  ScanNotFoundException,
  StartImageScanCommand,
  UploadLayerPartCommand,
} from '@aws-sdk/client-ecr';
import { imageBlobs, makeImage, type Blob, type Image } from '../support/oci-fixtures';
import { writeAdminConfig } from '../support/identity-config';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { describeWithBinaries } from '../support/clients';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0115', secretAccessKey: 'admin-secret-access-key-example-0115' };
const AWS_CLI = '/usr/bin/aws';
const REPO = 'scans/app';

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let image: Image;

const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });
const notScanned = (id: string) => `Image scan does not exist for the image with '${id}' in the repository with name '${REPO}' in the registry with id '${ACCOUNT}'`;

async function uploadLayer(blob: Blob): Promise<void> {
  const { uploadId } = await ecr().send(new InitiateLayerUploadCommand({ repositoryName: REPO }));
  await ecr().send(new UploadLayerPartCommand({ repositoryName: REPO, uploadId, partFirstByte: 0, partLastByte: blob.bytes.length - 1, layerPartBlob: blob.bytes }));
  await ecr().send(new CompleteLayerUploadCommand({ repositoryName: REPO, uploadId, layerDigests: [blob.digest] }));
}

beforeAll(async () => {
  work = scratchDir('ecr-image-scans');
  const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config, '--gc-interval', '0', '--lifecycle-interval', '0']);
  // scanOnPush off and no registry rules: MANUAL, so the push leaves no scan record.
  await ecr().send(new CreateRepositoryCommand({ repositoryName: REPO, imageScanningConfiguration: { scanOnPush: false } }));
  image = makeImage({ layers: [256], seed: 'ecr-image-scans' });
  for (const blob of imageBlobs(image)) await uploadLayer(blob);
  await ecr().send(new PutImageCommand({ repositoryName: REPO, imageTag: 'v1', imageManifest: image.manifest.bytes.toString('utf8'), imageManifestMediaType: image.manifest.mediaType }));
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

test('GIVEN an image never scanned WHEN the SDK describes its scan findings THEN its typed ScanNotFoundException, in ECR’s words; DescribeImages shows no scan members', async () => {
  const err = await ecr()
    .send(new DescribeImageScanFindingsCommand({ repositoryName: REPO, imageId: { imageTag: 'v1' } }))
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ScanNotFoundException);
  expect((err as ScanNotFoundException).message).toBe(notScanned("{imageDigest:'null', imageTag:'v1'}"));
  expect((err as ScanNotFoundException).$metadata.httpStatusCode).toBe(400);
  const [detail] = (await ecr().send(new DescribeImagesCommand({ repositoryName: REPO, imageIds: [{ imageTag: 'v1' }] }))).imageDetails ?? [];
  expect(detail).not.toHaveProperty('imageScanStatus');
  expect(detail).not.toHaveProperty('imageScanFindingsSummary');
});

describeWithBinaries([AWS_CLI], `AWS CLI v2 (${AWS_CLI}) describe-image-scan-findings`, () => {
  test('GIVEN an image never scanned WHEN aws ecr describe-image-scan-findings THEN exit 254 and ScanNotFoundException in the CLI’s words', () => {
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
    const cli = spawnSync(
      AWS_CLI,
      ['ecr', 'describe-image-scan-findings', '--repository-name', REPO, '--image-id', `imageDigest=${image.manifest.digest}`, '--region', REGION, '--endpoint-url', proc.url, '--output', 'json'],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    expect(cli.status).toBe(254);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim()).toBe(
      `An error occurred (ScanNotFoundException) when calling the DescribeImageScanFindings operation: ${notScanned(`{imageDigest:'${image.manifest.digest}', imageTag:'null'}`)}`,
    );
  });
});

test('GIVEN the image WHEN the SDK starts its scan twice THEN IN_PROGRESS, then its typed LimitExceededException; DescribeImageScanFindings no longer answers ScanNotFoundException', async () => {
  const started = await ecr().send(new StartImageScanCommand({ repositoryName: REPO, imageId: { imageTag: 'v1' } }));
  expect(started).toMatchObject({ registryId: ACCOUNT, repositoryName: REPO, imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' }, imageScanStatus: { status: 'IN_PROGRESS' } });
  // Whether a scanner has finished it yet depends on the deployment's scanner: the record exists either way.
  const described = await ecr().send(new DescribeImageScanFindingsCommand({ repositoryName: REPO, imageId: { imageTag: 'v1' } }));
  expect(['IN_PROGRESS', 'COMPLETE', 'FAILED', 'UNSUPPORTED_IMAGE']).toContain(described.imageScanStatus?.status);
  const again = await ecr()
    .send(new StartImageScanCommand({ repositoryName: REPO, imageId: { imageDigest: image.manifest.digest } }))
    .catch((e: unknown) => e);
  expect(again).toBeInstanceOf(LimitExceededException);
  expect((again as LimitExceededException).message).toBe('The scan quota per image has been exceeded. Wait and try again.');
});
