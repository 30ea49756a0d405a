/** The lifecycle suite (lifecycle.suite.ts) over local mode's metadata adapter: LMDB. */
import { join } from 'node:path';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { scratchDir } from '../support/registry-harness';
import { describeLifecycle } from './lifecycle.suite';

describeLifecycle('LMDB', async () => {
  const dir = scratchDir('lifecycle-local');
  const metadata = await LmdbMetadataStore.open({ path: join(dir.path, 'metadata') });
  return {
    metadata,
    cleanup: async () => {
      await metadata.close();
      dir.remove();
    },
  };
});
