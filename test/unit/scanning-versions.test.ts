/**
 * Version ordering per OSV ecosystem (issue 15): dpkg, apk, SemVer. Each table row is
 * [a, expected sign of compare(a, b), b] and is asserted both ways round; the orderings must also be
 * consistent over each table's versions as a whole (a sort by them agrees with every pair).
 */
import {
  InvalidVersionError,
  UnsupportedEcosystemError,
  compareApkVersions,
  compareDpkgVersions,
  compareSemVer,
  compareVersions,
  versionScheme,
} from '../../lambdas/core/scanning/versions';

type Row = [string, -1 | 0 | 1, string];

// dpkg: the first block is the __DATA__ of dpkg's scripts/t/Dpkg_Version.t (every row that dpkg
// 1.21's C parser accepts; the four it rejects are in DPKG_REFUSED), the second lib/dpkg/t/t-version.c's
// parse cases, the third real Debian and Ubuntu versions and parser quirks checked against
// `dpkg --compare-versions` 1.21.22.
const DPKG: Row[] = [
  ['1.0-1', -1, '2.0-2'],
  ['2.2~rc-4', -1, '2.2-1'],
  ['1.0000-1', 0, '1.0-1'],
  ['1', 0, '0:1'],
  ['0', 0, '0:0-0'],
  ['2:2.5', 1, '1:7.5'],
  ['1:0foo', 1, '0foo'],
  ['0:0foo', 0, '0foo'],
  ['0foo', 0, '0foo'],
  ['0foo', 1, '0fo'],
  ['0foo~1', -1, '0foo'],
  ['0foo~foo+Bar', -1, '0foo~foo+bar'],
  ['0foo~~', -1, '0foo~'],
  ['1~', -1, '1'],
  ['12345+that-really-is-some-ver-0', -1, '12345+that-really-is-some-ver-10'],
  ['0foo-0', -1, '0foo-01'],
  ['0foo.bar', 1, '0foobar'],
  ['0foo.bar', 1, '0foo1bar'],
  ['0foo.bar', 1, '0foo0bar'],
  ['0foo1bar-1', -1, '0foobar-1'],
  ['0foo2.0', 1, '0foo2'],
  ['0foo2.0.0', -1, '0foo2.10.0'],
  ['0foo2.0', -1, '0foo2.0.0'],
  ['0foo2.0', -1, '0foo2.10'],
  ['0foo2.1', -1, '0foo2.10'],
  ['1.09', 0, '1.9'],
  ['1.0.8+nmu1', 1, '1.0.8'],
  ['3.11', 1, '3.10+nmu1'],
  ['0.9j-20080306-4', 1, '0.9i-20070324-2'],
  ['1.2.0~b7-1', 1, '1.2.0~b6-1'],
  ['1.011-1', 1, '1.06-2'],
  ['0.0.9+dfsg1-1', 1, '0.0.8+dfsg1-3'],
  ['4.6.99+svn6582-1', 1, '4.6.99+svn6496-1'],
  ['53', 1, '52'],
  ['0.9.9~pre122-1', 1, '0.9.9~pre111-1'],
  ['2:2.3.2-2+lenny2', 1, '2:2.3.2-2'],
  ['1:3.8.1-1', 1, '3.8.GA-1'],
  ['1.0.1+gpl-1', 1, '1.0.1-2'],
  ['1a', -1, '1000a'],

  ['0:0-0-0', 0, '0-0-0'],
  ['0:0.0-0.0', 0, '0.0-0.0'],
  ['0:0-00', 0, '0:00-0'],
  ['0:09azAZ.-+~:-0', 0, '0:09azAZ.-+~:-00'],
  ['  \t0:0-1', 0, '0:0-1\t  '],
  ['1:0:1', 1, '1:0:0'],

  ['1.0', 0, '1.0-0'],
  ['1.0', 0, '1.0-00'],
  ['3.0.11-1~deb12u2', -1, '3.0.11-1'],
  ['3.0.11-1~deb12u2', -1, '3.0.11-1~deb12u3'],
  ['2.36-9+deb12u4', 1, '2.36-9'],
  ['2.36-9+deb12u4', -1, '2.36-9+deb12u10'],
  ['7.88.1-10+deb12u5', -1, '7.88.1-10+deb12u12'],
  ['1:2.38.1-5+deb12u1', 1, '2.39-1'],
  ['1.2.3-1ubuntu1', 1, '1.2.3-1'],
  ['1.2.3-1ubuntu0.1', -1, '1.2.3-1ubuntu1'],
  ['1.2.3-1build1', -1, '1.2.3-1ubuntu1'],
  ['1.0~rc1', -1, '1.0~rc1+b1'],
  ['1.0~rc1', -1, '1.0'],
  ['1.0~~', -1, '1.0~~a'],
  ['1.0+b1', 1, '1.0'],
  ['1.0a', -1, '1.0+'],
  ['1.0Z', -1, '1.0a'],
  ['+1:0', 0, '1:0'],
  ['01:1.0', 0, '1:1.0'],
  ['2147483647:0', 1, '2147483646:9'],
  // Only warnings for dpkg, which compares them all the same.
  ['abc', 1, '1'],
  ['1.0@', 1, '1.0'],
  ['1_0', 1, '1'],
];

