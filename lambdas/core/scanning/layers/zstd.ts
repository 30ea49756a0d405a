/**
 * Streaming zstd decompression with bounded memory, over fzstd (pure JavaScript; Node 20's zlib
 * has no zstd). fzstd's `Decompress.push` decodes every complete block in the bytes it is given
 * and hands all their output over at once: a chunk of run-length blocks (4 bytes each, up to
 * 128 KiB out) would expand 32768-fold in one call. So the frames are followed here, block by
 * block (RFC 8878 section 3.1), and fzstd is given the input cut after each block end: one push
 * yields at most one block. Following the frames also checks each frame's window (the buffer
 * fzstd allocates) against a limit before fzstd allocates it.
 */
import { Decompress } from 'fzstd';
import type { ByteStream } from '../../model';

/** The zstd CLI's default limit on the window a frame may ask of the decoder (`--memory`, windowLog 27). */
export const DEFAULT_MAX_ZSTD_WINDOW = 128 * 1024 * 1024;

/** Block_Maximum_Size: no block decodes to more, and no compressed or raw block is larger. */
const MAX_BLOCK = 128 * 1024;

/** A zstd stream that breaks the format, or one this reader refuses (`unsupported`: a window over the limit). */
export class ZstdFormatError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
    this.name = 'ZstdFormatError';
  }
}

type Phase = 'magic' | 'descriptor' | 'frameHeader' | 'blockHeader' | 'blockBody' | 'checksum' | 'skippableSize' | 'skippable';

/**
 * The frame and block structure of a zstd stream, fed its bytes in order: reports where blocks
 * end, so the caller can cut its input there. Headers may straddle chunks; bodies are only counted.
 */
class ZstdFraming {
  private phase: Phase = 'magic';
  /** Bytes the current phase still needs. */
  private need = 4;
  /** The header bytes of the current phase read so far. */
  private header: number[] = [];
  private descriptor = 0;
  private hasChecksum = false;
  private lastBlock = false;

  constructor(private readonly maxWindow: number) {}

  /** Offsets in `chunk` just after each block that ends in it. */
  blockEnds(chunk: Uint8Array): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'blockBody' || this.phase === 'checksum' || this.phase === 'skippable') {
        const n = Math.min(this.need, chunk.length - i);
        i += n;
        this.need -= n;
        if (this.need === 0) {
          if (this.phase === 'blockBody') ends.push(i);
          this.afterBody();
        }
        continue;
      }
      this.header.push(chunk[i++]);
      if (this.header.length === this.need) this.afterHeader();
    }
    return ends;
  }

  /** Whether the stream may end here: between frames, with at least one frame read. */
  atFrameBoundary(): boolean {
    return this.phase === 'magic' && this.header.length === 0;
  }

  private enter(phase: Phase, need: number): void {
    this.phase = phase;
    this.need = need;
    this.header = [];
  }

  private afterBody(): void {
    if (this.phase === 'blockBody' && !this.lastBlock) this.enter('blockHeader', 3);
    else if (this.phase === 'blockBody' && this.hasChecksum) this.enter('checksum', 4);
    else this.enter('magic', 4);
  }

  private afterHeader(): void {
    const h = this.header;
    switch (this.phase) {
      case 'magic': {
        const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        if (magic === 0xfd2fb528) this.enter('descriptor', 1);
        else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) this.enter('skippableSize', 4);
        else throw new ZstdFormatError('not a zstd frame (bad magic number)');
        return;
      }
      case 'descriptor': {
        const d = h[0];
        if (d & 0x08) throw new ZstdFormatError('reserved bit set in the frame header');
        this.descriptor = d;
        this.hasChecksum = (d & 0x04) !== 0;
        const singleSegment = (d >> 5) & 1;
        const dictionaryBytes = [0, 1, 2, 4][d & 3];
        const contentSizeBytes = [singleSegment, 2, 4, 8][d >> 6];
        const rest = (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
        if (rest === 0) this.enter('blockHeader', 3);
        else this.enter('frameHeader', rest);
        return;
      }
      case 'frameHeader':
        this.checkWindow();
        this.enter('blockHeader', 3);
        return;
      case 'blockHeader': {
        const v = h[0] | (h[1] << 8) | (h[2] << 16);
        const type = (v >> 1) & 3;
        const size = v >>> 3;
        if (type === 3) throw new ZstdFormatError('reserved block type');
        if (size > MAX_BLOCK) throw new ZstdFormatError(`block of ${size} bytes (the format allows ${MAX_BLOCK})`);
        this.lastBlock = (v & 1) === 1;
        // An RLE block is one byte repeated `size` times; an empty raw block has no body.
        const body = type === 1 ? 1 : size;
        if (body > 0) this.enter('blockBody', body);
        else this.afterBody();
        return;
      }
      case 'skippableSize': {
        const size = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        if (size > 0) this.enter('skippable', size);
        else this.enter('magic', 4);
        return;
      }
      default:
        throw new Error(`zstd framing: no header in phase ${this.phase}`);
    }
  }

  /** The window a frame needs, from its header: the window descriptor, or for a single-segment frame its content size. */
  private checkWindow(): void {
    const d = this.descriptor;
    const h = this.header;
    const singleSegment = (d >> 5) & 1;
    let window: number;
    if (!singleSegment) {
      const exponent = h[0] >> 3;
      const base = 2 ** (10 + exponent);
      window = base + (base / 8) * (h[0] & 7);
    } else {
      const offset = [0, 1, 2, 4][d & 3];
      const bytes = [1, 2, 4, 8][d >> 6];
      window = 0;
      for (let i = bytes - 1; i >= 0; i--) window = window * 256 + h[offset + i];
      if (bytes === 2) window += 256;
    }
    if (window > this.maxWindow) {
      throw new ZstdFormatError(`a zstd frame needs a ${window}-byte window (the limit is ${this.maxWindow})`, true);
    }
  }
}

/**
 * `source`, a zstd stream (one or more frames, skippable frames allowed), decompressed. Throws
 * ZstdFormatError for a stream that breaks the format or ends inside a frame, and fzstd's own
 * errors for bad block contents. Memory: one window per frame plus one block of output at a time.
 */
export async function* zstdDecompress(source: ByteStream, maxWindow = DEFAULT_MAX_ZSTD_WINDOW): ByteStream {
  const framing = new ZstdFraming(maxWindow);
  let out: Uint8Array[] = [];
  const decompressor = new Decompress((data) => {
    if (data.length > 0) out.push(data);
  });
  let sawFrame = false;
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    sawFrame = true;
    let start = 0;
    for (const end of [...framing.blockEnds(chunk), chunk.length]) {
      if (end === start) continue;
      decompressor.push(chunk.subarray(start, end));
      start = end;
      if (out.length > 0) {
        const ready = out;
        out = [];
        yield* ready;
      }
    }
  }
  if (!sawFrame || !framing.atFrameBoundary()) throw new ZstdFormatError('the zstd stream ends inside a frame');
  decompressor.push(new Uint8Array(0), true);
  yield* out;
}
