/** The image-event options of `berth serve` and `berth events replay`: destinations, the webhook secret, the source. */
import { readIdentityConfig, IdentityConfigError } from '../composition/local/identities';
import type { LocalEventSettings } from '../composition/local/local-events';
import { fail } from './options';

interface EventOptionValues {
  config?: string;
  'events-file'?: string;
  webhook?: string[];
  'webhook-secret'?: string;
  'event-source'?: string;
}

/** The webhook secret: `--webhook-secret`, else the `webhookSecret` of the --config file. */
export function webhookSecretOption(values: Pick<EventOptionValues, 'config' | 'webhook-secret'>): string | undefined {
  if (values['webhook-secret'] !== undefined) {
    if (values['webhook-secret'] === '') fail('--webhook-secret must not be empty');
    return values['webhook-secret'];
  }
  return configString(values.config, 'webhookSecret');
}

export function eventOptions(values: EventOptionValues): Omit<LocalEventSettings, 'account' | 'region'> {
  const webhooks = values.webhook ?? [];
  for (const url of webhooks) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) fail(`--webhook must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  }
  const webhookSecret = webhookSecretOption(values);
  // The config file's secret may serve other runs; only the flag alone is a mistake worth stopping for.
  if (values['webhook-secret'] !== undefined && webhooks.length === 0) fail('--webhook-secret signs webhook bodies: give a --webhook too');
  const source = values['event-source'] ?? configString(values.config, 'eventSource');
  if (source === '') fail('--event-source must not be empty');
  return {
    ...(values['events-file'] !== undefined ? { eventsFile: values['events-file'] } : {}),
    webhooks,
    ...(webhookSecret !== undefined ? { webhookSecret } : {}),
    ...(source !== undefined ? { source } : {}),
  };
}

function configString(config: string | undefined, key: 'webhookSecret' | 'eventSource'): string | undefined {
  if (config === undefined) return undefined;
  let value: unknown;
  try {
    value = (readIdentityConfig(config) as Record<string, unknown>)[key];
  } catch (err) {
    if (err instanceof IdentityConfigError) fail(`${config}: ${err.message}`);
    throw err;
  }
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(`${config}: ${key} must be a non-empty string`);
  return value;
}
