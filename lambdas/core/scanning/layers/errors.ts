/**
 * The one way reading an image's layers fails, short of the caller's abort: a layer that cannot be
 * read to its end. The scan that meets it ends FAILED with the message, which names the layer.
 */

/**
 * Why a layer could not be read:
 * - `corrupt`: the bytes are not what they claim (bad gzip or zstd, a truncated or malformed tar);
 * - `unsupported`: a compression the reader does not decode (bzip2, xz), or a zstd window larger than allowed;
 * - `size-mismatch`: the stream ended with another length than the manifest's descriptor gives;
 * - `unreadable`: opening or reading the blob failed (storage);
 * - `too-many-entries`: the image holds more tar entries than `maxEntries`.
 */
export type LayerReadErrorCode = 'corrupt' | 'unsupported' | 'size-mismatch' | 'unreadable' | 'too-many-entries';

/** A layer that could not be read; `digest` names it, `cause` keeps the decoder's or the storage's error. */
export class LayerReadError extends Error {
  constructor(
    readonly digest: string,
    readonly code: LayerReadErrorCode,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`layer ${digest}: ${detail}`, options);
    this.name = 'LayerReadError';
  }
}
