/**
 * The part of the OSV schema (https://ossf.github.io/osv-schema/, 1.7) the scanner reads, and the
 * validation an import runs on each record before it is stored.
 *
 * `parseOsvRecord` refuses what would make matching wrong or impossible: a missing `id` or
 * `modified`, an `affected[].package` without ecosystem or name, a range of an unknown type, an event
 * without exactly one of introduced/fixed/last_affected/limit (with a string value), a range with
 * no `introduced` (the schema requires one; without it nothing in the range can be affected, so such
 * a record would silently match nothing). The refusal is an OsvRecordError naming the record and the
 * field, so `berth vulndb import` can list bad records and import the rest.
 *
 * Lenient where the schema asks more but matching does not care: unknown fields are ignored (the
 * schema tells clients to), and so are other keys beside an event's one kind; `null` reads as absent
 * where the JSON schema allows it; `package` may be absent (the JSON schema does not require it; such
 * an entry matches nothing); a GIT range needs no `repo` (GIT ranges are not evaluated); and a range
 * with both `fixed` and `last_affected`, which the schema forbids, is kept (the evaluation handles it). `credits`, `related` and
 * `schema_version` are not kept, being of no use to a scan.
 */

/** `severity[]`: a scoring method (`CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`, ...) and its score. */
export interface OsvSeverity {
  type: string;
  score: string;
}

/** One entry of `affected[].ranges[].events`: exactly one of the four keys. */
export type OsvEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

/** The range types the schema defines. */
export type OsvRangeType = 'ECOSYSTEM' | 'SEMVER' | 'GIT';

/** `affected[].ranges[]`. */
export interface OsvRange {
  type: OsvRangeType;
  repo?: string;
  events: OsvEvent[];
  database_specific?: Record<string, unknown>;
}

/** `affected[].package`. */
export interface OsvPackage {
  ecosystem: string;
  name: string;
  purl?: string;
}

/** `affected[]`: one package and the versions of it that are affected. */
export interface OsvAffected {
  package?: OsvPackage;
  severity?: OsvSeverity[];
  ranges?: OsvRange[];
  versions?: string[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

/** `references[]`: ADVISORY, ARTICLE, DETECTION, DISCUSSION, REPORT, FIX, INTRODUCED, PACKAGE, EVIDENCE, WEB, GIT. */
export interface OsvReference {
  type: string;
  url: string;
}

/** An OSV record as the scanner keeps it. */
export interface OsvRecord {
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  /** Upstream vulnerabilities a downstream (distribution) record refers to; where Debian, Ubuntu and Alpine records name the CVE. */
  upstream?: string[];
  summary?: string;
  details?: string;
  severity?: OsvSeverity[];
  affected: OsvAffected[];
  references?: OsvReference[];
  database_specific?: Record<string, unknown>;
}

/** A record the import cannot use: which record (when it had a readable id) and which field. */
export class OsvRecordError extends Error {
  constructor(
    readonly reason: string,
    /** The path of the field at fault: `affected[0].ranges[1].events[2]`, or `` for the record itself. */
    readonly field: string,
    readonly recordId?: string,
  ) {
    super(`OSV record ${recordId ?? '(no id)'}: ${field === '' ? '' : `${field}: `}${reason}`);
    this.name = 'OsvRecordError';
  }
}

type Json = Record<string, unknown>;

const RANGE_TYPES: readonly OsvRangeType[] = ['ECOSYSTEM', 'SEMVER', 'GIT'];
const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates one OSV record (already JSON-parsed) and returns the subset the scanner keeps; throws OsvRecordError. */
export function parseOsvRecord(json: unknown): OsvRecord {
  if (!isObject(json)) throw new OsvRecordError('a record must be a JSON object', '');
  const rawId = json.id;
  const recordId = typeof rawId === 'string' && rawId.trim() !== '' ? rawId : undefined;
  const read: Reader = new Reader(recordId);
  if (recordId === undefined) read.fail('id', 'a non-empty string is required');
  const modified = read.string(json, 'modified', 'modified', true);
  if (Number.isNaN(Date.parse(modified))) read.fail('modified', `${JSON.stringify(modified)} is not an RFC 3339 timestamp`);

  const record: OsvRecord = { id: recordId as string, modified, affected: [] };
  assignDefined(record, {
    published: read.string(json, 'published', 'published'),
    withdrawn: read.string(json, 'withdrawn', 'withdrawn'),
    aliases: read.strings(json, 'aliases', 'aliases'),
    upstream: read.strings(json, 'upstream', 'upstream'),
    summary: read.string(json, 'summary', 'summary'),
    details: read.string(json, 'details', 'details'),
    severity: read.severities(json, 'severity', 'severity'),
    references: read.references(json),
    database_specific: read.object(json, 'database_specific', 'database_specific'),
  });
  const affected = json.affected;
  if (affected !== undefined && affected !== null) {
    if (!Array.isArray(affected)) read.fail('affected', 'must be an array');
    record.affected = affected.map((entry, i) => read.affected(entry, `affected[${i}]`));
  }
  return record;
}

/** Copies the defined values only, so that parsed records compare equal to their JSON. */
function assignDefined<T extends object>(target: T, values: Partial<T>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) (target as Json)[key] = value;
  }
}

