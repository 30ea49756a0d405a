/**
 * Version ordering per OSV ecosystem (issue 15): dpkg for Debian and Ubuntu, apk for Alpine, SemVer
 * for npm. The ecosystem's name before its first colon picks the ordering (`Debian:12`,
 * `Ubuntu:22.04:LTS`, `Alpine:v3.19`, `npm`); each ordering answers as the ecosystem's own tool does
 * (dpkg.ts, apk.ts, semver.ts say where they refuse). A refusal is an InvalidVersionError: the
 * matcher must report the package as not evaluated, never as unaffected.
 */
import { compareApkVersions } from './apk';
import { compareDpkgVersions } from './dpkg';
import { InvalidVersionError, UnsupportedEcosystemError, type VersionScheme } from './errors';
import { compareSemVer } from './semver';

export { InvalidVersionError, UnsupportedEcosystemError, type VersionScheme };
export { compareApkVersions, compareDpkgVersions, compareSemVer };

const SCHEMES: Readonly<Record<string, VersionScheme>> = { Debian: 'dpkg', Ubuntu: 'dpkg', Alpine: 'apk', npm: 'semver' };
const COMPARE: Readonly<Record<VersionScheme, (a: string, b: string) => number>> = {
  dpkg: compareDpkgVersions,
  apk: compareApkVersions,
  semver: compareSemVer,
};

/** The ordering an OSV ecosystem's versions follow, or undefined when Berth has none for it. */
export function versionScheme(ecosystem: string): VersionScheme | undefined {
  const name = ecosystem.split(':', 1)[0];
  return Object.hasOwn(SCHEMES, name) ? SCHEMES[name] : undefined;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in `ecosystem`'s ordering; throws for an ecosystem it does not know. */
export function compareVersions(ecosystem: string, a: string, b: string): number {
  const scheme = versionScheme(ecosystem);
  if (scheme === undefined) throw new UnsupportedEcosystemError(ecosystem);
  return COMPARE[scheme](a, b);
}
