/**
 * The registry scanning configuration (core/scanning/policy.ts): every refusal with its message naming
 * the rule and the field, ECR's limits at their edges, the filter pattern (the linear form Berth checks
 * against ECR's own), WILDCARD matching as ECR's user guide tabulates it, and the effective
 * configuration of a repository (what BatchGetRepositoryScanningConfiguration answers and the scanner follows).
 */
import {
  effectiveScanning,
  isScanningFilter,
  parseRegistryScanningConfiguration,
  RegistryScanningConfigurations,
  SCANNING_FILTER_PATTERN_TEXT,
  ScanningConfigurationError,
  wildcardMatches,
} from '../../lambdas/core/scanning/policy';
import { DEFAULT_REGISTRY_SETTINGS, type RegistryScanningConfiguration, type RegistrySettings, type ScanFrequency } from '../../lambdas/core/model';
import { canonicalEcrAction, resourceArnFor } from '../../lambdas/contracts/ecr-actions';

const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const wildcard = (filter: string) => ({ filter, filterType: 'WILDCARD' as const });
const rule = (scanFrequency: string, ...filters: string[]) => ({ scanFrequency, repositoryFilters: filters.map(wildcard) });

function refusal(value: { scanType?: unknown; rules?: unknown }): string {
  try {
    parseRegistryScanningConfiguration(value);
  } catch (err) {
    expect(err).toBeInstanceOf(ScanningConfigurationError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('parseRegistryScanningConfiguration refuses what ECR refuses, naming the rule and the field', () => {
  const PATTERN_HINT = `must match ${SCANNING_FILTER_PATTERN_TEXT} (lowercase letters, digits and *, joined by single . _ - or /)`;
  test.each<[string, { scanType?: unknown; rules?: unknown }, string]>([
    [
      'ENHANCED',
      { scanType: 'ENHANCED', rules: [] },
      "scanType: ENHANCED scanning is done by Amazon Inspector, which Berth does not have; use BASIC, Berth's own analyzer (its rules take SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL)",
    ],
    ['a scanType outside the enum', { scanType: 'basic' }, "scanType: 'basic' must be one of BASIC, ENHANCED"],
    ['a scanType that is not a string', { scanType: 1 }, 'scanType: must be a string, one of BASIC, ENHANCED'],
    ['rules not a list', { rules: { scanFrequency: 'SCAN_ON_PUSH' } }, 'rules: must be a list of rules'],
    ['3 rules', { rules: many(3, () => rule('SCAN_ON_PUSH', '*')) }, 'rules: must hold at most 2 rules; it holds 3'],
    ['a rule that is not an object', { rules: [rule('MANUAL', '*'), 'SCAN_ON_PUSH'] }, 'rules[1]: must be an object with scanFrequency and repositoryFilters'],
    ['an unknown member of a rule', { rules: [{ ...rule('SCAN_ON_PUSH', '*'), repositoryFilter: [] }] }, 'rules[0].repositoryFilter: is not a member of a scanning rule; expected scanFrequency, repositoryFilters'],
    ['a rule without scanFrequency', { rules: [{ repositoryFilters: [wildcard('*')] }] }, 'rules[0].scanFrequency: is required; one of SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL'],
    ['a scanFrequency outside the enum', { rules: [rule('SCAN_ON_PUSH', '*'), rule('DAILY', '*')] }, "rules[1].scanFrequency: 'DAILY' must be one of SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL"],
    ['a rule without repositoryFilters', { rules: [{ scanFrequency: 'SCAN_ON_PUSH' }] }, 'rules[0].repositoryFilters: is required (a list of 0 to 100 filters)'],
    ['repositoryFilters not a list', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: wildcard('*') }] }, 'rules[0].repositoryFilters: must be a list of filters'],
    ['101 filters', { rules: [rule('SCAN_ON_PUSH', ...many(101, (i) => `team-${i}`))] }, 'rules[0].repositoryFilters: must hold at most 100 filters; it holds 101'],
    ['a filter that is not an object', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: ['prod'] }] }, 'rules[0].repositoryFilters[0]: must be an object with filter and filterType'],
    ['an unknown member of a filter', { rules: [{ scanFrequency: 'MANUAL', repositoryFilters: [{ ...wildcard('prod'), exclude: true }] }] }, 'rules[0].repositoryFilters[0].exclude: is not a member of a repository filter; expected filter, filterType'],
    ['a filter without filter', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filterType: 'WILDCARD' }] }] }, 'rules[0].repositoryFilters[0].filter: is required'],
    ['a filter that is not a string', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 7, filterType: 'WILDCARD' }] }] }, 'rules[0].repositoryFilters[0].filter: must be a string'],
    ['an empty filter', { rules: [rule('SCAN_ON_PUSH', '')] }, "rules[0].repositoryFilters[0].filter: must have 1 to 255 characters; '' has 0"],
    ['a 256-character filter', { rules: [rule('SCAN_ON_PUSH', 'a'.repeat(256))] }, `rules[0].repositoryFilters[0].filter: must have 1 to 255 characters; '${'a'.repeat(256)}' has 256`],
    ['an uppercase filter', { rules: [rule('SCAN_ON_PUSH', 'prod', 'Prod')] }, `rules[0].repositoryFilters[1].filter: 'Prod' ${PATTERN_HINT}`],
    ['a filter with two separators in a row', { rules: [rule('MANUAL', '*'), rule('SCAN_ON_PUSH', 'team//app')] }, `rules[1].repositoryFilters[0].filter: 'team//app' ${PATTERN_HINT}`],
    ['a filter ending in a separator', { rules: [rule('SCAN_ON_PUSH', 'team/')] }, `rules[0].repositoryFilters[0].filter: 'team/' ${PATTERN_HINT}`],
    ['a filter starting with a separator', { rules: [rule('SCAN_ON_PUSH', '-prod')] }, `rules[0].repositoryFilters[0].filter: '-prod' ${PATTERN_HINT}`],
    ['a ? (not a wildcard ECR knows)', { rules: [rule('SCAN_ON_PUSH', 'prod?')] }, `rules[0].repositoryFilters[0].filter: 'prod?' ${PATTERN_HINT}`],
    ['a filter without filterType', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'prod' }] }] }, 'rules[0].repositoryFilters[0].filterType: is required; one of WILDCARD'],
    ['replication’s PREFIX_MATCH', { rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'prod', filterType: 'PREFIX_MATCH' }] }] }, "rules[0].repositoryFilters[0].filterType: 'PREFIX_MATCH' must be one of WILDCARD"],
  ])('GIVEN %s WHEN parsed THEN refused', (_what, value, message) => {
    expect(refusal(value)).toBe(message);
  });

  test('GIVEN ENHANCED with rules that are also wrong WHEN parsed THEN the scan type is what is refused (it is the first thing to fix)', () => {
    expect(refusal({ scanType: 'ENHANCED', rules: [rule('HOURLY', 'Bad')] })).toMatch(/^scanType: ENHANCED scanning is done by Amazon Inspector/);
  });
});

