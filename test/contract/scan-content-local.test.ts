/**
 * The scan content suite (scan-content.suite.ts) over local mode's adapter: files under
 * `<data-dir>/scans/`, and `berth gc` (offline-gc.ts: the collector over the data directory's
 * `content/` and LMDB) run over the same data directory.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { FilesystemScanContent } from '../../lambdas/storage/local/filesystem-scan-content';
import { collectLocalGarbage } from '../../lambdas/storage/local/offline-gc';
import { scratchDir } from '../support/registry-harness';
import { describeScanContent } from './scan-content.suite';

/** Every file under `dir`, as paths relative to it joined by `/`. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)).map((path) => `${entry.name}/${path}`) : [entry.name],
  );
}

describeScanContent('files', async () => {
  const dir = scratchDir('scan-content-local');
  let n = 0;
  return {
    fresh: async () => {
      const dataDir = join(dir.path, `data-${++n}`);
      const root = join(dataDir, 'scans');
      return {
        store: new FilesystemScanContent({ root }),
        files: async () => walk(root).map((path) => `scans/${path}`).sort(),
        plant: async (key, bytes) => {
          const path = join(dataDir, ...key.split('/'));
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, bytes);
        },
        collectGarbage: async () => {
          const bytes = Buffer.from(`unlinked content ${n}`);
          const orphan = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
          await FilesystemBlobStore.open({ root: join(dataDir, 'content') }).putContent(orphan, bytes);
          const report = await collectLocalGarbage(dataDir, { dryRun: false, minAgeMs: 0, now: () => Date.now() + 60_000 });
          return { orphan, deleted: report.deleted.map((d) => d.digest) };
        },
      };
    },
    cleanup: async () => dir.remove(),
  };
});

describe('scan content in a data directory', () => {
  const dir = scratchDir('scan-content-local-files');
  afterAll(() => dir.remove());
  const image = `sha256:${'a'.repeat(64)}`;

  /** Every directory under `root`, relative to it. */
  const directories = (root: string): string[] =>
    readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [e.name, ...directories(join(root, e.name)).map((d) => `${e.name}/${d}`)] : []));

  it("removes an image's directories, and its repository's, once a delete leaves them empty", async () => {
    const root = join(dir.path, 'dirs', 'scans');
    const store = new FilesystemScanContent({ root });
    await store.putScanContent('team/app', image, 'findings', '1', Buffer.from('x'));
    await store.putScanContent('team/app/sub', image, 'findings', '1', Buffer.from('y'));
    await store.deleteScanContent('team/app', image);
    expect(directories(root).sort()).toEqual(['.tmp', 'team', 'team/app', 'team/app/sub', `team/app/sub/${image}`]);
    await store.deleteScanContent('team/app/sub', image);
    expect(directories(root)).toEqual(['.tmp']);
  });

  it('removes the files of writes that stopped, once older than abandonedAfterMs, and not those of writes under way', async () => {
    const root = join(dir.path, 'tmp', 'scans');
    const store = new FilesystemScanContent({ root, abandonedAfterMs: 60_000 });
    mkdirSync(join(root, '.tmp'), { recursive: true });
    writeFileSync(join(root, '.tmp', 'stopped'), 'half');
    const past = new Date(Date.now() - 2 * 60_000);
    utimesSync(join(root, '.tmp', 'stopped'), past, past);
    writeFileSync(join(root, '.tmp', 'under-way'), 'half');
    await store.deleteScanContent('app', image);
    expect(readdirSync(join(root, '.tmp'))).toEqual(['under-way']);
  });
});
