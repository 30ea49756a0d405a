/**
 * Local mode's signed layer URLs (GetDownloadUrlForLayer): bound to one repository and one digest,
 * valid for the AWS path's presign lifetime, one spelling per token.
 */
import { randomBytes } from 'node:crypto';
import { BlobDownloadTokens } from '../../lambdas/core/download-tokens';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const tokens = new BlobDownloadTokens(randomBytes(32));
const NOW = Date.parse('2026-12-03T10:00:00Z');

test('GIVEN a new token THEN it verifies for its repository and digest only, until the presign lifetime (300 s) ends', () => {
  const token = tokens.issue('team/app', DIGEST, NOW);
  expect(tokens.lifetimeSeconds).toBe(300);
  expect(tokens.verify(token, 'team/app', DIGEST, NOW)).toBe(true);
  expect(tokens.verify(token, 'team/app', DIGEST, NOW + 299_000)).toBe(true);
  expect(tokens.verify(token, 'team/app', DIGEST, NOW + 300_000)).toBe(false);
  expect(tokens.verify(token, 'team/other', DIGEST, NOW)).toBe(false);
  expect(tokens.verify(token, 'team/app', OTHER, NOW)).toBe(false);
});

test('GIVEN a token WHEN another key, an altered payload or another spelling of it is presented THEN refused', () => {
  const token = tokens.issue('team/app', DIGEST, NOW);
  expect(new BlobDownloadTokens(randomBytes(32)).verify(token, 'team/app', DIGEST, NOW)).toBe(false);
  const [payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const longer = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3600 })).toString('base64url');
  expect(tokens.verify(`${longer}.${signature}`, 'team/app', DIGEST, NOW)).toBe(false);
  for (const spelling of [`${token}=`, `${payload}=.${signature}`, ` ${token}`, `${payload}.${signature.slice(0, -1)}${signature.at(-1) === 'A' ? 'B' : 'A'}`]) {
    expect(tokens.verify(spelling, 'team/app', DIGEST, NOW)).toBe(false);
  }
  for (const junk of [null, undefined, '', '.', 'abc', 'x'.repeat(3000)]) expect(tokens.verify(junk, 'team/app', DIGEST, NOW)).toBe(false);
});

test('GIVEN a key shorter than 32 bytes THEN construction fails', () => {
  expect(() => new BlobDownloadTokens(randomBytes(16))).toThrow(/32 bytes/);
});
