/**
 * One ecosystem's compiled vulnerability data, as stored (VulnerabilityDataStore) and loaded by the
 * scanner: gzipped JSON, the records reduced to what matching, severity and findings read
 * (compile.ts), indexed by the package name advisories use (the source package for distributions).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { OsvRecord } from '../osv/record';

export const COMPILED_FORMAT = 1;

export interface CompiledEcosystem {
  format: typeof COMPILED_FORMAT;
  /** The OSV ecosystem exactly as the records name it (`Debian:12`; a bare `Debian` covers every release). */
  ecosystem: string;
  /** The latest `modified` of its records. */
  sourceUpdatedAt: string;
  /** Distinct records (a record naming several packages is under each). */
  recordCount: number;
  /** Per package name, its records, each with only its `affected` entries for that package in this ecosystem. */
  packages: Record<string, OsvRecord[]>;
}

export function encodeCompiledEcosystem(compiled: CompiledEcosystem): Uint8Array {
  return gzipSync(Buffer.from(JSON.stringify(compiled)));
}

/** Reads what encodeCompiledEcosystem wrote; `ecosystem` is the name it was stored under. */
export function decodeCompiledEcosystem(bytes: Uint8Array, ecosystem: string): CompiledEcosystem {
  let parsed: Partial<CompiledEcosystem>;
  try {
    parsed = JSON.parse(gunzipSync(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`the vulnerability data of ${ecosystem} is unreadable: ${(err as Error).message}`, { cause: err });
  }
  if (parsed.format !== COMPILED_FORMAT || parsed.ecosystem !== ecosystem || typeof parsed.packages !== 'object' || parsed.packages === null) {
    throw new Error(`the vulnerability data of ${ecosystem} is not of format ${COMPILED_FORMAT} (import it again with this Berth)`);
  }
  return parsed as CompiledEcosystem;
}
