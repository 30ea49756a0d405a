/**
 * Alpine's version ordering, written from apk-tools' own src/version.c (`apk_version_compare`, the
 * tokenizer of apk-tools 2.14 and 3.x) so that Berth answers as `apk version -t` does. A version is
 * `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`; the two are read token by token:
 *
 * - The first number is compared numerically; a later dotted number too, unless either side starts
 *   with `0`, when the two are compared as strings (Gentoo's rule: `1.02` < `1.1`, `1.2.07.8` <
 *   `1.2.12.04`).
 * - A letter (`1.0a`) compares by its byte; a suffix by its rank, `_alpha` < `_beta` < `_pre` <
 *   `_rc` < (none) < `_cvs` < `_svn` < `_git` < `_hg` < `_p`, then its number; a `~hash` as a
 *   string; the `-rN` revision numerically.
 * - When one version runs out of tokens, or hits something apk does not accept, where the other has
 *   one of a different kind, the kinds decide: a pre-release suffix (`_alpha` ... `_rc`) is less than
 *   anything; otherwise the later kind in the list above is less, the end of the string is less than
 *   a revision, a hash or a post-release suffix, and what apk does not accept is less than the end.
 *   So `1.0_rc1` < `1.0` < `1.0-r1` < `1.0_p1` < `1.0a` < `1.0.1`.
 *
 * apk compares a version it would refuse to install rather than refusing it, and so does this: the
 * comparison stops at the first token apk does not accept (two such versions that agree up to there
 * are equal). apk works on bytes; a byte outside ASCII is taken in by a suffix or hash span as apk's
 * ctype table does. Numbers wrap past 2^64 as apk's uint64 does. The one refusal: an empty version,
 * which apk does not order at all (its comparison answers "any").
 */
import { InvalidVersionError } from './errors';

// Token kinds in apk's order: a later kind left over at the end of the common prefix sorts lower.
const INITIAL_DIGIT = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const COMMIT_HASH = 5;
const REVISION_NO = 6;
const END = 7;
const INVALID = 8;

// Suffix ranks; NONE is the pivot between pre-releases and post-releases.
const SUFFIX_NONE = 5;
const SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['alpha', 1],
  ['beta', 2],
  ['pre', 3],
  ['rc', 4],
  ['cvs', 6],
  ['svn', 7],
  ['git', 8],
  ['hg', 9],
  ['p', 10],
]);

const UINT64 = 64;

interface Token {
  kind: number;
  /** The token's bytes: the digits, the letter, the suffix word, the hash. */
  value: Uint8Array;
  number: bigint;
  suffix: number;
}

const isDigitByte = (c: number) => c >= 0x30 && c <= 0x39;
// apk's ctype table covers ASCII only; apk_blob_spn lets every byte past it into the span.
const isSuffixByte = (c: number) => (c >= 0x61 && c <= 0x7a) || c >= 0x80;
const isHexByte = (c: number) => isDigitByte(c) || (c >= 0x61 && c <= 0x66) || c >= 0x80;

class Reader {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  peek(offset = 0): number {
    return this.bytes[this.pos + offset] ?? -1;
  }

  skip(n: number): void {
    this.pos += n;
  }

  span(accept: (c: number) => boolean): Uint8Array {
    const start = this.pos;
    while (this.pos < this.bytes.length && accept(this.bytes[this.pos])) this.pos++;
    return this.bytes.subarray(start, this.pos);
  }
}

function bytesToNumber(digits: Uint8Array): bigint {
  let n = 0n;
  for (const d of digits) n = n * 10n + BigInt(d - 0x30);
  return BigInt.asUintN(UINT64, n);
}

/** Reads a run of digits into the token; false when there is none. */
function parseDigits(token: Token, reader: Reader): boolean {
  token.value = reader.span(isDigitByte);
  token.number = bytesToNumber(token.value);
  return token.value.length > 0;
}

