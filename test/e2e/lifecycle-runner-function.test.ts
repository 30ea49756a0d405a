/**
 * The lifecycle runner's Lambda handler (lambdas/handlers/lifecycle-runner.ts, composed by
 * buildLifecycleRunner as on AWS) on DynamoDB Local, its self-invocations going to the emulated
 * mode's in-process dispatch (emulators/emulated-lifecycle.ts): a scheduled dispatch with a page
 * size that needs the cursor reaches every repository; the two with a lifecycle policy lose the
 * images it expires (and an expired image's signature), keep the rest and get `lastEvaluatedAt`; the
 * one without a policy is untouched; every DELETE in the outbox says `initiatedBy: 'lifecycle-policy'`.
 * Then a worker that reaches its deadline hands the rest of its repository to a continuation, and
 * the dispatch's own rules: a run that fails past its retries is a dead letter, a refused event fails.
 */
import { createHash } from 'node:crypto';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { LIFECYCLE_DEADLINE_RESERVE_MS, parseLifecycleRunnerEvent, type LifecycleRunnerEvent } from '../../lambdas/contracts/lifecycle-runner';
import type { ImageChange } from '../../lambdas/contracts/events';
import type { StoredManifest } from '../../lambdas/core/model';
import { silentLogger } from '../../lambdas/core/log';
import { dispatchLifecycleRuns, type LifecycleDispatch } from '../../lambdas/core/lifecycle/fan-out';
import { InProcessLifecycleDispatch, startEmulatedLifecycle, type EmulatedLifecycle } from '../../lambdas/emulators/emulated-lifecycle';
import { emulatedLambdaContext } from '../../lambdas/emulators/lambda-context';
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';

const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** A manifest record whose body and digest agree, pushed `day` days after T0. */
function manifest(seed: string, day: number, extra: { subject?: string; artifactType?: string } = {}): StoredManifest {
  const layer = `sha256:${createHash('sha256').update(`layer ${seed}`).digest('hex')}`;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: IMAGE, seed, ...extra }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: IMAGE,
    size: body.length,
    blobs: [layer],
    children: [],
    pushedAt: new Date(T0 + day * DAY).toISOString(),
    ...extra,
    body,
  };
}

const policy = (rule: Record<string, unknown>) =>
  JSON.stringify({ rules: [{ rulePriority: 1, description: 'what this repository keeps, as a team would write it', ...rule, action: { type: 'expire' } }] });

/** Logger and metrics of the function, quiet (metrics are turned off by the environment below). */
const quiet = () => ({
  logger: new PowertoolsLogger({ serviceName: 'berth-lifecycle-runner', logLevel: 'SILENT' }),
  metrics: new Metrics({ namespace: 'Berth', serviceName: 'berth-lifecycle-runner' }),
});

