/**
 * KmsTokenSigner against a stand-in for KMS (a local P-256 key signing in DER as KMS does): the
 * real KMS cannot be reached from the tests. Shows the DER -> JWT conversion, local verification with
 * the public key fetched once, and RegistryTokens on top.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { KmsTokenSigner, type KmsSigningApi } from '../../lambdas/aws/kms-token-signer';
import { RegistryTokens } from '../../lambdas/core/registry-tokens';

function kmsStandIn() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const calls = { sign: 0, getPublicKey: 0 };
  const api: KmsSigningApi = {
    async sign(input) {
      calls.sign++;
      return { Signature: sign('sha256', input.Message, privateKey) };
    },
    async getPublicKey() {
      calls.getPublicKey++;
      return { PublicKey: publicKey.export({ type: 'spki', format: 'der' }), KeySpec: 'ECC_NIST_P256' };
    },
  };
  return { api, calls };
}

test('GIVEN a KMS P-256 key WHEN tokens are issued and verified THEN KMS signs each issue and the public key is fetched once', async () => {
  const { api, calls } = kmsStandIn();
  const tokens = new RegistryTokens(new KmsTokenSigner(api, 'arn:aws:kms:us-east-1:111122223333:key/abc'));
  const principal = { arn: 'arn:aws:iam::111122223333:user/ci', account: '111122223333' };
  for (let i = 0; i < 20; i++) {
    const { token } = await tokens.issueLogin(principal);
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'ES256' });
    expect(Buffer.from(token.split('.')[2], 'base64url')).toHaveLength(64);
    expect(await tokens.verify(token)).toMatchObject({ kind: 'login', sub: principal.arn });
    const [h, c, s] = token.split('.');
    const flipped = Buffer.from(s, 'base64url');
    flipped[5] ^= 1;
    expect(await tokens.verify(`${h}.${c}.${flipped.toString('base64url')}`)).toBeNull();
  }
  expect(calls).toEqual({ sign: 20, getPublicKey: 1 });
});

test('GIVEN another KMS key WHEN it verifies a token THEN the token is refused', async () => {
  const a = new RegistryTokens(new KmsTokenSigner(kmsStandIn().api, 'key-a'));
  const b = new RegistryTokens(new KmsTokenSigner(kmsStandIn().api, 'key-a'));
  const { token } = await a.issueLogin({ arn: 'arn:aws:iam::111122223333:user/ci', account: '111122223333' });
  expect(await b.verify(token)).toBeNull();
});

/** The order of the P-256 group: (r, s) and (r, N - s) are both valid signatures of a message. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const bigintOf = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
const bytesOf = (value: bigint) => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');

/** A DER ECDSA signature with the other s, `high` choosing s > N/2 or s <= N/2. */
function withS(der: Uint8Array, high: boolean): Buffer {
  const { r, s } = parseDer(Buffer.from(der));
  const other = s > N / 2n === high ? s : N - s;
  const integer = (v: bigint) => {
    let bytes = bytesOf(v);
    while (bytes.length > 1 && bytes[0] === 0 && bytes[1] < 0x80) bytes = bytes.subarray(1);
    if (bytes[0] >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([integer(r), integer(other)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function parseDer(der: Buffer): { r: bigint; s: bigint } {
  const rLength = der[3];
  const r = bigintOf(der.subarray(4, 4 + rLength));
  const s = bigintOf(der.subarray(6 + rLength, 6 + rLength + der[5 + rLength]));
  return { r, s };
}

const sOf = (token: string) => bigintOf(Buffer.from(token.split('.')[2], 'base64url').subarray(32));

test('GIVEN a KMS that answers every signature in its high-S form WHEN tokens are issued THEN they carry the low-S form and verify', async () => {
  const { api } = kmsStandIn();
  const highS: KmsSigningApi = { ...api, sign: async (input) => ({ Signature: withS((await api.sign(input)).Signature!, true) }) };
  const tokens = new RegistryTokens(new KmsTokenSigner(highS, 'key-high-s'));
  for (let i = 0; i < 10; i++) {
    const { token } = await tokens.issueLogin({ arn: 'arn:aws:iam::111122223333:user/ci', account: '111122223333' });
    expect(sOf(token) <= N / 2n).toBe(true);
    expect(await tokens.verify(token)).toMatchObject({ kind: 'login' });
  }
});

test('GIVEN a valid ES256 token WHEN its signature is replaced by (r, n - s) THEN it is refused', async () => {
  const { api } = kmsStandIn();
  // The stand-in answers low S, so the token verifies whether or not the signer normalises.
  const lowS: KmsSigningApi = { ...api, sign: async (input) => ({ Signature: withS((await api.sign(input)).Signature!, false) }) };
  const tokens = new RegistryTokens(new KmsTokenSigner(lowS, 'key-low-s'));
  for (let i = 0; i < 10; i++) {
    const { token } = await tokens.issueLogin({ arn: 'arn:aws:iam::111122223333:user/ci', account: '111122223333' });
    expect(await tokens.verify(token)).not.toBeNull();
    const [h, c, s] = token.split('.');
    const signature = Buffer.from(s, 'base64url');
    const flipped = Buffer.concat([signature.subarray(0, 32), bytesOf(N - bigintOf(signature.subarray(32)))]);
    expect(await tokens.verify(`${h}.${c}.${flipped.toString('base64url')}`)).toBeNull();
  }
});
