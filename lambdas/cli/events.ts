/**
 * `berth events replay --webhook URL`: hands a webhook's dead-lettered events to it again (docs/events.md,
 * "The dead-letter file"). It may run beside the server: the server appends to the file by name, and
 * the replay renames it aside first.
 */
import { deadLetterFileFor } from '../composition/local/local-events';
import { jsonLogger } from '../core/log';
import { replayDeadLetters } from '../events/dead-letters';
import { WebhookSink } from '../events/webhook-sink';
import { webhookSecretOption } from './event-options';
import { count, fail, parseOptions } from './options';

export async function events(argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand !== 'replay') fail(`berth events takes one subcommand, replay; got ${JSON.stringify(subcommand ?? '')}`);
  const values = parseOptions(rest, {
    webhook: { type: 'string' },
    'data-dir': { type: 'string', default: './data' },
    'dead-letters': { type: 'string' },
    'webhook-secret': { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  if (values.webhook === undefined) fail('berth events replay needs --webhook URL: the webhook whose dead letters to send again');
  const file = values['dead-letters'] ?? deadLetterFileFor(values['data-dir'], values.webhook);
  const secret = webhookSecretOption(values);
  let sink: WebhookSink;
  try {
    sink = new WebhookSink({ url: values.webhook, secret, deadLetterFile: file, log: jsonLogger() });
  } catch (err) {
    fail((err as Error).message);
  }
  const outcome = await replayDeadLetters(file, sink);
  process.stdout.write(
    `replayed ${count(outcome.replayed, 'event')} from ${file}` + (outcome.unreadable > 0 ? `; ${count(outcome.unreadable, 'line')} not an event, kept in the file` : '') + '\n',
  );
}
