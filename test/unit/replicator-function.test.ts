// The replicator function's invocation (lambdas/handlers/replicator.ts) over a recording replicator and
// queue: an event split into job messages, a job carried out, retried with backoff through the queue's
// visibility, given up on (FAILED, the dead-letter queue) when refused or out of attempts; and the
// rule's pattern (contracts/replicator.ts) as EventBridge matches it.
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { replicatorInvocation } from '../../lambdas/handlers/replicator';
import type { ReplicatorDependencies } from '../../lambdas/composition/aws/replicator';
import type { Replicator } from '../../lambdas/core/replication/replicator';
import type { ReplicationJob } from '../../lambdas/core/replication/replication-jobs';
import type { DeadLetterReason } from '../../lambdas/core/replication/replication-queue';
import { REPLICATION_ATTEMPTS, replicationEventPattern, type ReplicationJobMessage } from '../../lambdas/contracts/replicator';
import { EcrJsonCallError } from '../../lambdas/aws/ecr-json-call';
import { matchesEventPattern } from '../../lambdas/emulators/event-pattern';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const DEST = { region: 'eu-west-1', registryId: '222233334444' };
const job: ReplicationJob = { kind: 'push', repository: 'prod/app', digest: DIGEST, tag: 'v1', destination: DEST };

function pushEvent(detail: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: 'e7d6c5b4-0000-4000-8000-000000000001',
    'detail-type': 'ECR Image Action',
    source: 'berth.ecr',
    account: '111122223333',
    time: '2026-12-03T10:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { result: 'SUCCESS', 'repository-name': 'prod/app', 'image-digest': DIGEST, 'action-type': 'PUSH', 'image-tag': 'v1', 'berth-event-id': 'evt-1', ...detail },
  };
}

function record(body: unknown, receiveCount = 1, messageId = 'msg-1'): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}-${receiveCount}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:q',
    awsRegion: 'us-east-1',
  };
}

function harness(carryOut: (job: ReplicationJob) => Promise<void> = async () => undefined, options: { enqueueFails?: boolean } = {}) {
  const calls = {
    queued: [] as ReplicationJob[],
    carried: [] as Array<{ job: ReplicationJob; attemptAt: string }>,
    gaveUp: [] as Array<{ job: ReplicationJob; code: string; jobId: string }>,
    enqueued: [] as ReplicationJobMessage[],
    retries: [] as Array<{ handle: string; delayMs: number }>,
    deadLetters: [] as Array<{ body: string; reason: DeadLetterReason }>,
  };
  const replicator: Replicator = {
    jobsOf: async () => [job, { ...job, destination: { region: 'ap-southeast-2', registryId: '333344445555' } }],
    queued: async (j) => {
      calls.queued.push(j);
      return '2026-12-03T10:00:01.000Z';
    },
    attemptTime: () => '2026-12-03T10:00:02.000Z',
    carryOut: async (j, attemptAt) => {
      calls.carried.push({ job: j, attemptAt });
      await carryOut(j);
    },
    gaveUp: async (j, code, jobId) => {
      calls.gaveUp.push({ job: j, code, jobId });
    },
  };
  const quiet = { info: jest.fn(), warn: jest.fn(), error: jest.fn() } as unknown as PowertoolsLogger;
  const deps: ReplicatorDependencies = {
    replicator,
    queue: {
      enqueue: async (messages) => {
        if (options.enqueueFails) throw new Error('SQS is down');
        calls.enqueued.push(...messages);
      },
      retryLater: async (handle, delayMs) => {
        calls.retries.push({ handle, delayMs });
      },
      deadLetter: async (body, reason) => {
        calls.deadLetters.push({ body, reason });
      },
    },
    logger: quiet,
    metrics: { addMetric: jest.fn() } as unknown as Metrics,
  };
  return { invoke: (...records: SQSRecord[]) => replicatorInvocation(async () => deps)({ Records: records } as SQSEvent), calls };
}

const jobMessage: ReplicationJobMessage = { 'berth-replication-job': job, statusAt: '2026-12-03T10:00:01.000Z', eventId: 'evt-1' };

test('GIVEN an image event WHEN received THEN one job message per destination is queued, each push job IN_PROGRESS first', async () => {
  const { invoke, calls } = harness();
  expect(await invoke(record(pushEvent()))).toEqual({ batchItemFailures: [] });
  expect(calls.queued.map((j) => j.destination.registryId)).toEqual(['222233334444', '333344445555']);
  expect(calls.enqueued).toEqual([
    { 'berth-replication-job': job, statusAt: '2026-12-03T10:00:01.000Z', eventId: 'evt-1' },
    { 'berth-replication-job': { ...job, destination: { region: 'ap-southeast-2', registryId: '333344445555' } }, statusAt: '2026-12-03T10:00:01.000Z', eventId: 'evt-1' },
  ]);
  expect(calls.carried).toEqual([]);
});

