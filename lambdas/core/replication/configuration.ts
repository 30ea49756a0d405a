/**
 * The registry's replication configuration (ECR's PutReplicationConfiguration and DescribeRegistry):
 * rules of destinations and repository filters, validated as ECR validates them (API reference:
 * ReplicationConfiguration, ReplicationRule, ReplicationDestination, RepositoryFilter) and kept in the
 * registry settings. A refusal names the rule and the field (`rules[1].destinations[0].region: ...`),
 * as lifecycle policies do, since that is how a configuration file is fixed.
 *
 * Beyond ECR's model, a destination must be one the deployment knows (contracts/replication.ts: where
 * it lives and how to reach it is deployment configuration) and must not be the registry itself.
 *
 * Choices where ECR's documentation is silent:
 * - A member Berth does not know is refused rather than ignored: replication would silently not do
 *   what it asks (a misspelt `deleteReplication`, filters ECR may add later).
 * - The same destination twice in one rule is refused; in two rules it is accepted (one replication).
 */
import { REGISTRY_ID_PATTERN, REPLICATION_REGION_PATTERN, type ReplicationSelf } from '../../contracts/replication';
import type { RegistrySettingsStore, ReplicationStatusStore } from '../../storage/ports';
import type { ReplicationConfiguration, ReplicationDestination, ReplicationRule, ReplicationState, RepositoryFilter } from '../model';

/** ECR's limits (API reference). */
export const MAX_REPLICATION_RULES = 10;
export const MAX_DESTINATIONS_PER_RULE = 100;
export const MIN_FILTERS_PER_RULE = 1;
export const MAX_FILTERS_PER_RULE = 100;
export const MIN_FILTER_LENGTH = 2;
export const MAX_FILTER_LENGTH = 256;
/** ECR's RepositoryFilter `filter` pattern, as its API reference writes it: a repository name prefix. */
export const REPOSITORY_FILTER_PATTERN_TEXT = '^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$';
const REPOSITORY_FILTER_PATTERN = new RegExp(REPOSITORY_FILTER_PATTERN_TEXT);
export const FILTER_TYPES = ['PREFIX_MATCH'] as const;

/** A configuration the registry refuses; the ECR API answers InvalidParameterException with this message. */
export class ReplicationConfigurationError extends Error {
  constructor(
    /** Where in the configuration: `rules`, `rules[1].destinations[0].region`, ... */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ReplicationConfigurationError';
  }
}

/** What the deployment says about replication: which registry this is and the destinations it can reach. */
export interface ReplicationDeployment {
  self?: ReplicationSelf;
  destinations: readonly ReplicationDestination[];
  /** Where destinations are configured, for the refusal of an unknown one ("the replicationDestinations of --config"). */
  configuredBy?: string;
}

