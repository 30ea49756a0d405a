/**
 * The scan content suite (scan-content.suite.ts) over the AWS deployment's adapter, under `scans/` in
 * the registry's bucket on the S3 stand-in (fauxqs), each store under a prefix of its own; and the
 * garbage collector (core/garbage-collection.ts, as the AWS collector function runs it) over an
 * S3BlobStore sharing that bucket and prefix. The collector's metadata is an empty registry: what
 * the check is about is the blob store's listings (`blobs/`, `staging/`), which decide what it sees.
 */
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { collectGarbage, type CollectorMetadata } from '../../lambdas/core/garbage-collection';
import { S3BlobStore } from '../../lambdas/storage/s3/s3-blob-store';
import { S3ScanContent } from '../../lambdas/storage/s3/s3-scan-content';
import { startLocalS3, type LocalS3 } from '../support/s3-local';
import { describeScanContent } from './scan-content.suite';

let s3: LocalS3;
let bucket: string;
let client: S3Client;
beforeAll(async () => {
  s3 = await startLocalS3();
  bucket = await s3.createBucket();
  client = s3.client();
});
afterAll(async () => {
  client?.destroy();
  await s3?.removeBucket(bucket);
  await s3?.stop();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** A registry with no repositories and no content records. */
const emptyRegistry: CollectorMetadata = {
  listRepositories: async () => ({ items: [], more: false }),
  listManifests: async () => ({ items: [], more: false }),
  getManifest: async () => null,
  listBlobLinks: async () => ({ items: [], more: false }),
  unlinkBlob: async () => ({ ok: false, reason: 'unknown', by: [] }),
  listContentRecords: async () => ({ items: [], more: false }),
  beginContentDeletion: async () => true,
  finishContentDeletion: async () => undefined,
};

let n = 0;
describeScanContent('S3', async () => ({
  fresh: async () => {
    const keyPrefix = `registry-${++n}/`;
    return {
      store: new S3ScanContent({ client, bucket, keyPrefix }),
      files: async () => (await keysUnder(`${keyPrefix}scans/`)).map((key) => key.slice(keyPrefix.length)),
      plant: async (key, bytes) => {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: keyPrefix + key, Body: bytes }));
      },
      collectGarbage: async () => {
        const blobs = new S3BlobStore({ client, bucket, keyPrefix });
        const bytes = Buffer.from(`unlinked content ${keyPrefix}`);
        const orphan = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        await blobs.putContent(orphan, bytes);
        const report = await collectGarbage(emptyRegistry, blobs, { graceMs: 0, now: () => Date.now() + 60_000 });
        return { orphan, deleted: report.deleted.map((d) => d.digest) };
      },
    };
  },
  cleanup: async () => {},
}));
