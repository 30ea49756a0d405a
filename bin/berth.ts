#!/usr/bin/env -S node --import tsx
/**
 * The `berth` command line. `berth serve` runs the registry on this machine with embedded
 * storage (what `npm start` does), or with `--emulate-aws` the AWS path (DynamoDB Local, an
 * S3 stand-in, the Lambda handlers behind an API Gateway simulator, the ingest server).
 * `berth ingest` is the ingest service's container command (DynamoDB and S3 from the environment).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { jsonLogger } from '../lambdas/core/log';
import { createRouter } from '../lambdas/http/router';
import { startNodeServer } from '../lambdas/server/node-server';
import { openLocalRegistry } from '../lambdas/server/local-registry';
import { StorageLayoutError } from '../lambdas/storage/errors';
import { DataDirInUseError } from '../lambdas/server/data-dir-lock';

const HELP = `Usage: berth serve [options]      (npm start -- [options])
       berth ingest [--port N] [--host ADDR]

Runs the Berth registry on this machine, with its data in a local directory.

Options:
  --host ADDR        address to listen on (default 127.0.0.1; loopback only until
                     identities exist: an open registry on a network is nobody's intent)
  --port N           port to listen on (default 5000; 0 picks a free port)
  --data-dir DIR     where blobs and metadata live (default ./data)
  --tls-cert FILE    PEM certificate: serve HTTPS (needs --tls-key)
  --tls-key FILE     PEM private key for --tls-cert
  --emulate-aws      run the AWS path instead: DynamoDB Local (needs java), an S3
                     stand-in, the Lambda handlers behind a local API Gateway, and
                     the ingest server; everything in memory (see the README)
  --ingest-port N    with --emulate-aws: port of the ingest server (default: a free one)
  --basic-auth USER:PASSWORD
                     with --emulate-aws: the credential the authorizer accepts
                     (default: anonymous, loopback only)
  -h, --help         show this help

berth ingest: the ingest service (upload bytes, authorized by upload tokens) on
DynamoDB and S3, configured by TABLE_NAME, BUCKET_NAME and UPLOAD_TOKEN_SECRET_ARN;
--port (default 8080), --host (default 0.0.0.0); GET /healthz answers 200.
`;

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
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '5000' },
        'data-dir': { type: 'string', default: './data' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'emulate-aws': { type: 'boolean', default: false },
        'ingest-port': { type: 'string' },
        'basic-auth': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) fail(`--port must be a number from 0 to 65535, got "${values.port}"`);
  if (values['emulate-aws']) return emulateAws(values, port);
  if (values['ingest-port'] !== undefined || values['basic-auth'] !== undefined) fail('--ingest-port and --basic-auth go with --emulate-aws');
  if (!isLoopback(values.host)) {
    fail(
      `refusing to listen on ${values.host}: this registry has no authentication yet, so anyone who can reach the address could push and delete images. ` +
        'Listen on 127.0.0.1 (the default) or ::1 and reach it through an SSH tunnel or a reverse proxy that authenticates.',
    );
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) fail('--tls-cert and --tls-key go together');
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (values['tls-cert'] && values['tls-key']) {
    try {
      tls = { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) };
    } catch (err) {
      fail(`cannot read TLS files: ${(err as Error).message}`);
    }
  }

  const log = jsonLogger();
  let local;
  try {
    local = await openLocalRegistry(values['data-dir'], log);
  } catch (err) {
    if (err instanceof StorageLayoutError || err instanceof DataDirInUseError) fail(err.message);
    throw err;
  }
  const running = await startNodeServer({ handler: createRouter({ registry: local.registry, log }), host: values.host, port, tls, log });
  process.stdout.write(`Berth registry listening on ${running.url} (data in ${local.dataDir})\n`);

  const stop = async () => {
    await running.close();
    await local.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function parsePort(text: string, option: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) fail(`${option} must be a number from 0 to 65535, got "${text}"`);
  return port;
}

async function emulateAws(
  values: { host: string; 'data-dir': string; 'tls-cert'?: string; 'tls-key'?: string; 'ingest-port'?: string; 'basic-auth'?: string },
  port: number,
): Promise<void> {
  if (values['tls-cert'] || values['tls-key']) fail('--emulate-aws serves plain HTTP (API Gateway terminates TLS on AWS); drop --tls-cert/--tls-key');
  let basicAuth: { username: string; password: string } | undefined;
  if (values['basic-auth'] !== undefined) {
    const colon = values['basic-auth'].indexOf(':');
    if (colon <= 0 || colon === values['basic-auth'].length - 1) fail('--basic-auth takes USER:PASSWORD');
    basicAuth = { username: values['basic-auth'].slice(0, colon), password: values['basic-auth'].slice(colon + 1) };
  }
  if (!basicAuth && !isLoopback(values.host)) {
    fail(`refusing to listen on ${values.host} without --basic-auth: anonymous access is for loopback only`);
  }
  const ingestPort = values['ingest-port'] !== undefined ? parsePort(values['ingest-port'], '--ingest-port') : 0;
  const log = jsonLogger();
  const { startEmulatedAws } = await import('../lambdas/server/emulated-aws');
  // The upload-token key is random unless BERTH_EMULATOR_UPLOAD_TOKEN_KEY names one (tests sign their own tokens with it).
  const uploadTokenKey = process.env.BERTH_EMULATOR_UPLOAD_TOKEN_KEY || undefined;
  if (uploadTokenKey !== undefined && uploadTokenKey.length < 32) fail('BERTH_EMULATOR_UPLOAD_TOKEN_KEY must have at least 32 characters');
  let emulated;
  try {
    emulated = await startEmulatedAws({ host: values.host, port, ingestPort, dataDir: values['data-dir'], basicAuth, uploadTokenKey, log });
  } catch (err) {
    fail(`cannot start the emulated AWS mode: ${(err as Error).message}`);
  }
  process.stdout.write(
    `Berth registry (emulated AWS) listening on ${emulated.url} (ingest on ${emulated.ingestUrl}; ` +
      `DynamoDB Local ${emulated.dynamodbEndpoint}, S3 stand-in ${emulated.s3Endpoint}; ${basicAuth ? 'Basic authentication' : 'anonymous'}; ` +
      `stats at ${emulated.url}/__berth/stats)\n`,
  );
  const stop = async () => {
    await emulated.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** `berth ingest`: the container command of the ingest service on Fargate. */
async function ingest(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '0.0.0.0' },
        port: { type: 'string', default: '8080' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = parsePort(values.port, '--port');
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
  const running = await startNodeServer({ handler: ingestHandler(app.router, logger), host: values.host, port, log });
  process.stdout.write(`Berth ingest listening on ${running.url} (table ${settings.tableName}, bucket ${settings.bucketName})\n`);
  const stop = async () => {
    await running.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'ingest') return ingest(rest);
  if (command.startsWith('-')) return serve([command, ...rest]);
  fail(`unknown command "${command}"\n\n${HELP}`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
