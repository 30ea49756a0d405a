/**
 * The registry's scanning configuration (ECR's PutRegistryScanningConfiguration and
 * GetRegistryScanningConfiguration) and the one decision the rest of Berth asks of it: how a
 * repository's images are scanned (`effectiveScanning`, what BatchGetRepositoryScanningConfiguration
 * answers and what the scanner follows on a push and when vulnerability data is imported).
 *
 * Validated as ECR validates it (API reference: RegistryScanningConfiguration, RegistryScanningRule,
 * ScanningRepositoryFilter); a refusal names the rule and the field (`rules[1].repositoryFilters[0].filter: ...`),
 * as the replication configuration's do (core/replication/configuration.ts).
 *
 * As ECR documents it (user guide, "Filters to choose which repositories are scanned"):
 * - A filter without `*` matches every repository whose name contains it; with `*`, the whole name,
 *   each `*` standing for zero or more characters (`prod*` matches `prod-repo`, not `repo-prod`).
 *   Case never arises: ECR's patterns allow lowercase only, in filters and in repository names.
 * - With BASIC scanning, a repository no SCAN_ON_PUSH filter matches is scanned manually only.
 * - Where rules of different frequencies match one repository, CONTINUOUS_SCAN wins over SCAN_ON_PUSH.
 *
 * Berth's choices, where ECR's documentation is silent or Berth differs (docs/scanning.md):
 * - ENHANCED is refused: it is Amazon Inspector's. BASIC is Berth's own analyzer.
 * - CONTINUOUS_SCAN is accepted with BASIC (ECR takes it with ENHANCED only): the repository's images
 *   are scanned on push and matched again when new vulnerability data is imported.
 * - The registry's configuration decides once it has a rule; with no rule (nothing put, or `rules: []`)
 *   each repository's own scanOnPush (PutImageScanningConfiguration) decides, as it did before
 *   registry-level scanning existed.
 * - Precedence among matching rules: CONTINUOUS_SCAN, then SCAN_ON_PUSH, then MANUAL (a MANUAL rule
 *   cannot take a repository out of another rule). A rule with no filter matches no repository.
 * - A member Berth does not know is refused rather than ignored (a misspelt `repositoryFilter` would
 *   silently scan nothing).
 */
import type { RegistrySettingsStore, RepositoryStore } from '../../storage/ports';
import type { RegistryScanningConfiguration, RegistryScanningRule, ScanFrequency, ScanningRepositoryFilter } from '../model';

/** ECR's limits (API reference). */
export const MAX_SCANNING_RULES = 2;
export const MAX_SCANNING_FILTERS_PER_RULE = 100;
export const MIN_SCANNING_FILTER_LENGTH = 1;
export const MAX_SCANNING_FILTER_LENGTH = 255;
/** ECR's ScanningRepositoryFilter `filter` pattern, as its API reference writes it (quoted in refusals). */
export const SCANNING_FILTER_PATTERN_TEXT = '^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$';
/**
 * The same language without nested quantifiers: runs of [a-z0-9*] joined by single separators. ECR's
 * own form backtracks exponentially on a long name that fails at its end; this one cannot.
 */
const SCANNING_FILTER_PATTERN = /^[a-z0-9*]+(?:[._\-/][a-z0-9*]+)*$/;
export const SCAN_TYPES = ['BASIC', 'ENHANCED'] as const;
export const SCAN_FREQUENCIES: readonly ScanFrequency[] = ['SCAN_ON_PUSH', 'CONTINUOUS_SCAN', 'MANUAL'];
export const SCANNING_FILTER_TYPES = ['WILDCARD'] as const;