/** The field readers, carrying the record id for their errors. */
class Reader {
  constructor(private readonly recordId: string | undefined) {}

  fail(field: string, reason: string): never {
    throw new OsvRecordError(reason, field, this.recordId);
  }

  string(from: Json, key: string, field: string, required: true): string;
  string(from: Json, key: string, field: string, required?: false): string | undefined;
  string(from: Json, key: string, field: string, required = false): string | undefined {
    const value = from[key];
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'a string is required');
      return undefined;
    }
    if (typeof value !== 'string') this.fail(field, `must be a string, not ${describe(value)}`);
    return value;
  }

  strings(from: Json, key: string, field: string): string[] | undefined {
    const value = from[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) this.fail(field, 'must be an array of strings');
    value.forEach((v, i) => {
      if (typeof v !== 'string') this.fail(`${field}[${i}]`, `must be a string, not ${describe(v)}`);
    });
    return value as string[];
  }

  object(from: Json, key: string, field: string): Json | undefined {
    const value = from[key];
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) this.fail(field, 'must be a JSON object');
    return value;
  }

  severities(from: Json, key: string, field: string): OsvSeverity[] | undefined {
    const value = from[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) this.fail(field, 'must be an array of {type, score}');
    return value.map((entry, i) => {
      const at = `${field}[${i}]`;
      if (!isObject(entry)) this.fail(at, 'must be an object with type and score');
      return { type: this.string(entry, 'type', `${at}.type`, true), score: this.string(entry, 'score', `${at}.score`, true) };
    });
  }

  references(from: Json): OsvReference[] | undefined {
    const value = from.references;
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) this.fail('references', 'must be an array of {type, url}');
    return value.map((entry, i) => {
      const at = `references[${i}]`;
      if (!isObject(entry)) this.fail(at, 'must be an object with type and url');
      return { type: this.string(entry, 'type', `${at}.type`, true), url: this.string(entry, 'url', `${at}.url`, true) };
    });
  }

  affected(entry: unknown, at: string): OsvAffected {
    if (!isObject(entry)) this.fail(at, 'must be a JSON object');
    const parsed: OsvAffected = {};
    const pkg = this.object(entry, 'package', `${at}.package`);
    if (pkg !== undefined) {
      const ecosystem = this.string(pkg, 'ecosystem', `${at}.package.ecosystem`, true);
      const name = this.string(pkg, 'name', `${at}.package.name`, true);
      if (ecosystem === '') this.fail(`${at}.package.ecosystem`, 'must not be empty');
      if (name === '') this.fail(`${at}.package.name`, 'must not be empty');
      parsed.package = { ecosystem, name };
      assignDefined(parsed.package, { purl: this.string(pkg, 'purl', `${at}.package.purl`) });
    }
    const ranges = entry.ranges;
    if (ranges !== undefined && ranges !== null) {
      if (!Array.isArray(ranges)) this.fail(`${at}.ranges`, 'must be an array');
      parsed.ranges = ranges.map((range, i) => this.range(range, `${at}.ranges[${i}]`));
    }
    assignDefined(parsed, {
      severity: this.severities(entry, 'severity', `${at}.severity`),
      versions: this.strings(entry, 'versions', `${at}.versions`),
      ecosystem_specific: this.object(entry, 'ecosystem_specific', `${at}.ecosystem_specific`),
      database_specific: this.object(entry, 'database_specific', `${at}.database_specific`),
    });
    return parsed;
  }

  range(range: unknown, at: string): OsvRange {
    if (!isObject(range)) this.fail(at, 'must be a JSON object');
    const type = this.string(range, 'type', `${at}.type`, true);
    if (!(RANGE_TYPES as readonly string[]).includes(type)) {
      this.fail(`${at}.type`, `${JSON.stringify(type)} is not one of ${RANGE_TYPES.join(', ')}`);
    }
    const events = range.events;
    if (!Array.isArray(events) || events.length === 0) this.fail(`${at}.events`, 'must be a non-empty array');
    const parsed: OsvRange = { type: type as OsvRangeType, events: events.map((event, i) => this.event(event, `${at}.events[${i}]`)) };
    if (!parsed.events.some((event) => 'introduced' in event)) {
      this.fail(`${at}.events`, 'has no introduced event (the schema requires one; "0" means from the first version)');
    }
    assignDefined(parsed, { repo: this.string(range, 'repo', `${at}.repo`), database_specific: this.object(range, 'database_specific', `${at}.database_specific`) });
    return parsed;
  }

  event(event: unknown, at: string): OsvEvent {
    if (!isObject(event)) this.fail(at, 'must be a JSON object');
    const kinds = EVENT_KINDS.filter((kind) => Object.hasOwn(event, kind));
    if (kinds.length !== 1) this.fail(at, `must have exactly one of ${EVENT_KINDS.join(', ')}; it has ${kinds.length === 0 ? 'none' : kinds.join(', ')}`);
    const kind = kinds[0];
    const value = event[kind];
    if (typeof value !== 'string' || value === '') this.fail(`${at}.${kind}`, 'must be a non-empty string');
    return { [kind]: value } as OsvEvent;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
