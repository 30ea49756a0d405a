/**
 * Running every repository's lifecycle policy as separate runs (docs/lifecycle.md, "Running it on
 * AWS"): a dispatch hands out one page of repositories through the LifecycleDispatch port, one run
 * each, and hands the rest to a dispatch after its cursor; a worker runs one repository's policy
 * (run.ts). No run is bounded by the number of repositories, nor (through its continuations) by the
 * number of images of one repository. On AWS the port invokes the function itself asynchronously
 * (aws/lambda-lifecycle-dispatch.ts); the emulated mode calls the handler in-process.
 */
import { MAX_LIFECYCLE_CONTINUATIONS } from '../../contracts/lifecycle-runner';
import type { RepositoryStore } from '../../storage/ports';
import { runLifecyclePolicy, type LifecycleRunReport, type LifecycleRunStore } from './run';

/** Starts runs of the lifecycle function; each call returns once the run is queued, not when it ends. */
export interface LifecycleDispatch {
  /** Queues a worker run of `repository` (`continuation`: how many runs of it stopped at their deadline before). */
  runRepository(repository: string, continuation?: number): Promise<void>;
  /** Queues a dispatch run for the repositories after `cursor`. */
  continueFrom(cursor: string): Promise<void>;
}

export interface DispatchReport {
  /** Repositories handed out to worker runs. */
  dispatched: number;
  /** The cursor a continuation was queued with, when more repositories remain. */
  continuedFrom?: string;
}

/** Worker runs queued at once: enough to hand out a page in seconds, few enough not to be throttled. */
const DISPATCH_PARALLELISM = 8;

/**
 * Lists one page of repositories after `cursor` and queues a worker run for each, then (only when
 * they were all queued, and more remain) a dispatch after the page's last name. A failure throws
 * before the continuation is queued, so a retry of this run hands the page out again (a repository
 * run twice is harmless: every change is conditional) and never starts a second chain.
 */
export async function dispatchLifecycleRuns(
  store: Pick<RepositoryStore, 'listRepositories'>,
  dispatch: LifecycleDispatch,
  options: { cursor?: string; pageSize: number },
): Promise<DispatchReport> {
  const page = await store.listRepositories({ last: options.cursor, limit: options.pageSize });
  const failures: unknown[] = [];
  for (let i = 0; i < page.items.length; i += DISPATCH_PARALLELISM) {
    const results = await Promise.allSettled(page.items.slice(i, i + DISPATCH_PARALLELISM).map((name) => dispatch.runRepository(name)));
    for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
  }
  if (failures.length > 0) {
    throw new AggregateError(failures, `${failures.length} of ${page.items.length} lifecycle runs could not be queued`);
  }
  const last = page.items.at(-1);
  if (!page.more || last === undefined) return { dispatched: page.items.length };
  await dispatch.continueFrom(last);
  return { dispatched: page.items.length, continuedFrom: last };
}

/** What a worker run did. */
export interface RepositoryRunSummary {
  repository: string;
  hasPolicy: boolean;
  imagesEvaluated: number;
  expired: number;
  archived: number;
  /** Decisions the store refused: a tag or an index that appeared since the evaluation. */
  refused: number;
  /** Decisions on images gone since the evaluation. */
  gone: number;
  /** False when the run stopped at its deadline (its counts are then what it changed until then). */
  complete: boolean;
  /** True when it queued a continuation of itself. */
  continued: boolean;
  continuation: number;
}

export interface RepositoryRunOptions {
  /** Epoch ms: after it, no expiry or archival is started (the one under way finishes). @default none */
  deadline?: number;
  /** How many runs of this repository stopped at their deadline before this one. @default 0 */
  continuation?: number;
  /** The clock of the deadline. @default Date.now */
  clock?: () => number;
  /** The instant age rules are measured at. @default now */
  now?: Date;
}

