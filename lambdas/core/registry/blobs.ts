/** The Registry's blob reads and deletes: a blob is readable in a repository only through its link there. */
import type { BlobStore, MetadataStore } from '../../storage/ports';
import { ContentNotFoundError } from '../../storage/errors';
import { RegistryError } from '../errors';
import { parseDigest } from '../digest';
import { validateRepositoryName } from '../names';
import { parseRequestedRange } from '../ranges';
import type { Logger } from '../log';
import type { BlobContent, BlobInfo } from './types';

export interface RegistryBlobsOptions {
  blobs: BlobStore;
  metadata: MetadataStore;
  log: Logger;
}

export class RegistryBlobs {
  private readonly blobs: BlobStore;
  private readonly metadata: MetadataStore;
  private readonly log: Logger;

  constructor(options: RegistryBlobsOptions) {
    this.blobs = options.blobs;
    this.metadata = options.metadata;
    this.log = options.log;
  }

  async statBlob(repository: string, digestText: string): Promise<BlobInfo> {
    validateRepositoryName(repository);
    const digest = parseDigest(digestText);
    const link = await this.metadata.statBlobLink(repository, digest.value);
    if (!link) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest.value });
    return { digest: digest.value, size: link.size };
  }

  async readBlob(repository: string, digestText: string, rangeHeader?: string): Promise<BlobContent> {
    const { digest, size } = await this.statBlob(repository, digestText);
    const url = this.blobs.blobRedirectUrl ? await this.blobs.blobRedirectUrl(digest) : null;
    if (url) return { kind: 'redirect', digest, size, url };
    const range = parseRequestedRange(rangeHeader, size);
    try {
      const stream = await this.blobs.readBlob(digest, range);
      return { kind: 'bytes', digest, size, range, stream };
    } catch (err) {
      if (err instanceof ContentNotFoundError) {
        this.log.error('blob linked but its content is missing', { repository, digest });
        throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
      }
      throw err;
    }
  }

  async blobDownloadUrl(repository: string, digestText: string): Promise<BlobInfo & { url: string | null }> {
    const info = await this.statBlob(repository, digestText);
    const url = this.blobs.blobRedirectUrl ? await this.blobs.blobRedirectUrl(info.digest) : null;
    return { ...info, url };
  }

  async deleteBlob(repository: string, digestText: string): Promise<void> {
    validateRepositoryName(repository);
    const digest = parseDigest(digestText);
    const result = await this.metadata.unlinkBlob(repository, digest.value);
    if (result.ok) return;
    if (result.reason === 'unknown') throw new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest.value });
    throw new RegistryError(
      'BLOB_IN_USE',
      `blob ${digest.value} is still used by manifest(s) ${result.by.join(', ')}: delete those manifests first`,
      { digest: digest.value, manifests: result.by },
    );
  }
}
