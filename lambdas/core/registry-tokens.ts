/**
 * Registry tokens: the 12-hour login password GetAuthorizationToken hands out (used as
 * Basic `AWS:<token>`), and the short, scoped Bearer tokens of the Docker token flow.
 *
 * A token is `base64url(header).base64url(claims).base64url(signature)` (the JWT layout, so
 * tools can show it; only this registry verifies it). Signing goes through a TokenSigner
 * port: an Ed25519 key kept in the data directory locally, a KMS asymmetric key on AWS.
 * Verification needs only the public key, so checking a token on the data path costs no
 * call to KMS or any other service.
 *
 * Each part must be canonical base64url and signers give one signature per message (Ed25519; ES256
 * in low-S form), so a token has exactly one spelling: its text can key a cache or a deny list.
 */
import { decodeBase64urlStrict } from './base64url';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

export interface TokenSigner {
  /** Names the key, so a rotated key's old tokens are recognised (and refused) at once. */
  readonly keyId: string;
  /** The JWT `alg` this signer produces. */
  readonly algorithm: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
  verify(data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Ed25519 with a PEM private key (local mode keeps it in the data directory). */
export class Ed25519TokenSigner implements TokenSigner {
  readonly algorithm = 'EdDSA';
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(
    privateKeyPem: string,
    readonly keyId: string,
  ) {
    this.privateKey = createPrivateKey(privateKeyPem);
    if (this.privateKey.asymmetricKeyType !== 'ed25519') throw new Error('token key must be an Ed25519 private key');
    this.publicKey = createPublicKey(this.privateKey);
  }

  static generatePem(): string {
    return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return edSign(null, data, this.privateKey);
  }

  async verify(data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    try {
      return edVerify(null, data, this.publicKey, signature);
    } catch {
      return false;
    }
  }
}

/** One repository and what the bearer may do there, as the Docker token flow scopes it. */
export interface RepositoryAccess {
  name: string;
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

interface CommonClaims {
  /** The principal: an IAM ARN (`arn:aws:iam::123456789012:user/ci`) or `anonymous`. */
  sub: string;
  /** The principal's account. */
  acct: string;
  /** Issued at and expires at, unix seconds. */
  iat: number;
  exp: number;
}

export interface LoginClaims extends CommonClaims {
  kind: 'login';
}

export interface AccessClaims extends CommonClaims {
  kind: 'access';
  access: RepositoryAccess[];
}

export type TokenClaims = LoginClaims | AccessClaims;

/** ECR's login tokens last 12 hours. */
export const LOGIN_TOKEN_SECONDS = 12 * 60 * 60;
/** Docker token-flow tokens: long enough for a push, short enough to leak little. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;

const MAX_TOKEN_LENGTH = 8192;

export class RegistryTokens {
  constructor(private readonly signer: TokenSigner) {}

  issueLogin(principal: { arn: string; account: string }, now = Date.now(), lifetime = LOGIN_TOKEN_SECONDS): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now / 1000);
    return this.issue({ kind: 'login', sub: principal.arn, acct: principal.account, iat, exp: iat + lifetime });
  }

  issueAccess(
    principal: { arn: string; account: string },
    access: RepositoryAccess[],
    now = Date.now(),
    lifetime = ACCESS_TOKEN_SECONDS,
  ): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now / 1000);
    return this.issue({ kind: 'access', sub: principal.arn, acct: principal.account, iat, exp: iat + lifetime, access });
  }

  /** The claims of a well-formed, correctly signed, unexpired token of this key; null otherwise. */
  async verify(token: string, now = Date.now()): Promise<TokenClaims | null> {
    if (token.length > MAX_TOKEN_LENGTH) return null;
    const parts = token.split('.');
    if (parts.length !== 3 || parts.some((p) => p.length === 0)) return null;
    const [headerPart, claimsPart, signaturePart] = parts;
    const header = parseJson(headerPart);
    if (!header || header.alg !== this.signer.algorithm || header.kid !== this.signer.keyId) return null;
    const signature = decodeBase64urlStrict(signaturePart);
    if (!signature) return null;
    const signed = Buffer.from(`${headerPart}.${claimsPart}`);
    if (!(await this.signer.verify(signed, signature))) return null;
    const claims = parseJson(claimsPart) as TokenClaims | null;
    if (!claims || (claims.kind !== 'login' && claims.kind !== 'access')) return null;
    if (typeof claims.sub !== 'string' || typeof claims.acct !== 'string' || typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return null;
    if (claims.exp * 1000 <= now || claims.iat * 1000 > now + 5 * 60 * 1000) return null;
    if (claims.kind === 'access' && !Array.isArray(claims.access)) return null;
    return claims;
  }

  private async issue(claims: TokenClaims): Promise<{ token: string; expiresAt: Date }> {
    const header = b64(JSON.stringify({ alg: this.signer.algorithm, kid: this.signer.keyId, typ: 'JWT' }));
    const body = b64(JSON.stringify(claims));
    const signature = await this.signer.sign(Buffer.from(`${header}.${body}`));
    return { token: `${header}.${body}.${Buffer.from(signature).toString('base64url')}`, expiresAt: new Date(claims.exp * 1000) };
  }
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function parseJson(part: string): Record<string, unknown> | null {
  const bytes = decodeBase64urlStrict(part);
  if (!bytes) return null;
  try {
    const value = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}
