import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { DigestAlgorithm } from './digest';

/**
 * A running digest whose state can be saved with the upload and resumed by another
 * process: on Lambda, consecutive chunks of one upload land on different instances, and
 * Node's native hash cannot be exported. hash-wasm is slower than the native hash (about a
 * quarter of its speed here), so the registry uses it only where state must travel.
 */
export interface SharedHash {
  update(chunk: Uint8Array): void;
  digestHex(): string;
  /** The state after every update so far, to store with the upload. */
  exportState(): string;
}

const STATE_PREFIX = 'wasm1:';

export async function openSharedHash(algorithm: DigestAlgorithm, state?: string): Promise<SharedHash> {
  const hasher: IHasher = algorithm === 'sha256' ? await createSHA256() : await createSHA512();
  hasher.init();
  if (state !== undefined) {
    if (!state.startsWith(`${STATE_PREFIX}${algorithm}:`)) throw new Error('hash state of another algorithm or format');
    hasher.load(Buffer.from(state.slice(STATE_PREFIX.length + algorithm.length + 1), 'base64'));
  }
  return {
    update: (chunk) => void hasher.update(chunk),
    digestHex: () => hasher.digest('hex'),
    exportState: () => `${STATE_PREFIX}${algorithm}:${Buffer.from(hasher.save()).toString('base64')}`,
  };
}

/** Whether a stored state was made for `algorithm` (a chunk may be hashed with sha256, a commit asked in sha512). */
export function isStateFor(state: string | undefined, algorithm: DigestAlgorithm): state is string {
  return state !== undefined && state.startsWith(`${STATE_PREFIX}${algorithm}:`);
}
