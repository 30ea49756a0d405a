/**
 * A tar stream's entries, one at a time, through tar-stream's extract (v3): ustar, GNU and PAX
 * headers, long names and link names, v7 headers too. The parser holds at most one entry's worth
 * of undelivered input (it applies backpressure to the writer), so memory stays flat however long
 * the tar is; an entry's content is never buffered unless the visitor reads it.
 */
import { extract as tarExtract, type Extract, type Header } from 'tar-stream';
import type { ByteStream } from '../../model';

/** A tar entry's content, read at most once, in order. */
export type TarEntryBody = AsyncIterable<Uint8Array>;

/**
 * What is done with one entry: read `body` to its end with `for await`, or leave it alone (it is
 * then skipped). Breaking out of a `for await` over the body part-way destroys the whole parse:
 * a visitor that wants only part of an entry throws instead.
 */
export type TarEntryVisitor = (header: Header, body: TarEntryBody) => Promise<void> | void;

/** Resolves once `stream` can take more input or has closed. */
function drainedOrClosed(stream: Extract): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Calls `visit` for each entry of the tar `bytes`, in archive order, waiting for each call before
 * the next entry is parsed. Rejects with the first error: the source's (a corrupt compressed
 * stream, a failed read), the parser's (a bad header checksum, `Unexpected end of data` for a
 * truncated archive) or the visitor's. After a failure the source is closed once it next yields.
 */
export async function forEachTarEntry(bytes: ByteStream, visit: TarEntryVisitor): Promise<void> {
  // v7 headers (no ustar magic) are valid tar; the header checksum still catches a non-tar. The
  // option exists in tar-stream 3 (extract.js) but not in its typings.
  const extract = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  let stopped = false;
  const pump = (async () => {
    try {
      for await (const chunk of bytes) {
        if (stopped || extract.destroyed) return;
        if (!extract.write(chunk)) await drainedOrClosed(extract);
      }
      if (!stopped && !extract.destroyed) extract.end(null);
    } catch (err) {
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  try {
    for await (const entry of extract) {
      const body = entry as unknown as TarEntryBody & { resume(): unknown };
      await visit(entry.header, body);
      // A body the visitor did not read (or read to its end) flows out: the parser moves on.
      body.resume();
    }
  } catch (err) {
    stopped = true;
    if (!extract.destroyed) extract.destroy();
    throw err;
  }
  await pump;
}
