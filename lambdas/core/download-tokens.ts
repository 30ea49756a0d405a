import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeBase64urlStrict } from './base64url';

/**
 * Signed download URLs for local mode's GetDownloadUrlForLayer. ECR (and Berth on AWS) answers a
 * presigned S3 URL that downloads for a few minutes without credentials, and scripts fetch it with
 * plain `curl`; locally the registry serves the blob itself, so the URL carries a token bound to
 * one repository and one digest that expires as the AWS path's presigned URLs do.
 *
 * The token is `base64url(claims).base64url(hmac)`, checked by comparing its text with the one this
 * key would issue for the same claims: a token has exactly one spelling.
 */
export class BlobDownloadTokens {
  constructor(
    private readonly key: Uint8Array,
    /** Lifetime of a new URL. @default 300 (the AWS path's presignTtlSeconds) */
    readonly lifetimeSeconds = 300,
  ) {
    if (key.length < 32) throw new Error('download token key must have at least 32 bytes');
  }

  issue(repository: string, digest: string, now = Date.now()): string {
    const expiresAt = Math.floor(now / 1000) + this.lifetimeSeconds;
    return this.signed(claimsText(repository, digest, expiresAt));
  }

  /** True only for an unexpired token issued by this key for exactly this repository and digest. */
  verify(token: string | null | undefined, repository: string, digest: string, now = Date.now()): boolean {
    if (!token || token.length > 2048) return false;
    const dot = token.indexOf('.');
    if (dot <= 0) return false;
    let expiresAt: unknown;
    try {
      expiresAt = (JSON.parse(decodeBase64urlStrict(token.slice(0, dot))?.toString('utf8') ?? '') as { e?: unknown }).e;
    } catch {
      return false;
    }
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt * 1000 <= now) return false;
    // Re-issued from the claims the caller asks about: any other repository, digest or spelling differs.
    const expected = Buffer.from(this.signed(claimsText(repository, digest, expiresAt)));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private signed(claims: string): string {
    const payload = Buffer.from(claims).toString('base64url');
    return `${payload}.${createHmac('sha256', this.key).update(payload).digest('base64url')}`;
  }
}

function claimsText(repository: string, digest: string, expiresAt: number): string {
  return JSON.stringify({ r: repository, d: digest, e: expiresAt });
}
