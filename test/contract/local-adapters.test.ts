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

  test('GIVEN an environment of layout version 1 (links, no content records) WHEN opened THEN it is upgraded in place: every linked digest gets a record counting its repositories, and the images still read', async () => {
    const path = join(dir.path, 'metadata');
    const store = await LmdbMetadataStore.open({ path });
    const shared = `sha256:${'1'.repeat(64)}`;
    const own = `sha256:${'2'.repeat(64)}`;
    await store.linkBlob('team/a', shared, { size: 5 });
    await store.linkBlob('team/b', shared, { size: 5 });
    await store.linkBlob('team/b', own, { size: 9 });
    await store.close();
    // What version 1 wrote: the same keys, without content records, at layout 1.
    const raw = openLmdb({ path, encoding: 'msgpack' });
    let removed = 0;
    for (const { key } of raw.getRange({ start: 'content\x1f', end: 'content\x1f\x7f' })) {
      await raw.remove(key);
      removed++;
    }
    expect(removed).toBe(2);
    await raw.put('layout', { version: 1 });
    await raw.close();

    const upgraded = await LmdbMetadataStore.open({ path });
    try {
      expect(await upgraded.getContentRecord(shared)).toMatchObject({ links: 2, size: 5 });
      expect(await upgraded.getContentRecord(own)).toMatchObject({ links: 1, size: 9 });
      expect(await upgraded.statBlobLink('team/b', own)).toEqual({ size: 9 });
    } finally {
      await upgraded.close();
    }
    const check = openLmdb({ path, encoding: 'msgpack' });
    expect(check.get('layout')).toEqual({ version: 2 });
    await check.close();
  });
});
