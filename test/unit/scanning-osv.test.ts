/**
 * OSV records, matching and severity (issue 15): lambdas/core/scanning/osv/.
 *
 * The records under test/fixtures/scanning/osv/ are written from real advisories, trimmed to what the
 * scanner reads (long `versions` lists and most references cut):
 * - DSA-5532-1: openssl in Debian 12, CVE-2023-5363, fixed in 3.0.11-1~deb12u2 (the Debian 12 fixture
 *   has 3.0.19-1~deb12u2: fixed in the installed version).
 * - DSA-5417-1: openssl in Debian 11 only, fixed in 1.1.1n-0+deb11u5, four CVEs in `upstream`.
 * - DEBIAN-CVE-2023-45853: MiniZip in zlib, unfixed in Debian 11 and 12 with the tracker's urgency
 *   `unimportant`, NVD's 9.8 vector; in the shape osv.dev's Debian tracker converter writes
 *   (vulnfeeds/cmd/converters/debian: `upstream`, per-release `ecosystem_specific.urgency`).
 * - ALPINE-CVE-2024-9143 and UBUNTU-CVE-2024-9143: the GF(2^m) out-of-bounds access in OpenSSL, fixed in
 *   Alpine v3.20's 3.3.2-r1 (the Alpine 3.20 fixture has 3.3.2-r0) and Ubuntu 22.04's 3.0.2-0ubuntu1.19
 *   (Ubuntu's priority: low); the 9.8 vector is CISA-ADP's on the CVE record.
 * - GHSA-35jh-r3h4-6jhm, GHSA-29mw-wpgm-hmr9 (lodash < 4.17.21), GHSA-c2qf-rxjj-qqgw (semver, one
 *   `affected` entry per vulnerable branch, as GitHub exports them).
 * - GHSA-0000-0000-0001 is constructed (its id is not a real GHSA's): a withdrawn duplicate of
 *   GHSA-35jh-r3h4-6jhm in the form GitHub withdraws duplicates ("Duplicate Advisory: ...").
 * The packages below are those of test/fixtures/scanning/{debian-12,alpine-3.20,node-app} as the
 * inventory reads them, plus a few (lodash, Ubuntu's openssl) the fixtures do not have.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstalledPackage, ScanFinding } from '../../lambdas/core/scanning/model';
import { findingName, findingsOf, findingUri, severityCounts } from '../../lambdas/core/scanning/osv/findings';
import { ecosystemCovers, includedInRange, matchPackage, sortEvents, type UnevaluatedRange } from '../../lambdas/core/scanning/osv/match';
import { OsvRecordError, parseOsvRecord, type OsvEvent, type OsvRecord } from '../../lambdas/core/scanning/osv/record';
import {
  cvss3BaseScore,
  CvssVectorError,
  recordSeverity,
  roundUp30,
  roundUp31,
  severityOfCvssScore,
  severityOfWord,
} from '../../lambdas/core/scanning/osv/severity';
import { compareVersions, InvalidVersionError, UnsupportedEcosystemError } from '../../lambdas/core/scanning/versions';

const FIXTURES = join(__dirname, '../fixtures/scanning/osv');
const RAW: Record<string, unknown> = Object.fromEntries(
  readdirSync(FIXTURES)
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file.replace(/\.json$/, ''), JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'))]),
);
const RECORDS: Record<string, OsvRecord> = Object.fromEntries(Object.entries(RAW).map(([id, json]) => [id, parseOsvRecord(json)]));
const ALL = Object.values(RECORDS);

const deb = (name: string, version: string, source?: { name?: string; version?: string }, ecosystem = 'Debian:12'): InstalledPackage => ({
  ecosystem,
  name,
  version,
  ...(source?.name === undefined ? {} : { sourceName: source.name }),
  ...(source?.version === undefined ? {} : { sourceVersion: source.version }),
  path: 'var/lib/dpkg/status',
});
const apk = (name: string, version: string, origin: string, ecosystem = 'Alpine:v3.20'): InstalledPackage => ({
  ecosystem,
  name,
  version,
  sourceName: origin,
  path: 'lib/apk/db/installed',
});
const npm = (name: string, version: string, path = `usr/src/app/node_modules/${name}/package.json`): InstalledPackage => ({ ecosystem: 'npm', name, version, path });

// test/fixtures/scanning/debian-12/var/lib/dpkg/status (the packages that matter here).
const DEBIAN_12 = [
  deb('bash', '5.2.15-2+b8', { name: 'bash', version: '5.2.15-2' }),
  deb('libc6', '2.36-9+deb12u14', { name: 'glibc' }),
  deb('libssl3', '3.0.19-1~deb12u2', { name: 'openssl' }),
  deb('openssl', '3.0.19-1~deb12u2'),
  deb('zlib1g', '1:1.2.13.dfsg-1', { name: 'zlib' }),
];
// test/fixtures/scanning/alpine-3.20/lib/apk/db/installed.
const ALPINE_3_20 = [
  apk('busybox', '1.36.1-r29', 'busybox'),
  apk('libcrypto3', '3.3.2-r0', 'openssl'),
  apk('libssl3', '3.3.2-r0', 'openssl'),
  apk('zlib', '1.3.1-r1', 'zlib'),
];
// test/fixtures/scanning/node-app: semver 7.8.6 and @babel/core's own 6.3.2.
const NODE_APP = [npm('semver', '7.8.6'), npm('semver', '6.3.2', 'usr/src/app/node_modules/@babel/core/node_modules/semver/package.json')];

const ids = (matches: Array<{ record: OsvRecord }>) => matches.map((m) => m.record.id);
const matched = (pkg: InstalledPackage, record: OsvRecord) => matchPackage(pkg, [record]).length === 1;
const npmRecord = (events: OsvEvent[], extra: Record<string, unknown> = {}): OsvRecord =>
  parseOsvRecord({
    id: 'TEST-1',
    modified: '2024-01-01T00:00:00Z',
    affected: [{ package: { ecosystem: 'npm', name: 'pkg' }, ranges: [{ type: 'SEMVER', events }], ...extra }],
  });
const affects = (record: OsvRecord, version: string) => matched(npm('pkg', version), record);

describe('parseOsvRecord', () => {
  test('every fixture parses, keeping what matching, severity and findings read', () => {
    expect(Object.keys(RECORDS).sort()).toHaveLength(9);
    expect(RECORDS['DSA-5532-1']).toEqual({
      id: 'DSA-5532-1',
      modified: '2024-09-18T03:25:57.412085Z',
      published: '2023-10-24T00:00:00Z',
      aliases: [],
      upstream: ['CVE-2023-5363', 'DEBIAN-CVE-2023-5363'],
      summary: 'openssl - security update',
      details: (RAW['DSA-5532-1'] as { details: string }).details,
      affected: [
        {
          package: { ecosystem: 'Debian:12', name: 'openssl', purl: 'pkg:deb/debian/openssl?arch=source' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }],
          versions: ['3.0.9-1', '3.0.11-1~deb12u1'],
        },
      ],
      references: [{ type: 'ADVISORY', url: 'https://www.debian.org/security/2023/dsa-5532' }],
    });
    expect(RECORDS['GHSA-0000-0000-0001'].withdrawn).toBe('2021-05-10T18:12:06Z');
    expect(RECORDS['DEBIAN-CVE-2023-45853'].affected[1].ecosystem_specific).toEqual({ urgency: 'unimportant' });
    expect(RECORDS['GHSA-c2qf-rxjj-qqgw'].database_specific).toMatchObject({ severity: 'MODERATE' });
  });

  test('unknown fields are ignored, null reads as absent; a record without affected affects nothing', () => {
    const record = parseOsvRecord({ id: 'X-1', modified: '2024-01-01T00:00:00Z', credits: [{ name: 'n' }], future_field: 1, aliases: null, affected: null });
    expect(record).toEqual({ id: 'X-1', modified: '2024-01-01T00:00:00Z', affected: [] });
    const event = parseOsvRecord({ ...record, affected: [{ ranges: [{ type: 'SEMVER', events: [{ introduced: '0', note: 'x' }] }] }] });
    expect(event.affected[0].ranges?.[0].events).toEqual([{ introduced: '0' }]);
  });

  const base = { id: 'DSA-1-1', modified: '2024-01-01T00:00:00Z' };
  const withRange = (range: unknown) => ({ ...base, affected: [{ package: { ecosystem: 'Debian:12', name: 'p' }, ranges: [range] }] });
  test.each<[string, unknown, string, string | undefined]>([
    ['not an object', [], '', undefined],
    ['no id', { modified: base.modified }, 'id', undefined],
    ['no modified', { id: 'DSA-1-1' }, 'modified', 'DSA-1-1'],
    ['modified not a timestamp', { ...base, modified: 'yesterday' }, 'modified', 'DSA-1-1'],
    ['aliases not strings', { ...base, aliases: ['CVE-2024-1', 2] }, 'aliases[1]', 'DSA-1-1'],
    ['affected not an array', { ...base, affected: {} }, 'affected', 'DSA-1-1'],
    ['package without a name', { ...base, affected: [{ package: { ecosystem: 'npm' } }] }, 'affected[0].package.name', 'DSA-1-1'],
    ['package with an empty ecosystem', { ...base, affected: [{ package: { ecosystem: '', name: 'p' } }] }, 'affected[0].package.ecosystem', 'DSA-1-1'],
    ['unknown range type', withRange({ type: 'DPKG', events: [{ introduced: '0' }] }), 'affected[0].ranges[0].type', 'DSA-1-1'],
    ['no events', withRange({ type: 'ECOSYSTEM', events: [] }), 'affected[0].ranges[0].events', 'DSA-1-1'],
    ['an event with two kinds', withRange({ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { introduced: '1', fixed: '2' }] }), 'affected[0].ranges[0].events[1]', 'DSA-1-1'],
    ['an event of no known kind', withRange({ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { patched: '2' }] }), 'affected[0].ranges[0].events[1]', 'DSA-1-1'],
    ['a version that is not a string', withRange({ type: 'ECOSYSTEM', events: [{ introduced: 0 }] }), 'affected[0].ranges[0].events[0].introduced', 'DSA-1-1'],
    ['no introduced event', withRange({ type: 'ECOSYSTEM', events: [{ fixed: '1.0-1' }] }), 'affected[0].ranges[0].events', 'DSA-1-1'],
    ['severity without score', { ...base, severity: [{ type: 'CVSS_V3' }] }, 'severity[0].score', 'DSA-1-1'],
    ['ecosystem_specific not an object', { ...base, affected: [{ ecosystem_specific: 'high' }] }, 'affected[0].ecosystem_specific', 'DSA-1-1'],
  ])('refuses %s, naming the field', (_, json, field, recordId) => {
    let error: unknown;
    try {
      parseOsvRecord(json);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OsvRecordError);
    expect(error).toMatchObject({ field, recordId });
    expect((error as Error).message).toContain(field === '' ? '(no id)' : `${field}: `);
  });

  test('keeps a GIT range without repo, a package-less entry, and fixed beside last_affected', () => {
    const record = parseOsvRecord({
      ...base,
      affected: [
        { ranges: [{ type: 'GIT', events: [{ introduced: '0' }, { fixed: 'abc' }] }] },
        { package: { ecosystem: 'npm', name: 'p' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.0' }, { last_affected: '1.5.0' }] }] },
      ],
    });
    expect(record.affected).toHaveLength(2);
    expect(record.affected[0].package).toBeUndefined();
  });
});

describe('the evaluation algorithm', () => {
  test('introduced (inclusive) to fixed (exclusive)', () => {
    const record = npmRecord([{ introduced: '1.0.0' }, { fixed: '1.0.2' }]);
    expect(['0.9.9', '1.0.0', '1.0.1', '1.0.2', '2.0.0'].map((v) => affects(record, v))).toEqual([false, true, true, false, false]);
  });

  test('introduced "0" sorts before every version, even a pre-release of 0.0.0', () => {
    const record = npmRecord([{ introduced: '0' }, { fixed: '1.0.0' }]);
    expect(['0.0.0-alpha', '0.0.1', '0.9.9', '1.0.0'].map((v) => affects(record, v))).toEqual([true, true, true, false]);
    expect(affects(npmRecord([{ introduced: '0' }]), '99.0.0')).toBe(true);
  });

  test('last_affected is inclusive', () => {
    const record = npmRecord([{ introduced: '0' }, { last_affected: '2.1.214' }]);
    expect(['2.1.213', '2.1.214', '2.1.215'].map((v) => affects(record, v))).toEqual([true, true, false]);
  });

  test('limit bounds the range from above, "*" is infinity, and several limits widen it', () => {
    const limited = npmRecord([{ introduced: '1.0.0' }, { limit: '2.0.0' }]);
    expect(['0.5.0', '1.5.0', '2.0.0', '3.0.0'].map((v) => affects(limited, v))).toEqual([false, true, false, false]);
    expect(affects(npmRecord([{ introduced: '1.0.0' }, { limit: '*' }]), '9.9.9')).toBe(true);
    const two = npmRecord([{ introduced: '1.0.0' }, { limit: '2.0.0' }, { limit: '4.0.0' }]);
    expect(['3.0.0', '4.0.0'].map((v) => affects(two, v))).toEqual([true, false]);
    // A limit does not reopen what a fix closed.
    expect(affects(npmRecord([{ introduced: '1.0.0' }, { fixed: '1.5.0' }, { limit: '2.0.0' }]), '1.7.0')).toBe(false);
  });

  test('several intervals in one range, in whatever order the events come', () => {
    const events: OsvEvent[] = [{ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' }];
    const shuffled: OsvEvent[] = [events[3], events[0], events[2], events[1]];
    for (const record of [npmRecord(events), npmRecord(shuffled)]) {
      expect(['1.0.1', '2.0.0', '3.1.0', '3.2.5'].map((v) => affects(record, v))).toEqual([true, false, true, false]);
    }
  });

  test('several ranges: affected when any one includes the version', () => {
    const record = parseOsvRecord({
      id: 'TEST-2',
      modified: '2024-01-01T00:00:00Z',
      affected: [
        {
          package: { ecosystem: 'npm', name: 'pkg' },
          ranges: [
            { type: 'SEMVER', events: [{ introduced: '1.0.0' }, { fixed: '1.1.0' }] },
            { type: 'ECOSYSTEM', events: [{ introduced: '2.0.0' }, { fixed: '2.1.0' }] },
          ],
        },
      ],
    });
    expect(['1.0.5', '1.5.0', '2.0.5'].map((v) => affects(record, v))).toEqual([true, false, true]);
  });

  test('explicit versions match exactly, with or without ranges; GIT ranges are not evaluated', () => {
    expect(['1.2.3', '1.2.4'].map((v) => affects(npmRecord([{ introduced: '5.0.0' }], { versions: ['1.2.3'] }), v))).toEqual([true, false]);
    const gitOnly = (versions?: string[]) =>
      parseOsvRecord({
        id: 'TEST-3',
        modified: '2024-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'npm', name: 'pkg' }, ranges: [{ type: 'GIT', repo: 'https://example.com/r', events: [{ introduced: '0' }] }], ...(versions ? { versions } : {}) }],
      });
    expect(affects(gitOnly(), '1.0.0')).toBe(false);
    expect(affects(gitOnly(['1.0.0']), '1.0.0')).toBe(true);
  });

  test("versions compare in the package ecosystem's ordering, not as strings", () => {
    // dpkg: a tilde sorts before everything, so 3.0.11-1 is after 3.0.11-1~deb12u2 (a string compare says before).
    const fixedWithTilde = [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }];
    const cmp = (a: string, b: string) => compareVersions('Debian:12', a, b);
    expect(includedInRange('3.0.11-1', fixedWithTilde, cmp)).toBe(false);
    expect(includedInRange('3.0.11-1~deb12u1', fixedWithTilde, cmp)).toBe(true);
    // SemVer: 1.10.0 after 1.9.0.
    expect(affects(npmRecord([{ introduced: '0' }, { fixed: '1.10.0' }]), '1.9.0')).toBe(true);
    // apk: -r1 after -r0.
    expect(matched(apk('libcrypto3', '3.3.2-r0', 'openssl'), RECORDS['ALPINE-CVE-2024-9143'])).toBe(true);
    expect(matched(apk('libcrypto3', '3.3.2-r1', 'openssl'), RECORDS['ALPINE-CVE-2024-9143'])).toBe(false);
  });

  test('sortEvents puts introduced "0" first, orders by version, and introduced before fixed at one version', () => {
    const cmp = (a: string, b: string) => compareVersions('npm', a, b);
    expect(sortEvents([{ fixed: '2.0.0' }, { introduced: '2.0.0' }, { limit: '9.0.0' }, { last_affected: '1.0.0' }, { introduced: '0' }], cmp)).toEqual([
      { introduced: '0' },
      { last_affected: '1.0.0' },
      { introduced: '2.0.0' },
      { fixed: '2.0.0' },
    ]);
    // So `introduced: X, fixed: X` is empty rather than open from X.
    expect(affects(npmRecord([{ fixed: '2.0.0' }, { introduced: '2.0.0' }]), '2.0.0')).toBe(false);
  });
});

describe('matchPackage', () => {
  test('a withdrawn record matches nothing, though its ranges include the version', () => {
    const withdrawn = RECORDS['GHSA-0000-0000-0001'];
    const lodash = npm('lodash', '4.17.20');
    expect(matchPackage(lodash, [withdrawn])).toEqual([]);
    const { withdrawn: _, ...sameButLive } = withdrawn;
    expect(ids(matchPackage(lodash, [sameButLive]))).toEqual(['GHSA-0000-0000-0001']);
  });

  test('a record for another release of the distribution does not match', () => {
    const dsa = RECORDS['DSA-5417-1'];
    expect(matched(deb('openssl', '1.1.1n-0+deb11u4', undefined, 'Debian:11'), dsa)).toBe(true);
    expect(matched(deb('openssl', '1.1.1n-0+deb11u4', undefined, 'Debian:12'), dsa)).toBe(false);
    expect(matched(apk('libcrypto3', '3.1.4-r5', 'openssl', 'Alpine:v3.19'), RECORDS['ALPINE-CVE-2024-9143'])).toBe(false);
  });

  test('a record for another distribution does not match, though its range includes the version', () => {
    const alpine = RECORDS['ALPINE-CVE-2024-9143'];
    const debianLibssl = DEBIAN_12[2];
    // In dpkg's ordering too, 3.0.19-1~deb12u2 is before Alpine's fix 3.3.2-r1.
    expect(compareVersions('Debian:12', debianLibssl.version, '3.3.2-r1')).toBeLessThan(0);
    expect(matchPackage(debianLibssl, [alpine, RECORDS['UBUNTU-CVE-2024-9143']])).toEqual([]);
    expect(matched(deb('libssl3', '3.0.2-0ubuntu1.18', { name: 'openssl' }, 'Debian:12'), RECORDS['UBUNTU-CVE-2024-9143'])).toBe(false);
    expect(matched(deb('libssl3', '3.0.2-0ubuntu1.18', { name: 'openssl' }, 'Ubuntu:22.04:LTS'), RECORDS['UBUNTU-CVE-2024-9143'])).toBe(true);
  });

  test('ecosystems: exact, except that a bare distribution name covers all its releases', () => {
    expect(ecosystemCovers('Debian:12', 'Debian:12')).toBe(true);
    expect(ecosystemCovers('Debian:11', 'Debian:12')).toBe(false);
    expect(ecosystemCovers('Debian', 'Debian:12')).toBe(true);
    expect(ecosystemCovers('Debian', 'Ubuntu:22.04:LTS')).toBe(false);
    expect(ecosystemCovers('Ubuntu', 'Ubuntu:22.04:LTS')).toBe(true);
    expect(ecosystemCovers('Ubuntu:Pro:22.04:LTS', 'Ubuntu:22.04:LTS')).toBe(false);
    expect(ecosystemCovers('Alpine', 'Alpine:v3.20')).toBe(true);
    expect(ecosystemCovers('npm', 'npm')).toBe(true);
    expect(ecosystemCovers('npm', 'npm:whatever')).toBe(false);
    const bare = { ...RECORDS['DSA-5417-1'], affected: [{ ...RECORDS['DSA-5417-1'].affected[0], package: { ecosystem: 'Debian', name: 'openssl' } }] };
    expect(matched(deb('openssl', '1.1.1n-0+deb11u4'), bare)).toBe(true);
  });

  test('a package fixed in the installed version has no match', () => {
    // The fixtures' own versions: Debian 12 openssl 3.0.19, the node app's semver 7.8.6 and 6.3.2.
    expect(DEBIAN_12.flatMap((p) => ids(matchPackage(p, [RECORDS['DSA-5532-1']])))).toEqual([]);
    expect(NODE_APP.flatMap((p) => ids(matchPackage(p, [RECORDS['GHSA-c2qf-rxjj-qqgw']])))).toEqual([]);
    // The fix's own version is fixed; the one before it is not.
    expect(matched(deb('libssl3', '3.0.11-1~deb12u2', { name: 'openssl' }), RECORDS['DSA-5532-1'])).toBe(false);
    expect(matched(deb('libssl3', '3.0.11-1~deb12u1', { name: 'openssl' }), RECORDS['DSA-5532-1'])).toBe(true);
    expect(matched(apk('libssl3', '3.3.2-r1', 'openssl'), RECORDS['ALPINE-CVE-2024-9143'])).toBe(false);
  });

  test('a Debian binary is matched through its Source, an Alpine one through its origin', () => {
    const zlib1g = DEBIAN_12[4];
    expect(ids(matchPackage(zlib1g, ALL))).toEqual(['DEBIAN-CVE-2023-45853']);
    expect(matchPackage({ ...zlib1g, sourceName: undefined }, ALL)).toEqual([]);
    expect(ids(matchPackage(ALPINE_3_20[1], ALL))).toEqual(['ALPINE-CVE-2024-9143']);
    // npm names its own packages: a sourceName there means nothing.
    expect(matchPackage({ ...npm('lodash', '4.17.20'), sourceName: 'underscore' }, [RECORDS['GHSA-35jh-r3h4-6jhm']])).toHaveLength(1);
  });

  test("a binNMU is compared at its source's version", () => {
    const bash = DEBIAN_12[0];
    const record = parseOsvRecord({
      id: 'DEBIAN-CVE-TEST-1',
      modified: '2024-01-01T00:00:00Z',
      affected: [{ package: { ecosystem: 'Debian:12', name: 'bash' }, versions: ['5.2.15-2'] }],
    });
    expect(matched(bash, record)).toBe(true);
    expect(matched({ ...bash, sourceVersion: undefined }, record)).toBe(false);
  });

  test('a record listing the package in several affected entries matches once, with the entry that matched', () => {
    const record = RECORDS['GHSA-c2qf-rxjj-qqgw'];
    const at = (version: string) => matchPackage(npm('semver', version), [record]);
    expect(at('7.5.1')).toEqual([{ record, affected: [record.affected[0]] }]);
    expect(at('6.3.0')).toEqual([{ record, affected: [record.affected[1]] }]);
    expect(at('5.7.1')).toEqual([{ record, affected: [record.affected[2]] }]);
    expect(['5.7.2', '6.3.1', '7.5.2', '7.5.2-rc.1'].map((v) => at(v).length)).toEqual([0, 0, 0, 1]);
  });

  test('a version the ordering refuses leaves the package unevaluated: reported, or thrown, never "not affected"', () => {
    const record = RECORDS['GHSA-35jh-r3h4-6jhm'];
    const gitDependency = npm('lodash', 'github:lodash/lodash#4.17.20');
    const heard: UnevaluatedRange[] = [];
    expect(matchPackage(gitDependency, [record], { onUnevaluated: (u) => heard.push(u) })).toEqual([]);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ record, affected: record.affected[0], range: record.affected[0].ranges?.[0] });
    expect(heard[0].error).toBeInstanceOf(InvalidVersionError);
    expect(() => matchPackage(gitDependency, [record])).toThrow(InvalidVersionError);
    // Decided by the versions list, the range's failure does not matter.
    const listed = { ...record, affected: [{ ...record.affected[0], versions: [gitDependency.version] }] };
    expect(matchPackage(gitDependency, [listed], { onUnevaluated: () => heard.push(heard[0]) })).toHaveLength(1);
    expect(heard).toHaveLength(1);
    // An ecosystem Berth has no ordering for.
    const pypi = parseOsvRecord({ id: 'PYSEC-1', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'jinja2' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.1.5' }] }] }] });
    expect(() => matchPackage({ ecosystem: 'PyPI', name: 'jinja2', version: '3.1.4', path: 'x' }, [pypi])).toThrow(UnsupportedEcosystemError);
  });
});

describe('severity', () => {
  const only = (record: OsvRecord, pkg: InstalledPackage) => {
    const [match] = matchPackage(pkg, [record]);
    return recordSeverity(match.record, match.affected);
  };

  test("GitHub's database_specific.severity, MODERATE as MEDIUM", () => {
    expect(only(RECORDS['GHSA-29mw-wpgm-hmr9'], npm('lodash', '4.17.20'))).toMatchObject({ severity: 'MEDIUM', source: 'words' });
    // The word wins over the vector (7.2, HIGH) when they disagree.
    const critical = { ...RECORDS['GHSA-35jh-r3h4-6jhm'], database_specific: { severity: 'CRITICAL' } };
    expect(only(critical, npm('lodash', '4.17.20'))).toEqual({
      severity: 'CRITICAL',
      source: 'words',
      cvss3: { vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', score: 7.2 },
    });
  });

  test("Ubuntu's priority (severity type Ubuntu) over the CVSS vector", () => {
    const ubuntuLibssl = deb('libssl3', '3.0.2-0ubuntu1.18', { name: 'openssl' }, 'Ubuntu:22.04:LTS');
    expect(only(RECORDS['UBUNTU-CVE-2024-9143'], ubuntuLibssl)).toMatchObject({ severity: 'LOW', source: 'words', cvss3: { score: 9.8 } });
    const untriaged = { ...RECORDS['UBUNTU-CVE-2024-9143'], severity: [{ type: 'Ubuntu', score: 'untriaged' }, ...(RECORDS['UBUNTU-CVE-2024-9143'].severity ?? []).slice(0, 1)] };
    expect(only(untriaged, ubuntuLibssl)).toMatchObject({ severity: 'CRITICAL', source: 'cvss3' });
  });

  test("Debian's urgency per release: unimportant is INFORMATIONAL, not yet assigned falls through to CVSS", () => {
    const record = RECORDS['DEBIAN-CVE-2023-45853'];
    expect(only(record, DEBIAN_12[4])).toMatchObject({ severity: 'INFORMATIONAL', source: 'words', cvss3: { score: 9.8 } });
    const unassigned = { ...record, affected: record.affected.map((a) => ({ ...a, ecosystem_specific: { urgency: 'not yet assigned' } })) };
    expect(only(unassigned, DEBIAN_12[4])).toMatchObject({ severity: 'CRITICAL', source: 'cvss3' });
    // Only the matched release's urgency counts.
    const perRelease = { ...record, affected: [{ ...record.affected[0], ecosystem_specific: { urgency: 'high' } }, record.affected[1]] };
    expect(only(perRelease, DEBIAN_12[4]).severity).toBe('INFORMATIONAL');
  });

  test('ecosystem_specific.severity, affected words before top-level ones, the highest of several', () => {
    const record = parseOsvRecord({
      id: 'PYSEC-LIKE',
      modified: '2024-01-01T00:00:00Z',
      database_specific: { severity: 'LOW' },
      affected: [
        { package: { ecosystem: 'npm', name: 'pkg' }, versions: ['1.0.0'], ecosystem_specific: { severity: 'HIGH' } },
        { package: { ecosystem: 'npm', name: 'pkg' }, versions: ['1.0.0'], database_specific: { severity: 'moderate' } },
      ],
    });
    expect(only(record, npm('pkg', '1.0.0'))).toEqual({ severity: 'HIGH', source: 'words' });
    expect(recordSeverity(record, [record.affected[1]])).toEqual({ severity: 'MEDIUM', source: 'words' });
    expect(recordSeverity(record, [])).toEqual({ severity: 'LOW', source: 'words' });
  });

  test('else the highest readable CVSS v3 vector; v4 alone or nothing usable is UNDEFINED', () => {
    expect(only(RECORDS['ALPINE-CVE-2024-9143'], ALPINE_3_20[1])).toEqual({
      severity: 'CRITICAL',
      source: 'cvss3',
      cvss3: { vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', score: 9.8 },
    });
    const record = (severity: unknown[]) => parseOsvRecord({ id: 'T', modified: '2024-01-01T00:00:00Z', severity, affected: [] });
    expect(
      recordSeverity(
        record([
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L' },
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' },
          { type: 'CVSS_V3', score: 'not a vector' },
          { type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' },
        ]),
      ),
    ).toEqual({ severity: 'HIGH', source: 'cvss3', cvss3: { vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', score: 7.5 } });
    expect(recordSeverity(record([{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }]))).toEqual({ severity: 'UNDEFINED', source: 'none' });
    expect(recordSeverity(RECORDS['DSA-5532-1'])).toEqual({ severity: 'UNDEFINED', source: 'none' });
  });

  test('score bands as Inspector maps them for ECR', () => {
    const scores = [0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10];
    expect(scores.map(severityOfCvssScore)).toEqual(['INFORMATIONAL', 'LOW', 'LOW', 'MEDIUM', 'MEDIUM', 'HIGH', 'HIGH', 'CRITICAL', 'CRITICAL']);
    expect(['negligible', 'unimportant', 'Low', 'low**', 'medium', 'MODERATE', 'high', 'critical', 'not yet assigned', 'untriaged', 'end-of-life'].map(severityOfWord)).toEqual([
      'INFORMATIONAL',
      'INFORMATIONAL',
      'LOW',
      'LOW',
      'MEDIUM',
      'MEDIUM',
      'HIGH',
      'CRITICAL',
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('CVSS v3 base score', () => {
  // Published base scores: NVD's for the CVE (first group), the FIRST "CVSS v3.0 Examples" document's
  // (second group, v3.0 vectors).
  test.each<[string, string, number]>([
    ['CVE-2021-44228', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0],
    ['CVE-2014-6271', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVE-2023-4911', 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8],
    ['CVE-2014-0160', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5],
    ['CVE-2022-24999', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
    ['CVE-2021-23337', 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', 7.2],
    ['CVE-2020-28498', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N', 6.8],
    ['CVE-2019-11358', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVE-2024-0727', 'CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H', 5.5],
    ['CVE-2020-28500', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L', 5.3],
    ['CVE-2011-3374', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:L/A:N', 3.7],
    ['CVE-2014-3566', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:L/I:N/A:N', 3.4],
    ['CVE-2012-1516', 'CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H', 9.9],
    ['CVE-2013-6014', 'CVSS:3.0/AV:A/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:H', 9.3],
    ['CVE-2016-5729', 'CVSS:3.0/AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H', 8.2],
    ['CVE-2015-1098', 'CVSS:3.0/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H', 7.8],
    ['CVE-2008-1447', 'CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:H/A:N', 6.8],
    ['CVE-2015-2890', 'CVSS:3.0/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 4.6],
    ['CVE-2009-0783', 'CVSS:3.0/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L', 4.2],
    ['no impact', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
  ])('%s: %s is %d', (_, vector, score) => {
    expect(cvss3BaseScore(vector)).toBe(score);
  });

  test('metrics in any order, temporal and environmental ones allowed and not scored', () => {
    expect(cvss3BaseScore('CVSS:3.1/S:U/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/E:U/RL:O/RC:R/CR:H/MAV:L')).toBe(9.8);
  });

  test.each([
    ['AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'must start with'],
    ['CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'must start with'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', 'A is missing'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L', 'A is given twice'],
    ['CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 'AV cannot be X'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/Q:1', 'unknown metric Q'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/', 'is not METRIC:VALUE'],
  ])('refuses %s', (vector, reason) => {
    expect(() => cvss3BaseScore(vector)).toThrow(CvssVectorError);
    expect(() => cvss3BaseScore(vector)).toThrow(reason);
  });

  test("Roundup: v3.1's integer form ignores float noise below 10^-5, v3.0's does not", () => {
    expect([4.0, 4.02, 4.000001, 4.1 + 1e-15].map(roundUp31)).toEqual([4.0, 4.1, 4.0, 4.1]);
    expect([4.0, 4.02, 4.000001].map(roundUp30)).toEqual([4.0, 4.1, 4.1]);
  });
});

describe('findingsOf', () => {
  const LODASH = npm('lodash', '4.17.20');
  const ATTR = (name: string, version: string, cvss?: [string, string]) => [
    { key: 'package_name', value: name },
    { key: 'package_version', value: version },
    ...(cvss === undefined ? [] : [{ key: 'CVSS3_SCORE', value: cvss[0] }, { key: 'CVSS3_VECTOR', value: cvss[1] }]),
  ];
  const CRITICAL_VECTOR = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H';
  const EXPECTED: ScanFinding[] = [
    {
      name: 'CVE-2024-9143',
      description: (RAW['ALPINE-CVE-2024-9143'] as { details: string }).details,
      uri: 'https://security.alpinelinux.org/vuln/CVE-2024-9143',
      severity: 'CRITICAL',
      attributes: ATTR('openssl', '3.3.2-r0', ['9.8', CRITICAL_VECTOR]),
    },
    {
      name: 'CVE-2021-23337',
      description: 'Command Injection in lodash',
      uri: 'https://nvd.nist.gov/vuln/detail/CVE-2021-23337',
      severity: 'HIGH',
      attributes: ATTR('lodash', '4.17.20', ['7.2', 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H']),
    },
    {
      name: 'CVE-2020-28500',
      description: 'Regular Expression Denial of Service (ReDoS) in lodash',
      uri: 'https://nvd.nist.gov/vuln/detail/CVE-2020-28500',
      severity: 'MEDIUM',
      attributes: ATTR('lodash', '4.17.20', ['5.3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L']),
    },
    {
      name: 'CVE-2023-45853',
      description: (RAW['DEBIAN-CVE-2023-45853'] as { details: string }).details,
      uri: 'https://security-tracker.debian.org/tracker/CVE-2023-45853',
      severity: 'INFORMATIONAL',
      attributes: ATTR('zlib', '1:1.2.13.dfsg-1', ['9.8', CRITICAL_VECTOR]),
    },
  ];

  test('the fixture images against every fixture record, exactly', () => {
    const packages = [...DEBIAN_12, ...ALPINE_3_20, ...NODE_APP, LODASH];
    const findings = findingsOf(packages, ALL);
    expect(findings).toEqual(EXPECTED);
    expect(severityCounts(findings)).toEqual({ CRITICAL: 1, HIGH: 1, MEDIUM: 1, INFORMATIONAL: 1 });
    // Deterministic: the same list whatever order packages and records come in, and from a one-pass iterable.
    function* once() {
      yield* [...ALL].reverse();
    }
    expect(findingsOf([...packages].reverse(), once())).toEqual(EXPECTED);
  });

  test("names: the record's single CVE (id, alias or upstream), else the record id", () => {
    expect(findingName(RECORDS['GHSA-35jh-r3h4-6jhm'])).toBe('CVE-2021-23337');
    expect(findingName(RECORDS['DSA-5532-1'])).toBe('CVE-2023-5363');
    expect(findingName(RECORDS['DSA-5417-1'])).toBe('DSA-5417-1');
    expect(findingName({ id: 'CVE-2024-1234', modified: 'x', affected: [] })).toBe('CVE-2024-1234');
    expect(findingName({ id: 'GHSA-aaaa-bbbb-cccc', modified: 'x', aliases: [], affected: [] })).toBe('GHSA-aaaa-bbbb-cccc');
    expect(findingUri({ id: 'GHSA-aaaa-bbbb-cccc', modified: 'x', affected: [], references: [{ type: 'WEB', url: 'https://example.com' }] })).toBe(
      'https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc',
    );
    const [dsa] = findingsOf([deb('openssl', '1.1.1n-0+deb11u4', undefined, 'Debian:11')], ALL);
    expect(dsa).toEqual({
      name: 'DSA-5417-1',
      description: 'openssl - security update',
      uri: 'https://www.debian.org/security/2023/dsa-5417',
      severity: 'UNDEFINED',
      attributes: ATTR('openssl', '1.1.1n-0+deb11u4'),
    });
  });

  test('one finding per CVE and source package: binaries of one source, and two records of one CVE, merge', () => {
    const debianCve = parseOsvRecord({
      id: 'DEBIAN-CVE-2023-5363',
      modified: '2024-01-01T00:00:00Z',
      upstream: ['CVE-2023-5363'],
      details: 'Issue summary: A bug has been identified in the processing of key and initialisation vector (IV) lengths.',
      severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }],
      affected: [
        {
          package: { ecosystem: 'Debian:12', name: 'openssl' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }],
          ecosystem_specific: { urgency: 'not yet assigned' },
        },
      ],
      references: [{ type: 'ADVISORY', url: 'https://security-tracker.debian.org/tracker/CVE-2023-5363' }],
    });
    const packages = [deb('libssl3', '3.0.11-1~deb12u1', { name: 'openssl' }), deb('openssl', '3.0.11-1~deb12u1')];
    const expected = {
      name: 'CVE-2023-5363',
      description: debianCve.details,
      uri: 'https://security-tracker.debian.org/tracker/CVE-2023-5363',
      severity: 'HIGH',
      attributes: ATTR('openssl', '3.0.11-1~deb12u1', ['7.5', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N']),
    };
    // The DSA alone says UNDEFINED; the DEBIAN-CVE record's HIGH wins, in either order.
    expect(findingsOf(packages, [RECORDS['DSA-5532-1']]).map((f) => f.severity)).toEqual(['UNDEFINED']);
    expect(findingsOf(packages, [RECORDS['DSA-5532-1'], debianCve])).toEqual([expected]);
    expect(findingsOf([...packages].reverse(), [debianCve, RECORDS['DSA-5532-1']])).toEqual([expected]);
    // Two versions of one npm package are two findings.
    expect(findingsOf([LODASH, npm('lodash', '4.17.19', 'a/node_modules/lodash/package.json')], [RECORDS['GHSA-35jh-r3h4-6jhm']]).map((f) => f.attributes[1].value)).toEqual([
      '4.17.19',
      '4.17.20',
    ]);
  });

  test('Ubuntu: the priority decides, the vector is still reported', () => {
    expect(findingsOf([deb('libssl3', '3.0.2-0ubuntu1.18', { name: 'openssl' }, 'Ubuntu:22.04:LTS')], ALL)).toEqual([
      {
        name: 'CVE-2024-9143',
        description: RECORDS['UBUNTU-CVE-2024-9143'].details,
        uri: 'https://ubuntu.com/security/CVE-2024-9143',
        severity: 'LOW',
        attributes: ATTR('openssl', '3.0.2-0ubuntu1.18', ['9.8', CRITICAL_VECTOR]),
      },
    ]);
  });

  test('unevaluated packages are passed to the caller, and the rest still yields findings', () => {
    const heard: string[] = [];
    const findings = findingsOf([npm('lodash', 'latest'), ...ALPINE_3_20], ALL, { onUnevaluated: (u) => heard.push(`${u.record.id}: ${u.error.name}`) });
    expect(findings.map((f) => f.name)).toEqual(['CVE-2024-9143']);
    expect(heard.sort()).toEqual(['GHSA-29mw-wpgm-hmr9: InvalidVersionError', 'GHSA-35jh-r3h4-6jhm: InvalidVersionError']);
  });

  test('severityCounts leaves out the levels without findings', () => {
    expect(severityCounts([])).toEqual({});
    const undefinedOnes = findingsOf([deb('openssl', '1.1.1n-0+deb11u4', undefined, 'Debian:11')], ALL);
    expect(severityCounts(undefinedOnes)).toEqual({ UNDEFINED: 1 });
  });
});
