/**
 * The replicator function (docs/replication.md, "Running it on AWS"; contracts/replicator.ts). It reads
 * the replication queue one message at a time, and a message is one of two kinds:
 * - an image event the rule put there: split into one job message per destination its rules give
 *   (each push job's status IN_PROGRESS first), queued again, so that one destination's failure
 *   never repeats another's work;
 * - a job message: carried out (core/replication/replicator.ts). When it fails and a retry can change
 *   the answer, the message is made visible again after a backoff and reported failed, so that the
 *   event source keeps it; after REPLICATION_ATTEMPTS receives, or at once when the destination refused
 *   (aws/replication-failures.ts), the job ends FAILED (status, and the source's FAILED `ECR Replication
 *   Action`) and goes to the dead-letter queue with why.
 * A message that is neither goes to the dead-letter queue as it is.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { isRegistryEvent } from '../contracts/events';
import { REPLICATION_ATTEMPTS, isReplicationJobMessage, replicationRetryDelayMs, type ReplicationJobMessage } from '../contracts/replicator';
import type { ImageActionEvent } from '../core/events';
import { replicationFailureOf } from '../aws/replication-failures';
import { createObservability } from '../aws/observability';
import { replicatorFromEnvironment, type ReplicatorDependencies } from '../composition/aws/replicator';

type Outcome = 'queued' | 'replicated' | 'retrying' | 'dead-lettered';

/** One message; resolves to what became of it, throws only when the message must stay for another try. */
async function handleRecord(d: ReplicatorDependencies, record: SQSRecord): Promise<Outcome> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    body = undefined;
  }
  if (isReplicationJobMessage(body)) return handleJob(d, record, body);
  if (isRegistryEvent(body)) {
    const event = body as ImageActionEvent;
    const messages: ReplicationJobMessage[] = [];
    for (const job of await d.replicator.jobsOf(event)) {
      messages.push({ 'berth-replication-job': job, statusAt: await d.replicator.queued(job), eventId: event.detail['berth-event-id'] ?? event.id });
    }
    // A failure here throws: the event stays, and its next receive queues its jobs again (idempotent).
    await d.queue.enqueue(messages);
    d.logger.info('replication jobs queued', { eventId: event.id, jobs: messages.length });
    return 'queued';
  }
  await d.queue.deadLetter(record.body, { failureCode: 'INVALID_MESSAGE', lastError: 'neither an image event nor a replication job', attempts: 1 });
  d.logger.error('replication queue message is neither an image event nor a job; dead-lettered', { messageId: record.messageId });
  return 'dead-lettered';
}

async function handleJob(d: ReplicatorDependencies, record: SQSRecord, message: ReplicationJobMessage): Promise<Outcome> {
  const job = message['berth-replication-job'];
  const attempts = Math.max(1, Number(record.attributes?.ApproximateReceiveCount ?? 1) || 1);
  const attemptAt = d.replicator.attemptTime(message.statusAt);
  try {
    await d.replicator.carryOut(job, attemptAt);
    d.logger.info('image replicated', { kind: job.kind, repository: job.repository, digest: job.digest, destination: job.destination, attempts });
    return 'replicated';
  } catch (error) {
    const lastError = error instanceof Error ? error.message : String(error);
    const failure = replicationFailureOf(error);
    if (failure.permanent || attempts >= REPLICATION_ATTEMPTS) {
      // The status and the event before the dead letter: a crash in between repeats them under the same event id.
      await d.replicator.gaveUp(job, failure.code, record.messageId, attemptAt);
      await d.queue.deadLetter(record.body, { failureCode: failure.code, lastError, attempts });
      const text = failure.permanent ? 'replication refused by the destination, job dead-lettered' : 'replication abandoned, job dead-lettered';
      d.logger.error(text, { job, attempts, failureCode: failure.code, lastError });
      return 'dead-lettered';
    }
    const delay = replicationRetryDelayMs(attempts);
    d.logger.warn('replication failed, retrying', { job, attempt: attempts, lastError, retryInMs: Math.round(delay) });
    await d.queue.retryLater(record.receiptHandle, delay);
    throw error;
  }
}

/** The invocation itself, without middleware: a partial batch response naming the messages to keep. */
export function replicatorInvocation(deps: () => Promise<ReplicatorDependencies>) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const d = await deps();
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    const counts: Record<Outcome | 'failed', number> = { queued: 0, replicated: 0, retrying: 0, 'dead-lettered': 0, failed: 0 };
    for (const record of event.Records ?? []) {
      try {
        counts[await handleRecord(d, record)]++;
      } catch (error) {
        counts.retrying++;
        batchItemFailures.push({ itemIdentifier: record.messageId });
        d.logger.warn('replication message kept for another try', { messageId: record.messageId, error: error instanceof Error ? error.message : String(error) });
      }
    }
    d.metrics.addMetric('ImagesReplicated', MetricUnit.Count, counts.replicated);
    d.metrics.addMetric('ReplicationRetries', MetricUnit.Count, counts.retrying);
    d.metrics.addMetric('ReplicationsDeadLettered', MetricUnit.Count, counts['dead-lettered']);
    return { batchItemFailures };
  };
}

/** The middy-wrapped handler: Lambda context in every log line, metrics flushed after each invocation. */
export function createReplicatorHandler(deps: () => Promise<ReplicatorDependencies>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(replicatorInvocation(deps)).use(injectLambdaContext(observability.logger)).use(logMetrics(observability.metrics));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-replicator');

export const handler = createReplicatorHandler(replicatorFromEnvironment(observability), observability);
