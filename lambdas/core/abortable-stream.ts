/**
 * Giving up on a byte stream that stopped delivering. A request body whose client went
 * silent would otherwise keep its reader (and the upload lock the reader holds) waiting for
 * as long as the connection stays open, and an async iterator cannot be interrupted while it
 * waits: the only way out is to stop waiting for it.
 */
import type { ByteStream } from './model';

/**
 * `read`, or `signal.reason` as soon as `signal` aborts. The abandoned read settles on its
 * own later and whatever it brings is dropped: closing its source is the owner's business
 * (for a request body, the server closes the connection).
 */
export function untilAborted<T>(read: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    // Handles the read's failure in every case, so an abandoned read is never an unhandled rejection.
    read.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * `source`, except that once `signal` aborts the next read, or the one waiting, fails with
 * `signal.reason`. A consumer that stops early closes the source as `for await` would, unless
 * the signal aborted: then a read may still be waiting, and the source is left to its owner.
 */
export async function* abortable(source: ByteStream, signal: AbortSignal): ByteStream {
  const reader = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      const step = await untilAborted(reader.next(), signal).catch((err) => {
        finished = true;
        throw err;
      });
      if (step.done) {
        finished = true;
        return;
      }
      yield step.value;
    }
  } finally {
    if (!finished && !signal.aborted) await reader.return?.();
  }
}
