/**
 * Appending JSON lines that concurrent writers cannot interleave and a crash cannot take back once
 * the call resolved: the events file and the webhooks' dead-letter file are both written here.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

async function openForAppend(file: string, mode: number): Promise<{ handle: FileHandle; created: boolean }> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
  try {
    return { handle: await open(file, flags | constants.O_EXCL, mode), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { handle: await open(file, flags, mode), created: false };
  }
}

/**
 * Appends each line (it must hold no newline: JSON.stringify's output never does) with one write
 * call of the line and its `\n`. With O_APPEND the move to the end and the write are one step, and
 * Linux writes a regular file's whole buffer under the file's lock, so lines of concurrent calls,
 * of this process or another, never interleave (network file systems promise no such thing).
 *
 * fsync policy: one fdatasync per call, after its last line and before it resolves, and an fsync of
 * the directory when the call created the file: a resolved append survives a crash, so a caller may
 * forget what it appended (the outbox drops the item). The cost is one flush per batch, not per line.
 */
export async function appendLines(file: string, lines: readonly string[], mode = 0o644): Promise<void> {
  if (lines.length === 0) return;
  for (const line of lines) {
    if (line.includes('\n')) throw new Error('A JSON line must not contain a newline');
  }
  const { handle, created } = await openForAppend(file, mode);
  try {
    for (const line of lines) {
      const bytes = Buffer.from(`${line}\n`, 'utf8');
      const { bytesWritten } = await handle.write(bytes, 0, bytes.length, null);
      // A short write (a full disk) leaves part of a line: say so rather than append the rest after another writer's line.
      if (bytesWritten !== bytes.length) throw new Error(`Short write to ${file}: ${bytesWritten} of ${bytes.length} bytes`);
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (created) await syncDirectory(dirname(file));
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, constants.O_RDONLY);
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