describe('parseRegistryScanningConfiguration accepts what ECR accepts, and CONTINUOUS_SCAN with BASIC', () => {
  test.each<[string, { scanType?: unknown; rules?: unknown }, RegistryScanningConfiguration]>([
    ['nothing (ECR’s default: BASIC, no rules)', {}, { scanType: 'BASIC', rules: [] }],
    ['null members, as absent', { scanType: null, rules: null }, { scanType: 'BASIC', rules: [] }],
    ['rules without a scanType', { rules: [rule('SCAN_ON_PUSH', '*')] }, { scanType: 'BASIC', rules: [{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('*')] }] }],
    [
      'two rules, CONTINUOUS_SCAN among them (Berth’s rematch on new data)',
      { scanType: 'BASIC', rules: [rule('CONTINUOUS_SCAN', 'prod*', '*/prod'), rule('SCAN_ON_PUSH', '*')] },
      { scanType: 'BASIC', rules: [{ scanFrequency: 'CONTINUOUS_SCAN', repositoryFilters: [wildcard('prod*'), wildcard('*/prod')] }, { scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('*')] }] },
    ],
    ['a rule with no filter (ECR’s minimum is 0)', { rules: [rule('MANUAL')] }, { scanType: 'BASIC', rules: [{ scanFrequency: 'MANUAL', repositoryFilters: [] }] }],
  ])('GIVEN %s WHEN parsed THEN stored as', (_what, value, expected) => {
    expect(parseRegistryScanningConfiguration(value)).toEqual(expected);
  });

  test('GIVEN the limits at their edges (2 rules of 100 filters, filters of 1 and 255 characters) WHEN parsed THEN accepted', () => {
    const filters = many(100, (i) => (i === 0 ? 'a' : i === 1 ? 'b'.repeat(255) : `team-${i}/*`));
    const parsed = parseRegistryScanningConfiguration({ scanType: 'BASIC', rules: [rule('SCAN_ON_PUSH', ...filters), rule('CONTINUOUS_SCAN', ...filters)] });
    expect(parsed.rules.map((r) => r.repositoryFilters.length)).toEqual([100, 100]);
    expect(parsed.rules[0].repositoryFilters[1].filter).toHaveLength(255);
  });
});

