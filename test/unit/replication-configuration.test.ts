/**
 * The replication configuration as ECR validates it (core/replication/configuration.ts): every refusal
 * with its message, the limits at their edges, the shapes accepted; which destinations a repository's
 * images go to; the destinations of deployment configuration (contracts/replication.ts, the --config
 * key `replicationDestinations`).
 */
import {
  destinationsFor,
  parseReplicationConfiguration,
  ReplicationConfigurationError,
  ReplicationConfigurations,
  type ReplicationDeployment,
} from '../../lambdas/core/replication/configuration';
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings, type ReplicationStatusRecord } from '../../lambdas/core/model';
import {
  parseReplicationDestinations,
  REPLICATION_DESTINATIONS_ENV,
  ReplicationDestinationsError,
  replicationDestinationsEnvValue,
  replicationDestinationsFromEnv,
} from '../../lambdas/contracts/replication';
import { IdentityConfigError, loadIdentities } from '../../lambdas/composition/local/identities';
import { REPLICATION_FETCH_LIMIT_BYTES, REPLICATION_FETCH_LIMIT_ENV, replicationFetchLimitFromEnv } from '../../lambdas/contracts/replication-actions';
import { controlPlaneSettingsFromEnv } from '../../lambdas/composition/aws/aws-control-plane';

const SELF = '111122223333';
const OTHER = '444455556666';
const WEST = { region: 'eu-west-1', registryId: SELF };
const EAST2 = { region: 'us-east-2', registryId: OTHER };
const DEPLOYMENT: ReplicationDeployment = { self: { registryId: SELF, regions: ['us-east-1', 'us-west-2'] }, destinations: [WEST, EAST2], configuredBy: 'the test' };

const parse = (value: unknown, deployment = DEPLOYMENT) => parseReplicationConfiguration(value, deployment);

