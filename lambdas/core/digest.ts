import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors';

/** Algorithms the registry verifies; the OCI image spec registers exactly these two. */
const ENCODED_FORMAT: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly encoded: string;
  /** `algorithm:encoded`, the canonical string form. */
  readonly value: string;
}

const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Parses a digest string, or returns undefined when it is not a digest the registry can verify. */
export function tryParseDigest(value: string): Digest | undefined {
  const match = DIGEST_GRAMMAR.exec(value);
  if (!match) return undefined;
  const [, algorithm, encoded] = match;
  const format = ENCODED_FORMAT[algorithm];
  if (!format || !format.test(encoded)) return undefined;
  return { algorithm: algorithm as DigestAlgorithm, encoded, value };
}

export function parseDigest(value: string | null | undefined): Digest {
  const digest = value == null ? undefined : tryParseDigest(value);
  if (!digest) {
    throw new RegistryError('DIGEST_INVALID', 'invalid digest: expected sha256:<64 hex> or sha512:<128 hex>', { digest: value ?? null });
  }
  return digest;
}

export function isDigestReference(reference: string): boolean {
  return reference.includes(':');
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