/** A destination's status for an image (DescribeImageReplicationStatus). */
export interface ImageReplicationStatus extends ReplicationDestination {
  status: ReplicationState;
  failureCode?: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (field: string, reason: string): never => {
  throw new ReplicationConfigurationError(field, reason);
};
const shown = (v: unknown) => (typeof v === 'string' ? `'${v.slice(0, 300)}'` : JSON.stringify(v));
const keyOf = (d: ReplicationDestination) => `${d.region}/${d.registryId}`;

function members(obj: Json, allowed: readonly string[], at: string, what: string): void {
  const extra = Object.keys(obj).find((k) => !allowed.includes(k));
  if (extra !== undefined) fail(`${at}${at === '' ? '' : '.'}${extra}`, `is not a member of ${what}; expected ${allowed.join(', ')}`);
}

function list(value: unknown, at: string, min: number, max: number, noun: string): unknown[] {
  if (!Array.isArray(value)) return fail(at, `must be a list of ${noun}`);
  if (value.length < min) fail(at, `must hold at least ${min} ${noun}; it holds ${value.length}`);
  if (value.length > max) fail(at, `must hold at most ${max} ${noun}; it holds ${value.length}`);
  return value;
}

function destinationOf(raw: unknown, at: string): ReplicationDestination {
  if (!isObject(raw)) return fail(at, 'must be an object with region and registryId');
  members(raw, ['region', 'registryId'], at, 'a replication destination');
  const { region, registryId } = raw;
  if (region === undefined || region === null) fail(`${at}.region`, 'is required');
  if (typeof region !== 'string') return fail(`${at}.region`, 'must be a string');
  if (region.length < 2 || region.length > 25) fail(`${at}.region`, `must have 2 to 25 characters; ${shown(region)} has ${region.length}`);
  if (!REPLICATION_REGION_PATTERN.test(region)) fail(`${at}.region`, `${shown(region)} must match ${REPLICATION_REGION_PATTERN.source}`);
  if (registryId === undefined || registryId === null) fail(`${at}.registryId`, 'is required');
  if (typeof registryId !== 'string') return fail(`${at}.registryId`, 'must be a string');
  if (!REGISTRY_ID_PATTERN.test(registryId)) fail(`${at}.registryId`, `${shown(registryId)} must be a 12-digit account id (${REGISTRY_ID_PATTERN.source})`);
  return { region, registryId };
}

function filterOf(raw: unknown, at: string): RepositoryFilter {
  if (!isObject(raw)) return fail(at, 'must be an object with filter and filterType');
  members(raw, ['filter', 'filterType'], at, 'a repository filter');
  const { filter, filterType } = raw;
  if (filter === undefined || filter === null) fail(`${at}.filter`, 'is required');
  if (typeof filter !== 'string') return fail(`${at}.filter`, 'must be a string');
  if (filter.length < MIN_FILTER_LENGTH || filter.length > MAX_FILTER_LENGTH) {
    fail(`${at}.filter`, `must have ${MIN_FILTER_LENGTH} to ${MAX_FILTER_LENGTH} characters; ${shown(filter)} has ${filter.length}`);
  }
  if (!REPOSITORY_FILTER_PATTERN.test(filter)) fail(`${at}.filter`, `${shown(filter)} must match ${REPOSITORY_FILTER_PATTERN_TEXT}`);
  if (filterType === undefined || filterType === null) fail(`${at}.filterType`, `is required; one of ${FILTER_TYPES.join(', ')}`);
  if (!FILTER_TYPES.includes(filterType as (typeof FILTER_TYPES)[number])) fail(`${at}.filterType`, `${shown(filterType)} must be one of ${FILTER_TYPES.join(', ')}`);
  return { filter, filterType: 'PREFIX_MATCH' };
}

function ruleOf(raw: unknown, at: string): ReplicationRule {
  if (!isObject(raw)) return fail(at, 'must be an object with destinations');
  members(raw, ['destinations', 'repositoryFilters', 'deleteReplication'], at, 'a replication rule');
  if (raw.destinations === undefined || raw.destinations === null) fail(`${at}.destinations`, 'is required (a list of 0 to 100 destinations)');
  const destinations = list(raw.destinations, `${at}.destinations`, 0, MAX_DESTINATIONS_PER_RULE, 'destinations').map((d, i) => destinationOf(d, `${at}.destinations[${i}]`));
  const seen = new Map<string, number>();
  destinations.forEach((d, i) => {
    const first = seen.get(keyOf(d));
    if (first !== undefined) fail(`${at}.destinations[${i}]`, `names ${keyOf(d)} again (as ${at}.destinations[${first}])`);
    seen.set(keyOf(d), i);
  });
  const rule: ReplicationRule = { destinations };
  if (raw.repositoryFilters !== undefined && raw.repositoryFilters !== null) {
    rule.repositoryFilters = list(raw.repositoryFilters, `${at}.repositoryFilters`, MIN_FILTERS_PER_RULE, MAX_FILTERS_PER_RULE, 'filters').map((f, i) =>
      filterOf(f, `${at}.repositoryFilters[${i}]`),
    );
  }
  if (raw.deleteReplication !== undefined && raw.deleteReplication !== null) {
    const deletion = raw.deleteReplication;
    if (!isObject(deletion)) return fail(`${at}.deleteReplication`, 'must be an object with enabled');
    members(deletion, ['enabled'], `${at}.deleteReplication`, 'deleteReplication');
    if (typeof deletion.enabled !== 'boolean') fail(`${at}.deleteReplication.enabled`, 'is required and must be true or false');
    rule.deleteReplication = { enabled: deletion.enabled as boolean };
  }
  return rule;
}

/**
 * Reads a configuration (the JSON of PutReplicationConfiguration's `replicationConfiguration`) and
 * checks it against the deployment; throws ReplicationConfigurationError. Every rule's shape is
 * checked before any destination is looked up, so a malformed rule is reported as such.
 */
export function parseReplicationConfiguration(value: unknown, deployment: ReplicationDeployment): ReplicationConfiguration {
  if (!isObject(value)) return fail('replicationConfiguration', 'must be an object with rules');
  members(value, ['rules'], '', 'a replication configuration');
  if (value.rules === undefined || value.rules === null) fail('rules', 'is required (a list of 0 to 10 rules)');
  const rules = list(value.rules, 'rules', 0, MAX_REPLICATION_RULES, 'rules').map((r, i) => ruleOf(r, `rules[${i}]`));
  const known = new Set(deployment.destinations.map(keyOf));
  const { self } = deployment;
  rules.forEach((rule, r) =>
    rule.destinations.forEach((d, i) => {
      const at = `rules[${r}].destinations[${i}]`;
      if (self && d.registryId === self.registryId && self.regions.includes(d.region)) {
        fail(at, `region ${d.region} of account ${d.registryId} is this registry itself; a registry does not replicate to itself`);
      }
      if (!known.has(keyOf(d))) {
        const options = deployment.destinations.length === 0 ? 'none are configured' : `known: ${deployment.destinations.map(keyOf).join(', ')}`;
        fail(at, `region ${d.region} of account ${d.registryId} is not a destination this deployment knows (${options}${deployment.configuredBy ? `; see ${deployment.configuredBy}` : ''})`);
      }
    }),
  );
  return { rules };
}

/** Whether a rule covers a repository: no filter means every repository; PREFIX_MATCH is a prefix of the name. */
export function ruleCovers(rule: ReplicationRule, repository: string): boolean {
  return rule.repositoryFilters === undefined || rule.repositoryFilters.some((f) => repository.startsWith(f.filter));
}

/** The destinations a repository's images go to, in the order rules name them, each once. */
export function destinationsFor(configuration: ReplicationConfiguration, repository: string): ReplicationDestination[] {
  const out = new Map<string, ReplicationDestination>();
  for (const rule of configuration.rules) {
    if (!ruleCovers(rule, repository)) continue;
    for (const d of rule.destinations) if (!out.has(keyOf(d))) out.set(keyOf(d), { region: d.region, registryId: d.registryId });
  }
  return [...out.values()];
}

export class ReplicationConfigurations {
  constructor(
    private readonly store: RegistrySettingsStore & Pick<ReplicationStatusStore, 'getReplicationStatuses'>,
    private readonly deployment: ReplicationDeployment = { destinations: [] },
  ) {}

