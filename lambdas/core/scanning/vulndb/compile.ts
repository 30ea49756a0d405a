/**
 * OSV records to per-ecosystem vulnerability data (format.ts), what `berth vulndb import` stores.
 *
 * Each record goes to every ecosystem its `affected[].package.ecosystem` names, exactly as named
 * (`Debian:12`, `Alpine:v3.19`, `Ubuntu:22.04:LTS`, `npm`): a scan asks for one OS release and npm,
 * and loads only those. A bare `Debian`, `Ubuntu` or `Alpine` is kept under its own name, since
 * match.ts lets it cover every release: the lookup (lookup.ts) merges it into each release's records.
 * Ecosystems Berth has no version ordering for (PyPI, Go, Maven, ...) cannot be matched, so records
 * only about them are skipped and counted, as are their entries in records that also name others.
 *
 * What is kept is what match.ts, severity.ts and findings.ts read, so a release's data stays a few
 * times smaller than the export: id, modified, withdrawn, aliases, upstream, the description findings
 * show (the summary, else the details; bounded), severity, `database_specific.severity`, up to a few
 * ADVISORY and WEB references (the first ADVISORY is a finding's uri), and per package the `affected`
 * entries of that ecosystem and package with their versions, ranges (GIT ranges, never evaluated,
 * dropped) and severity words (`ecosystem_specific.urgency`/`severity`, `database_specific.severity`).
 *
 * A record parseOsvRecord refuses is reported (id, field, reason, where it came from) and the import
 * goes on. The same id seen twice in an ecosystem (an import of overlapping exports) keeps the copy
 * modified last.
 */
import { OsvRecordError, parseOsvRecord, type OsvAffected, type OsvRecord, type OsvReference } from '../osv/record';
import { versionScheme } from '../versions';
import { COMPILED_FORMAT, type CompiledEcosystem } from './format';

/** A record's description is cut here; ECR's own descriptions are the CVE's, rarely longer. */
export const DESCRIPTION_MAX = 2000;
/** ADVISORY and WEB references kept per record (ADVISORY first). */
export const REFERENCES_MAX = 4;
/** Longer ecosystem names are refused (OSV's longest are about 30 characters). */
export const ECOSYSTEM_NAME_MAX = 100;
/** How CompileReport.skipped counts a record that names no package, or none with a version to match. */
export const NOTHING_TO_MATCH = '(nothing to match)';
/** Bad records listed in a report (all are counted). */
export const BAD_LISTED_MAX = 1000;

/** An OSV file's text and where it came from (read-osv-export.ts), so a bad one can be named; or why it could not be read. */
export class OsvFile {
  constructor(
    readonly source: string,
    readonly text: string,
    readonly unreadable?: string,
  ) {}
}

/** A file or record the import could not use. */
export interface BadOsvRecord {
  /** The record's id, when it had a readable one. */
  id?: string;
  /** The field at fault (`affected[0].ranges[1].events`), '' for the file or record as a whole. */
  field: string;
  reason: string;
  /** The file (`<zip>:<entry>` inside a zip), when known. */
  source?: string;
}

export interface CompileReport {
  /** Records (or files that should have been records) read. */
  recordsRead: number;
  /** Distinct records per ecosystem compiled. */
  imported: Record<string, number>;
  /** Records naming no ecosystem Berth scans, per ecosystem they name (a record naming two counts in both). */
  skipped: { records: number; byEcosystem: Record<string, number> };
  /** Records seen again in an ecosystem (the copy modified last is kept). */
  duplicates: number;
  badCount: number;
  /** The first BAD_LISTED_MAX bad records. */
  bad: BadOsvRecord[];
}

export interface CompiledVulnerabilityData {
  ecosystems: CompiledEcosystem[];
  report: CompileReport;
}

/** Whether Berth can match packages of an OSV ecosystem (it has a version ordering for it). */
export function isScannedEcosystem(ecosystem: string): boolean {
  return versionScheme(ecosystem) !== undefined;
}

interface Kept {
  modified: number;
  /** Per package name, the record reduced to that package's entries. */
  byPackage: Map<string, OsvRecord>;
}