function refusal(value: unknown, deployment = DEPLOYMENT): string {
  try {
    parse(value, deployment);
  } catch (err) {
    expect(err).toBeInstanceOf(ReplicationConfigurationError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const destination = (i: number) => ({ region: `r-${i}`, registryId: OTHER });
const withDestinations = (n: number) => ({ self: DEPLOYMENT.self, destinations: many(n, destination) });
const rule = (extra: Record<string, unknown> = {}) => ({ destinations: [WEST], ...extra });

describe('parseReplicationConfiguration refuses what ECR refuses, naming the rule and the field', () => {
  test.each<[string, unknown, string]>([
    ['not an object', [], "replicationConfiguration: must be an object with rules"],
    ['no rules', {}, 'rules: is required (a list of 0 to 10 rules)'],
    ['rules null', { rules: null }, 'rules: is required (a list of 0 to 10 rules)'],
    ['rules not a list', { rules: 'all' }, 'rules: must be a list of rules'],
    ['11 rules', { rules: many(11, () => rule()) }, 'rules: must hold at most 10 rules; it holds 11'],
    ['an unknown member of the configuration', { rules: [], role: 'x' }, 'role: is not a member of a replication configuration; expected rules'],
    ['a rule that is not an object', { rules: [rule(), 'x'] }, 'rules[1]: must be an object with destinations'],
    ['a rule without destinations', { rules: [{ repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }] }] }, 'rules[0].destinations: is required (a list of 0 to 100 destinations)'],
    ['destinations not a list', { rules: [{ destinations: WEST }] }, 'rules[0].destinations: must be a list of destinations'],
    ['101 destinations', { rules: [{ destinations: many(101, destination) }] }, 'rules[0].destinations: must hold at most 100 destinations; it holds 101'],
    ['an unknown member of a rule', { rules: [rule({ tagFilters: [] })] }, 'rules[0].tagFilters: is not a member of a replication rule; expected destinations, repositoryFilters, deleteReplication'],
    ['a destination that is not an object', { rules: [rule(), { destinations: ['eu-west-1'] }] }, 'rules[1].destinations[0]: must be an object with region and registryId'],
    ['a destination without region', { rules: [{ destinations: [{ registryId: SELF }] }] }, 'rules[0].destinations[0].region: is required'],
    ['a region that is not a string', { rules: [{ destinations: [{ region: 1, registryId: SELF }] }] }, 'rules[0].destinations[0].region: must be a string'],
    ['a 1-character region', { rules: [{ destinations: [{ region: 'e', registryId: SELF }] }] }, "rules[0].destinations[0].region: must have 2 to 25 characters; 'e' has 1"],
    ['a 26-character region', { rules: [{ destinations: [{ region: 'a'.repeat(26), registryId: SELF }] }] }, `rules[0].destinations[0].region: must have 2 to 25 characters; '${'a'.repeat(26)}' has 26`],
    ['a region outside the pattern', { rules: [rule(), { destinations: [WEST, { region: 'EU_WEST_1', registryId: SELF }] }] }, "rules[1].destinations[1].region: 'EU_WEST_1' must match ^[0-9a-z-]{2,25}$"],
    ['a destination without registryId', { rules: [{ destinations: [{ region: 'eu-west-1' }] }] }, 'rules[0].destinations[0].registryId: is required'],
    ['a registryId that is not a string', { rules: [{ destinations: [{ region: 'eu-west-1', registryId: 111122223333 }] }] }, 'rules[0].destinations[0].registryId: must be a string'],
    ['an 11-digit registryId', { rules: [{ destinations: [{ region: 'eu-west-1', registryId: '11112222333' }] }] }, "rules[0].destinations[0].registryId: '11112222333' must be a 12-digit account id (^[0-9]{12}$)"],
    ['an unknown member of a destination', { rules: [{ destinations: [{ ...WEST, endpoint: 'https://x' }] }] }, 'rules[0].destinations[0].endpoint: is not a member of a replication destination; expected region, registryId'],
    ['a destination twice in one rule', { rules: [{ destinations: [WEST, EAST2, WEST] }] }, `rules[0].destinations[2]: names eu-west-1/${SELF} again (as rules[0].destinations[0])`],
    ['filters not a list', { rules: [rule({ repositoryFilters: 'prod' })] }, 'rules[0].repositoryFilters: must be a list of filters'],
    ['an empty filter list', { rules: [rule({ repositoryFilters: [] })] }, 'rules[0].repositoryFilters: must hold at least 1 filters; it holds 0'],
    ['101 filters', { rules: [rule({ repositoryFilters: many(101, (i) => ({ filter: `p${i}`, filterType: 'PREFIX_MATCH' })) })] }, 'rules[0].repositoryFilters: must hold at most 100 filters; it holds 101'],
    ['a filter that is not an object', { rules: [rule({ repositoryFilters: ['prod'] })] }, 'rules[0].repositoryFilters[0]: must be an object with filter and filterType'],
    ['a filter without filter', { rules: [rule({ repositoryFilters: [{ filterType: 'PREFIX_MATCH' }] })] }, 'rules[0].repositoryFilters[0].filter: is required'],
    ['a filter that is not a string', { rules: [rule({ repositoryFilters: [{ filter: ['prod'], filterType: 'PREFIX_MATCH' }] })] }, 'rules[0].repositoryFilters[0].filter: must be a string'],
    ['a 1-character filter', { rules: [rule({ repositoryFilters: [{ filter: 'p', filterType: 'PREFIX_MATCH' }] })] }, "rules[0].repositoryFilters[0].filter: must have 2 to 256 characters; 'p' has 1"],
    ['a 257-character filter', { rules: [rule({ repositoryFilters: [{ filter: 'p'.repeat(257), filterType: 'PREFIX_MATCH' }] })] }, `rules[0].repositoryFilters[0].filter: must have 2 to 256 characters; '${'p'.repeat(257)}' has 257`],
    ['a filter outside the pattern', { rules: [rule({ repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }, { filter: 'Prod/', filterType: 'PREFIX_MATCH' }] })] }, "rules[0].repositoryFilters[1].filter: 'Prod/' must match ^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$"],
    ['a filter without filterType', { rules: [rule({ repositoryFilters: [{ filter: 'prod' }] })] }, 'rules[0].repositoryFilters[0].filterType: is required; one of PREFIX_MATCH'],
    ['another filterType', { rules: [rule({ repositoryFilters: [{ filter: 'prod', filterType: 'WILDCARD' }] })] }, "rules[0].repositoryFilters[0].filterType: 'WILDCARD' must be one of PREFIX_MATCH"],
    ['an unknown member of a filter', { rules: [rule({ repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH', exclude: true }] })] }, 'rules[0].repositoryFilters[0].exclude: is not a member of a repository filter; expected filter, filterType'],
    ['deleteReplication not an object', { rules: [rule({ deleteReplication: true })] }, 'rules[0].deleteReplication: must be an object with enabled'],
    ['deleteReplication without enabled', { rules: [rule({ deleteReplication: {} })] }, 'rules[0].deleteReplication.enabled: is required and must be true or false'],
    ['deleteReplication.enabled a string', { rules: [rule({ deleteReplication: { enabled: 'true' } })] }, 'rules[0].deleteReplication.enabled: is required and must be true or false'],
    ['an unknown member of deleteReplication', { rules: [rule({ deleteReplication: { enabled: true, tags: true } })] }, 'rules[0].deleteReplication.tags: is not a member of deleteReplication; expected enabled'],
  ])('GIVEN %s THEN refused', (_what, value, message) => {
    expect(refusal(value)).toBe(message);
  });

  test('GIVEN a destination that is the registry itself (any of its regions) THEN refused, before the deployment is asked', () => {
    expect(refusal({ rules: [rule(), { destinations: [{ region: 'us-west-2', registryId: SELF }] }] })).toBe(
      `rules[1].destinations[0]: region us-west-2 of account ${SELF} is this registry itself; a registry does not replicate to itself`,
    );
    expect(refusal({ rules: [{ destinations: [{ region: 'us-east-1', registryId: SELF }] }] })).toMatch(/^rules\[0\]\.destinations\[0\]: region us-east-1 .* is this registry itself/);
  });

  test('GIVEN a destination the deployment does not know THEN refused, naming what it knows and where that is configured', () => {
    expect(refusal({ rules: [rule(), { destinations: [EAST2, { region: 'eu-west-1', registryId: OTHER }] }] })).toBe(
      `rules[1].destinations[1]: region eu-west-1 of account ${OTHER} is not a destination this deployment knows (known: eu-west-1/${SELF}, us-east-2/${OTHER}; see the test)`,
    );
    expect(refusal({ rules: [rule()] }, { destinations: [] })).toBe(`rules[0].destinations[0]: region eu-west-1 of account ${SELF} is not a destination this deployment knows (none are configured)`);
  });

  test('GIVEN a malformed later rule and an unknown destination in an earlier one THEN the shape is reported first', () => {
    expect(refusal({ rules: [{ destinations: [{ region: 'ap-south-1', registryId: OTHER }] }, { destinations: [{ region: '??', registryId: OTHER }] }] })).toMatch(/^rules\[1\]\.destinations\[0\]\.region: /);
  });
});

describe('parseReplicationConfiguration accepts ECR’s shapes, limits included', () => {
  test('GIVEN no rules THEN an empty configuration (it clears the previous one)', () => {
    expect(parse({ rules: [] })).toEqual({ rules: [] });
  });

  test('GIVEN 10 rules, 100 destinations, 100 filters of 2 and 256 characters, regions of 2 and 25 characters THEN accepted as given', () => {
    const wide = { destinations: [...many(98, destination), { region: 'ab', registryId: OTHER }, { region: 'a'.repeat(25), registryId: OTHER }] };
    const known = { ...withDestinations(98), destinations: [...wide.destinations] };
    const filters = [{ filter: 'pr', filterType: 'PREFIX_MATCH' }, { filter: 'p'.repeat(256), filterType: 'PREFIX_MATCH' }, ...many(98, (i) => ({ filter: `team-${i}/`, filterType: 'PREFIX_MATCH' }))];
    const value = { rules: [{ ...wide, repositoryFilters: filters }, ...many(9, () => ({ destinations: [] }))] };
    expect(parse(value, known)).toEqual(value);
  });

  test('GIVEN rules with filters, deleteReplication on and off, and no destinations THEN stored in ECR’s shape; null members are absent', () => {
    const value = {
      rules: [
        { destinations: [WEST], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } },
        { destinations: [EAST2, WEST], deleteReplication: { enabled: false } },
        { destinations: [], repositoryFilters: null, deleteReplication: null },
      ],
    };
    expect(parse(value)).toEqual({
      rules: [
        { destinations: [WEST], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } },
        { destinations: [EAST2, WEST], deleteReplication: { enabled: false } },
        { destinations: [] },
      ],
    });
  });

  test('GIVEN filters ECR’s pattern allows (a trailing dot, an empty last segment) THEN accepted', () => {
    for (const filter of ['prod', 'prod/', 'team.a-', 'a/b/c_', '0x']) expect(parse({ rules: [rule({ repositoryFilters: [{ filter, filterType: 'PREFIX_MATCH' }] })] }).rules[0].repositoryFilters).toHaveLength(1);
  });
});

describe('destinationsFor: which destinations a repository’s images go to', () => {
  const configuration = parse({
    rules: [
      { destinations: [WEST], repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }, { filter: 'shared/', filterType: 'PREFIX_MATCH' }] },
      { destinations: [EAST2, WEST] },
    ],
  });

  test('GIVEN a rule without filters THEN every repository; with filters THEN names starting with one; each destination once, in rule order', () => {
    expect(destinationsFor(configuration, 'production/app')).toEqual([WEST, EAST2]);
    expect(destinationsFor(configuration, 'dev/app')).toEqual([EAST2, WEST]);
    expect(destinationsFor(parse({ rules: [rule({ repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }] })] }), 'dev/prod')).toEqual([]);
    expect(destinationsFor({ rules: [] }, 'prod')).toEqual([]);
  });
});

