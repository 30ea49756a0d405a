/**
 * The EventBridge stand-in of the emulated AWS mode (lambdas/emulators/eventbridge-stand-in.ts)
 * under the real `@aws-sdk/client-eventbridge`: Berth's image events sent with the contract's
 * PutEvents entries land in `<dir>/events.jsonl` as EventBridge's envelopes, reach the targets of the
 * rules that match them, and are refused where EventBridge refuses them.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isImageActionEvent, putEventsEntry, type EventOrigin, type ImageChange } from '../../lambdas/contracts/events';
import { EventBridgeStandIn, type DeliveredEvent, type StandInRule } from '../../lambdas/emulators/eventbridge-stand-in';

const ORIGIN: EventOrigin = { account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' };
const DIGEST = `sha256:${'4b'.repeat(32)}`;
const PUSH_RULE = { source: ['berth.ecr'], 'detail-type': ['ECR Image Action'], detail: { 'action-type': ['PUSH'] } };

const change = (action: 'PUSH' | 'DELETE', eventId: string): ImageChange => ({
  action,
  repository: 'team/app',
  digest: DIGEST,
  tag: 'v1',
  eventId,
  time: '2026-03-02T10:15:42.517Z',
});

const readLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((line) => line !== '') : []);

describe('the EventBridge stand-in under the real SDK', () => {
  let work: string;
  let standIn: EventBridgeStandIn;
  let client: EventBridgeClient;
  let delivered: DeliveredEvent[];
  let failingCalls: number;
  const logs: string[] = [];

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'berth-eventbridge-'));
    delivered = [];
    failingCalls = 0;
    const rules: StandInRule[] = [
      { name: 'on-push', eventPattern: PUSH_RULE, target: async (event) => void delivered.push(event) },
      {
        name: 'always-failing',
        eventPattern: { source: ['berth.ecr'], detail: { 'action-type': ['DELETE'] } },
        target: async () => {
          failingCalls++;
          throw new Error('target down');
        },
      },
    ];
    standIn = new EventBridgeStandIn({ dir: work, account: ORIGIN.account, region: ORIGIN.region, rules, retry: { attempts: 3, baseDelayMs: 5 }, log: (line) => logs.push(line) });
    const endpoint = await standIn.start();
    client = new EventBridgeClient({ endpoint, region: ORIGIN.region, credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'stand-in-secret' }, maxAttempts: 1 });
  });

  afterEach(async () => {
    client.destroy();
    await standIn.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('GIVEN a PUSH and a DELETE built with putEventsEntry WHEN PutEvents is sent THEN FailedEntryCount is 0, events.jsonl holds both envelopes, the PUSH rule’s target gets the PUSH only, and a failing target is retried then recorded', async () => {
    const output = await client.send(new PutEventsCommand({ Entries: [putEventsEntry(change('PUSH', 'ev-push'), ORIGIN), putEventsEntry(change('DELETE', 'ev-delete'), ORIGIN)] }));
    expect(output.FailedEntryCount).toBe(0);
    expect(output.Entries).toHaveLength(2);
    const ids = output.Entries!.map((entry) => entry.EventId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);

    const events = readLines(standIn.eventsFile).map((line) => JSON.parse(line) as DeliveredEvent);
    expect(events).toHaveLength(2);
    for (const [index, event] of events.entries()) {
      expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
      expect(isImageActionEvent(event)).toBe(true);
      expect(event).toMatchObject({ version: '0', id: ids[index], 'detail-type': 'ECR Image Action', source: 'berth.ecr', account: ORIGIN.account, region: ORIGIN.region, time: '2026-03-02T10:15:42Z', resources: [] });
    }
    expect(events.map((event) => event.detail)).toEqual([
      { result: 'SUCCESS', 'repository-name': 'team/app', 'image-digest': DIGEST, 'action-type': 'PUSH', 'image-tag': 'v1', 'berth-event-id': 'ev-push' },
      { result: 'SUCCESS', 'repository-name': 'team/app', 'image-digest': DIGEST, 'action-type': 'DELETE', 'image-tag': 'v1', 'berth-event-id': 'ev-delete' },
    ]);

    await standIn.idle();
    expect(delivered).toEqual([events[0]]);
    expect(failingCalls).toBe(3);
    const failed = readLines(standIn.failedFile).map((line) => JSON.parse(line) as { rule: string; attempts: number; lastError: string; event: DeliveredEvent });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ rule: 'always-failing', attempts: 3, lastError: 'target down', event: events[1] });
    expect(logs.filter((line) => line.includes('always-failing'))).toHaveLength(3);
  });

  test('GIVEN an entry with source aws.ecr beside a valid one WHEN PutEvents is sent THEN that entry alone answers NotAuthorizedForSourceException and is neither written nor delivered', async () => {
    const output = await client.send(new PutEventsCommand({ Entries: [putEventsEntry(change('PUSH', 'ev-aws'), { ...ORIGIN, source: 'aws.ecr' }), putEventsEntry(change('PUSH', 'ev-ok'), ORIGIN)] }));
    expect(output.FailedEntryCount).toBe(1);
    expect(output.Entries![0]).toMatchObject({ ErrorCode: 'NotAuthorizedForSourceException' });
    expect(output.Entries![0]!.EventId).toBeUndefined();
    expect(output.Entries![1]!.EventId).toEqual(expect.any(String));
    await standIn.idle();
    const events = readLines(standIn.eventsFile).map((line) => JSON.parse(line) as DeliveredEvent);
    expect(events.map((event) => event.detail['berth-event-id'])).toEqual(['ev-ok']);
    expect(delivered.map((event) => event.detail['berth-event-id'])).toEqual(['ev-ok']);
  });

  test('GIVEN 11 entries WHEN PutEvents is sent THEN the whole call is refused with a ValidationException, as EventBridge does, and nothing is written', async () => {
    const entries = Array.from({ length: 11 }, (_, index) => putEventsEntry(change('PUSH', `ev-${index}`), ORIGIN));
    await expect(client.send(new PutEventsCommand({ Entries: entries }))).rejects.toMatchObject({ name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    expect(readLines(standIn.eventsFile)).toEqual([]);
    expect(delivered).toEqual([]);
  });

  test('GIVEN entries over 256 KB in total WHEN PutEvents is sent THEN the call is refused with a ValidationException', async () => {
    const big = putEventsEntry(change('PUSH', 'ev-big'), ORIGIN);
    const entry = { ...big, Detail: JSON.stringify({ ...JSON.parse(big.Detail), padding: 'x'.repeat(130 * 1024) }) };
    await expect(client.send(new PutEventsCommand({ Entries: [entry, entry] }))).rejects.toMatchObject({ name: 'ValidationException' });
    expect(readLines(standIn.eventsFile)).toEqual([]);
  });

  test('GIVEN a request without an Authorization header WHEN it reaches the stand-in THEN it is refused', async () => {
    const endpoint = (client.config.endpoint ? await client.config.endpoint() : undefined)!;
    const response = await fetch(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}/`, {
      method: 'POST',
      headers: { 'x-amz-target': 'AWSEvents.PutEvents', 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ Entries: [putEventsEntry(change('PUSH', 'ev-anon'), ORIGIN)] }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    expect(readLines(standIn.eventsFile)).toEqual([]);
  });
});
