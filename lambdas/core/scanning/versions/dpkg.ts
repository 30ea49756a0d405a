/**
 * Debian's version ordering (Debian Policy 5.6.12, deb-version(5)), written from dpkg's own code so
 * that Berth answers exactly as `dpkg --compare-versions` (dpkg 1.21/1.22) does:
 *
 * - Parsing follows lib/dpkg/parsehelp.c `parseversion`. Leading and trailing blanks are dropped.
 *   The epoch is what `strtol` reads before the first colon (so `+1:` and `01:` are epoch 1); there
 *   is no epoch unless the string has a colon, so a colon in the upstream version needs an explicit
 *   epoch. The revision is what follows the last hyphen; without one it is empty, and an empty
 *   revision sorts equal to `0` (`1.0` = `1.0-0` = `1.0-00`).
 * - What dpkg calls an error (an empty version, an empty or non-numeric or negative or too big
 *   epoch, nothing after the colon, an empty upstream version or revision, embedded blanks) makes
 *   `dpkg --compare-versions` exit 2: here it throws InvalidVersionError. What dpkg only warns about
 *   (an upstream version not starting with a digit, a character outside Policy's set) it still
 *   compares, and so does this.
 * - Comparison follows lib/dpkg/version.c `verrevcmp`: alternate runs of non-digits (compared
 *   character by character with `~` before the end of the string, the end before letters, letters
 *   in ASCII order before every other character) and runs of digits (compared as numbers, leading
 *   zeros ignored); epoch first, then upstream version, then revision.
 *
 * Two deliberate differences. dpkg reads a non-ASCII byte through a C `char`, whose signedness
 * depends on the platform (amd64 and arm64 order such versions differently), so a version with a
 * byte outside ASCII, or a NUL, is refused rather than ordered one platform's way. And the empty
 * string, which the dpkg command takes as "no version" (before every version), is refused: no
 * package or advisory has an empty version, so one here is a bug upstream of the comparison.
 * Every pair of test/unit/scanning-versions.test.ts was checked against dpkg 1.21.22's binary.
 */
import { InvalidVersionError } from './errors';

interface DpkgVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

const INT_MAX = 2 ** 31 - 1;
const TILDE = 0x7e;

const isBlank = (c: string) => c === ' ' || c === '\t';
// strtol skips isspace(), which is wider than the blanks parseversion trims.
const isCSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
const isDigitCode = (c: number) => c >= 0x30 && c <= 0x39;
const isAlphaCode = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

function refuse(version: string, reason: string): never {
  throw new InvalidVersionError('dpkg', version, reason);
}

/** `strtol(s, &end, 10)` for the epoch: the value and where the number ends (0 when there is none). */
function strtol(s: string): { value: bigint; end: number } {
  let i = 0;
  while (i < s.length && isCSpace(s[i])) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  const digitsStart = i;
  while (i < s.length && isDigitCode(s.charCodeAt(i))) i++;
  if (i === digitsStart) return { value: 0n, end: 0 };
  const magnitude = BigInt(s.slice(digitsStart, i));
  return { value: negative ? -magnitude : magnitude, end: i };
}

function parse(original: string): DpkgVersion {
  // A NUL would end dpkg's C string early; a byte past ASCII has a platform-dependent order.
  if ([...original].some((c) => c.charCodeAt(0) === 0 || c.charCodeAt(0) > 0x7f)) refuse(original, 'it holds a NUL or a character outside ASCII, which dpkg orders differently on different platforms');
  let start = 0;
  while (start < original.length && isBlank(original[start])) start++;
  if (start === original.length) refuse(original, 'version string is empty');
  let end = start;
  while (end < original.length && !isBlank(original[end])) end++;
  for (let i = end; i < original.length; i++) {
    if (!isBlank(original[i])) refuse(original, 'version string has embedded spaces');
  }
  const text = original.slice(start, end);

  let epoch = 0;
  let rest = text;
  const colon = text.indexOf(':');
  if (colon >= 0) {
    const { value, end: numberEnd } = strtol(text);
    if (numberEnd === 0) refuse(original, 'epoch in version is empty');
    if (numberEnd !== colon) refuse(original, 'epoch in version is not number');
    if (value < 0n) refuse(original, 'epoch in version is negative');
    if (value > BigInt(INT_MAX)) refuse(original, 'epoch in version is too big');
    if (colon + 1 === text.length) refuse(original, 'nothing after colon in version number');
    epoch = Number(value);
    rest = text.slice(colon + 1);
  }

  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen >= 0) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') refuse(original, 'revision number is empty');
  }
  if (upstream === '') refuse(original, 'version number is empty');
  // dpkg only warns about a first character that is not a digit or a character outside Policy's
  // set, and compares such versions all the same: so do we.
  return { epoch, upstream, revision };
}

/** verrevcmp's weight of one character; 0 stands for the end of the string. */
function order(c: number): number {
  if (isDigitCode(c)) return 0;
  if (isAlphaCode(c)) return c;
  if (c === TILDE) return -1;
  if (c !== 0) return c + 256;
  return 0;
}

function verrevcmp(a: string, b: string): number {
  const at = (s: string, i: number) => (i < s.length ? s.charCodeAt(i) : 0);
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigitCode(at(a, i))) || (j < b.length && !isDigitCode(at(b, j)))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === 0x30) i++;
    while (at(b, j) === 0x30) j++;
    while (isDigitCode(at(a, i)) && isDigitCode(at(b, j))) {
      if (!firstDiff) firstDiff = at(a, i) - at(b, j);
      i++;
      j++;
    }
    if (isDigitCode(at(a, i))) return 1;
    if (isDigitCode(at(b, j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/**
 * -1, 0 or 1 as Debian version `a` sorts before, with or after `b`, as `dpkg --compare-versions`
 * says; throws InvalidVersionError where dpkg reports a syntax error.
 */
export function compareDpkgVersions(a: string, b: string): number {
  const va = parse(a);
  const vb = parse(b);
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  return Math.sign(verrevcmp(va.upstream, vb.upstream) || verrevcmp(va.revision, vb.revision));
}