describe('ReplicationConfigurations over the registry settings', () => {
  function settingsStore(initial: RegistrySettings = { ...DEFAULT_REGISTRY_SETTINGS }, statuses: Record<string, ReplicationStatusRecord[]> = {}) {
    let settings = structuredClone(initial);
    return {
      getRegistrySettings: async () => structuredClone(settings),
      getReplicationStatuses: async (repository: string, digest: string) => structuredClone(statuses[`${repository}@${digest}`] ?? []),
      setRegistrySettings: async (next: RegistrySettings) => {
        settings = structuredClone(next);
      },
      current: () => settings,
    };
  }

  test('GIVEN nothing stored THEN no rules; a put replaces the configuration and keeps the other settings; a refused put changes nothing', async () => {
    const store = settingsStore({ createOnPush: false, pullTimeUpdateExclusions: [{ principalArn: `arn:aws:iam::${SELF}:role/scanner`, createdAt: '2026-01-01T00:00:00.000Z' }] });
    const replication = new ReplicationConfigurations(store, DEPLOYMENT);
    expect(await replication.get()).toEqual({ rules: [] });
    const stored = await replication.put({ rules: [{ destinations: [WEST], deleteReplication: { enabled: true } }] });
    expect(stored).toEqual({ rules: [{ destinations: [WEST], deleteReplication: { enabled: true } }] });
    expect(await replication.get()).toEqual(stored);
    expect(store.current()).toMatchObject({ createOnPush: false, pullTimeUpdateExclusions: [expect.anything()] });
    await expect(replication.put({ rules: [{ destinations: [{ region: 'ap-south-1', registryId: OTHER }] }] })).rejects.toBeInstanceOf(ReplicationConfigurationError);
    expect(await replication.get()).toEqual(stored);
    await replication.put({ rules: [] });
    expect(await replication.get()).toEqual({ rules: [] });
  });

  test('GIVEN rules and recorded statuses WHEN an image’s status is asked THEN the records of the destinations its repository has, in the rules’ order; none without a record or outside the rules', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const at = '2026-01-01T00:00:00.000Z';
    const statuses: Record<string, ReplicationStatusRecord[]> = {
      [`prod/app@${digest}`]: [
        { destination: WEST, status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: at },
        { destination: EAST2, status: 'COMPLETE', updatedAt: at },
        // A destination no rule names any more.
        { destination: { region: 'ap-south-1', registryId: OTHER }, status: 'COMPLETE', updatedAt: at },
      ],
      [`prod/old@${digest}`]: [{ destination: EAST2, status: 'IN_PROGRESS', updatedAt: at }],
      [`dev/app@${digest}`]: [{ destination: WEST, status: 'COMPLETE', updatedAt: at }],
    };
    const replication = new ReplicationConfigurations(settingsStore(undefined, statuses), DEPLOYMENT);
    await replication.put({ rules: [{ destinations: [EAST2, WEST], repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }] }] });
    expect(await replication.statusOf('prod/app', digest)).toEqual([
      { ...EAST2, status: 'COMPLETE' },
      { ...WEST, status: 'FAILED', failureCode: 'AccessDeniedException' },
    ]);
    // Pushed before the rule sent it to WEST: no record there, so no entry.
    expect(await replication.statusOf('prod/old', digest)).toEqual([{ ...EAST2, status: 'IN_PROGRESS' }]);
    expect(await replication.statusOf('dev/app', digest)).toEqual([]);
  });

  test('GIVEN no deployment WHEN a destination is named THEN refused: none are configured', async () => {
    await expect(new ReplicationConfigurations(settingsStore()).put({ rules: [rule()] })).rejects.toThrow('none are configured');
  });
});

