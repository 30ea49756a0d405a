/** `berth ingest` (and `bin/berth-ingest.ts`, the container's command): the ingest service on Fargate. */
import { ingestSettings, startIngest } from '../handlers/ingest';
import { closeOnSignals, fail, parseBodyIdleTimeout, parseOptions, parsePort } from './options';

export async function ingest(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
    'body-idle-timeout': { type: 'string', default: '60s' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const port = parsePort(values.port, '--port');
  const bodyIdleTimeoutMs = parseBodyIdleTimeout(values['body-idle-timeout']);
  let settings;
  try {
    settings = ingestSettings(process.env);
  } catch (err) {
    fail((err as Error).message);
  }
  const running = await startIngest({ host: values.host, port, bodyIdleTimeoutMs, env: process.env }, settings);
  process.stdout.write(`Berth ingest listening on ${running.url} (table ${settings.tableName}, bucket ${settings.bucketName})\n`);
  closeOnSignals(() => running.close());
}
