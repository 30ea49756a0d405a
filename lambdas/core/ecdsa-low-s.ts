/**
 * Low-S ECDSA P-256 signatures (r||s, IEEE P1363, as ES256 carries them). If (r, s) verifies, so does
 * (r, n - s): without a rule a token would have two valid signatures, hence two spellings. KMS and
 * Node's `crypto.sign` give either form, so signers map s to the lower half and verifiers refuse the upper.
 */

/** The order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HALF_N = N >> 1n;
const SIZE = 32;

/** The same signature with s in [1, n/2]; anything that is not 64 bytes is returned as it is. */
export function toLowS(signature: Uint8Array): Uint8Array {
  if (signature.length !== 2 * SIZE) return signature;
  const s = toBigInt(signature.subarray(SIZE));
  if (s <= HALF_N || s >= N) return signature;
  return Buffer.concat([Buffer.from(signature.subarray(0, SIZE)), toBytes(N - s)]);
}

/** Whether the s of an r||s signature is at most n/2 (the range check s < n is the verifier's). */
export function isLowS(signature: Uint8Array): boolean {
  return signature.length === 2 * SIZE && toBigInt(signature.subarray(SIZE)) <= HALF_N;
}

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

function toBytes(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(2 * SIZE, '0'), 'hex');
}
