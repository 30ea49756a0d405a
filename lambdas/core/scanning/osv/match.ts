/**
 * Whether an installed package is affected by OSV records, by the schema's own evaluation algorithm
 * (https://ossf.github.io/osv-schema/#evaluation): a version is affected when an `affected` entry for
 * its package lists it in `versions` or places it inside one of its `ranges`; inside a range, the
 * events are sorted and walked, `introduced` opening, `fixed` (at or after) and `last_affected` (after)
 * closing, and `limit` events bounding the whole range from above (`*` is infinity).
 *
 * Identity, as advisories key it:
 * - Ecosystems compare exactly (`Debian:12` never matches `Debian:11`, nor `Ubuntu:22.04:LTS`
 *   `Ubuntu:Pro:22.04:LTS`), with one widening: a distribution record whose ecosystem has no release
 *   (plain `Debian`, `Ubuntu`, `Alpine`) applies to every release of that distribution. The schema
 *   makes the Debian release suffix optional, and a record that names no release claims the package
 *   in the distribution as a whole; its versions are that distribution's own (dpkg or apk), so they
 *   order correctly against any release's. This can report a fix backported to one release as missing
 *   (a false positive), never hide one (a false negative).
 * - Distribution records name source packages at source versions, so a Debian, Ubuntu or Alpine
 *   package is looked up as `sourceName ?? name` at `sourceVersion ?? version`; an npm package by its
 *   own name and version.
 * - Versions compare with the package's ecosystem ordering (versions/index.ts) for ECOSYSTEM and
 *   SEMVER ranges alike (npm's ordering is SemVer). GIT ranges are commit ranges: not evaluated, as the
 *   schema expects a `versions` list beside them. `versions` entries compare as strings, as the
 *   schema's IncludedInVersions does.
 * - A withdrawn record matches nothing.
 *
 * A range that cannot be ordered (a version the ordering refuses, an ecosystem Berth has no ordering
 * for) leaves the package not evaluated against that record, which is not the same as unaffected: the
 * caller's `onUnevaluated` hears of it, and without one the error is thrown.
 */
import type { InstalledPackage } from '../model';
import { compareVersions } from '../versions';
import type { OsvAffected, OsvEvent, OsvRange, OsvRecord } from './record';

/** The OSV ecosystems (before their first colon) whose records name source packages and carry a release. */
export const DISTRIBUTION_ECOSYSTEMS: readonly string[] = ['Debian', 'Ubuntu', 'Alpine'];

/** One record that affects a package, with the `affected` entries (one or more) that placed it there. */
export interface PackageMatch {
  record: OsvRecord;
  affected: OsvAffected[];
}

/** A range the package could not be placed in or out of, and why. */
export interface UnevaluatedRange {
  record: OsvRecord;
  affected: OsvAffected;
  range: OsvRange;
  error: Error;
}

/** How matching reports what it could not decide. */
export interface MatchOptions {
  /** Called for each record the package could not be evaluated against; absent, the error is thrown. */
  onUnevaluated?: (unevaluated: UnevaluatedRange) => void;
}

/** The name and version a package is looked up under in OSV records (source package for distributions). */
export function advisoryIdentity(pkg: InstalledPackage): { name: string; version: string } {
  if (isDistribution(pkg.ecosystem)) return { name: pkg.sourceName ?? pkg.name, version: pkg.sourceVersion ?? pkg.version };
  return { name: pkg.name, version: pkg.version };
}

/** Whether an `affected[].package.ecosystem` covers a package installed under `packageEcosystem`. */
export function ecosystemCovers(recordEcosystem: string, packageEcosystem: string): boolean {
  if (recordEcosystem === packageEcosystem) return true;
  return DISTRIBUTION_ECOSYSTEMS.includes(recordEcosystem) && packageEcosystem.startsWith(`${recordEcosystem}:`);
}

/** The records that affect `pkg`, each once, in the order given; withdrawn records never. */
export function matchPackage(pkg: InstalledPackage, records: Iterable<OsvRecord>, options: MatchOptions = {}): PackageMatch[] {
  const { name, version } = advisoryIdentity(pkg);
  const matches: PackageMatch[] = [];
  for (const record of records) {
    if (record.withdrawn !== undefined) continue;
    const entries = record.affected.filter(
      (entry) => entry.package !== undefined && entry.package.name === name && ecosystemCovers(entry.package.ecosystem, pkg.ecosystem),
    );
    const hits: OsvAffected[] = [];
    const unknown: UnevaluatedRange[] = [];
    for (const entry of entries) {
      const verdict = evaluate(version, entry, pkg.ecosystem);
      if (verdict.affected) hits.push(entry);
      else for (const { range, error } of verdict.errors) unknown.push({ record, affected: entry, range, error });
    }
    if (hits.length > 0) matches.push({ record, affected: hits });
    // Only an undecided record is reported: a range that failed does not matter once another placed the version.
    else for (const u of unknown) report(u, options);
  }
  return matches;
}

