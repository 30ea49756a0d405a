/**
 * The scan actions (issue 15, "API and events"): StartImageScan, DescribeImageScanFindings and the
 * scan members of DescribeImages, through the ECR JSON handler over the LMDB metadata store and local
 * mode's scan content (FilesystemScanContent). No scanner runs here: the records are written as the
 * scanner writes them (startScan / finishScan, the findings with putScanContent), and each answer is
 * asserted whole.
 */
import { join } from 'node:path';
import { CachedRepositorySettings } from '../../lambdas/core/cached-repository-settings';
import { controlPlaneOperations, type ControlPlaneOperations } from '../../lambdas/core/control-plane';
import type { RegistryTokens } from '../../lambdas/core/registry-tokens';
import { Registry } from '../../lambdas/core/registry';
import type { ScanFinding } from '../../lambdas/core/scanning/model';
import { encodeScanContent } from '../../lambdas/core/scanning/scan-content';
import type { ControlPlaneScanning } from '../../lambdas/core/scanning/scan-operations';
import { noFindings, type SeverityCounts } from '../../lambdas/core/scanning/scan-records';
import { tagImmutabilityFromSettings } from '../../lambdas/core/tag-immutability';
import { createEcrApi, ECR_TARGET_PREFIX } from '../../lambdas/http/ecr-api';
import { runEcrCommand } from '../../lambdas/cli/ecr/ecr-cli';
import { silentLogger } from '../../lambdas/core/log';
import { startNodeServer } from '../../lambdas/server/node-server';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { FilesystemScanContent } from '../../lambdas/storage/local/filesystem-scan-content';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, makeIndex, type Blob, type Image } from '../support/oci-fixtures';
import { scratchDir } from '../support/registry-harness';

