/**
 * The lifecycle runner's Lambda function (docs/lifecycle.md, "Running it on AWS"). One function, two
 * kinds of run, told apart by the event (contracts/lifecycle-runner.ts):
 * - `{}` from the schedule, or `{ "cursor": name }`: a dispatch run lists one page of repositories
 *   and invokes the function asynchronously once per repository and, when more remain, once more
 *   with the page's last name (recursion with a cursor: no run is bounded by the number of repositories);
 * - `{ "repository": name }`: a worker run carries out that repository's lifecycle policy, stopping
 *   LIFECYCLE_DEADLINE_RESERVE_MS before the function's timeout and invoking its own continuation.
 * Everything else is the core's (core/lifecycle/fan-out.ts, run.ts) and the composition's.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { LIFECYCLE_DEADLINE_RESERVE_MS, parseLifecycleRunnerEvent } from '../contracts/lifecycle-runner';
import { dispatchLifecycleRuns, runRepositoryLifecycle, type DispatchReport, type RepositoryRunSummary } from '../core/lifecycle/fan-out';
import { createObservability } from '../aws/observability';
import { lifecycleRunnerFromEnvironment, type LifecycleRunner } from '../composition/aws/lifecycle-runner';

/** What an invocation did: its result and its log line. */
export type LifecycleRunnerResult = ({ kind: 'dispatch' } & DispatchReport) | ({ kind: 'worker'; durationMs: number } & RepositoryRunSummary);

/** The invocation itself, without middleware. */
export function lifecycleRunnerInvocation(deps: () => Promise<LifecycleRunner>) {
  return async (event: unknown, context: Context): Promise<LifecycleRunnerResult> => {
    // A malformed event fails before anything is built: Lambda's retries and the dead-letter queue keep it.
    const parsed = parseLifecycleRunnerEvent(event);
    const d = await deps();
    if (parsed.kind === 'dispatch') {
      const report = await dispatchLifecycleRuns(d.store, d.dispatch, { cursor: parsed.cursor, pageSize: d.pageSize });
      d.metrics.addMetric('RepositoriesDispatched', MetricUnit.Count, report.dispatched);
      d.logger.info('lifecycle runs dispatched', { cursor: parsed.cursor ?? null, ...report });
      return { kind: 'dispatch', ...report };
    }
    const clock = d.now ?? Date.now;
    const started = clock();
    const remainingMs = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadline = remainingMs !== undefined ? started + remainingMs - LIFECYCLE_DEADLINE_RESERVE_MS : undefined;
    const summary = await runRepositoryLifecycle(d.store, d.dispatch, parsed.repository, {
      deadline,
      clock,
      now: new Date(started),
      continuation: parsed.continuation,
    });
    const result: LifecycleRunnerResult = { kind: 'worker', ...summary, durationMs: clock() - started };
    // Also for a repository without a policy (all 0): an invocation without metrics makes Powertools warn.
    d.metrics.addMetric('ImagesExpired', MetricUnit.Count, summary.expired);
    d.metrics.addMetric('ImagesArchived', MetricUnit.Count, summary.archived);
    d.metrics.addMetric('LifecycleChangesRefused', MetricUnit.Count, summary.refused);
    d.metrics.addMetric('LifecycleRunComplete', MetricUnit.Count, summary.complete ? 1 : 0);
    if (!summary.hasPolicy) d.logger.info('lifecycle run: the repository has no lifecycle policy', { ...result });
    else if (summary.complete) d.logger.info('lifecycle policy run', { ...result });
    else if (summary.continued) d.logger.info('lifecycle policy run until the deadline; a continuation goes on', { ...result });
    else d.logger.warn('lifecycle policy run stopped at the deadline without a continuation; the next scheduled run goes on', { ...result });
    return result;
  };
}

/** The middy-wrapped handler: Lambda context in every log line, metrics flushed after each invocation. */
export function createLifecycleRunnerHandler(deps: () => Promise<LifecycleRunner>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(lifecycleRunnerInvocation(deps)).use(injectLambdaContext(observability.logger)).use(logMetrics(observability.metrics));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-lifecycle-runner');

export const handler = createLifecycleRunnerHandler(lifecycleRunnerFromEnvironment(observability), observability);
