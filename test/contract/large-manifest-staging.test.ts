/**
 * Manifests too large for a DynamoDB item, on the AWS composition: the Registry over DynamoDbMetadataStore
 * (DynamoDB Local) and S3BlobStore (fauxqs). Such a body is staged under a key of its push's own and moved
 * to its digest key only after the metadata commit, so:
 * - a refused push (MANIFEST_BLOB_UNKNOWN, TAG_IMMUTABLE) leaves the bucket as it found it, and never
 *   removes a digest key another repository's manifest needs;
 * - an accepted one ends under its digest, with no staging key left;
 * - a body whose move was interrupted after the commit is still read (and the read finishes the move).
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Registry } from '../../lambdas/core/registry';
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../lambdas/storage/s3/s3-blob-store';
import type { ByteStream } from '../../lambdas/core/model';
import type { MetadataStore } from '../../lambdas/storage/ports';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';
import { startLocalS3, type LocalS3 } from '../support/s3-local';
import { blobOf, descriptor, pseudoRandomBytes, type Blob } from '../support/oci-fixtures';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

async function* streamOf(bytes: Buffer): ByteStream {
  yield bytes;
}

/** A config blob and a layer blob, distinct per seed. */
function blobsFor(seed: string): { config: Blob; layer: Blob } {
  return {
    config: blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed })), 'application/vnd.oci.image.config.v1+json'),
    layer: blobOf(pseudoRandomBytes(1000, `layer ${seed}`), 'application/vnd.oci.image.layer.v1.tar'),
  };
}

/**
 * An image manifest of about 200 KiB, above DynamoDbMetadataStore.inlineManifestLimit (160 KiB). The bulk is a
 * descriptor annotation, which the manifest record does not copy, so the record itself stays small.
 */
function largeManifest(config: Blob, layers: Blob[], seed: string): Blob {
  const padding = pseudoRandomBytes(100 * 1024, `padding ${seed}`).toString('hex');
  const body = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { ...descriptor(config), annotations: { 'org.example.padding': padding } },
    layers: layers.map(descriptor),
  };
  return blobOf(Buffer.from(JSON.stringify(body)), MANIFEST_TYPE);
}

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});