test('GIVEN the queue refusing the job messages WHEN an event is received THEN the event is kept for another try', async () => {
  const { invoke } = harness(undefined, { enqueueFails: true });
  expect(await invoke(record(pushEvent(), 1, 'event-1'))).toEqual({ batchItemFailures: [{ itemIdentifier: 'event-1' }] });
});

test('GIVEN a job message WHEN carried out THEN the message is done', async () => {
  const { invoke, calls } = harness();
  expect(await invoke(record(jobMessage))).toEqual({ batchItemFailures: [] });
  expect(calls.carried).toEqual([{ job, attemptAt: '2026-12-03T10:00:02.000Z' }]);
  expect(calls.retries).toEqual([]);
});

test('GIVEN a destination that cannot be reached WHEN a job fails on its third receive THEN it comes back after a backoff of 2 to 4 s, kept', async () => {
  const { invoke, calls } = harness(async () => {
    throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  });
  expect(await invoke(record(jobMessage, 3, 'job-1'))).toEqual({ batchItemFailures: [{ itemIdentifier: 'job-1' }] });
  expect(calls.retries).toHaveLength(1);
  expect(calls.retries[0].handle).toBe('handle-job-1-3');
  expect(calls.retries[0].delayMs).toBeGreaterThanOrEqual(2000);
  expect(calls.retries[0].delayMs).toBeLessThanOrEqual(4000);
  expect(calls.gaveUp).toEqual([]);
  expect(calls.deadLetters).toEqual([]);
});

test('GIVEN the destination refusing (AccessDeniedException) WHEN a job fails THEN it is given up at once: FAILED, dead-lettered with why, not kept', async () => {
  const { invoke, calls } = harness(async () => {
    throw new EcrJsonCallError('AccessDeniedException', 'not allowed ecr:ReplicateImage', 403);
  });
  expect(await invoke(record(jobMessage, 1, 'job-2'))).toEqual({ batchItemFailures: [] });
  expect(calls.gaveUp).toEqual([{ job, code: 'AccessDeniedException', jobId: 'job-2' }]);
  expect(calls.deadLetters).toEqual([{ body: JSON.stringify(jobMessage), reason: { failureCode: 'AccessDeniedException', lastError: 'AccessDeniedException: not allowed ecr:ReplicateImage', attempts: 1 } }]);
  expect(calls.retries).toEqual([]);
});

test('GIVEN a failure that could pass WHEN it is the last attempt THEN the job is given up with DESTINATION_UNREACHABLE', async () => {
  const { invoke, calls } = harness(async () => {
    throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  });
  expect(await invoke(record(jobMessage, REPLICATION_ATTEMPTS, 'job-3'))).toEqual({ batchItemFailures: [] });
  expect(calls.gaveUp).toEqual([{ job, code: 'DESTINATION_UNREACHABLE', jobId: 'job-3' }]);
  expect(calls.deadLetters[0].reason).toMatchObject({ failureCode: 'DESTINATION_UNREACHABLE', attempts: REPLICATION_ATTEMPTS });
});

test('GIVEN a message that is neither an event nor a job WHEN received THEN it goes to the dead-letter queue as it is, and is not kept', async () => {
  const { invoke, calls } = harness();
  expect(await invoke(record('not json', 1, 'odd-1'), record({ hello: 'world' }, 1, 'odd-2'))).toEqual({ batchItemFailures: [] });
  expect(calls.deadLetters.map((d) => [d.body, d.reason.failureCode])).toEqual([
    ['not json', 'INVALID_MESSAGE'],
    ['{"hello":"world"}', 'INVALID_MESSAGE'],
  ]);
});

describe("the replication rule's pattern", () => {
  const pattern = replicationEventPattern('berth.ecr');
  test.each([
    ['a push', pushEvent(), true],
    ['a delete', pushEvent({ 'action-type': 'DELETE' }), true],
    ["a replica's push (berth-replicated-from)", pushEvent({ 'berth-replicated-from': { account: '999988887777', region: 'eu-west-1' } }), false],
    ["a replicated delete's DELETE", pushEvent({ 'action-type': 'DELETE', 'berth-replicated-from': { account: '999988887777', region: 'eu-west-1' } }), false],
    ['a storage class change', pushEvent({ 'action-type': 'UPDATE_STORAGE_CLASS' }), false],
    ['another source', { ...pushEvent(), source: 'other.ecr' }, false],
    ['a replication event', { ...pushEvent({ 'action-type': 'REPLICATE' }), 'detail-type': 'ECR Replication Action' }, false],
  ])('GIVEN %s WHEN matched THEN %s', (_what, event, matches) => {
    expect(matchesEventPattern(pattern, event)).toBe(matches);
  });
});
