/** The garbage collector's suite (garbage-collector.suite.ts) over local mode's adapters: LMDB and files. */
import { join } from 'node:path';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';
import { describeGarbageCollector } from './garbage-collector.suite';

describeGarbageCollector('LMDB and files', async () => {
  const dir = scratchDir('gc-local');
  const metadata = await LmdbMetadataStore.open({ path: join(dir.path, 'metadata') });
  const blobs = FilesystemBlobStore.open({ root: join(dir.path, 'content') });
  return {
    metadata,
    blobs,
    cleanup: async () => {
      await metadata.close();
      dir.remove();
    },
  };
});
