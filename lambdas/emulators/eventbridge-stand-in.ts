/**
 * A LOCAL STAND-IN for Amazon EventBridge, for the emulated AWS mode (`berth serve --emulate-aws`) and
 * the tests: a node:http server on loopback that answers PutEvents in EventBridge's AWS JSON 1.1
 * protocol (`X-Amz-Target: AWSEvents.PutEvents`), so the real `@aws-sdk/client-eventbridge` works
 * against it with `endpoint` set. Production code never imports it.
 *
 * What it does as EventBridge does (API reference, PutEvents and PutEventsResultEntry): at most 10
 * entries and 256 KB per call (sizes counted as "Calculating PutEvents event entry size" says), else
 * the whole call is refused with a ValidationException; per entry, a Source starting with `aws.` is
 * refused with NotAuthorizedForSourceException, a missing Source, DetailType or Detail with
 * InvalidArgument, a Detail that is not a JSON object with MalformedDetail, and the others still go
 * through. Each accepted entry becomes the envelope EventBridge delivers (a fresh `id`, `version` "0",
 * the stand-in's account and region), appended to `<dir>/events.jsonl` before the call is answered,
 * then matched against the rules (event-pattern.ts) and handed to their targets, retried with backoff;
 * what still fails is appended to `<dir>/eventbridge-failed.jsonl`.
 *
 * What it is not: no SigV4 check (an Authorization header is required, nothing more), no other action
 * (rules are given to the constructor, not created by PutRule), no archives, no input transformers.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MAX_SOURCE_LENGTH, RESERVED_SOURCE_PREFIX, eventTime, type ImageActionEvent } from '../contracts/events';
import { appendLines } from '../events/append-lines';
import { matchesEventPattern, validateEventPattern, type EventPattern } from './event-pattern';

/** PutEvents' limits (API reference: Entries holds 1 to 10 items; 256 KB per request). */
export const MAX_ENTRIES_PER_PUT = 10;
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;
export const EVENTS_FILE = 'events.jsonl';
export const FAILED_DELIVERIES_FILE = 'eventbridge-failed.jsonl';

/** The envelope as EventBridge delivers it: the contract's ImageActionEvent with any detail-type and detail. */
export type DeliveredEvent = Omit<ImageActionEvent, 'detail-type' | 'detail'> & { 'detail-type': string; detail: Record<string, unknown> };

export interface StandInRule {
  name: string;
  eventPattern: EventPattern;
  target: (event: DeliveredEvent) => Promise<void>;
  /** The bus the rule is on; `default` when absent. */
  eventBusName?: string;
}

export interface EventBridgeStandInOptions {
  /** Where events.jsonl and eventbridge-failed.jsonl are written (the emulated mode's data directory). */
  dir: string;
  account: string;
  region: string;
  rules?: readonly StandInRule[];
  /** Target attempts (first one included) and the first wait, doubled per retry. */
  retry?: { attempts: number; baseDelayMs: number };
  log?: (line: string) => void;
}

interface EntryResult {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export class EventBridgeStandIn {
  private server: Server | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly rules: readonly StandInRule[];
  private readonly retry: { attempts: number; baseDelayMs: number };
  private readonly log: (line: string) => void;
  /** PutEvents calls answered, successful or not (tests count them). */
  putEventsCalls = 0;

  constructor(private readonly options: EventBridgeStandInOptions) {
    this.rules = options.rules ?? [];
    for (const rule of this.rules) validateEventPattern(rule.eventPattern);
    this.retry = options.retry ?? { attempts: 4, baseDelayMs: 200 };
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  get eventsFile(): string {
    return join(this.options.dir, EVENTS_FILE);
  }

  get failedFile(): string {
    return join(this.options.dir, FAILED_DELIVERIES_FILE);
  }

  /** Listens on 127.0.0.1 (a free port unless given) and resolves the endpoint to give the SDK client. */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Resolves once every delivery started so far has reached its target or the failed file. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.idle();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      if (req.method !== 'POST') throw new RequestError('UnknownOperationException', `${req.method ?? ''} is not supported`, 404);
      if (!req.headers.authorization) throw new RequestError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
      const target = req.headers['x-amz-target'];
      if (target !== 'AWSEvents.PutEvents') throw new RequestError('UnknownOperationException', `This stand-in answers AWSEvents.PutEvents only, not ${String(target)}`);
      let input: unknown;
      try {
        input = JSON.parse(body.toString('utf8') || '{}');
      } catch {
        throw new RequestError('SerializationException', 'The request body is not JSON');
      }
      this.putEventsCalls++;
      send(res, 200, await this.putEvents(input));
    } catch (error) {
      const known = error instanceof RequestError ? error : new RequestError('InternalException', (error as Error).message, 500);
      if (!(error instanceof RequestError)) this.log(`eventbridge stand-in: ${(error as Error).stack ?? String(error)}`);
      send(res, known.status, { __type: known.code, message: known.message }, known.code);
    }
  }