// What dpkg 1.21's parseversion calls an error (`dpkg --compare-versions` exits 2), and the one
// refusal of our own (non-ASCII: dpkg's order for it depends on the platform's char signedness).
const DPKG_REFUSED: Array<[string, RegExp]> = [
  ['', /version string is empty/],
  ['  \t', /version string is empty/],
  ['0foo-', /revision number is empty/],
  ['1.0-', /revision number is empty/],
  ['-0.6.5', /version number is empty/],
  ['0:-0', /version number is empty/],
  ['0:', /nothing after colon/],
  ['a:1.0', /epoch in version is empty/],
  ['1.0:3', /epoch in version is not number/],
  ['1a:0-0', /epoch in version is not number/],
  ['-1:0-1', /epoch in version is negative/],
  ['2147483648:1', /epoch in version is too big/],
  ['999999999999999999999999:0-1', /epoch in version is too big/],
  ['0:0 0-1', /embedded spaces/],
  ['1.0é', /outside ASCII/],
  ['1.0\u0000', /NUL/],
];

// apk: rows of apk-tools' test/version.data (read by `apk vertest`), the leading-zero, letter,
// suffix, revision and "invalid" ones among them, then our own rows for the suffix ranks, the
// `~hash` token of apk-tools 2.14/3 and the revision's absence; every row of version.data (733)
// also agrees in both directions (checked when this was written, a one-off run).
const APK: Row[] = [
  ['2.34', 1, '0.1.0_alpha'],
  ['23_foo', 1, '4_beta'],
  ['1.0', -1, '1.0bc'],
  ['0.1.0_alpha', 0, '0.1.0_alpha'],
  ['0.1.0_alpha2', 1, '0.1.0_alpha'],
  ['2.2.39-r1', 1, '1.0.4-r3'],
  ['1.0.4-r3', -1, '1.0.4-r4'],
  ['1.1', 1, '1.1_alpha1'],
  ['1.2.1', 1, '1.2'],
  ['1.3_alpha2', -1, '1.3_alpha3'],
  ['0.7.0', -1, '0.8_beta1'],
  ['3.10.18-r1', 1, '2.3.0b-r1'],
  ['2.3.0b-r1', -1, '2.3.0b-r2'],
  ['0.12.3', 1, '0.12'],
  ['0.13_beta4', -1, '0.13_beta5'],
  ['1.2.12.1', -1, '1.2.13'],
  ['3.1_p16', -1, '3.1_p17'],
  ['1.06-r6', -1, '006'],
  ['006', 1, '1.0.0'],
  ['1.2.2-r1', 1, '1.2.2'],
  ['3.9.8-r5', 1, '2.01.01_alpha10'],
  ['1.0', 1, '0.99.3.20040818'],
  ['1.39', 1, '1.00_beta2'],
  ['1.02', -1, '1.03-r1'],
  ['4.2.52_p2-r1', -1, '4.2.52_p4-r2'],
  ['1.02.07', -1, '1.02.10-r1'],
  ['2.18.3-r10', 1, '1.05-r18'],
  ['20060720', 1, '3.0.20060720'],
  ['2.5.1-r8', -1, '2.5.1a-r1'],
  ['1.3.5-r10', 1, '1.3.5-r8'],
  ['20040401', 1, '2.0.0_rc3-r1'],
  ['3.0.0-r2', -1, '021109-r3'],
  ['3.9_pre20060124', 1, '0.01'],
  ['1.1.7', -1, '6b-r7'],
  ['0.10.0', -1, '0.10.1_rc1'],
  ['1.1a', -1, '1.3a'],
  ['0.15.1b-r2', 1, '0.15.1b'],
  ['22.7.3-r1', 1, '22.7'],
  ['2.1_pre20', -1, '2.1_pre26'],
  ['2.10.1', 1, '02.08.01b'],
  ['1.6d', 1, '1.2.07.8'],
  ['1.2.07.8', -1, '1.2.12.04'],
  ['1.2.12.04', -1, '1.2.12.05'],
  ['1.07-r1', -1, '1.07.5'],
  ['0.1_pre20060810', -1, '0.1_pre20060817'],
  ['3.3.17', 1, '0.59s-r11'],
  ['4.20', 1, '0.20070118'],
  ['0.20070118', -1, '0.20070207_rc1'],
  ['4.5_p1-r1', 1, '4.5_p1'],
  ['0.9.8c-r1', -1, '0.9.8d'],
  ['2.2.3-r2', -1, '013'],
  ['1.7', -1, '1.7b'],
  ['1.8.5', -1, '1.8.5_p2'],
  ['2.9.11_pre20051101-r3', 1, '2.9.11_pre20051101'],
  ['1.6.8_p12-r1', 1, '1.6.8_p9-r2'],
  ['0.9.28-r2', -1, '0.9.28.1'],
  ['104-r11', 1, '104-r9'],
  ['20040406-r1', 1, '2.12r-r4'],
  ['7.0.17', -1, '7.0.174'],
  ['1.3-r0', -1, '1.3.1-r0'],
  ['1.3_pre1-r1', -1, '1.3.2'],
  ['1.0_p10-r0', 1, '1.0_p9-r0'],
  ['0.1.0_alpha_pre2', -1, '0.1.0_alpha'],
  ['1.0.0_pre20191002222144-r0', -1, '1.0.0_pre20210530193627-r0'],
  ['6.0_pre1', -1, '6.0'],
  ['6.0_p1', 1, '6.0'],

  ['1.0_alpha', -1, '1.0_beta'],
  ['1.0_beta', -1, '1.0_pre'],
  ['1.0_pre', -1, '1.0_rc'],
  ['1.0_rc', -1, '1.0'],
  ['1.0', -1, '1.0_cvs'],
  ['1.0_cvs', -1, '1.0_svn'],
  ['1.0_svn', -1, '1.0_git'],
  ['1.0_git', -1, '1.0_hg'],
  ['1.0_hg', -1, '1.0_p'],
  ['1.0_rc9', -1, '1.0_rc10'],
  ['1.0_p0', 1, '1.0'],
  ['1.0', -1, '1.0-r0'],
  ['1.0-r0', -1, '1.0-r1'],
  ['1.0-r9', -1, '1.0-r10'],
  ['1.0_git20240101~abc', 1, '1.0_git20240101'],
  ['1.0~abc', 1, '1.0-r5'],
  ['1.0~abc-r1', -1, '1.0~abd-r0'],
  ['1.0~abc-r1', -1, '1.0~abc-r2'],
  ['1.0~abc', -1, '1.0~abcd'],
  ['1.0-r1', -1, '1.0_p1'],
  ['1.0_p1', -1, '1.0a'],
  ['1.0a', -1, '1.0.1'],
  ['1.10', 1, '1.9'],
  ['1.010', -1, '1.9'],
  ['1.0-foo', -1, '1.0'],
  ['1.0bc', 0, '1.0bd'],
  ['1.0_foo', -1, '1.0'],
  ['1.0-r1x', 1, '1.0'],
];

