/**
 * The queue a replicator function reads on AWS, as the function drives it (docs/replication.md,
 * "Running it on AWS"; contracts/replicator.ts): SQS in a deployment (aws/sqs-replication-queue.ts),
 * a stand-in in the emulated mode. Local mode keeps its jobs in files instead (storage/local/replication-queue.ts).
 */
import type { ReplicationJobMessage } from '../../contracts/replicator';

/** Why a message was given up on, kept with it in the dead-letter queue. */
export interface DeadLetterReason {
  failureCode: string;
  lastError: string;
  attempts: number;
}

export interface ReplicationQueue {
  /** Queues job messages, one job to one destination each. */
  enqueue(messages: readonly ReplicationJobMessage[]): Promise<void>;
  /** Makes a received message visible again after `delayMs`: its next attempt. */
  retryLater(receiptHandle: string, delayMs: number): Promise<void>;
  /** Keeps a message given up on in the dead-letter queue, with why. */
  deadLetter(body: string, reason: DeadLetterReason): Promise<void>;
}
