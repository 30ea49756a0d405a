/**
 * S3BlobStore: the blob store of the AWS deployment, on one S3 bucket. Its key layout, why uploads
 * are written as segments and chain manifests, and the S3 calls of each operation: docs/storage.md
 * ("S3 blob store"). This class is the port's face; each concern is a module of this folder working
 * on a BucketContext.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ByteStream } from '../../core/model';
import type { BlobStore, ByteRange, StoredContentInfo } from '../ports';
import type { BucketContext } from './bucket';
import { SAFE_ID } from './keys';
import { PART_SIZE } from './segments';
import * as content from './content';
import * as listings from './listings';
import * as staged from './staged-content';
import * as uploads from './uploads';

export { PART_SIZE, SEGMENT_MAX } from './segments';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Lifetime of the presigned GET URLs handed to pulling clients. @default 300 */
  presignTtlSeconds?: number;
  /** Prefix for every key, e.g. `registry/`. @default '' */
  keyPrefix?: string;
}

export class S3BlobStore implements BlobStore {
  private readonly ctx: BucketContext;
  private readonly ttl: number;

  constructor(options: S3BlobStoreOptions) {
    this.ttl = options.presignTtlSeconds ?? 300;
    const prefix = options.keyPrefix ?? '';
    this.ctx = {
      client: options.client,
      bucket: options.bucket,
      prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
      partSize: PART_SIZE,
    };
    if (!(this.ttl >= 1 && this.ttl <= 7 * 24 * 3600)) throw new Error('presignTtlSeconds must be between 1 second and 7 days');
  }

  // ---- committed content (content.ts) ---------------------------------------------------

  async statBlob(digest: string): Promise<{ size: number } | null> {
    return content.statBlob(this.ctx, digest);
  }

  async readBlob(digest: string, range?: ByteRange): Promise<ByteStream> {
    return content.readBlob(this.ctx, digest, range);
  }

  async blobRedirectUrl(digest: string): Promise<string> {
    return content.blobRedirectUrl(this.ctx, digest, this.ttl);
  }

  async putContent(digest: string, bytes: Uint8Array): Promise<void> {
    return content.putContent(this.ctx, digest, bytes);
  }

  async deleteContent(digest: string): Promise<void> {
    return content.deleteContent(this.ctx, digest);
  }

  storedContent(): AsyncIterable<StoredContentInfo> {
    return listings.storedContent(this.ctx);
  }

  async discardStaleStaging(before: number): Promise<number> {
    return listings.discardStaleStaging(this.ctx, before);
  }

  // ---- staged content (staged-content.ts) -----------------------------------------------

  async stageContent(stagingId: string, digest: string, bytes: Uint8Array): Promise<void> {
    return staged.stageContent(this.ctx, stagingId, digest, bytes);
  }

  async promoteStagedContent(stagingId: string, digest: string): Promise<void> {
    return staged.promoteStagedContent(this.ctx, stagingId, digest);
  }

  async discardStagedContent(stagingId: string, digest: string): Promise<void> {
    return staged.discardStagedContent(this.ctx, stagingId, digest);
  }

  async readStagedContent(digest: string): Promise<{ stagingId: string; bytes: Uint8Array } | null> {
    return staged.readStagedContent(this.ctx, digest);
  }

  // ---- uploads (uploads.ts, segments.ts, chains.ts) -------------------------------------

  async startUpload(uploadId: string): Promise<void> {
    return uploads.startUpload(this.ctx, uploadId);
  }

  async appendUpload(uploadId: string, offset: number, data: ByteStream): Promise<number> {
    return uploads.appendUpload(this.ctx, uploadId, offset, data);
  }

  async readUpload(uploadId: string, size: number): Promise<ByteStream> {
    return uploads.readUpload(this.ctx, uploadId, size);
  }

  async commitUpload(uploadId: string, digest: string, size: number): Promise<void> {
    return uploads.commitUpload(this.ctx, uploadId, digest, size);
  }

  async abortUpload(uploadId: string): Promise<void> {
    if (!SAFE_ID.test(uploadId)) return;
    await uploads.cleanup(this.ctx, uploadId);
  }
}
