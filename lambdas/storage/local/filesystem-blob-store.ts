/**
 * FilesystemBlobStore: the blob store of local mode, on the local file system.
 * Content becomes visible only by rename(2) of a fully written, fsynced file, so a crash
 * at any moment leaves either the whole blob or nothing at its path.
 *
 * Layout under the root directory:
 *
 *   layout.json                    { "version": 1 }
 *   blobs/<algorithm>/<xx>/<hex>   committed content, named by digest (xx: first two hex digits)
 *   uploads/<upload id>            bytes of an upload in progress
 *   staging/<algorithm>.<hex>.<id> staged content (stageContent), until promoted (renamed into blobs/) or discarded
 *   tmp/                           files being written by putContent and stageContent
 */
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ByteStream } from '../../core/model';
import type { BlobStore, ByteRange, StoredContentInfo } from '../ports';
import { ContentNotFoundError, StorageLayoutError } from '../errors';
import { FileRegion } from './file-region';

export const FILESYSTEM_LAYOUT_VERSION = 1;

/** Upload ids come from the registry, but they end up in paths: allow nothing that could escape. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Network chunks are small; writing them in batches keeps the syscalls per gigabyte low. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** How many written bytes start a background flush. */
const BACKGROUND_FLUSH_BYTES = 32 * 1024 * 1024;
const SAFE_DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;

export interface FilesystemBlobStoreOptions {
  /** Directory that holds blobs and uploads. */
  root: string;
}

export class FilesystemBlobStore implements BlobStore {
  private readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  static open(options: FilesystemBlobStoreOptions): FilesystemBlobStore {
    const root = options.root;
    mkdirSync(root, { recursive: true });
    checkLayout(root);
    for (const dir of ['blobs', 'uploads', 'staging', 'tmp']) mkdirSync(join(root, dir), { recursive: true });
    return new FilesystemBlobStore(root);
  }

