/**
 * Image events in the emulated AWS mode (`berth serve --emulate-aws`): the same paths as in local mode
 * (the shared suite, test/support/image-events.ts), now through the stack's wiring: the registry
 * handler writes outbox items in DynamoDB Local, the table's stream feeds the real publisher handler
 * through the emulated event source mapping, and the EventBridge stand-in writes what it accepted to
 * `<data-dir>/events.jsonl`, which is what this suite reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { HttpRequest as SmithyHttpRequest, RequestSigningArguments } from '@smithy/types';
import { describeWithBinaries } from '../support/clients';
import { describeImageEventPaths, readEventLines, type EventedRegistry } from '../support/image-events';
import { writeAdminConfig } from '../support/identity-config';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const ACCOUNT = '210987654321';
const REGION = 'eu-central-1';
const SOURCE = 'team.registry';
const ADMIN = { accessKeyId: 'AKIAEMUEVENTSADMIN01', secretAccessKey: 'emulated-events-admin-secret-0001' };

describeWithBinaries(['java', 'skopeo'], 'image events in the emulated AWS mode (stream, publisher, EventBridge stand-in)', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess;
  let ecr: ECRClient;
  let evented: EventedRegistry;

  beforeAll(async () => {
    work = scratchDir('emulated-image-events');
    const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
    const dataDir = join(work.path, 'data');
    proc = await startRegistryProcess(dataDir, 0, ['--emulate-aws', '--config', config, '--event-source', SOURCE]);
    const described = JSON.parse(readFileSync(join(dataDir, 'emulated-aws.json'), 'utf8')) as { events: string };
    expect(described.events).toBe(join(dataDir, 'events.jsonl'));
    // @aws-sdk/client-ecr signing for execute-api, as the stack's API Gateway IAM authorization wants.
    const signer = new SignatureV4({ service: 'execute-api', region: REGION, sha256: Sha256, credentials: ADMIN });
    ecr = new ECRClient({
      region: REGION,
      endpoint: proc.url,
      credentials: ADMIN,
      maxAttempts: 1,
      signer: async () => ({ sign: (request: SmithyHttpRequest, args?: RequestSigningArguments) => signer.sign(request, { ...args, signingService: 'execute-api' }) }),
    });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0].authorizationToken!;
    evented = {
      url: proc.url,
      host: proc.host,
      ecr,
      basic: `Basic ${token}`,
      skopeoCreds: Buffer.from(token, 'base64').toString(),
      events: () => readEventLines(described.events),
      account: ACCOUNT,
      region: REGION,
      source: SOURCE,
      work: work.path,
    };
  }, 120_000);
  afterAll(async () => {
    ecr?.destroy();
    await proc?.stop();
    work?.remove();
  });

  describeImageEventPaths('every path emits exactly its events, through the stack\'s wiring', () => evented);
});

describe('the emulated AWS mode refuses an event source EventBridge would refuse', () => {
  test('GIVEN --event-source aws.ecr WHEN berth serve --emulate-aws starts THEN it stops with a message naming the reserved prefix', async () => {
    const work = scratchDir('emulated-events-source');
    try {
      await expect(startRegistryProcess(join(work.path, 'data'), 0, ['--emulate-aws', '--event-source', 'aws.ecr'])).rejects.toThrow(/reserves for AWS services/);
    } finally {
      work.remove();
    }
  });
});