describe('replication destinations of deployment configuration', () => {
  const local = (extra: Record<string, unknown> = {}) => ({ region: 'eu-west-1', registryId: SELF, endpoint: 'http://127.0.0.1:5001/', accessKeyId: 'AKIAREPLICATOR00001', secretAccessKey: 'a-secret-of-sixteen+', ...extra });
  const parseLocal = (value: unknown) => parseReplicationDestinations(value, { where: 'replicationDestinations', credentials: true, self: { registryId: SELF, regions: ['us-east-1'] } });

  test('GIVEN local entries THEN parsed with their credentials, the endpoint without its trailing slash', () => {
    expect(parseLocal([local()])).toEqual([{ ...local(), endpoint: 'http://127.0.0.1:5001' }]);
  });

  test.each<[string, unknown, string]>([
    ['not a list', {}, 'replicationDestinations must be a list of destinations'],
    ['an entry that is not an object', ['x'], 'replicationDestinations[0] must be an object with region, registryId, endpoint, accessKeyId, secretAccessKey'],
    ['an unknown field', [local({ role: 'x' })], 'replicationDestinations[0].role: unknown field; expected region, registryId, endpoint, accessKeyId, secretAccessKey'],
    ['a bad region', [local({ region: 'EU' })], 'replicationDestinations[0].region must be a region name such as "eu-west-1" (^[0-9a-z-]{2,25}$), got "EU"'],
    ['a bad registryId', [local({ registryId: '1' })], 'replicationDestinations[0].registryId must be the destination\'s 12-digit account id, got "1"'],
    ['a bad endpoint', [local({ endpoint: 'ftp://x' })], 'replicationDestinations[0].endpoint must be the http:// or https:// URL of the destination\'s ECR API, got "ftp://x"'],
    ['no access key', [local({ accessKeyId: undefined })], 'replicationDestinations[0].accessKeyId must be the destination\'s access key id, 16 to 128 upper-case letters and digits'],
    ['a short secret', [local({ secretAccessKey: 'short' })], 'replicationDestinations[0].secretAccessKey must be a string of at least 16 characters'],
    ['the same destination twice', [local(), local({ endpoint: 'http://127.0.0.1:5002' })], `replicationDestinations[1] names eu-west-1/${SELF} again (as replicationDestinations[0]): one entry per region and account`],
    ['the registry itself', [local({ region: 'us-east-1' })], `replicationDestinations[0] is this registry itself (region us-east-1, account ${SELF}): a registry does not replicate to itself`],
  ])('GIVEN %s THEN refused at start-up', (_what, value, message) => {
    expect(() => parseLocal(value)).toThrow(new ReplicationDestinationsError(message));
  });

  test('GIVEN the --config file WHEN it has replicationDestinations THEN loadIdentities checks them against registry.account and regions', () => {
    const config = { registry: { account: SELF, regions: ['us-east-1', 'eu-central-1'] } };
    expect(loadIdentities({ ...config, replicationDestinations: [local()] }, {}).replicationDestinations).toEqual([{ ...local(), endpoint: 'http://127.0.0.1:5001' }]);
    expect(loadIdentities(config, {}).replicationDestinations).toEqual([]);
    expect(() => loadIdentities({ ...config, replicationDestinations: [local({ region: 'eu-central-1' })] }, {})).toThrow(IdentityConfigError);
    expect(() => loadIdentities({ ...config, replicationDestinations: [local({ endpoint: 'x' })] }, {})).toThrow(/^replicationDestinations\[0\]\.endpoint must be/);
  });

  test('GIVEN REPLICATION_DESTINATIONS on AWS THEN read without credentials; unset or empty is none; bad JSON or the function’s own region is refused', () => {
    const endpoints = [{ region: 'eu-west-1', registryId: SELF, endpoint: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod' }];
    const self = { registryId: SELF, regions: ['us-east-1'] };
    expect(replicationDestinationsFromEnv({ [REPLICATION_DESTINATIONS_ENV]: replicationDestinationsEnvValue(endpoints) }, self)).toEqual(endpoints);
    expect(replicationDestinationsFromEnv({}, self)).toEqual([]);
    expect(replicationDestinationsFromEnv({ [REPLICATION_DESTINATIONS_ENV]: ' ' }, self)).toEqual([]);
    expect(() => replicationDestinationsFromEnv({ [REPLICATION_DESTINATIONS_ENV]: '[{' }, self)).toThrow(/^REPLICATION_DESTINATIONS is not valid JSON/);
    expect(() => replicationDestinationsFromEnv({ [REPLICATION_DESTINATIONS_ENV]: JSON.stringify([{ ...endpoints[0], accessKeyId: 'AKIAREPLICATOR00001' }]) }, self)).toThrow(
      'REPLICATION_DESTINATIONS[0].accessKeyId: unknown field; expected region, registryId, endpoint',
    );
    expect(() => replicationDestinationsFromEnv({ [REPLICATION_DESTINATIONS_ENV]: JSON.stringify([{ ...endpoints[0], region: 'us-east-1' }]) }, self)).toThrow(/is this registry itself/);
  });

  test('GIVEN REPLICATION_FETCH_LIMIT_BYTES THEN the registry function’s control plane takes it; unset or empty is the contract’s 128 MiB; anything but whole bytes is refused at start-up', () => {
    expect(REPLICATION_FETCH_LIMIT_BYTES).toBe(128 * 1024 * 1024);
    expect(replicationFetchLimitFromEnv({})).toBe(REPLICATION_FETCH_LIMIT_BYTES);
    expect(replicationFetchLimitFromEnv({ [REPLICATION_FETCH_LIMIT_ENV]: '' })).toBe(REPLICATION_FETCH_LIMIT_BYTES);
    expect(replicationFetchLimitFromEnv({ [REPLICATION_FETCH_LIMIT_ENV]: '0' })).toBe(0);
    for (const bad of ['-1', '1.5', '1e6', '1 MiB', '99999999999999999999']) {
      expect(() => replicationFetchLimitFromEnv({ [REPLICATION_FETCH_LIMIT_ENV]: bad })).toThrow(`REPLICATION_FETCH_LIMIT_BYTES must be a whole number of bytes (0 or more), got ${JSON.stringify(bad)}`);
    }
    const env = { TOKEN_KEY_ID: 'key', REGISTRY_ACCOUNT_ID: SELF, AWS_REGION: 'us-east-1' };
    expect(controlPlaneSettingsFromEnv({ ...env, [REPLICATION_FETCH_LIMIT_ENV]: '1048576' })?.replicationFetchLimitBytes).toBe(1_048_576);
    expect(controlPlaneSettingsFromEnv(env)?.replicationFetchLimitBytes).toBe(REPLICATION_FETCH_LIMIT_BYTES);
    expect(() => controlPlaneSettingsFromEnv({ ...env, [REPLICATION_FETCH_LIMIT_ENV]: 'lots' })).toThrow(/^REPLICATION_FETCH_LIMIT_BYTES must be/);
  });
});