describe('the filter pattern', () => {
  const ECR_PATTERN = new RegExp(SCANNING_FILTER_PATTERN_TEXT);

  test('GIVEN every string of up to 5 characters over a * . / - _ A WHEN checked THEN Berth’s linear form agrees with ECR’s pattern', () => {
    const alphabet = ['a', '1', '*', '.', '/', '-', '_', 'A'];
    let strings = [''];
    let checked = 0;
    for (let length = 1; length <= 5; length++) {
      strings = strings.flatMap((s) => alphabet.map((c) => s + c));
      for (const s of strings) {
        expect([s, isScanningFilter(s)]).toEqual([s, ECR_PATTERN.test(s)]);
        checked++;
      }
    }
    expect(checked).toBe(8 + 64 + 512 + 4096 + 32768);
  });

  test('GIVEN a 255-character filter that fails at its end WHEN checked THEN refused at once (ECR’s nested quantifiers would backtrack exponentially)', () => {
    const started = process.hrtime.bigint();
    expect(isScanningFilter(`${'a'.repeat(254)}!`)).toBe(false);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
  });
});

describe('wildcardMatches, as ECR’s user guide tabulates it', () => {
  // "Filters to choose which repositories are scanned", Filter wildcards: repository names across, filters down.
  const NAMES = ['prod', 'repo-prod', 'prod-repo', 'repo-prod-repo', 'prodrepo'];
  test.each<[string, boolean[]]>([
    ['prod', [true, true, true, true, true]],
    ['*prod', [true, true, false, false, false]],
    ['prod*', [true, false, true, false, true]],
    ['*prod*', [true, true, true, true, true]],
    ['prod*repo', [false, false, true, false, true]],
  ])('GIVEN the filter %s WHEN matched against the table’s names THEN ECR’s answers', (filter, expected) => {
    expect(NAMES.map((name) => wildcardMatches(filter, name))).toEqual(expected);
  });

  test.each<[string, string, boolean]>([
    ['*', 'anything/at/all', true],
    ['team/*', 'team/app', true],
    ['team/*', 'team', false],
    ['team/*', 'other/team/app', false],
    ['*/prod', 'eu/prod', true],
    ['*/prod', 'eu/prod/app', false],
    ['a*b*c', 'a-x-b-y-c', true],
    ['a*b*c', 'a-c-b', false],
    ['ab*ba', 'aba', false], // the first and last parts may not overlap
    ['ab*ba', 'abba', true],
    ['a**b', 'ab', true],
    ['app', 'team/app-api', true], // no wildcard: contains
    ['app', 'team/ap', false],
  ])('GIVEN %s and %s THEN %s', (filter, name, expected) => {
    expect(wildcardMatches(filter, name)).toBe(expected);
  });
});

describe('effectiveScanning: the one decision', () => {
  const config = (...rules: Array<ReturnType<typeof rule>>): RegistryScanningConfiguration => parseRegistryScanningConfiguration({ scanType: 'BASIC', rules });
  const on = (name: string) => ({ name, scanOnPush: true });
  const off = (name: string) => ({ name, scanOnPush: false });
  type Case = [string, RegistryScanningConfiguration | undefined, { name: string; scanOnPush: boolean }, boolean, ScanFrequency, string[]];

  test.each<Case>([
    ['no configuration: the repository’s scanOnPush (on)', undefined, on('team/app'), true, 'SCAN_ON_PUSH', []],
    ['no configuration: the repository’s scanOnPush (off)', undefined, off('team/app'), false, 'MANUAL', []],
    ['a configuration without rules: the repository decides', config(), on('team/app'), true, 'SCAN_ON_PUSH', []],
    ['a SCAN_ON_PUSH rule matching', config(rule('SCAN_ON_PUSH', 'team/*')), off('team/app'), true, 'SCAN_ON_PUSH', ['team/*']],
    ['rules that match nothing: MANUAL, whatever the repository says', config(rule('SCAN_ON_PUSH', 'prod*')), on('team/app'), false, 'MANUAL', []],
    ['CONTINUOUS_SCAN over SCAN_ON_PUSH (listed second)', config(rule('SCAN_ON_PUSH', '*'), rule('CONTINUOUS_SCAN', 'prod*')), off('prod-api'), true, 'CONTINUOUS_SCAN', ['prod*']],
    ['CONTINUOUS_SCAN over SCAN_ON_PUSH (listed first)', config(rule('CONTINUOUS_SCAN', 'prod*'), rule('SCAN_ON_PUSH', '*')), off('prod-api'), true, 'CONTINUOUS_SCAN', ['prod*']],
    ['the SCAN_ON_PUSH rule where the continuous one does not match', config(rule('CONTINUOUS_SCAN', 'prod*'), rule('SCAN_ON_PUSH', '*')), off('dev-api'), true, 'SCAN_ON_PUSH', ['*']],
    ['SCAN_ON_PUSH over MANUAL', config(rule('MANUAL', 'team/*'), rule('SCAN_ON_PUSH', '*app')), off('team/app'), true, 'SCAN_ON_PUSH', ['*app']],
    ['a MANUAL rule alone: manual, its filters applied', config(rule('MANUAL', 'team/*', 'zzz')), on('team/app'), false, 'MANUAL', ['team/*']],
    ['two rules of one frequency: their matching filters, each once', config(rule('SCAN_ON_PUSH', 'team', '*app'), rule('SCAN_ON_PUSH', '*app', 'team/*')), off('team/app'), true, 'SCAN_ON_PUSH', ['team', '*app', 'team/*']],
    ['a rule with no filter matches nothing', config(rule('CONTINUOUS_SCAN')), on('team/app'), false, 'MANUAL', []],
  ])('GIVEN %s WHEN decided THEN scanOnPush, frequency and applied filters as tabulated', (_what, configuration, repository, scanOnPush, frequency, filters) => {
    expect(effectiveScanning(configuration, repository)).toEqual({ scanOnPush, frequency, appliedFilters: filters.map(wildcard) });
  });
});

