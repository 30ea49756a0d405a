/**
 * FilesystemScanContent: local mode's scan content (ScanContentStore in ../image-management-ports.ts),
 * files under `<data-dir>/scans/`:
 *
 *   scans/<repository>/<digest>/<kind>-<scanId>.json.gz   one kind of content of one scan of the image
 *   scans/.tmp/<uuid>                                     files being written (no repository starts with `.`)
 *
 * The layout, and the checks every name and reference passes before it becomes a path, are the S3
 * adapter's (../s3/keys.ts, "Scan content"), so a data directory copied into a bucket reads the same.
 * A reference is the file's path relative to the data directory (`scans/…`).
 *
 * A file is written whole to `.tmp/`, fsynced and renamed into place (over the previous one of the
 * same scan, which readers see until then): readable whole or not at all. deleteScanContent removes
 * the image's files, then its directories once empty; a put that loses its directory to that
 * meanwhile makes it again. The garbage collector lists only `<data-dir>/content/`: nothing here is its.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { ScanContentKind } from '../../core/scanning/scan-content';
import type { ScanContentStore } from '../image-management-ports';
import { isScanContentFileName, parseScanContentRef, scanContentFileName, scanImagePrefix, SCANS_PREFIX } from '../scan-content-layout';

export interface FilesystemScanContentOptions {
  /** The `scans` directory (`<data-dir>/scans`). */
  root: string;
  /** How old a file in `.tmp/` must be to count as an interrupted write's, removed by deleteScanContent. @default one hour */
  abandonedAfterMs?: number;
  /** @default Date.now */
  now?: () => number;
}

const TMP = '.tmp';
/** How many times a put makes its directory again after a concurrent delete removed it. */
const RENAME_ATTEMPTS = 5;

export class FilesystemScanContent implements ScanContentStore {
  private readonly root: string;
  private readonly abandonedAfterMs: number;
  private readonly now: () => number;

  constructor(options: FilesystemScanContentOptions) {
    this.root = options.root;
    this.abandonedAfterMs = options.abandonedAfterMs ?? 60 * 60 * 1000;
    this.now = options.now ?? Date.now;
  }

  async putScanContent(repository: string, digest: string, kind: ScanContentKind, scanId: string, bytes: Uint8Array): Promise<string> {
    const ref = scanImagePrefix(repository, digest) + scanContentFileName(kind, scanId);
    const path = this.pathOf(ref);
    const tmpDir = join(this.root, TMP);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    try {
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      for (let attempt = 1; ; attempt++) {
        let created: string | undefined;
        try {
          created = await mkdir(dirname(path), { recursive: true });
          await rename(tmp, path);
        } catch (err) {
          // A delete removed a directory of the path while it was being made, or before the rename.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < RENAME_ATTEMPTS) continue;
          throw err;
        }
        // The file's entry, and those of the directories made for it, become durable with their parents.
        const top = created === undefined ? dirname(path) : dirname(created);
        for (let dir = dirname(path); ; dir = dirname(dir)) {
          await syncDirectory(dir);
          if (dir === top || dir === this.root) break;
        }
        return ref;
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async readScanContent(ref: string): Promise<Uint8Array | null> {
    parseScanContentRef(ref);
    try {
      return await readFile(this.pathOf(ref));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
  }

  async deleteScanContent(repository: string, digest: string, keep: readonly string[] = []): Promise<void> {
    const prefix = scanImagePrefix(repository, digest);
    // Every reference is checked before anything goes: a malformed one is a caller's mistake, not "keep nothing".
    for (const ref of keep) parseScanContentRef(ref);
    const kept = new Set(keep);
    const dir = this.pathOf(prefix);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const doomed = names.filter((name) => isScanContentFileName(name) && !kept.has(prefix + name));
    for (const name of doomed) await rm(join(dir, name), { force: true });
    if (doomed.length > 0) await syncDirectory(dir);
    await this.removeEmptyDirectories(dir);
    await this.removeAbandonedWrites();
  }

  /** The path of a key under `scans/` (checked by the caller). */
  private pathOf(key: string): string {
    return join(this.root, ...key.slice(SCANS_PREFIX.length).split('/'));
  }

  /** The image's directory, then its repository's, up to the root, while each is empty. */
  private async removeEmptyDirectories(dir: string): Promise<void> {
    for (let current = dir; relative(this.root, current) !== '' && !relative(this.root, current).startsWith(`..${sep}`); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or gone): its parents are not empty either
      }
    }
  }

  /** Best effort: files a put left in `.tmp/` when its process stopped. */
  private async removeAbandonedWrites(): Promise<void> {
    try {
      const tmpDir = join(this.root, TMP);
      const now = this.now();
      for (const name of await readdir(tmpDir)) {
        const path = join(tmpDir, name);
        const changed = await stat(path).then((s) => s.mtimeMs, () => Infinity);
        if (now - changed >= this.abandonedAfterMs) await rm(path, { force: true });
      }
    } catch {
      // no .tmp/ yet, or a file that went meanwhile
    }
  }
}

/** A directory's entries made durable; one a delete removed meanwhile has none left to keep. */
async function syncDirectory(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
