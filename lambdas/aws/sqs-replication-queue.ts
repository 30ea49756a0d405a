/**
 * The ReplicationQueue of an AWS deployment (core/replication/replication-queue.ts): the SQS queue the
 * replication rule fills (lib/registry-replication.ts), read by the replicator function through its
 * event source, and its dead-letter queue. The function writes job messages to the same queue,
 * postpones a failed one with ChangeMessageVisibility (SQS's way of delaying a received message; its
 * event source only deletes what the function did not report as failed), and dead-letters one it gives
 * up on itself, with why, since the queue's own redrive moves a message without saying why.
 */
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ReplicationJobMessage } from '../contracts/replicator';
import type { DeadLetterReason, ReplicationQueue } from '../core/replication/replication-queue';

/** SendMessageBatch's limit (SQS API reference: at most 10 entries). */
const MAX_BATCH = 10;
/** ChangeMessageVisibility's limit: 12 hours. */
const MAX_VISIBILITY_SECONDS = 12 * 3600;

export interface SqsReplicationQueueOptions {
  client: Pick<SQSClient, 'send'>;
  queueUrl: string;
  deadLetterQueueUrl: string;
}

export class SqsReplicationQueue implements ReplicationQueue {
  constructor(private readonly options: SqsReplicationQueueOptions) {}

  async enqueue(messages: readonly ReplicationJobMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += MAX_BATCH) {
      const batch = messages.slice(i, i + MAX_BATCH);
      const result = await this.options.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: batch.map((message, n) => ({ Id: String(n), MessageBody: JSON.stringify(message) })),
        }),
      );
      // A batch succeeds entry by entry: the caller's retry sends the whole event's jobs again (each job is idempotent).
      const failed = result.Failed ?? [];
      if (failed.length > 0) {
        throw new Error(`SQS refused ${failed.length} of ${batch.length} replication jobs: ${failed.map((f) => `${f.Code ?? '?'} ${f.Message ?? ''}`.trim()).join('; ')}`);
      }
    }
  }

  async retryLater(receiptHandle: string, delayMs: number): Promise<void> {
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    await this.options.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
  }

  async deadLetter(body: string, reason: DeadLetterReason): Promise<void> {
    await this.options.client.send(
      new SendMessageCommand({
        QueueUrl: this.options.deadLetterQueueUrl,
        MessageBody: JSON.stringify({ failedAt: new Date().toISOString(), ...reason, message: safeParse(body) }),
      }),
    );
  }
}

function safeParse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