describe('RegistryScanningConfigurations over the registry settings', () => {
  function memoryStore(initial: RegistrySettings) {
    let settings = initial;
    const writes: RegistrySettings[] = [];
    return {
      writes,
      current: () => settings,
      async getRegistrySettings() {
        return structuredClone(settings);
      },
      async setRegistrySettings(next: RegistrySettings) {
        writes.push(next);
        settings = structuredClone(next);
      },
    };
  }
  const replicationConfiguration = { rules: [{ destinations: [{ region: 'eu-west-1', registryId: '111122223333' }] }] };

  test('GIVEN nothing put WHEN read THEN BASIC with no rules; a put keeps the other settings and is read back', async () => {
    const store = memoryStore({ ...DEFAULT_REGISTRY_SETTINGS, createOnPush: false, replicationConfiguration });
    const configurations = new RegistryScanningConfigurations(store);
    expect(await configurations.get()).toEqual({ scanType: 'BASIC', rules: [] });
    const stored = await configurations.put({ scanType: 'BASIC', rules: [rule('CONTINUOUS_SCAN', 'prod*')] });
    expect(stored).toEqual({ scanType: 'BASIC', rules: [{ scanFrequency: 'CONTINUOUS_SCAN', repositoryFilters: [wildcard('prod*')] }] });
    expect(store.current()).toEqual({ createOnPush: false, replicationConfiguration, scanningConfiguration: stored });
    expect(await configurations.get()).toEqual(stored);
    expect(await configurations.effective([{ name: 'prod-api', scanOnPush: false }, { name: 'dev', scanOnPush: true }])).toEqual([
      { scanOnPush: true, frequency: 'CONTINUOUS_SCAN', appliedFilters: [wildcard('prod*')] },
      { scanOnPush: false, frequency: 'MANUAL', appliedFilters: [] },
    ]);
  });

  test('GIVEN a stored configuration WHEN a refused one is put THEN nothing is written and the old one stays', async () => {
    const store = memoryStore({ ...DEFAULT_REGISTRY_SETTINGS });
    const configurations = new RegistryScanningConfigurations(store);
    await configurations.put({ rules: [rule('SCAN_ON_PUSH', '*')] });
    await expect(configurations.put({ scanType: 'ENHANCED', rules: [] })).rejects.toBeInstanceOf(ScanningConfigurationError);
    await expect(configurations.put({ rules: [rule('SCAN_ON_PUSH', 'ok'), rule('SCAN_ON_PUSH', 'Not/Ok')] })).rejects.toThrow('rules[1].repositoryFilters[0].filter');
    expect(store.writes).toHaveLength(1);
    expect((await configurations.get()).rules).toEqual([{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [wildcard('*')] }]);
  });
});

describe('the policy vocabulary', () => {
  test('GIVEN the three actions WHEN spelt in any case THEN known; the registry ones are evaluated against *, the batch against each repository', () => {
    expect(canonicalEcrAction('ecr:putregistryscanningconfiguration')).toBe('ecr:PutRegistryScanningConfiguration');
    expect(canonicalEcrAction('ecr:GetRegistryScanningConfiguration')).toBe('ecr:GetRegistryScanningConfiguration');
    expect(resourceArnFor('ecr:PutRegistryScanningConfiguration', 'us-east-1', '111122223333', 'team/app')).toBe('*');
    expect(resourceArnFor('ecr:GetRegistryScanningConfiguration', 'us-east-1', '111122223333', 'team/app')).toBe('*');
    expect(resourceArnFor('ecr:BatchGetRepositoryScanningConfiguration', 'us-east-1', '111122223333', 'team/app')).toBe('arn:aws:ecr:us-east-1:111122223333:repository/team/app');
  });
});
