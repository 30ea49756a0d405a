/**
 * The benchmark's garbage-collection part: the time to collect N unreferenced blobs (content no
 * repository links, 1 KiB each) in a stopped registry's directory, Berth's `berth gc --min-age 0`
 * against the reference's `docker-registry garbage-collect` over the same number of blobs in its
 * own layout. Both directories are written directly (no registry involved), so only the
 * collection is timed, process start-up included for both.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { PROJECT_ROOT } from '../support/registry-harness';
import { REFERENCE_BINARY } from './reference-registry';

const run = promisify(execFile);

export interface GcBench {
  blobs: number;
  berthSeconds: number;
  referenceSeconds: number;
  /** Blobs left afterwards (0 when each collected everything). */
  berthLeft: number;
  referenceLeft: number;
}

function blobs(count: number): Array<{ hex: string; bytes: Buffer }> {
  return Array.from({ length: count }, (_, i) => {
    const bytes = Buffer.alloc(1024, i % 251);
    bytes.writeUInt32BE(i, 0);
    return { hex: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
}

function countFiles(dir: string, depth: number): number {
  if (depth === 0) return readdirSync(dir).length;
  return readdirSync(dir).reduce((n, name) => n + countFiles(join(dir, name), depth - 1), 0);
}

export async function gcBenchmark(work: string, count: number): Promise<GcBench> {
  const content = blobs(count);

  const berthDir = join(work, 'gc-berth');
  FilesystemBlobStore.open({ root: join(berthDir, 'content') });
  for (const { hex, bytes } of content) {
    mkdirSync(join(berthDir, 'content', 'blobs', 'sha256', hex.slice(0, 2)), { recursive: true });
    writeFileSync(join(berthDir, 'content', 'blobs', 'sha256', hex.slice(0, 2), hex), bytes);
  }
  const berthStart = process.hrtime.bigint();
  await run(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'gc', '--data-dir', berthDir, '--min-age', '0'], { cwd: PROJECT_ROOT, maxBuffer: 64 * 1024 * 1024 });
  const berthSeconds = Number(process.hrtime.bigint() - berthStart) / 1e9;

  const referenceDir = join(work, 'gc-reference');
  const v2 = join(referenceDir, 'storage', 'docker', 'registry', 'v2');
  mkdirSync(join(v2, 'repositories'), { recursive: true });
  for (const { hex, bytes } of content) {
    mkdirSync(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true });
    writeFileSync(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), bytes);
  }
  const config = join(referenceDir, 'config.yml');
  writeFileSync(config, ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(referenceDir, 'storage')}`, ''].join('\n'));
  const referenceStart = process.hrtime.bigint();
  await run(REFERENCE_BINARY, ['garbage-collect', config], { maxBuffer: 256 * 1024 * 1024 });
  const referenceSeconds = Number(process.hrtime.bigint() - referenceStart) / 1e9;

  return {
    blobs: count,
    berthSeconds,
    referenceSeconds,
    berthLeft: countFiles(join(berthDir, 'content', 'blobs', 'sha256'), 1),
    referenceLeft: countFiles(join(v2, 'blobs', 'sha256'), 1),
  };
}

export interface GcRequests {
  blobs: number;
  /** SDK requests per collected blob, by `Service.Operation` (a run with nothing to collect subtracted). */
  perBlob: Record<string, number>;
  seconds: number;
}

/**
 * Requests per collected blob on the AWS path: DynamoDB Local and the S3 stand-in (the emulated mode's),
 * `count` blobs linked in 4 repositories and used by nothing, collected by the core's collector over the
 * AWS adapters with every SDK call counted (the same figures test/e2e/garbage-collector-function.test.ts asserts).
 */
export async function gcRequestsOnAws(count: number): Promise<GcRequests> {
  const { startDynamoDbLocal } = await import('../../lambdas/emulators/dynamodb-local');
  const { startLocalS3 } = await import('../../lambdas/emulators/s3-local');
  const { countSdkCalls } = await import('../../lambdas/aws/aws-clients');
  const { DynamoDbMetadataStore } = await import('../../lambdas/storage/dynamodb/dynamodb-metadata-store');
  const { S3BlobStore } = await import('../../lambdas/storage/s3/s3-blob-store');
  const { collectGarbage } = await import('../../lambdas/core/garbage-collection');
  const { claimContent } = await import('../../lambdas/core/content-claims');
  const [dynamo, s3] = await Promise.all([startDynamoDbLocal(), startLocalS3()]);
  try {
    const tableName = await dynamo.createTable('bench');
    const bucket = await s3.createBucket('bench');
    const client = s3.client();
    const metadata = await DynamoDbMetadataStore.open({ client: dynamo.client, tableName });
    const store = new S3BlobStore({ client, bucket });
    for (const [i, { hex, bytes }] of blobs(count).entries()) {
      const digest = `sha256:${hex}`;
      await claimContent(metadata, digest);
      await store.putContent(digest, bytes);
      await metadata.linkBlob(`bench/r${i % 4}`, digest, { size: bytes.length });
    }
    const counts: Record<string, number> = {};
    countSdkCalls(dynamo.client, 'DynamoDB', counts);
    countSdkCalls(client, 'S3', counts);
    const later = () => Date.now() + 2 * 60 * 60 * 1000;
    const started = process.hrtime.bigint();
    const report = await collectGarbage(metadata, store, { graceMs: 60 * 60 * 1000, now: later });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (report.deleted.length !== count) throw new Error(`collected ${report.deleted.length} of ${count} blobs`);
    const first = { ...counts };
    for (const key of Object.keys(counts)) delete counts[key];
    await collectGarbage(metadata, store, { graceMs: 60 * 60 * 1000, now: later });
    const perBlob = Object.fromEntries(Object.entries(first).map(([key, n]) => [key, Math.round(((n - (counts[key] ?? 0)) / count) * 100) / 100]));
    client.destroy();
    return { blobs: count, perBlob, seconds };
  } finally {
    await Promise.all([dynamo.stop(), s3.stop()]);
  }
}
