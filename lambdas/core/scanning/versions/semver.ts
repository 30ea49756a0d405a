/**
 * npm's version ordering: SemVer 2.0.0 precedence (build metadata ignored, so `1.2.3+a` = `1.2.3`)
 * through the `semver` package npm itself uses.
 *
 * Versions are read as npm reads a package.json's (normalize-package-data calls `semver.valid` with
 * `loose`): `v1.2.3`, `=1.2.3`, surrounding blanks and `1.2.3beta` are taken as `semver.clean` would
 * take them. A version even that refuses (`1.2`, `latest`, `*`, a git URL, a number past 2^53) is
 * refused here too, with InvalidVersionError, rather than compared as a string or coerced
 * (`semver.coerce('1.2.3.4')` is 1.2.3): either guess can place an affected version after the fix
 * and hide a finding, where a refusal makes the matcher report the package as not evaluated.
 * OSV's `introduced: "0"` is not a version but the event's "from the beginning": the matcher reads it
 * before it gets here.
 */
import { parse, type SemVer } from 'semver';
import { InvalidVersionError } from './errors';

function read(version: string): SemVer {
  const parsed = parse(version, { loose: true });
  if (parsed == null) throw new InvalidVersionError('semver', version, 'npm would not parse it as a version (SemVer 2.0.0, loosely)');
  return parsed;
}

/** -1, 0 or 1 as npm version `a` has lower, the same or higher SemVer precedence than `b`; throws InvalidVersionError for what npm would not parse. */
export function compareSemVer(a: string, b: string): number {
  return read(a).compare(read(b));
}
