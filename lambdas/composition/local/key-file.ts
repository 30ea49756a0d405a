import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A private key kept in the data directory: created by `generate` on first use (mode 0600, in
 * a 0700 directory; `wx` so two starts never both write one), read back afterwards. A key file
 * readable by others is a key others can sign with: its mode is tightened rather than served.
 */
export function loadOrCreateKeyFile(path: string, generate: () => string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      const pem = generate();
      writeSync(fd, pem);
      return pem;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return readFileSync(path, 'utf8');
  }
}
