/**
 * The storage contracts against the adapters of local mode, plus what only they have:
 * their on-disk layout version.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { StorageLayoutError } from '../../lambdas/storage/errors';
import type { MetadataStore } from '../../lambdas/storage/ports';
import { scratchDir } from '../support/registry-harness';
import { describeBlobStoreContract } from './blob-store.contract';
import { describeMetadataStoreContract } from './metadata-store.contract';

describeBlobStoreContract('FilesystemBlobStore', async () => {
  const dir = scratchDir('fs-blob-store');
  const root = join(dir.path, 'content');
  return {
    store: FilesystemBlobStore.open({ root }),
    reopen: async () => FilesystemBlobStore.open({ root }),
    cleanup: async () => dir.remove(),
  };
});

describeMetadataStoreContract('LmdbMetadataStore', async () => {
  const dir = scratchDir('lmdb-metadata-store');
  const path = join(dir.path, 'metadata');
  let current: MetadataStore | undefined = await LmdbMetadataStore.open({ path });
  return {
    store: current,
    reopen: async () => {
      await current?.close();
      current = undefined;
      current = await LmdbMetadataStore.open({ path });
      return current;
    },
    cleanup: async () => {
      await current?.close();
      dir.remove();
    },
  };
});

describe('local adapters: layout versions', () => {
  let dir: ReturnType<typeof scratchDir>;
  beforeEach(() => {
    dir = scratchDir('layout');
  });
  afterEach(() => dir.remove());

  test('GIVEN a blob directory whose layout version is unknown WHEN opened THEN StorageLayoutError names the directory', () => {
    const root = join(dir.path, 'content');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'layout.json'), JSON.stringify({ version: 99 }));
    expect(() => FilesystemBlobStore.open({ root })).toThrow(StorageLayoutError);
    expect(() => FilesystemBlobStore.open({ root })).toThrow(/version 99/);
  });

  test('GIVEN a blob directory with an unreadable layout.json, or content and no layout.json WHEN opened THEN StorageLayoutError', () => {
    const broken = join(dir.path, 'broken');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'layout.json'), 'not json');
    expect(() => FilesystemBlobStore.open({ root: broken })).toThrow(StorageLayoutError);

    const foreign = join(dir.path, 'foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'something-else'), 'x');
    expect(() => FilesystemBlobStore.open({ root: foreign })).toThrow(StorageLayoutError);
  });

  test('GIVEN a blob directory written by this build WHEN opened again THEN it opens', () => {
    const root = join(dir.path, 'content');
    FilesystemBlobStore.open({ root });
    expect(() => FilesystemBlobStore.open({ root })).not.toThrow();
  });

  test('GIVEN an LMDB environment whose layout version is unknown WHEN opened THEN StorageLayoutError, and the environment can still be opened by other code', async () => {
    const path = join(dir.path, 'metadata');
    mkdirSync(path, { recursive: true });
    const raw = openLmdb({ path, encoding: 'msgpack' });
    await raw.put('layout', { version: 99 });
    await raw.close();
    await expect(LmdbMetadataStore.open({ path })).rejects.toThrow(StorageLayoutError);
    await expect(LmdbMetadataStore.open({ path })).rejects.toThrow(/version 99/);
  });

  test('GIVEN an LMDB environment with data but no layout version WHEN opened THEN StorageLayoutError', async () => {
    const path = join(dir.path, 'metadata');
    mkdirSync(path, { recursive: true });
    const raw = openLmdb({ path, encoding: 'msgpack' });
    await raw.put('something', 1);
    await raw.close();
    await expect(LmdbMetadataStore.open({ path })).rejects.toThrow(StorageLayoutError);
  });

  test('GIVEN an LMDB environment written by this build WHEN reopened THEN it opens', async () => {
    const path = join(dir.path, 'metadata');
    await (await LmdbMetadataStore.open({ path })).close();
    const again = await LmdbMetadataStore.open({ path });
    await again.close();
  });
});
