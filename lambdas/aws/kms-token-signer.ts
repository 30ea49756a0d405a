/**
 * The deployed stack's TokenSigner: an asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY).
 * Tokens are signed by KMS when they are issued (GetAuthorizationToken, the token endpoint); they are
 * verified here with the public key, fetched once per container with GetPublicKey and cached, so the
 * data path (the authorizer, every pull) never calls KMS.
 *
 * KmsTokenSigner is written against the two calls it needs (KmsSigningApi), so that tests can stand a
 * local P-256 key in for KMS; KmsClientSigner is the real adapter on `@aws-sdk/client-kms`.
 *
 * JWT's ES256 wants the signature as r||s (32 bytes each, IEEE P1363); KMS answers DER, which is
 * converted here. KMS answers (r, s) or (r, n - s) alike and both verify, so issued signatures are
 * brought to low S and verification refuses high S: a token has one spelling (core/ecdsa-low-s.ts).
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { isLowS, toLowS } from '../core/ecdsa-low-s';
import type { TokenSigner } from '../core/registry-tokens';

/** KMS's Sign takes a RAW message of at most 4,096 bytes; a longer one is sent as its SHA-256 (DIGEST). */
export const KMS_MAX_RAW_MESSAGE_BYTES = 4096;

export interface KmsSigningApi {
  sign(input: { KeyId: string; Message: Uint8Array; MessageType: 'RAW' | 'DIGEST'; SigningAlgorithm: 'ECDSA_SHA_256' }): Promise<{ Signature?: Uint8Array }>;
  getPublicKey(input: { KeyId: string }): Promise<{ PublicKey?: Uint8Array; KeySpec?: string }>;
}

/**
 * KmsSigningApi on the real KMS (`@aws-sdk/client-kms`): Sign (ECDSA_SHA_256, RAW message) and
 * GetPublicKey. Only issuing a token calls Sign; GetPublicKey is called once per KmsTokenSigner
 * (one per container), which caches the key.
 */
export class KmsClientSigner implements KmsSigningApi {
  constructor(private readonly client: KMSClient = new KMSClient({})) {}

  async sign(input: { KeyId: string; Message: Uint8Array; MessageType: 'RAW' | 'DIGEST'; SigningAlgorithm: 'ECDSA_SHA_256' }): Promise<{ Signature?: Uint8Array }> {
    const out = await this.client.send(new SignCommand(input));
    return { Signature: out.Signature };
  }

  async getPublicKey(input: { KeyId: string }): Promise<{ PublicKey?: Uint8Array; KeySpec?: string }> {
    const out = await this.client.send(new GetPublicKeyCommand(input));
    return { PublicKey: out.PublicKey, KeySpec: out.KeySpec };
  }
}

export class KmsTokenSigner implements TokenSigner {
  readonly algorithm = 'ES256';
  private publicKey: Promise<KeyObject> | undefined;

  /** `keyId`: the key's ARN or id (TOKEN_KEY_ID); it is also the tokens' `kid`. */
  constructor(
    private readonly kms: KmsSigningApi,
    readonly keyId: string,
  ) {}

  async sign(data: Uint8Array): Promise<Uint8Array> {
    // The same signature either way (ECDSA_SHA_256 signs the SHA-256 of the message); DIGEST lifts
    // KMS's 4 KB limit on RAW messages (an access token with many scopes).
    const raw = data.length <= KMS_MAX_RAW_MESSAGE_BYTES;
    const out = await this.kms.sign({
      KeyId: this.keyId,
      Message: raw ? data : createHash('sha256').update(data).digest(),
      MessageType: raw ? 'RAW' : 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    if (!out.Signature) throw new Error('KMS Sign answered without a signature');
    return toLowS(derToP1363(out.Signature, 32));
  }

  async verify(data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64 || !isLowS(signature)) return false;
    const key = await this.key();
    try {
      return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  }

  /** The public key, fetched once; a failed fetch is forgotten so the next verification retries. */
  private key(): Promise<KeyObject> {
    this.publicKey ??= this.kms.getPublicKey({ KeyId: this.keyId }).then(
      (out) => {
        if (!out.PublicKey) throw new Error('KMS GetPublicKey answered without a key');
        if (out.KeySpec !== undefined && out.KeySpec !== 'ECC_NIST_P256') throw new Error(`token key must be ECC_NIST_P256, got ${out.KeySpec}`);
        return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
      },
      (err) => {
        this.publicKey = undefined;
        throw err;
      },
    );
    return this.publicKey;
  }
}

/** An ECDSA signature from DER (SEQUENCE { INTEGER r, INTEGER s }) to r||s of `size` bytes each. */
export function derToP1363(der: Uint8Array, size: number): Uint8Array {
  const bytes = Buffer.from(der);
  let offset = 0;
  const expect = (tag: number) => {
    if (bytes[offset++] !== tag) throw new Error('malformed DER signature');
  };
  const length = () => {
    let len = bytes[offset++];
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | bytes[offset++];
    }
    return len;
  };
  expect(0x30);
  length();
  const integer = () => {
    expect(0x02);
    const len = length();
    let value = bytes.subarray(offset, offset + len);
    offset += len;
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    if (value.length > size) throw new Error('malformed DER signature');
    const out = Buffer.alloc(size);
    value.copy(out, size - value.length);
    return out;
  };
  const r = integer();
  const s = integer();
  return Buffer.concat([r, s]);
}
