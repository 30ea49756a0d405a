/**
 * `berth stats --data-dir`: the figures of a stopped server's data directory, read under the
 * directory's lock (data-dir-lock.ts) as `berth gc` opens it, so a running server is refused
 * rather than read beside it (it answers `berth stats --endpoint` itself).
 */
import { join, resolve } from 'node:path';
import { computeRegistryStats, type StatsReport } from '../../core/registry-stats';
import { lockDataDir } from './data-dir-lock';
import { readLastCollection } from './last-collection';
import { LmdbMetadataStore } from './lmdb-metadata-store';

export async function localStats(dataDir: string, options: { repository?: string } = {}): Promise<StatsReport> {
  const root = resolve(dataDir);
  const unlock = await lockDataDir(root);
  try {
    const metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
    try {
      const stats = await computeRegistryStats(metadata, { repository: options.repository });
      return { ...stats, lastCollection: await readLastCollection(root) };
    } finally {
      await metadata.close();
    }
  } finally {
    unlock();
  }
}
