/**
 * `berth gc`: the garbage collector (core/garbage-collection.ts, the same one the server runs every
 * `--gc-interval`) over a stopped server's data directory. It takes the directory's lock
 * (data-dir-lock.ts: pid, PID namespace and a heartbeat, so a server in another container on the
 * same volume holds it too), and adds what only a stopped server allows: `--dry-run`, and a grace
 * period (`--min-age`) as short as the operator likes. A run (not a dry run) is kept in gc-last.json
 * for `berth stats`, as the server's runs are.
 */
import { join, resolve } from 'node:path';
import { collectGarbage, type CollectionReport } from '../../core/garbage-collection';
import { lastCollectionOfReport } from '../../core/registry-stats';
import { FilesystemBlobStore } from './filesystem-blob-store';
import { LmdbMetadataStore } from './lmdb-metadata-store';
import { lockDataDir } from './data-dir-lock';
import { writeLastCollection } from './last-collection';

export interface GcOptions {
  /** Only report what would be removed. */
  dryRun: boolean;
  /** Content changed, or linked, more recently than this is kept. */
  minAgeMs: number;
  /**
   * The clock.
   * @default Date.now
   */
  now?: () => number;
}

export type GcReport = CollectionReport;

export async function collectLocalGarbage(dataDir: string, options: GcOptions): Promise<GcReport> {
  const root = resolve(dataDir);
  const unlock = await lockDataDir(root);
  try {
    const blobs = FilesystemBlobStore.open({ root: join(root, 'content') });
    const metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
    try {
      const now = options.now ?? Date.now;
      const started = now();
      const report = await collectGarbage(metadata, blobs, { graceMs: options.minAgeMs, leaseMs: 0, dryRun: options.dryRun, now: options.now });
      // What `berth stats` shows as the last collection; a dry run freed nothing.
      if (!options.dryRun) await writeLastCollection(root, lastCollectionOfReport(report, started, now()));
      return report;
    } finally {
      await metadata.close();
    }
  } finally {
    unlock();
  }
}
