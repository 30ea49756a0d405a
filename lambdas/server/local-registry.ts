import { join, resolve } from 'node:path';
import { Registry, type RegistryOptions } from '../core/registry';
import type { Logger } from '../core/log';
import { FilesystemBlobStore } from '../storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../storage/local/lmdb-metadata-store';
import { lockDataDir } from './data-dir-lock';
import type { MetadataStore } from '../storage/ports';

export interface LocalRegistry {
  registry: Registry;
  /** The metadata store under the registry (the ECR API's policies live there). */
  metadata: MetadataStore;
  dataDir: string;
  close(): Promise<void>;
}

/** How often abandoned uploads are looked for. */
const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;

/** The registry of local mode: blobs as files and metadata in LMDB, both under one data directory. */
export async function openLocalRegistry(
  dataDir: string,
  log: Logger,
  settings: Omit<RegistryOptions, 'blobs' | 'metadata' | 'log'> = {},
): Promise<LocalRegistry> {
  const root = resolve(dataDir);
  const unlock = lockDataDir(root);
  let metadata: LmdbMetadataStore;
  let blobs: FilesystemBlobStore;
  try {
    blobs = FilesystemBlobStore.open({ root: join(root, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
  } catch (err) {
    unlock();
    throw err;
  }
  const registry = new Registry({ ...settings, blobs, metadata, log });

  const purge = () =>
    registry.purgeStaleUploads().then(
      (count) => count > 0 && log.info('purged abandoned uploads', { count }),
      (error) => log.error('purging abandoned uploads failed', { error }),
    );
  const startup = purge();
  const timer = setInterval(purge, HOUSEKEEPING_INTERVAL_MS).unref();

  return {
    registry,
    metadata,
    dataDir: root,
    close: async () => {
      clearInterval(timer);
      await startup;
      await metadata.close();
      unlock();
    },
  };
}