describeWithDynamoDbLocal('the lifecycle runner function on DynamoDB Local with the emulated dispatch', (local) => {
  let tableName: string;
  let store: DynamoDbMetadataStore;
  let runner: EmulatedLifecycle | undefined;
  const metricsDisabled = process.env.POWERTOOLS_METRICS_DISABLED;

  beforeAll(() => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });
  afterAll(() => {
    if (metricsDisabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = metricsDisabled;
  });
  beforeEach(async () => {
    tableName = await local().createTable('lifecycle-runner');
    store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
  });
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    await local().deleteTable(tableName);
  });

  async function push(repository: string, m: StoredManifest, tag?: string): Promise<void> {
    for (const b of m.blobs) await store.linkBlob(repository, b, { size: 10 });
    expect(await store.putManifest(repository, m, tag)).toEqual({ ok: true });
  }
  async function setPolicy(repository: string, text: string): Promise<void> {
    const updated = await store.updateRepositorySettings(repository, (current) => ({ ...current, lifecyclePolicy: { text, updatedAt: new Date(T0).toISOString() } }));
    expect(updated).not.toBeNull();
  }
  async function digests(repository: string): Promise<string[]> {
    return (await store.listManifests(repository, { limit: 1000 })).items.map((i) => i.digest).sort();
  }
  async function outboxChanges(): Promise<ImageChange[]> {
    const entries = [];
    for (;;) {
      const page = await store.readOutbox(100, entries.at(-1)?.id);
      entries.push(...page);
      if (page.length < 100) return entries.flatMap((e) => e.changes);
    }
  }
  async function drainOutbox(): Promise<void> {
    for (let page = await store.readOutbox(100); page.length > 0; page = await store.readOutbox(100)) await store.acknowledgeOutbox(page.map((e) => e.id));
  }
  const start = (options: { pageSize?: number; timeoutMs?: number; now?: () => number } = {}) =>
    (runner = startEmulatedLifecycle({
      tableName,
      clients: { dynamodb: local().client },
      account: '123456789012',
      region: 'eu-west-1',
      intervalMs: 0,
      observability: quiet(),
      log: silentLogger,
      ...options,
    }));

  test('GIVEN three repositories, two with a policy, and page size 2 WHEN a scheduled dispatch runs THEN the cursor reaches all three, the expired images go with their signature, the rest stays, and every DELETE says lifecycle-policy', async () => {
    const alpha = [1, 2, 3, 4, 5].map((day) => manifest(`alpha ${day}`, day));
    for (const [i, m] of alpha.entries()) await push('team/alpha', m, `a${i + 1}`);
    const releases = [1, 2, 3].map((day) => manifest(`beta release ${day}`, day));
    for (const [i, m] of releases.entries()) await push('team/beta', m, `release-${i + 1}`);
    const dev = manifest('beta dev', 0);
    await push('team/beta', dev, 'dev');
    const signature = manifest('beta signature of release-1', 4, { subject: releases[0].digest, artifactType: SIGNATURE });
    await push('team/beta', signature);
    const gamma = [1, 2, 3].map((day) => manifest(`gamma ${day}`, day));
    for (const [i, m] of gamma.entries()) await push('team/gamma', m, `g${i + 1}`);

    await setPolicy('team/alpha', policy({ selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 2 } }));
    await setPolicy('team/beta', policy({ selection: { tagStatus: 'tagged', tagPrefixList: ['release'], countType: 'imageCountMoreThan', countNumber: 1 } }));
    await drainOutbox();

    const round = await start({ pageSize: 2 }).runNow();
    // Page one (alpha, beta) and the continuation after "team/beta" (gamma).
    expect(round.dispatches).toBe(2);
    const runs = [...round.runs].sort((a, b) => a.repository.localeCompare(b.repository));
    expect(runs.map(({ repository, hasPolicy, expired, archived, refused, gone, complete, continued }) => ({ repository, hasPolicy, expired, archived, refused, gone, complete, continued }))).toEqual([
      { repository: 'team/alpha', hasPolicy: true, expired: 3, archived: 0, refused: 0, gone: 0, complete: true, continued: false },
      { repository: 'team/beta', hasPolicy: true, expired: 2, archived: 0, refused: 0, gone: 0, complete: true, continued: false },
      { repository: 'team/gamma', hasPolicy: false, expired: 0, archived: 0, refused: 0, gone: 0, complete: true, continued: false },
    ]);
    expect(runner!.deadLetters()).toEqual([]);

    expect(await digests('team/alpha')).toEqual([alpha[3].digest, alpha[4].digest].sort());
    expect(await digests('team/beta')).toEqual([releases[2].digest, dev.digest].sort());
    expect(await digests('team/gamma')).toEqual(gamma.map((m) => m.digest).sort());
    expect((await store.getRepositorySettings('team/alpha'))?.lifecyclePolicy?.lastEvaluatedAt).toEqual(expect.any(String));
    expect((await store.getRepositorySettings('team/beta'))?.lifecyclePolicy?.lastEvaluatedAt).toEqual(expect.any(String));
    expect((await store.getRepositorySettings('team/gamma'))?.lifecyclePolicy).toBeUndefined();

    const changes = await outboxChanges();
    const deleted = changes.filter((c) => c.action === 'DELETE');
    expect(changes.filter((c) => c.action !== 'DELETE')).toEqual([]);
    expect(deleted.map((c) => `${c.repository} ${c.digest} ${c.tag ?? '-'}`).sort()).toEqual(
      [
        ...alpha.slice(0, 3).map((m, i) => `team/alpha ${m.digest} a${i + 1}`),
        ...releases.slice(0, 2).map((m, i) => `team/beta ${m.digest} release-${i + 1}`),
        `team/beta ${signature.digest} -`,
      ].sort(),
    );
    expect(deleted.map((c) => c.initiatedBy)).toEqual(deleted.map(() => 'lifecycle-policy'));
  }, 120_000);

  test('GIVEN a worker whose deadline comes after two expiries WHEN it runs THEN it stops, queues its continuation, and the continuation expires the rest', async () => {
    const images = [1, 2, 3, 4, 5].map((day) => manifest(`deadline ${day}`, day));
    for (const [i, m] of images.entries()) await push('team/big', m, `v${i + 1}`);
    await setPolicy('team/big', policy({ selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 2 } }));
    // Each reading of the runner's clock is 10 s later; a run has 25 s after its reserve: two expiries, then the deadline.
    let reads = 0;
    const now = () => T0 + 30 * DAY + 10_000 * reads++;
    const round = await start({ timeoutMs: LIFECYCLE_DEADLINE_RESERVE_MS + 25_000, now }).runNow();
    expect(round.runs.map(({ expired, complete, continued, continuation }) => ({ expired, complete, continued, continuation }))).toEqual([
      { expired: 2, complete: false, continued: true, continuation: 0 },
      { expired: 1, complete: true, continued: false, continuation: 1 },
    ]);
    expect(await digests('team/big')).toEqual([images[3].digest, images[4].digest].sort());
  }, 120_000);
});

