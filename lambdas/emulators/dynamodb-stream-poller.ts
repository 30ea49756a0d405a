/**
 * An EMULATOR of Lambda's event source mapping for a DynamoDB stream, for the emulated AWS mode
 * (`berth serve --emulate-aws`) and the tests: it reads the stream of a DynamoDB Local table with the
 * real `@aws-sdk/client-dynamodb-streams` and calls a handler with the DynamoDBStreamEvent Lambda
 * would send, so the function the stack wires to the table's stream runs here the way it runs there.
 * Production code never imports it.
 *
 * What it does as Lambda does (Lambda developer guide: "Using AWS Lambda with Amazon DynamoDB", its
 * event source mapping parameters, error handling, partial batch response and event filtering pages):
 * - every shard is read from TRIM_HORIZON (the emulated table lives in memory with the process, so
 *   there is nothing older to skip), a child shard only once its parent is read to its end; a shard
 *   is polled 4 times a second, and again at once while records keep coming;
 * - records no filter matches are dropped before batching (filters are OR'd, each an EventBridge-style
 *   pattern over the record as the function receives it);
 * - a batch holds at most `batchSize` records of one shard, in order. When the handler throws, the
 *   batch is retried, first split in halves when `bisectBatchOnError` (a split uses no retry), and once
 *   `maxRetryAttempts` retries have failed, what an on-failure destination would receive goes to
 *   `onFailure` and the shard moves on. When the handler answers `batchItemFailures`, the shard is
 *   checkpointed before the lowest failed record and the batch is retried from it (a retry); an
 *   `itemIdentifier` naming no record of the batch fails the whole batch.
 *
 * What it is not: checkpoints live in memory only; shards are read one at a time; no
 * MaximumRecordAgeInSeconds, batching window, tumbling window, parallelization factor, LATEST start or
 * function timeout.
 */
import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as SdkAttributeValue,
  type DynamoDBStreamsClient,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { matchesEventPattern, validateEventPattern, type EventPattern } from './event-pattern';

/** The function the mapping invokes; `batchItemFailures` is read as with FunctionResponseTypes ReportBatchItemFailures. */
export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<Partial<DynamoDBBatchResponse> | void>;

/** What Lambda sends to an on-failure destination (SQS or SNS) for a discarded batch of a DynamoDB stream. */
export interface StreamFailureMessage {
  requestContext: { requestId: string; functionArn: string; condition: 'RetryAttemptsExhausted'; approximateInvokeCount: number };
  responseContext: { statusCode: number; executedVersion: string; functionError?: 'Unhandled' };
  version: '1.0';
  timestamp: string;
  DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord?: string;
    approximateArrivalOfLastRecord?: string;
    batchSize: number;
    streamArn: string;
  };
}

export interface StreamPollerOptions {
  client: DynamoDBStreamsClient;
  /** The stream to read; or `tableName` with `dynamoDb`, whose table's LatestStreamArn is read. */
  streamArn?: string;
  tableName?: string;
  dynamoDb?: DynamoDBClient;
  handler: StreamHandler;
  /** FilterCriteria.Filters[].Pattern: a JSON string as CloudFormation holds it, or the pattern itself. */
  filters?: ReadonlyArray<EventPattern | string>;
  /** Lambda's default is 100. */
  batchSize?: number;
  pollIntervalMs?: number;
  /** -1 (Lambda's default): retried without end, where Lambda would stop when the record expires after 24 h. */
  maxRetryAttempts?: number;
  bisectBatchOnError?: boolean;
  /** FunctionResponseTypes ReportBatchItemFailures; without it the handler's answer is ignored, as Lambda does. Default true. */
  reportBatchItemFailures?: boolean;
  /** The wait before the first retry, doubled per retry up to 5 s. */
  retryDelayMs?: number;
  /** The on-failure destination; `error` is what the last attempt failed with (not part of Lambda's message). */
  onFailure?: (message: StreamFailureMessage, error: unknown) => void | Promise<void>;
  /** Named in the failure message; defaults to a function in the stream's region and account. */
  functionArn?: string;
  /** The records' awsRegion; DynamoDB Local writes its own (`ddblocal`). */
  awsRegion?: string;
  log?: (line: string) => void;
}

