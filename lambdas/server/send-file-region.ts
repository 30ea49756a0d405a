/**
 * Sends a FileRegion as a response body through two reused buffers: one is filled from
 * the file while the other is being written to the socket. Node has no sendfile(2); this
 * is the cheapest copy it offers, with no fresh memory per chunk (see docs/benchmarks.md).
 */
import type { ServerResponse } from 'node:http';
import type { FileRegion } from '../storage/local/file-region';

const BUFFER_BYTES = 2 * 1024 * 1024;
const BUFFERS_PER_RESPONSE = 2;
/** Buffers kept between responses, so steady pulls touch no fresh pages; more are left to GC. */
const MAX_POOLED_BUFFERS = 8;
const pool: Buffer[] = [];

export class ClientHungUpError extends Error {
  constructor() {
    super('the client closed the connection before the body was sent');
  }
}

export async function sendFileRegion(region: FileRegion, res: ServerResponse): Promise<void> {
  const buffers = Array.from({ length: BUFFERS_PER_RESPONSE }, () => pool.pop() ?? Buffer.allocUnsafeSlow(BUFFER_BYTES));
  // Each write settles with its error or null; a write is never left to reject unobserved.
  const writes: Promise<Error | null>[] = buffers.map(() => Promise.resolve(null));
  const hungUp = new Promise<Error>((resolve) => res.once('close', () => resolve(new ClientHungUpError())));
  let buffersReusable = false;
  try {
    let offset = 0;
    for (let i = 0; offset < region.length; i = (i + 1) % buffers.length) {
      // A buffer is refilled only once the socket is done with its previous contents.
      const failed = await Promise.race([writes[i], hungUp]);
      if (failed) throw asHangUp(failed, res);
      const buffer = buffers[i];
      const read = await region.readInto(buffer, offset);
      offset += read;
      const chunk = read === buffer.length ? buffer : buffer.subarray(0, read);
      writes[i] = new Promise((resolve) => res.write(chunk, (err) => resolve(err ?? null)));
    }
    for (const write of writes) {
      const failed = await Promise.race([write, hungUp]);
      if (failed) throw asHangUp(failed, res);
    }
    buffersReusable = true;
    res.end();
  } finally {
    await region.close();
    // After a failure a cancelled write may still hold a buffer: those go to GC, not back to the pool.
    if (buffersReusable) for (const buffer of buffers) if (pool.length < MAX_POOLED_BUFFERS) pool.push(buffer);
  }
}

/** A write that failed on a connection the client has closed (EPIPE, ECONNRESET) is the client's hang-up. */
function asHangUp(error: Error, res: ServerResponse): Error {
  return res.destroyed ? new ClientHungUpError() : error;
}