// node-semver's test/fixtures/comparisons.js (a > b) and equality.js (a = b, loose rows included:
// npm reads package.json versions loosely), then SemVer 2.0.0's precedence example (section 11).
const SEMVER: Row[] = [
  ['0.0.0', 1, '0.0.0-foo'],
  ['0.0.1', 1, '0.0.0'],
  ['1.0.0', 1, '0.9.9'],
  ['0.10.0', 1, '0.9.0'],
  ['0.99.0', 1, '0.10.0'],
  ['2.0.0', 1, '1.2.3'],
  ['v0.0.0', 1, '0.0.0-foo'],
  ['v0.0.1', 1, '0.0.0'],
  ['v1.0.0', 1, '0.9.9'],
  ['v0.10.0', 1, '0.9.0'],
  ['v0.99.0', 1, '0.10.0'],
  ['v2.0.0', 1, '1.2.3'],
  ['0.0.0', 1, 'v0.0.0-foo'],
  ['0.0.1', 1, 'v0.0.0'],
  ['1.0.0', 1, 'v0.9.9'],
  ['0.10.0', 1, 'v0.9.0'],
  ['0.99.0', 1, 'v0.10.0'],
  ['2.0.0', 1, 'v1.2.3'],
  ['1.2.3', 1, '1.2.3-asdf'],
  ['1.2.3', 1, '1.2.3-4'],
  ['1.2.3', 1, '1.2.3-4-foo'],
  ['1.2.3-5-foo', 1, '1.2.3-5'],
  ['1.2.3-5', 1, '1.2.3-4'],
  ['1.2.3-5-foo', 1, '1.2.3-5-Foo'],
  ['3.0.0', 1, '2.7.2+asdf'],
  ['1.2.3-a.10', 1, '1.2.3-a.5'],
  ['1.2.3-a.b', 1, '1.2.3-a.5'],
  ['1.2.3-a.b', 1, '1.2.3-a'],
  ['1.2.3-a.b.c.10.d.5', 1, '1.2.3-a.b.c.5.d.100'],
  ['1.2.3-r2', 1, '1.2.3-r100'],
  ['1.2.3-r100', 1, '1.2.3-R2'],

  ['1.2.3', 0, 'v1.2.3'],
  ['1.2.3', 0, '=1.2.3'],
  ['1.2.3', 0, 'v 1.2.3'],
  ['1.2.3', 0, '= 1.2.3'],
  ['1.2.3', 0, ' v1.2.3'],
  ['1.2.3', 0, ' = 1.2.3'],
  ['1.2.3-0', 0, 'v1.2.3-0'],
  ['1.2.3-0', 0, ' =1.2.3-0'],
  ['1.2.3-1', 0, ' v 1.2.3-1'],
  ['1.2.3-beta', 0, '= 1.2.3-beta'],
  ['1.2.3-beta+build', 0, ' = 1.2.3-beta+otherbuild'],
  ['1.2.3+build', 0, ' = 1.2.3+otherbuild'],
  ['1.2.3-beta+build', 0, '1.2.3-beta+otherbuild'],
  ['1.2.3+build', 0, '1.2.3+otherbuild'],
  ['  v1.2.3+build', 0, '1.2.3+otherbuild'],

  ['1.0.0-alpha', -1, '1.0.0-alpha.1'],
  ['1.0.0-alpha.1', -1, '1.0.0-alpha.beta'],
  ['1.0.0-alpha.beta', -1, '1.0.0-beta'],
  ['1.0.0-beta', -1, '1.0.0-beta.2'],
  ['1.0.0-beta.2', -1, '1.0.0-beta.11'],
  ['1.0.0-beta.11', -1, '1.0.0-rc.1'],
  ['1.0.0-rc.1', -1, '1.0.0'],
  ['1.0.0', -1, '2.0.0'],
  ['2.0.0', -1, '2.1.0'],
  ['2.1.0', -1, '2.1.1'],
  ['1.2.3beta', -1, '1.2.3'],
  ['4.17.20', -1, '4.17.21'],
  ['10.0.0', 1, '9.99.99'],
];

