/**
 * The garbage collector's Lambda function (docs/garbage-collection.md, "Running it"), invoked by an
 * EventBridge schedule (any input; an operator may invoke it by hand too): one run of the core's
 * collector over the registry's table and bucket, stopping GC_DEADLINE_RESERVE_MS before the
 * function's timeout (a run that stops there reports CollectionComplete 0 and the next one goes on),
 * then the purge of abandoned uploads. Reserved concurrency 1 keeps two runs from overlapping.
 * Everything else is the core's (collectGarbage, Registry.purgeStaleUploads) and the composition's.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { GC_DEADLINE_RESERVE_MS } from '../contracts/garbage-collector';
import { collectGarbage, type CollectionReport } from '../core/garbage-collection';
import { coreLogger, createObservability } from '../aws/observability';
import { garbageCollectorFromEnvironment, type GarbageCollector } from '../composition/aws/garbage-collector';

/** What a run did: the invocation's result and its log line. */
export interface GarbageCollectionSummary {
  repositories: number;
  manifests: number;
  linksRemoved: number;
  contentDeleted: number;
  bytesFreed: number;
  /** Unused links and unlinked content kept because they are younger than the grace period. */
  keptYoung: number;
  /** Staged manifest bodies of pushes that stopped before their commit, removed. */
  stagingRemoved: number;
  /** False when the run stopped at its deadline: the next run goes on. */
  complete: boolean;
  uploadsPurged: number;
  durationMs: number;
}

/** The invocation itself, without middleware. */
export function garbageCollectorInvocation(deps: () => Promise<GarbageCollector>) {
  return async (_event: unknown, context: Context): Promise<GarbageCollectionSummary> => {
    const d = await deps();
    const now = d.now ?? Date.now;
    const started = now();
    const remainingMs = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadline = remainingMs !== undefined ? started + remainingMs - GC_DEADLINE_RESERVE_MS : undefined;
    let report: CollectionReport | undefined;
    let failure: unknown;
    try {
      report = await collectGarbage(d.metadata, d.blobs, { graceMs: d.graceMs, deadline, readBody: d.readBody, now: d.now, log: coreLogger(d.logger) });
    } catch (error) {
      // The purge does not depend on the collection: it runs all the same, then the run fails.
      failure = error;
    }
    const uploadsPurged = await d.purgeUploads(now());
    d.metrics.addMetric('UploadsPurged', MetricUnit.Count, uploadsPurged);
    if (!report) {
      d.metrics.addMetric('CollectionComplete', MetricUnit.Count, 0);
      throw failure;
    }
    const summary: GarbageCollectionSummary = {
      repositories: report.repositories,
      manifests: report.manifests,
      linksRemoved: report.unlinked.length,
      contentDeleted: report.deleted.length,
      bytesFreed: report.bytesFreed,
      keptYoung: report.keptYoung,
      stagingRemoved: report.staging,
      complete: report.complete,
      uploadsPurged,
      durationMs: now() - started,
    };
    d.metrics.addMetric('LinksRemoved', MetricUnit.Count, summary.linksRemoved);
    d.metrics.addMetric('ContentDeleted', MetricUnit.Count, summary.contentDeleted);
    d.metrics.addMetric('BytesFreed', MetricUnit.Bytes, summary.bytesFreed);
    d.metrics.addMetric('CollectionComplete', MetricUnit.Count, summary.complete ? 1 : 0);
    d.logger.info(summary.complete ? 'garbage collected' : 'garbage collected until the deadline; the next run goes on', { ...summary });
    return summary;
  };
}

/** The middy-wrapped handler: Lambda context in every log line, metrics flushed after each invocation. */
export function createGarbageCollectorHandler(deps: () => Promise<GarbageCollector>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(garbageCollectorInvocation(deps)).use(injectLambdaContext(observability.logger)).use(logMetrics(observability.metrics));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-garbage-collector');

export const handler = createGarbageCollectorHandler(garbageCollectorFromEnvironment(observability), observability);
