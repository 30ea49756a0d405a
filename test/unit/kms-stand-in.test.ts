/**
 * The KMS stand-in of the emulated AWS mode (lambdas/emulators/kms-stand-in.ts) behind the stack's
 * KmsTokenSigner: tokens it signs verify, its key persists in the data directory (0600), and it
 * refuses what KMS refuses (an unknown key id, another algorithm, an oversized RAW message).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryTokens } from '../../lambdas/core/registry-tokens';
import { KmsTokenSigner } from '../../lambdas/aws/kms-token-signer';
import { KMS_STAND_IN_KEY_FILE, LocalKmsStandIn, loadOrCreateKmsStandIn } from '../../lambdas/emulators/kms-stand-in';

const WHERE = { region: 'us-east-1', account: '111111111111' };

describe('LocalKmsStandIn', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kms-stand-in-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('GIVEN the data directory key WHEN KmsTokenSigner issues a login token THEN it verifies (ES256, DER converted), after a restart too, and GetPublicKey is asked once', async () => {
    const kms = loadOrCreateKmsStandIn(dir, WHERE);
    expect(kms.keyId).toMatch(/^arn:aws:kms:us-east-1:111111111111:key\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(statSync(join(dir, KMS_STAND_IN_KEY_FILE)).mode & 0o777).toBe(0o600);
    const tokens = new RegistryTokens(new KmsTokenSigner(kms, kms.keyId));
    const { token } = await tokens.issueLogin({ arn: 'arn:aws:iam::111111111111:user/admin', account: '111111111111' });
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'ES256', kid: kms.keyId });
    expect(await tokens.verify(token)).toMatchObject({ kind: 'login', sub: 'arn:aws:iam::111111111111:user/admin' });
    expect(await tokens.verify(token)).not.toBeNull();
    expect(kms.calls).toEqual({ sign: 1, getPublicKey: 1 });

    const again = loadOrCreateKmsStandIn(dir, WHERE);
    expect(again.keyId).toBe(kms.keyId);
    expect(await new RegistryTokens(new KmsTokenSigner(again, again.keyId)).verify(token)).not.toBeNull();
    // Another key does not verify it.
    const other = new LocalKmsStandIn(LocalKmsStandIn.generatePem(), WHERE);
    const impostor = { sign: async () => ({}), getPublicKey: () => other.getPublicKey({ KeyId: other.keyId }) };
    expect(await new RegistryTokens(new KmsTokenSigner(impostor, kms.keyId)).verify(token)).toBeNull();
  });

  test('GIVEN requests KMS would refuse WHEN made THEN NotFoundException, InvalidKeyUsageException, ValidationException', async () => {
    const kms = loadOrCreateKmsStandIn(dir, WHERE);
    const message = Buffer.from('data');
    await expect(kms.sign({ KeyId: 'arn:aws:kms:us-east-1:111111111111:key/nope', Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.sign({ KeyId: kms.keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PSS_SHA_256' as 'ECDSA_SHA_256' })).rejects.toMatchObject({ name: 'InvalidKeyUsageException' });
    await expect(kms.sign({ KeyId: kms.keyId, Message: Buffer.alloc(4097), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })).rejects.toMatchObject({ name: 'ValidationException' });
    // The bare key id (the UUID) names the key too, as with KMS.
    const out = await kms.getPublicKey({ KeyId: kms.keyId.split('/').pop()! });
    expect(out.KeySpec).toBe('ECC_NIST_P256');
  });
});
