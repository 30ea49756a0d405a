/**
 * Which decompressor a layer's bytes go through. The media type says what the pusher claimed; the
 * first bytes say what the blob is, and they win: images built by older docker versions and some
 * tools label uncompressed tars `...tar.gzip`, artifact tools push layers under their own media
 * types, and docker's own puller has always sniffed. A gzip member starts 1f 8b, a zstd frame
 * 28 b5 2f fd (a skippable frame 5? 2a 4d 18); anything else is read as a plain tar, and the tar
 * parser refuses it if it is not one.
 */
import { createGunzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import type { ByteStream } from '../../model';

/** How a layer's tar is compressed. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** What the first bytes of a blob show: one of the compressions read here, one that is not, or nothing known. */
export type SniffedFormat = Compression | 'bzip2' | 'xz' | 'unknown';

/**
 * The compression a layer media type declares, or undefined for a media type that says nothing
 * about it (an artifact's own type, a misspelling). Covers the OCI layer types and their
 * nondistributable variants, and docker's rootfs diff types (foreign layers included).
 */
export function declaredCompression(mediaType: string): Compression | undefined {
  const type = mediaType.split(';')[0].trim().toLowerCase();
  if (type.endsWith('+gzip') || type.endsWith('.tar.gzip')) return 'gzip';
  if (type.endsWith('+zstd') || type.endsWith('.tar.zstd')) return 'zstd';
  if (type.endsWith('.tar')) return 'none';
  return undefined;
}

/**
 * The format `head` (a blob's first bytes, at least 6 where the blob has them) starts with. A tar
 * starts with a file name, so none of these magic numbers is a tar's first bytes in practice.
 */
export function sniffFormat(head: Uint8Array): SniffedFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 4 && (head[0] & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00].every((b, i) => head[i] === b)) return 'xz';
  return 'unknown';
}

/**
 * The first `count` bytes of `source` (fewer if it is shorter), and a stream of all of its bytes,
 * those included: the source is read once, the peeked chunks are handed on as they came.
 */
export async function peekBytes(source: ByteStream, count: number): Promise<{ head: Uint8Array; stream: ByteStream }> {
  const reader = source[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let length = 0;
  let ended = false;
  while (length < count) {
    const step = await reader.next();
    if (step.done) {
      ended = true;
      break;
    }
    seen.push(step.value);
    length += step.value.length;
  }
  const head = new Uint8Array(Math.min(count, length));
  let at = 0;
  for (const chunk of seen) {
    if (at >= head.length) break;
    const part = chunk.subarray(0, head.length - at);
    head.set(part, at);
    at += part.length;
  }
  async function* stream(): ByteStream {
    let finished = ended;
    try {
      yield* seen;
      while (!finished) {
        const step = await reader.next();
        if (step.done) finished = true;
        else yield step.value;
      }
    } finally {
      if (!finished) await reader.return?.();
    }
  }
  return { head, stream: stream() };
}

/** Output chunks of the gunzip stream: fewer, larger writes into the tar parser than zlib's 16 KiB default. */
const GUNZIP_CHUNK = 64 * 1024;

/**
 * `source`, gunzipped by node:zlib (native, off the main thread), concatenated members included.
 * A source error or a corrupt stream ends the iteration with that error; stopping early closes the source.
 */
export function gunzip(source: ByteStream): ByteStream {
  const inflate = createGunzip({ chunkSize: GUNZIP_CHUNK });
  // pipeline destroys every stage on the first error, so the gunzip's reader sees the source's error too.
  return pipeline(Readable.from(source, { objectMode: false }), inflate, () => undefined);
}
