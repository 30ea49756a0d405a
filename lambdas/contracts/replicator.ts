/**
 * The replicator function as a contract (docs/replication.md, "Running it on AWS"): the rule that
 * starts it, the queue between the rule and the function, the messages on that queue, the retries
 * and the environment. The CDK construct (lib/registry-replication.ts) deploys it, the handler
 * (lambdas/handlers/replicator.ts) keeps to it, the SQS adapter (lambdas/aws/sqs-replication-queue.ts)
 * writes its messages, and the emulated AWS mode plays the rule and the queue with stand-ins.
 *
 * An EventBridge rule sends the registry's own PUSH and DELETE events to an SQS queue (not to the
 * function directly: Lambda's asynchronous retries stop after two, while a destination may be down
 * for hours). The function reads the queue one message at a time. An event message is split into one
 * job message per destination (so that one destination's failure never repeats another's work); a job
 * message is carried out, and when it fails it is made visible again later (exponential backoff through
 * ChangeMessageVisibility) until REPLICATION_ATTEMPTS, then sent to the dead-letter queue with its error.
 */
import { IMAGE_ACTION_DETAIL_TYPE } from './events';
import type { ReplicationDestinationId } from './replication';

/** Environment of the function, besides TABLE_NAME, BUCKET_NAME, REGISTRY_ACCOUNT_ID, AWS_REGION and REPLICATION_DESTINATIONS. */
export const REPLICATION_QUEUE_URL_ENV = 'REPLICATION_QUEUE_URL';
export const REPLICATION_DEAD_LETTER_QUEUE_URL_ENV = 'REPLICATION_DEAD_LETTER_QUEUE_URL';

/** Attempts of one job before it is dead-lettered (with the backoff below, about two hours), as in local mode. */
export const REPLICATION_ATTEMPTS = 30;
/** The first retry's wait, doubled per attempt up to REPLICATION_MAX_RETRY_MS (each wait jittered to half..all of it). */
export const REPLICATION_FIRST_RETRY_MS = 1000;
export const REPLICATION_MAX_RETRY_MS = 5 * 60_000;

/** The function's timeout: a job copies an image's blobs one call each (each bounded by API Gateway's 29 s). */
export const REPLICATOR_TIMEOUT_SECONDS = 300;
/**
 * The queue's visibility timeout: how long a message stays hidden while the function works on it, and
 * so how soon a job is tried again when the function died in the middle. Lambda asks for at least the
 * function's timeout; AWS recommends six times it for queues read by Lambda.
 */
export const REPLICATION_QUEUE_VISIBILITY_SECONDS = 6 * REPLICATOR_TIMEOUT_SECONDS;
/**
 * Receives before SQS itself moves a message to the dead-letter queue: a margin past the function's
 * own count, for a message whose attempts keep dying before they can count (out of memory, a timeout).
 */
export const REPLICATION_MAX_RECEIVE_COUNT = REPLICATION_ATTEMPTS + 5;
/**
 * Lifetime of the presigned blob URLs the replicator hands to destinations (PRESIGN_TTL_SECONDS): the
 * destination fetches one while it copies, so it outlives a slow copy (the registry's pull URLs live 5 minutes).
 */
export const REPLICATION_PRESIGN_TTL_SECONDS = 3600;

/** Replications at once unless configured (the event source's maximum concurrency): destinations see a bounded load. */
export const DEFAULT_REPLICATOR_CONCURRENCY = 10;

/** The rule's pattern: this registry's own pushes and deletes (a replica's are never replicated again). */
export function replicationEventPattern(eventSource: string): {
  source: string[];
  'detail-type': string[];
  detail: { 'action-type': string[]; result: string[]; 'berth-replicated-from': { account: Array<{ exists: boolean }> } };
} {
  return {
    source: [eventSource],
    'detail-type': [IMAGE_ACTION_DETAIL_TYPE],
    // `exists` matches leaves only: the object's `account` is the leaf that says the event is a replica's.
    detail: { 'action-type': ['PUSH', 'DELETE'], result: ['SUCCESS'], 'berth-replicated-from': { account: [{ exists: false }] } },
  };
}

/** One change to carry to one destination (core/replication/replication-jobs.ts makes them). */
export interface ReplicationJob {
  kind: 'push' | 'delete';
  repository: string;
  digest: string;
  tag?: string;
  destination: ReplicationDestinationId;
}

/** A job message: one change to carry to one destination, and when its status went IN_PROGRESS. */
export interface ReplicationJobMessage {
  'berth-replication-job': ReplicationJob;
  /** ISO time of the job's IN_PROGRESS; its attempts' statuses are stamped after it. */
  statusAt: string;
  /** The event the job comes from (logs). */
  eventId?: string;
}

export function isReplicationJobMessage(body: unknown): body is ReplicationJobMessage {
  if (typeof body !== 'object' || body === null) return false;
  const job = (body as Record<string, unknown>)['berth-replication-job'] as Record<string, unknown> | undefined;
  if (typeof job !== 'object' || job === null) return false;
  const destination = job.destination as Record<string, unknown> | undefined;
  return (
    (job.kind === 'push' || job.kind === 'delete') &&
    typeof job.repository === 'string' &&
    typeof job.digest === 'string' &&
    (job.tag === undefined || typeof job.tag === 'string') &&
    typeof destination === 'object' &&
    destination !== null &&
    typeof destination.region === 'string' &&
    typeof destination.registryId === 'string' &&
    typeof (body as Record<string, unknown>).statusAt === 'string'
  );
}

/** The wait before attempt `attempts + 1` (attempts made so far), jittered to half..all of its bound. */
export function replicationRetryDelayMs(attempts: number, random: () => number = Math.random): number {
  const bound = Math.min(REPLICATION_MAX_RETRY_MS, REPLICATION_FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1));
  return bound / 2 + random() * (bound / 2);
}
