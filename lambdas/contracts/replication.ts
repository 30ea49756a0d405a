/**
 * Replication destinations as deployment configuration (docs/replication.md, "Configuration"): the
 * rules come from the ECR API (PutReplicationConfiguration), but where each destination lives and how
 * to reach it is the deployment's to say. A rule may only name a destination listed here.
 *
 * - Locally: the `replicationDestinations` key of `berth serve --config FILE`, entries with the
 *   destination's credentials (LocalReplicationDestination).
 * - On AWS: the environment variable REPLICATION_DESTINATIONS of the registry function, JSON of
 *   ReplicationDestinationEndpoint entries, which the stack will set from its props (lib/ reads this
 *   module; calls to the destination are signed with the function's own role).
 *
 * Both are checked when the deployment starts, with messages naming the entry and field.
 */

/** The environment variable that carries the destinations on AWS (JSON, ReplicationDestinationEndpoint[]). */
export const REPLICATION_DESTINATIONS_ENV = 'REPLICATION_DESTINATIONS';

/** ECR's ReplicationDestination `region` (API reference: 2..25 characters of this set). */
export const REPLICATION_REGION_PATTERN = /^[0-9a-z-]{2,25}$/;
/** ECR's `registryId`: an account id. */
export const REGISTRY_ID_PATTERN = /^[0-9]{12}$/;

/** A destination as replication rules name it. */
export interface ReplicationDestinationId {
  region: string;
  registryId: string;
}

/** A destination and its ECR JSON endpoint (the destination deployment's control plane). */
export interface ReplicationDestinationEndpoint extends ReplicationDestinationId {
  /** http(s) URL of the destination's control plane (`POST /` with X-Amz-Target). */
  endpoint: string;
}

/** Local mode's entry: the access key the source signs its calls to the destination with. */
export interface LocalReplicationDestination extends ReplicationDestinationEndpoint {
  accessKeyId: string;
  secretAccessKey: string;
}

export class ReplicationDestinationsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicationDestinationsError';
  }
}

/** The registry reading the configuration: a destination that is itself is refused (it cannot replicate to itself). */
export interface ReplicationSelf {
  registryId: string;
  /** Every region the registry answers as (local mode's `registry.regions` are names of one registry). */
  regions: readonly string[];
}

const ENDPOINT_KEYS = ['region', 'registryId', 'endpoint'] as const;
const LOCAL_KEYS = [...ENDPOINT_KEYS, 'accessKeyId', 'secretAccessKey'] as const;

/**
 * Checks a list of destinations. `where` names the list in messages (`replicationDestinations`,
 * `REPLICATION_DESTINATIONS`); `credentials` says whether entries carry an access key (local mode).
 */
export function parseReplicationDestinations(value: unknown, options: { where: string; credentials: true; self?: ReplicationSelf }): LocalReplicationDestination[];
export function parseReplicationDestinations(value: unknown, options: { where: string; credentials: false; self?: ReplicationSelf }): ReplicationDestinationEndpoint[];
export function parseReplicationDestinations(value: unknown, options: { where: string; credentials: boolean; self?: ReplicationSelf }): ReplicationDestinationEndpoint[] {
  const { where, credentials, self } = options;
  if (!Array.isArray(value)) throw new ReplicationDestinationsError(`${where} must be a list of destinations`);
  const keys: readonly string[] = credentials ? LOCAL_KEYS : ENDPOINT_KEYS;
  const seen = new Map<string, number>();
  return value.map((entry: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ReplicationDestinationsError(`${at} must be an object with ${keys.join(', ')}`);
    const e = entry as Record<string, unknown>;
    const extra = Object.keys(e).find((k) => !keys.includes(k));
    if (extra !== undefined) throw new ReplicationDestinationsError(`${at}.${extra}: unknown field; expected ${keys.join(', ')}`);
    const { region, registryId, endpoint } = e;
    if (typeof region !== 'string' || !REPLICATION_REGION_PATTERN.test(region)) {
      throw new ReplicationDestinationsError(`${at}.region must be a region name such as "eu-west-1" (${REPLICATION_REGION_PATTERN.source}), got ${JSON.stringify(region)}`);
    }
    if (typeof registryId !== 'string' || !REGISTRY_ID_PATTERN.test(registryId)) {
      throw new ReplicationDestinationsError(`${at}.registryId must be the destination's 12-digit account id, got ${JSON.stringify(registryId)}`);
    }
    if (typeof endpoint !== 'string' || !isHttpUrl(endpoint)) {
      throw new ReplicationDestinationsError(`${at}.endpoint must be the http:// or https:// URL of the destination's ECR API, got ${JSON.stringify(endpoint)}`);
    }
    const key = `${region}/${registryId}`;
    if (seen.has(key)) throw new ReplicationDestinationsError(`${at} names ${key} again (as ${where}[${seen.get(key)}]): one entry per region and account`);
    seen.set(key, i);
    if (self && registryId === self.registryId && self.regions.includes(region)) {
      throw new ReplicationDestinationsError(`${at} is this registry itself (region ${region}, account ${registryId}): a registry does not replicate to itself`);
    }
    const destination: ReplicationDestinationEndpoint = { region, registryId, endpoint: endpoint.replace(/\/+$/, '') };
    if (!credentials) return destination;
    const { accessKeyId, secretAccessKey } = e;
    if (typeof accessKeyId !== 'string' || !/^[A-Z0-9]{16,128}$/.test(accessKeyId)) {
      throw new ReplicationDestinationsError(`${at}.accessKeyId must be the destination's access key id, 16 to 128 upper-case letters and digits`);
    }
    if (typeof secretAccessKey !== 'string' || secretAccessKey.length < 16) throw new ReplicationDestinationsError(`${at}.secretAccessKey must be a string of at least 16 characters`);
    return { ...destination, accessKeyId, secretAccessKey };
  });
}

/** The destinations of the AWS environment (none when the variable is unset or empty). */
export function replicationDestinationsFromEnv(env: Record<string, string | undefined>, self?: ReplicationSelf): ReplicationDestinationEndpoint[] {
  const text = env[REPLICATION_DESTINATIONS_ENV];
  if (text === undefined || text.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ReplicationDestinationsError(`${REPLICATION_DESTINATIONS_ENV} is not valid JSON: ${(err as Error).message}`);
  }
  return parseReplicationDestinations(value, { where: REPLICATION_DESTINATIONS_ENV, credentials: false, ...(self ? { self } : {}) });
}

/** The variable's value for a list of destinations (what the stack sets). */
export function replicationDestinationsEnvValue(destinations: readonly ReplicationDestinationEndpoint[]): string {
  return JSON.stringify(destinations.map(({ region, registryId, endpoint }) => ({ region, registryId, endpoint })));
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}