/** Compiles OSV records: JSON values, or OsvFile texts to parse. */
export async function compileOsvRecords(records: Iterable<unknown> | AsyncIterable<unknown>): Promise<CompiledVulnerabilityData> {
  const report: CompileReport = { recordsRead: 0, imported: {}, skipped: { records: 0, byEcosystem: Object.create(null) }, duplicates: 0, badCount: 0, bad: [] };
  const ecosystems = new Map<string, Map<string, Kept>>();
  const bad = (entry: BadOsvRecord) => {
    report.badCount++;
    if (report.bad.length < BAD_LISTED_MAX) report.bad.push(entry);
  };
  for await (const item of records) {
    report.recordsRead++;
    const where = item instanceof OsvFile ? { source: item.source } : {};
    let json: unknown = item;
    if (item instanceof OsvFile) {
      if (item.unreadable !== undefined) {
        bad({ field: '', reason: item.unreadable, ...where });
        continue;
      }
      try {
        json = JSON.parse(item.text);
      } catch (err) {
        bad({ field: '', reason: `not JSON: ${(err as Error).message}`, ...where });
        continue;
      }
    }
    let record: OsvRecord;
    try {
      record = parseOsvRecord(json);
    } catch (err) {
      if (!(err instanceof OsvRecordError)) throw err;
      bad({ ...(err.recordId === undefined ? {} : { id: err.recordId }), field: err.field, reason: err.reason, ...where });
      continue;
    }
    let groups: ReturnType<typeof groupAffected>;
    try {
      groups = groupAffected(record);
    } catch (err) {
      if (!(err instanceof OsvRecordError)) throw err;
      bad({ id: record.id, field: err.field, reason: err.reason, ...where });
      continue;
    }
    if (groups.scanned.size === 0) {
      report.skipped.records++;
      for (const name of groups.unscanned) report.skipped.byEcosystem[name] = (report.skipped.byEcosystem[name] ?? 0) + 1;
      // No package, or only entries nothing can match (GIT ranges without versions).
      if (groups.unscanned.size === 0) report.skipped.byEcosystem[NOTHING_TO_MATCH] = (report.skipped.byEcosystem[NOTHING_TO_MATCH] ?? 0) + 1;
      continue;
    }
    const shared = reduceRecord(record);
    const modified = Date.parse(record.modified);
    for (const [ecosystem, byName] of groups.scanned) {
      let kept = ecosystems.get(ecosystem);
      if (kept === undefined) ecosystems.set(ecosystem, (kept = new Map()));
      const previous = kept.get(record.id);
      if (previous !== undefined) {
        report.duplicates++;
        if (previous.modified > modified) continue;
      }
      const byPackage = new Map<string, OsvRecord>();
      for (const [name, entries] of byName) byPackage.set(name, { ...shared, affected: entries });
      kept.set(record.id, { modified, byPackage });
    }
  }
  const compiled = [...ecosystems.entries()].sort(([a], [b]) => compareText(a, b)).map(([ecosystem, kept]) => toCompiled(ecosystem, kept));
  for (const c of compiled) report.imported[c.ecosystem] = c.recordCount;
  return { ecosystems: compiled, report };
}

/** A record's reduced `affected` entries per scanned ecosystem and package name, and the unscanned ecosystems it names. */
function groupAffected(record: OsvRecord): { scanned: Map<string, Map<string, OsvAffected[]>>; unscanned: Set<string> } {
  const scanned = new Map<string, Map<string, OsvAffected[]>>();
  const unscanned = new Set<string>();
  for (const [i, entry] of record.affected.entries()) {
    if (entry.package === undefined) continue;
    const { ecosystem, name } = entry.package;
    if (!isScannedEcosystem(ecosystem)) {
      unscanned.add(ecosystem);
      continue;
    }
    // It names a file of the store: a name no advisory database uses is refused rather than stored.
    if (ecosystem.length > ECOSYSTEM_NAME_MAX) throw new OsvRecordError(`an ecosystem name of more than ${ECOSYSTEM_NAME_MAX} characters`, `affected[${i}].package.ecosystem`, record.id);
    const reduced = reduceAffected(entry);
    // An entry with neither versions nor an evaluated range matches nothing.
    if (reduced === undefined) continue;
    let byName = scanned.get(ecosystem);
    if (byName === undefined) scanned.set(ecosystem, (byName = new Map()));
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [reduced]);
    else list.push(reduced);
  }
  return { scanned, unscanned };
}

