/**
 * The garbage collector function's parts that need no AWS (lambdas/composition/aws/garbage-collector.ts,
 * lambdas/handlers/garbage-collector.ts): its settings from the environment RegistryGarbageCollector
 * sets, how it reads a large manifest body (under its digest, else staged, never moving it), and a
 * failed collection that still purges abandoned uploads before it fails the invocation.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { garbageCollectorSettingsFromEnv, largeManifestBodyReader, type GarbageCollector } from '../../lambdas/composition/aws/garbage-collector';
import { garbageCollectorInvocation } from '../../lambdas/handlers/garbage-collector';
import type { Logger } from '../../lambdas/core/log';
import { ContentNotFoundError } from '../../lambdas/storage/errors';

const ENV = { TABLE_NAME: 'registry', BUCKET_NAME: 'blobs', AWS_REGION: 'eu-west-1' };

describe('the garbage collector’s settings', () => {
  test('GIVEN the table, the bucket and the region WHEN read THEN the grace period is 24 hours', () => {
    expect(garbageCollectorSettingsFromEnv(ENV)).toEqual({ tableName: 'registry', bucketName: 'blobs', graceMs: 24 * 3_600_000, region: 'eu-west-1' });
  });

  test('GIVEN GC_GRACE_SECONDS WHEN read THEN it is the grace period; a value that is not whole seconds is refused', () => {
    expect(garbageCollectorSettingsFromEnv({ ...ENV, GC_GRACE_SECONDS: '3600' }).graceMs).toBe(3_600_000);
    expect(() => garbageCollectorSettingsFromEnv({ ...ENV, GC_GRACE_SECONDS: '1.5' })).toThrow(/GC_GRACE_SECONDS must be a whole number of seconds/);
    expect(() => garbageCollectorSettingsFromEnv({ ...ENV, GC_GRACE_SECONDS: '1h' })).toThrow(/GC_GRACE_SECONDS/);
  });

  test('GIVEN no table, no bucket or no region WHEN read THEN each is refused with what to set', () => {
    expect(() => garbageCollectorSettingsFromEnv({ BUCKET_NAME: 'b', AWS_REGION: 'eu-west-1' })).toThrow(/TABLE_NAME is not set/);
    expect(() => garbageCollectorSettingsFromEnv({ TABLE_NAME: 't', AWS_REGION: 'eu-west-1' })).toThrow(/BUCKET_NAME is not set/);
    expect(() => garbageCollectorSettingsFromEnv({ TABLE_NAME: 't', BUCKET_NAME: 'b' })).toThrow(/AWS_REGION is not set/);
  });
});

describe('reading a large manifest body', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const bytes = Buffer.from('{"schemaVersion":2}');
  const warnings: string[] = [];
  const log: Logger = { info: () => undefined, error: () => undefined, warn: (message) => void warnings.push(message) };
  async function* stream(b: Buffer) {
    yield b;
  }
  const missing = async (): Promise<never> => {
    throw new ContentNotFoundError(digest);
  };

  beforeEach(() => warnings.splice(0));

  test('GIVEN the body under its digest WHEN read THEN it is answered', async () => {
    const read = largeManifestBodyReader({ readBlob: async () => stream(bytes), readStagedContent: async () => null }, { getManifest: async () => null }, log);
    expect(Buffer.from((await read('team/app', digest))!).equals(bytes)).toBe(true);
  });

  test('GIVEN the body only staged (a move interrupted) WHEN read THEN the staged copy is answered and nothing is moved', async () => {
    const read = largeManifestBodyReader({ readBlob: missing, readStagedContent: async () => ({ stagingId: 'push-1', bytes }) }, { getManifest: async () => null }, log);
    expect(Buffer.from((await read('team/app', digest))!).equals(bytes)).toBe(true);
  });

  test('GIVEN a staged copy moved between the two looks WHEN read THEN the digest is read again', async () => {
    let reads = 0;
    const readBlob = async () => (++reads === 1 ? missing() : stream(bytes));
    const read = largeManifestBodyReader({ readBlob, readStagedContent: async () => null }, { getManifest: async () => null }, log);
    expect(Buffer.from((await read('team/app', digest))!).equals(bytes)).toBe(true);
    expect(reads).toBe(2);
  });

  test('GIVEN no body anywhere WHEN read THEN undefined; a warning only while the manifest exists (one deleted since the listing is no loss)', async () => {
    const gone = largeManifestBodyReader({ readBlob: missing, readStagedContent: async () => null }, { getManifest: async () => null }, log);
    expect(await gone('team/app', digest)).toBeUndefined();
    expect(warnings).toEqual([]);
    const lost = largeManifestBodyReader(
      { readBlob: missing, readStagedContent: async () => null },
      { getManifest: async () => ({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, blobs: [], children: [], pushedAt: '' }) },
      log,
    );
    expect(await lost('team/app', digest)).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });
});

describe('the invocation', () => {
  test('GIVEN a collection that fails WHEN invoked THEN abandoned uploads are purged all the same, and the invocation fails with the error', async () => {
    const metrics = new Metrics({ namespace: 'Berth', serviceName: 'test' });
    const added: Record<string, number> = {};
    jest.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
      added[name] = value;
      return metrics;
    });
    let purgedAt: number | undefined;
    const failing = async (): Promise<never> => {
      throw new Error('DynamoDB is unreachable');
    };
    const d = {
      metadata: { listRepositories: failing },
      blobs: {},
      graceMs: 3_600_000,
      readBody: async () => undefined,
      purgeUploads: async (now: number) => {
        purgedAt = now;
        return 2;
      },
      logger: new PowertoolsLogger({ serviceName: 'test', logLevel: 'SILENT' }),
      metrics,
    } as unknown as GarbageCollector;
    const context = { getRemainingTimeInMillis: () => 600_000 } as unknown as Context;
    await expect(garbageCollectorInvocation(async () => d)({}, context)).rejects.toThrow('DynamoDB is unreachable');
    expect(purgedAt).toBeDefined();
    expect(added).toEqual({ UploadsPurged: 2, CollectionComplete: 0 });
  });
});
