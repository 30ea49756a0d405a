/**
 * Starting a real Berth registry for tests: in this process (fast, for protocol tests) or
 * as a child process running the real `berth serve` (for restarts, crashes and clients).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { createRouter } from '../../lambdas/http/router';
import { startNodeServer } from '../../lambdas/server/node-server';
import { openLocalRegistry } from '../../lambdas/composition/local/local-registry';
import { silentLogger } from '../../lambdas/core/log';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');

/**
 * A scratch directory under .test-work (ignored by git), removed by the returned function.
 * `shortPath` puts it under the system temp directory instead, for tools that limit path
 * lengths (podman's runroot: 50 characters; unix sockets: 108 bytes) whatever the checkout's path.
 */
export function scratchDir(prefix: string, options: { shortPath?: boolean } = {}): { path: string; remove: () => void } {
  const base = options.shortPath ? tmpdir() : join(PROJECT_ROOT, '.test-work');
  mkdirSync(base, { recursive: true });
  const path = mkdtempSync(join(base, `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestRegistry {
  url: string;
  /** host:port, as clients name a registry. */
  host: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startInProcessRegistry(dataDir?: string, settings: Parameters<typeof openLocalRegistry>[2] = {}): Promise<TestRegistry> {
  const scratch = dataDir ? undefined : scratchDir('registry');
  const dir = dataDir ?? scratch!.path;
  const local = await openLocalRegistry(dir, silentLogger, settings);
  const running = await startNodeServer({ handler: createRouter({ registry: local.registry, log: silentLogger }), host: '127.0.0.1', port: 0, log: silentLogger });
  return {
    url: running.url,
    host: `127.0.0.1:${running.port}`,
    dataDir: dir,
    stop: async () => {
      await running.close();
      await local.close();
      scratch?.remove();
    },
  };
}

export interface RegistryProcess extends TestRegistry {
  child: ChildProcess;
  /** The line `berth serve` printed on start-up. */
  banner: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Runs `berth serve` exactly as `npm start` does, on a free port unless one is given. */
export async function startRegistryProcess(dataDir: string, port = 0, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RegistryProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'serve', '--port', String(port), '--data-dir', dataDir, ...extraArgs], {
    cwd: PROJECT_ROOT,
    // Jest gives each test file its own copy of process.env: pass what the child needs explicitly.
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let banner = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth did not start within 30 s:\n${stderr}`)), 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /listening on (\S+)/.exec(line);
      if (match) {
        banner = line;
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth exited with ${code} before listening:\n${stderr}`));
    });
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url,
    host: new URL(url).host,
    dataDir,
    child,
    banner,
    stderr: () => stderr,
    kill,
    stop: () => kill('SIGTERM'),
  };
}