describe('the lifecycle dispatch’s own rules', () => {
  test('GIVEN a run that always fails WHEN queued THEN it runs three times (two retries) and becomes a dead letter with its event', async () => {
    const events: LifecycleRunnerEvent[] = [];
    const dispatch = new InProcessLifecycleDispatch({
      invoke: async (event) => {
        events.push(event);
        throw new Error('the table is not there');
      },
      context: () => emulatedLambdaContext({ functionName: 'berth-lifecycle-runner', memoryMB: 1024, timeoutMs: 60_000, region: 'eu-west-1', account: '123456789012' }),
      retryDelayMs: 5,
      log: silentLogger,
    });
    await dispatch.runRepository('team/app');
    await dispatch.idle();
    expect(events).toEqual([{ repository: 'team/app' }, { repository: 'team/app' }, { repository: 'team/app' }]);
    expect(dispatch.deadLetters()).toEqual([{ event: { repository: 'team/app' }, error: 'the table is not there', attempts: 3 }]);
  });

  test('GIVEN a page whose runs cannot all be queued WHEN dispatched THEN it fails without a continuation (a retry hands the page out again, never a second chain)', async () => {
    const queued: string[] = [];
    const dispatch: LifecycleDispatch = {
      runRepository: async (name) => {
        if (name === 'team/b') throw new Error('throttled');
        queued.push(name);
      },
      continueFrom: async (cursor) => {
        queued.push(`cursor ${cursor}`);
      },
    };
    const store = { listRepositories: async () => ({ items: ['team/a', 'team/b', 'team/c'], more: true }) };
    await expect(dispatchLifecycleRuns(store, dispatch, { pageSize: 3 })).rejects.toThrow('1 of 3 lifecycle runs could not be queued');
    expect(queued).toEqual(['team/a', 'team/c']);
  });

  test('GIVEN events WHEN parsed THEN {} and a cursor dispatch, a repository is a worker, and a name that is no repository name is refused', () => {
    expect(parseLifecycleRunnerEvent({})).toEqual({ kind: 'dispatch' });
    expect(parseLifecycleRunnerEvent({ 'detail-type': 'Scheduled Event', source: 'aws.events' })).toEqual({ kind: 'dispatch' });
    expect(parseLifecycleRunnerEvent({ cursor: 'team/b' })).toEqual({ kind: 'dispatch', cursor: 'team/b' });
    expect(parseLifecycleRunnerEvent({ repository: 'team/b', continuation: 2 })).toEqual({ kind: 'worker', repository: 'team/b', continuation: 2 });
    expect(() => parseLifecycleRunnerEvent({ repository: 'Team B' })).toThrow(/repository must be a repository name/);
    expect(() => parseLifecycleRunnerEvent({ cursor: 7 })).toThrow(/cursor must be a repository name/);
    expect(() => parseLifecycleRunnerEvent({ repository: 'team/b', continuation: -1 })).toThrow(/continuation must be a whole number/);
  });
});
