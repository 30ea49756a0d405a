/**
 * Online garbage collection on the AWS path (`berth serve --emulate-aws`: DynamoDB Local, the S3
 * stand-in, the registry and ingest handlers, and the stack's collector function on its timer, here
 * every second with a grace period of fifteen seconds, longer than a push takes on a busy machine): the same fifty clients as in local mode
 * (test/support/gc-workload.ts) for BERTH_GC_STRESS_SECONDS (default 60); afterwards every kept image
 * pulls intact, and once the grace period has passed the bucket holds exactly what they use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { describeWithBinaries } from '../support/clients';
import { runGcWorkload, verifyLedger } from '../support/gc-workload';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const SECONDS = Number(process.env.BERTH_GC_STRESS_SECONDS ?? 60);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithBinaries(['java'], 'online garbage collection on the emulated AWS path', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess | undefined;
  let s3: S3Client | undefined;

  beforeAll(() => {
    work = scratchDir('gc-online-emulated');
  });
  afterAll(async () => {
    s3?.destroy();
    await proc?.stop();
    work?.remove();
  });

  test(`GIVEN 50 clients pushing and deleting for ${SECONDS} s while the collector function runs every second THEN every kept image pulls intact, and after the grace period the bucket holds only what they use`, async () => {
    const dataDir = join(work.path, 'data');
    proc = await startRegistryProcess(dataDir, 0, ['--emulate-aws', '--gc-interval', '1s', '--gc-grace', '15s']);
    const described = JSON.parse(readFileSync(join(dataDir, 'emulated-aws.json'), 'utf8')) as { s3: string; bucket: string };
    s3 = new S3Client({ endpoint: described.s3, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const contentInBucket = async (): Promise<Set<string>> => {
      const out = new Set<string>();
      let token: string | undefined;
      do {
        const page = await s3!.send(new ListObjectsV2Command({ Bucket: described.bucket, Prefix: 'blobs/', ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          const [, algorithm, hex] = object.Key!.split('/');
          out.add(`${algorithm}:${hex}`);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    };

    const result = await runGcWorkload({ url: proc.url, clients: 50, durationMs: SECONDS * 1000 });
    process.stderr.write(`gc workload (emulated AWS): ${JSON.stringify({ ...result, alive: result.alive.length })}\n`);
    expect(result.pushes).toBeGreaterThan(50);
    expect(result.deletes).toBeGreaterThan(0);
    expect(await verifyLedger(proc.url, result.alive)).toEqual([]);

    const expected = new Set(result.alive.flatMap((e) => e.blobs.map((b) => b.digest)));
    const deadline = Date.now() + 90_000;
    let inBucket = await contentInBucket();
    while (Date.now() < deadline && inBucket.size !== expected.size) {
      await sleep(1000);
      inBucket = await contentInBucket();
    }
    expect([...expected].filter((d) => !inBucket.has(d))).toEqual([]);
    expect([...inBucket].filter((d) => !expected.has(d))).toEqual([]);
    expect(await verifyLedger(proc.url, result.alive)).toEqual([]);
  }, (SECONDS + 240) * 1000);
});