  async statBlob(digest: string): Promise<{ size: number } | null> {
    try {
      const s = await stat(this.blobPath(digest));
      return { size: s.size };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async readBlob(digest: string, range?: ByteRange): Promise<ByteStream> {
    const path = this.blobPath(digest);
    const handle = await open(path, 'r').catch((err) => {
      throw isNotFound(err) ? new ContentNotFoundError(digest) : err;
    });
    try {
      const { size } = await handle.stat();
      return new FileRegion(handle, range?.start ?? 0, range?.end ?? size - 1);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async putContent(digest: string, bytes: Uint8Array): Promise<void> {
    const target = this.blobPath(digest);
    if (existsSync(target)) return;
    await this.moveIntoPlace(await this.writeTemporary(bytes), target);
  }

  async stageContent(stagingId: string, digest: string, bytes: Uint8Array): Promise<void> {
    await this.moveIntoPlace(await this.writeTemporary(bytes), this.stagingPath(stagingId, digest));
  }

  async promoteStagedContent(stagingId: string, digest: string): Promise<void> {
    const staged = this.stagingPath(stagingId, digest);
    const target = this.blobPath(digest);
    if (existsSync(target)) {
      await rm(staged, { force: true });
      return;
    }
    // The rename is the copy and the delete in one step: there is no moment without either file.
    await this.moveIntoPlace(staged, target).catch((err) => {
      if (!isNotFound(err)) throw err;
      // A racing promotion renamed it first.
      if (!existsSync(target)) throw new ContentNotFoundError(digest);
    });
  }

  async discardStagedContent(stagingId: string, digest: string): Promise<void> {
    await rm(this.stagingPath(stagingId, digest), { force: true });
  }

  async readStagedContent(digest: string): Promise<{ stagingId: string; bytes: Uint8Array } | null> {
    const prefix = this.stagingPath('', digest);
    const dir = dirname(prefix);
    const start = prefix.slice(dir.length + 1);
    for (const name of await readdir(dir)) {
      if (!name.startsWith(start)) continue;
      try {
        return { stagingId: name.slice(start.length), bytes: await readFile(join(dir, name)) };
      } catch (err) {
        // Promoted (or discarded) since the listing: try the next.
        if (!isNotFound(err)) throw err;
      }
    }
    return null;
  }

  /** A fully written, fsynced file under tmp/, ready to be renamed into place. */
  private async writeTemporary(bytes: Uint8Array): Promise<string> {
    const path = join(this.root, 'tmp', randomUUID());
    const handle = await open(path, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return path;
  }

  async deleteContent(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async *storedContent(): AsyncGenerator<StoredContentInfo> {
    yield* this.listContent();
  }

  async discardStaleStaging(before: number): Promise<number> {
    return this.removeStaleStaging(before);
  }

  /** Every committed content file, with its size and last change. */
  *listContent(): Generator<StoredContentInfo> {
    const blobs = join(this.root, 'blobs');
    // Anything not laid out and named like content (a .DS_Store, an editor's backup) is not ours to judge.
    const directories = (path: string) => readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const algorithm of directories(blobs)) {
      for (const shard of directories(join(blobs, algorithm))) {
        for (const hex of readdirSync(join(blobs, algorithm, shard))) {
          const digest = `${algorithm}:${hex}`;
          if (!SAFE_DIGEST.test(digest)) continue;
          const s = statSync(join(blobs, algorithm, shard, hex));
          yield { digest, size: s.size, modifiedAt: s.mtimeMs };
        }
      }
    }
  }

  /** Removes the tmp/ files of interrupted putContent and stageContent calls last changed before `before` (epoch ms); returns how many. */
  removeStaleStaging(before: number): number {
    let removed = 0;
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      const path = join(this.root, 'tmp', name);
      if (statSync(path).mtimeMs < before) {
        rmSync(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async startUpload(uploadId: string): Promise<void> {
    const handle = await open(this.uploadPath(uploadId), 'w');
    await handle.close();
  }

  async appendUpload(uploadId: string, offset: number, data: ByteStream): Promise<number> {
    const handle = await open(this.uploadPath(uploadId), 'r+').catch((err) => {
      throw isNotFound(err) ? new ContentNotFoundError(uploadId) : err;
    });
    try {
      // Bytes past `offset` belong to a write that was never acknowledged: drop them.
      await handle.truncate(offset);
      // One batch is written while the next is read from the network: disk and socket overlap.
      let position = offset;
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      let inflight: Promise<void> = Promise.resolve();
      let failure: unknown;
      // Flushing to disk as the bytes arrive leaves little for the final fsync of a large layer.
      let flushing: Promise<void> = Promise.resolve();
      let flushingDone = true;
      let unflushed = 0;
      const startWrite = async () => {
        await inflight;
        if (failure !== undefined) throw failure;
        const buffers = pending;
        const at = position;
        unflushed += pendingBytes;
        position += pendingBytes;
        pending = [];
        pendingBytes = 0;
        inflight = writeAll(handle, buffers, at).catch((err) => {
          failure = err;
        });
        if (unflushed >= BACKGROUND_FLUSH_BYTES && flushingDone) {
          unflushed = 0;
          flushingDone = false;
          flushing = inflight
            .then(() => handle.datasync())
            .catch((err) => {
              failure ??= err;
            })
            .finally(() => {
              flushingDone = true;
            });
        }
      };
      try {
        for await (const chunk of data) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= WRITE_BATCH_BYTES) await startWrite();
        }
        if (pendingBytes > 0) await startWrite();
      } finally {
        await inflight;
        await flushing;
      }
      if (failure !== undefined) throw failure;
      await handle.sync();
      return position;
    } finally {
      await handle.close();
    }
  }

  async readUpload(uploadId: string, size: number): Promise<ByteStream> {
    const path = this.uploadPath(uploadId);
    if (size === 0) return (async function* () {})();
    return createReadStream(path, { start: 0, end: size - 1, highWaterMark: 256 * 1024 });
  }

  async commitUpload(uploadId: string, digest: string, size: number): Promise<void> {
    const source = this.uploadPath(uploadId);
    const target = this.blobPath(digest);
    if (existsSync(target)) {
      await rm(source, { force: true });
      return;
    }
    const handle = await open(source, 'r+');
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.moveIntoPlace(source, target);
  }

  async abortUpload(uploadId: string): Promise<void> {
    await rm(this.uploadPath(uploadId), { force: true });
  }

  private async moveIntoPlace(source: string, target: string): Promise<void> {
    const dir = dirname(target);
    const firstCreated = await mkdir(dir, { recursive: true });
    await rename(source, target);
    // The rename is durable only once its directory entry is, and a directory made just now
    // only once the entry in its own parent is: sync from the target's directory up.
    await syncDirectory(dir);
    if (firstCreated !== undefined) {
      for (let created = dir; created.length >= firstCreated.length; created = dirname(created)) await syncDirectory(dirname(created));
    }
  }

  private blobPath(digest: string): string {
    const match = SAFE_DIGEST.exec(digest);
    if (!match) throw new ContentNotFoundError(digest);
    const [, algorithm, hex] = match;
    return join(this.root, 'blobs', algorithm, hex.slice(0, 2), hex);
  }

  /** With an empty id: the common start of the paths of every staged copy of `digest`. */
  private stagingPath(stagingId: string, digest: string): string {
    if (stagingId !== '' && !SAFE_ID.test(stagingId)) throw new ContentNotFoundError(stagingId);
    const match = SAFE_DIGEST.exec(digest);
    if (!match) throw new ContentNotFoundError(digest);
    return join(this.root, 'staging', `${match[1]}.${match[2]}.${stagingId}`);
  }

  private uploadPath(uploadId: string): string {
    if (!SAFE_ID.test(uploadId)) throw new ContentNotFoundError(uploadId);
    return join(this.root, 'uploads', uploadId);
  }
}

function checkLayout(root: string): void {
  const file = join(root, 'layout.json');
  if (!existsSync(file)) {
    const entries = readdirSync(root).filter(
      (e) => !e.startsWith('.layout.json.') && (!['blobs', 'uploads', 'staging', 'tmp'].includes(e) || readdirSync(join(root, e)).length > 0),
    );
    if (entries.length > 0) throw new StorageLayoutError(root, 'blob directory has content but no layout.json');
    // Written whole or not at all: a torn layout.json would stop every later start.
    const staging = join(root, `.layout.json.${process.pid}`);
    const fd = openSync(staging, 'w');
    try {
      writeSync(fd, JSON.stringify({ version: FILESYSTEM_LAYOUT_VERSION }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(staging, file);
    const dirFd = openSync(root, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return;
  }
  let version: unknown;
  try {
    version = JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    throw new StorageLayoutError(root, 'layout.json is not readable JSON');
  }
  if (version !== FILESYSTEM_LAYOUT_VERSION) {
    throw new StorageLayoutError(root, `blob layout version ${String(version)}; this build reads version ${FILESYSTEM_LAYOUT_VERSION}`);
  }
}

/** writev takes the network chunks as they are, without copying them into one buffer. */
async function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const written = (await handle.writev(buffers, position)).bytesWritten;
  if (written === total) return;
  const rest = Buffer.concat(buffers, total).subarray(written);
  for (let done = 0; done < rest.length; ) {
    const { bytesWritten } = await handle.write(rest, done, rest.length - done, position + written + done);
    done += bytesWritten;
  }
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
