/**
 * The benchmark's lifecycle part: evaluating and carrying out a lifecycle policy on one repository
 * of N images in local mode (LMDB), and the DynamoDB requests per image the same evaluation makes on
 * the AWS path (DynamoDB Local, every SDK call counted). The images are written straight into the
 * store (no registry involved), so only the lifecycle run is timed. No reference registry has
 * lifecycle policies: the figures stand against the goal (under 30 s for 100,000 images).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { MetadataStore } from '../../lambdas/storage/ports';
import type { StoredManifest } from '../../lambdas/core/model';
import { runLifecyclePolicy } from '../../lambdas/core/lifecycle/run';

export interface LifecycleBench {
  images: number;
  /** Seconds to list and evaluate every image (`--dry-run`). */
  evaluateSeconds: number;
  /** Seconds of a real run that expires half the images (16 changes at a time, as local mode runs them). */
  runSeconds: number;
  expired: number;
}

export interface LifecycleRequests {
  images: number;
  /** SDK requests per image of a dry run, by `Service.Operation`. */
  perImage: Record<string, number>;
  seconds: number;
}

/** Half the images are untagged; the policy keeps the newest 10 untagged ones and every tagged one. */
const POLICY = JSON.stringify({
  rules: [{ rulePriority: 1, description: 'keep ten untagged images', selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 10 }, action: { type: 'expire' } }],
});

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

async function fill(store: MetadataStore, repository: string, count: number): Promise<void> {
  const layer = sha('bench layer');
  await store.linkBlob(repository, layer, { size: 1024 });
  const start = Date.parse('2026-01-01T00:00:00Z');
  const puts: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const manifest: StoredManifest = {
      digest: sha(`bench image ${i}`),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 400,
      blobs: [layer],
      children: [],
      pushedAt: new Date(start + i * 1000).toISOString(),
      body: new Uint8Array(Buffer.from(`{"image":${i}}`)),
    };
    puts.push(store.putManifest(repository, manifest, i % 2 === 0 ? `build-${i}` : undefined));
    if (puts.length === 64) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
  await store.updateRepositorySettings(repository, (current) => ({ ...current, lifecyclePolicy: { text: POLICY, updatedAt: new Date().toISOString() } }));
}

const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

export async function lifecycleBenchmark(work: string, count: number): Promise<LifecycleBench> {
  const { LmdbMetadataStore } = await import('../../lambdas/storage/local/lmdb-metadata-store');
  const store = await LmdbMetadataStore.open({ path: join(work, 'lifecycle-lmdb') });
  try {
    await fill(store, 'bench/app', count);
    let started = process.hrtime.bigint();
    const dry = await runLifecyclePolicy(store, 'bench/app', { dryRun: true });
    const evaluateSeconds = seconds(started);
    started = process.hrtime.bigint();
    const real = await runLifecyclePolicy(store, 'bench/app', { parallel: 16 });
    const runSeconds = seconds(started);
    if (real.outcomes.length !== dry.outcomes.length || real.outcomes.some((o) => o.result !== 'done')) throw new Error('the run did not do what the dry run said');
    return { images: count, evaluateSeconds, runSeconds, expired: real.outcomes.length };
  } finally {
    await store.close();
  }
}

/** DynamoDB requests per image of one evaluation (a dry run) on the AWS adapter. */
export async function lifecycleRequestsOnAws(count: number): Promise<LifecycleRequests> {
  const { startDynamoDbLocal } = await import('../../lambdas/emulators/dynamodb-local');
  const { countSdkCalls } = await import('../../lambdas/aws/aws-clients');
  const { DynamoDbMetadataStore } = await import('../../lambdas/storage/dynamodb/dynamodb-metadata-store');
  const dynamo = await startDynamoDbLocal();
  try {
    const tableName = await dynamo.createTable('bench-lifecycle');
    const store = await DynamoDbMetadataStore.open({ client: dynamo.client, tableName });
    await fill(store, 'bench/app', count);
    const counts: Record<string, number> = {};
    countSdkCalls(dynamo.client, 'DynamoDB', counts);
    const started = process.hrtime.bigint();
    await runLifecyclePolicy(store, 'bench/app', { dryRun: true });
    const took = seconds(started);
    const perImage = Object.fromEntries(Object.entries(counts).map(([key, n]) => [key, Math.round((n / count) * 1000) / 1000]));
    return { images: count, perImage, seconds: took };
  } finally {
    await dynamo.stop();
  }
}
