/**
 * Local mode's lifecycle policies: every repository's policy carried out on the server's timer
 * (`--lifecycle-interval`, default a day, as ECR evaluates policies about once a day) and on request
 * (`berth lifecycle run --endpoint`, the ECR API's BerthRunLifecyclePolicy). The two share one queue,
 * so a server never runs two at once: a second run would only find the first one's work done and
 * report it as `gone`. Expired images leave their blobs to the garbage collector (`--gc-interval`).
 */
import type { Logger } from '../../core/log';
import { runLifecyclePolicies, summarizeLifecycleRun, type LifecycleRunAllOptions, type LifecycleRunAllStore } from '../../core/lifecycle/run-all';
import type { LifecycleRunReport } from '../../core/lifecycle/run';
import type { ScheduledJob } from '../deployment';

export interface LocalLifecycleSettings {
  /** How often the server runs every repository's policy; 0: never (berth lifecycle run still does). */
  intervalMs: number;
}

/** `--lifecycle-interval 24h`. */
export const DEFAULT_LOCAL_LIFECYCLE: LocalLifecycleSettings = { intervalMs: 24 * 60 * 60 * 1000 };

export interface LifecycleRuns {
  reports: LifecycleRunReport[];
  /** Repositories whose run failed; the others ran. */
  failures: Array<{ repository: string; error: string }>;
}

export type LifecycleRunRequest = Pick<LifecycleRunAllOptions, 'repository' | 'now' | 'dryRun' | 'include'>;

export interface LocalLifecycle {
  /** The server's job (none when the interval is 0). */
  jobs: ScheduledJob[];
  /** One run now, after the run under way if there is one. */
  run(request: LifecycleRunRequest): Promise<LifecycleRuns>;
}

export function localLifecycle(metadata: LifecycleRunAllStore, settings: LocalLifecycleSettings, log: Logger): LocalLifecycle {
  let queue: Promise<unknown> = Promise.resolve();
  const run = (request: LifecycleRunRequest): Promise<LifecycleRuns> => {
    const next = queue.then(() => runAndLog(metadata, request, log));
    queue = next.catch(() => undefined);
    return next;
  };
  const job: ScheduledJob = {
    name: 'run-lifecycle-policies',
    everyMs: settings.intervalMs,
    run: async () => {
      await run({});
    },
  };
  return { jobs: settings.intervalMs > 0 ? [job] : [], run };
}

async function runAndLog(metadata: LifecycleRunAllStore, request: LifecycleRunRequest, log: Logger): Promise<LifecycleRuns> {
  const failures: LifecycleRuns['failures'] = [];
  const reports = await runLifecyclePolicies(metadata, {
    ...request,
    onFailure: (repository, error) => {
      failures.push({ repository, error: error instanceof Error ? error.message : String(error) });
      log.error('lifecycle policy failed', { repository, error });
    },
  });
  // A dry run changed nothing: its answer is the caller's record.
  if (!request.dryRun) {
    for (const report of reports) {
      const { expired, archived, kept } = summarizeLifecycleRun(report);
      if (expired.length + archived.length + kept.length === 0) continue;
      log.info('lifecycle policy applied', { repository: report.repository, evaluatedAt: report.evaluatedAt, imagesEvaluated: report.imagesEvaluated, expired, archived, kept });
    }
  }
  return { reports, failures };
}