const ACCOUNT = '111122223333';
const REPO = 'team/app';
const HOUR = 60 * 60 * 1000;
const T0 = Date.parse('2025-01-10T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => ms / 1000;

async function* bytesOf(bytes: Uint8Array) {
  yield bytes;
}

/** Five findings as the analyzer writes them (osv/findings.ts), in the stored order. */
const FINDINGS: ScanFinding[] = [
  {
    name: 'CVE-2023-0464',
    description: 'Excessive resource use verifying X.509 policy constraints',
    uri: 'https://security-tracker.debian.org/tracker/CVE-2023-0464',
    severity: 'HIGH',
    attributes: [
      { key: 'package_name', value: 'openssl' },
      { key: 'package_version', value: '3.0.8-1' },
      { key: 'CVSS3_SCORE', value: '7.5' },
      { key: 'CVSS3_VECTOR', value: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' },
    ],
  },
  { name: 'CVE-2023-4911', uri: 'https://osv.dev/vulnerability/CVE-2023-4911', severity: 'CRITICAL', attributes: [{ key: 'package_name', value: 'glibc' }, { key: 'package_version', value: '2.36-9' }] },
  { name: 'CVE-2022-48303', description: 'tar: one-byte out-of-bounds read', severity: 'LOW', attributes: [{ key: 'package_name', value: 'tar' }, { key: 'package_version', value: '1.34+dfsg-1.2' }] },
  { name: 'GHSA-c2qf-rxjj-qqgw', description: 'semver ReDoS', severity: 'HIGH', attributes: [{ key: 'package_name', value: 'semver' }, { key: 'package_version', value: '7.5.1' }] },
  { name: 'CVE-2011-3374', severity: 'LOW', attributes: [{ key: 'package_name', value: 'apt' }, { key: 'package_version', value: '2.6.1' }] },
];
const COUNTS: SeverityCounts = { ...noFindings(), CRITICAL: 1, HIGH: 2, LOW: 2 };

describe('the scan actions over LMDB and the filesystem scan content', () => {
  let work: { path: string; remove: () => void };
  let metadata: LmdbMetadataStore;
  let registry: Registry;
  let content: FilesystemScanContent;
  let now: number;
  let requested: Array<[string, string, string]>;
  let api: ReturnType<typeof createEcrApi>;
  let core: ControlPlaneOperations;

  function ecrApiOver(scanning?: ControlPlaneScanning): ReturnType<typeof createEcrApi> {
    core = controlPlaneOperations({ store: metadata, registry, now: () => now, ...(scanning ? { scanning } : {}) });
    return createEcrApi({
      operations: core,
      tokens: {} as RegistryTokens,
      registryAccount: ACCOUNT,
      region: 'us-east-1',
      identityPolicies: { identityInput: async () => ({ identityDecision: 'allowed' }) },
      authenticate: async () => ({ ok: true, caller: { principal: { arn: `arn:aws:iam::${ACCOUNT}:user/admin`, account: ACCOUNT } } }),
      proxyEndpoint: () => 'http://localhost',
      now: () => now,
    });
  }

  beforeEach(async () => {
    work = scratchDir('image-scan-actions');
    const blobs = FilesystemBlobStore.open({ root: join(work.path, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(work.path, 'metadata') });
    const repositories = new CachedRepositorySettings(metadata);
    registry = new Registry({ blobs, metadata, repositories, isTagImmutable: tagImmutabilityFromSettings(repositories) });
    content = new FilesystemScanContent({ root: join(work.path, 'scans') });
    now = T0;
    requested = [];
    api = ecrApiOver({
      content,
      requestScan: (repository, digest, startedAt) => {
        requested.push([repository, digest, startedAt]);
      },
    });
    await core.repositories.create(REPO);
  });
  afterEach(async () => {
    await metadata.close();
    work.remove();
  });

  async function call(action: string, input: Record<string, unknown>, through = api): Promise<{ status: number; body: Record<string, unknown> }> {
    const bytes = Buffer.from(JSON.stringify(input));
    const response = await through({
      method: 'POST',
      path: '/',
      query: new URLSearchParams(),
      headers: { 'x-amz-target': `${ECR_TARGET_PREFIX}${action}`, 'content-type': 'application/x-amz-json-1.1', 'content-length': String(bytes.length) },
      body: bytesOf(bytes),
    });
    return { status: response.status, body: JSON.parse(Buffer.from(response.body as Uint8Array).toString('utf8')) };
  }

  async function pushBlob(blob: Blob): Promise<void> {
    const upload = await registry.startUpload(REPO);
    await registry.completeUpload(REPO, upload.id, blob.digest, { body: bytesOf(blob.bytes) });
  }

  async function pushImage(seed: string, tag?: string): Promise<Image> {
    const image = makeImage({ layers: [64], seed });
    for (const blob of imageBlobs(image)) await pushBlob(blob);
    await registry.putManifest(REPO, tag ?? image.manifest.digest, image.manifest.bytes, image.manifest.mediaType);
    return image;
  }

  /** A completed scan of `digest` started at `startedAt`, with `findings` stored as the scanner stores them. */
  async function completedScan(digest: string, startedAt: number, findings = FINDINGS, counts = COUNTS): Promise<void> {
    expect((await metadata.startScan(REPO, digest, iso(startedAt))).ok).toBe(true);
    const findingsRef = await content.putScanContent(REPO, digest, 'findings', iso(startedAt), encodeScanContent({ format: 1, findings }));
    const finished = await metadata.finishScan(
      REPO,
      digest,
      { status: 'COMPLETE', completedAt: iso(startedAt + 90_500), vulnerabilitySourceUpdatedAt: '2025-01-09T06:30:00.000Z', severityCounts: counts, findingsRef },
      { expectedStartedAt: iso(startedAt) },
    );
    expect(finished.ok).toBe(true);
  }

  const head = (digest: string, tag?: string) => ({ registryId: ACCOUNT, repositoryName: REPO, imageId: { imageDigest: digest, ...(tag !== undefined ? { imageTag: tag } : {}) } });
  const refused = (type: string, message: string, status = 400) => ({ status, body: { __type: type, message } });

  describe('DescribeImageScanFindings', () => {
    test('GIVEN an image never scanned WHEN described by tag or by digest THEN ScanNotFoundException in ECR’s words, the id as given', async () => {
      const image = await pushImage('never-scanned', 'v1');
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual(
        refused('ScanNotFoundException', `Image scan does not exist for the image with '{imageDigest:'null', imageTag:'v1'}' in the repository with name '${REPO}' in the registry with id '${ACCOUNT}'`),
      );
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageDigest: image.manifest.digest } })).toEqual(
        refused('ScanNotFoundException', `Image scan does not exist for the image with '{imageDigest:'${image.manifest.digest}', imageTag:'null'}' in the repository with name '${REPO}' in the registry with id '${ACCOUNT}'`),
      );
    });

    test('GIVEN a scan in progress WHEN described THEN imageScanStatus IN_PROGRESS and no imageScanFindings (what ECR answers; the waiter polls on)', async () => {
      const image = await pushImage('in-progress', 'v1');
      await metadata.startScan(REPO, image.manifest.digest, iso(T0 - HOUR));
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual({
        status: 200,
        body: { ...head(image.manifest.digest, 'v1'), imageScanStatus: { status: 'IN_PROGRESS' } },
      });
    });

    test('GIVEN a completed scan with 5 findings WHEN paged 2 at a time THEN 2, 2, 1 in the stored order, nextToken until the last, the counts without zero levels on every page', async () => {
      const image = await pushImage('complete', 'v1');
      const digest = image.manifest.digest;
      await completedScan(digest, T0 - HOUR);
      const page = (findings: ScanFinding[], nextToken?: string) => ({
        status: 200,
        body: {
          ...head(digest, 'v1'),
          imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
          imageScanFindings: {
            imageScanCompletedAt: seconds(T0 - HOUR + 90_500),
            vulnerabilitySourceUpdatedAt: seconds(Date.parse('2025-01-09T06:30:00.000Z')),
            findingSeverityCounts: { CRITICAL: 1, HIGH: 2, LOW: 2 },
            findings,
          },
          ...(nextToken !== undefined ? { nextToken } : {}),
        },
      });
      const first = await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: 2 });
      expect(first).toEqual(page(FINDINGS.slice(0, 2), expect.any(String)));
      const second = await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: 2, nextToken: first.body.nextToken });
      expect(second).toEqual(page(FINDINGS.slice(2, 4), expect.any(String)));
      const third = await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: 2, nextToken: second.body.nextToken });
      expect(third).toEqual(page(FINDINGS.slice(4)));
      // Without maxResults: up to 100, so all of them and no token.
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual(page(FINDINGS));
      // By digest: the id answered as given (no tag).
      expect((await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageDigest: digest }, maxResults: 1000 })).body.imageId).toEqual({ imageDigest: digest });
    });

    test('GIVEN a scan that found nothing WHEN described THEN findingSeverityCounts {} and findings [] (ECR shows no zero level)', async () => {
      const image = await pushImage('clean', 'v1');
      await completedScan(image.manifest.digest, T0 - HOUR, [], noFindings());
      const answer = await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } });
      expect(answer.body.imageScanFindings).toEqual({
        imageScanCompletedAt: seconds(T0 - HOUR + 90_500),
        vulnerabilitySourceUpdatedAt: seconds(Date.parse('2025-01-09T06:30:00.000Z')),
        findingSeverityCounts: {},
        findings: [],
      });
    });

    test('GIVEN a FAILED scan WHEN described THEN the status with its description, and no findings', async () => {
      const image = await pushImage('failed', 'v1');
      await metadata.startScan(REPO, image.manifest.digest, iso(T0 - HOUR));
      await metadata.finishScan(REPO, image.manifest.digest, { status: 'FAILED', description: 'no vulnerability data imported', completedAt: iso(T0 - HOUR + 1000) }, { expectedStartedAt: iso(T0 - HOUR) });
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual({
        status: 200,
        body: { ...head(image.manifest.digest, 'v1'), imageScanStatus: { status: 'FAILED', description: 'no vulnerability data imported' } },
      });
    });

    test('GIVEN a token WHEN the image is scanned again, or the token is another image’s or not one issued THEN InvalidParameterException at nextToken, never another document’s page', async () => {
      const a = await pushImage('token-a', 'a');
      const b = await pushImage('token-b', 'b');
      await completedScan(a.manifest.digest, T0 - 2 * HOUR);
      await completedScan(b.manifest.digest, T0 - 2 * HOUR);
      const first = await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'a' }, maxResults: 2 });
      const token = first.body.nextToken as string;
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'b' }, maxResults: 2, nextToken: token })).toEqual(
        refused('InvalidParameterException', "Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token was issued for the findings of another image'"),
      );
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'a' }, nextToken: 'not-a-token' })).toEqual(
        refused('InvalidParameterException', "Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not one this registry issued'"),
      );
      await metadata.startScan(REPO, a.manifest.digest, iso(T0 - HOUR));
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'a' }, maxResults: 2, nextToken: token })).toEqual(
        refused(
          'InvalidParameterException',
          "Invalid parameter at 'nextToken' failed to satisfy constraint: 'the image's findings changed since the token was issued (a new scan, or a match against new vulnerability data): start again without nextToken'",
        ),
      );
    });

    test('GIVEN bad input WHEN described THEN ECR’s exception with a clear message, never a server error', async () => {
      await pushImage('bad-input', 'v1');
      const cases: Array<[Record<string, unknown>, { status: number; body: Record<string, unknown> }]> = [
        [{ repositoryName: REPO }, refused('ValidationException', "1 validation error detected: Value null at 'imageId' failed to satisfy constraint: Member must not be null")],
        [{ repositoryName: REPO, imageId: {} }, refused('InvalidParameterException', "Invalid parameter at 'imageId' failed to satisfy constraint: 'an image id needs an imageDigest or an imageTag'")],
        [{ repositoryName: REPO, imageId: 'v1' }, refused('SerializationException', 'imageId must be an object')],
        [
          { repositoryName: REPO, imageId: { imageDigest: 'sha256:nothex' } },
          refused('InvalidParameterException', "Invalid parameter at 'imageId' failed to satisfy constraint: 'imageDigest 'sha256:nothex' is not a digest (<algorithm>:<hex>, such as sha256: and 64 hex digits)'"),
        ],
        [
          { repositoryName: REPO, imageId: { imageTag: 'v2' } },
          refused('ImageNotFoundException', `The image with imageId {imageDigest:'null', imageTag:'v2'} does not exist within the repository with name '${REPO}' in the registry with id '${ACCOUNT}'`),
        ],
        [{ repositoryName: 'team/none', imageId: { imageTag: 'v1' } }, refused('RepositoryNotFoundException', `The repository with name 'team/none' does not exist in the registry with id '${ACCOUNT}'`)],
        [{ repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: 0 }, refused('ValidationException', "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1")],
        [{ repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: 1001 }, refused('ValidationException', "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000")],
        [{ repositoryName: REPO, imageId: { imageTag: 'v1' }, maxResults: '2' }, refused('SerializationException', 'maxResults must be an integer')],
      ];
      for (const [input, expected] of cases) expect(await call('DescribeImageScanFindings', input)).toEqual(expected);
    });

    test('GIVEN a completed scan and no scan content store configured WHEN described THEN a ServerException that says why (the registry’s fault)', async () => {
      const image = await pushImage('no-content-store', 'v1');
      await completedScan(image.manifest.digest, T0 - HOUR);
      const bare = ecrApiOver();
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageTag: 'v1' } }, bare)).toEqual(
        refused('ServerException', `The findings of the scan of ${image.manifest.digest} in the repository '${REPO}' could not be read (no scan content store is configured); try again later`, 500),
      );
    });
  });

  describe('StartImageScan', () => {
    test('GIVEN an image never scanned WHEN started THEN IN_PROGRESS from now, the scanner asked once; a second start within 24 hours is LimitExceededException and asks nothing; after 24 hours it starts again', async () => {
      const image = await pushImage('manual', 'v1');
      const digest = image.manifest.digest;
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual({
        status: 200,
        body: { ...head(digest, 'v1'), imageScanStatus: { status: 'IN_PROGRESS' } },
      });
      expect(requested).toEqual([[REPO, digest, iso(T0)]]);
      expect(await metadata.getScan(REPO, digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: iso(T0), manualScanAt: iso(T0) });
      expect(await call('DescribeImageScanFindings', { repositoryName: REPO, imageId: { imageDigest: digest } })).toEqual({
        status: 200,
        body: { ...head(digest), imageScanStatus: { status: 'IN_PROGRESS' } },
      });

      now = T0 + 23 * HOUR;
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageDigest: digest } })).toEqual(
        refused('LimitExceededException', 'The scan quota per image has been exceeded. Wait and try again.'),
      );
      expect(requested).toHaveLength(1);
      expect(await metadata.getScan(REPO, digest)).toMatchObject({ startedAt: iso(T0) });

      now = T0 + 24 * HOUR;
      expect((await call('StartImageScan', { repositoryName: REPO, imageId: { imageDigest: digest } })).body).toEqual({ ...head(digest), imageScanStatus: { status: 'IN_PROGRESS' } });
      expect(requested).toEqual([
        [REPO, digest, iso(T0)],
        [REPO, digest, iso(T0 + 24 * HOUR)],
      ]);
    });

    test('GIVEN an image scanned on push an hour ago WHEN started THEN LimitExceededException: the 24 hours count the scan on push, as ECR documents', async () => {
      const image = await pushImage('pushed-scan', 'v1');
      await completedScan(image.manifest.digest, T0 - HOUR);
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v1' } })).toEqual(
        refused('LimitExceededException', 'The scan quota per image has been exceeded. Wait and try again.'),
      );
      expect(requested).toEqual([]);
      expect(await metadata.getScan(REPO, image.manifest.digest)).toMatchObject({ status: 'COMPLETE' });
    });

    test('GIVEN an index, an artifact and an archived image WHEN started THEN UnsupportedImageTypeException (ECR’s words) or ImageArchivedException, and nothing is written', async () => {
      const amd = await pushImage('index-amd64');
      const arm = makeImage({ layers: [64], seed: 'index-arm64', architecture: 'arm64' });
      for (const blob of imageBlobs(arm)) await pushBlob(blob);
      await registry.putManifest(REPO, arm.manifest.digest, arm.manifest.bytes, arm.manifest.mediaType);
      const index = makeIndex([amd, arm]);
      await registry.putManifest(REPO, 'multi', index.bytes, index.mediaType);
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'multi' } })).toEqual(
        refused(
          'UnsupportedImageTypeException',
          "An artifact with media type 'application/vnd.oci.image.index.v1+json' cannot be scanned. An image index is not scanned itself: start the scan of each of its platform images by its digest (docs/scanning.md).",
        ),
      );

      const artifact = makeArtifact({ artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: amd.manifest });
      for (const blob of [EMPTY_CONFIG, artifact.layer]) await pushBlob(blob);
      await registry.putManifest(REPO, artifact.manifest.digest, artifact.manifest.bytes, artifact.manifest.mediaType);
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageDigest: artifact.manifest.digest } })).toEqual(
        refused(
          'UnsupportedImageTypeException',
          "An artifact with media type 'application/vnd.dev.cosign.artifact.sig.v1+json' cannot be scanned. Only container images are scanned: this manifest is an artifact (its artifactType or config media type says so).",
        ),
      );

      const archived = await pushImage('archived', 'old');
      expect(await core.images.setStorageClass(REPO, archived.manifest.digest, 'ARCHIVE')).toEqual({ ok: true });
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'old' } })).toEqual(
        refused(
          'ImageArchivedException',
          `The specified image is archived and cannot be scanned: restore the image ${archived.manifest.digest} in the repository with name '${REPO}' with UpdateImageStorageClass (STANDARD) first`,
        ),
      );

      expect(requested).toEqual([]);
      const records = await metadata.getScans(REPO, [index.digest, artifact.manifest.digest, archived.manifest.digest]);
      expect(records.size).toBe(0);
    });

    test('GIVEN bad input WHEN started THEN ECR’s exception, nothing written, never a server error', async () => {
      const image = await pushImage('start-bad-input', 'v1');
      expect(await call('StartImageScan', { repositoryName: REPO })).toEqual(
        refused('ValidationException', "1 validation error detected: Value null at 'imageId' failed to satisfy constraint: Member must not be null"),
      );
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v9' } })).toEqual(
        refused('ImageNotFoundException', `The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist within the repository with name '${REPO}' in the registry with id '${ACCOUNT}'`),
      );
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageDigest: image.manifest.digest, imageTag: 'v9' } })).toMatchObject({ status: 400, body: { __type: 'ImageNotFoundException' } });
      expect(await call('StartImageScan', { repositoryName: 'team/none', imageId: { imageTag: 'v1' } })).toEqual(
        refused('RepositoryNotFoundException', `The repository with name 'team/none' does not exist in the registry with id '${ACCOUNT}'`),
      );
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v1' }, registryId: '999999999999' })).toEqual(
        refused('InvalidParameterException', `Invalid parameter at 'registryId' failed to satisfy constraint: 'this registry is ${ACCOUNT}, not 999999999999'`),
      );
      expect(requested).toEqual([]);
      expect(await metadata.getScan(REPO, image.manifest.digest)).toBeNull();
    });

    test('GIVEN no scanner configured WHEN started THEN answered IN_PROGRESS as if queued, and the record stays IN_PROGRESS', async () => {
      const image = await pushImage('no-scanner', 'v1');
      const bare = ecrApiOver();
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v1' } }, bare)).toEqual({
        status: 200,
        body: { ...head(image.manifest.digest, 'v1'), imageScanStatus: { status: 'IN_PROGRESS' } },
      });
      expect(await metadata.getScan(REPO, image.manifest.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: iso(T0) });
    });

    test('GIVEN a scanner that cannot take the scan WHEN started THEN a ServerException (the record stays IN_PROGRESS for the scanner’s recovery)', async () => {
      const image = await pushImage('scanner-down', 'v1');
      const failing = ecrApiOver({ content, requestScan: () => Promise.reject(new Error('queue is full')) });
      expect(await call('StartImageScan', { repositoryName: REPO, imageId: { imageTag: 'v1' } }, failing)).toEqual(refused('ServerException', 'An internal error occurred.', 500));
      expect(await metadata.getScan(REPO, image.manifest.digest)).toMatchObject({ status: 'IN_PROGRESS' });
    });
  });

  describe('berth ecr', () => {
    /** `berth ecr <args>` against the handler served over HTTP (any signature is accepted here). */
    async function berth(args: string[]): Promise<{ code: number; out: string; err: string }> {
      const server = await startNodeServer({ handler: api, host: '127.0.0.1', port: 0, log: silentLogger });
      let out = '';
      let err = '';
      const saved = { ...process.env };
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
      try {
        const code = await runEcrCommand(['ecr', ...args, '--region', 'us-east-1', '--endpoint-url', server.url], { stdout: (t) => (out += t), stderr: (t) => (err += t) });
        return { code, out, err };
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        await server.close();
      }
    }

    test('GIVEN 5 findings WHEN describe-image-scan-findings --max-results 2 THEN the pages merged into one answer without nextToken, as the AWS CLI prints it', async () => {
      const image = await pushImage('cli-findings', 'v1');
      await completedScan(image.manifest.digest, T0 - HOUR);
      const cli = await berth(['describe-image-scan-findings', '--repository-name', REPO, '--image-id', 'imageTag=v1', '--max-results', '2']);
      expect(cli).toMatchObject({ code: 0, err: '' });
      const answer = JSON.parse(cli.out);
      expect(answer).not.toHaveProperty('nextToken');
      expect(answer.imageScanFindings.findings).toEqual(FINDINGS);
      expect(answer.imageScanFindings.findingSeverityCounts).toEqual({ CRITICAL: 1, HIGH: 2, LOW: 2 });
      expect(answer.imageScanFindings.imageScanCompletedAt).toMatch(/^2025-01-10T\d\d:01:30\.500000[+-]\d\d:\d\d$/);
      expect(answer.imageScanStatus).toEqual({ status: 'COMPLETE', description: 'The scan was completed successfully.' });
      // --no-paginate: the first page and its token.
      const one = JSON.parse((await berth(['describe-image-scan-findings', '--repository-name', REPO, '--image-id', 'imageTag=v1', '--max-results', '2', '--no-paginate'])).out);
      expect(one.imageScanFindings.findings).toEqual(FINDINGS.slice(0, 2));
      expect(typeof one.nextToken).toBe('string');
    });

    test('GIVEN an image WHEN start-image-scan, then describe-image-scan-findings in progress, then start-image-scan again THEN IN_PROGRESS twice, then exit 254 with LimitExceededException in the CLI’s words', async () => {
      const image = await pushImage('cli-start', 'v1');
      const started = await berth(['start-image-scan', '--repository-name', REPO, '--image-id', 'imageTag=v1']);
      expect(started.code).toBe(0);
      expect(JSON.parse(started.out)).toEqual({ ...head(image.manifest.digest, 'v1'), imageScanStatus: { status: 'IN_PROGRESS' } });
      const running = await berth(['describe-image-scan-findings', '--repository-name', REPO, '--image-id', `imageDigest=${image.manifest.digest}`]);
      expect(JSON.parse(running.out)).toEqual({ ...head(image.manifest.digest), imageScanStatus: { status: 'IN_PROGRESS' } });
      const again = await berth(['start-image-scan', '--repository-name', REPO, '--image-id', 'imageTag=v1']);
      expect(again).toEqual({
        code: 254,
        out: '',
        err: '\nAn error occurred (LimitExceededException) when calling the StartImageScan operation: The scan quota per image has been exceeded. Wait and try again.\n',
      });
    });
  });

  describe('DescribeImages', () => {
    test('GIVEN images never scanned, in progress, complete and failed WHEN described (a page, and by id) THEN imageScanStatus and imageScanFindingsSummary as ECR shows them, the records read in one batch per page', async () => {
      const images = {
        none: await pushImage('describe-none', 'none'),
        running: await pushImage('describe-running', 'running'),
        complete: await pushImage('describe-complete', 'complete'),
        failed: await pushImage('describe-failed', 'failed'),
      };
      await metadata.startScan(REPO, images.running.manifest.digest, iso(T0 - HOUR));
      await completedScan(images.complete.manifest.digest, T0 - 2 * HOUR);
      await metadata.startScan(REPO, images.failed.manifest.digest, iso(T0 - HOUR));
      await metadata.finishScan(
        REPO,
        images.failed.manifest.digest,
        { status: 'UNSUPPORTED_IMAGE', description: 'The operating system and package managers of this image are not supported (Debian, Ubuntu, Alpine and npm are).', completedAt: iso(T0 - HOUR + 500) },
        { expectedStartedAt: iso(T0 - HOUR) },
      );
      const scanMembers = {
        none: {},
        running: { imageScanStatus: { status: 'IN_PROGRESS' } },
        complete: {
          imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
          imageScanFindingsSummary: {
            imageScanCompletedAt: seconds(T0 - 2 * HOUR + 90_500),
            vulnerabilitySourceUpdatedAt: seconds(Date.parse('2025-01-09T06:30:00.000Z')),
            findingSeverityCounts: { CRITICAL: 1, HIGH: 2, LOW: 2 },
          },
        },
        failed: { imageScanStatus: { status: 'UNSUPPORTED_IMAGE', description: 'The operating system and package managers of this image are not supported (Debian, Ubuntu, Alpine and npm are).' } },
      };
      const scanPart = (detail: Record<string, unknown>) => ({
        tag: (detail.imageTags as string[])[0],
        ...(detail.imageScanStatus !== undefined ? { imageScanStatus: detail.imageScanStatus } : {}),
        ...(detail.imageScanFindingsSummary !== undefined ? { imageScanFindingsSummary: detail.imageScanFindingsSummary } : {}),
      });
      const expected = Object.entries(scanMembers)
        .map(([tag, members]) => ({ digest: images[tag as keyof typeof images].manifest.digest, part: { tag, ...members } }))
        .sort((x, y) => (x.digest < y.digest ? -1 : 1))
        .map((e) => e.part);

      const batches = jest.spyOn(metadata, 'getScans');
      const listed = await call('DescribeImages', { repositoryName: REPO });
      expect(listed.status).toBe(200);
      expect((listed.body.imageDetails as Record<string, unknown>[]).map(scanPart)).toEqual(expected);
      expect(batches).toHaveBeenCalledTimes(1);
      expect([...batches.mock.calls[0][1]].sort()).toEqual(Object.values(images).map((i) => i.manifest.digest).sort());

      // Two pages of two: one batch each.
      batches.mockClear();
      const first = await call('DescribeImages', { repositoryName: REPO, maxResults: 2 });
      const second = await call('DescribeImages', { repositoryName: REPO, maxResults: 2, nextToken: first.body.nextToken });
      expect([...(first.body.imageDetails as Record<string, unknown>[]), ...(second.body.imageDetails as Record<string, unknown>[])].map(scanPart)).toEqual(expected);
      expect(batches).toHaveBeenCalledTimes(2);

      const byId = await call('DescribeImages', { repositoryName: REPO, imageIds: [{ imageTag: 'complete' }, { imageTag: 'none' }] });
      expect((byId.body.imageDetails as Record<string, unknown>[]).map(scanPart)).toEqual([
        { tag: 'complete', ...scanMembers.complete },
        { tag: 'none' },
      ]);
      // The rest of a detail is as before: the scan members sit beside it.
      expect((byId.body.imageDetails as Record<string, unknown>[])[0]).toMatchObject({ registryId: ACCOUNT, repositoryName: REPO, imageDigest: images.complete.manifest.digest, imageTags: ['complete'], imageStatus: 'ACTIVE' });
    });
  });
});
