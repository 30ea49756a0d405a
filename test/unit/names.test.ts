import { MAX_NAME_LENGTH, isValidRepositoryName, isValidTag, parseReference, validateRepositoryName, validateTag } from '../../lambdas/core/names';

const HEX64 = '0123456789abcdef'.repeat(4);

/** A valid name of exactly `length` characters, in components of at most 30. */
function nameOfLength(length: number): string {
  let name = '';
  while (name.length < length) {
    const room = length - name.length;
    if (name.length === 0) name += 'a'.repeat(Math.min(room, 30));
    else if (room === 1) name = name.slice(0, -1) + 'bb';
    else name += '/' + 'b'.repeat(Math.min(room - 1, 30));
  }
  return name;
}

describe('repository names', () => {
  test('the helper builds names of the asked length', () => {
    expect(nameOfLength(256)).toHaveLength(256);
    expect(nameOfLength(257)).toHaveLength(257);
  });

  test.each([
    ['a single letter', 'a'],
    ['a single digit', '0'],
    ['two components', 'library/alpine'],
    ['many components', 'a/b/c/d/e/f'],
    ['a dot separator', 'a.b'],
    ['an underscore separator', 'a_b'],
    ['a double underscore separator', 'a__b'],
    ['a dash separator', 'a-b'],
    ['a run of dashes', 'a---b'],
    ['mixed separators', 'my-org.io/team__x/app_1.2-rc'],
    ['digits only', '123/456'],
    [`exactly ${MAX_NAME_LENGTH} characters`, nameOfLength(MAX_NAME_LENGTH)],
  ])('GIVEN %s WHEN validated THEN it is accepted', (_what, name) => {
    expect(isValidRepositoryName(name)).toBe(true);
    expect(validateRepositoryName(name)).toBe(name);
  });

  test.each([
    ['the empty string', ''],
    [`${MAX_NAME_LENGTH + 1} characters`, nameOfLength(MAX_NAME_LENGTH + 1)],
    ['an uppercase letter', 'Library/alpine'],
    ['a dot then an underscore', 'a._b'],
    ['an underscore then a dot', 'a_.b'],
    ['three underscores', 'a___b'],
    ['two dots', 'a..b'],
    ['a dash then a dot', 'a-.b'],
    ['a leading separator', '-a'],
    ['a trailing separator', 'a-'],
    ['a leading slash', '/a'],
    ['a trailing slash', 'a/'],
    ['an empty component', 'a//b'],
    ['a dot component', 'a/./b'],
    ['a dot-dot component', 'a/../b'],
    ['a space', 'a b'],
    ['a colon', 'a:b'],
    ['an at sign', 'a@b'],
    ['a percent escape', 'a%2Fb'],
    ['a backslash', 'a\\b'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['a NUL', 'a\u0000b'],
    ['a newline', 'a\n'],
  ])('GIVEN %s WHEN validated THEN it is refused as NAME_INVALID', (_what, name) => {
    expect(isValidRepositoryName(name)).toBe(false);
    expect(() => validateRepositoryName(name)).toThrow(expect.objectContaining({ kind: 'NAME_INVALID', code: 'NAME_INVALID', status: 400 }));
  });

  test('GIVEN a huge name WHEN refused THEN the error detail does not echo all of it', () => {
    const huge = 'a'.repeat(100_000);
    try {
      validateRepositoryName(huge);
      throw new Error('expected a refusal');
    } catch (err) {
      expect(JSON.stringify((err as { detail: unknown }).detail).length).toBeLessThan(1000);
    }
  });
});

describe('tags', () => {
  test.each([
    ['a word', 'latest'],
    ['a version', 'v1.2.3'],
    ['uppercase', 'RELEASE'],
    ['a leading underscore', '_internal'],
    ['a leading digit', '1.0'],
    ['dashes and dots inside', 'a-b.c_d'],
    ['one character', 'a'],
    ['exactly 128 characters', 'a'.repeat(128)],
  ])('GIVEN %s WHEN validated THEN it is accepted', (_what, tag) => {
    expect(isValidTag(tag)).toBe(true);
    expect(validateTag(tag)).toBe(tag);
  });

  test.each([
    ['the empty string', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-rc'],
    ['a slash', 'a/b'],
    ['a colon', 'a:b'],
    ['a plus', 'v1+build'],
    ['a space', 'a b'],
    ['a trailing newline', 'latest\n'],
    ['a non-ASCII letter', 'v\u00e9'],
  ])('GIVEN %s WHEN validated THEN it is refused as TAG_INVALID', (_what, tag) => {
    expect(isValidTag(tag)).toBe(false);
    expect(() => validateTag(tag)).toThrow(expect.objectContaining({ kind: 'TAG_INVALID', code: 'TAG_INVALID', status: 400 }));
  });
});

describe('parseReference', () => {
  test('GIVEN a tag WHEN parsed THEN it is a tag reference', () => {
    expect(parseReference('v1')).toEqual({ kind: 'tag', tag: 'v1' });
  });

  test.each(['sha256', 'sha512'])('GIVEN a %s digest WHEN parsed THEN it is a digest reference', (algorithm) => {
    const encoded = algorithm === 'sha256' ? HEX64 : HEX64 + HEX64;
    expect(parseReference(`${algorithm}:${encoded}`)).toEqual({ kind: 'digest', digest: { algorithm, encoded, value: `${algorithm}:${encoded}` } });
  });

  test.each([
    ['a malformed digest', 'sha256:abc', 'DIGEST_INVALID'],
    ['an uppercase digest', `sha256:${HEX64.toUpperCase()}`, 'DIGEST_INVALID'],
    ['a tag with a colon', 'v1:2', 'DIGEST_INVALID'],
    ['an invalid tag', '-v1', 'TAG_INVALID'],
    ['a 129-character tag', 'a'.repeat(129), 'TAG_INVALID'],
    ['the empty reference', '', 'TAG_INVALID'],
  ])('GIVEN %s WHEN parsed THEN it is refused with %s', (_what, reference, code) => {
    expect(() => parseReference(reference)).toThrow(expect.objectContaining({ code }));
  });
});
