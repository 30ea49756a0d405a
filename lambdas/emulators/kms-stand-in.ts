/**
 * A LOCAL STAND-IN for AWS KMS, for the emulated AWS mode: the two calls the deployed stack's token
 * signer makes (KmsSigningApi of lambdas/aws/kms-token-signer.ts: Sign and GetPublicKey on an
 * asymmetric ECC_NIST_P256 SIGN_VERIFY key), answered with a P-256 private key kept in the data
 * directory (`<data-dir>/keys/kms-stand-in-p256.pem`, mode 0600, created on first start).
 *
 * It answers as KMS does where the signer can tell: the signature is DER (KMS's ECDSA output), the
 * public key is a DER SubjectPublicKeyInfo with KeySpec ECC_NIST_P256, and an unknown key id, a message
 * type other than RAW, a RAW message over 4,096 bytes or another algorithm is refused. It is not KMS:
 * no key policy, no grants, no rotation, no CloudTrail. It counts its calls, so tests can show that
 * verifying tokens on the data path never calls KMS.
 */
import { loadOrCreateKeyFile } from '../composition/local/key-file';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { KmsSigningApi } from '../aws/kms-token-signer';

export const KMS_STAND_IN_KEY_FILE = join('keys', 'kms-stand-in-p256.pem');
/** KMS's limit for a RAW message to Sign. */
const KMS_MAX_RAW_MESSAGE_BYTES = 4096;

export class KmsStandInError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class LocalKmsStandIn implements KmsSigningApi {
  /** The key's ARN, as TOKEN_KEY_ID would name a real key. */
  readonly keyId: string;
  readonly calls = { sign: 0, getPublicKey: 0 };
  private readonly privateKey: KeyObject;
  private readonly publicDer: Buffer;

  constructor(privateKeyPem: string, options: { region: string; account: string }) {
    this.privateKey = createPrivateKey(privateKeyPem);
    if (this.privateKey.asymmetricKeyType !== 'ec' || this.privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the KMS stand-in key must be a P-256 (prime256v1) EC private key');
    }
    this.publicDer = createPublicKey(this.privateKey).export({ type: 'spki', format: 'der' });
    // A key id shaped like KMS's (a UUID), derived from the public key: stable across restarts, new with a new key.
    const h = createHash('sha256').update(this.publicDer).digest('hex');
    const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    this.keyId = `arn:aws:kms:${options.region}:${options.account}:key/${uuid}`;
  }

  static generatePem(): string {
    return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(input: { KeyId: string; Message: Uint8Array; MessageType: 'RAW'; SigningAlgorithm: 'ECDSA_SHA_256' }): Promise<{ Signature?: Uint8Array }> {
    this.calls.sign++;
    this.checkKey(input.KeyId);
    if (input.MessageType !== 'RAW') throw new KmsStandInError('ValidationException', `MessageType ${String(input.MessageType)} is not supported by this stand-in`);
    if (input.SigningAlgorithm !== 'ECDSA_SHA_256') throw new KmsStandInError('InvalidKeyUsageException', `${String(input.SigningAlgorithm)} is not valid for an ECC_NIST_P256 key`);
    if (input.Message.length > KMS_MAX_RAW_MESSAGE_BYTES) throw new KmsStandInError('ValidationException', 'a RAW message must be at most 4096 bytes');
    return { Signature: cryptoSign('sha256', input.Message, { key: this.privateKey, dsaEncoding: 'der' }) };
  }

  async getPublicKey(input: { KeyId: string }): Promise<{ PublicKey?: Uint8Array; KeySpec?: string }> {
    this.calls.getPublicKey++;
    this.checkKey(input.KeyId);
    return { PublicKey: Buffer.from(this.publicDer), KeySpec: 'ECC_NIST_P256' };
  }

  private checkKey(keyId: string): void {
    if (keyId !== this.keyId && keyId !== this.keyId.split('/').pop()) throw new KmsStandInError('NotFoundException', `Key '${keyId}' does not exist`);
  }
}

/** The stand-in with the data directory's key, created (0600, in a 0700 directory) on first use. */
export function loadOrCreateKmsStandIn(dataDir: string, options: { region: string; account: string }): LocalKmsStandIn {
  const pem = loadOrCreateKeyFile(join(dataDir, KMS_STAND_IN_KEY_FILE), () => LocalKmsStandIn.generatePem());
  return new LocalKmsStandIn(pem, options);
}
