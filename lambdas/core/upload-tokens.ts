import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64urlStrict } from './base64url';

/**
 * Tokens that authorize the bytes of one upload on the ingest host. containerd drops its
 * Authorization header when the upload Location is on another host, so the Location itself
 * carries the token; clients print that URL in error messages, so a token is bound to one
 * upload of one repository and expires. Both parts must be canonical base64url, so a token has one
 * spelling.
 */
export interface UploadTokenClaims {
  repository: string;
  uploadId: string;
  /** Unix seconds. */
  expiresAt: number;
}

export class UploadTokens {
  constructor(
    private readonly key: Uint8Array,
    /** Lifetime of a new token. @default 3600 */
    readonly lifetimeSeconds = 3600,
  ) {
    if (key.length < 32) throw new Error('upload token key must have at least 32 bytes');
  }

  issue(repository: string, uploadId: string, now = Date.now()): string {
    const expiresAt = Math.floor(now / 1000) + this.lifetimeSeconds;
    const payload = Buffer.from(JSON.stringify({ r: repository, u: uploadId, e: expiresAt })).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** True only for an unexpired token issued for exactly this repository and upload. */
  verify(token: string | null | undefined, repository: string, uploadId: string, now = Date.now()): boolean {
    if (!token || token.length > 2048) return false;
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) return false;
    const payload = token.slice(0, dot);
    const given = decodeBase64urlStrict(token.slice(dot + 1));
    const expected = Buffer.from(this.sign(payload), 'base64url');
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const claimsBytes = decodeBase64urlStrict(payload);
    if (!claimsBytes) return false;
    let claims: { r?: unknown; u?: unknown; e?: unknown };
    try {
      claims = JSON.parse(claimsBytes.toString('utf8'));
    } catch {
      return false;
    }
    return claims.r === repository && claims.u === uploadId && typeof claims.e === 'number' && claims.e * 1000 > now;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
