import { RegistryError } from '../../lambdas/core/errors';
import { parseContentRange, parseRequestedRange, uploadRangeHeader } from '../../lambdas/core/ranges';

function caught(work: () => unknown): RegistryError {
  try {
    work();
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('expected a RegistryError');
}

describe('uploadRangeHeader', () => {
  test.each([
    [0, '0-0'],
    [1, '0-0'],
    [2, '0-1'],
    [1024, '0-1023'],
  ])('GIVEN an upload of %p bytes THEN the Range header is %p', (size, header) => {
    expect(uploadRangeHeader(size)).toBe(header);
  });
});

describe('parseContentRange (upload chunks)', () => {
  test.each([
    ['0-9', 0, 9],
    ['0-0', 0, 0],
    ['100-199', 100, 199],
    ['bytes=0-9', 0, 9],
    ['bytes 0-9', 0, 9],
    ['0-9/10', 0, 9],
    ['0-9/*', 0, 9],
    ['bytes 10-19/*', 10, 19],
    ['  5-6  ', 5, 6],
    ['999999999999999-999999999999999', 999999999999999, 999999999999999],
  ])('GIVEN Content-Range %p THEN it covers %p to %p inclusive', (value, start, end) => {
    expect(parseContentRange(value)).toEqual({ start, end });
  });

  test.each([
    ['an end before the start', '9-0'],
    ['no start', '-9'],
    ['no end', '0-'],
    ['words', 'abc'],
    ['the empty string', ''],
    ['a negative start', '-1-5'],
    ['a bad total', '0-9/ten'],
    ['a 16-digit offset', '1000000000000000-1000000000000001'],
    ['two ranges', '0-1,2-3'],
    ['another unit', 'items 0-9'],
    ['a fraction', '0.5-9'],
  ])('GIVEN %s WHEN parsed THEN it is refused as BLOB_UPLOAD_INVALID (400)', (_what, value) => {
    const err = caught(() => parseContentRange(value));
    expect(err).toMatchObject({ kind: 'BLOB_UPLOAD_INVALID', code: 'BLOB_UPLOAD_INVALID', status: 400 });
  });
});

describe('parseRequestedRange (blob GET)', () => {
  test('GIVEN no Range header THEN the whole blob is served', () => {
    expect(parseRequestedRange(undefined, 100)).toBeUndefined();
  });

  test.each([
    ['bytes=0-9', 100, 0, 9],
    ['bytes=0-0', 100, 0, 0],
    ['bytes=99-99', 100, 99, 99],
    ['bytes=90-', 100, 90, 99],
    ['bytes=0-', 100, 0, 99],
    ['bytes=-10', 100, 90, 99],
    ['bytes=-1', 100, 99, 99],
    ['bytes=-1000', 100, 0, 99],
    ['bytes=50-1000', 100, 50, 99],
    [' bytes=1-2 ', 100, 1, 2],
  ])('GIVEN Range %p on a %p-byte blob THEN bytes %p to %p are served', (value, size, start, end) => {
    expect(parseRequestedRange(value, size)).toEqual({ start, end });
  });

  test.each([
    ['two ranges', 'bytes=0-1,5-9'],
    ['two suffix ranges', 'bytes=-1, -2'],
  ])('GIVEN %s THEN the whole blob is served (RFC 9110 allows ignoring them)', (_what, value) => {
    expect(parseRequestedRange(value, 100)).toBeUndefined();
  });

  test.each([
    ['a start at the size', 'bytes=100-', 100],
    ['a start past the size', 'bytes=200-300', 100],
    ['an end before the start', 'bytes=5-4', 100],
    ['an empty suffix', 'bytes=-0', 100],
  ])('GIVEN %s WHEN parsed THEN 416 RANGE_NOT_SATISFIABLE with Content-Range: bytes */size', (_what, value, size) => {
    const err = caught(() => parseRequestedRange(value, size));
    expect(err).toMatchObject({ kind: 'RANGE_NOT_SATISFIABLE', status: 416, code: 'SIZE_INVALID' });
    expect(err.headers['Content-Range']).toBe(`bytes */${size}`);
  });

  test.each([
    ['neither start nor end', 'bytes=-', 100],
    ['another unit', 'items=0-1', 100],
    ['no unit', '0-1', 100],
    ['garbage', 'bytes=a-b', 100],
    ['an empty header', '', 100],
    ['any range of an empty blob', 'bytes=0-', 0],
    ['a suffix of an empty blob', 'bytes=-5', 0],
  ])('GIVEN %s THEN the whole blob is served (RFC 9110 lets a server ignore a Range it cannot use)', (_what, value, size) => {
    expect(parseRequestedRange(value, size)).toBeUndefined();
  });
});
