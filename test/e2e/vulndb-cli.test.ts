/**
 * `berth vulndb import` and `berth vulndb status` on a data directory, as a user runs them: an OSV
 * export zip (the fixtures of test/fixtures/scanning/osv/, plus a PyPI record and a bad record
 * constructed here) and a folder imported, the summary and the status printed; a second import that
 * replaces npm alone; an import refused beside a running server (which starts on the directory as
 * before) while the status answers; and `berth gc` leaving the data alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import type { VulnerabilityDataGeneration } from '../../lambdas/storage/ports';
import { PROJECT_ROOT, scratchDir, startRegistryProcess } from '../support/registry-harness';

const berth = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });

const FIXTURES = join(__dirname, '..', 'fixtures', 'scanning', 'osv');

describe('berth vulndb', () => {
  const work = scratchDir('vulndb-cli');
  const dataDir = join(work.path, 'data');
  afterAll(() => work.remove());

  const status = (): VulnerabilityDataGeneration | null => {
    const run = berth(['vulndb', 'status', '--data-dir', dataDir, '--json']);
    expect(run.status).toBe(0);
    return JSON.parse(run.stdout);
  };

  test('GIVEN OSV exports WHEN imported into a data directory THEN the summary counts them and status lists each ecosystem with its source age', () => {
    mkdirSync(dataDir, { recursive: true });
    const none = berth(['vulndb', 'status', '--data-dir', dataDir]);
    expect(none.status).toBe(0);
    expect(none.stdout).toMatch(/^no vulnerability data imported/);

    const entries: Record<string, Uint8Array> = Object.fromEntries(
      readdirSync(FIXTURES)
        .filter((name) => name.endsWith('.json') && !name.startsWith('GHSA-c2qf'))
        .map((name) => [name, readFileSync(join(FIXTURES, name))]),
    );
    entries['PYSEC-0000-0001.json'] = strToU8(
      JSON.stringify({ id: 'PYSEC-0000-0001', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'requests' }, versions: ['2.30.0'] }] }),
    );
    entries['GHSA-bad0-bad0-bad0.json'] = strToU8(
      JSON.stringify({ id: 'GHSA-bad0-bad0-bad0', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events: [] }] }] }),
    );
    const zip = join(work.path, 'all.zip');
    writeFileSync(zip, zipSync(entries));
    const folder = join(work.path, 'npm-records');
    mkdirSync(folder);
    writeFileSync(join(folder, 'GHSA-c2qf-rxjj-qqgw.json'), readFileSync(join(FIXTURES, 'GHSA-c2qf-rxjj-qqgw.json')));

    const run = berth(['vulndb', 'import', zip, folder, '--data-dir', dataDir]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^read 11 records\n/);
    expect(out).toMatch(/\n {2}Debian:12 +2 +2025-06-02T09:41:18\.552Z\n/);
    expect(out).toMatch(/\n {2}npm +4 +2024-02-16T08:21:32\.000Z\n/);
    expect(out).toContain('skipped 1 record of ecosystems Berth does not scan: PyPI 1\n');
    expect(out).toContain(`bad: 1 record not imported\n  GHSA-bad0-bad0-bad0: affected[0].ranges[0].events: must be a non-empty array (${zip}:GHSA-bad0-bad0-bad0.json)\n`);
    expect(out).toMatch(/berth vulndb import: published 5 ecosystems \(generation \S+\); 5 ecosystems in all\n$/);

    const table = berth(['vulndb', 'status', '--data-dir', dataDir]);
    expect(table.status).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ECOSYSTEM +RECORDS +SOURCE UPDATED +IMPORTED +SIZE$/);
    expect(table.stdout).toMatch(/\nUbuntu:22\.04:LTS +1 +2025-02-11T14:02:31\.000Z +\S+ +[\d.]+ KiB\n/);
    const current = status()!;
    expect(current.ecosystems.map((e) => [e.ecosystem, e.recordCount])).toEqual([
      ['Alpine:v3.20', 1],
      ['Debian:11', 2],
      ['Debian:12', 2],
      ['Ubuntu:22.04:LTS', 1],
      ['npm', 4],
    ]);
  });

  test('GIVEN imported data WHEN npm is imported again THEN npm alone is replaced', () => {
    const before = status()!;
    const run = berth(['vulndb', 'import', join(FIXTURES, 'GHSA-35jh-r3h4-6jhm.json'), '--data-dir', dataDir, '--json']);
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout) as { imported: string[]; published: VulnerabilityDataGeneration };
    expect(result.imported).toEqual(['npm']);
    const after = status()!;
    expect(after).toEqual(result.published);
    const generations = (g: VulnerabilityDataGeneration) => Object.fromEntries(g.ecosystems.map((e) => [e.ecosystem, e.generation]));
    expect(generations(after)).toEqual({ ...generations(before), npm: after.generation });
    expect(after.ecosystems.find((e) => e.ecosystem === 'npm')!.recordCount).toBe(1);
  });

  test('GIVEN a running server on the directory WHEN importing THEN it is refused and status still answers; stopped, berth gc leaves the data alone', async () => {
    const before = status();
    const server = await startRegistryProcess(dataDir);
    try {
      expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
      const busy = berth(['vulndb', 'import', join(FIXTURES, 'DSA-5532-1.json'), '--data-dir', dataDir]);
      expect(busy.status).toBe(2);
      expect(busy.stderr).toMatch(/is in use by another Berth process.*stop the server first/);
      // The status reads the pointer, replaced whole: no lock needed, so it answers beside the server.
      expect(status()).toEqual(before);
    } finally {
      await server.stop();
    }
    const gc = berth(['gc', '--data-dir', dataDir, '--min-age', '0']);
    expect(gc.status).toBe(0);
    expect(status()).toEqual(before);
  });

  test('GIVEN nothing Berth can import, or no file WHEN importing THEN it says so and fails', () => {
    const onlyPypi = join(work.path, 'pypi.json');
    writeFileSync(onlyPypi, JSON.stringify({ id: 'PYSEC-0000-0002', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'PyPI', name: 'x' }, versions: ['1'] }] }));
    const nothing = berth(['vulndb', 'import', onlyPypi, '--data-dir', dataDir]);
    expect(nothing.status).toBe(1);
    expect(nothing.stdout).toContain('berth vulndb import: nothing to import, the data is unchanged\n');
    const notZip = join(work.path, 'records.zip');
    writeFileSync(notZip, 'not a zip');
    const bad = berth(['vulndb', 'import', notZip, '--data-dir', dataDir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`berth: vulndb: ${notZip}: not a zip file\n`);
    const usage = berth(['vulndb', 'import', '--data-dir', dataDir]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/needs OSV exports/);
    expect(berth(['--help']).stdout).toContain('berth vulndb import FILE... [--data-dir DIR] [--json]');
  });
});
