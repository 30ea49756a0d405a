/** Reading a manifest body kept outside its record, read-only (the collector and the replicator). */
import type { CollectorMetadata } from '../../core/garbage-collection';
import type { Logger } from '../../core/log';
import { ContentNotFoundError } from '../../storage/errors';
import type { BlobStore } from '../../storage/ports';

/**
 * A manifest body kept in the blob store, under its digest or still staged (a push whose move to the
 * digest was interrupted). Unlike Registry.readManifestBody it never finishes that move: the collector
 * only reads (its role may not write objects), and the next pull of the image moves it.
 */
export function largeManifestBodyReader(
  blobs: Pick<BlobStore, 'readBlob' | 'readStagedContent'>,
  metadata: Pick<CollectorMetadata, 'getManifest'>,
  log: Logger,
): (repository: string, digest: string) => Promise<Uint8Array | undefined> {
  const content = async (digest: string): Promise<Uint8Array | undefined> => {
    try {
      const parts: Uint8Array[] = [];
      for await (const chunk of await blobs.readBlob(digest)) parts.push(chunk);
      return Buffer.concat(parts);
    } catch (err) {
      if (err instanceof ContentNotFoundError) return undefined;
      throw err;
    }
  };
  return async (repository, digest) => {
    const body = (await content(digest)) ?? (await blobs.readStagedContent(digest))?.bytes ?? (await content(digest));
    // A move copies before it deletes: a staged copy gone since the first read is under the digest, read again above.
    // The collector also asks for the body of a manifest deleted since it was listed: nothing is missing then.
    if (body === undefined && (await metadata.getManifest(repository, digest))) {
      log.warn('a manifest body kept outside the table is missing; only its record tells what it uses', { repository, digest });
    }
    return body;
  };
}
