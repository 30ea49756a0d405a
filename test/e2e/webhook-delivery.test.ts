/**
 * The local event sinks against real receivers: a node:http server on loopback that fails, drops
 * connections or never answers, a webhook sink that retries it and dead-letters what still fails,
 * the replay of the dead letters, and the events file under concurrent deliveries.
 */
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse, type IncomingMessage } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageActionEvent, type ImageActionEvent, type ImageChange } from '../../lambdas/contracts/events';
import { newEventId } from '../../lambdas/core/events';
import { replayDeadLetters } from '../../lambdas/events/dead-letters';
import { EventsFileSink } from '../../lambdas/events/events-file-sink';
import { verifyWebhookSignature, WebhookSink, type DeadLetter } from '../../lambdas/events/webhook-sink';

type Behaviour = 'fail-500' | 'drop' | 'hang' | 'ok';

interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
  answered: Behaviour;
}

/** A webhook receiver: answers each request as `behaviour(n)` says (n counts requests from 0) and records it. */
async function startReceiver(behaviour: (n: number) => Behaviour): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answered = behaviour(received.length);
      received.push({ body: Buffer.concat(chunks), headers: request.headers, answered });
      if (answered === 'ok') response.writeHead(204).end();
      else if (answered === 'fail-500') response.writeHead(500, { 'content-type': 'text/plain' }).end('receiver broken');
      else if (answered === 'drop') request.socket.destroy();
      // 'hang': no answer; the sink's timeout gives up, closeAllConnections ends it.
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/berth`,
    received,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const ORIGIN = { account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' };
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function eventsFor(count: number, repository = 'team/app'): ImageActionEvent[] {
  return Array.from({ length: count }, (_, index) => {
    const change: ImageChange = { action: index % 2 === 0 ? 'PUSH' : 'DELETE', repository, digest: DIGEST, tag: `v${index}`, eventId: newEventId(), time: new Date().toISOString() };
    return imageActionEvent(change, ORIGIN, newEventId());
  });
}

const FAST = { baseDelayMs: 2, maxDelayMs: 10, timeoutMs: 2_000 };
const readLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');

describe('webhook delivery', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'berth-webhook-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('GIVEN a receiver that answers 500, then drops the connection, then succeeds WHEN events are delivered with a secret THEN every event arrives once accepted, in order, with a signature that verifies with the right secret and fails with a wrong one', async () => {
    const receiver = await startReceiver((n) => (n === 0 ? 'fail-500' : n === 1 ? 'drop' : 'ok'));
    const deadLetterFile = join(work, 'dead-letters.jsonl');
    try {
      const sink = new WebhookSink({ url: receiver.url, secret: 'hook-secret', deadLetterFile, attempts: 4, ...FAST });
      const events = eventsFor(3);
      await sink.deliver(events);

      expect(receiver.received.map((r) => r.answered)).toEqual(['fail-500', 'drop', 'ok', 'ok', 'ok']);
      const accepted = receiver.received.filter((r) => r.answered === 'ok');
      expect(accepted.map((r) => JSON.parse(r.body.toString('utf8')))).toEqual(events);
      // The first event was tried three times, with the same body and so the same signature and id.
      expect(new Set(receiver.received.slice(0, 3).map((r) => r.body.toString('utf8'))).size).toBe(1);
      for (const request of receiver.received) {
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['x-berth-event-id']).toBe(JSON.parse(request.body.toString('utf8')).detail['berth-event-id']);
        expect(request.headers['x-berth-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
        expect(verifyWebhookSignature(request.body, request.headers['x-berth-signature-256'], 'hook-secret')).toBe(true);
        expect(verifyWebhookSignature(request.body, request.headers['x-berth-signature-256'], 'wrong-secret')).toBe(false);
      }
      const tampered = Buffer.from(accepted[0].body.toString('utf8').replace('team/app', 'team/apq'));
      expect(verifyWebhookSignature(tampered, accepted[0].headers['x-berth-signature-256'], 'hook-secret')).toBe(false);
      expect(verifyWebhookSignature(accepted[0].body, undefined, 'hook-secret')).toBe(false);
      expect(verifyWebhookSignature(accepted[0].body, 'sha256=abc', 'hook-secret')).toBe(false);
      expect(existsSync(deadLetterFile)).toBe(false);
    } finally {
      await receiver.close();
    }
  });

  test('GIVEN no secret and credentials in the URL WHEN an event is delivered THEN it carries no signature and Basic authorization', async () => {
    const receiver = await startReceiver(() => 'ok');
    try {
      const url = receiver.url.replace('http://', 'http://hook-user:p%40ss@');
      await new WebhookSink({ url, deadLetterFile: join(work, 'dl.jsonl'), ...FAST }).deliver(eventsFor(1));
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0].headers['x-berth-signature-256']).toBeUndefined();
      expect(receiver.received[0].headers.authorization).toBe(`Basic ${Buffer.from('hook-user:p@ss').toString('base64')}`);
    } finally {
      await receiver.close();
    }
  });

  test('GIVEN a receiver that always fails WHEN events are delivered THEN each is tried the set number of times and lands in the dead-letter file with its attempts, last error and the URL without credentials; a replay to a working receiver delivers them and empties the file', async () => {
    const broken = await startReceiver(() => 'fail-500');
    const deadLetterFile = join(work, 'dead-letters.jsonl');
    const events = eventsFor(2);
    try {
      const url = broken.url.replace('http://', 'http://user:secret-password@');
      await new WebhookSink({ url, secret: 's', deadLetterFile, attempts: 3, ...FAST }).deliver(events);
      expect(broken.received).toHaveLength(6);
    } finally {
      await broken.close();
    }
    const raw = readFileSync(deadLetterFile, 'utf8');
    expect(raw).not.toContain('secret-password');
    const letters = readLines(deadLetterFile).map((line) => JSON.parse(line) as DeadLetter);
    expect(letters.map((letter) => letter.event)).toEqual(events);
    for (const letter of letters) {
      expect(letter).toMatchObject({ url: broken.url, attempts: 3, lastError: 'HTTP 500 Internal Server Error: receiver broken' });
      expect(Number.isNaN(Date.parse(letter.failedAt))).toBe(false);
    }

    const working = await startReceiver(() => 'ok');
    try {
      const outcome = await replayDeadLetters(deadLetterFile, new WebhookSink({ url: working.url, secret: 's', deadLetterFile, ...FAST }));
      expect(outcome).toEqual({ replayed: 2, unreadable: 0 });
      expect(working.received.map((r) => JSON.parse(r.body.toString('utf8')))).toEqual(events);
      expect(existsSync(deadLetterFile)).toBe(false);
    } finally {
      await working.close();
    }
  });

  test('GIVEN a receiver that never answers or drops every connection WHEN an event is delivered THEN the timeout or the dropped connection is the dead letter’s last error', async () => {
    const hanging = await startReceiver(() => 'hang');
    const dropping = await startReceiver(() => 'drop');
    const deadLetterFile = join(work, 'dead-letters.jsonl');
    try {
      await new WebhookSink({ url: hanging.url, deadLetterFile, attempts: 2, ...FAST, timeoutMs: 100 }).deliver(eventsFor(1));
      await new WebhookSink({ url: dropping.url, deadLetterFile, attempts: 2, ...FAST }).deliver(eventsFor(1));
    } finally {
      await hanging.close();
      await dropping.close();
    }
    const [timedOut, dropped] = readLines(deadLetterFile).map((line) => JSON.parse(line) as DeadLetter);
    expect(timedOut).toMatchObject({ url: hanging.url, attempts: 2 });
    expect(timedOut.lastError).toMatch(/timeout/i);
    expect(dropped).toMatchObject({ url: dropping.url, attempts: 2 });
    expect(dropped.lastError).toMatch(/fetch failed: \S+/);
  });

  test('GIVEN a dead-letter file with a line that is not a dead letter and a sink that refuses WHEN replayed THEN nothing is lost: the file keeps every line', async () => {
    const deadLetterFile = join(work, 'dead-letters.jsonl');
    const broken = await startReceiver(() => 'fail-500');
    try {
      await new WebhookSink({ url: broken.url, deadLetterFile, attempts: 1, ...FAST }).deliver(eventsFor(2));
    } finally {
      await broken.close();
    }
    const before = readLines(deadLetterFile);
    appendFileSync(deadLetterFile, 'not json\n');
    await expect(replayDeadLetters(deadLetterFile, { deliver: async () => Promise.reject(new Error('still down')) })).rejects.toThrow('still down');
    expect(readLines(deadLetterFile).sort()).toEqual([...before, 'not json'].sort());
  });
});

describe('the events file', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'berth-events-file-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('GIVEN deliveries one after the other WHEN the file is read THEN each line is one event, in the order delivered', async () => {
    const file = join(work, 'events.jsonl');
    const sink = new EventsFileSink(file);
    const first = eventsFor(3);
    const second = eventsFor(2);
    await sink.deliver(first);
    await sink.deliver(second);
    await sink.deliver([]);
    expect(readLines(file).map((line) => JSON.parse(line))).toEqual([...first, ...second]);
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
  });

  test('GIVEN many concurrent deliveries of long events WHEN the file is read THEN no line is interleaved with another and each delivery’s events keep their order', async () => {
    const file = join(work, 'events.jsonl');
    const sink = new EventsFileSink(file);
    const batches = Array.from({ length: 40 }, (_, batch) => eventsFor(25, `team/batch-${batch}/${'x'.repeat(200)}`));
    await Promise.all(batches.map((events) => sink.deliver(events)));

    const lines = readLines(file);
    expect(lines).toHaveLength(40 * 25);
    const read = lines.map((line) => JSON.parse(line) as ImageActionEvent);
    batches.forEach((events, batch) => {
      const ofBatch = read.filter((event) => event.detail['repository-name'].startsWith(`team/batch-${batch}/`));
      expect(ofBatch).toEqual(events);
    });
  });
});
