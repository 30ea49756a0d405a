/**
 * Local mode's event delivery (docs/events.md): the destinations `berth serve` is given (an events
 * file, webhooks) and the job that drains the LMDB outbox into them, a few times a second.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { DEFAULT_EVENT_SOURCE, validateEventSource, type EventOrigin } from '../../contracts/events';
import { fanOut, type EventSink } from '../../core/events';
import type { Logger } from '../../core/log';
import { drainOutbox } from '../../core/outbox-drain';
import type { ChangeOutbox } from '../../storage/ports';
import { EventsFileSink } from '../../events/events-file-sink';
import { WebhookSink } from '../../events/webhook-sink';
import type { ScheduledJob } from '../deployment';

export interface LocalEventSettings {
  /** Each event appended to this file as one JSON line. */
  eventsFile?: string;
  /** Each event POSTed to each of these URLs. */
  webhooks?: string[];
  /** Signs webhook bodies (X-Berth-Signature-256). */
  webhookSecret?: string;
  /** @default 'berth.ecr' (any value is allowed locally) */
  source?: string;
  /** The account and region events name: the registry's identity (the `registry` of the --config file). */
  account: string;
  region: string;
}

/** How often the outbox is looked at: an event leaves within about this long of its commit. */
export const OUTBOX_POLL_MS = 250;

/** Where a webhook's undelivered events go: one file per webhook in the data directory, named after its URL. */
export function deadLetterFileFor(dataDir: string, webhook: string): string {
  return join(resolve(dataDir), 'events', `dead-letters-${createHash('sha256').update(webhook).digest('hex').slice(0, 16)}.jsonl`);
}

/** The configured destinations; none at all is allowed (the outbox is then drained to nowhere). */
export function localEventSinks(dataDir: string, settings: LocalEventSettings, log: Logger): EventSink[] {
  const sinks: EventSink[] = [];
  if (settings.eventsFile !== undefined) sinks.push(new EventsFileSink(settings.eventsFile));
  for (const url of settings.webhooks ?? []) {
    sinks.push(new WebhookSink({ url, secret: settings.webhookSecret, deadLetterFile: deadLetterFileFor(dataDir, url), log }));
  }
  return sinks;
}

export function localEventOrigin(settings: LocalEventSettings): EventOrigin {
  return { account: settings.account, region: settings.region, source: validateEventSource(settings.source ?? DEFAULT_EVENT_SOURCE, 'local') };
}

/**
 * The job that empties the outbox into the sinks. Without destinations, entries are acknowledged as
 * they come (events go to whatever is configured from the moment it is). A failed delivery leaves its
 * entries for the next turn, which delivers them again: at least once.
 */
export function outboxDrainJob(outbox: ChangeOutbox, sinks: EventSink[], origin: EventOrigin): ScheduledJob {
  const sink = fanOut(sinks);
  // After a failure (an events file on a full disk), turns are skipped for a while, doubling up to
  // MAX_BACKOFF_MS, so that a broken destination costs a log line now and then, not four a second.
  let failures = 0;
  let notBefore = 0;
  return {
    name: 'deliver-image-events',
    everyMs: OUTBOX_POLL_MS,
    run: async () => {
      if (Date.now() < notBefore) return;
      try {
        await drainOutbox(outbox, sink, origin);
        failures = 0;
      } catch (error) {
        failures++;
        notBefore = Date.now() + Math.min(MAX_BACKOFF_MS, OUTBOX_POLL_MS * 2 ** failures);
        throw error;
      }
    },
  };
}

/** The longest pause between two attempts to deliver after failures. */
const MAX_BACKOFF_MS = 30_000;
