/**
 * S3ScanContent: the AWS deployment's scan content (ScanContentStore in ../image-management-ports.ts),
 * under `scans/` in the registry's bucket (layout and checks: keys.ts, "Scan content"; the same as
 * local mode's `<data-dir>/scans/`). A reference is the key without the registry's prefix (`scans/…`).
 *
 * Each file is one PutObject, which S3 makes visible whole or not at all and which replaces the
 * previous object of the same scan atomically. deleteScanContent lists the image's prefix
 * (ListObjectsV2) and deletes what it does not keep (DeleteObjects, 1000 a call).
 *
 * The garbage collector lists only `blobs/` and `staging/` (listings.ts) and the bucket's lifecycle
 * rules only `uploads/`: nothing under `scans/` is theirs.
 */
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ScanContentKind } from '../../core/scanning/scan-content';
import type { ScanContentStore } from '../image-management-ports';
import { isNotFound } from './bucket';
import { isScanContentFileName, parseScanContentRef, scanContentFileName, scanImagePrefix } from '../scan-content-layout';

export interface S3ScanContentOptions {
  client: S3Client;
  bucket: string;
  /** The registry's key prefix (S3BlobStore's keyPrefix); the content goes under `<prefix>scans/`. @default '' */
  keyPrefix?: string;
}

export class S3ScanContent implements ScanContentStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3ScanContentOptions) {
    const prefix = options.keyPrefix ?? '';
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  async putScanContent(repository: string, digest: string, kind: ScanContentKind, scanId: string, bytes: Uint8Array): Promise<string> {
    const ref = scanImagePrefix(repository, digest) + scanContentFileName(kind, scanId);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + ref, Body: bytes, ContentType: 'application/gzip' }));
    return ref;
  }

  async readScanContent(ref: string): Promise<Uint8Array | null> {
    parseScanContentRef(ref);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + ref }));
      return await res.Body!.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async deleteScanContent(repository: string, digest: string, keep: readonly string[] = []): Promise<void> {
    const image = scanImagePrefix(repository, digest);
    // Every reference is checked before anything goes: a malformed one is a caller's mistake, not "keep nothing".
    for (const ref of keep) parseScanContentRef(ref);
    const kept = new Set(keep);
    const under = this.prefix + image;
    const doomed: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: under, ContinuationToken: token }));
      for (const { Key: key } of page.Contents ?? []) {
        if (key === undefined) continue;
        const name = key.slice(under.length);
        if (isScanContentFileName(name) && !kept.has(image + name)) doomed.push(key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    for (let i = 0; i < doomed.length; i += 1000) {
      const batch = doomed.slice(i, i + 1000);
      const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} scan content object(s), first ${failed[0].Key}: ${failed[0].Code}`);
    }
  }
}
