/**
 * The emulator of Lambda's DynamoDB stream event source mapping (lambdas/emulators/dynamodb-stream-poller.ts)
 * on DynamoDB Local's stream of a table created as the stack creates it: records reach the handler in
 * Lambda's shape, filtered and batched; a failing handler is retried (bisected when asked) and then
 * discarded to the on-failure destination once; batchItemFailures re-deliver from the failed record;
 * idle() and close() keep their promises. DynamoDB Local keeps one shard per stream and never splits
 * it, so following shard lineage (a child after its parent, DescribeStream pages) is shown on a
 * scripted stream.
 */
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { startStreamPoller, type StreamFailureMessage, type StreamHandler, type StreamPoller, type StreamPollerOptions } from '../../lambdas/emulators/dynamodb-stream-poller';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';

/** The publisher's filter: INSERTs of outbox items. */
const OUTBOX_INSERTS = { eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: ['outbox'] } } } };
const REGION = 'eu-west-1';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const skOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.sk?.S;
const sksOf = (event: DynamoDBStreamEvent) => event.Records.map(skOf);

describeWithDynamoDbLocal('the DynamoDB stream poller on DynamoDB Local', (local) => {
  let streams: DynamoDBStreamsClient;
  let table: string;
  let poller: StreamPoller | undefined;
  let events: DynamoDBStreamEvent[];
  let failures: Array<{ message: StreamFailureMessage; error: unknown }>;
  const logs: string[] = [];

  beforeAll(() => {
    streams = new DynamoDBStreamsClient({ endpoint: local().endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  });
  afterAll(() => streams.destroy());

  beforeEach(async () => {
    table = await local().createTable('stream');
    events = [];
    failures = [];
  });
  afterEach(async () => {
    await poller?.close();
    poller = undefined;
    await local().deleteTable(table);
  });

  const put = (pk: string, sk: string, extra: Record<string, SdkAttributeValue> = {}) =>
    local().client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { S: sk }, ...extra } }));
  const putOutbox = async (...sks: string[]) => {
    for (const sk of sks) await put('outbox', sk);
  };

  /** A poller on the test's table that records what it delivers; `handler` decides each invocation's outcome. */
  const start = async (handler: StreamHandler = async () => {}, options: Partial<StreamPollerOptions> = {}) => {
    poller = await startStreamPoller({
      client: streams,
      tableName: table,
      dynamoDb: local().client,
      filters: [JSON.stringify(OUTBOX_INSERTS)],
      awsRegion: REGION,
      retryDelayMs: 10,
      onFailure: (message, error) => void failures.push({ message, error }),
      log: (line) => logs.push(line),
      ...options,
      handler: async (event) => {
        events.push(structuredClone(event));
        return handler(event);
      },
    });
    return poller;
  };

  test('outbox INSERTs reach the handler within a second, in the record shape Lambda delivers; other records are filtered out', async () => {
    const running = await start();
    expect(running.streamArn).toMatch(/^arn:aws:dynamodb:[^:]+:[^:]+:table\/stream-[^/]+\/stream\//);
    const before = Math.floor(Date.now() / 1000);
    const putAt = Date.now();
    await put('outbox', '0001#a', { changes: { S: '[{"action":"PUSH"}]' }, blob: { B: new Uint8Array([1, 2, 255]) }, n: { N: '7' }, m: { M: { l: { L: [{ S: 'x' }] } } } });
    while (events.length === 0) await sleep(20);
    expect(Date.now() - putAt).toBeLessThan(1500);

    await put('repo#team/app', 'repo'); // not an outbox item
    await local().client.send(
      new UpdateItemCommand({ TableName: table, Key: { pk: { S: 'outbox' }, sk: { S: '0001#a' } }, UpdateExpression: 'SET n = :n', ExpressionAttributeValues: { ':n': { N: '8' } } }),
    ); // MODIFY
    await putOutbox('0002#b');
    await local().client.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: 'outbox' }, sk: { S: '0001#a' } } })); // REMOVE
    await running.idle();

    expect(events.flatMap(sksOf)).toEqual(['0001#a', '0002#b']);
    const [record] = events[0]!.Records;
    expect(record).toEqual({
      eventID: expect.any(String),
      eventName: 'INSERT',
      eventVersion: expect.stringMatching(/^1\.\d$/),
      eventSource: 'aws:dynamodb',
      awsRegion: REGION,
      dynamodb: {
        ApproximateCreationDateTime: expect.any(Number),
        Keys: { pk: { S: 'outbox' }, sk: { S: '0001#a' } },
        NewImage: {
          pk: { S: 'outbox' },
          sk: { S: '0001#a' },
          changes: { S: '[{"action":"PUSH"}]' },
          blob: { B: Buffer.from([1, 2, 255]).toString('base64') },
          n: { N: '7' },
          m: { M: { l: { L: [{ S: 'x' }] } } },
        },
        SequenceNumber: expect.stringMatching(/^\d+$/),
        SizeBytes: expect.any(Number),
        StreamViewType: 'NEW_IMAGE',
      },
      eventSourceARN: running.streamArn,
    });
    // Local rounds the creation time down to the minute.
    expect(record!.dynamodb!.ApproximateCreationDateTime!).toBeGreaterThan(before - 61);
    expect(record!.dynamodb!.ApproximateCreationDateTime!).toBeLessThanOrEqual(Date.now() / 1000);
    expect(JSON.parse(JSON.stringify(events[0]))).toEqual(events[0]);
  });

  test('batches hold at most batchSize records, in stream order; without filters every record is delivered', async () => {
    await putOutbox('1', '2', '3', '4', '5');
    await put('repo#team/app', 'repo');
    const running = await start(async () => {}, { batchSize: 2, filters: [] });
    await running.idle();
    expect(events.map(sksOf)).toEqual([['1', '2'], ['3', '4'], ['5', 'repo']]);
  });

  test('a handler that throws is retried maxRetryAttempts times, then onFailure gets the batch once and the shard moves on', async () => {
    await putOutbox('poison-1', 'poison-2');
    const running = await start(
      async (event) => {
        if (sksOf(event).some((sk) => sk?.startsWith('poison'))) throw new Error('publisher down');
      },
      { maxRetryAttempts: 2 },
    );
    await running.idle();
    expect(events.map(sksOf)).toEqual([
      ['poison-1', 'poison-2'],
      ['poison-1', 'poison-2'],
      ['poison-1', 'poison-2'],
    ]);
    expect(failures).toHaveLength(1);
    const { message, error } = failures[0]!;
    const [first, second] = events[0]!.Records;
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: running.streamArn }));
    expect(message).toEqual({
      requestContext: { requestId: expect.any(String), functionArn: expect.stringMatching(/^arn:aws:lambda:/), condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: expect.any(String),
      DDBStreamBatchInfo: {
        shardId: StreamDescription!.Shards![0]!.ShardId,
        startSequenceNumber: first!.dynamodb!.SequenceNumber,
        endSequenceNumber: second!.dynamodb!.SequenceNumber,
        approximateArrivalOfFirstRecord: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        approximateArrivalOfLastRecord: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        batchSize: 2,
        streamArn: running.streamArn,
      },
    });
    expect((error as Error).message).toBe('publisher down');
    expect(logs.some((line) => line.includes('discarded after 3 invocations'))).toBe(true);

    await putOutbox('fine');
    await running.idle();
    expect(events.at(-1)!.Records.map(skOf)).toEqual(['fine']);
    expect(failures).toHaveLength(1);
  });

  test('with bisectBatchOnError a failing batch is split until the bad record is alone; only it is discarded', async () => {
    await putOutbox('ok-1', 'poison', 'ok-2', 'ok-3');
    const running = await start(
      async (event) => {
        if (sksOf(event).includes('poison')) throw new Error('bad record');
      },
      { bisectBatchOnError: true, maxRetryAttempts: 1 },
    );
    await running.idle();
    expect(events.map(sksOf)).toEqual([['ok-1', 'poison', 'ok-2', 'ok-3'], ['ok-1', 'poison'], ['ok-1'], ['poison'], ['poison'], ['ok-2', 'ok-3']]);
    expect(failures.map((f) => f.message.DDBStreamBatchInfo)).toEqual([
      expect.objectContaining({ startSequenceNumber: events[3]!.Records[0]!.dynamodb!.SequenceNumber, endSequenceNumber: events[3]!.Records[0]!.dynamodb!.SequenceNumber, batchSize: 1 }),
    ]);
    expect(failures[0]!.message.requestContext.approximateInvokeCount).toBe(2);
  });

  test('batchItemFailures re-deliver the batch from the lowest failed record on', async () => {
    await putOutbox('r1', 'r2', 'r3');
    const running = await start(async (event) => {
      const seq = (sk: string) => event.Records.find((r) => skOf(r) === sk)!.dynamodb!.SequenceNumber!;
      if (events.length === 1) return { batchItemFailures: [{ itemIdentifier: seq('r3') }, { itemIdentifier: seq('r2') }] };
      return { batchItemFailures: [] };
    });
    await running.idle();
    expect(events.map(sksOf)).toEqual([
      ['r1', 'r2', 'r3'],
      ['r2', 'r3'],
    ]);
    expect(failures).toEqual([]);
  });

  test('a record that batchItemFailures keeps naming is retried from there, then discarded alone', async () => {
    await putOutbox('t1', 't2', 't3');
    const running = await start(
      async (event) => {
        const failed = event.Records.find((r) => skOf(r) === 't2');
        return failed ? { batchItemFailures: [{ itemIdentifier: failed.dynamodb!.SequenceNumber! }] } : undefined;
      },
      { maxRetryAttempts: 1 },
    );
    await running.idle();
    expect(events.map(sksOf)).toEqual([
      ['t1', 't2', 't3'],
      ['t2', 't3'],
    ]);
    expect(failures).toHaveLength(1);
    const info = failures[0]!.message.DDBStreamBatchInfo;
    expect([info.startSequenceNumber, info.endSequenceNumber, info.batchSize]).toEqual([events[1]!.Records[0]!.dynamodb!.SequenceNumber, events[1]!.Records[1]!.dynamodb!.SequenceNumber, 2]);
    // No function error: the function answered.
    expect(failures[0]!.message.responseContext).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
  });

  test('an itemIdentifier naming no record of the batch fails the whole batch', async () => {
    await putOutbox('a', 'b');
    const running = await start(async () => ({ batchItemFailures: [{ itemIdentifier: '' }] }), { maxRetryAttempts: 1 });
    await running.idle();
    expect(events.map(sksOf)).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(failures.map((f) => f.message.DDBStreamBatchInfo.batchSize)).toEqual([2]);
  });

  test('close() stops polling: nothing reaches the handler after it resolves', async () => {
    const running = await start();
    await putOutbox('before');
    await running.idle();
    await running.close();
    await putOutbox('after');
    await sleep(1000);
    expect(events.flatMap(sksOf)).toEqual(['before']);
    await expect(running.idle()).resolves.toBeUndefined();
  });

  test('a missing table, or neither a stream nor a table, is refused', async () => {
    await expect(startStreamPoller({ client: streams, tableName: 'no-such-table', dynamoDb: local().client, handler: async () => {} })).rejects.toThrow();
    await expect(startStreamPoller({ client: streams, handler: async () => {} })).rejects.toThrow(/streamArn, or tableName and dynamoDb/);
  });
});

