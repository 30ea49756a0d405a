/**
 * Carrying out the lifecycle policies of a whole registry (or of one repository): what the local
 * server's timer (`--lifecycle-interval`), `berth lifecycle run` and the on-demand ECR action run.
 * Every repository is measured at the same instant, so one run over the registry reads as one
 * decision; each repository is still its own run (run.ts), with its own conditional changes.
 */
import type { RepositoryStore } from '../../storage/ports';
import { allItems } from '../paging';
import { runLifecyclePolicy, type LifecycleRunReport, type LifecycleRunStore } from './run';

export type LifecycleRunAllStore = LifecycleRunStore & Pick<RepositoryStore, 'listRepositories'>;

export interface LifecycleRunAllOptions {
  /** Only this repository. @default every repository */
  repository?: string;
  /** The instant age rules are measured at. @default now */
  now?: Date;
  /** Evaluate only: report what would be expired and archived. */
  dryRun?: boolean;
  /** Which repositories to run (a caller's permissions); the others are skipped without a report. @default all */
  include?: (repository: string) => Promise<boolean>;
  /**
   * A repository whose run failed (a stored policy the validator no longer takes, a store error):
   * without this, the failure ends the whole run; with it, the run goes on with the next repository,
   * so one broken policy does not hold the registry's others back.
   */
  onFailure?: (repository: string, error: unknown) => void;
  /** Changes carried out at once in one repository (no deadline cuts these runs short). @default 16 */
  parallel?: number;
}

const PAGE = 1000;
/** Each expiry is its own transaction (on LMDB, one synced commit): 16 at a time let the store group commits. */
const PARALLEL_CHANGES = 16;

/** The reports of the repositories that have a lifecycle policy, in repository order. */
export async function runLifecyclePolicies(store: LifecycleRunAllStore, options: LifecycleRunAllOptions = {}): Promise<LifecycleRunReport[]> {
  const now = options.now ?? new Date();
  const reports: LifecycleRunReport[] = [];
  const runOne = async (repository: string) => {
    if (options.include && !(await options.include(repository))) return;
    let report: LifecycleRunReport;
    try {
      report = await runLifecyclePolicy(store, repository, { now, dryRun: options.dryRun, parallel: options.parallel ?? PARALLEL_CHANGES });
    } catch (err) {
      if (!options.onFailure) throw err;
      options.onFailure(repository, err);
      return;
    }
    if (report.hasPolicy) reports.push(report);
  };
  if (options.repository !== undefined) {
    await runOne(options.repository);
    return reports;
  }
  for await (const repository of allItems((last) => store.listRepositories({ last, limit: PAGE }), (name) => name)) await runOne(repository);
  return reports;
}

/** A report's outcomes by what happened to them: what the log line and `berth lifecycle run` print. */
export function summarizeLifecycleRun(report: LifecycleRunReport): { expired: string[]; archived: string[]; kept: Array<{ digest: string; result: string }> } {
  const summary = { expired: [] as string[], archived: [] as string[], kept: [] as Array<{ digest: string; result: string }> };
  for (const outcome of report.outcomes) {
    if (outcome.result !== 'done' && outcome.result !== 'dry-run') summary.kept.push({ digest: outcome.digest, result: outcome.result });
    else if (outcome.action.type === 'EXPIRE') summary.expired.push(outcome.digest);
    else summary.archived.push(outcome.digest);
  }
  return summary;
}
