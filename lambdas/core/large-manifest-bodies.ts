/**
 * Manifest bodies too large for the metadata store, kept in the blob store.
 *
 * The body must be stored before the metadata transaction commits (a reader of the record must find
 * it), but that transaction may still refuse the push (a blob missing, an immutable tag held), and
 * content under the digest cannot be removed then: another repository's manifest, or a racing push of
 * the same one, may need it. So the body is staged under its push's own id, and afterwards
 * - refused: the staged copy is discarded, and the push leaves nothing behind;
 * - committed: the staged copy is promoted to the digest (copied, then deleted);
 * - unknown (the store failed without saying whether it committed, as after a timeout): it is kept,
 *   as a crash would keep it: if the record exists, readers find the body staged.
 * A reader that finds no content under the digest looks for a staged copy and promotes it, which
 * completes a promotion interrupted by a crash. So at no moment is a committed body missing, and a
 * crash leaves at most a staged copy that nothing will read.
 */
import { randomUUID } from 'node:crypto';
import { ContentBeingDeletedError, type BlobStore } from '../storage/ports';
import { ContentNotFoundError, StorageLimitError } from '../storage/errors';
import type { Logger } from './log';

export class LargeManifestBodies {
  constructor(
    private readonly blobs: BlobStore,
    private readonly log: Logger,
  ) {}

  /**
   * Stores `body` around `commit`, the metadata transaction: its result is `accepted` or a refusal
   * (nothing written). What `commit` throws is passed on; a StorageLimitError counts as a refusal.
   */
  async storeAround<T>(digest: string, body: Uint8Array, commit: () => Promise<T>, accepted: (result: T) => boolean): Promise<T> {
    const stagingId = randomUUID();
    await this.blobs.stageContent(stagingId, digest, body);
    let result: T;
    try {
      result = await commit();
    } catch (err) {
      // Refusals that wrote nothing: a limit, or the body's content being deleted by the collector.
      if (err instanceof StorageLimitError || err instanceof ContentBeingDeletedError) await this.discard(stagingId, digest);
      else this.log.warn('manifest commit failed with an unknown outcome; its staged body is kept', { digest, stagingId, error: err });
      throw err;
    }
    if (accepted(result)) await this.promote(stagingId, digest);
    else await this.discard(stagingId, digest);
    return result;
  }

  /** The body of a committed manifest, wherever it is now. */
  async read(digest: string): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        const parts: Uint8Array[] = [];
        for await (const chunk of await this.blobs.readBlob(digest)) parts.push(chunk);
        return Buffer.concat(parts);
      } catch (err) {
        if (!(err instanceof ContentNotFoundError) || attempt === 2) throw err;
      }
      const staged = await this.blobs.readStagedContent(digest);
      if (staged) {
        await this.promote(staged.stagingId, digest);
        return staged.bytes;
      }
      // Promotion copies before it deletes: a staged copy gone since the first read is under the digest now.
    }
  }

  /** After the commit the push has succeeded: a failed promotion is for a later read to complete. */
  private async promote(stagingId: string, digest: string): Promise<void> {
    await this.blobs.promoteStagedContent(stagingId, digest).catch((error: unknown) => {
      this.log.warn('moving a staged manifest body to its digest failed; the next read retries', { digest, stagingId, error });
    });
  }

  /** A staged copy a failed discard leaves is garbage, never an answer to the refused push. */
  private async discard(stagingId: string, digest: string): Promise<void> {
    await this.blobs.discardStagedContent(stagingId, digest).catch((error: unknown) => {
      this.log.warn('discarding the staged body of a refused manifest failed', { digest, stagingId, error });
    });
  }
}
