/**
 * The event publisher's Lambda handler (lambdas/handlers/event-publisher.ts, built as the emulated
 * mode builds it with buildEventPublisher) on DynamoDB Local and the EventBridge stand-in under the
 * real SDK: outbox items written by DynamoDbMetadataStore's own transactions, handed over as the
 * DynamoDBStreamEvent Lambda sends (NEW_IMAGE records), become ECR-shaped events on the bus and are
 * deleted; entries EventBridge refuses answer batchItemFailures from the first record not delivered
 * and leave their items; the sweep publishes what is old enough, the replay everything.
 */
import { EventBridgeClient, type PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUTBOX_PK } from '../../lambdas/contracts/dynamodb-table';
import { isImageActionEvent } from '../../lambdas/contracts/events';
import { buildEventPublisher, type EventPublisherSettings } from '../../lambdas/composition/aws/event-publisher';
import { createEventPublisherHandler, type EventPublisherEvent, type EventPublisherResult } from '../../lambdas/handlers/event-publisher';
import { EventBridgeStandIn, type DeliveredEvent } from '../../lambdas/emulators/eventbridge-stand-in';
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import type { StoredManifest } from '../../lambdas/core/model';
import { blob, manifest } from '../contract/metadata-store/fixtures';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const BUS = 'registry-bus';
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:berth-event-publisher`;
const CREDENTIALS = { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'stand-in-secret' };

const context = {
  functionName: 'berth-event-publisher',
  functionVersion: '$LATEST',
  invokedFunctionArn: FUNCTION_ARN,
  memoryLimitInMB: '256',
  awsRequestId: 'request-1',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

const readLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((line) => line !== '') : []);

describeWithDynamoDbLocal('the event publisher on DynamoDB Local and the EventBridge stand-in', (local) => {
  let work: string;
  let standIn: EventBridgeStandIn;
  let endpoint: string;
  let onBus: DeliveredEvent[];
  let onDefaultBus: DeliveredEvent[];
  const metricsDisabled = process.env.POWERTOOLS_METRICS_DISABLED;

  beforeAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    work = mkdtempSync(join(tmpdir(), 'berth-publisher-'));
    const everything = { source: [{ prefix: '' }] };
    standIn = new EventBridgeStandIn({
      dir: work,
      account: ACCOUNT,
      region: REGION,
      rules: [
        { name: 'on-bus', eventBusName: BUS, eventPattern: everything, target: async (event) => void onBus.push(event) },
        { name: 'on-default', eventPattern: everything, target: async (event) => void onDefaultBus.push(event) },
      ],
      log: () => undefined,
    });
    endpoint = await standIn.start();
  });

  afterAll(async () => {
    await standIn?.close();
    rmSync(work, { recursive: true, force: true });
    if (metricsDisabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = metricsDisabled;
  });

  let tableName: string;
  let store: DynamoDbMetadataStore;
  /** PutEvents calls from this one on have their Source turned into one EventBridge refuses (NotAuthorizedForSourceException). */
  let refuseFromCall: number;
  let putEventsCalls: number;
  let clock: number | undefined;
  let eventBridge: EventBridgeClient;

  beforeEach(async () => {
    rmSync(standIn.eventsFile, { force: true });
    onBus = [];
    onDefaultBus = [];
    refuseFromCall = Infinity;
    putEventsCalls = 0;
    clock = undefined;
    tableName = await local().createTable('publisher');
    store = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    eventBridge = new EventBridgeClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    eventBridge.middlewareStack.add(
      (next) => async (args) => {
        putEventsCalls++;
        if (putEventsCalls >= refuseFromCall) {
          const input = args.input as PutEventsCommand['input'];
          for (const entry of input.Entries ?? []) entry.Source = 'aws.ecr';
        }
        return next(args);
      },
      { step: 'initialize', name: 'refuseSomeCalls' },
    );
  });

  afterEach(async () => {
    eventBridge.destroy();
    await standIn.idle();
    await local().deleteTable(tableName);
  });

  /** The handler as the deployed function runs it (middy, Powertools), over this test's table and the stand-in. */
  function handler(settings: Partial<EventPublisherSettings> = {}) {
    const logger = new PowertoolsLogger({ serviceName: 'test', logLevel: 'SILENT' });
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
    const publisher = buildEventPublisher({
      settings: { tableName, eventBusName: BUS, source: 'berth.ecr', region: REGION, ...settings },
      clients: { dynamodb: local().client, eventBridge },
      logger,
      metrics,
      sink: { baseDelayMs: 1 },
      now: () => clock ?? Date.now(),
    });
    const wrapped = createEventPublisherHandler(async () => publisher, { logger, metrics });
    return (event: EventPublisherEvent) => wrapped(event, context) as Promise<EventPublisherResult>;
  }

  async function push(repository: string, m: StoredManifest, tag?: string): Promise<void> {
    for (const b of m.blobs) await store.linkBlob(repository, b, { size: 10 });
    expect(await store.putManifest(repository, m, tag)).toEqual({ ok: true });
  }

  /** The outbox items as raw attribute maps, in key order. */
  async function outboxItems() {
    const res = await local().client.send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: OUTBOX_PK } }, ConsistentRead: true }),
    );
    return res.Items ?? [];
  }

  /** The stream batch Lambda would send for the outbox items there are now (one INSERT record each, NEW_IMAGE). */
  async function streamEvent(): Promise<DynamoDBStreamEvent> {
    const items = await outboxItems();
    return { Records: items.map((item, i) => insertRecord(item as never, 1000 + i)) };
  }

  function insertRecord(image: Record<string, { S: string }>, sequence: number): DynamoDBRecord {
    return {
      eventID: `event-${sequence}`,
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: REGION,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
        Keys: { pk: image.pk, sk: image.sk },
        NewImage: image,
        SequenceNumber: String(sequence).padStart(21, '0'),
        SizeBytes: 200,
        StreamViewType: 'NEW_IMAGE',
      },
      eventSourceARN: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${tableName}/stream/2026-03-02T10:00:00.000`,
    };
  }

  const events = () => readLines(standIn.eventsFile).map((line) => JSON.parse(line) as DeliveredEvent);
  const eventIds = () => events().map((e) => e.detail['berth-event-id']);

  test('GIVEN a push by tag, a push by digest and the deletion of an image with two tags WHEN their stream records reach the handler THEN ECR-shaped events are on the named bus in that order and the outbox is empty', async () => {
    const image = manifest('image', { blobs: [blob('a')] });
    const child = manifest('child', { blobs: [blob('b')] });
    const doomed = manifest('doomed', { blobs: [blob('c')] });
    await push('team/app', image, 'v1');
    await push('team/app', child);
    await push('team/app', doomed, 'old');
    await push('team/app', doomed, 'older');
    expect(await store.deleteManifest('team/app', doomed.digest)).toMatchObject({ ok: true });
    const batch = await streamEvent();
    expect(batch.Records).toHaveLength(5);
    // A record of another item, as an unfiltered poller could hand over: ignored.
    batch.Records.splice(1, 0, { ...insertRecord({ pk: { S: 'repo#team/app' }, sk: { S: 'tag#v1' } }, 999), eventName: 'MODIFY' });

    expect(await handler()(batch)).toEqual({ batchItemFailures: [] });

    const sent = events();
    const base = { result: 'SUCCESS', 'repository-name': 'team/app' };
    expect(sent.map(({ detail }) => ({ ...detail, 'berth-event-id': typeof detail['berth-event-id'] }))).toEqual([
      { ...base, 'image-digest': image.digest, 'action-type': 'PUSH', 'image-tag': 'v1', 'berth-event-id': 'string' },
      { ...base, 'image-digest': child.digest, 'action-type': 'PUSH', 'berth-event-id': 'string' },
      { ...base, 'image-digest': doomed.digest, 'action-type': 'PUSH', 'image-tag': 'old', 'berth-event-id': 'string' },
      { ...base, 'image-digest': doomed.digest, 'action-type': 'PUSH', 'image-tag': 'older', 'berth-event-id': 'string' },
      ...['old', 'older'].map((tag) => ({ ...base, 'image-digest': doomed.digest, 'action-type': 'DELETE', 'image-tag': tag, 'berth-event-id': 'string' })),
    ]);
    for (const event of sent) {
      expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
      expect(Object.keys(event.detail).slice(0, 4)).toEqual(['result', 'repository-name', 'image-digest', 'action-type']);
      expect(isImageActionEvent(event)).toBe(true);
      expect(event).toMatchObject({ version: '0', 'detail-type': 'ECR Image Action', source: 'berth.ecr', account: ACCOUNT, region: REGION, resources: [] });
      expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    expect(new Set(eventIds()).size).toBe(6);
    // One PutEvents call for the six events of five items.
    expect(putEventsCalls).toBe(1);
    await standIn.idle();
    expect(onBus.map((e) => e.detail['berth-event-id'])).toEqual(eventIds());
    expect(onDefaultBus).toEqual([]);
    expect(await outboxItems()).toEqual([]);
  });

  test('GIVEN a replica put and an archived image WHEN their stream records reach the handler THEN the replica’s PUSH, an ECR Replication Action naming the repository, and the UPDATE_STORAGE_CLASS are published', async () => {
    const replica = manifest('replica', { blobs: [blob('r')] });
    await store.linkBlob('team/app', blob('r'), { size: 10 });
    const from = { account: '111122223333', region: 'us-west-2' };
    expect(await store.putManifest('team/app', replica, 'v1', { replicatedFrom: from })).toEqual({ ok: true });
    expect(await store.setImageStorageClass('team/app', replica.digest, 'ARCHIVE', new Date().toISOString())).toMatchObject({ ok: true });

    expect(await handler()(await streamEvent())).toEqual({ batchItemFailures: [] });

    const sent = events();
    expect(sent.map((e) => [e['detail-type'], e.detail['action-type']])).toEqual([
      ['ECR Image Action', 'PUSH'],
      ['ECR Replication Action', 'REPLICATE'],
      ['ECR Image Action', 'UPDATE_STORAGE_CLASS'],
    ]);
    expect(sent[0].detail['berth-replicated-from']).toEqual(from);
    expect(sent[1]).toMatchObject({ account: ACCOUNT, region: REGION, resources: [`arn:aws:ecr:${REGION}:${ACCOUNT}:repository/team/app`] });
    expect(sent[1].detail).toMatchObject({ 'source-account': from.account, 'source-region': from.region, 'image-tag': 'v1' });
    for (const event of sent) expect(isImageActionEvent(event)).toBe(true);
    expect(await outboxItems()).toEqual([]);
  });

  test('GIVEN 12 outbox items and EventBridge refusing the entries of the second PutEvents call WHEN the batch reaches the handler THEN batchItemFailures start at the 11th record, the first 10 are published and deleted, the last 2 stay', async () => {
    for (let n = 0; n < 12; n++) await push('team/app', manifest(`image-${n}`, { blobs: [blob('a')] }), `v${n}`);
    const batch = await streamEvent();
    expect(batch.Records).toHaveLength(12);
    refuseFromCall = 2;

    const result = await handler()(batch);

    const sequenceNumbers = batch.Records.map((r) => r.dynamodb!.SequenceNumber!);
    expect(result).toEqual({ batchItemFailures: sequenceNumbers.slice(10).map((itemIdentifier) => ({ itemIdentifier })) });
    // The refused entries were not retried: EventBridge answers NotAuthorizedForSourceException again.
    expect(putEventsCalls).toBe(2);
    expect(events().map((e) => e.detail['image-tag'])).toEqual(Array.from({ length: 10 }, (_, n) => `v${n}`));
    const left = await outboxItems();
    expect(left.map((item) => item.sk.S)).toEqual(batch.Records.slice(10).map((r) => r.dynamodb!.Keys!.sk.S));

    // Lambda retries from the first failed record: once EventBridge takes them, they are published and deleted.
    refuseFromCall = Infinity;
    expect(await handler()({ Records: batch.Records.slice(10) })).toEqual({ batchItemFailures: [] });
    expect(events().map((e) => e.detail['image-tag'])).toEqual(Array.from({ length: 12 }, (_, n) => `v${n}`));
    expect(await outboxItems()).toEqual([]);
  });

  test('GIVEN items the stream failed to deliver WHEN the sweep runs THEN it leaves them while younger than 2 minutes and publishes them once older', async () => {
    await push('team/app', manifest('one', { blobs: [blob('a')] }), 'v1');
    await push('team/app', manifest('two', { blobs: [blob('a')] }), 'v2');
    refuseFromCall = 1;
    expect((await handler()(await streamEvent())) as { batchItemFailures: unknown[] }).toMatchObject({ batchItemFailures: [expect.anything(), expect.anything()] });
    refuseFromCall = Infinity;

    expect(await handler()({ action: 'sweep' })).toEqual({ action: 'sweep', delivered: 0, complete: true });
    expect(events()).toEqual([]);

    clock = Date.now() + 3 * 60 * 1000;
    expect(await handler()({ action: 'sweep' })).toEqual({ action: 'sweep', delivered: 2, complete: true });
    expect(events().map((e) => e.detail['image-tag'])).toEqual(['v1', 'v2']);
    expect(await outboxItems()).toEqual([]);
  });

  test('GIVEN items left in the outbox WHEN {"action":"replay"} is invoked THEN every item is published whatever its age, oldest first, and deleted', async () => {
    for (let n = 0; n < 3; n++) await push('team/app', manifest(`image-${n}`, { blobs: [blob('a')] }), `v${n}`);
    expect(await handler()({ action: 'replay' })).toEqual({ action: 'replay', delivered: 3, complete: true });
    expect(events().map((e) => e.detail['image-tag'])).toEqual(['v0', 'v1', 'v2']);
    expect(await outboxItems()).toEqual([]);
    expect(await handler()({ action: 'replay' })).toEqual({ action: 'replay', delivered: 0, complete: true });
  });

  test('GIVEN a refused replay WHEN invoked THEN it rejects naming the error code and the items stay', async () => {
    await push('team/app', manifest('one', { blobs: [blob('a')] }), 'v1');
    refuseFromCall = 1;
    await expect(handler()({ action: 'replay' })).rejects.toThrow(/NotAuthorizedForSourceException/);
    expect(await outboxItems()).toHaveLength(1);
  });

  test('GIVEN a malformed outbox record after a good one WHEN the batch reaches the handler THEN the good one is published and the failures start at the malformed one', async () => {
    await push('team/app', manifest('one', { blobs: [blob('a')] }), 'v1');
    const batch = await streamEvent();
    const bad = insertRecord({ pk: { S: OUTBOX_PK }, sk: { S: '2026-03-02T10:15:42.517Z#bad' }, changes: { S: 'not json' } } as never, 2000);
    const after = insertRecord({ pk: { S: OUTBOX_PK }, sk: { S: '2026-03-02T10:15:43.000Z#after' }, changes: { S: '[]' } } as never, 2001);
    expect(await handler()({ Records: [...batch.Records, bad, after] })).toEqual({
      batchItemFailures: [{ itemIdentifier: bad.dynamodb!.SequenceNumber }, { itemIdentifier: after.dynamodb!.SequenceNumber }],
    });
    expect(events().map((e) => e.detail['image-tag'])).toEqual(['v1']);
  });

  test('GIVEN an invocation that is neither a stream batch nor an action WHEN invoked THEN it is refused with what is expected', async () => {
    await expect(handler()({ action: 'drain' } as never)).rejects.toThrow(/expected a DynamoDB stream batch, \{"action":"sweep"\} or \{"action":"replay"\}/);
  });
});
