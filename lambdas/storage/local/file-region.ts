/**
 * FileRegion: bytes of an open file, as the local blob store hands them out.
 *
 * It is an ordinary ByteStream (each chunk a fresh buffer, safe to keep), and it is also
 * recognisable: the node:http server sends a FileRegion with `sendFileRegion`, which reads
 * into a few reused buffers. Node has no sendfile(2); allocating a fresh megabyte per chunk
 * costs page faults and GC, about a quarter of the server's CPU for a layer pull
 * (docs/benchmarks.md).
 */
import type { FileHandle } from 'node:fs/promises';

const ITERATION_CHUNK_BYTES = 1024 * 1024;

export class FileRegion implements AsyncIterable<Uint8Array> {
  private closed = false;

  /**
   * @param handle an open file, owned by the region from now on: closed when the region
   *   has been read to its end, abandoned, or closed.
   * @param start first byte, inclusive
   * @param end last byte, inclusive (start - 1 for an empty region)
   */
  constructor(
    private readonly handle: FileHandle,
    readonly start: number,
    readonly end: number,
  ) {}

  get length(): number {
    return this.end - this.start + 1;
  }

  /**
   * Reads up to `into.length` bytes at `offset` (relative to the region's start) into `into`.
   * Returns how many bytes were read; 0 at the end of the region.
   */
  async readInto(into: Uint8Array, offset: number): Promise<number> {
    const wanted = Math.min(into.length, this.length - offset);
    if (wanted <= 0) return 0;
    let filled = 0;
    while (filled < wanted) {
      const { bytesRead } = await this.handle.read(into, filled, wanted - filled, this.start + offset + filled);
      // The file is immutable once committed; running short means it was truncated behind our back.
      if (bytesRead === 0) throw new Error(`file ended ${wanted - filled} bytes before the region's end`);
      filled += bytesRead;
    }
    return filled;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      let offset = 0;
      while (offset < this.length) {
        const chunk = Buffer.allocUnsafe(Math.min(ITERATION_CHUNK_BYTES, this.length - offset));
        offset += await this.readInto(chunk, offset);
        yield chunk;
      }
    } finally {
      await this.close();
    }
  }
}
