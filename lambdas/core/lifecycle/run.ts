/**
 * Carrying a lifecycle policy out on one repository: list its images, evaluate (evaluate.ts, the
 * evaluator the preview uses), then expire and archive what the evaluation decided. Every change is
 * conditional on what the evaluation saw, so a run racing pushes never removes what someone just
 * tagged or referenced (docs/lifecycle.md, "Running it"):
 * - an expiry deletes the manifest only while exactly the tags it was evaluated with name it
 *   (`onlyIfTags`): a tag pushed meanwhile keeps the image, and the next run decides again;
 * - a manifest an index of the repository references is refused by the store (`in-use`) and kept;
 * - an index's children that the evaluation expires with it are deleted after the index.
 * Expiry and archiving are recorded as the events issue's DELETE and UPDATE_STORAGE_CLASS changes,
 * marked `initiatedBy: 'lifecycle-policy'`.
 */
import type { ImageStorageClassStore, ManifestStore, RepositoryStore, TagStore } from '../../storage/ports';
import type { ImageRecord } from '../model';
import { allItems } from '../paging';
import { deleteImage } from '../image-deletion';
import { evaluateLifecyclePolicy } from './evaluate';
import { parseLifecyclePolicy } from './policy';
import type { LifecycleDecision, LifecycleImage } from './policy-types';

/** What a run reads and changes. */
export type LifecycleRunStore = Pick<RepositoryStore, 'getRepositorySettings' | 'updateRepositorySettings'> &
  Pick<ManifestStore, 'listManifests' | 'deleteManifest' | 'listReferrers'> &
  Pick<TagStore, 'deleteTag'> &
  ImageStorageClassStore;

/** A decision carried out, or why it was not. */
export interface LifecycleOutcome extends LifecycleDecision {
  /** `done`; `dry-run`; or why the store refused it (a tag or an index that appeared since the evaluation, an image gone). */
  result: 'done' | 'dry-run' | 'tagged-since' | 'in-use' | 'gone';
}

export interface LifecycleRunReport {
  repository: string;
  /** ISO 8601: the instant age rules were measured at. */
  evaluatedAt: string;
  dryRun: boolean;
  /** False when the repository has no lifecycle policy (nothing was evaluated). */
  hasPolicy: boolean;
  imagesEvaluated: number;
  outcomes: LifecycleOutcome[];
}

const LIST_PAGE = 1000;

/** Every image of a repository, as the evaluator sees them. */
export async function lifecycleImagesOf(store: Pick<ManifestStore, 'listManifests'>, repository: string): Promise<ImageRecord[]> {
  const images: ImageRecord[] = [];
  for await (const image of allItems((last) => store.listManifests(repository, { last, limit: LIST_PAGE }), (i) => i.digest)) images.push(image);
  return images;
}

/** An image record as the evaluator reads it. */
export function lifecycleImage(record: ImageRecord): LifecycleImage {
  return {
    digest: record.digest,
    tags: record.tags,
    pushedAt: record.pushedAt,
    ...(record.lastPulledAt !== undefined ? { lastPulledAt: record.lastPulledAt } : {}),
    ...(record.storageClass === 'ARCHIVE' ? { storageClass: 'archive' as const } : {}),
    ...(record.lastArchivedAt !== undefined ? { lastArchivedAt: record.lastArchivedAt } : {}),
    ...(record.subject !== undefined ? { subject: record.subject } : {}),
    ...(record.children.length > 0 ? { children: record.children } : {}),
  };
}

/**
 * Evaluates the repository's policy at `now` and (unless `dryRun`) carries it out. A repository
 * without a policy (or that is gone) reports `hasPolicy: false`. After a real run the policy's
 * `lastEvaluatedAt` is set, unless the policy was replaced meanwhile.
 */
export async function runLifecyclePolicy(
  store: LifecycleRunStore,
  repository: string,
  options: { now?: Date; dryRun?: boolean; /** Changes carried out at once. @default 1 */ parallel?: number } = {},
): Promise<LifecycleRunReport> {
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const report: LifecycleRunReport = { repository, evaluatedAt: now.toISOString(), dryRun, hasPolicy: false, imagesEvaluated: 0, outcomes: [] };
  const settings = await store.getRepositorySettings(repository);
  const stored = settings?.lifecyclePolicy;
  if (!stored) return report;
  report.hasPolicy = true;
  const policy = parseLifecyclePolicy(stored.text);
  const records = await lifecycleImagesOf(store, repository);
  report.imagesEvaluated = records.length;
  const decisions = evaluateLifecyclePolicy(policy, records.map(lifecycleImage), now);
  if (dryRun) {
    report.outcomes = decisions.map((d) => ({ ...d, result: 'dry-run' }));
    return report;
  }
  report.outcomes = await carryOut(store, repository, decisions, records, now, options.parallel ?? 1);
  await store.updateRepositorySettings(repository, (current) =>
    current.lifecyclePolicy?.text === stored.text ? { ...current, lifecyclePolicy: { ...current.lifecyclePolicy, lastEvaluatedAt: report.evaluatedAt } } : current,
  );
  return report;
}

/**
 * `parallel` changes at a time, indexes before the children they take with them (the store refuses a
 * child while its index exists). The AWS worker keeps one at a time: it stops starting changes at its
 * deadline (fan-out.ts cuts through the store), which is only clean when no other change is in flight.
 */
async function carryOut(
  store: LifecycleRunStore,
  repository: string,
  decisions: LifecycleDecision[],
  records: ImageRecord[],
  now: Date,
  parallel: number,
): Promise<LifecycleOutcome[]> {
  const outcomes = new Map<string, LifecycleOutcome>();
  const expiring = new Set(decisions.filter((d) => d.action.type === 'EXPIRE').map((d) => d.digest));
  const childOfExpired = new Set(records.filter((r) => expiring.has(r.digest)).flatMap((r) => r.children));
  for (const phase of [decisions.filter((d) => !childOfExpired.has(d.digest)), decisions.filter((d) => childOfExpired.has(d.digest))]) {
    let next = 0;
    const worker = async () => {
      while (next < phase.length) {
        const decision = phase[next++];
        outcomes.set(decision.digest, { ...decision, result: await carryOutOne(store, repository, decision, now) });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, phase.length)) }, worker));
  }
  return decisions.map((d) => outcomes.get(d.digest)!);
}

async function carryOutOne(store: LifecycleRunStore, repository: string, decision: LifecycleDecision, now: Date): Promise<LifecycleOutcome['result']> {
  if (decision.action.type === 'TRANSITION') {
    const moved = await store.setImageStorageClass(repository, decision.digest, 'ARCHIVE', now.toISOString(), { initiatedBy: 'lifecycle-policy' });
    return moved.ok ? 'done' : 'gone';
  }
  const deleted = await deleteImage(store, repository, decision.digest, { onlyIfTags: decision.tags, initiatedBy: 'lifecycle-policy' });
  if (deleted.ok) return 'done';
  if (deleted.reason === 'in-use') return 'in-use';
  if (deleted.reason === 'tagged') return 'tagged-since';
  return 'gone';
}
