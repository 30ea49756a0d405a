/**
 * KmsTokenSigner against a stand-in for KMS (a local P-256 key signing in DER as KMS does): the
 * real KMS cannot be reached from the tests. Shows the DER -> JWT conversion, local verification with
 * the public key fetched once, and RegistryTokens on top.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { KmsTokenSigner, type KmsSigningApi } from '../../lambdas/handlers/kms-token-signer';
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