function reduceRecord(record: OsvRecord): Omit<OsvRecord, 'affected'> {
  const reduced: Omit<OsvRecord, 'affected'> = { id: record.id, modified: record.modified };
  if (record.withdrawn !== undefined) reduced.withdrawn = record.withdrawn;
  if (record.aliases?.length) reduced.aliases = record.aliases;
  if (record.upstream?.length) reduced.upstream = record.upstream;
  // findings.ts shows the summary, else the details: the details are kept only when there is no summary.
  const summary = bounded(record.summary);
  if (summary !== undefined) reduced.summary = summary;
  else {
    const details = bounded(record.details);
    if (details !== undefined) reduced.details = details;
  }
  if (record.severity?.length) reduced.severity = record.severity;
  const references = keptReferences(record.references);
  if (references.length > 0) reduced.references = references;
  const words = severityWords(record.database_specific, ['severity']);
  if (words !== undefined) reduced.database_specific = words;
  return reduced;
}

function reduceAffected(entry: OsvAffected): OsvAffected | undefined {
  const ranges = (entry.ranges ?? []).filter((range) => range.type !== 'GIT').map((range) => ({ type: range.type, events: range.events }));
  if (ranges.length === 0 && !entry.versions?.length) return undefined;
  const reduced: OsvAffected = { package: { ecosystem: entry.package!.ecosystem, name: entry.package!.name } };
  if (ranges.length > 0) reduced.ranges = ranges;
  if (entry.versions?.length) reduced.versions = entry.versions;
  if (entry.severity?.length) reduced.severity = entry.severity;
  const ecosystemWords = severityWords(entry.ecosystem_specific, ['urgency', 'severity']);
  if (ecosystemWords !== undefined) reduced.ecosystem_specific = ecosystemWords;
  const databaseWords = severityWords(entry.database_specific, ['severity']);
  if (databaseWords !== undefined) reduced.database_specific = databaseWords;
  return reduced;
}

/** The string values severity.ts reads from a `*_specific` object. */
function severityWords(object: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, string> | undefined {
  const kept = Object.fromEntries(keys.flatMap((key) => (typeof object?.[key] === 'string' ? [[key, object[key] as string]] : [])));
  return Object.keys(kept).length > 0 ? kept : undefined;
}

function keptReferences(references: readonly OsvReference[] | undefined): OsvReference[] {
  const advisory = (references ?? []).filter((r) => r.type === 'ADVISORY');
  const web = (references ?? []).filter((r) => r.type === 'WEB');
  return [...advisory, ...web].slice(0, REFERENCES_MAX).map(({ type, url }) => ({ type, url }));
}

/** Trimmed, cut at DESCRIPTION_MAX (never inside a surrogate pair), undefined when blank. */
export function bounded(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  if (!trimmed) return undefined;
  if (trimmed.length <= DESCRIPTION_MAX) return trimmed;
  let cut = DESCRIPTION_MAX - 1;
  const last = trimmed.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${trimmed.slice(0, cut).trimEnd()}…`;
}

function toCompiled(ecosystem: string, kept: Map<string, Kept>): CompiledEcosystem {
  const byName = new Map<string, OsvRecord[]>();
  let latest = -Infinity;
  for (const { modified, byPackage } of kept.values()) {
    if (modified > latest) latest = modified;
    for (const [name, record] of byPackage) {
      const list = byName.get(name);
      if (list === undefined) byName.set(name, [record]);
      else list.push(record);
    }
  }
  // Package names are anyone's (an npm package may be called __proto__): no prototype to collide with.
  const packages: Record<string, OsvRecord[]> = Object.create(null);
  for (const name of [...byName.keys()].sort(compareText)) packages[name] = byName.get(name)!.sort((a, b) => compareText(a.id, b.id));
  return { format: COMPILED_FORMAT, ecosystem, sourceUpdatedAt: new Date(latest).toISOString(), recordCount: kept.size, packages };
}

// Code-unit order, not the locale's: the same data compiles to the same bytes on every machine.
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
