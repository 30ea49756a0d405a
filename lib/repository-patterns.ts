import { Token } from 'aws-cdk-lib';
import { MAX_NAME_LENGTH, isValidRepositoryName } from '../lambdas/contracts/repository-names';

/**
 * Whether `pattern` names repositories a grant may cover: a repository name (the OCI grammar the
 * registry enforces: lowercase letters and digits, separators `.` `_` `__` `-`, components joined
 * by `/`, at most 256 characters), or a prefix of one followed by a single trailing `*`
 * (`team-a/*`, `team-*`, `*` for every repository). IAM's `?` and inner `*` wildcards are not
 * patterns: they would match names the registry never accepts, or nothing.
 *
 * @param pattern the pattern to check
 */
export function isValidRepositoryPattern(pattern: string): boolean {
  if (!pattern.endsWith('*')) return isValidRepositoryName(pattern);
  const prefix = pattern.slice(0, -1);
  // A prefix of some valid name is exactly one that a single letter completes into a valid name
  // (the length limit included).
  return isValidRepositoryName(`${prefix}a`);
}

/**
 * The repository patterns of a grant, checked: `['*']` when there are none (every repository),
 * else the distinct patterns. A pattern that is a token (known only at deploy time) is taken as
 * it is.
 *
 * @param caller the method name that error messages start with, e.g. `RegistryStack.grantPull`
 * @param patterns repository names or name prefixes ending in `*`
 * @throws Error naming every invalid pattern and the grammar
 */
export function validateRepositoryPatterns(caller: string, patterns: readonly string[]): string[] {
  if (patterns.length === 0) return ['*'];
  const invalid = patterns.filter((p) => !Token.isUnresolved(p) && !isValidRepositoryPattern(p));
  if (invalid.length > 0) {
    throw new Error(
      `${caller}: invalid repository pattern${invalid.length > 1 ? 's' : ''} ${invalid.map((p) => JSON.stringify(p)).join(', ')}. ` +
        `A pattern is a repository name (lowercase letters and digits, separators . _ __ -, components joined by "/", at most ${MAX_NAME_LENGTH} characters) ` +
        'or the start of one followed by a single trailing "*", e.g. "team-a/app", "team-a/*" or "*".',
    );
  }
  return [...new Set(patterns)];
}
