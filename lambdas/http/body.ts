import { RegistryError, type ErrorKind } from '../core/errors';
import type { ByteStream } from '../core/model';

/** Reads a whole small body (a manifest), refusing it as soon as it passes `limit` bytes. */
export async function readBody(body: ByteStream | null, limit: number, tooLarge: ErrorKind): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new RegistryError(tooLarge, `body is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Passes a body through, failing with `tooLarge()` as soon as it passes `limit` bytes. */
export async function* limitBody(body: ByteStream, limit: number, tooLarge: () => Error): ByteStream {
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    yield chunk;
  }
}

/** A body that is already in memory, as the stream the registry reads (a Lambda event's body, an ECR part). */
export async function* bodyFromBytes(bytes: Uint8Array): ByteStream {
  yield bytes;
}
