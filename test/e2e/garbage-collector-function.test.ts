/**
 * The garbage collector's Lambda handler (lambdas/handlers/garbage-collector.ts, composed by
 * buildGarbageCollector as on AWS) on DynamoDB Local and the S3 stand-in, its clock a day ahead:
 * a deleted image's layer goes (link, content record, object), what images use stays, a layer that
 * only a large manifest's body names (kept in the bucket) stays, an abandoned upload goes (record and
 * objects); the metrics and the summary say so; what a collected blob costs in requests; a run whose
 * context has no time left stops at once and the next one finishes; and the emulated mode's timer
 * runs the same handler.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { buildGarbageCollector } from '../../lambdas/composition/aws/garbage-collector';
import { createGarbageCollectorHandler, type GarbageCollectionSummary } from '../../lambdas/handlers/garbage-collector';
import { startEmulatedCollector } from '../../lambdas/emulators/emulated-gc';
import { Registry } from '../../lambdas/core/registry';
import type { ByteStream } from '../../lambdas/core/model';
import { silentLogger } from '../../lambdas/core/log';
import { countSdkCalls, type SdkCallCounts } from '../../lambdas/aws/aws-clients';
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../lambdas/storage/s3/s3-blob-store';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';
import { startLocalS3, type LocalS3 } from '../support/s3-local';
import { blobOf, descriptor, pseudoRandomBytes, type Blob } from '../support/oci-fixtures';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const NON_DISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
const HOUR = 3_600_000;

async function* streamOf(bytes: Buffer): ByteStream {
  yield bytes;
}

/** A context with `remainingMs` left, as Lambda gives one. */
const contextWith = (remainingMs: number) => {
  const deadline = Date.now() + remainingMs;
  return { functionName: 'berth-garbage-collector', awsRequestId: 'request-1', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
};

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.stop();
});

