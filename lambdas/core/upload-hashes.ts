import type { Hash } from 'node:crypto';
import type { DigestAlgorithm } from './digest';

interface Entry {
  algorithm: DigestAlgorithm;
  offset: number;
  hash: Hash;
}

/**
 * Running digests of uploads in progress, kept in this process only. Node's hash state
 * cannot be exported, so when an upload's next request lands here after a restart (or on
 * another Lambda instance) the entry is missing and the commit re-reads the stored bytes
 * instead: streaming verification in the common case, a correct answer in every case.
 */
export class UploadHashes {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 1024) {}

  /** A copy of the running hash if it covers exactly `offset` bytes with `algorithm`. */
  resume(id: string, algorithm: DigestAlgorithm, offset: number): Hash | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.algorithm !== algorithm || entry.offset !== offset) return undefined;
    return entry.hash.copy();
  }

  save(id: string, algorithm: DigestAlgorithm, offset: number, hash: Hash): void {
    this.entries.delete(id);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(id, { algorithm, offset, hash });
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}
