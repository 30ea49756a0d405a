/**
 * A preview's states (core/lifecycle/lifecycle-policies.ts) over the LMDB store, with a clock of the
 * test's: COMPLETE once started, EXPIRED a day later, a Start while another computes refused
 * (LIFECYCLE_PREVIEW_IN_PROGRESS), a claim nobody finished read as FAILED and no longer blocking,
 * and a stored policy or none.
 */
import { join } from 'node:path';
import { LifecyclePolicies, PREVIEW_CLAIM_MS, PREVIEW_EXPIRY_MS } from '../../lambdas/core/lifecycle/lifecycle-policies';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';

const T0 = Date.parse('2026-12-03T12:00:00Z');
const POLICY = JSON.stringify({
  rules: [{ rulePriority: 1, description: 'keep one image, a rule long enough for the minimum', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
});

describe('lifecycle policy previews', () => {
  let dir: ReturnType<typeof scratchDir>;
  let store: LmdbMetadataStore;
  let now = T0;
  let policies: LifecyclePolicies;
  beforeEach(async () => {
    dir = scratchDir('lifecycle-previews');
    store = await LmdbMetadataStore.open({ path: join(dir.path, 'metadata') });
    now = T0;
    policies = new LifecyclePolicies(store, () => new Date(now));
    await store.createRepository('team/app', { imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [], imageScanningConfiguration: { scanOnPush: false }, encryptionConfiguration: { encryptionType: 'AES256' }, tags: [] });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  test('GIVEN no policy THEN Start is LIFECYCLE_POLICY_UNKNOWN and Get LIFECYCLE_PREVIEW_UNKNOWN; a policy given with Start is previewed without being stored', async () => {
    await expect(policies.startPreview('team/app')).rejects.toMatchObject({ kind: 'LIFECYCLE_POLICY_UNKNOWN' });
    await expect(policies.preview('team/app')).rejects.toMatchObject({ kind: 'LIFECYCLE_PREVIEW_UNKNOWN' });
    expect(await policies.startPreview('team/app', POLICY)).toBe(POLICY);
    expect((await policies.preview('team/app')).status).toBe('COMPLETE');
    await expect(policies.get('team/app')).rejects.toMatchObject({ kind: 'LIFECYCLE_POLICY_UNKNOWN' });
    await expect(policies.startPreview('team/none', POLICY)).rejects.toMatchObject({ kind: 'NAME_UNKNOWN' });
  });

  test('GIVEN a completed preview WHEN read a day later THEN EXPIRED, and a new Start completes again', async () => {
    await policies.put('team/app', POLICY);
    await policies.startPreview('team/app');
    expect(await policies.preview('team/app')).toMatchObject({ status: 'COMPLETE', text: POLICY });
    now = T0 + PREVIEW_EXPIRY_MS + 1;
    expect(await policies.preview('team/app')).toMatchObject({ status: 'EXPIRED', results: [] });
    await policies.startPreview('team/app');
    expect((await policies.preview('team/app')).status).toBe('COMPLETE');
  });

  test('GIVEN a preview computing WHEN another Start comes THEN LIFECYCLE_PREVIEW_IN_PROGRESS and Get answers IN_PROGRESS; once the claim is stale, FAILED, and a Start goes through', async () => {
    await policies.put('team/app', POLICY);
    // What a Start records before it evaluates (one that is still at work, or died).
    await store.updateRepositorySettings('team/app', (current) => ({ ...current, lifecyclePreview: { text: POLICY, status: 'IN_PROGRESS', startedAt: new Date(T0).toISOString() } }));
    now = T0 + 1000;
    await expect(policies.startPreview('team/app')).rejects.toMatchObject({ kind: 'LIFECYCLE_PREVIEW_IN_PROGRESS' });
    expect((await policies.preview('team/app')).status).toBe('IN_PROGRESS');
    now = T0 + PREVIEW_CLAIM_MS + 1;
    expect(await policies.preview('team/app')).toMatchObject({ status: 'FAILED', failure: expect.stringContaining('stopped') });
    await policies.startPreview('team/app');
    expect((await policies.preview('team/app')).status).toBe('COMPLETE');
  });

  test('GIVEN a stored policy WHEN deleted THEN it is answered and gone; a second delete is LIFECYCLE_POLICY_UNKNOWN', async () => {
    const stored = await policies.put('team/app', POLICY);
    expect(stored).toEqual({ text: POLICY, updatedAt: new Date(T0).toISOString() });
    expect(await policies.delete('team/app')).toEqual(stored);
    await expect(policies.delete('team/app')).rejects.toMatchObject({ kind: 'LIFECYCLE_POLICY_UNKNOWN' });
  });
});
