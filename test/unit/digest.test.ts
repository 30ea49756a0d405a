import { createHash } from 'node:crypto';
import { createDigester, digestOf, isDigestReference, parseDigest, tryParseDigest } from '../../lambdas/core/digest';
import { RegistryError } from '../../lambdas/core/errors';

const HEX64 = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const HEX128 = HEX64 + HEX64.split('').reverse().join('');

describe('tryParseDigest / parseDigest', () => {
  test.each([
    ['sha256, lowercase hex', `sha256:${HEX64}`, 'sha256', HEX64],
    ['sha512, lowercase hex', `sha512:${HEX128}`, 'sha512', HEX128],
    ['sha256 of the empty string', `sha256:${createHash('sha256').digest('hex')}`, 'sha256', createHash('sha256').digest('hex')],
  ])('GIVEN %s WHEN parsed THEN algorithm, encoded part and value come back', (_what, value, algorithm, encoded) => {
    expect(tryParseDigest(value)).toEqual({ algorithm, encoded, value });
    expect(parseDigest(value)).toEqual({ algorithm, encoded, value });
  });

  test.each([
    ['uppercase hex', `sha256:${HEX64.toUpperCase()}`],
    ['one uppercase hex digit', `sha256:${HEX64.slice(0, 63)}A`],
    ['63 hex digits', `sha256:${HEX64.slice(1)}`],
    ['65 hex digits', `sha256:${HEX64}0`],
    ['a sha512 with 64 digits', `sha512:${HEX64}`],
    ['a sha256 with 128 digits', `sha256:${HEX128}`],
    ['a non-hex character', `sha256:${HEX64.slice(0, 63)}g`],
    ['an uppercase algorithm', `SHA256:${HEX64}`],
    ['an algorithm the registry cannot verify', `sha384:${'a'.repeat(96)}`],
    ['a grammatical but unregistered algorithm', `sha256+b64u:${HEX64}`],
    ['no algorithm', `:${HEX64}`],
    ['no encoded part', 'sha256:'],
    ['no colon', `sha256${HEX64}`],
    ['two colons', `sha256:${HEX64}:`],
    ['surrounding whitespace', ` sha256:${HEX64}`],
    ['a trailing newline', `sha256:${HEX64}\n`],
    ['the empty string', ''],
    ['a tag', 'latest'],
  ])('GIVEN %s WHEN parsed THEN it is refused as DIGEST_INVALID', (_what, value) => {
    expect(tryParseDigest(value)).toBeUndefined();
    let thrown: unknown;
    try {
      parseDigest(value);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RegistryError);
    expect(thrown).toMatchObject({ kind: 'DIGEST_INVALID', code: 'DIGEST_INVALID', status: 400 });
  });

  test.each([null, undefined])('GIVEN %p WHEN parsed THEN it is refused as DIGEST_INVALID', (value) => {
    expect(() => parseDigest(value)).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
  });
});

describe('isDigestReference', () => {
  test.each([
    [`sha256:${HEX64}`, true],
    ['sha256:nonsense', true],
    ['latest', false],
    ['v1.2.3', false],
    ['', false],
  ])('GIVEN reference %p THEN it is a digest reference: %p', (reference, expected) => {
    expect(isDigestReference(reference)).toBe(expected);
  });
});

describe('digestOf / createDigester', () => {
  const bytes = Buffer.from('hello, registry');

  test.each(['sha256', 'sha512'] as const)('GIVEN bytes WHEN digested with %s THEN the result is the canonical, parseable digest', (algorithm) => {
    const expected = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
    expect(digestOf(bytes, algorithm)).toBe(expected);
    expect(`${algorithm}:${createDigester(algorithm).update(bytes).digest('hex')}`).toBe(expected);
    expect(tryParseDigest(expected)?.algorithm).toBe(algorithm);
  });

  test('GIVEN no algorithm WHEN digested THEN sha256 is used', () => {
    expect(digestOf(bytes)).toBe(digestOf(bytes, 'sha256'));
  });
});
