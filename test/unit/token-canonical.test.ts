/**
 * Issue 9, point 5: a token of Berth's has one spelling. Node's base64url decoder ignores the unused
 * low bits of the last character, padding and characters outside the alphabet, and takes `+` and `/`
 * too, so before strict decoding every registry token verified under fifteen other texts (its 86-
 * character signature) and every upload token under several. Each respelling below decodes, with
 * Node's lenient decoder, to exactly the bytes of the original part; all of them must be refused.
 */
import { RegistryTokens, Ed25519TokenSigner } from '../../lambdas/core/registry-tokens';
import { UploadTokens } from '../../lambdas/core/upload-tokens';
import { decodeBase64urlStrict } from '../../lambdas/core/base64url';
import { KmsTokenSigner } from '../../lambdas/aws/kms-token-signer';
import { LocalKmsStandIn } from '../../lambdas/emulators/kms-stand-in';
import { decodeToken, encodeToken } from '../../lambdas/http/ecr-actions/common';
import { parseBasicAuthorization } from '../../lambdas/http/auth';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PRINCIPAL = { arn: 'arn:aws:iam::111122223333:user/ci', account: '111122223333' };

/** The other last characters that leave the decoded bytes unchanged (the unused low bits differ). */
function lastCharRespellings(part: string): string[] {
  const bytes = Buffer.from(part, 'base64url');
  return [...ALPHABET]
    .map((c) => part.slice(0, -1) + c)
    .filter((v) => v !== part && Buffer.from(v, 'base64url').equals(bytes));
}

/** Every other spelling of `part` that Node's lenient decoder reads as the same bytes. */
function respellings(part: string): string[] {
  const bytes = Buffer.from(part, 'base64url');
  const middle = part.length >> 1;
  const candidates = [
    ...lastCharRespellings(part),
    `${part}=`,
    `${part}==`,
    ...[' ', '!', '\t', '*', '~', '%', '\u00e9'].map((c) => part.slice(0, middle) + c + part.slice(middle)),
    part.replace('-', '+'),
    part.replace('_', '/'),
  ];
  return [...new Set(candidates)].filter((v) => v !== part && Buffer.from(v, 'base64url').equals(bytes));
}

/** The token with its `index`th dot-separated part replaced by each respelling of it. */
function respelledTokens(token: string, index: number): string[] {
  const parts = token.split('.');
  return respellings(parts[index]).map((v) => parts.map((p, i) => (i === index ? v : p)).join('.'));
}

test('GIVEN the canonical base64url of some bytes WHEN decoded strictly THEN the bytes; any respelling THEN null', () => {
  for (let n = 0; n <= 7; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));
    const text = bytes.toString('base64url');
    expect(decodeBase64urlStrict(text)).toEqual(bytes);
    for (const v of respellings(text)) expect(decodeBase64urlStrict(v)).toBeNull();
  }
  // A lone character encodes no byte: Node reads "AAAAB" as three bytes, but it is no spelling at all.
  expect(decodeBase64urlStrict('AAAAB')).toBeNull();
  expect(lastCharRespellings(Buffer.alloc(64).toString('base64url'))).toHaveLength(15);
});

describe.each([
  ['Ed25519 (local mode)', () => new Ed25519TokenSigner(Ed25519TokenSigner.generatePem(), 'local-key')],
  [
    'ES256 through KMS (the KMS stand-in)',
    () => {
      const kms = new LocalKmsStandIn(LocalKmsStandIn.generatePem(), { region: 'us-east-1', account: '111122223333' });
      return new KmsTokenSigner(kms, kms.keyId);
    },
  ],
])('RegistryTokens with %s', (_name, signer) => {
  test('GIVEN a valid login or access token WHEN any part of it is respelled (15 last characters of the signature, padding, inserted characters) THEN refused', async () => {
    const tokens = new RegistryTokens(signer());
    const login = (await tokens.issueLogin(PRINCIPAL)).token;
    const access = (await tokens.issueAccess(PRINCIPAL, [{ name: 'team/app', actions: ['pull'] }])).token;
    for (const token of [login, access]) {
      expect(await tokens.verify(token)).not.toBeNull();
      // The 64-byte signature is 86 characters: the last one carries 4 unused bits.
      expect(lastCharRespellings(token.split('.')[2])).toHaveLength(15);
      for (const index of [0, 1, 2]) {
        const variants = respelledTokens(token, index);
        expect(variants.length).toBeGreaterThanOrEqual(index === 2 ? 15 + 4 : 4);
        for (const variant of variants) {
          if ((await tokens.verify(variant)) !== null) throw new Error(`part ${index} respelled as ${JSON.stringify(variant.split('.')[index])} verified`);
        }
      }
    }
  });
});

test('GIVEN a valid upload token WHEN its signature or payload is respelled THEN refused', () => {
  const uploads = new UploadTokens(Buffer.alloc(32, 7));
  const token = uploads.issue('team/app', 'upload-1');
  expect(uploads.verify(token, 'team/app', 'upload-1')).toBe(true);
  // A 32-byte HMAC is 43 characters: the last one carries 2 unused bits.
  expect(lastCharRespellings(token.split('.')[1])).toHaveLength(3);
  for (const index of [0, 1]) {
    const variants = respelledTokens(token, index);
    expect(variants.length).toBeGreaterThanOrEqual(4);
    for (const variant of variants) {
      if (uploads.verify(variant, 'team/app', 'upload-1')) throw new Error(`part ${index} respelled as ${JSON.stringify(variant.split('.')[index])} verified`);
    }
  }
});

test('GIVEN a nextToken the control plane issued WHEN it comes back respelled THEN InvalidParameterException', () => {
  const token = encodeToken({ last: 'team/app' });
  expect(decodeToken({ nextToken: token })).toEqual({ last: 'team/app' });
  const variants = respellings(token);
  expect(variants.length).toBeGreaterThanOrEqual(4);
  for (const variant of variants) expect(() => decodeToken({ nextToken: variant })).toThrow(/nextToken/);
});

test('GIVEN a Basic header WHEN its base64 is the encoder own (padded or not) THEN it parses; respelled (unused bits, stray padding) THEN refused', () => {
  // "AWS:ab" is 6 bytes: no padding, no unused bits. "AWS:abcd" is 8: padding and four unused bits.
  expect(parseBasicAuthorization('Basic QVdTOmFi')).toEqual({ username: 'AWS', password: 'ab' });
  const padded = Buffer.from('AWS:abcd').toString('base64');
  expect(padded.endsWith('=')).toBe(true);
  expect(parseBasicAuthorization(`Basic ${padded}`)).toEqual({ username: 'AWS', password: 'abcd' });
  expect(parseBasicAuthorization(`Basic ${padded.replace(/=+$/, '')}`)).toEqual({ username: 'AWS', password: 'abcd' });
  const beforePadding = padded.replace(/=+$/, '');
  const last = beforePadding.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const respellings = [...alphabet]
    .filter((c) => c !== last)
    .map((c) => `${beforePadding.slice(0, -1)}${c}`)
    .filter((text) => Buffer.from(text, 'base64').equals(Buffer.from('AWS:abcd')));
  expect(respellings.length).toBeGreaterThan(0);
  for (const text of [...respellings, `${padded}=`, `=${padded}`]) expect(parseBasicAuthorization(`Basic ${text}`)).toBeNull();
});
