import { closeSync, linkSync, mkdirSync, openSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * One Berth process per data directory: upload bytes are guarded by in-process locks and running
 * hashes, which a second process on the same files would bypass, and `berth gc` deletes what no
 * manifest uses, which is safe only while nothing pushes.
 *
 * The lock is a file naming its owner: pid, PID namespace and host. While held, its mtime is
 * refreshed every few seconds (a heartbeat). A lock is stale, and taken over, when its owner is
 * gone: in the same PID namespace, when that pid is not alive; from another namespace (another
 * container on the same volume, or this container restarted after a crash), pids say nothing,
 * so when the heartbeat has stopped for STALE_AFTER_MS. Creating the file is atomic (a complete
 * file is linked into place), so nobody ever reads a half-written owner.
 *
 * Known limit: two processes that find the same stale lock at the same instant can both take it
 * over; they would have to start within milliseconds of each other, after a crash.
 */

const FILE = 'berth.pid';
const HEARTBEAT_MS = 5_000;
const STALE_AFTER_MS = 15_000;

interface Owner {
  pid: number;
  /** `/proc/self/ns/pid` of the owner ('' where there is none, or in a lock written by an older Berth). */
  pidNamespace: string;
  host: string;
}

export interface DataDirLockOptions {
  /**
   * How long to wait for a lock held from another PID namespace to go stale (a restarted
   * container finds its own predecessor's lock, whose heartbeat stops within STALE_AFTER_MS).
   * @default 0 (refuse at once)
   */
  waitMs?: number;
}

export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string, readonly pid: number, elsewhere = false) {
    super(
      `data directory ${dataDir} is in use by another Berth process` +
        `${Number.isNaN(pid) ? '' : ` (pid ${pid}${elsewhere ? ' in another PID namespace: another container' : ''})`}: stop it, or use another --data-dir`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Takes the data directory's lock; resolves with the function that gives it back. */
export async function lockDataDir(dataDir: string, options: DataDirLockOptions = {}): Promise<() => void> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, FILE);
  const me: Owner = { pid: process.pid, pidNamespace: pidNamespace(), host: hostname() };
  const mine = JSON.stringify(me);
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path, mine)) return held(path, mine);
    const verdict = inspect(path, me);
    if (verdict.kind === 'stale') {
      rmSync(path, { force: true });
      continue;
    }
    if (verdict.kind === 'gone') continue;
    if (!verdict.elsewhere || Date.now() >= deadline || attempt > 1000) throw new DataDirInUseError(dataDir, verdict.pid, verdict.elsewhere);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function tryCreate(path: string, content: string): boolean {
  const staging = `${path}.${process.pid}.${randomUUID()}`;
  const fd = openSync(staging, 'wx');
  try {
    writeSync(fd, `${content}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(staging, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    rmSync(staging, { force: true });
  }
}

type Verdict = { kind: 'stale' } | { kind: 'gone' } | { kind: 'held'; pid: number; elsewhere: boolean };

function inspect(path: string, me: Owner): Verdict {
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(path, 'utf8');
    mtimeMs = statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw err;
  }
  const owner = parseOwner(text);
  const sameNamespace = owner.pidNamespace !== '' && owner.pidNamespace === me.pidNamespace && owner.host === me.host;
  if (sameNamespace || owner.pidNamespace === '') {
    // Pids mean something here (a lock without a namespace is an older Berth's: judged as it judged them).
    const alive = Number.isInteger(owner.pid) && owner.pid > 0 && owner.pid !== me.pid && isAlive(owner.pid);
    return alive ? { kind: 'held', pid: owner.pid, elsewhere: false } : { kind: 'stale' };
  }
  return Date.now() - mtimeMs > STALE_AFTER_MS ? { kind: 'stale' } : { kind: 'held', pid: owner.pid, elsewhere: true };
}

function parseOwner(text: string): Owner {
  try {
    const parsed = JSON.parse(text) as Partial<Owner>;
    if (parsed && typeof parsed === 'object') return { pid: Number(parsed.pid), pidNamespace: String(parsed.pidNamespace ?? ''), host: String(parsed.host ?? '') };
  } catch {
    // an older Berth's lock: the pid alone
  }
  return { pid: Number(text.trim()), pidNamespace: '', host: '' };
}

/** Keeps the heartbeat going; the returned function stops it and removes the lock if it is still ours. */
function held(path: string, mine: string): () => void {
  const beat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // removed behind our back: nothing to refresh
    }
  }, HEARTBEAT_MS).unref();
  return () => {
    clearInterval(beat);
    try {
      if (readFileSync(path, 'utf8').trim() === mine) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  };
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