/** Index records by the package names their `affected` entries name, so each package is matched against its own few. */
export function recordsByPackageName(records: Iterable<OsvRecord>): Map<string, OsvRecord[]> {
  const index = new Map<string, OsvRecord[]>();
  for (const record of records) {
    const names = new Set(record.affected.flatMap((entry) => (entry.package === undefined ? [] : [entry.package.name])));
    for (const name of names) {
      const list = index.get(name);
      if (list === undefined) index.set(name, [record]);
      else list.push(record);
    }
  }
  return index;
}

/**
 * IsVulnerable for one `affected` entry: the explicit versions, then each range. Errors are collected
 * per range, because a later range (or the versions list) may still decide.
 */
export function evaluate(
  version: string,
  entry: OsvAffected,
  ecosystem: string,
): { affected: boolean; errors: Array<{ range: OsvRange; error: Error }> } {
  if (entry.versions?.includes(version)) return { affected: true, errors: [] };
  const errors: Array<{ range: OsvRange; error: Error }> = [];
  const compare = (a: string, b: string) => compareVersions(ecosystem, a, b);
  for (const range of entry.ranges ?? []) {
    if (range.type === 'GIT') continue;
    try {
      if (includedInRange(version, range.events, compare)) return { affected: true, errors: [] };
    } catch (error) {
      errors.push({ range, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }
  return { affected: false, errors };
}

/** IncludedInRanges for one range, as the schema's pseudo-code has it (BeforeLimits, then the sorted walk). */
export function includedInRange(version: string, events: readonly OsvEvent[], compare: (a: string, b: string) => number): boolean {
  const limits = events.flatMap((event) => ('limit' in event ? [event.limit] : []));
  // No limit event means the implicit `limit: "*"`.
  if (limits.length > 0 && !limits.some((limit) => limit.includes('*') || compare(version, limit) < 0)) return false;
  let vulnerable = false;
  for (const event of sortEvents(events, compare)) {
    if ('introduced' in event) {
      if (event.introduced === '0' || compare(version, event.introduced) >= 0) vulnerable = true;
    } else if ('fixed' in event) {
      if (compare(version, event.fixed) >= 0) vulnerable = false;
    } else if ('last_affected' in event) {
      if (compare(version, event.last_affected) > 0) vulnerable = false;
    }
  }
  return vulnerable;
}

// On equal versions an introduced event sorts first, so that `introduced: X, fixed: X` is the empty
// range it describes rather than a range reopened at X.
const KIND_RANK = { introduced: 0, last_affected: 1, fixed: 2, limit: 3 } as const;

/** The events in version order, `introduced: "0"` before everything; limits are left out (BeforeLimits reads them). */
export function sortEvents(events: readonly OsvEvent[], compare: (a: string, b: string) => number): OsvEvent[] {
  const kinded = events.filter((event) => !('limit' in event)).map((event) => ({ event, ...kindOf(event) }));
  kinded.sort((a, b) => {
    const aZero = a.kind === 'introduced' && a.version === '0';
    const bZero = b.kind === 'introduced' && b.version === '0';
    if (aZero || bZero) return aZero && bZero ? 0 : aZero ? -1 : 1;
    return compare(a.version, b.version) || KIND_RANK[a.kind] - KIND_RANK[b.kind];
  });
  return kinded.map(({ event }) => event);
}

function kindOf(event: OsvEvent): { kind: keyof typeof KIND_RANK; version: string } {
  if ('introduced' in event) return { kind: 'introduced', version: event.introduced };
  if ('fixed' in event) return { kind: 'fixed', version: event.fixed };
  if ('last_affected' in event) return { kind: 'last_affected', version: event.last_affected };
  return { kind: 'limit', version: event.limit };
}

function isDistribution(ecosystem: string): boolean {
  return DISTRIBUTION_ECOSYSTEMS.includes(ecosystem.split(':', 1)[0]);
}

function report(unevaluated: UnevaluatedRange, options: MatchOptions): void {
  if (options.onUnevaluated === undefined) throw unevaluated.error;
  options.onUnevaluated(unevaluated);
}
