import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirInUseError, lockDataDir } from '../../lambdas/storage/local/data-dir-lock';

const NOT_A_PID = 2 ** 22 + 12345; // above Linux's pid_max: never alive
const OUR_NAMESPACE = readlinkSync('/proc/self/ns/pid');

describe('lockDataDir', () => {
  let dir: string;
  let sleeper: ChildProcess;
  beforeAll(() => {
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  });
  afterAll(() => sleeper.kill());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const lockFile = () => join(dir, 'berth.pid');
  const writeLock = (content: string, ageMs = 0) => {
    writeFileSync(lockFile(), content);
    const at = new Date(Date.now() - ageMs);
    utimesSync(lockFile(), at, at);
  };
  const owner = (pid: number, pidNamespace: string, host = hostname()) => JSON.stringify({ pid, pidNamespace, host });

  test('GIVEN a free directory THEN the lock names this process, its PID namespace and host; unlocking removes it', async () => {
    const unlock = await lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toEqual({ pid: process.pid, pidNamespace: OUR_NAMESPACE, host: hostname() });
    await expect(lockDataDir(dir)).resolves.toBeInstanceOf(Function); // the same process takes its own lock again
    unlock();
    expect(existsSync(lockFile())).toBe(false);
  });

  test('GIVEN a live process of this namespace holding it THEN refused, naming the pid', async () => {
    writeLock(owner(sleeper.pid!, OUR_NAMESPACE));
    await expect(lockDataDir(dir)).rejects.toThrow(new DataDirInUseError(dir, sleeper.pid!).message);
  });

  test('GIVEN a lock of a dead process of this namespace (a crash) THEN taken over at once', async () => {
    writeLock(owner(NOT_A_PID, OUR_NAMESPACE));
    const unlock = await lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).pid).toBe(process.pid);
    unlock();
  });

  test('GIVEN a lock from another PID namespace with a live heartbeat (a server in another container) THEN refused, whatever its pid says here', async () => {
    writeLock(owner(NOT_A_PID, 'pid:[1]', 'other-container'));
    await expect(lockDataDir(dir)).rejects.toThrow(/in another PID namespace/);
    writeLock(owner(process.pid, 'pid:[1]', 'other-container'));
    await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirInUseError);
  });

  test('GIVEN a lock from another PID namespace whose heartbeat stopped THEN taken over', async () => {
    writeLock(owner(1, 'pid:[1]', 'other-container'), 60_000);
    const unlock = await lockDataDir(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).pid).toBe(process.pid);
    unlock();
  });

  test('GIVEN a waiting caller and a lock from another namespace about to go stale (a restarted container) THEN it waits and takes it', async () => {
    writeLock(owner(1, 'pid:[1]', 'previous-container'), 13_500);
    const unlock = await lockDataDir(dir, { waitMs: 10_000 });
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).pid).toBe(process.pid);
    unlock();
  });

  test('GIVEN a lock written by an older Berth (the pid alone) THEN judged by that pid', async () => {
    writeLock(`${sleeper.pid}\n`);
    await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirInUseError);
    writeLock(`${NOT_A_PID}\n`);
    const unlock = await lockDataDir(dir);
    unlock();
  });

  test('GIVEN the lock was taken over behind our back WHEN we unlock THEN the new owner keeps it', async () => {
    const unlock = await lockDataDir(dir);
    writeLock(owner(sleeper.pid!, OUR_NAMESPACE));
    unlock();
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).pid).toBe(sleeper.pid);
  });
});
