/**
 * A private Docker engine for one test file: its own data root, exec root, pid file and unix
 * socket, no iptables and no bridge (this machine has neither systemd nor iptables), vfs
 * storage. dockerd starts its own containerd, whose socket `ctr` can use too. Must run as root.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface DockerDaemon {
  /** Environment for the docker CLI: DOCKER_HOST and DOCKER_CONFIG. */
  env: { DOCKER_HOST: string; DOCKER_CONFIG: string };
  /** The socket of the containerd that this dockerd started, for `ctr --address`. */
  containerdAddress: string;
  /** What dockerd wrote so far (its log file). */
  log(): string;
  /** Stops dockerd and its containerd (SIGTERM, then SIGKILL), and removes what lives outside `dir`. */
  stop(): Promise<void>;
}

/** Unix socket paths are limited to 108 bytes; containerd's longest lives at exec/containerd/containerd.sock.ttrpc. */
const SOCKET_PATH_BUDGET = 100;

/** Starts dockerd with everything under `dir` (sockets under /tmp when `dir` is too deep for them). */
export async function startDockerd(dir: string): Promise<DockerDaemon> {
  mkdirSync(dir, { recursive: true });
  const dataRoot = join(dir, 'data');
  const configDir = join(dir, 'config');
  const logPath = join(dir, 'dockerd.log');
  mkdirSync(configDir, { recursive: true });
  const socketDirIsLocal = join(dir, 'exec', 'containerd', 'containerd.sock.ttrpc').length <= SOCKET_PATH_BUDGET;
  const socketDir = socketDirIsLocal ? dir : mkdtempSync('/tmp/berth-dockerd-');
  const execRoot = join(socketDir, 'exec');
  const dockerSocket = join(socketDir, 'docker.sock');
  const pidFile = join(socketDir, 'dockerd.pid');
  const containerdAddress = join(execRoot, 'containerd', 'containerd.sock');
  const containerdPidFile = join(execRoot, 'containerd', 'containerd.pid');
  const env = { DOCKER_HOST: `unix://${dockerSocket}`, DOCKER_CONFIG: configDir };

  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--storage-driver=vfs',
        `--data-root=${dataRoot}`,
        `--exec-root=${execRoot}`,
        `--pidfile=${pidFile}`,
        `--host=unix://${dockerSocket}`,
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  const stop = async () => {
    // Read containerd's pid while dockerd still runs: dockerd removes the file when it stops it.
    const containerdPid = readPid(containerdPidFile);
    await terminate(child.pid, () => child.exitCode !== null || child.signalCode !== null, exited);
    if (containerdPid !== undefined && isProcess(containerdPid, 'containerd')) {
      await terminate(containerdPid, () => !isAlive(containerdPid));
    }
    if (!socketDirIsLocal) rmSync(socketDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before answering:\n${tail(log())}`);
    }
    if ((await answers('docker', ['version', '--format', '{{.Server.Version}}'], env)) && existsSync(containerdAddress)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer within 60 s:\n${tail(log())}`);
    }
    await sleep(200);
  }
  return { env, containerdAddress, log, stop };
}

function answers(command: string, args: string[], env: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (err) => resolve(!err));
  });
}

async function terminate(pid: number | undefined, gone: () => boolean, exited?: Promise<void>): Promise<void> {
  if (pid === undefined || gone()) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (!gone() && Date.now() < deadline) await (exited ? Promise.race([exited, sleep(100)]) : sleep(100));
  if (!gone()) {
    signal(pid, 'SIGKILL');
    if (exited) await exited;
    else while (!gone()) await sleep(50);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (an orphaned containerd may wait for a reaper that never comes). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Whether `pid` is still the process we mean (pids are reused). */
function isProcess(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith(name);
  } catch {
    return false;
  }
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
