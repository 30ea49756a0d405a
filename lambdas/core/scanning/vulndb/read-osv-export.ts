/**
 * Reads OSV exports for compile.ts, one record file at a time:
 * - `<ecosystem>/all.zip` as OSV publishes them (https://google.github.io/osv.dev/data/: one
 *   `<ID>.json` per record), streamed through fflate's Unzip: a chunk of the zip is read, the
 *   records it completes are handed on, then the next chunk, so a 500 MB export is never whole in
 *   memory (one record's text at a time, plus a chunk);
 * - a folder, recursively: its `.json` records and `.zip` exports, in name order (links to files
 *   followed, links to folders not);
 * - a `.json` record given directly.
 * A zip entry or file that is not a `.json` (a directory, `modified_id.csv`) is passed over; one larger
 * than RECORD_MAX_BYTES, or whose compressed data is corrupt, becomes a file compile.ts reports as bad.
 * A file that is not a zip at all, or a zip cut short, stops the read: its records cannot be trusted
 * to be all there.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Unzip, UnzipInflate } from 'fflate';
import { OsvFile } from './compile';

/** OSV's largest records (a kernel advisory's long version lists) are a few hundred kB. */
export const RECORD_MAX_BYTES = 16 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

/** An export that cannot be read (not a zip, cut short, neither a file nor a folder). */
export class OsvExportError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'OsvExportError';
  }
}

/** The record files of each path in turn (a zip, a folder, a .json file). */
export async function* readOsvExports(paths: readonly string[]): AsyncGenerator<OsvFile> {
  for (const path of paths) {
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new OsvExportError(path, err.code === 'ENOENT' ? 'no such file or folder' : err.message);
    });
    if (info.isDirectory()) yield* readOsvFolder(path);
    else if (path.toLowerCase().endsWith('.zip')) yield* readOsvZip(path);
    else if (path.toLowerCase().endsWith('.json')) yield await readJsonFile(path, info.size);
    else throw new OsvExportError(path, 'not an OSV export: give a .zip (such as <ecosystem>/all.zip), a .json record or a folder of them');
  }
}

/** A folder's `.json` records and `.zip` exports, recursively, in name order (code units). */
export async function* readOsvFolder(folder: string): AsyncGenerator<OsvFile> {
  const entries = (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(folder, entry.name);
    const lower = entry.name.toLowerCase();
    // A link to a file is followed (downloads are often linked into place); one to a folder is not,
    // as it could lead back up the tree.
    const info = entry.isSymbolicLink() ? await stat(path).catch(() => null) : entry;
    if (info === null || (info !== entry && info.isDirectory())) continue;
    if (info.isDirectory()) yield* readOsvFolder(path);
    else if (!info.isFile()) continue;
    else if (lower.endsWith('.zip')) yield* readOsvZip(path);
    else if (lower.endsWith('.json')) yield await readJsonFile(path, (await stat(path)).size);
  }
}

async function readJsonFile(path: string, size: number): Promise<OsvFile> {
  if (size > RECORD_MAX_BYTES) return tooLarge(path);
  // A byte order mark is not JSON; editors on some systems write one.
  return new OsvFile(path, (await readFile(path, 'utf8')).replace(/^\uFEFF/, ''));
}

/** The `.json` entries of a zip file, streamed. */
export function readOsvZip(path: string): AsyncGenerator<OsvFile> {
  return readOsvZipStream(path, createReadStream(path, { highWaterMark: CHUNK_BYTES }));
}

/** The `.json` entries of a zip arriving as `chunks` (a file, a request body), each handed on once the chunks that complete it are read. */
export async function* readOsvZipStream(path: string, chunks: AsyncIterable<Uint8Array>): AsyncGenerator<OsvFile> {
  const ready: OsvFile[] = [];
  const decoder = new TextDecoder('utf-8');
  const unzip = new Unzip((file) => {
    const source = `${path}:${file.name}`;
    const wanted = !file.name.endsWith('/') && file.name.toLowerCase().endsWith('.json');
    const parts: Uint8Array[] = [];
    let size = 0;
    let failed = false;
    file.ondata = (err, data, final) => {
      if (!wanted || failed) return;
      if (err) {
        failed = true;
        ready.push(new OsvFile(source, '', `unreadable zip entry: ${err.message}`));
        return;
      }
      size += data.length;
      if (size > RECORD_MAX_BYTES) {
        failed = true;
        ready.push(tooLarge(source));
        return;
      }
      parts.push(data);
      if (final) ready.push(new OsvFile(source, decoder.decode(Buffer.concat(parts))));
    };
    // Every entry is started, the unwanted ones too: fflate keeps the data of an entry never started.
    file.start();
  });
  unzip.register(UnzipInflate);
  let head: Buffer = Buffer.alloc(0);
  let tail: Buffer = Buffer.alloc(0);
  let signed = false;
  try {
    for await (const bytes of chunks) {
      if (bytes.length === 0) continue;
      if (!signed) {
        // Tried first: fflate would search a file that is no zip through to its end and find nothing.
        head = Buffer.concat([head, bytes.subarray(0, 4)]);
        if (head.length >= 4 && !isZip(head)) throw new OsvExportError(path, 'not a zip file');
        signed = head.length >= 4;
      }
      // A copy of the last bytes only: the chunk itself is not kept.
      tail = Buffer.concat([tail, bytes.subarray(-END_RECORD_SEARCH_BYTES)]).subarray(-END_RECORD_SEARCH_BYTES);
      unzip.push(bytes);
      yield* ready.splice(0);
    }
    if (!signed) throw new OsvExportError(path, head.length === 0 ? 'empty file, not a zip' : 'not a zip file');
    // fflate refuses a zip cut inside an entry; one cut between entries only lacks its central directory.
    unzip.push(new Uint8Array(0), true);
    if (tail.lastIndexOf(END_OF_CENTRAL_DIRECTORY) < 0) throw new OsvExportError(path, 'the zip has no end of central directory (cut short?)');
  } catch (err) {
    if (err instanceof OsvExportError) throw err;
    throw new OsvExportError(path, `unreadable zip: ${(err as Error).message}`);
  }
  yield* ready.splice(0);
}

/** The end of central directory record's signature, and how far from the end it can be (22 bytes and a comment of up to 64 KiB). */
const END_OF_CENTRAL_DIRECTORY = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const END_RECORD_SEARCH_BYTES = 22 + 65_535;

/** A local file header, or the end of an empty archive. */
function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

function tooLarge(source: string): OsvFile {
  return new OsvFile(source, '', `larger than ${RECORD_MAX_BYTES} bytes: not an OSV record`);
}
