/**
 * `berth lifecycle run --data-dir`: the lifecycle runs (core/lifecycle/run-all.ts, what the server
 * runs every `--lifecycle-interval`) over a stopped server's data directory, under its lock
 * (data-dir-lock.ts), as `berth gc` does. The expiries and archivings are recorded in the store's
 * outbox as the server's are; the server delivers their events when it next starts. The blobs of
 * expired images stay until a collection (`berth gc`, or the server's).
 */
import { join, resolve } from 'node:path';
import { runLifecyclePolicies } from '../../core/lifecycle/run-all';
import type { LifecycleRunReport } from '../../core/lifecycle/run';
import { LmdbMetadataStore } from './lmdb-metadata-store';
import { lockDataDir } from './data-dir-lock';

export interface OfflineLifecycleOptions {
  repository?: string;
  now?: Date;
  dryRun?: boolean;
}

export interface OfflineLifecycleRuns {
  reports: LifecycleRunReport[];
  failures: Array<{ repository: string; error: string }>;
  /** Whether `repository` (when given) exists. */
  repositoryFound: boolean;
}

export async function runLocalLifecyclePolicies(dataDir: string, options: OfflineLifecycleOptions): Promise<OfflineLifecycleRuns> {
  const root = resolve(dataDir);
  const unlock = await lockDataDir(root);
  try {
    const metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
    try {
      const repositoryFound = options.repository === undefined || (await metadata.getRepository(options.repository)) !== null;
      const failures: OfflineLifecycleRuns['failures'] = [];
      const reports = await runLifecyclePolicies(metadata, {
        ...options,
        onFailure: (repository, error) => failures.push({ repository, error: error instanceof Error ? error.message : String(error) }),
      });
      return { reports, failures, repositoryFound };
    } finally {
      await metadata.close();
    }
  } finally {
    unlock();
  }
}