/** A configuration the registry refuses; the ECR API answers InvalidParameterException with this message. */
export class ScanningConfigurationError extends Error {
  constructor(
    /** Where: `scanType`, `rules`, `rules[1].repositoryFilters[0].filter`, ... */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ScanningConfigurationError';
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown) => v === undefined || v === null;
const fail = (field: string, reason: string): never => {
  throw new ScanningConfigurationError(field, reason);
};
const shown = (v: unknown) => (typeof v === 'string' ? `'${v.slice(0, 300)}'` : JSON.stringify(v));

function members(obj: Json, allowed: readonly string[], at: string, what: string): void {
  const extra = Object.keys(obj).find((k) => !allowed.includes(k));
  if (extra !== undefined) fail(`${at}.${extra}`, `is not a member of ${what}; expected ${allowed.join(', ')}`);
}

function list(value: unknown, at: string, max: number, noun: string): unknown[] {
  if (!Array.isArray(value)) return fail(at, `must be a list of ${noun}`);
  if (value.length > max) fail(at, `must hold at most ${max} ${noun}; it holds ${value.length}`);
  return value;
}

/** Whether `filter` has ECR's ScanningRepositoryFilter pattern. */
export function isScanningFilter(filter: string): boolean {
  return SCANNING_FILTER_PATTERN.test(filter);
}

function filterOf(raw: unknown, at: string): ScanningRepositoryFilter {
  if (!isObject(raw)) return fail(at, 'must be an object with filter and filterType');
  members(raw, ['filter', 'filterType'], at, 'a repository filter');
  const { filter, filterType } = raw;
  if (absent(filter)) fail(`${at}.filter`, 'is required');
  if (typeof filter !== 'string') return fail(`${at}.filter`, 'must be a string');
  if (filter.length < MIN_SCANNING_FILTER_LENGTH || filter.length > MAX_SCANNING_FILTER_LENGTH) {
    fail(`${at}.filter`, `must have ${MIN_SCANNING_FILTER_LENGTH} to ${MAX_SCANNING_FILTER_LENGTH} characters; ${shown(filter)} has ${filter.length}`);
  }
  if (!isScanningFilter(filter)) {
    fail(`${at}.filter`, `${shown(filter)} must match ${SCANNING_FILTER_PATTERN_TEXT} (lowercase letters, digits and *, joined by single . _ - or /)`);
  }
  if (absent(filterType)) fail(`${at}.filterType`, `is required; one of ${SCANNING_FILTER_TYPES.join(', ')}`);
  if (filterType !== 'WILDCARD') fail(`${at}.filterType`, `${shown(filterType)} must be one of ${SCANNING_FILTER_TYPES.join(', ')}`);
  return { filter, filterType: 'WILDCARD' };
}

function ruleOf(raw: unknown, at: string): RegistryScanningRule {
  if (!isObject(raw)) return fail(at, 'must be an object with scanFrequency and repositoryFilters');
  members(raw, ['scanFrequency', 'repositoryFilters'], at, 'a scanning rule');
  const { scanFrequency, repositoryFilters } = raw;
  if (absent(scanFrequency)) fail(`${at}.scanFrequency`, `is required; one of ${SCAN_FREQUENCIES.join(', ')}`);
  if (!SCAN_FREQUENCIES.includes(scanFrequency as ScanFrequency)) fail(`${at}.scanFrequency`, `${shown(scanFrequency)} must be one of ${SCAN_FREQUENCIES.join(', ')}`);
  if (absent(repositoryFilters)) fail(`${at}.repositoryFilters`, `is required (a list of 0 to ${MAX_SCANNING_FILTERS_PER_RULE} filters)`);
  const filters = list(repositoryFilters, `${at}.repositoryFilters`, MAX_SCANNING_FILTERS_PER_RULE, 'filters').map((f, i) => filterOf(f, `${at}.repositoryFilters[${i}]`));
  return { scanFrequency: scanFrequency as ScanFrequency, repositoryFilters: filters };
}

/**
 * Reads a configuration (PutRegistryScanningConfiguration's `scanType` and `rules`; an absent
 * scanType is BASIC, absent rules none); throws ScanningConfigurationError.
 */
export function parseRegistryScanningConfiguration(value: { scanType?: unknown; rules?: unknown }): RegistryScanningConfiguration {
  const { scanType, rules } = value;
  if (!absent(scanType)) {
    if (typeof scanType !== 'string') fail('scanType', `must be a string, one of ${SCAN_TYPES.join(', ')}`);
    if (scanType === 'ENHANCED') {
      fail('scanType', 'ENHANCED scanning is done by Amazon Inspector, which Berth does not have; use BASIC, Berth\'s own analyzer (its rules take SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL)');
    }
    if (scanType !== 'BASIC') fail('scanType', `${shown(scanType)} must be one of ${SCAN_TYPES.join(', ')}`);
  }
  const parsed = absent(rules) ? [] : list(rules, 'rules', MAX_SCANNING_RULES, 'rules').map((r, i) => ruleOf(r, `rules[${i}]`));
  return { scanType: 'BASIC', rules: parsed };
}

/**
 * Whether a WILDCARD filter matches a repository name, as ECR documents it: without `*`, the name
 * contains the filter; with `*`, the whole name matches, each `*` standing for zero or more
 * characters. Linear in the name's length (no regular expression to backtrack).
 */
export function wildcardMatches(filter: string, name: string): boolean {
  if (!filter.includes('*')) return name.includes(filter);
  const parts = filter.split('*');
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  // The leftmost place of each middle part, in order, between the first part and the last.
  let at = first.length;
  const end = name.length - last.length;
  for (const part of parts.slice(1, -1)) {
    if (part === '') continue;
    const found = name.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** How a repository's images are scanned. */
export interface EffectiveScanning {
  /** Whether a push is scanned (SCAN_ON_PUSH and CONTINUOUS_SCAN). */
  scanOnPush: boolean;
  /** CONTINUOUS_SCAN: also matched again when new vulnerability data is imported; MANUAL: only by StartImageScan. */
  frequency: ScanFrequency;
  /** The deciding rule's filters that match the repository (none when the repository's own scanOnPush decides). */
  appliedFilters: ScanningRepositoryFilter[];
}

const PRECEDENCE: Record<ScanFrequency, number> = { CONTINUOUS_SCAN: 3, SCAN_ON_PUSH: 2, MANUAL: 1 };

/**
 * The one decision: with a registry configuration that has rules, the rules decide (the highest
 * frequency among the rules matching the repository; MANUAL when none matches); otherwise the
 * repository's scanOnPush (SCAN_ON_PUSH or MANUAL).
 */
export function effectiveScanning(configuration: RegistryScanningConfiguration | undefined, repository: { name: string; scanOnPush: boolean }): EffectiveScanning {
  if (configuration === undefined || configuration.rules.length === 0) {
    return { scanOnPush: repository.scanOnPush, frequency: repository.scanOnPush ? 'SCAN_ON_PUSH' : 'MANUAL', appliedFilters: [] };
  }
  let frequency: ScanFrequency | undefined;
  let applied: ScanningRepositoryFilter[] = [];
  for (const rule of configuration.rules) {
    const matching = rule.repositoryFilters.filter((f) => wildcardMatches(f.filter, repository.name));
    if (matching.length === 0) continue;
    if (frequency === undefined || PRECEDENCE[rule.scanFrequency] > PRECEDENCE[frequency]) {
      frequency = rule.scanFrequency;
      applied = [];
    } else if (rule.scanFrequency !== frequency) {
      continue;
    }
    for (const f of matching) if (!applied.some((a) => a.filter === f.filter)) applied.push({ filter: f.filter, filterType: f.filterType });
  }
  if (frequency === undefined) return { scanOnPush: false, frequency: 'MANUAL', appliedFilters: [] };
  return { scanOnPush: frequency !== 'MANUAL', frequency, appliedFilters: applied };
}

/** The stored configuration, over the registry settings. */
export class RegistryScanningConfigurations {
  constructor(private readonly store: RegistrySettingsStore) {}

  /** The stored configuration; when none was put, ECR's default: BASIC with no rules. */
  async get(): Promise<RegistryScanningConfiguration> {
    return (await this.store.getRegistrySettings()).scanningConfiguration ?? { scanType: 'BASIC', rules: [] };
  }

  /** Validates and stores a configuration, replacing the previous one (nothing is written when it is refused); answers what was stored. */
  async put(value: { scanType?: unknown; rules?: unknown }): Promise<RegistryScanningConfiguration> {
    const configuration = parseRegistryScanningConfiguration(value);
    const settings = await this.store.getRegistrySettings();
    await this.store.setRegistrySettings({ ...settings, scanningConfiguration: configuration });
    return configuration;
  }

  /** How each repository's images are scanned, the configuration read once. */
  async effective(repositories: ReadonlyArray<{ name: string; scanOnPush: boolean }>): Promise<EffectiveScanning[]> {
    const configuration = (await this.store.getRegistrySettings()).scanningConfiguration;
    return repositories.map((r) => effectiveScanning(configuration, r));
  }
}

/** How long a push trusts the registry's scanning configuration without reading it again (as repository settings are cached). */
export const SCANNING_CONFIGURATION_CACHE_MS = 5_000;

/**
 * Whether a push to a repository starts a scan (docs/scanning.md, "Which images are scanned"): the
 * registry's scanning configuration read at most every few seconds, the repository's settings through
 * the caller's (cached) repository role. An unknown repository (a push creating it) scans as its
 * settings would: created from a template or the defaults, which the first push after sees.
 */
export function scanOnPushFromSettings(
  repositories: Pick<RepositoryStore, 'getRepositorySettings'>,
  registrySettings: RegistrySettingsStore,
  options: { ttlMs?: number; now?: () => number } = {},
): (repository: string) => Promise<boolean> {
  const ttlMs = options.ttlMs ?? SCANNING_CONFIGURATION_CACHE_MS;
  const now = options.now ?? Date.now;
  let cached: { at: number; configuration: Promise<RegistryScanningConfiguration | undefined> } | undefined;
  const configuration = (): Promise<RegistryScanningConfiguration | undefined> => {
    const at = now();
    if (cached === undefined || at - cached.at > ttlMs) {
      const entry = { at, configuration: registrySettings.getRegistrySettings().then((s) => s.scanningConfiguration) };
      cached = entry;
      // A failed read is not kept.
      entry.configuration.catch(() => cached === entry && (cached = undefined));
    }
    return cached.configuration;
  };
  return async (repository) => {
    const [config, settings] = await Promise.all([configuration(), repositories.getRepositorySettings(repository)]);
    return effectiveScanning(config, { name: repository, scanOnPush: settings?.imageScanningConfiguration?.scanOnPush === true }).scanOnPush;
  };
}
