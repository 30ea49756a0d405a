/**
 * A repository's lifecycle policy and its preview, as ECR's PutLifecyclePolicy, GetLifecyclePolicy,
 * DeleteLifecyclePolicy, StartLifecyclePolicyPreview and GetLifecyclePolicyPreview mean them. The
 * policy is stored with the repository's settings (it goes with the repository, as resource tags do).
 *
 * A preview is computed by StartLifecyclePolicyPreview itself, under a claim stored with the settings
 * (a second Start while one computes is LIFECYCLE_PREVIEW_IN_PROGRESS); Start still answers
 * IN_PROGRESS, as ECR's does, and the caller polls GetLifecyclePolicyPreview. Only the preview's
 * state is kept (its policy, status and instant): the results are the evaluation of that policy at
 * that instant over the repository's images as they are when read, so they never go stale in
 * storage and cost no write per image (docs/lifecycle.md, "Previews").
 */
import type { LifecyclePreviewState, RepositorySettings, StoredLifecyclePolicy } from '../model';
import { DomainError } from '../domain-errors';
import { unknownRepository } from '../repositories';
import { evaluateLifecyclePolicy } from './evaluate';
import { parseLifecyclePolicy } from './policy';
import type { LifecycleDecision } from './policy-types';
import { lifecycleImage, lifecycleImagesOf, type LifecycleRunStore } from './run';

/** A claim older than this is taken to belong to a Start that died (a Lambda timeout): another may start. */
export const PREVIEW_CLAIM_MS = 15 * 60_000;
/** A completed preview older than this reports EXPIRED: its instant no longer describes the repository. */
export const PREVIEW_EXPIRY_MS = 24 * 3_600_000;

export type LifecyclePoliciesStore = LifecycleRunStore;

export interface LifecyclePreview {
  text: string;
  status: 'IN_PROGRESS' | 'COMPLETE' | 'EXPIRED' | 'FAILED';
  /** COMPLETE only: what the policy would do, in ECR's order (rule priority, then oldest first). */
  results: LifecycleDecision[];
  failure?: string;
}

export class LifecyclePolicies {
  constructor(
    private readonly store: LifecyclePoliciesStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Validates (LifecyclePolicyValidationError) and stores the policy; NAME_UNKNOWN without the repository. */
  async put(repository: string, text: string): Promise<StoredLifecyclePolicy> {
    parseLifecyclePolicy(text);
    const policy: StoredLifecyclePolicy = { text, updatedAt: this.now().toISOString() };
    await this.update(repository, (current) => ({ ...current, lifecyclePolicy: policy }));
    return policy;
  }

  /** The stored policy; LIFECYCLE_POLICY_UNKNOWN when the repository has none. */
  async get(repository: string): Promise<StoredLifecyclePolicy> {
    const settings = await this.store.getRepositorySettings(repository);
    if (!settings) throw unknownRepository(repository);
    if (!settings.lifecyclePolicy) throw new DomainError('LIFECYCLE_POLICY_UNKNOWN', { name: repository });
    return settings.lifecyclePolicy;
  }

  /** Removes the policy and answers what it was; LIFECYCLE_POLICY_UNKNOWN when there was none. */
  async delete(repository: string): Promise<StoredLifecyclePolicy> {
    let removed: StoredLifecyclePolicy | undefined;
    await this.update(repository, (current) => {
      removed = current.lifecyclePolicy;
      const { lifecyclePolicy: _gone, ...rest } = current;
      return rest;
    });
    if (!removed) throw new DomainError('LIFECYCLE_POLICY_UNKNOWN', { name: repository });
    return removed;
  }

  /**
   * Starts (and computes) a preview of `text`, or of the stored policy when no text is given
   * (LIFECYCLE_POLICY_UNKNOWN without one). Answers the previewed text.
   */
  async startPreview(repository: string, text?: string): Promise<string> {
    if (text !== undefined) parseLifecyclePolicy(text);
    const settings = await this.store.getRepositorySettings(repository);
    if (!settings) throw unknownRepository(repository);
    const previewed = text ?? settings.lifecyclePolicy?.text;
    if (previewed === undefined) throw new DomainError('LIFECYCLE_POLICY_UNKNOWN', { name: repository });

    const startedAt = this.now().toISOString();
    let busy = false;
    await this.update(repository, (current) => {
      busy = claimed(current.lifecyclePreview, this.now());
      return busy ? current : { ...current, lifecyclePreview: { text: previewed, status: 'IN_PROGRESS', startedAt } };
    });
    if (busy) throw new DomainError('LIFECYCLE_PREVIEW_IN_PROGRESS', { name: repository });

    let outcome: LifecyclePreviewState;
    try {
      // The results are evaluated again from the state when read; this run shows that they can be.
      const evaluatedAt = this.now();
      evaluateLifecyclePolicy(parseLifecyclePolicy(previewed), (await lifecycleImagesOf(this.store, repository)).map(lifecycleImage), evaluatedAt);
      outcome = { text: previewed, status: 'COMPLETE', startedAt, evaluatedAt: evaluatedAt.toISOString() };
    } catch (err) {
      outcome = { text: previewed, status: 'FAILED', startedAt, failure: err instanceof Error ? err.message : String(err) };
    }
    await this.store.updateRepositorySettings(repository, (current) =>
      current.lifecyclePreview?.startedAt === startedAt ? { ...current, lifecyclePreview: outcome } : current,
    );
    return previewed;
  }

  /** The last preview, with its results when COMPLETE; LIFECYCLE_PREVIEW_UNKNOWN when none was started. */
  async preview(repository: string): Promise<LifecyclePreview> {
    const settings = await this.store.getRepositorySettings(repository);
    if (!settings) throw unknownRepository(repository);
    const state = settings.lifecyclePreview;
    if (!state) throw new DomainError('LIFECYCLE_PREVIEW_UNKNOWN', { name: repository });
    const now = this.now();
    if (state.status === 'IN_PROGRESS') {
      // A claim nobody finished (its Start died) reads as FAILED, so a poller does not wait forever.
      return claimed(state, now)
        ? { text: state.text, status: 'IN_PROGRESS', results: [] }
        : { text: state.text, status: 'FAILED', results: [], failure: 'the preview stopped before it completed' };
    }
    if (state.status === 'FAILED') return { text: state.text, status: 'FAILED', results: [], ...(state.failure ? { failure: state.failure } : {}) };
    const evaluatedAt = new Date(state.evaluatedAt ?? state.startedAt);
    if (now.getTime() - evaluatedAt.getTime() > PREVIEW_EXPIRY_MS) return { text: state.text, status: 'EXPIRED', results: [] };
    const images = (await lifecycleImagesOf(this.store, repository)).map(lifecycleImage);
    return { text: state.text, status: 'COMPLETE', results: evaluateLifecyclePolicy(parseLifecyclePolicy(state.text), images, evaluatedAt) };
  }

  private async update(repository: string, change: (current: RepositorySettings) => RepositorySettings): Promise<void> {
    if (!(await this.store.updateRepositorySettings(repository, change))) throw unknownRepository(repository);
  }
}

function claimed(state: LifecyclePreviewState | undefined, now: Date): boolean {
  return state?.status === 'IN_PROGRESS' && now.getTime() - Date.parse(state.startedAt) < PREVIEW_CLAIM_MS;
}
