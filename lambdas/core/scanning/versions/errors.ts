/**
 * Why a version comparison refused to answer. A matcher that gets one of these for a package has
 * not learnt whether the package is affected: it must say so (the package was not evaluated), never
 * count it as "not affected". Kept apart from index.ts so that the orderings can throw them without
 * an import cycle.
 */

/** The version orderings Berth knows. */
export type VersionScheme = 'dpkg' | 'apk' | 'semver';

/** A version its ecosystem's own tool would refuse (or, for dpkg, would order by the platform's char signedness). */
export class InvalidVersionError extends Error {
  constructor(
    readonly scheme: VersionScheme,
    readonly version: string,
    readonly reason: string,
  ) {
    super(`cannot order ${scheme} version ${JSON.stringify(version)}: ${reason}`);
    this.name = 'InvalidVersionError';
  }
}

/** An OSV ecosystem whose version ordering Berth does not implement. */
export class UnsupportedEcosystemError extends Error {
  constructor(readonly ecosystem: string) {
    super(`no version ordering for the OSV ecosystem ${JSON.stringify(ecosystem)} (known: Debian:*, Ubuntu:*, Alpine:*, npm)`);
    this.name = 'UnsupportedEcosystemError';
  }
}
