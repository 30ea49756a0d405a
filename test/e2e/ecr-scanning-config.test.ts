/**
 * The scanning configuration on `berth serve --config` (issue 15, "API and events"):
 * Put/GetRegistryScanningConfiguration and BatchGetRepositoryScanningConfiguration through
 * @aws-sdk/client-ecr and as raw signed JSON, ENHANCED and malformed rules refused (nothing stored),
 * the effective configuration of each repository (the registry's rules decide, CONTINUOUS_SCAN over
 * SCAN_ON_PUSH; without rules each repository's scanOnPush), authorization (registry-wide `*` for the
 * registry actions, each repository's ARN for the batch), `berth ecr` and the AWS CLI v2 commands,
 * and the configuration kept across a restart (registry settings in LMDB).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  BatchGetRepositoryScanningConfigurationCommand,
  CreateRepositoryCommand,
  ECRClient,
  GetRegistryScanningConfigurationCommand,
  InvalidParameterException,
  PutImageScanningConfigurationCommand,
  PutRegistryScanningConfigurationCommand,
  ValidationException,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { describeWithBinaries, run } from '../support/clients';
import { runEcrCommand } from '../../lambdas/cli/ecr/ecr-cli';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0015', secretAccessKey: 'admin-secret-access-key-example-0015' };
const READER = { accessKeyId: 'AKIAREADEREXAMPLE015', secretAccessKey: 'reader-secret-access-key-example-15' };
const READER_ARN = `arn:aws:iam::${ACCOUNT}:user/reader`;
const TARGET = 'AmazonEC2ContainerRegistry_V20150921.';
const AWS_CLI = '/usr/bin/aws';
const arnOf = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;
const wildcard = (filter: string) => ({ filter, filterType: 'WILDCARD' as const });
const NAME_PATTERN = '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*';

let work: { path: string; remove: () => void };
let dataDir: string;
let configFile: string;
let proc: RegistryProcess;

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

const invalidParameter = (member: string, constraint: string) => `Invalid parameter at '${member}' failed to satisfy constraint: '${constraint}'`;

beforeAll(async () => {
  work = scratchDir('ecr-scanning-config');
  dataDir = join(work.path, 'data');
  configFile = join(work.path, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      registry: { account: ACCOUNT, regions: [REGION] },
      identities: [
        { name: 'admin', ...ADMIN, arn: `arn:aws:iam::${ACCOUNT}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } },
        {
          name: 'reader',
          ...READER,
          arn: READER_ARN,
          policy: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: 'ecr:GetRegistryScanningConfiguration', Resource: '*' },
              { Effect: 'Allow', Action: 'ecr:BatchGetRepositoryScanningConfiguration', Resource: arnOf('prod-*') },
            ],
          },
        },
      ],
    }),
    { mode: 0o600 },
  );
  proc = await startRegistryProcess(dataDir, 0, ['--config', configFile, '--gc-interval', '0', '--lifecycle-interval', '0']);
  for (const [repositoryName, scanOnPush] of [
    ['prod-api', false],
    ['prod-web', true],
    ['team/app', true],
    ['team/tools', false],
  ] as const) {
    await ecr().send(new CreateRepositoryCommand({ repositoryName, imageScanningConfiguration: { scanOnPush } }));
  }
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

const batch = async (...repositoryNames: string[]) => ecr().send(new BatchGetRepositoryScanningConfigurationCommand({ repositoryNames }));
const effective = (name: string, scanOnPush: boolean, scanFrequency: string, filters: string[] = []) => ({
  repositoryArn: arnOf(name),
  repositoryName: name,
  scanOnPush,
  scanFrequency,
  appliedScanFilters: filters.map(wildcard),
});

describe('without a registry configuration, each repository’s scanOnPush decides', () => {
  test('GIVEN nothing put WHEN GetRegistryScanningConfiguration THEN ECR’s default, BASIC with no rules', async () => {
    expect(await raw('GetRegistryScanningConfiguration', {})).toEqual({ status: 200, body: { registryId: ACCOUNT, scanningConfiguration: { scanType: 'BASIC', rules: [] } } });
  });

  test('GIVEN repositories with scanOnPush on and off, and one that does not exist WHEN batch-got THEN SCAN_ON_PUSH / MANUAL, and a REPOSITORY_NOT_FOUND failure', async () => {
    const answer = await raw('BatchGetRepositoryScanningConfiguration', { repositoryNames: ['team/app', 'team/tools', 'team/none', 'team/app'] });
    expect(answer).toEqual({
      status: 200,
      body: {
        scanningConfigurations: [effective('team/app', true, 'SCAN_ON_PUSH'), effective('team/tools', false, 'MANUAL')],
        failures: [{ repositoryName: 'team/none', failureCode: 'REPOSITORY_NOT_FOUND', failureReason: `The repository with name 'team/none' does not exist in the registry with id '${ACCOUNT}'` }],
      },
    });
    // PutImageScanningConfiguration changes it at once.
    await ecr().send(new PutImageScanningConfigurationCommand({ repositoryName: 'team/tools', imageScanningConfiguration: { scanOnPush: true } }));
    expect((await batch('team/tools')).scanningConfigurations).toEqual([effective('team/tools', true, 'SCAN_ON_PUSH')]);
    await ecr().send(new PutImageScanningConfigurationCommand({ repositoryName: 'team/tools', imageScanningConfiguration: { scanOnPush: false } }));
  });
});

describe('PutRegistryScanningConfiguration', () => {
  const rules = [
    { scanFrequency: 'CONTINUOUS_SCAN' as const, repositoryFilters: [wildcard('prod-*')] },
    { scanFrequency: 'SCAN_ON_PUSH' as const, repositoryFilters: [wildcard('*api'), wildcard('tools')] },
  ];

  test('GIVEN BASIC rules with CONTINUOUS_SCAN and SCAN_ON_PUSH WHEN put through the SDK THEN answered, read back, and the rules decide every repository', async () => {
    const put = await ecr().send(new PutRegistryScanningConfigurationCommand({ scanType: 'BASIC', rules }));
    expect(put.registryScanningConfiguration).toEqual({ scanType: 'BASIC', rules });
    const got = await ecr().send(new GetRegistryScanningConfigurationCommand({}));
    expect(got).toMatchObject({ registryId: ACCOUNT, scanningConfiguration: { scanType: 'BASIC', rules } });
    expect((await batch('prod-api', 'prod-web', 'team/app', 'team/tools')).scanningConfigurations).toEqual([
      effective('prod-api', true, 'CONTINUOUS_SCAN', ['prod-*']), // CONTINUOUS_SCAN over the SCAN_ON_PUSH rule's *api
      effective('prod-web', true, 'CONTINUOUS_SCAN', ['prod-*']),
      effective('team/app', false, 'MANUAL'), // its own scanOnPush no longer decides
      effective('team/tools', true, 'SCAN_ON_PUSH', ['tools']), // no wildcard: contained in the name
    ]);
  });

  test('GIVEN a configuration stored WHEN ENHANCED, a malformed rule, 3 rules or an unknown scanType is put THEN refused in ECR’s words, and the stored one stays', async () => {
    const before = await raw('GetRegistryScanningConfiguration', {});
    const enhanced = await ecr().send(new PutRegistryScanningConfigurationCommand({ scanType: 'ENHANCED', rules: [] })).catch((e) => e);
    expect(enhanced).toBeInstanceOf(InvalidParameterException);
    expect(enhanced.message).toBe(
      invalidParameter('scanType', "scanType: ENHANCED scanning is done by Amazon Inspector, which Berth does not have; use BASIC, Berth's own analyzer (its rules take SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL)"),
    );
    const cases: Array<[unknown, string]> = [
      [[{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('ok'), wildcard('Prod/*')] }], "rules[0].repositoryFilters[1].filter: 'Prod/*' must match ^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$ (lowercase letters, digits and *, joined by single . _ - or /)"],
      [[{ scanFrequency: 'MANUAL', repositoryFilters: [] }, { scanFrequency: 'WEEKLY', repositoryFilters: [] }], "rules[1].scanFrequency: 'WEEKLY' must be one of SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL"],
      [[{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }] }], "rules[0].repositoryFilters[0].filterType: 'PREFIX_MATCH' must be one of WILDCARD"],
      [[{ scanFrequency: 'SCAN_ON_PUSH' }], 'rules[0].repositoryFilters: is required (a list of 0 to 100 filters)'],
    ];
    for (const [bad, message] of cases) {
      expect(await raw('PutRegistryScanningConfiguration', { scanType: 'BASIC', rules: bad })).toEqual({ status: 400, body: { __type: 'InvalidParameterException', message: invalidParameter('rules', message) } });
    }
    const three = await raw('PutRegistryScanningConfiguration', { rules: [rules[0], rules[1], rules[1]] });
    expect(three.body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining("at 'rules' failed to satisfy constraint: Member must have length less than or equal to 2") });
    const unknown = await ecr().send(new PutRegistryScanningConfigurationCommand({ scanType: 'INSPECTOR' as never })).catch((e) => e);
    expect(unknown).toBeInstanceOf(ValidationException);
    expect(unknown.message).toBe("1 validation error detected: Value 'INSPECTOR' at 'scanType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, ENHANCED]");
    expect((await raw('PutRegistryScanningConfiguration', { rules: 'all' })).body).toMatchObject({ __type: 'SerializationException' });
    expect(await raw('GetRegistryScanningConfiguration', {})).toEqual(before);
  });

  test('GIVEN BatchGetRepositoryScanningConfiguration without names, with 26, or with a name outside ECR’s pattern WHEN sent THEN ValidationException', async () => {
    expect((await raw('BatchGetRepositoryScanningConfiguration', {})).body).toEqual({
      __type: 'ValidationException',
      message: "1 validation error detected: Value null at 'repositoryNames' failed to satisfy constraint: Member must not be null",
    });
    expect((await raw('BatchGetRepositoryScanningConfiguration', { repositoryNames: [] })).body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('Member must have length greater than or equal to 1') });
    const many = Array.from({ length: 26 }, (_, i) => `team/r${i}`);
    expect((await raw('BatchGetRepositoryScanningConfiguration', { repositoryNames: many })).body).toMatchObject({ __type: 'ValidationException', message: expect.stringContaining('Member must have length less than or equal to 25') });
    const badName = await ecr().send(new BatchGetRepositoryScanningConfigurationCommand({ repositoryNames: ['Team/App'] })).catch((e) => e);
    expect(badName).toBeInstanceOf(ValidationException);
    expect(badName.message).toBe(`1 validation error detected: Value 'Team/App' at 'repositoryNames' failed to satisfy constraint: Member must satisfy regular expression pattern: ${NAME_PATTERN}`);
  });

  test('GIVEN an identity allowed GetRegistryScanningConfiguration and the batch on prod-* only WHEN it puts, or batch-gets another repository THEN AccessDeniedException naming * / that repository’s ARN', async () => {
    expect((await client(READER).send(new GetRegistryScanningConfigurationCommand({}))).scanningConfiguration?.scanType).toBe('BASIC');
    const put = await client(READER).send(new PutRegistryScanningConfigurationCommand({ scanType: 'BASIC', rules: [] })).catch((e) => e);
    expect(put.name).toBe('AccessDeniedException');
    expect(put.message).toBe(`User: ${READER_ARN} is not authorized to perform: ecr:PutRegistryScanningConfiguration on resource: * because no identity-based policy allows the ecr:PutRegistryScanningConfiguration action`);
    expect((await client(READER).send(new BatchGetRepositoryScanningConfigurationCommand({ repositoryNames: ['prod-api', 'prod-web'] }))).scanningConfigurations).toHaveLength(2);
    const other = await client(READER).send(new BatchGetRepositoryScanningConfigurationCommand({ repositoryNames: ['prod-api', 'team/app'] })).catch((e) => e);
    expect(other.name).toBe('AccessDeniedException');
    expect(other.message).toContain(`ecr:BatchGetRepositoryScanningConfiguration on resource: ${arnOf('team/app')}`);
  });
});

describe('berth ecr put-registry-scanning-configuration, get-registry-scanning-configuration, batch-get-repository-scanning-configuration', () => {
  test('GIVEN --scan-type and --rules as JSON (and file://) WHEN put, got and batch-got with berth ecr THEN the AWS CLI’s JSON of what the server stored', async () => {
    const rules = [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('team/*')] }];
    const put = await berth(['put-registry-scanning-configuration', '--scan-type', 'BASIC', '--rules', JSON.stringify(rules)]);
    expect(put).toEqual({ code: 0, out: `${JSON.stringify({ registryScanningConfiguration: { scanType: 'BASIC', rules } }, null, 4)}\n`, err: '' });
    const file = join(work.path, 'rules.json');
    const continuous = [{ scanFrequency: 'CONTINUOUS_SCAN', repositoryFilters: [wildcard('*')] }];
    writeFileSync(file, JSON.stringify(continuous));
    expect((await berth(['put-registry-scanning-configuration', '--rules', `file://${file}`])).code).toBe(0);
    const got = await berth(['get-registry-scanning-configuration']);
    expect(got).toEqual({ code: 0, out: `${JSON.stringify({ registryId: ACCOUNT, scanningConfiguration: { scanType: 'BASIC', rules: continuous } }, null, 4)}\n`, err: '' });
    const batched = await berth(['batch-get-repository-scanning-configuration', '--repository-names', 'team/app', 'team/gone']);
    expect(batched.code).toBe(0);
    expect(JSON.parse(batched.out)).toEqual({
      scanningConfigurations: [effective('team/app', true, 'CONTINUOUS_SCAN', ['*'])],
      failures: [{ repositoryName: 'team/gone', failureCode: 'REPOSITORY_NOT_FOUND', failureReason: `The repository with name 'team/gone' does not exist in the registry with id '${ACCOUNT}'` }],
    });
    const text = await berth(['batch-get-repository-scanning-configuration', '--repository-names', 'team/app', '--query', 'scanningConfigurations[0].scanFrequency', '--output', 'text']);
    expect(text).toEqual({ code: 0, out: 'CONTINUOUS_SCAN\n', err: '' });
  });

  test('GIVEN ENHANCED or --rules that are not JSON WHEN put with berth ecr THEN the CLI’s error wording and exit codes, nothing stored', async () => {
    const before = await raw('GetRegistryScanningConfiguration', {});
    const enhanced = await berth(['put-registry-scanning-configuration', '--scan-type', 'ENHANCED']);
    expect(enhanced.code).toBe(254);
    expect(enhanced.err).toContain("An error occurred (InvalidParameterException) when calling the PutRegistryScanningConfiguration operation: Invalid parameter at 'scanType' failed to satisfy constraint: 'scanType: ENHANCED scanning is done by Amazon Inspector");
    expect(await berth(['put-registry-scanning-configuration', '--rules', 'scanFrequency=SCAN_ON_PUSH'])).toEqual({ code: 252, out: '', err: expect.stringContaining('--rules takes JSON') });
    expect(await raw('GetRegistryScanningConfiguration', {})).toEqual(before);
  });
});

describeWithBinaries([AWS_CLI], `AWS CLI v2 (${AWS_CLI}) scanning configuration commands`, () => {
  const env = {
    AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
  const globals = () => ['--region', REGION, '--endpoint-url', proc.url, '--output', 'json'];
  const aws = (args: string[]) => JSON.parse(run(AWS_CLI, ['ecr', ...args, ...globals()], { env, timeoutMs: 60_000 }) || '{}');

  test('GIVEN the CLI’s shorthand and JSON WHEN a runbook puts, gets and batch-gets THEN every answer is the configuration put and its effect', () => {
    expect(run(AWS_CLI, ['--version'], { env })).toMatch(/^aws-cli\/2\./);
    const put = aws(['put-registry-scanning-configuration', '--scan-type', 'BASIC', '--rules', 'scanFrequency=SCAN_ON_PUSH,repositoryFilters=[{filter=prod-*,filterType=WILDCARD}]', 'scanFrequency=CONTINUOUS_SCAN,repositoryFilters=[{filter=*app,filterType=WILDCARD}]']);
    const rules = [
      { scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('prod-*')] },
      { scanFrequency: 'CONTINUOUS_SCAN', repositoryFilters: [wildcard('*app')] },
    ];
    expect(put).toEqual({ registryScanningConfiguration: { scanType: 'BASIC', rules } });
    expect(aws(['get-registry-scanning-configuration'])).toEqual({ registryId: ACCOUNT, scanningConfiguration: { scanType: 'BASIC', rules } });
    expect(aws(['batch-get-repository-scanning-configuration', '--repository-names', 'prod-web', 'team/app', 'team/tools'])).toEqual({
      scanningConfigurations: [effective('prod-web', true, 'SCAN_ON_PUSH', ['prod-*']), effective('team/app', true, 'CONTINUOUS_SCAN', ['*app']), effective('team/tools', false, 'MANUAL')],
      failures: [],
    });
    const json = aws(['put-registry-scanning-configuration', '--rules', JSON.stringify([{ scanFrequency: 'MANUAL', repositoryFilters: [wildcard('*')] }])]);
    expect(json.registryScanningConfiguration).toEqual({ scanType: 'BASIC', rules: [{ scanFrequency: 'MANUAL', repositoryFilters: [wildcard('*')] }] });
  });

  test('GIVEN ENHANCED WHEN put with the CLI THEN exit 254 and the refusal in the CLI’s words', () => {
    const cli = spawnSync(AWS_CLI, ['ecr', 'put-registry-scanning-configuration', '--scan-type', 'ENHANCED', ...globals()], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
    expect(cli.status).toBe(254);
    expect(cli.stderr).toContain('An error occurred (InvalidParameterException) when calling the PutRegistryScanningConfiguration operation: Invalid parameter at \'scanType\'');
    expect(cli.stderr).toContain('Amazon Inspector, which Berth does not have');
  });
});

describe('the configuration is kept in the registry settings', () => {
  test('GIVEN a configuration put WHEN berth serve restarts on the same data directory THEN it is read back and still decides', async () => {
    const rules = [{ scanFrequency: 'SCAN_ON_PUSH' as const, repositoryFilters: [wildcard('team/tools')] }];
    await ecr().send(new PutRegistryScanningConfigurationCommand({ scanType: 'BASIC', rules }));
    await proc.stop();
    proc = await startRegistryProcess(dataDir, 0, ['--config', configFile, '--gc-interval', '0', '--lifecycle-interval', '0']);
    expect((await ecr().send(new GetRegistryScanningConfigurationCommand({}))).scanningConfiguration).toEqual({ scanType: 'BASIC', rules });
    expect((await batch('team/tools', 'team/app')).scanningConfigurations).toEqual([effective('team/tools', true, 'SCAN_ON_PUSH', ['team/tools']), effective('team/app', false, 'MANUAL')]);
  }, 60_000);
});