  /** The stored configuration (no rules when none was put). */
  async get(): Promise<ReplicationConfiguration> {
    return (await this.store.getRegistrySettings()).replicationConfiguration ?? { rules: [] };
  }

  /** Validates and stores a configuration, replacing the previous one; answers what was stored. */
  async put(value: unknown): Promise<ReplicationConfiguration> {
    const configuration = parseReplicationConfiguration(value, this.deployment);
    const settings = await this.store.getRegistrySettings();
    await this.store.setRegistrySettings({ ...settings, replicationConfiguration: configuration });
    return configuration;
  }

  /**
   * The statuses the replicator recorded for image `digest` of `repository`, for the destinations the
   * current rules give the repository, in the rules' order. A destination without a record is left
   * out: the image was pushed before a rule sent it there, so it was never replicated there (nor will
   * be until pushed again), and IN_PROGRESS would never end. Records of destinations no rule names
   * any more are old news and left out too.
   */
  async statusOf(repository: string, digest: string): Promise<ImageReplicationStatus[]> {
    const destinations = destinationsFor(await this.get(), repository);
    if (destinations.length === 0) return [];
    const stored = new Map((await this.store.getReplicationStatuses(repository, digest)).map((s) => [keyOf(s.destination), s]));
    return destinations.flatMap((d): ImageReplicationStatus[] => {
      const record = stored.get(keyOf(d));
      return record ? [{ ...d, status: record.status, ...(record.failureCode !== undefined ? { failureCode: record.failureCode } : {}) }] : [];
    });
  }
}