describeWithDynamoDbLocal('large manifests on DynamoDB Local and S3', (local) => {
  let bucket: string;
  let tableName: string;
  let client: S3Client;
  let metadata: DynamoDbMetadataStore;
  let registry: Registry;
  /** While true, every CopyObject fails: the move of a staged body to its digest key never happens. */
  let copiesFail: boolean;

  beforeEach(async () => {
    copiesFail = false;
    bucket = await s3.createBucket();
    tableName = await local().createTable('large-manifests');
    metadata = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    client = s3.client();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (copiesFail && context.commandName === 'CopyObjectCommand') throw Object.assign(new Error('CopyObject failed (test)'), { name: 'InternalError' });
        return next(args);
      },
      { step: 'initialize', name: 'failCopies' },
    );
    registry = registryOver(metadata);
  });
  afterEach(async () => {
    client.destroy();
    await metadata.close();
    await local().deleteTable(tableName);
    await s3.removeBucket(bucket);
  });

  /** A registry over this test's table and bucket, where tags named `release*` are immutable. */
  const registryOver = (store: MetadataStore) =>
    new Registry({ blobs: new S3BlobStore({ client, bucket }), metadata: store, shareHashState: true, isTagImmutable: (_repository, tag) => tag.startsWith('release') });

  const keys = async (prefix = ''): Promise<string[]> => {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  };
  const digestKey = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;
  const pushBlob = async (repository: string, blob: Blob) => {
    const upload = await registry.startUpload(repository);
    await registry.completeUpload(repository, upload.id, blob.digest, { body: streamOf(blob.bytes) });
  };
  const putManifest = (repository: string, reference: string, manifest: Blob, on = registry) =>
    on.putManifest(repository, reference, manifest.bytes, MANIFEST_TYPE);

  test('GIVEN a large manifest referencing a blob never pushed WHEN it is put THEN MANIFEST_BLOB_UNKNOWN and the bucket holds exactly what it held before', async () => {
    const { config, layer } = blobsFor('missing-layer');
    await pushBlob('team/app', config);
    const manifest = largeManifest(config, [layer], 'missing-layer');
    expect(manifest.size).toBeGreaterThan(metadata.inlineManifestLimit);
    const before = await keys();

    await expect(putManifest('team/app', 'v1', manifest)).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });
    await expect(putManifest('team/app', manifest.digest, manifest)).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });

    expect(await keys()).toEqual(before);
  });

  test('GIVEN an immutable tag naming another manifest WHEN a large manifest is put under it THEN TAG_IMMUTABLE and the bucket holds exactly what it held before', async () => {
    const { config, layer } = blobsFor('immutable');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    await putManifest('team/app', 'release-1', largeManifest(config, [layer], 'first'));
    const second = largeManifest(config, [layer], 'second');
    const before = await keys();

    await expect(putManifest('team/app', 'release-1', second)).rejects.toMatchObject({ kind: 'TAG_IMMUTABLE', code: 'TAG_INVALID' });

    expect(await keys()).toEqual(before);
    expect(before).not.toContain(digestKey(second.digest));
  });

  test('GIVEN a large manifest whose record cannot fit in a DynamoDB item WHEN it is put THEN MANIFEST_INVALID and the bucket holds exactly what it held before', async () => {
    const { config, layer } = blobsFor('too-large-record');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    // Manifest-level annotations are copied into the record: 450 KB of them cannot fit in 400 KB.
    const body = { schemaVersion: 2, mediaType: MANIFEST_TYPE, config: descriptor(config), layers: [descriptor(layer)], annotations: { 'org.example.padding': 'x'.repeat(450_000) } };
    const manifest = blobOf(Buffer.from(JSON.stringify(body)), MANIFEST_TYPE);
    const before = await keys();

    await expect(putManifest('team/app', 'v1', manifest)).rejects.toMatchObject({ kind: 'MANIFEST_INVALID' });

    expect(await keys()).toEqual(before);
  });

  test('GIVEN a large manifest stored for one repository WHEN a push of it to a repository lacking its blobs is refused THEN its digest key stays and the first repository still serves it', async () => {
    const { config, layer } = blobsFor('shared');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    const manifest = largeManifest(config, [layer], 'shared');
    await putManifest('team/app', 'v1', manifest);
    const before = await keys();
    expect(before).toContain(digestKey(manifest.digest));

    await expect(putManifest('team/other', 'v1', manifest)).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });

    expect(await keys()).toEqual(before);
    expect(Buffer.from((await registry.getManifest('team/app', 'v1')).body).equals(manifest.bytes)).toBe(true);
  });

  test('GIVEN a large manifest WHEN it is accepted (and pushed again, to another repository too) THEN GET answers its bytes, its digest key holds them and no staging key is left', async () => {
    const { config, layer } = blobsFor('accepted');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    const manifest = largeManifest(config, [layer], 'accepted');

    expect(await putManifest('team/app', 'v1', manifest)).toEqual({ digest: manifest.digest });

    const got = await registry.getManifest('team/app', 'v1');
    expect(got).toMatchObject({ digest: manifest.digest, mediaType: MANIFEST_TYPE, size: manifest.size });
    expect(Buffer.from(got.body).equals(manifest.bytes)).toBe(true);
    expect(await keys(digestKey(manifest.digest))).toEqual([digestKey(manifest.digest)]);
    expect(await keys('staging/')).toEqual([]);

    await putManifest('team/app', 'v2', manifest);
    await pushBlob('team/copy', config);
    await pushBlob('team/copy', layer);
    await putManifest('team/copy', 'v1', manifest);
    expect(Buffer.from((await registry.getManifest('team/copy', manifest.digest)).body).equals(manifest.bytes)).toBe(true);
    expect(await keys('staging/')).toEqual([]);
  });

  test('GIVEN a push whose move to the digest key fails after the commit WHEN the manifest is read THEN the body comes from its staged copy, and the first read that can finishes the move', async () => {
    const { config, layer } = blobsFor('interrupted');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    const manifest = largeManifest(config, [layer], 'interrupted');
    copiesFail = true;

    // The commit happened, so the push succeeded; the body waits under staging/.
    expect(await putManifest('team/app', 'v1', manifest)).toEqual({ digest: manifest.digest });
    expect(await keys(digestKey(manifest.digest))).toEqual([]);
    expect(await keys('staging/')).toHaveLength(1);

    // ECR's BatchGetImage path, while the move still fails.
    expect(Buffer.from(await registry.readManifestBody(manifest.digest)).equals(manifest.bytes)).toBe(true);
    expect(await keys('staging/')).toHaveLength(1);

    copiesFail = false;
    expect(Buffer.from((await registry.getManifest('team/app', 'v1')).body).equals(manifest.bytes)).toBe(true);
    expect(await keys(digestKey(manifest.digest))).toEqual([digestKey(manifest.digest)]);
    expect(await keys('staging/')).toEqual([]);
  });

  test('GIVEN a metadata commit that fails after applying the transaction (a lost answer) WHEN the push fails THEN the staged body is kept and the manifest reads back', async () => {
    const { config, layer } = blobsFor('lost-answer');
    await pushBlob('team/app', config);
    await pushBlob('team/app', layer);
    const manifest = largeManifest(config, [layer], 'lost-answer');
    const losesAnswers = new Proxy(metadata, {
      get(target, property, receiver) {
        if (property !== 'putManifest') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<MetadataStore['putManifest']>) => {
          await target.putManifest(...args);
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        };
      },
    });

    await expect(putManifest('team/app', 'v1', manifest, registryOver(losesAnswers))).rejects.toThrow('socket hang up');

    expect(await keys('staging/')).toHaveLength(1);
    expect(Buffer.from((await registry.getManifest('team/app', 'v1')).body).equals(manifest.bytes)).toBe(true);
    expect(await keys('staging/')).toEqual([]);
  });
});