const SEMVER_REFUSED = ['1.2', '0', 'latest', '*', '^1.2.3', '1.2.3.4', '1.2.3-a..b', '99999999999999999.0.0', 'git+https://example.test/x.git', ''];

const sign = (n: number) => Math.sign(n) as -1 | 0 | 1;
const distinct = (rows: Row[]) => [...new Set(rows.flatMap(([a, , b]) => [a, b]))];

/** Sorts the versions by `compare` and checks that every pair of the sorted list agrees with it. */
function expectConsistentOrder(versions: string[], compare: (a: string, b: string) => number): void {
  const sorted = [...versions].sort(compare);
  const broken: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      if (compare(sorted[i], sorted[j]) > 0) broken.push(`${sorted[i]} > ${sorted[j]} though sorted before it`);
    }
  }
  expect(broken).toEqual([]);
}

describe.each([
  ['dpkg', 'Debian:12', DPKG, compareDpkgVersions],
  ['apk', 'Alpine:v3.19', APK, compareApkVersions],
  ['SemVer', 'npm', SEMVER, compareSemVer],
] as const)('%s ordering', (_name, ecosystem, rows, direct) => {
  test('has at least 30 pairs', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });

  test.each(rows)(`compareVersions('${ecosystem}', %p, %p) has sign %p and the reverse the opposite`, (a, expected, b) => {
    expect(sign(compareVersions(ecosystem, a, b))).toBe(expected);
    expect(sign(compareVersions(ecosystem, b, a))).toBe(-expected || 0);
    expect(sign(direct(a, b))).toBe(expected);
  });

  test('every version equals itself, and the order over all the table\'s versions is consistent (antisymmetric, transitive)', () => {
    const versions = distinct([...rows]);
    for (const v of versions) expect(direct(v, v)).toBe(0);
    for (const a of versions) for (const b of versions) expect(sign(direct(a, b))).toBe(-sign(direct(b, a)) || 0);
    expectConsistentOrder(versions, direct);
  });
});