function firstToken(reader: Reader): Token {
  const token: Token = { kind: INITIAL_DIGIT, value: new Uint8Array(0), number: 0n, suffix: 0 };
  if (!parseDigits(token, reader)) token.kind = INVALID;
  return token;
}

/** apk's token_next: the kind of the next token follows from its first byte and the previous kind. */
function nextToken(token: Token, reader: Reader): void {
  token.kind = readNext(token, reader);
}

function readNext(token: Token, reader: Reader): number {
  if (reader.atEnd) return END;
  const c = reader.peek();
  if (c >= 0x61 && c <= 0x7a) {
    if (token.kind > DIGIT) return INVALID;
    token.value = new Uint8Array([c]);
    reader.skip(1);
    return LETTER;
  }
  if (c === 0x2e || isDigitByte(c)) {
    if (c === 0x2e) {
      if (token.kind > DIGIT) return INVALID;
      reader.skip(1);
    }
    let kind: number;
    if (token.kind === INITIAL_DIGIT || token.kind === DIGIT) kind = DIGIT;
    else if (token.kind === SUFFIX) kind = SUFFIX_NO;
    else return INVALID;
    return parseDigits(token, reader) ? kind : INVALID;
  }
  if (c === 0x5f) {
    if (token.kind > SUFFIX_NO) return INVALID;
    reader.skip(1);
    token.value = reader.span(isSuffixByte);
    token.suffix = SUFFIXES.get(String.fromCharCode(...token.value)) ?? 0;
    return token.suffix === 0 ? INVALID : SUFFIX;
  }
  if (c === 0x7e) {
    if (token.kind >= COMMIT_HASH) return INVALID;
    reader.skip(1);
    token.value = reader.span(isHexByte);
    return token.value.length === 0 ? INVALID : COMMIT_HASH;
  }
  if (c === 0x2d) {
    if (token.kind >= REVISION_NO || reader.peek(1) !== 0x72) return INVALID;
    reader.skip(2);
    return parseDigits(token, reader) ? REVISION_NO : INVALID;
  }
  return INVALID;
}

/** apk_blob_sort: memcmp over the shorter length, then the shorter first. */
function byteSort(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return Math.sign(a.length - b.length);
}

const cmp = (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** apk's token_cmp, for two tokens of the same kind. */
function compareTokens(a: Token, b: Token): number {
  switch (a.kind) {
    case DIGIT:
      if (a.value[0] === 0x30 || b.value[0] === 0x30) return byteSort(a.value, b.value);
      return cmp(a.number, b.number);
    case INITIAL_DIGIT:
    case SUFFIX_NO:
    case REVISION_NO:
      return cmp(a.number, b.number);
    case LETTER:
      return cmp(a.value[0], b.value[0]);
    case SUFFIX:
      return cmp(a.suffix, b.suffix);
    default:
      return byteSort(a.value, b.value);
  }
}

/**
 * -1, 0 or 1 as Alpine version `a` sorts before, with or after `b`, as apk-tools'
 * `apk_version_compare` says; throws InvalidVersionError for an empty version.
 */
export function compareApkVersions(a: string, b: string): number {
  if (a === '' || b === '') throw new InvalidVersionError('apk', a === '' ? a : b, 'an empty version has no place in apk\'s order');
  const encoder = new TextEncoder();
  const ra = new Reader(encoder.encode(a));
  const rb = new Reader(encoder.encode(b));
  const ta = firstToken(ra);
  const tb = firstToken(rb);
  while (ta.kind === tb.kind && ta.kind < END) {
    const r = compareTokens(ta, tb);
    if (r !== 0) return r;
    nextToken(ta, ra);
    nextToken(tb, rb);
  }
  if (ta.kind === tb.kind) return 0;
  if (ta.kind === SUFFIX && ta.suffix < SUFFIX_NONE) return -1;
  if (tb.kind === SUFFIX && tb.suffix < SUFFIX_NONE) return 1;
  return ta.kind > tb.kind ? -1 : 1;
}
