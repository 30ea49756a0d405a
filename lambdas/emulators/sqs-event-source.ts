/**
 * A LOCAL STAND-IN for Lambda's SQS event source mapping, for the emulated AWS mode (Lambda cannot run
 * here; the queue can: fauxqs answers SQS's API on the S3 stand-in's port, s3-local.ts). Like the
 * mapping, it polls the queue with ReceiveMessage (batches of `batchSize`, at most `concurrency`
 * invocations at once), hands the function an SQSEvent with the records' ApproximateReceiveCount and
 * SentTimestamp, deletes what the function did not name in its partial batch response, and deletes
 * nothing when the invocation throws (the messages come back after their visibility timeout; the
 * queue's redrive policy moves those received too often to its dead-letter queue).
 *
 * What it is not: no scaling, no batching window, no filter criteria.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface SqsEventSourceOptions {
  client: Pick<SQSClient, 'send'>;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
  /** @default 1 */
  batchSize?: number;
  /** Invocations at once at most (the mapping's maximum concurrency). @default 2 */
  concurrency?: number;
  log: (line: string, fields?: Record<string, unknown>) => void;
}

export interface SqsEventSource {
  /** Invocations made (tests count them). */
  readonly invocations: number;
  close(): Promise<void>;
}

/** Long polling, as the mapping polls: an idle queue costs a request per second per poller. */
const WAIT_SECONDS = 1;

function recordOf(message: Message, options: SqsEventSourceOptions): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

export function startSqsEventSource(options: SqsEventSourceOptions): SqsEventSource {
  let closed = false;
  let invocations = 0;
  const abort = new AbortController();

  async function pollOnce(): Promise<void> {
    const received = await options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: options.batchSize ?? 1,
        WaitTimeSeconds: WAIT_SECONDS,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'SenderId', 'ApproximateFirstReceiveTimestamp'],
      }),
      { abortSignal: abort.signal },
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) return;
    invocations++;
    let kept: Set<string>;
    try {
      const response = await options.handler({ Records: messages.map((m) => recordOf(m, options)) });
      kept = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      options.log('SQS event source: the invocation failed; its messages come back after their visibility timeout', { error: (error as Error).message });
      return;
    }
    const done = messages.filter((m) => !kept.has(m.MessageId!));
    if (done.length === 0) return;
    const result = await options.client.send(
      new DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
    );
    if ((result.Failed ?? []).length > 0) options.log('SQS event source: some handled messages could not be deleted and will be delivered again', { failed: result.Failed });
  }

  async function poller(): Promise<void> {
    while (!closed) {
      try {
        await pollOnce();
      } catch (error) {
        if (closed) return;
        options.log('SQS event source: polling failed', { error: (error as Error).message });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  const pollers = Array.from({ length: options.concurrency ?? 2 }, () => poller());
  return {
    get invocations() {
      return invocations;
    },
    async close() {
      closed = true;
      abort.abort();
      await Promise.allSettled(pollers);
    },
  };
}