  private async putEvents(input: unknown): Promise<{ FailedEntryCount: number; Entries: EntryResult[] }> {
    const entries = (input as { Entries?: unknown }).Entries;
    if (!Array.isArray(entries)) {
      throw new RequestError('ValidationException', "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null");
    }
    if (entries.length < 1 || entries.length > MAX_ENTRIES_PER_PUT) {
      const bound = entries.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${MAX_ENTRIES_PER_PUT}`;
      throw new RequestError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length ${bound}`);
    }
    if (entries.reduce((sum: number, entry) => sum + entrySize(entry), 0) > MAX_PUT_EVENTS_BYTES) {
      throw new RequestError('ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    const results: EntryResult[] = [];
    const accepted: Array<{ event: DeliveredEvent; bus: string }> = [];
    const now = new Date();
    for (const entry of entries as Array<Record<string, unknown>>) {
      const refused = refusal(entry);
      if (refused) {
        results.push(refused);
        continue;
      }
      const id = randomUUID();
      const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : now;
      const event: DeliveredEvent = {
        version: '0',
        id,
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account: this.options.account,
        time: eventTime(Number.isNaN(time.getTime()) ? now : time),
        region: this.options.region,
        resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
        detail: JSON.parse(entry.Detail as string) as Record<string, unknown>,
      };
      accepted.push({ event, bus: busName(entry.EventBusName) });
      results.push({ EventId: id });
    }
    // Written before the answer: an EventId given out names an event the file holds.
    await appendLines(this.eventsFile, accepted.map(({ event }) => JSON.stringify(event)));
    for (const { event, bus } of accepted) this.route(event, bus);
    return { FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length, Entries: results };
  }

  private route(event: DeliveredEvent, bus: string): void {
    for (const rule of this.rules) {
      if (busName(rule.eventBusName) !== bus || !matchesEventPattern(rule.eventPattern, event)) continue;
      const delivery = this.deliver(rule, event).finally(() => this.pending.delete(delivery));
      this.pending.add(delivery);
    }
  }

  private async deliver(rule: StandInRule, event: DeliveredEvent): Promise<void> {
    let lastError = '';
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      try {
        await rule.target(event);
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        this.log(`eventbridge stand-in: rule ${rule.name}, event ${event.id}: attempt ${attempt}/${this.retry.attempts} failed: ${lastError}`);
        if (attempt < this.retry.attempts) await sleep(this.retry.baseDelayMs * 2 ** (attempt - 1));
      }
    }
    const line = { failedAt: new Date().toISOString(), rule: rule.name, attempts: this.retry.attempts, lastError, event };
    await appendLines(this.failedFile, [JSON.stringify(line)], 0o600).catch((error: Error) => {
      this.log(`eventbridge stand-in: could not record the failed delivery of ${event.id}: ${error.message}`);
    });
  }
}

/** The per-entry refusal EventBridge answers, or undefined when the entry is accepted. */
function refusal(entry: Record<string, unknown>): EntryResult | undefined {
  const invalid = (name: string, reason: string): EntryResult => ({
    ErrorCode: 'InvalidArgument',
    ErrorMessage: `Parameter ${name} is not valid. Reason: ${reason}`,
  });
  if (typeof entry !== 'object' || entry === null) return invalid('Entry', 'Entry is not an object.');
  if (typeof entry.Source !== 'string' || entry.Source.length === 0) return invalid('Source', 'Source is a required argument.');
  if (entry.Source.length > MAX_SOURCE_LENGTH) return invalid('Source', `Source is longer than ${MAX_SOURCE_LENGTH} characters.`);
  if (typeof entry.DetailType !== 'string' || entry.DetailType.length === 0) return invalid('DetailType', 'DetailType is a required argument.');
  if (typeof entry.Detail !== 'string' || entry.Detail.length === 0) return invalid('Detail', 'Detail is a required argument.');
  if (entry.Source.startsWith(RESERVED_SOURCE_PREFIX)) return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  return undefined;
}

/** An entry's size as EventBridge counts it: 14 bytes for Time, UTF-8 bytes of Source, DetailType, Detail and each resource. */
export function entrySize(entry: unknown): number {
  if (typeof entry !== 'object' || entry === null) return 0;
  const e = entry as Record<string, unknown>;
  const bytes = (value: unknown): number => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(e.Resources) ? e.Resources.reduce((sum: number, r) => sum + bytes(r), 0) : 0;
  return (e.Time !== undefined ? 14 : 0) + bytes(e.Source) + bytes(e.DetailType) + bytes(e.Detail) + resources;
}

/** A bus named by name or ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`), `default` when absent. */
function busName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) return 'default';
  const slash = name.indexOf(':event-bus/');
  return slash >= 0 ? name.slice(slash + ':event-bus/'.length) : name;
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
