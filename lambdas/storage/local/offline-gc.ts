/**
 * `berth gc`: garbage collection of local mode's data directory, run while no server uses it.
 * It takes the directory's lock (data-dir-lock.ts: pid, PID namespace and a heartbeat, so a
 * server in another container on the same volume holds it too), so nothing pushes, mounts or
 * deletes meanwhile, and mark and sweep need no care beyond their own order. As distribution's `registry garbage-collect`
 * does, a blob stays only while a manifest uses it:
 *   1. mark: in every repository, the blobs its manifests reference (config and layers);
 *   2. unlink: in every repository, the blobs linked there that none of its manifests
 *      references (left by a deleted image, or uploaded for a manifest never pushed);
 *   3. sweep: content files that no repository links any more, and staging leftovers.
 * Content changed, or linked, within `minAgeMs` is kept at steps 2 and 3: a push that the
 * server's stop interrupted between its layers (uploaded or mounted) and its manifest finds its
 * layers again when it retries. A blob is used if the record of a manifest lists it or the
 * manifest's body names it (layers that need not be pushed, non-distributable or with `urls`,
 * are left out of the record but kept when pushed).
 */
import { join, resolve } from 'node:path';
import { FilesystemBlobStore } from './filesystem-blob-store';
import { LmdbMetadataStore } from './lmdb-metadata-store';
import { lockDataDir } from './data-dir-lock';

export interface GcOptions {
  /** Only report what would be removed. */
  dryRun: boolean;
  /** Content changed more recently than this is kept. */
  minAgeMs: number;
  /**
   * The clock.
   * @default Date.now
   */
  now?: () => number;
}

export interface GcReport {
  repositories: number;
  manifests: number;
  /** Blob links removed (or, in a dry run, to be removed), by repository. */
  unlinked: Array<{ repository: string; digest: string }>;
  /** Content files removed (or to be removed). */
  deleted: Array<{ digest: string; size: number }>;
  bytesFreed: number;
  /** Unreferenced blobs kept because they changed within the minimum age. */
  keptYoung: number;
}

const PAGE = 1000;

export async function collectLocalGarbage(dataDir: string, options: GcOptions): Promise<GcReport> {
  const root = resolve(dataDir);
  const unlock = await lockDataDir(root);
  try {
    const blobs = FilesystemBlobStore.open({ root: join(root, 'content') });
    const metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
    try {
      return await collect(blobs, metadata, options);
    } finally {
      await metadata.close();
    }
  } finally {
    unlock();
  }
}

async function collect(blobs: FilesystemBlobStore, metadata: LmdbMetadataStore, options: GcOptions): Promise<GcReport> {
  const cutoff = (options.now ?? Date.now)() - options.minAgeMs;
  const content = new Map<string, { size: number; modifiedAt: number }>();
  for (const file of blobs.listContent()) content.set(file.digest, file);
  const isOld = (digest: string) => (content.get(digest)?.modifiedAt ?? -Infinity) < cutoff;

  const report: GcReport = { repositories: 0, manifests: 0, unlinked: [], deleted: [], bytesFreed: 0, keptYoung: 0 };
  // What stays linked after step 2, and what a manifest body might be stored as (LMDB keeps bodies inline; this is cheap insurance).
  const stillLinked = new Set<string>();
  const young = new Set<string>();
  for await (const repository of pages((last) => metadata.listRepositories({ last, limit: PAGE }), (name) => name)) {
    report.repositories++;
    const used = new Set<string>();
    for await (const image of pages((last) => metadata.listManifests(repository, { last, limit: PAGE }), (record) => record.digest)) {
      report.manifests++;
      for (const digest of image.blobs) used.add(digest);
      // The record's blobs leave out layers that need not be pushed (non-distributable, or with urls); one pushed anyway is used all the same.
      for (const digest of await referencedByBody(metadata, repository, image.digest)) used.add(digest);
      stillLinked.add(image.digest);
    }
    for (const { digest, linkedAt } of metadata.listBlobLinks(repository)) {
      if (used.has(digest)) stillLinked.add(digest);
      else if (!isOld(digest) || (linkedAt ?? -Infinity) >= cutoff) {
        stillLinked.add(digest);
        young.add(digest);
      } else report.unlinked.push({ repository, digest });
    }
  }
  for (const [digest, file] of content) {
    if (stillLinked.has(digest)) continue;
    if (file.modifiedAt >= cutoff) {
      young.add(digest);
      continue;
    }
    report.deleted.push({ digest, size: file.size });
    report.bytesFreed += file.size;
  }
  report.keptYoung = young.size;
  if (options.dryRun) return report;

  for (const { repository, digest } of report.unlinked) {
    const result = await metadata.unlinkBlob(repository, digest);
    // Nothing else runs on the directory, and no manifest uses the blob: a refusal means the store disagrees with the mark.
    if (!result.ok && result.reason === 'in-use') throw new Error(`garbage collection stopped: ${digest} in ${repository} is used by ${result.by.join(', ')}`);
  }
  for (const { digest } of report.deleted) await blobs.deleteContent(digest);
  blobs.removeStaleStaging(cutoff);
  return report;
}

/** Every descriptor digest in a manifest's body (LMDB keeps every body inline): config, layers (all of them) and an artifact's blobs. */
async function referencedByBody(metadata: LmdbMetadataStore, repository: string, digest: string): Promise<string[]> {
  const body = (await metadata.getManifest(repository, digest))?.body;
  if (body === undefined) return [];
  const json = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  return [json.config, ...list(json.layers), ...list(json.blobs)]
    .map((d) => (d && typeof d === 'object' ? (d as { digest?: unknown }).digest : undefined))
    .filter((d): d is string => typeof d === 'string');
}

/** Every item of a paginated listing, page after page. */
async function* pages<T>(page: (last: string | undefined) => Promise<{ items: T[]; more: boolean }>, keyOf: (item: T) => string): AsyncGenerator<T> {
  let last: string | undefined;
  for (;;) {
    const { items, more } = await page(last);
    yield* items;
    if (!more || items.length === 0) return;
    last = keyOf(items[items.length - 1]);
  }
}