describeWithDynamoDbLocal('the garbage collector function on DynamoDB Local and the S3 stand-in', (local) => {
  let bucket: string;
  let tableName: string;
  let client: S3Client;
  let metadata: DynamoDbMetadataStore;
  let blobs: S3BlobStore;
  let registry: Registry;
  const metricsDisabled = process.env.POWERTOOLS_METRICS_DISABLED;

  beforeAll(() => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });
  afterAll(() => {
    if (metricsDisabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = metricsDisabled;
  });

  beforeEach(async () => {
    bucket = await s3.createBucket();
    tableName = await local().createTable('gc-function');
    metadata = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    client = s3.client();
    blobs = new S3BlobStore({ client, bucket });
    registry = new Registry({ blobs, metadata, shareHashState: true });
  });
  afterEach(async () => {
    client.destroy();
    await local().deleteTable(tableName);
    await s3.removeBucket(bucket);
  });

  /** The handler as the function runs it, over its own clients, its clock `aheadMs` ahead. */
  async function collectorHandler(aheadMs: number, dynamodb: DynamoDBClient = local().client) {
    const logger = new PowertoolsLogger({ serviceName: 'berth-garbage-collector', logLevel: 'SILENT' });
    const metrics = new Metrics({ namespace: 'Berth', serviceName: 'berth-garbage-collector' });
    const added: Record<string, number> = {};
    jest.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
      added[name] = value;
      return metrics;
    });
    const deps = await buildGarbageCollector({
      settings: { tableName, bucketName: bucket, graceMs: HOUR },
      clients: { dynamodb, s3: client },
      logger,
      metrics,
      now: () => Date.now() + aheadMs,
    });
    const handler = createGarbageCollectorHandler(async () => deps, { logger, metrics });
    return { run: (remainingMs = 600_000): Promise<GarbageCollectionSummary> => handler({}, contextWith(remainingMs)), added };
  }

  const keys = async (prefix: string): Promise<string[]> =>
    ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();
  const pushBlob = (repository: string, blob: Blob) => registry.uploadWhole(repository, blob.digest, { body: streamOf(blob.bytes) });
  const stored = async (blob: Blob) => (await blobs.statBlob(blob.digest)) !== null;

  test('GIVEN an image, a deleted image, a layer only a large body names and an abandoned upload WHEN the handler runs a day later THEN only the unused goes, with its metrics', async () => {
    const config = blobOf(Buffer.from('{"architecture":"arm64","os":"linux"}'), 'application/vnd.oci.image.config.v1+json');
    const kept = blobOf(pseudoRandomBytes(2000, 'kept layer'), 'application/vnd.oci.image.layer.v1.tar');
    const doomed = blobOf(pseudoRandomBytes(3000, 'doomed layer'), 'application/vnd.oci.image.layer.v1.tar');
    const foreign = blobOf(pseudoRandomBytes(1500, 'foreign layer'), NON_DISTRIBUTABLE);
    for (const blob of [config, kept, doomed, foreign]) await pushBlob('team/app', blob);

    const image = blobOf(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: descriptor(config), layers: [descriptor(kept)] })), MANIFEST_TYPE);
    await registry.putManifest('team/app', 'v1', image.bytes, MANIFEST_TYPE);
    const old = blobOf(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: descriptor(config), layers: [descriptor(doomed)] })), MANIFEST_TYPE);
    await registry.putManifest('team/app', 'old', old.bytes, MANIFEST_TYPE);
    await registry.deleteManifest('team/app', old.digest);
    // Over 160 KiB, so kept in the bucket; its record leaves out the non-distributable layer (pushed all the same).
    const padding = pseudoRandomBytes(100 * 1024, 'padding').toString('hex');
    const large = blobOf(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST_TYPE,
          config: { ...descriptor(config), annotations: { 'org.example.padding': padding } },
          layers: [{ ...descriptor(foreign), urls: ['https://example.com/foreign.tar'] }],
        }),
      ),
      MANIFEST_TYPE,
    );
    expect(large.size).toBeGreaterThan(metadata.inlineManifestLimit);
    await registry.putManifest('team/app', 'large', large.bytes, MANIFEST_TYPE);
    expect((await metadata.getManifest('team/app', large.digest))?.blobs).not.toContain(foreign.digest);

    const abandoned = await registry.startUpload('team/app');
    await registry.appendUpload('team/app', abandoned.id, { body: streamOf(pseudoRandomBytes(4096, 'abandoned')) });
    expect(await keys(`uploads/${abandoned.id}/`)).not.toEqual([]);

    const { run, added } = await collectorHandler(25 * HOUR);
    const summary = await run();
    expect(summary).toMatchObject({ linksRemoved: 1, contentDeleted: 1, bytesFreed: doomed.size, complete: true, uploadsPurged: 1, repositories: 1, manifests: 2 });
    expect(added).toEqual({ LinksRemoved: 1, ContentDeleted: 1, BytesFreed: doomed.size, CollectionComplete: 1, UploadsPurged: 1 });

    expect(await stored(doomed)).toBe(false);
    expect(await metadata.statBlobLink('team/app', doomed.digest)).toBeNull();
    expect(await metadata.getContentRecord(doomed.digest)).toBeNull();
    for (const blob of [config, kept, foreign]) {
      expect({ digest: blob.digest, stored: await stored(blob), linked: (await metadata.statBlobLink('team/app', blob.digest)) !== null }).toEqual({
        digest: blob.digest,
        stored: true,
        linked: true,
      });
    }
    expect(Buffer.from(await registry.readManifestBody(large.digest)).equals(large.bytes)).toBe(true);
    expect(await metadata.getUpload(abandoned.id)).toBeNull();
    expect(await keys(`uploads/${abandoned.id}/`)).toEqual([]);

    // A second run finds nothing more to do.
    expect(await run()).toMatchObject({ linksRemoved: 0, contentDeleted: 0, uploadsPurged: 0, complete: true });
  }, 60_000);

  test('GIVEN a context with no more than the reserve left WHEN the handler runs THEN it stops at once (CollectionComplete 0) and a run with time finishes the work', async () => {
    const doomed = blobOf(pseudoRandomBytes(1000, 'unused'), 'application/octet-stream');
    await pushBlob('team/app', doomed);
    const { run, added } = await collectorHandler(25 * HOUR);
    expect(await run(60_000)).toMatchObject({ complete: false, linksRemoved: 0, contentDeleted: 0 });
    expect(added.CollectionComplete).toBe(0);
    expect(await stored(doomed)).toBe(true);
    expect(await run()).toMatchObject({ complete: true, linksRemoved: 1, contentDeleted: 1 });
    expect(added.CollectionComplete).toBe(1);
    expect(await stored(doomed)).toBe(false);
  }, 60_000);

  test('GIVEN 40 blobs nothing uses, in 4 repositories WHEN collected THEN each costs 5 DynamoDB requests and 1 S3 DeleteObject, and a run with nothing to do reads listings only', async () => {
    const unused = Array.from({ length: 40 }, (_, i) => blobOf(pseudoRandomBytes(100, `unused ${i}`), 'application/octet-stream'));
    for (const [i, blob] of unused.entries()) await pushBlob(`team/r${i % 4}`, blob);
    const counts: SdkCallCounts = {};
    const dynamodb = new DynamoDBClient({ endpoint: local().endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    countSdkCalls(dynamodb, 'DynamoDB', counts);
    countSdkCalls(client, 'S3', counts);
    try {
      const { run } = await collectorHandler(25 * HOUR, dynamodb);
      for (const key of Object.keys(counts)) delete counts[key];
      expect(await run()).toMatchObject({ linksRemoved: 40, contentDeleted: 40, complete: true });
      const first = { ...counts };
      for (const key of Object.keys(counts)) delete counts[key];
      await run();
      const idle = { ...counts };
      process.stdout.write(`garbage collector requests, 40 blobs collected: ${JSON.stringify(first)}; a run with nothing to do: ${JSON.stringify(idle)}\n`);
      // Per blob: GetItem and TransactWriteItems (the unlink), Query of the links index, UpdateItem (begin), DeleteItem (finish).
      const perBlob = (key: string) => ((first[key] ?? 0) - (idle[key] ?? 0)) / 40;
      expect({ get: perBlob('DynamoDB.GetItem'), transact: perBlob('DynamoDB.TransactWriteItems'), update: perBlob('DynamoDB.UpdateItem'), delete: perBlob('DynamoDB.DeleteItem') }).toEqual({
        get: 1,
        transact: 1,
        update: 1,
        delete: 1,
      });
      expect(perBlob('DynamoDB.Query')).toBeLessThanOrEqual(1);
      expect(perBlob('S3.DeleteObject')).toBe(1);
      // Idle: the listings (catalog, each repository's manifests and links, content records, uploads) and one S3 list per prefix.
      expect(Object.keys(idle).every((key) => /^(DynamoDB\.(Query|BatchGetItem)|S3\.ListObjectsV2)$/.test(key))).toBe(true);
    } finally {
      dynamodb.destroy();
    }
  }, 60_000);

  test('GIVEN the emulated collector on a 200 ms timer with a grace of 0 WHEN an unused blob waits THEN a timed run removes it, and runs never overlap', async () => {
    const unused = blobOf(pseudoRandomBytes(1000, 'timer'), 'application/octet-stream');
    await pushBlob('team/app', unused);
    const collector = startEmulatedCollector({
      tableName,
      bucketName: bucket,
      clients: { dynamodb: local().client, s3: client },
      account: '123456789012',
      region: 'eu-west-1',
      intervalMs: 200,
      graceMs: 0,
      log: silentLogger,
    });
    try {
      const until = Date.now() + 20_000;
      while ((await stored(unused)) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await stored(unused)).toBe(false);
      // runNow waits for a timed run under way, then runs on its own.
      const [a, b] = await Promise.all([collector.runNow(), collector.runNow()]);
      expect([a.complete, b.complete]).toEqual([true, true]);
      expect(collector.last()).not.toBeNull();
    } finally {
      await collector.close();
    }
  }, 60_000);
});