describe('the DynamoDB stream poller on a scripted stream with split shards', () => {
  const STREAM = 'arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000';
  const record = (seq: string, sk: string): _Record => ({
    eventID: `id-${seq}`,
    eventName: 'INSERT',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    dynamodb: { Keys: { pk: { S: 'outbox' }, sk: { S: sk } }, SequenceNumber: seq, SizeBytes: 10, StreamViewType: 'NEW_IMAGE', ApproximateCreationDateTime: new Date(0) },
  });

  test('a child shard is read only after its parent is read to its end, whatever the order of the DescribeStream pages', async () => {
    // Pages: the open child first, its closed parent on the second page.
    const pages: Shard[][] = [[{ ShardId: 'child', ParentShardId: 'parent' }], [{ ShardId: 'parent' }]];
    // Per iterator: the records and the next iterator (absent once the shard is closed).
    const reads: Record<string, { records: _Record[]; next?: string }> = {
      'parent@start': { records: [record('100', 'p1'), record('101', 'p2')], next: 'parent@2' },
      'parent@2': { records: [] },
      'child@start': { records: [record('200', 'c1')], next: 'child@2' },
      'child@2': { records: [], next: 'child@2' },
    };
    const calls: string[] = [];
    const client = {
      send: async (command: unknown) => {
        if (command instanceof DescribeStreamCommand) {
          const page = command.input.ExclusiveStartShardId === undefined ? 0 : 1;
          calls.push(`describe page ${page}`);
          return { StreamDescription: { StreamArn: STREAM, Shards: pages[page], LastEvaluatedShardId: page === 0 ? 'child' : undefined } };
        }
        if (command instanceof GetShardIteratorCommand) {
          calls.push(`iterator ${command.input.ShardId} ${command.input.ShardIteratorType}`);
          return { ShardIterator: `${command.input.ShardId}@start` };
        }
        if (command instanceof GetRecordsCommand) {
          const read = reads[command.input.ShardIterator!]!;
          return { Records: read.records, NextShardIterator: read.next };
        }
        throw new Error(`unexpected command ${String(command)}`);
      },
    } as unknown as DynamoDBStreamsClient;

    const delivered: string[] = [];
    const poller = await startStreamPoller({
      client,
      streamArn: STREAM,
      pollIntervalMs: 10,
      handler: async (event) => void delivered.push(...event.Records.map((r) => `${skOf(r)}@${r.dynamodb!.ApproximateCreationDateTime}`)),
      log: () => {},
    });
    await poller.idle();
    await poller.close();
    expect(delivered).toEqual(['p1@0', 'p2@0', 'c1@0']);
    expect(calls.slice(0, 4)).toEqual(['describe page 0', 'describe page 1', 'iterator parent TRIM_HORIZON', 'describe page 0']);
    expect(calls.indexOf('iterator child TRIM_HORIZON')).toBeGreaterThan(calls.indexOf('iterator parent TRIM_HORIZON'));
  });
});
