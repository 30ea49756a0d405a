/**
 * `--webhook URL`: each event POSTed as JSON, signed when a secret is set, retried with exponential
 * backoff and jitter, and kept in a dead-letter file when the retries run out (docs/events.md says
 * how receivers verify and operators replay).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { silentLogger, type Logger } from '../core/log';
import type { EventSink, ImageActionEvent } from '../core/events';
import { appendLines } from './append-lines';

export const SIGNATURE_HEADER = 'X-Berth-Signature-256';
export const EVENT_ID_HEADER = 'X-Berth-Event-Id';
const SIGNATURE_PREFIX = 'sha256=';

/** The header value for a body: `sha256=` and the hex HMAC-SHA256 of the body's exact bytes. */
export function signWebhookBody(body: string | Buffer, secret: string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * For receivers: whether `header` is the signature of the raw `body` (the bytes as received, before
 * any JSON parsing) under `secret`. The comparison takes the same time whatever the bytes that differ.
 */
export function verifyWebhookSignature(body: string | Buffer, header: string | readonly string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith(SIGNATURE_PREFIX)) return false;
  const received = Buffer.from(header.slice(SIGNATURE_PREFIX.length), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/** One line of the dead-letter file: what could not be delivered, where, and why. */
export interface DeadLetter {
  failedAt: string;
  /** The webhook, without any user or password it carried. */
  url: string;
  attempts: number;
  lastError: string;
  event: ImageActionEvent;
}

export interface WebhookSinkOptions {
  /** http:// or https://; a user and password in it go as Basic authorization, and never into logs or dead letters. */
  url: string;
  /** Signs each body (`X-Berth-Signature-256`) when set. */
  secret?: string;
  /** Where events still undelivered after `attempts` go, one JSON line each (a DeadLetter). */
  deadLetterFile: string;
  /** Attempts per event, the first included. @default 6 */
  attempts?: number;
  /** The first retry waits up to this long, each next one up to twice as long. @default 500 */
  baseDelayMs?: number;
  /** No wait exceeds this, a receiver's Retry-After included. @default 30000 */
  maxDelayMs?: number;
  /** An attempt that has no complete answer by then is abandoned and counts as failed. @default 10000 */
  timeoutMs?: number;
  log?: Logger;
}

class AttemptFailed extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function redacted(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** fetch's errors may come from another realm (a test runner's sandbox), so no `instanceof Error`. */
function describeError(error: unknown): string {
  if (error instanceof AttemptFailed) return error.message;
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') return String(error);
  const { message, cause } = error as { message: string; cause?: { code?: string; message?: string } };
  return cause ? `${message}: ${cause.code ?? cause.message ?? String(cause)}` : message;
}

/** Retry-After in seconds (the HTTP-date form is rare from webhooks and ignored). */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

/**
 * Events go one at a time, in the order given, each only after the one before was delivered or
 * dead-lettered; deliveries of concurrent calls queue behind each other, so a receiver sees one
 * sink's events in the order they were handed over, except the dead-lettered ones, which arrive
 * when replayed. A redirect is an answer like any other non-2xx: the URL must be the receiver's.
 */
export class WebhookSink implements EventSink {
  /** The URL requested, logged and dead-lettered: fetch refuses one with credentials, which go in `authorization` instead. */
  private readonly target: string;
  private readonly authorization?: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WebhookSinkOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error(`The webhook ${JSON.stringify(options.url)} is not a URL; give an http:// or https:// URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`The webhook ${redacted(url)} must be an http:// or https:// URL.`);
    const attempts = options.attempts ?? 6;
    if (!Number.isInteger(attempts) || attempts < 1) throw new Error(`Webhook attempts must be a whole number of at least 1, got ${attempts}.`);
    if (options.secret !== undefined && options.secret.length === 0) throw new Error('The webhook secret, when set, must not be empty.');
    this.target = redacted(url);
    if (url.username !== '' || url.password !== '') {
      this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    }
    this.attempts = attempts;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.log = options.log ?? silentLogger;
  }

  deliver(events: readonly ImageActionEvent[]): Promise<void> {
    const run = this.queue.then(() => this.deliverInOrder(events));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async deliverInOrder(events: readonly ImageActionEvent[]): Promise<void> {
    for (const event of events) {
      const failure = await this.deliverOne(event);
      if (failure) await this.deadLetter(event, failure);
    }
  }

  /** Undefined once delivered; the last failure after all attempts otherwise. */
  private async deliverOne(event: ImageActionEvent): Promise<{ attempts: number; lastError: string } | undefined> {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'berth-webhook', [EVENT_ID_HEADER]: event.detail['berth-event-id'] };
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    if (this.options.secret !== undefined) headers[SIGNATURE_HEADER] = signWebhookBody(body, this.options.secret);
    let lastError = '';
    for (let attempt = 1; attempt <= this.attempts; attempt += 1) {
      try {
        await this.post(body, headers);
        return undefined;
      } catch (error) {
        lastError = describeError(error);
        if (attempt === this.attempts) break;
        const delay = this.backoff(attempt, error instanceof AttemptFailed ? error.retryAfterMs : undefined);
        this.log.warn('webhook delivery failed, retrying', { url: this.target, eventId: event.detail['berth-event-id'], attempt, lastError, retryInMs: delay });
        await sleep(delay);
      }
    }
    return { attempts: this.attempts, lastError };
  }

  private async post(body: string, headers: Record<string, string>): Promise<void> {
    const response = await fetch(this.target, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel();
      return;
    }
    const text = (await response.text().catch(() => '')).slice(0, 200);
    throw new AttemptFailed(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${text ? `: ${text}` : ''}`, retryAfterMs(response.headers.get('retry-after')));
  }

  /** Full jitter (a uniform wait up to the exponential bound), so receivers coming back are not hit in step. */
  private backoff(failedAttempt: number, retryAfter: number | undefined): number {
    const bound = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (failedAttempt - 1));
    const jittered = Math.random() * bound;
    return Math.min(this.maxDelayMs, Math.max(jittered, retryAfter ?? 0));
  }

  private async deadLetter(event: ImageActionEvent, failure: { attempts: number; lastError: string }): Promise<void> {
    const letter: DeadLetter = { failedAt: new Date().toISOString(), url: this.target, attempts: failure.attempts, lastError: failure.lastError, event };
    // Rejects if the line cannot be written: the caller keeps the event, nothing is dropped silently.
    await appendLines(this.options.deadLetterFile, [JSON.stringify(letter)], 0o600);
    this.log.error('webhook delivery abandoned, event dead-lettered', { url: letter.url, eventId: event.detail['berth-event-id'], attempts: letter.attempts, lastError: letter.lastError, deadLetterFile: this.options.deadLetterFile });
  }
}
