/**
 * What the last garbage collection of a local data directory did, kept in `<data-dir>/gc-last.json`
 * by the server's collection job and by `berth gc`, for `berth stats` (running server or stopped).
 * Written to a temporary file then renamed, so a reader finds the previous run or this one, whole.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LastCollection } from '../../core/registry-stats';

export const LAST_COLLECTION_FILE = 'gc-last.json';

export async function writeLastCollection(dataDir: string, last: LastCollection): Promise<void> {
  const path = join(dataDir, LAST_COLLECTION_FILE);
  // One writer at a time: the data directory's lock holder, whose collections never overlap.
  const temporary = `${path}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(last)}\n`);
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/** The last collection recorded in the data directory; null when none ran yet (or the file is unreadable). */
export async function readLastCollection(dataDir: string): Promise<LastCollection | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, LAST_COLLECTION_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const value = JSON.parse(text) as Partial<LastCollection>;
    if (typeof value.finishedAt !== 'string' || typeof value.bytesFreed !== 'number') return null;
    return {
      finishedAt: value.finishedAt,
      durationMs: Number(value.durationMs ?? 0),
      unlinked: Number(value.unlinked ?? 0),
      deleted: Number(value.deleted ?? 0),
      bytesFreed: value.bytesFreed,
      complete: value.complete !== false,
    };
  } catch {
    return null;
  }
}
