/**
 * A node:http request body as the router's byte stream, with an idle timeout. Without one, a
 * client that goes silent mid-body (a dead NAT mapping, a hung CI runner) keeps its request,
 * and the upload lock that request holds, for as long as its connection stays open.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors';
import { untilAborted } from '../core/abortable-stream';
import type { ByteStream } from '../core/model';

export interface RequestBody {
  stream: ByteStream;
  /** Whether the handler started reading the body and it is not complete: the rest is still on the connection. */
  abandoned(): boolean;
}

/**
 * Only time spent waiting for the client counts towards `idleMs` (0: never cut): while the
 * handler holds a chunk (a slow disk, backpressure) the client is not the one that is late.
 */
export function requestBody(req: IncomingMessage, idleMs: number): RequestBody {
  let started = false;
  const cut = new AbortController();
  const stream = async function* (): ByteStream {
    started = true;
    const reader = (req as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    let waiting = false;
    try {
      for (;;) {
        const timer = idleMs > 0 ? setTimeout(() => cutIdle(req, cut, idleMs), idleMs) : undefined;
        waiting = true;
        let step: IteratorResult<Uint8Array>;
        try {
          step = await untilAborted(reader.next(), cut.signal);
        } finally {
          clearTimeout(timer);
        }
        waiting = false;
        if (step.done) break;
        yield step.value;
      }
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      // A client that hangs up mid-body is the client's failure, not ours.
      if (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') throw incomplete();
      throw err;
    } finally {
      // A handler that stops early (a size limit) closes the body, and so the connection, as for-await does.
      if (!waiting) await reader.return?.();
    }
    if (!req.complete) throw incomplete();
  };
  return { stream: stream(), abandoned: () => started && !req.complete };
}

/**
 * The waiting read fails, so the handler answers (the upload keeps the offset it acknowledged);
 * the answer closes the connection. Should the answer not get out, the connection goes anyway.
 */
function cutIdle(req: IncomingMessage, cut: AbortController, idleMs: number): void {
  const seconds = idleMs % 1000 === 0 ? `${idleMs / 1000} s` : `${idleMs} ms`;
  cut.abort(
    new RegistryError(
      'BLOB_UPLOAD_INVALID',
      `no bytes of the request body arrived for ${seconds}, so the request was cut; an upload keeps what was acknowledged: ask for its status and resume from its Range`,
    ),
  );
  const socket = req.socket;
  const fallback = setTimeout(() => socket.destroy(), idleMs).unref();
  socket.once('close', () => clearTimeout(fallback));
}

function incomplete(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', 'the request body ended before it was complete');
}
