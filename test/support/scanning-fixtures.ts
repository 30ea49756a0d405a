/**
 * The scanning fixtures (test/fixtures/scanning/, README.md there says where each comes from): fixture
 * images' files, and the OSV records written from real advisories.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export const SCANNING_FIXTURES = join(__dirname, '../fixtures/scanning');
export const OSV_FIXTURES = join(SCANNING_FIXTURES, 'osv');

/** Every file under a fixture image's root, keyed as the layer reader keys them (no leading slash). */
export function fixtureImageFiles(name: string): Map<string, Buffer> {
  const root = join(SCANNING_FIXTURES, name);
  const files = new Map<string, Buffer>();
  const walk = (at: string): void => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(root);
  return files;
}

/** The OSV fixture records as JSON, in file-name order. */
export function osvFixtureRecords(): Array<Record<string, unknown>> {
  return readdirSync(OSV_FIXTURES)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(OSV_FIXTURES, name), 'utf8')) as Record<string, unknown>);
}