export interface StreamPoller {
  readonly streamArn: string;
  /** Stops polling; once it resolves, the handler is not called again. */
  close(): Promise<void>;
  /**
   * Resolves once everything the stream held when it was called has been handled or discarded (so never
   * while a batch keeps failing under maxRetryAttempts -1), or once the poller is closed.
   */
  idle(): Promise<void>;
}

/** GetRecords returns at most 1000 records a call. */
const GET_RECORDS_LIMIT = 1000;
const MAX_RETRY_DELAY_MS = 5000;

export async function startStreamPoller(options: StreamPollerOptions): Promise<StreamPoller> {
  const streamArn = options.streamArn ?? (await latestStreamArn(options));
  const patterns = (options.filters ?? []).map((filter) => {
    const pattern: unknown = typeof filter === 'string' ? JSON.parse(filter) : filter;
    validateEventPattern(pattern);
    return pattern as EventPattern;
  });
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new Error(`batchSize must be an integer from 1 to 10000, got ${batchSize}`);
  const poller = new Poller(options, streamArn, patterns, batchSize);
  poller.start();
  return { streamArn, close: () => poller.close(), idle: () => poller.idle() };
}

async function latestStreamArn({ tableName, dynamoDb }: StreamPollerOptions): Promise<string> {
  if (!tableName || !dynamoDb) throw new Error('startStreamPoller needs streamArn, or tableName and dynamoDb');
  const { Table } = await dynamoDb.send(new DescribeTableCommand({ TableName: tableName }));
  if (!Table?.StreamSpecification?.StreamEnabled || !Table.LatestStreamArn) throw new Error(`table ${tableName} has no stream enabled`);
  return Table.LatestStreamArn;
}

interface ShardState {
  id: string;
  parentId?: string;
  iterator?: string;
  /** The sequence number of the last record handled or dropped. */
  checkpoint?: string;
  finished: boolean;
}

type Outcome = { ok: true } | { ok: false; from: number; functionError: boolean; error: unknown };

const errorName = (error: unknown) => (error as { name?: string } | null)?.name;
const describeError = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

class Poller {
  private readonly shards = new Map<string, ShardState>();
  private readonly log: (line: string) => void;
  private readonly pollIntervalMs: number;
  private readonly maxRetryAttempts: number;
  private readonly retryDelayMs: number;
  private readonly functionArn: string;
  private describeNeeded = true;
  private closed = false;
  private passes = 0;
  private idleWaiters: Array<{ after: number; resolve: () => void }> = [];
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private lastLoggedError: string | undefined;

  constructor(
    private readonly options: StreamPollerOptions,
    private readonly streamArn: string,
    private readonly patterns: EventPattern[],
    private readonly batchSize: number,
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.maxRetryAttempts = options.maxRetryAttempts ?? -1;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    const [, , , region = 'us-east-1', account = '000000000000'] = streamArn.split(':');
    this.functionArn = options.functionArn ?? `arn:aws:lambda:${region}:${account}:function:stream-handler`;
  }

  start(): void {
    this.loop = this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.loop;
  }

