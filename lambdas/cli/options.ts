/** What every `berth` command shares: option parsing, durations and ports, failing with the usage, closing on signals. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isIP } from 'node:net';
import { HELP } from './help';

/** Ctrl-C and `docker stop` close the server (and its stores) before the process exits. */
export function closeOnSignals(close: () => Promise<void>): void {
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** "1 manifest", "2 manifests". */
export const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function fail(message: string): never {
  process.stderr.write(`berth: ${message}\n`);
  process.exit(2);
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The options of one command: unknown options fail with the usage; `--help` prints it and
 * answers undefined (the command then does nothing).
 */
export function parseOptions<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(HELP);
    return undefined;
  }
  return parsed.values;
}

/** A duration as the options take it: a number with an optional unit s, m, h or d (seconds without one). */
export function parseDuration(text: string, option: string, example: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text);
  if (!match) fail(`${option} must be a number with an optional unit s, m, h or d (e.g. ${example}), not ${JSON.stringify(text)}`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** A duration a timer takes (Node's timers hold at most 2^31-1 ms, about 24 days); 0 is allowed. */
export function parseTimer(text: string, option: string, example: string): number {
  const ms = parseDuration(text, option, example);
  if (ms > 2_147_483_647) fail(`${option} can be at most 24d (0 turns it off)`);
  return ms;
}

export function parseBodyIdleTimeout(text: string): number {
  const ms = parseDuration(text, '--body-idle-timeout', '60s');
  // Node's timers take at most 2^31-1 ms (and fire at once beyond it).
  if (ms > 2_147_483_647) fail('--body-idle-timeout can be at most 24d (0 never cuts a body)');
  return ms;
}

export function parsePort(text: string, option: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) fail(`${option} must be a number from 0 to 65535, got "${text}"`);
  return port;
}
