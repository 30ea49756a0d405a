import { isIP } from 'node:net';

/**
 * The matching primitives IAM's grammar needs: `*`/`?` wildcards, ARNs compared segment by
 * segment, and IP addresses against CIDR blocks. Wildcards are matched by a loop rather
 * than a regular expression built from policy text, so a hostile pattern cannot make
 * matching exponential.
 */

/** `*` matches any run of characters (also none), `?` exactly one; everything else literally. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  let pi = 0;
  let vi = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (vi < v.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === v[vi]))) {
      pi++;
      vi++;
    } else if (pi < p.length && p[pi] === '*') {
      starAt = pi++;
      resumeAt = vi;
    } else if (starAt >= 0) {
      // Let the last star swallow one more character and retry from there.
      pi = starAt + 1;
      vi = ++resumeAt;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

export function hasWildcard(text: string): boolean {
  return text.includes('*') || text.includes('?');
}

/** An ARN's six parts; the last keeps any further colons (`repository/a:b` is one resource). */
export function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/**
 * IAM's ArnLike (and ArnEquals, which IAM evaluates the same way): each of the six
 * colon-separated parts is matched separately, so a `*` cannot reach across a colon.
 */
export function arnMatch(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const want = splitArn(pattern);
  const have = splitArn(arn);
  if (!want || !have) return false;
  return want.every((part, i) => wildcardMatch(part, have[i]));
}

export interface IpAddress {
  version: 4 | 6;
  value: bigint;
}

export interface CidrBlock extends IpAddress {
  prefix: number;
}

/**
 * Parses an IPv4 or IPv6 address. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
 * dual-stack Node socket reports for IPv4 clients) is read as the IPv4 address, so IPv4
 * conditions keep working; a zone (`%eth0`) is dropped.
 */
export function parseIp(text: string): IpAddress | undefined {
  const address = text.replace(/%[^%]*$/, '');
  const version = isIP(address);
  if (version === 4) return { version: 4, value: ipv4Value(address) };
  if (version !== 6) return undefined;
  const value = ipv6Value(address);
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

/** A CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address (a /32 or /128). */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  if (address.includes('%')) return undefined;
  const version = isIP(address);
  if (version !== 4 && version !== 6) return undefined;
  const bits = version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits) || Number(digits) > bits) return undefined;
    prefix = Number(digits);
  }
  const value = version === 4 ? ipv4Value(address) : ipv6Value(address);
  return { version, value, prefix };
}

export function cidrContains(block: CidrBlock, ip: IpAddress): boolean {
  if (block.version !== ip.version) return false;
  const bits = BigInt(block.version === 4 ? 32 : 128);
  const shift = bits - BigInt(block.prefix);
  return block.value >> shift === ip.value >> shift;
}

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Expects an address `isIP` accepted as IPv6. */
function ipv6Value(address: string): bigint {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 address is the last two 16-bit groups written in dotted form.
    const v4 = ipv4Value(last);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => BigInt(parseInt(group, 16))));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const zeros = Array<bigint>(8 - left.length - right.length).fill(0n);
  return [...left, ...zeros, ...right].reduce((acc, group) => (acc << 16n) | group, 0n);
}
