#!/usr/bin/env -S node --import tsx
/**
 * The `berth` command line. `berth serve` runs the registry on this machine with embedded
 * storage (what `npm start` does), or with `--emulate-aws` the AWS path (DynamoDB Local, an
 * S3 stand-in, the Lambda handlers behind an API Gateway simulator, the ingest server).
 * `berth ingest` is the ingest service's container command (DynamoDB and S3 from the environment).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { jsonLogger } from '../lambdas/core/log';
import { createRouter } from '../lambdas/http/router';
import { createRegistryAccess, deferredCanPull } from '../lambdas/http/registry-access';
import { startNodeServer } from '../lambdas/server/node-server';
import { openLocalRegistry } from '../lambdas/server/local-registry';
import { StorageLayoutError } from '../lambdas/storage/errors';
import { DataDirInUseError } from '../lambdas/server/data-dir-lock';
import { IdentityConfigError, loadIdentities, loadOrCreateTokenSigner, loadOrCreateDownloadTokens, readIdentityConfig, type LocalIdentities } from '../lambdas/server/identities';
import { localControlPlane } from '../lambdas/server/local-control-plane';
import { RegistryTokens } from '../lambdas/core/registry-tokens';

const HELP = `Usage: berth serve [options]      (npm start -- [options])
       berth ingest [--port N] [--host ADDR] [--body-idle-timeout 60s]
       berth ecr get-login-password --endpoint-url URL [--region R] [--execute-api]
       berth gc [--data-dir DIR] [--dry-run] [--min-age 1h]

Runs the Berth registry on this machine, with its data in a local directory.

Options:
  --host ADDR        address to listen on (default 127.0.0.1; loopback only until
                     identities exist: an open registry on a network is nobody's intent)
  --config FILE      identities (access keys, their ARNs and identity policies) and the
                     registry's account and regions: see docs/local-identities.md. The
                     environment variables BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY
                     add an admin identity (every ecr: action). With identities, the ECR
                     API (POST /, SigV4) answers: aws ecr get-login-password --endpoint-url
  --challenge bearer|basic
                     with identities: the WWW-Authenticate challenge of a 401 (default
                     bearer: the Docker token flow, with which docker pulls public
                     repositories without login; basic: what ECR presents)
  --port N           port to listen on (default 5000; 0 picks a free port)
  --data-dir DIR     where blobs and metadata live (default ./data)
  --tls-cert FILE    PEM certificate: serve HTTPS (needs --tls-key)
  --tls-key FILE     PEM private key for --tls-cert
  --body-idle-timeout DURATION
                     a request body that sends nothing for this long is cut: the
                     request fails, its connection is closed, and the upload keeps
                     what it acknowledged, so the client resumes (default 60s; 30s,
                     2m, a number of seconds, or 0 for never; berth ingest too)
  --emulate-aws      run the AWS path instead: DynamoDB Local (needs java), an S3
                     stand-in, the Lambda handlers behind a local API Gateway, and
                     the ingest server; everything in memory (see the README)
  --ingest-port N    with --emulate-aws: port of the ingest server (default: a free one)
  --basic-auth USER:PASSWORD
                     with --emulate-aws: the credential the authorizer accepts
                     (default: anonymous, loopback only; not with identities)
                     With --emulate-aws, --config and BERTH_ACCESS_KEY_ID work as for
                     serve: POST / takes SigV4 for execute-api (API Gateway's IAM
                     authorization; berth ecr get-login-password --execute-api), tokens
                     are signed by a KMS stand-in (a P-256 key in the data directory)
  --public-repositories
                     with --emulate-aws and identities: the stack's publicRepositories
                     (anonymous pulls of repositories whose policy allows Principal "*")
  -h, --help         show this help

berth ingest: the ingest service (upload bytes, authorized by upload tokens) on
DynamoDB and S3, configured by TABLE_NAME, BUCKET_NAME and UPLOAD_TOKEN_SECRET_ARN;
--port (default 8080), --host (default 0.0.0.0), --body-idle-timeout as for serve;
GET /healthz answers 200.

berth ecr get-login-password: the password of an ECR login token (GetAuthorizationToken with
the default AWS credential chain), for docker login -u AWS --password-stdin. --region defaults
to AWS_REGION, AWS_DEFAULT_REGION, then us-east-1; --execute-api signs for API Gateway's IAM
authorization (the deployed stack), which the AWS CLI cannot do.

berth gc: reclaims disk space in a local data directory (default ./data) while no server
uses it (stop the server first). As distribution's garbage-collect, a blob stays only while
a manifest in its repository uses it: blobs of deleted images and of manifests never pushed
are unlinked, and content no repository links is removed. --dry-run lists what would go;
--min-age keeps what changed more recently (default 1h; 30m, 2h, 1d, or 0).
`;

/** Ctrl-C and `docker stop` close the server (and its stores) before the process exits. */
function closeOnSignals(close: () => Promise<void>): void {
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** "1 manifest", "2 manifests". */
const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function fail(message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(2);
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

async function serve(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5000' },
    'data-dir': { type: 'string', default: './data' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'emulate-aws': { type: 'boolean', default: false },
    'ingest-port': { type: 'string' },
    'basic-auth': { type: 'string' },
    'public-repositories': { type: 'boolean', default: false },
    challenge: { type: 'string', default: 'bearer' },
    config: { type: 'string' },
    'body-idle-timeout': { type: 'string', default: '60s' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const port = parsePort(values.port, '--port');
  const bodyIdleTimeoutMs = parseBodyIdleTimeout(values['body-idle-timeout']);
  if (values['emulate-aws']) return emulateAws(values, port, bodyIdleTimeoutMs);
  if (values['ingest-port'] !== undefined || values['basic-auth'] !== undefined || values['public-repositories']) {
    fail('--ingest-port, --basic-auth and --public-repositories go with --emulate-aws (in local mode a repository is public when its policy allows Principal "*")');
  }
  let identities: LocalIdentities;
  try {
    identities = loadIdentities(values.config !== undefined ? readIdentityConfig(values.config) : undefined);
  } catch (err) {
    if (err instanceof IdentityConfigError) fail(values.config !== undefined ? `${values.config}: ${err.message}` : err.message);
    throw err;
  }
  if (!isLoopback(values.host) && identities.identities.length === 0) {
    fail(
      `refusing to listen on ${values.host}: no authentication is configured, so anyone who can reach the address could push and delete images. ` +
        'Configure identities with --config FILE (see docs/local-identities.md) or the admin key in BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY; ' +
        'or listen on 127.0.0.1 (the default) or ::1 and reach it through an SSH tunnel or a reverse proxy that authenticates.',
    );
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) fail('--tls-cert and --tls-key go together');
  if (values.challenge !== 'bearer' && values.challenge !== 'basic') fail(`--challenge must be bearer or basic, got "${values.challenge}"`);
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (values['tls-cert'] && values['tls-key']) {
    try {
      tls = { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) };
    } catch (err) {
      fail(`cannot read TLS files: ${(err as Error).message}`);
    }
  }

  const log = jsonLogger();
  // With identities, a cross-repository mount needs pull permission on the source (checked by the data plane's access control).
  const mountCheck = deferredCanPull();
  let local;
  try {
    local = await openLocalRegistry(values['data-dir'], log, identities.identities.length > 0 ? { canPull: mountCheck.canPull } : {});
  } catch (err) {
    if (err instanceof StorageLayoutError || err instanceof DataDirInUseError) fail(err.message);
    throw err;
  }
  // The ECR JSON API answers once there is someone to authenticate; the token key lives in the data directory.
  const tokens = new RegistryTokens(loadOrCreateTokenSigner(local.dataDir));
  const downloadTokens = identities.identities.length > 0 ? loadOrCreateDownloadTokens(local.dataDir) : undefined;
  const controlPlane =
    identities.identities.length > 0 ? localControlPlane({ identities, store: local.metadata, tokens, downloadTokens, tls: tls !== undefined, log }) : undefined;
  // The data plane: login tokens (Basic AWS:<token>), the token flow at /v2/token, and policies on every request.
  // Without identities, everyone stays anonymous and allowed (loopback only), as before.
  const access =
    identities.identities.length > 0
      ? createRegistryAccess({
          tokens,
          metadata: local.metadata,
          registryAccount: identities.account,
          region: identities.regions[0],
          identityPolicies: identities.policies,
          scheme: tls ? 'https' : 'http',
          challenge: { scheme: values.challenge as 'bearer' | 'basic' },
          log,
        })
      : undefined;
  if (access) mountCheck.bind(access.accessControl);
  // One process: a policy changed through the ECR API applies to the next request.
  const policyAwareControlPlane =
    controlPlane && access
      ? async (request: Parameters<typeof controlPlane>[0]) => {
          const response = await controlPlane(request);
          access.accessControl.invalidatePolicies();
          return response;
        }
      : controlPlane;
  const router = createRouter({
    registry: local.registry,
    log,
    controlPlane: policyAwareControlPlane,
    authenticator: access?.authenticator,
    accessControl: access?.accessControl,
    tokenService: access?.tokenService,
    downloadTokens,
  });
  const running = await startNodeServer({ handler: router, host: values.host, port, tls, log, bodyIdleTimeoutMs });
  process.stdout.write(`Berth registry listening on ${running.url} (data in ${local.dataDir})\n`);

  closeOnSignals(async () => {
    await running.close();
    await local.close();
  });
}

/**
 * The options of one command: unknown options fail with the usage; `--help` prints it and
 * answers undefined (the command then does nothing).
 */
function parseOptions<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(HELP);
    return undefined;
  }
  return parsed.values;
}

/** A duration as the options take it: a number with an optional unit s, m, h or d (seconds without one). */
function parseDuration(text: string, option: string, example: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text);
  if (!match) fail(`${option} must be a number with an optional unit s, m, h or d (e.g. ${example}), not ${JSON.stringify(text)}`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

function parseBodyIdleTimeout(text: string): number {
  const ms = parseDuration(text, '--body-idle-timeout', '60s');
  // Node's timers take at most 2^31-1 ms (and fire at once beyond it).
  if (ms > 2_147_483_647) fail('--body-idle-timeout can be at most 24d (0 never cuts a body)');
  return ms;
}

function parsePort(text: string, option: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) fail(`${option} must be a number from 0 to 65535, got "${text}"`);
  return port;
}

async function emulateAws(
  values: {
    host: string;
    'data-dir': string;
    'tls-cert'?: string;
    'tls-key'?: string;
    'ingest-port'?: string;
    'basic-auth'?: string;
    'public-repositories'?: boolean;
    config?: string;
  },
  port: number,
  bodyIdleTimeoutMs: number,
): Promise<void> {
  if (values['tls-cert'] || values['tls-key']) fail('--emulate-aws serves plain HTTP (API Gateway terminates TLS on AWS); drop --tls-cert/--tls-key');
  // Identities as for `berth serve`: the emulated IAM (SigV4 on POST /) and the callers' identity policies.
  let identities: LocalIdentities;
  try {
    identities = loadIdentities(values.config !== undefined ? readIdentityConfig(values.config) : undefined);
  } catch (err) {
    if (err instanceof IdentityConfigError) fail(values.config !== undefined ? `${values.config}: ${err.message}` : err.message);
    throw err;
  }
  const withIdentities = identities.identities.length > 0;
  if (withIdentities && values['basic-auth'] !== undefined) fail('--basic-auth does not go with identities (--config, BERTH_ACCESS_KEY_ID): the authorizer then verifies login tokens');
  if (values['public-repositories'] && !withIdentities) fail('--public-repositories needs identities (--config FILE or BERTH_ACCESS_KEY_ID/BERTH_SECRET_ACCESS_KEY)');
  let basicAuth: { username: string; password: string } | undefined;
  if (values['basic-auth'] !== undefined) {
    const colon = values['basic-auth'].indexOf(':');
    if (colon <= 0 || colon === values['basic-auth'].length - 1) fail('--basic-auth takes USER:PASSWORD');
    basicAuth = { username: values['basic-auth'].slice(0, colon), password: values['basic-auth'].slice(colon + 1) };
  }
  if (!basicAuth && !withIdentities && !isLoopback(values.host)) {
    fail(`refusing to listen on ${values.host} without --basic-auth or identities (--config, BERTH_ACCESS_KEY_ID): anonymous access is for loopback only`);
  }
  const ingestPort = values['ingest-port'] !== undefined ? parsePort(values['ingest-port'], '--ingest-port') : 0;
  const log = jsonLogger();
  const { startEmulatedAws } = await import('../lambdas/server/emulated-aws');
  // The upload-token key is random unless BERTH_EMULATOR_UPLOAD_TOKEN_KEY names one (tests sign their own tokens with it).
  const uploadTokenKey = process.env.BERTH_EMULATOR_UPLOAD_TOKEN_KEY || undefined;
  if (uploadTokenKey !== undefined && uploadTokenKey.length < 32) fail('BERTH_EMULATOR_UPLOAD_TOKEN_KEY must have at least 32 characters');
  let emulated;
  try {
    emulated = await startEmulatedAws({
      host: values.host,
      port,
      ingestPort,
      dataDir: values['data-dir'],
      basicAuth,
      identities: withIdentities ? identities : undefined,
      publicRepositories: values['public-repositories'],
      uploadTokenKey,
      bodyIdleTimeoutMs,
      log,
    });
  } catch (err) {
    fail(`cannot start the emulated AWS mode: ${(err as Error).message}`);
  }
  process.stdout.write(
    `Berth registry (emulated AWS) listening on ${emulated.url} (ingest on ${emulated.ingestUrl}; ` +
      `DynamoDB Local ${emulated.dynamodbEndpoint}, S3 stand-in ${emulated.s3Endpoint}; ` +
      `${withIdentities ? `registry tokens, ${count(identities.identities.length, 'identity', 'identities')}, KMS stand-in ${emulated.kms?.keyId}${values['public-repositories'] ? ', public repositories' : ''}` : basicAuth ? 'Basic authentication' : 'anonymous'}; ` +
      `stats at ${emulated.url}/__berth/stats)\n`,
  );
  closeOnSignals(() => emulated.close());
}

/** `berth ingest`: the container command of the ingest service on Fargate. */
async function ingest(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
    'body-idle-timeout': { type: 'string', default: '60s' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const port = parsePort(values.port, '--port');
  const bodyIdleTimeoutMs = parseBodyIdleTimeout(values['body-idle-timeout']);
  const { buildAwsRegistry, containerDependencies, settingsFromEnv } = await import('../lambdas/handlers/aws-registry');
  const { createObservability, coreLogger } = await import('../lambdas/handlers/observability');
  const { ingestHandler } = await import('../lambdas/server/ingest-handler');
  let settings;
  try {
    settings = settingsFromEnv(process.env);
  } catch (err) {
    fail((err as Error).message);
  }
  if (!settings.uploadTokenSecretId) fail('environment variable UPLOAD_TOKEN_SECRET_ARN is not set');
  const { logger } = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-ingest');
  const { clients, secrets } = containerDependencies();
  const app = await buildAwsRegistry({ settings, clients, secrets, logger, role: 'ingest' });
  const log = coreLogger(logger);
  const running = await startNodeServer({ handler: ingestHandler(app.router, logger), host: values.host, port, log, bodyIdleTimeoutMs });
  process.stdout.write(`Berth ingest listening on ${running.url} (table ${settings.tableName}, bucket ${settings.bucketName})\n`);
  closeOnSignals(() => running.close());
}

/** `berth ecr get-login-password`: what `aws ecr get-login-password` does, plus signing for the deployed stack. */
async function ecr(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== undefined && sub !== 'get-login-password' && !sub.startsWith('-')) {
    const { runEcrCommand } = await import('../lambdas/server/ecr-cli');
    process.exit(await runEcrCommand(argv, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }));
  }
  if (sub !== 'get-login-password') fail(`unknown ecr command ${JSON.stringify(sub ?? '')}; available: get-login-password\n\n${HELP}`);
  const values = parseOptions(rest, {
    'endpoint-url': { type: 'string' },
    region: { type: 'string' },
    'execute-api': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const endpointUrl = values['endpoint-url'];
  if (!endpointUrl) fail('--endpoint-url is required: the URL of the Berth registry (the deployed API, or http://127.0.0.1:5000 locally)');
  const region = values.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  const { getLoginPassword } = await import('../lambdas/server/ecr-login');
  let password: string;
  try {
    password = await getLoginPassword({ endpointUrl, region, executeApi: values['execute-api'] });
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`berth: GetAuthorizationToken failed: ${e.name}: ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${password}\n`);
}

/** `berth gc`: garbage collection of a local data directory (lambdas/server/local-gc.ts). */
async function gc(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    'data-dir': { type: 'string', default: './data' },
    'dry-run': { type: 'boolean', default: false },
    'min-age': { type: 'string', default: '1h' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const minAgeMs = parseDuration(values['min-age'], '--min-age', '30m');
  if (!existsSync(values['data-dir'])) fail(`no data directory at ${values['data-dir']} (--data-dir names the one \`berth serve\` used)`);
  const { collectLocalGarbage } = await import('../lambdas/server/local-gc');
  let report;
  try {
    report = await collectLocalGarbage(values['data-dir'], { dryRun: values['dry-run'], minAgeMs });
  } catch (err) {
    if (err instanceof DataDirInUseError || err instanceof StorageLayoutError) fail(err.message);
    throw err;
  }
  const [unlinked, deleted] = values['dry-run'] ? ['would unlink', 'would delete'] : ['unlinked', 'deleted'];
  if (values['dry-run']) {
    for (const { repository, digest } of report.unlinked) process.stdout.write(`unlink ${repository} ${digest}\n`);
    for (const { digest, size } of report.deleted) process.stdout.write(`delete ${digest} (${size} bytes)\n`);
  }
  process.stdout.write(
    `berth gc: ${count(report.repositories, 'repository', 'repositories')}, ${count(report.manifests, 'manifest')}; ` +
      `${unlinked} ${count(report.unlinked.length, 'blob link')} no manifest uses, ${deleted} ${count(report.deleted.length, 'content file')} ` +
      `(${(report.bytesFreed / 1024 / 1024).toFixed(1)} MiB); kept ${count(report.keptYoung, 'blob')} newer than --min-age ${values['min-age']}\n`,
  );
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'ingest') return ingest(rest);
  if (command === 'ecr') return ecr(rest);
  if (command === 'gc') return gc(rest);
  if (command.startsWith('-')) return serve([command, ...rest]);
  fail(`unknown command "${command}"\n\n${HELP}`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
