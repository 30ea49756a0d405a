import { join, resolve } from 'node:path';
import { Registry, type RegistryOptions } from '../core/registry';
import type { Logger } from '../core/log';
import { FilesystemBlobStore } from '../storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../storage/local/lmdb-metadata-store';

export interface LocalRegistry {
  registry: Registry;
  dataDir: string;
  close(): Promise<void>;
}

/** The registry of local mode: blobs as files and metadata in LMDB, both under one data directory. */
export async function openLocalRegistry(
  dataDir: string,
  log: Logger,
  settings: Omit<RegistryOptions, 'blobs' | 'metadata' | 'log'> = {},
): Promise<LocalRegistry> {
  const root = resolve(dataDir);
  const blobs = FilesystemBlobStore.open({ root: join(root, 'content') });
  const metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
  const registry = new Registry({ ...settings, blobs, metadata, log });
  return { registry, dataDir: root, close: () => metadata.close() };
}