describe('transitivity spot checks along chains', () => {
  test.each([
    ['Debian:12', ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0-0.1', '1.0-1~bpo1', '1.0-1', '1.0-1+deb12u1', '1.0a', '1.0+dfsg-1', '1.0.1', '1:0.1']],
    ['Ubuntu:22.04:LTS', ['2.35-0ubuntu3', '2.35-0ubuntu3.1', '2.35-0ubuntu3.8', '2.35-0ubuntu3.10', '2.35-1']],
    ['Alpine:v3.19', ['1.0_alpha', '1.0_alpha1', '1.0_beta', '1.0_pre', '1.0_rc1', '1.0', '1.0-r0', '1.0-r1', '1.0_cvs', '1.0_svn', '1.0_git', '1.0_hg', '1.0_p1', '1.0a', '1.0.1']],
    ['npm', ['1.0.0-0', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0']],
  ])('%s: each version of the chain sorts before every later one', (ecosystem, chain) => {
    for (let i = 0; i < chain.length; i++) {
      for (let j = i + 1; j < chain.length; j++) {
        expect([chain[i], sign(compareVersions(ecosystem, chain[i], chain[j])), chain[j]]).toEqual([chain[i], -1, chain[j]]);
      }
    }
    expect([...chain].reverse().sort((a, b) => compareVersions(ecosystem, a, b))).toEqual(chain);
  });
});

describe('refusals', () => {
  test.each(DPKG_REFUSED)('dpkg refuses %p (%p), on either side', (version, reason) => {
    for (const run of [() => compareDpkgVersions(version, '1.0'), () => compareVersions('Debian:12', '1.0', version)]) {
      expect(run).toThrow(InvalidVersionError);
      expect(run).toThrow(reason);
    }
  });

  test.each(SEMVER_REFUSED)('SemVer refuses %p rather than coerce it or compare it as a string', (version) => {
    expect(() => compareVersions('npm', version, '1.0.0')).toThrow(InvalidVersionError);
    expect(() => compareSemVer('1.0.0', version)).toThrow(/npm would not parse it/);
  });

  test('apk refuses only the empty version (apk itself answers "any" for it)', () => {
    expect(() => compareApkVersions('', '1.0')).toThrow(InvalidVersionError);
    expect(() => compareVersions('Alpine:v3.19', '1.0', '')).toThrow(InvalidVersionError);
  });

  test('the error names the scheme and the version', () => {
    try {
      compareVersions('npm', 'latest', '1.0.0');
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidVersionError);
      expect(err).toMatchObject({ scheme: 'semver', version: 'latest' });
    }
  });
});

describe('compareVersions dispatches on the OSV ecosystem', () => {
  test.each([
    ['Debian', 'dpkg'],
    ['Debian:12', 'dpkg'],
    ['Debian:11', 'dpkg'],
    ['Ubuntu:22.04:LTS', 'dpkg'],
    ['Ubuntu:23.10', 'dpkg'],
    ['Ubuntu:Pro:18.04:LTS', 'dpkg'],
    ['Alpine:v3.19', 'apk'],
    ['Alpine', 'apk'],
    ['npm', 'semver'],
  ])('%p orders versions by %p', (ecosystem, scheme) => {
    expect(versionScheme(ecosystem)).toBe(scheme);
  });

  test('the same pair sorts by the ecosystem\'s own rules', () => {
    // A hyphen is a revision for dpkg and a pre-release for SemVer; `_alpha` a pre-release for apk only.
    expect(sign(compareVersions('Debian:12', '1.0.0-rc1', '1.0.0'))).toBe(1);
    expect(sign(compareVersions('npm', '1.0.0-rc1', '1.0.0'))).toBe(-1);
    expect(sign(compareVersions('Alpine:v3.19', '1.0_alpha', '1.0'))).toBe(-1);
    expect(sign(compareVersions('Debian:12', '1.0_alpha', '1.0'))).toBe(1);
    // A missing revision is 0 for dpkg, less than -r0 for apk.
    expect(compareVersions('Debian:12', '1.0', '1.0-0')).toBe(0);
    expect(sign(compareVersions('Alpine:v3.19', '1.0', '1.0-r0'))).toBe(-1);
  });

  test.each(['PyPI', 'Go', 'Maven', 'debian:12', 'NPM', 'Alpine Linux', '', 'constructor', '__proto__'])('an unknown ecosystem %p is refused with a clear error', (ecosystem) => {
    expect(versionScheme(ecosystem)).toBeUndefined();
    expect(() => compareVersions(ecosystem, '1.0', '1.0')).toThrow(UnsupportedEcosystemError);
    expect(() => compareVersions(ecosystem, '1.0', '1.0')).toThrow(`no version ordering for the OSV ecosystem ${JSON.stringify(ecosystem)}`);
  });
});
