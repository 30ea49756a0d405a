#!/usr/bin/env -S node --import tsx
/**
 * The `berth` command line. `berth serve` runs the registry on this machine with embedded
 * storage (what `npm start` does).
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

Runs the Berth registry on this machine, with its data in a local directory.

Options:
  --host ADDR        address to listen on (default 127.0.0.1; loopback only until
                     identities exist: an open registry on a network is nobody's intent)
  --port N           port to listen on (default 5000; 0 picks a free port)
  --data-dir DIR     where blobs and metadata live (default ./data)
  --tls-cert FILE    PEM certificate: serve HTTPS (needs --tls-key)
  --tls-key FILE     PEM private key for --tls-cert
  -h, --help         show this help
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

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === 'serve') return serve(rest);
  if (command.startsWith('-')) return serve([command, ...rest]);
  fail(`unknown command "${command}"\n\n${HELP}`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
