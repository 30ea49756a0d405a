/**
 * Local mode's online garbage collection: the core's collector on the server's timer
 * (`--gc-interval`, `--gc-grace`), with what it last did kept for `berth stats` (in memory and in
 * the data directory's gc-last.json).
 */
import { collectGarbage, type CollectionReport, type CollectorBlobs, type CollectorMetadata } from '../../core/garbage-collection';
import type { Logger } from '../../core/log';
import { lastCollectionOfReport, type LastCollection } from '../../core/registry-stats';
import { writeLastCollection } from '../../storage/local/last-collection';
import type { ScheduledJob } from '../deployment';

export interface LocalGcSettings {
  /** How often the server collects; 0: never (berth gc on a stopped server still does). */
  intervalMs: number;
  /** Unused links and unlinked content younger than this stay. */
  graceMs: number;
}

/** `--gc-interval 1h`, `--gc-grace 24h`. */
export const DEFAULT_LOCAL_GC: LocalGcSettings = { intervalMs: 60 * 60 * 1000, graceMs: 24 * 60 * 60 * 1000 };

export type { LastCollection };

const lastRuns = new WeakMap<object, LastCollection>();

/** The last collection over `metadata` in this process. */
export function lastCollectionOf(metadata: object): LastCollection | null {
  return lastRuns.get(metadata) ?? null;
}

/** The server's collection job; with `dataDir`, each run is kept in its gc-last.json (last-collection.ts). */
export function garbageCollectionJob(metadata: CollectorMetadata, blobs: CollectorBlobs, settings: LocalGcSettings, log: Logger, dataDir?: string): ScheduledJob {
  return {
    name: 'collect-garbage',
    everyMs: settings.intervalMs,
    run: async () => {
      const started = Date.now();
      const report: CollectionReport = await collectGarbage(metadata, blobs, { graceMs: settings.graceMs, leaseMs: 0, log });
      const last = lastCollectionOfReport(report, started, Date.now());
      lastRuns.set(metadata, last);
      if (last.unlinked > 0 || last.deleted > 0 || report.staging > 0) log.info('garbage collected', { ...last, staging: report.staging });
      if (dataDir !== undefined) await writeLastCollection(dataDir, last);
    },
  };
}