  idle(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push({ after: this.passes, resolve }));
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const pass = ++this.passes;
      let quiet = false;
      let failed = false;
      try {
        quiet = await this.pass();
        this.lastLoggedError = undefined;
      } catch (error) {
        failed = true;
        const line = describeError(error);
        if (line !== this.lastLoggedError) this.log(`dynamodb stream poller: ${this.streamArn}: ${line}`);
        this.lastLoggedError = line;
      }
      // A quiet pass that started after idle() was called has seen everything the stream held then.
      if (quiet) this.settleIdle((after) => after < pass);
      if (quiet || failed) await this.pause(this.pollIntervalMs);
    }
    this.settleIdle(() => true);
  }

  private settleIdle(due: (after: number) => boolean): void {
    const [settled, waiting] = [this.idleWaiters.filter((w) => due(w.after)), this.idleWaiters.filter((w) => !due(w.after))];
    this.idleWaiters = waiting;
    for (const waiter of settled) waiter.resolve();
  }

  /** One read of every shard that may be read now; true when none had anything. */
  private async pass(): Promise<boolean> {
    if (this.describeNeeded) await this.describe();
    let quiet = true;
    for (const shard of this.readyShards()) {
      if (this.closed) return false;
      if (await this.readShard(shard)) quiet = false;
    }
    return quiet;
  }

  private async describe(): Promise<void> {
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.options.client.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (shard.ShardId && !this.shards.has(shard.ShardId)) this.shards.set(shard.ShardId, { id: shard.ShardId, parentId: shard.ParentShardId, finished: false });
      }
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    // A stream whose shards are all read (a disabled stream) is described again on every pass.
    this.describeNeeded = ![...this.shards.values()].some((shard) => !shard.finished);
  }

  /** Open shards whose parent is read to its end or gone (trimmed, or never listed). */
  private readyShards(): ShardState[] {
    return [...this.shards.values()].filter((shard) => {
      if (shard.finished) return false;
      const parent = shard.parentId === undefined ? undefined : this.shards.get(shard.parentId);
      return parent === undefined || parent.finished;
    });
  }

  /** One GetRecords on the shard and the delivery of what it returned; true when it returned records or ended the shard. */
  private async readShard(shard: ShardState): Promise<boolean> {
    shard.iterator ??= await this.iteratorFor(shard);
    let output;
    try {
      output = await this.options.client.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: GET_RECORDS_LIMIT }));
    } catch (error) {
      if (errorName(error) === 'ExpiredIteratorException') {
        shard.iterator = undefined;
        return true;
      }
      if (errorName(error) === 'TrimmedDataAccessException') {
        this.log(`dynamodb stream poller: shard ${shard.id}: records after ${shard.checkpoint} were trimmed; reading from the oldest one left`);
        shard.iterator = undefined;
        shard.checkpoint = undefined;
        return true;
      }
      throw error;
    }
    const records = (output.Records ?? []).map((record) => this.toLambdaRecord(record));
    const matching = records.filter((record) => this.matches(record));
    for (let i = 0; i < matching.length; i += this.batchSize) {
      if (this.closed) return false;
      await this.deliver(shard, matching.slice(i, i + this.batchSize));
    }
    if (this.closed) return false;
    if (records.length > 0) shard.checkpoint = records[records.length - 1]!.dynamodb?.SequenceNumber;
    shard.iterator = output.NextShardIterator;
    if (shard.iterator === undefined) {
      shard.finished = true;
      this.describeNeeded = true;
    }
    return records.length > 0 || shard.finished;
  }

  private async iteratorFor(shard: ShardState): Promise<string> {
    const from = shard.checkpoint
      ? ({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: shard.checkpoint } as const)
      : ({ ShardIteratorType: 'TRIM_HORIZON' } as const);
    const { ShardIterator } = await this.options.client.send(new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: shard.id, ...from }));
    if (!ShardIterator) throw new Error(`GetShardIterator gave no iterator for shard ${shard.id}`);
    return ShardIterator;
  }

  private matches(record: DynamoDBRecord): boolean {
    return this.patterns.length === 0 || this.patterns.some((pattern) => matchesEventPattern(pattern, record));
  }

  /** Delivers one batch until it succeeds or its failing records are discarded to onFailure. */
  private async deliver(shard: ShardState, batch: DynamoDBRecord[]): Promise<void> {
    // The batches still to deliver, the next one last; a bisected batch leaves its two halves.
    const pending: Array<{ records: DynamoDBRecord[]; retries: number }> = [{ records: batch, retries: 0 }];
    while (pending.length > 0 && !this.closed) {
      const attempt = pending.pop()!;
      const outcome = await this.invoke(attempt.records);
      if (outcome.ok) continue;
      const failing = attempt.records.slice(outcome.from);
      if (outcome.functionError && this.options.bisectBatchOnError && failing.length > 1) {
        const half = Math.ceil(failing.length / 2);
        pending.push({ records: failing.slice(half), retries: attempt.retries }, { records: failing.slice(0, half), retries: attempt.retries });
      } else if (this.maxRetryAttempts >= 0 && attempt.retries >= this.maxRetryAttempts) {
        await this.discard(shard, failing, attempt.retries + 1, outcome);
      } else {
        await this.pause(Math.min(this.retryDelayMs * 2 ** attempt.retries, MAX_RETRY_DELAY_MS));
        pending.push({ records: failing, retries: attempt.retries + 1 });
      }
    }
  }

  private async invoke(records: DynamoDBRecord[]): Promise<Outcome> {
    let response: unknown;
    try {
      response = await this.options.handler({ Records: records });
    } catch (error) {
      return { ok: false, from: 0, functionError: true, error };
    }
    if (this.options.reportBatchItemFailures === false || typeof response !== 'object' || response === null) return { ok: true };
    const failures = (response as Partial<DynamoDBBatchResponse>).batchItemFailures;
    if (!Array.isArray(failures) || failures.length === 0) return { ok: true };
    const positions = failures.map((failure: { itemIdentifier?: unknown } | null) => {
      const id = failure?.itemIdentifier;
      return typeof id === 'string' && id !== '' ? records.findIndex((record) => record.dynamodb?.SequenceNumber === id) : -1;
    });
    if (positions.includes(-1)) {
      const error = new Error(`batchItemFailures ${JSON.stringify(failures)} names no record of the batch: the whole batch failed`);
      return { ok: false, from: 0, functionError: false, error };
    }
    const from = Math.min(...positions);
    return { ok: false, from, functionError: false, error: new Error(`batchItemFailures from ${records[from]!.dynamodb?.SequenceNumber}`) };
  }

  private async discard(shard: ShardState, records: DynamoDBRecord[], invokeCount: number, outcome: Extract<Outcome, { ok: false }>): Promise<void> {
    const [first, last] = [records[0]!.dynamodb, records[records.length - 1]!.dynamodb];
    const message: StreamFailureMessage = {
      requestContext: { requestId: randomUUID(), functionArn: this.functionArn, condition: 'RetryAttemptsExhausted', approximateInvokeCount: invokeCount },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(outcome.functionError ? { functionError: 'Unhandled' as const } : {}) },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: shard.id,
        startSequenceNumber: first?.SequenceNumber ?? '',
        endSequenceNumber: last?.SequenceNumber ?? '',
        ...withoutUndefined({ approximateArrivalOfFirstRecord: isoSeconds(first?.ApproximateCreationDateTime), approximateArrivalOfLastRecord: isoSeconds(last?.ApproximateCreationDateTime) }),
        batchSize: records.length,
        streamArn: this.streamArn,
      },
    };
    const range = `${message.DDBStreamBatchInfo.startSequenceNumber}..${message.DDBStreamBatchInfo.endSequenceNumber}`;
    this.log(`dynamodb stream poller: shard ${shard.id}: records ${range} discarded after ${invokeCount} invocations: ${describeError(outcome.error)}`);
    try {
      await this.options.onFailure?.(message, outcome.error);
    } catch (error) {
      this.log(`dynamodb stream poller: the on-failure destination refused records ${range}: ${describeError(error)}`);
    }
  }

  private toLambdaRecord(record: _Record): DynamoDBRecord {
    const stream = record.dynamodb ?? {};
    const created = stream.ApproximateCreationDateTime;
    return withoutUndefined({
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion,
      eventSource: record.eventSource ?? 'aws:dynamodb',
      awsRegion: this.options.awsRegion ?? record.awsRegion,
      dynamodb: withoutUndefined({
        ApproximateCreationDateTime: created === undefined ? undefined : Math.floor(created.getTime() / 1000),
        Keys: stream.Keys && toLambdaImage(stream.Keys),
        NewImage: stream.NewImage && toLambdaImage(stream.NewImage),
        OldImage: stream.OldImage && toLambdaImage(stream.OldImage),
        SequenceNumber: stream.SequenceNumber,
        SizeBytes: stream.SizeBytes,
        StreamViewType: stream.StreamViewType,
      }),
      eventSourceARN: this.streamArn,
      userIdentity: record.userIdentity && { ...record.userIdentity },
    });
  }

  /** Waits, or less when close() is called. */
  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The SDK's AttributeValues as Lambda's JSON carries them: binary values become base64 strings. */
function toLambdaImage(image: Record<string, SdkAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]));
}

function toLambdaValue(value: SdkAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  return value as AttributeValue;
}

function isoSeconds(epochSeconds: number | undefined): string | undefined {
  return epochSeconds === undefined ? undefined : new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Drops absent keys, so that `exists: false` in a filter sees them absent. */
function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
