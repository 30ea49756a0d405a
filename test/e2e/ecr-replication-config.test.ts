/**
 * The replication configuration on `berth serve --config` whose `replicationDestinations` name two
 * destinations (issue 14, "Configuration"): PutReplicationConfiguration through @aws-sdk/client-ecr and
 * as raw signed JSON with `deleteReplication` (which the SDK drops), DescribeRegistry answering what
 * was put, destinations the deployment does not know and the registry itself refused with
 * InvalidParameterException, `berth ecr put-replication-configuration` / `describe-registry` carrying
 * `deleteReplication` both ways, DescribeImageReplicationStatus for a pushed image, and a --config
 * whose destinations are wrong refused at start-up.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  CreateRepositoryCommand,
  DescribeImageReplicationStatusCommand,
  DescribeRegistryCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  ImageNotFoundException,
  InvalidParameterException,
  PutReplicationConfigurationCommand,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage } from '../support/oci-fixtures';
import { runEcrCommand } from '../../lambdas/cli/ecr/ecr-cli';

const ACCOUNT = '111122223333';
const PARTNER = '444455556666';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0014', secretAccessKey: 'admin-secret-access-key-example-0014' };
const READER = { accessKeyId: 'AKIAREADEREXAMPLE014', secretAccessKey: 'reader-secret-access-key-example-14' };
const READER_ARN = `arn:aws:iam::${ACCOUNT}:user/reader`;
const WEST = { region: 'eu-west-1', registryId: ACCOUNT };
const PARTNER_EAST = { region: 'us-east-2', registryId: PARTNER };
const TARGET = 'AmazonEC2ContainerRegistry_V20150921.';

let work: { path: string; remove: () => void };
let proc: RegistryProcess;
let basic: string;

const client = (credentials = ADMIN) => new ECRClient({ region: REGION, endpoint: proc.url, credentials, maxAttempts: 1 });
const ecr = () => client();

/** An ECR JSON request signed as the SDK signs it, with the body exactly as given. */
async function raw(action: string, input: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(proc.url);
  const body = JSON.stringify(input);
  const signed = await new SignatureV4({ service: 'ecr', region: REGION, credentials: ADMIN, sha256: Sha256 }).sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${TARGET}${action}` },
    body,
  });
  const res = await fetch(`${proc.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function berth(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  try {
    const code = await runEcrCommand(['ecr', ...args, '--region', REGION, '--endpoint-url', proc.url], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    return { code, out, err };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

const destinationConfig = (destination: { region: string; registryId: string }, port: number) => ({
  ...destination,
  endpoint: `http://127.0.0.1:${port}`,
  accessKeyId: `AKIAREPLICATE${port}000`.slice(0, 20),
  secretAccessKey: 'replication-secret-access-key-0014',
});

function writeConfig(file: string, replicationDestinations: unknown): void {
  writeFileSync(
    file,
    JSON.stringify({
      registry: { account: ACCOUNT, regions: [REGION] },
      replicationDestinations,
      identities: [
        { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } },
        {
          name: 'reader',
          ...READER,
          arn: READER_ARN,
          policy: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: 'ecr:DescribeRegistry', Resource: '*' },
              { Effect: 'Allow', Action: 'ecr:DescribeImageReplicationStatus', Resource: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/prod/*` },
            ],
          },
        },
      ],
    }),
    { mode: 0o600 },
  );
}

beforeAll(async () => {
  work = scratchDir('ecr-replication-config');
  const file = join(work.path, 'config.json');
  // The destinations need not be running: configuration only says where they are.
  writeConfig(file, [destinationConfig(WEST, 5101), destinationConfig(PARTNER_EAST, 5102)]);
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', file, '--gc-interval', '0', '--lifecycle-interval', '0']);
  const token = await ecr().send(new GetAuthorizationTokenCommand({}));
  basic = `Basic ${token.authorizationData![0].authorizationToken}`;
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

describe('PutReplicationConfiguration and DescribeRegistry', () => {
  test('GIVEN nothing put WHEN DescribeRegistry THEN no rules', async () => {
    await ecr().send(new PutReplicationConfigurationCommand({ replicationConfiguration: { rules: [] } }));
    expect(await ecr().send(new DescribeRegistryCommand({}))).toMatchObject({ registryId: ACCOUNT, replicationConfiguration: { rules: [] } });
  });

  test('GIVEN rules for both configured destinations WHEN put through the SDK THEN answered and described in ECR’s shape', async () => {
    const replicationConfiguration = {
      rules: [
        { destinations: [WEST], repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' as const }] },
        { destinations: [PARTNER_EAST, WEST] },
      ],
    };
    const put = await ecr().send(new PutReplicationConfigurationCommand({ replicationConfiguration }));
    expect(put.replicationConfiguration).toEqual(replicationConfiguration);
    const described = await ecr().send(new DescribeRegistryCommand({}));
    expect(described.registryId).toBe(ACCOUNT);
    expect(described.replicationConfiguration).toEqual(replicationConfiguration);
  });

  test('GIVEN deleteReplication as raw signed JSON WHEN put THEN answered and kept by DescribeRegistry’s raw JSON; the SDK drops it on reading', async () => {
    const replicationConfiguration = {
      rules: [
        { destinations: [WEST], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } },
        { destinations: [PARTNER_EAST], deleteReplication: { enabled: false } },
      ],
    };
    const put = await raw('PutReplicationConfiguration', { replicationConfiguration });
    expect(put).toEqual({ status: 200, body: { replicationConfiguration } });
    expect(await raw('DescribeRegistry', {})).toEqual({ status: 200, body: { registryId: ACCOUNT, replicationConfiguration } });
    const viaSdk = await ecr().send(new DescribeRegistryCommand({}));
    expect(viaSdk.replicationConfiguration!.rules![0]).not.toHaveProperty('deleteReplication');
  });

  test('GIVEN a destination configuration does not know, or the registry itself WHEN put THEN InvalidParameterException naming the rule and field, and the stored configuration stays', async () => {
    const before = await raw('DescribeRegistry', {});
    const unknown = await ecr()
      .send(new PutReplicationConfigurationCommand({ replicationConfiguration: { rules: [{ destinations: [WEST] }, { destinations: [{ region: 'ap-south-1', registryId: PARTNER }] }] } }))
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(InvalidParameterException);
    expect(unknown.message).toBe(
      `Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: 'rules[1].destinations[0]: region ap-south-1 of account ${PARTNER} is not a destination this deployment knows (known: eu-west-1/${ACCOUNT}, us-east-2/${PARTNER}; see replicationDestinations in the --config file (docs/replication.md))'`,
    );
    const itself = await ecr()
      .send(new PutReplicationConfigurationCommand({ replicationConfiguration: { rules: [{ destinations: [{ region: REGION, registryId: ACCOUNT }] }] } }))
      .catch((e) => e);
    expect(itself).toBeInstanceOf(InvalidParameterException);
    expect(itself.message).toContain(`rules[0].destinations[0]: region ${REGION} of account ${ACCOUNT} is this registry itself`);
    expect(await raw('DescribeRegistry', {})).toEqual(before);
  });

  test('GIVEN ECR’s limits and patterns broken WHEN put THEN InvalidParameterException naming the rule and field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ rules: Array.from({ length: 11 }, () => ({ destinations: [] })) }, 'rules: must hold at most 10 rules; it holds 11'],
      [{ rules: [{ destinations: [WEST], repositoryFilters: [] }] }, 'rules[0].repositoryFilters: must hold at least 1 filters; it holds 0'],
      [{ rules: [{ destinations: [{ region: 'EU-WEST-1', registryId: ACCOUNT }] }] }, "rules[0].destinations[0].region: 'EU-WEST-1' must match ^[0-9a-z-]{2,25}$"],
      [{ rules: [{ destinations: [WEST], repositoryFilters: [{ filter: 'prod', filterType: 'SUFFIX_MATCH' }] }] }, "rules[0].repositoryFilters[0].filterType: 'SUFFIX_MATCH' must be one of PREFIX_MATCH"],
      [{ rules: [{ destinations: [WEST], deleteReplication: { enabled: 'yes' } }] }, 'rules[0].deleteReplication.enabled: is required and must be true or false'],
    ];
    for (const [replicationConfiguration, message] of cases) {
      const answer = await raw('PutReplicationConfiguration', { replicationConfiguration });
      expect(answer).toEqual({ status: 400, body: { __type: 'InvalidParameterException', message: `Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: '${message}'` } });
    }
    expect((await raw('PutReplicationConfiguration', {})).body).toMatchObject({ __type: 'ValidationException' });
  });

  test('GIVEN an identity allowed DescribeRegistry only WHEN it puts a configuration THEN AccessDeniedException against *', async () => {
    const err = await client(READER).send(new PutReplicationConfigurationCommand({ replicationConfiguration: { rules: [] } })).catch((e) => e);
    expect(err.name).toBe('AccessDeniedException');
    expect(err.message).toBe(`User: ${READER_ARN} is not authorized to perform: ecr:PutReplicationConfiguration on resource: * because no identity-based policy allows the ecr:PutReplicationConfiguration action`);
    expect((await client(READER).send(new DescribeRegistryCommand({}))).registryId).toBe(ACCOUNT);
  });
});

describe('berth ecr put-replication-configuration and describe-registry carry deleteReplication', () => {
  test('GIVEN a file:// configuration with deleteReplication WHEN put and described with berth ecr THEN both print it, and the server stored it', async () => {
    const replicationConfiguration = {
      rules: [
        { destinations: [PARTNER_EAST], repositoryFilters: [{ filter: 'team-a/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } },
        { destinations: [WEST] },
      ],
    };
    const file = join(work.path, 'replication.json');
    writeFileSync(file, JSON.stringify(replicationConfiguration));
    const put = await berth(['put-replication-configuration', '--replication-configuration', `file://${file}`]);
    expect(put).toEqual({ code: 0, out: `${JSON.stringify({ replicationConfiguration }, null, 4)}\n`, err: '' });
    expect((await raw('DescribeRegistry', {})).body).toEqual({ registryId: ACCOUNT, replicationConfiguration });
    const described = await berth(['describe-registry']);
    expect(described).toEqual({ code: 0, out: `${JSON.stringify({ registryId: ACCOUNT, replicationConfiguration }, null, 4)}\n`, err: '' });
    const query = await berth(['describe-registry', '--query', 'replicationConfiguration.rules[0].deleteReplication.enabled', '--output', 'text']);
    expect(query).toEqual({ code: 0, out: 'True\n', err: '' });
  });

  test('GIVEN a refused configuration or a value that is not JSON WHEN put with berth ecr THEN the CLI’s error wording and exit codes', async () => {
    const refused = await berth(['put-replication-configuration', '--replication-configuration', JSON.stringify({ rules: [{ destinations: [{ region: 'ap-south-1', registryId: PARTNER }] }] })]);
    expect(refused.code).toBe(254);
    expect(refused.err).toContain('An error occurred (InvalidParameterException) when calling the PutReplicationConfiguration operation: Invalid parameter at');
    expect(await berth(['put-replication-configuration', '--replication-configuration', 'rules=[]'])).toEqual({ code: 252, out: '', err: expect.stringContaining('--replication-configuration takes JSON') });
  });
});

describe('DescribeImageReplicationStatus', () => {
  test('GIVEN a pushed image and destinations that cannot be reached WHEN its status is asked THEN IN_PROGRESS (retrying) for each destination its repository’s rules give; none outside the filters', async () => {
    await ecr().send(
      new PutReplicationConfigurationCommand({
        replicationConfiguration: { rules: [{ destinations: [WEST], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }] }, { destinations: [PARTNER_EAST, WEST] }] },
      }),
    );
    const image = makeImage({ layers: [300], seed: 'replication-status' });
    for (const repository of ['prod/app', 'dev/app']) {
      await ecr().send(new CreateRepositoryCommand({ repositoryName: repository }));
      for (const blob of imageBlobs(image)) {
        const res = await fetch(`${proc.url}/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: basic } });
        expect(res.status).toBe(201);
      }
      const res = await fetch(`${proc.url}/v2/${repository}/manifests/v1`, { method: 'PUT', body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType, Authorization: basic } });
      expect(res.status).toBe(201);
    }
    // The statuses are the replicator's records: IN_PROGRESS once the push's event queued its jobs (its retries keep it so).
    for (const repositoryName of ['prod/app', 'dev/app']) {
      const deadline = Date.now() + 30_000;
      while ((await ecr().send(new DescribeImageReplicationStatusCommand({ repositoryName, imageId: { imageTag: 'v1' } }))).replicationStatuses?.length !== 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const prod = await ecr().send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/app', imageId: { imageTag: 'v1' } }));
    expect(prod).toMatchObject({
      repositoryName: 'prod/app',
      imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' },
      replicationStatuses: [
        { ...WEST, status: 'IN_PROGRESS' },
        { ...PARTNER_EAST, status: 'IN_PROGRESS' },
      ],
    });
    const dev = await ecr().send(new DescribeImageReplicationStatusCommand({ repositoryName: 'dev/app', imageId: { imageDigest: image.manifest.digest } }));
    expect(dev.replicationStatuses).toEqual([
      { ...PARTNER_EAST, status: 'IN_PROGRESS' },
      { ...WEST, status: 'IN_PROGRESS' },
    ]);
    // Authorized per repository: the reader may ask about prod/ only.
    expect((await client(READER).send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/app', imageId: { imageTag: 'v1' } }))).replicationStatuses).toHaveLength(2);
    await expect(client(READER).send(new DescribeImageReplicationStatusCommand({ repositoryName: 'dev/app', imageId: { imageTag: 'v1' } }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    // berth ecr prints the same.
    const cli = await berth(['describe-image-replication-status', '--repository-name', 'dev/app', '--image-id', 'imageTag=v1']);
    expect(JSON.parse(cli.out)).toEqual({ repositoryName: 'dev/app', imageId: { imageDigest: image.manifest.digest, imageTag: 'v1' }, replicationStatuses: dev.replicationStatuses });
  }, 60_000);

  test('GIVEN an unknown image or repository WHEN asked THEN ImageNotFoundException / RepositoryNotFoundException', async () => {
    await ecr().send(new CreateRepositoryCommand({ repositoryName: 'prod/empty' }));
    const missing = await ecr().send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/empty', imageId: { imageTag: 'v9' } })).catch((e) => e);
    expect(missing).toBeInstanceOf(ImageNotFoundException);
    expect(missing.message).toBe(`The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist within the repository with name 'prod/empty' in the registry with id '${ACCOUNT}'`);
    await expect(ecr().send(new DescribeImageReplicationStatusCommand({ repositoryName: 'prod/none', imageId: { imageTag: 'v1' } }))).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });
});

describe('replicationDestinations of the --config file', () => {
  test('GIVEN a destination that is the registry itself, or without an endpoint WHEN berth serve starts THEN it stops with a message naming the entry', () => {
    for (const [entry, message] of [
      [destinationConfig({ region: REGION, registryId: ACCOUNT }, 5103), `replicationDestinations[0] is this registry itself (region ${REGION}, account ${ACCOUNT})`],
      [{ ...destinationConfig(WEST, 5104), endpoint: undefined }, 'replicationDestinations[0].endpoint must be the http:// or https:// URL'],
    ] as const) {
      const file = join(work.path, 'bad-config.json');
      writeConfig(file, [entry]);
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'serve', '--port', '0', '--data-dir', join(work.path, 'never'), '--config', file], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`${file}: ${message}`);
    }
  }, 60_000);
});
