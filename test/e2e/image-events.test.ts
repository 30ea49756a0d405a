/**
 * Image events in local mode, from a real `berth serve` process: every path that changes images
 * emits exactly its events (the shared suite, test/support/image-events.ts, reading `--events-file`);
 * a webhook receiver that fails its first answers gets every event in the end, signed; and a SIGKILL
 * between a commit and its publication loses nothing (the LMDB outbox is drained after the restart).
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import type { ImageActionEvent } from '../../lambdas/contracts/events';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../lambdas/events/webhook-sink';
import { describeWithBinaries } from '../support/clients';
import { describeImageEventPaths, readEventLines, type EventedRegistry } from '../support/image-events';
import { imageBlobs, makeImage } from '../support/oci-fixtures';
import { writeAdminConfig } from '../support/identity-config';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const ADMIN = { accessKeyId: 'AKIAEVENTSADMIN00001', secretAccessKey: 'events-admin-secret-access-key-0001' };
const WEBHOOK_SECRET = 'webhook-secret-for-the-events-test';

interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

/** A webhook receiver that answers each request as `answer(n)` says: a status, or 'hang' (no answer at all). */
async function startReceiver(answer: (n: number) => number | 'hang'): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const what = answer(received.length);
      received.push({ body: Buffer.concat(chunks), headers: request.headers });
      if (what !== 'hang') response.writeHead(what).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describeWithBinaries(['skopeo'], 'image events in local mode (berth serve --events-file --webhook)', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let ecr: ECRClient;
  let evented: EventedRegistry;
  const eventsFile = () => join(work.path, 'events.jsonl');

  beforeAll(async () => {
    work = scratchDir('image-events');
    // The receiver refuses its first three answers: the webhook sink retries them (backoff of 0.5 s, 1 s, 2 s at most).
    receiver = await startReceiver((n) => (n < 3 ? 503 : 204));
    proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN, extra: { webhookSecret: WEBHOOK_SECRET } }), '--events-file', eventsFile(), '--webhook', receiver.url]);
    ecr = new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    evented = {
      url: proc.url,
      host: proc.host,
      ecr,
      basic: `Basic ${token}`,
      skopeoCreds: Buffer.from(token, 'base64').toString(),
      events: () => readEventLines(eventsFile()),
      account: ACCOUNT,
      region: REGION,
      source: 'berth.ecr',
      work: work.path,
    };
  }, 60_000);
  afterAll(async () => {
    ecr?.destroy();
    await proc?.stop();
    await receiver?.close();
    work?.remove();
  });

  describeImageEventPaths('every path emits exactly its events', () => evented);

  test('GIVEN a webhook that failed its first answers THEN it received every event of the events file in the end, each signed with the secret, which a wrong secret does not verify', async () => {
    const expected = new Set(readEventLines(eventsFile()).map((e) => e.detail['berth-event-id']));
    expect(expected.size).toBeGreaterThan(10);
    const accepted = () => receiver.received.slice(3).map((r) => (JSON.parse(r.body.toString()) as ImageActionEvent).detail['berth-event-id']);
    await waitFor('the webhook to receive every event', () => (expected.size === new Set(accepted()).size ? true : undefined), 30_000);
    expect(new Set(accepted())).toEqual(expected);
    for (const request of receiver.received) {
      expect(verifyWebhookSignature(request.body, request.headers[SIGNATURE_HEADER.toLowerCase()], WEBHOOK_SECRET)).toBe(true);
      expect(verifyWebhookSignature(request.body, request.headers[SIGNATURE_HEADER.toLowerCase()], 'not-the-secret')).toBe(false);
    }
    // The refused answers were retried: the first event's body came four times, identical.
    expect(new Set(receiver.received.slice(0, 4).map((r) => r.body.toString())).size).toBe(1);
  }, 60_000);
});

describe('image events survive a SIGKILL between the commit and the publication', () => {
  test('GIVEN a push committed while its event is on its way WHEN the server is killed and restarted THEN the event arrives, once per berth-event-id', async () => {
    const work = scratchDir('image-events-kill');
    // The receiver never answers its first request: the event is committed and in flight when the server dies.
    const receiver = await startReceiver((n) => (n === 0 ? 'hang' : 204));
    const args = ['--webhook', receiver.url];
    const dataDir = join(work.path, 'data');
    let proc = await startRegistryProcess(dataDir, 0, args);
    try {
      const image = makeImage({ layers: [128], seed: 'events-kill' });
      for (const blob of imageBlobs(image)) {
        expect((await fetch(`${proc.url}/v2/kill/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes })).status).toBe(201);
      }
      const put = await fetch(`${proc.url}/v2/kill/app/manifests/v1`, { method: 'PUT', body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType } });
      expect(put.status).toBe(201);
      await waitFor('the first delivery attempt', () => (receiver.received.length > 0 ? true : undefined));
      await proc.kill('SIGKILL');

      proc = await startRegistryProcess(dataDir, 0, args);
      const events = await waitFor('the event after the restart', () => (receiver.received.length > 1 ? receiver.received.map((r) => JSON.parse(r.body.toString()) as ImageActionEvent) : undefined));
      const ids = new Set(events.map((e) => e.detail['berth-event-id']));
      expect(ids.size).toBe(1);
      expect(events[1].detail).toMatchObject({ 'action-type': 'PUSH', 'repository-name': 'kill/app', 'image-digest': image.manifest.digest, 'image-tag': 'v1' });
      // A consumer deduplicating on berth-event-id sees the push once; nothing else arrives.
      await sleep(1000);
      expect(new Set(receiver.received.map((r) => (JSON.parse(r.body.toString()) as ImageActionEvent).detail['berth-event-id'])).size).toBe(1);
    } finally {
      await proc.stop();
      await receiver.close();
      work.remove();
    }
  }, 60_000);
});
