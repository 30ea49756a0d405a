/**
 * Real client binaries for end-to-end tests. A test that needs a missing binary is skipped
 * with the binary's name in its title, except under CI=true, where a missing client fails.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';

export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export const underCI = process.env.CI === 'true';

/**
 * `describe` for a block that needs the given binaries: runs when all are present, fails
 * when one is missing under CI, and is otherwise skipped with a title naming what is missing.
 */
export function describeWithBinaries(binaries: string[], title: string, body: () => void): void {
  const missing = binaries.filter((b) => !hasBinary(b));
  if (missing.length === 0) {
    describe(title, body);
  } else if (underCI) {
    describe(title, () => {
      test(`needs ${missing.join(', ')}`, () => {
        throw new Error(`CI=true but ${missing.join(', ')} not installed: .ci/run must install it`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${missing.join(', ')} not installed)`, body);
  }
}

/** Runs a command, failing with its output when it exits non-zero. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(command, args, {
      env: { ...process.env, ...options.env },
      input: options.input,
      timeout: options.timeoutMs ?? 180_000,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\nstdout: ${e.stdout ?? ''}\nstderr: ${e.stderr ?? ''}`, { cause: err });
  }
}

/**
 * `run` without blocking the event loop: needed when the registry runs in this process
 * (a synchronous child would wait forever for a server that cannot answer).
 */
export function runAsync(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 180_000, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
