/**
 * `berth serve` (what `npm start` runs): the registry on this machine with embedded storage, its
 * composition in composition/local; with `--emulate-aws`, the AWS path on this machine (cli/emulate-aws.ts).
 */
import { readFileSync } from 'node:fs';
import { jsonLogger } from '../core/log';
import { startNodeServer } from '../server/node-server';
import { composeLocal } from '../composition/local/compose';
import { StorageLayoutError } from '../storage/errors';
import { DataDirInUseError } from '../storage/local/data-dir-lock';
import { identitiesOption } from './identities-option';
import { eventOptions } from './event-options';
import { closeOnSignals, fail, isLoopback, parseBodyIdleTimeout, parseDuration, parseOptions, parsePort, parseTimer } from './options';

export async function serve(argv: string[]): Promise<void> {
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
    'events-file': { type: 'string' },
    webhook: { type: 'string', multiple: true },
    'webhook-secret': { type: 'string' },
    'event-source': { type: 'string' },
    'gc-interval': { type: 'string', default: '1h' },
    'gc-grace': { type: 'string', default: '24h' },
    // No default here: local mode and --emulate-aws each default it (24h).
    'lifecycle-interval': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const port = parsePort(values.port, '--port');
  const bodyIdleTimeoutMs = parseBodyIdleTimeout(values['body-idle-timeout']);
  // The emulators load only for --emulate-aws: the local registry never imports them.
  if (values['emulate-aws']) return (await import('./emulate-aws')).emulateAws(values, port, bodyIdleTimeoutMs);
  if (values['ingest-port'] !== undefined || values['basic-auth'] !== undefined || values['public-repositories']) {
    fail('--ingest-port, --basic-auth and --public-repositories go with --emulate-aws (in local mode a repository is public when its policy allows Principal "*")');
  }
  const identities = identitiesOption(values.config);
  const events = eventOptions(values);
  const gc = { intervalMs: parseTimer(values['gc-interval'], '--gc-interval', '1h'), graceMs: parseDuration(values['gc-grace'], '--gc-grace', '24h') };
  const lifecycle = { intervalMs: parseTimer(values['lifecycle-interval'] ?? '24h', '--lifecycle-interval', '24h') };
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
  let local;
  // Known once the server listens (with --port 0, only then): until then replication's blob URLs wait.
  let publicUrl: string | undefined = undefined;
  try {
    local = await composeLocal({
      dataDir: values['data-dir'],
      identities,
      tls: tls !== undefined,
      challenge: values.challenge as 'bearer' | 'basic',
      events,
      gc,
      lifecycle,
      publicUrl: () => publicUrl,
      log,
    });
  } catch (err) {
    if (err instanceof StorageLayoutError || err instanceof DataDirInUseError) fail(err.message);
    throw err;
  }
  const router = local.router;
  const running = await startNodeServer({ handler: router, host: values.host, port, tls, log, bodyIdleTimeoutMs });
  publicUrl = running.url;
  process.stdout.write(`Berth registry listening on ${running.url} (data in ${local.dataDir})\n`);

  closeOnSignals(async () => {
    await running.close();
    await local.close();
  });
}