/**
 * Runs `repository`'s lifecycle policy. A run that reaches its deadline stops starting changes and,
 * when it changed something, queues a continuation: the next run evaluates again over what is left,
 * which decides the same for what this one did not reach (expired images are gone, archived ones are
 * archive class, the rest is unchanged but for what was pushed or pulled meanwhile).
 */
export async function runRepositoryLifecycle(
  store: LifecycleRunStore,
  dispatch: LifecycleDispatch,
  repository: string,
  options: RepositoryRunOptions = {},
): Promise<RepositoryRunSummary> {
  const continuation = options.continuation ?? 0;
  const progress = { expired: 0, archived: 0 };
  const guarded = options.deadline === undefined ? store : withDeadline(store, options.deadline, options.clock ?? Date.now, progress);
  let report: LifecycleRunReport;
  try {
    report = await runLifecyclePolicy(guarded, repository, { now: options.now });
  } catch (error) {
    if (!(error instanceof LifecycleDeadlineReached)) throw error;
    const changed = progress.expired + progress.archived > 0;
    const continued = changed && continuation < MAX_LIFECYCLE_CONTINUATIONS;
    if (continued) await dispatch.runRepository(repository, continuation + 1);
    return { repository, hasPolicy: true, imagesEvaluated: error.imagesEvaluated, ...progress, refused: 0, gone: 0, complete: false, continued, continuation };
  }
  const done = report.outcomes.filter((o) => o.result === 'done');
  return {
    repository,
    hasPolicy: report.hasPolicy,
    imagesEvaluated: report.imagesEvaluated,
    expired: done.filter((o) => o.action.type === 'EXPIRE').length,
    archived: done.filter((o) => o.action.type === 'TRANSITION').length,
    refused: report.outcomes.filter((o) => o.result === 'in-use' || o.result === 'tagged-since').length,
    gone: report.outcomes.filter((o) => o.result === 'gone').length,
    complete: true,
    continued: false,
    continuation,
  };
}

/** Thrown through runLifecyclePolicy (which has no deadline of its own) when a change would start after the deadline. */
export class LifecycleDeadlineReached extends Error {
  constructor(readonly imagesEvaluated: number) {
    super('the lifecycle run reached its deadline');
  }
}

/**
 * The store as the run sees it, refusing to start an expiry or archival after the deadline. A
 * deleted image's referrers (which run.ts deletes right after it, having listed them) are still
 * deleted past the deadline: cutting there would leave them with a subject that is gone, and no
 * rule ever selects a referrer.
 */
function withDeadline(store: LifecycleRunStore, deadline: number, clock: () => number, progress: { expired: number; archived: number }): LifecycleRunStore {
  const referrers = new Set<string>();
  let imagesEvaluated = 0;
  const check = (digest: string) => {
    if (!referrers.has(digest) && clock() >= deadline) throw new LifecycleDeadlineReached(imagesEvaluated);
  };
  return {
    getRepositorySettings: (name) => store.getRepositorySettings(name),
    updateRepositorySettings: (name, update) => store.updateRepositorySettings(name, update),
    listManifests: async (repository, page) => {
      const result = await store.listManifests(repository, page);
      imagesEvaluated += result.items.length;
      return result;
    },
    listReferrers: async (repository, subject, page) => {
      const result = await store.listReferrers(repository, subject, page);
      for (const referrer of result.items) referrers.add(referrer.digest);
      return result;
    },
    deleteTag: (repository, tag, options) => store.deleteTag(repository, tag, options),
    deleteManifest: async (repository, digest, options) => {
      check(digest);
      const result = await store.deleteManifest(repository, digest, options);
      if (result.ok && !referrers.has(digest)) progress.expired++;
      return result;
    },
    setImageStorageClass: async (repository, digest, target, at, options) => {
      check(digest);
      const result = await store.setImageStorageClass(repository, digest, target, at, options);
      if (result.ok && result.changed) progress.archived++;
      return result;
    },
  };
}
