/**
 * runLifecyclePolicies (core/lifecycle/run-all.ts) over the LMDB store: every repository with a
 * policy, at one instant, or only the one named; dry runs change nothing; a caller's filter and a
 * repository whose stored policy no longer parses.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runLifecyclePolicies, summarizeLifecycleRun } from '../../lambdas/core/lifecycle/run-all';
import type { StoredManifest } from '../../lambdas/core/model';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';

const DAY = 24 * 3_600_000;
const NOW = new Date('2026-12-03T12:00:00Z');
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const policy = (selection: Record<string, unknown>) =>
  JSON.stringify({ rules: [{ rulePriority: 1, description: 'a rule of the run-all test, long enough for the minimum length', selection, action: { type: 'expire' } }] });
const KEEP_ONE = policy({ tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 });
const OLDER_THAN_A_DAY = policy({ tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 });

describe('runLifecyclePolicies over LMDB', () => {
  let dir: ReturnType<typeof scratchDir>;
  let store: LmdbMetadataStore;
  beforeEach(async () => {
    dir = scratchDir('lifecycle-run-all');
    store = await LmdbMetadataStore.open({ path: join(dir.path, 'metadata') });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  /** An image of one layer, pushed `ageMs` before NOW. */
  async function push(repository: string, seed: string, ageMs: number, tag?: string): Promise<string> {
    const layer = Buffer.from(`layer ${seed}`);
    await store.linkBlob(repository, sha256(layer), { size: layer.length });
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, layers: [{ digest: sha256(layer) }] }));
    const manifest: StoredManifest = {
      digest: sha256(body),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: body.length,
      blobs: [sha256(layer)],
      children: [],
      pushedAt: new Date(NOW.getTime() - ageMs).toISOString(),
      body,
    };
    expect(await store.putManifest(repository, manifest, tag)).toEqual({ ok: true });
    return manifest.digest;
  }

  async function putPolicy(repository: string, text: string): Promise<void> {
    await store.updateRepositorySettings(repository, (current) => ({ ...current, lifecyclePolicy: { text, updatedAt: NOW.toISOString() } }));
  }

  const digestsOf = async (repository: string) => (await store.listManifests(repository, { limit: 100 })).items.map((i) => i.digest).sort();

  /** team/a keeps its newest of three; team/b loses what is older than a day; team/c has no policy. */
  async function registry() {
    const a = [await push('team/a', 'a1', 3 * 3_600_000, 'v1'), await push('team/a', 'a2', 2 * 3_600_000, 'v2'), await push('team/a', 'a3', 3_600_000, 'v3')];
    const b = [await push('team/b', 'b-old', 2 * DAY), await push('team/b', 'b-new', 60_000, 'latest')];
    const c = [await push('team/c', 'c-old', 30 * DAY)];
    await putPolicy('team/a', KEEP_ONE);
    await putPolicy('team/b', OLDER_THAN_A_DAY);
    return { a, b, c };
  }

  test('GIVEN three repositories, two with a policy WHEN all are run THEN a report for each policy, at one instant, and only what the policies select is gone', async () => {
    const { a, b, c } = await registry();
    const reports = await runLifecyclePolicies(store, { now: NOW });
    expect(reports.map((r) => r.repository)).toEqual(['team/a', 'team/b']);
    expect(reports.every((r) => r.evaluatedAt === NOW.toISOString() && !r.dryRun && r.hasPolicy)).toBe(true);
    expect(reports.map((r) => r.imagesEvaluated)).toEqual([3, 2]);
    expect(summarizeLifecycleRun(reports[0])).toEqual({ expired: [a[0], a[1]], archived: [], kept: [] });
    expect(summarizeLifecycleRun(reports[1])).toEqual({ expired: [b[0]], archived: [], kept: [] });
    expect(await digestsOf('team/a')).toEqual([a[2]]);
    expect(await digestsOf('team/b')).toEqual([b[1]]);
    expect(await digestsOf('team/c')).toEqual(c);
    // ECR's lastEvaluatedAt.
    expect((await store.getRepositorySettings('team/a'))?.lifecyclePolicy?.lastEvaluatedAt).toBe(NOW.toISOString());

    // Run again: nothing left to do, and still a report per policy.
    const again = await runLifecyclePolicies(store, { now: NOW });
    expect(again.map((r) => [r.repository, r.outcomes.length])).toEqual([
      ['team/a', 0],
      ['team/b', 0],
    ]);
  });

  test('GIVEN a dry run THEN the same decisions, marked dry-run, and nothing changes', async () => {
    const { a, b } = await registry();
    const reports = await runLifecyclePolicies(store, { now: NOW, dryRun: true });
    expect(reports.flatMap((r) => r.outcomes.map((o) => o.result))).toEqual(['dry-run', 'dry-run', 'dry-run']);
    expect(reports.every((r) => r.dryRun)).toBe(true);
    expect(await digestsOf('team/a')).toEqual([...a].sort());
    expect(await digestsOf('team/b')).toEqual([...b].sort());
    expect((await store.getRepositorySettings('team/a'))?.lifecyclePolicy?.lastEvaluatedAt).toBeUndefined();
  });

  test('GIVEN a repository named THEN only it runs; one without a policy, or unknown, reports nothing', async () => {
    const { a, b } = await registry();
    const reports = await runLifecyclePolicies(store, { repository: 'team/b', now: NOW });
    expect(reports.map((r) => r.repository)).toEqual(['team/b']);
    expect(await digestsOf('team/a')).toEqual([...a].sort());
    expect(await digestsOf('team/b')).toEqual([b[1]]);
    expect(await runLifecyclePolicies(store, { repository: 'team/c', now: NOW })).toEqual([]);
    expect(await runLifecyclePolicies(store, { repository: 'team/none', now: NOW })).toEqual([]);
  });

  test('GIVEN a later instant THEN age rules select what is older by then', async () => {
    const { b } = await registry();
    await runLifecyclePolicies(store, { repository: 'team/b', now: new Date(NOW.getTime() + 2 * DAY) });
    expect(await digestsOf('team/b')).toEqual([]);
    expect(b).toHaveLength(2);
  });

  test('GIVEN a filter THEN repositories it refuses are skipped without a report', async () => {
    const { a } = await registry();
    const seen: string[] = [];
    const reports = await runLifecyclePolicies(store, {
      now: NOW,
      include: async (repository) => {
        seen.push(repository);
        return repository !== 'team/a';
      },
    });
    expect(seen).toEqual(['team/a', 'team/b', 'team/c']);
    expect(reports.map((r) => r.repository)).toEqual(['team/b']);
    expect(await digestsOf('team/a')).toEqual([...a].sort());
  });

  test('GIVEN a stored policy that no longer parses THEN the run fails, or with onFailure reports it and runs the others', async () => {
    const { b } = await registry();
    await putPolicy('team/a', '{"rules": "not a list, and long enough to be taken for a policy text by the length check"}');
    await expect(runLifecyclePolicies(store, { now: NOW })).rejects.toThrow(/Lifecycle policy validation failure/);
    const failures: string[] = [];
    const reports = await runLifecyclePolicies(store, { now: NOW, onFailure: (repository) => failures.push(repository) });
    expect(failures).toEqual(['team/a']);
    expect(reports.map((r) => r.repository)).toEqual(['team/b']);
    expect(await digestsOf('team/b')).toEqual([b[1]]);
  });
});
