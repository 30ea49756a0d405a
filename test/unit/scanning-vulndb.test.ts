/**
 * The vulnerability data (issue 15): OSV exports read (zips streamed, folders, .json files),
 * compiled per ecosystem, imported into a VulnerabilityDataStore, and looked up per scan
 * (lambdas/core/scanning/vulndb/). The store here is local mode's (FilesystemVulnerabilityData in a
 * scratch folder); test/contract/vulnerability-data.suite.ts holds both adapters to the port.
 *
 * The OSV records are test/fixtures/scanning/osv/ (real advisories, trimmed; see scanning-osv.test.ts),
 * plus records constructed here and named so: a PyPI record, bad records, a bare-`Debian` record.
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strToU8, Zip, ZipDeflate, zipSync } from 'fflate';
import type { InstalledPackage } from '../../lambdas/core/scanning/model';
import { findingsOf } from '../../lambdas/core/scanning/osv/findings';
import { parseOsvRecord } from '../../lambdas/core/scanning/osv/record';
import { compileOsvRecords, DESCRIPTION_MAX, OsvFile } from '../../lambdas/core/scanning/vulndb/compile';
import { decodeCompiledEcosystem, encodeCompiledEcosystem } from '../../lambdas/core/scanning/vulndb/format';
import { importVulnerabilityData } from '../../lambdas/core/scanning/vulndb/import';
import { NO_VULNERABILITY_DATA, VulnerabilityData } from '../../lambdas/core/scanning/vulndb/lookup';
import { OsvExportError, readOsvExports, readOsvZipStream } from '../../lambdas/core/scanning/vulndb/read-osv-export';
import { FilesystemVulnerabilityData } from '../../lambdas/storage/local/filesystem-vulnerability-data';
import type { VulnerabilityDataStore } from '../../lambdas/storage/ports';
import { scratchDir } from '../support/registry-harness';

const FIXTURES = join(__dirname, '../fixtures/scanning/osv');
const FIXTURE_NAMES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json'))
  .sort();
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const ALL_FIXTURES = FIXTURE_NAMES.map((name) => fixture(name));

/** Constructed: a PyPI advisory, which Berth cannot match (no PyPI inventory, no PEP 440 ordering). */
const PYPI_RECORD = {
  id: 'PYSEC-0000-0001',
  modified: '2024-01-01T00:00:00Z',
  affected: [{ package: { ecosystem: 'PyPI', name: 'requests' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.31.0' }] }] }],
};
/** Constructed: a range without `introduced`, which parseOsvRecord refuses. */
const BAD_RECORD = {
  id: 'GHSA-bad0-bad0-bad0',
  modified: '2024-01-01T00:00:00Z',
  affected: [{ package: { ecosystem: 'npm', name: 'left-pad' }, ranges: [{ type: 'SEMVER', events: [{ fixed: '1.3.0' }] }] }],
};

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const pkg = (ecosystem: string, name: string, version: string, sourceName?: string): InstalledPackage => ({
  ecosystem,
  name,
  version,
  path: 'test',
  ...(sourceName === undefined ? {} : { sourceName }),
});

/** One package per fixture record it is affected by, and some it is not (fixed, another release). */
const PACKAGES: InstalledPackage[] = [
  pkg('Debian:12', 'libssl3', '3.0.9-1', 'openssl'),
  pkg('Debian:12', 'openssl', '3.0.11-1~deb12u1'),
  pkg('Debian:12', 'zlib1g', '1:1.2.13.dfsg-1', 'zlib'),
  pkg('Alpine:v3.20', 'libcrypto3', '3.3.2-r0', 'openssl'),
  pkg('Ubuntu:22.04:LTS', 'libssl3', '3.0.2-0ubuntu1.18', 'openssl'),
  pkg('npm', 'lodash', '4.17.20'),
  pkg('npm', 'semver', '7.5.1'),
  pkg('npm', 'semver', '6.3.1'),
];

describe('compiling OSV records per ecosystem', () => {
  it('puts each record under every ecosystem it names, with only that ecosystem and package entries', async () => {
    const { ecosystems, report } = await compileOsvRecords(ALL_FIXTURES);
    expect(ecosystems.map((e) => e.ecosystem)).toEqual(['Alpine:v3.20', 'Debian:11', 'Debian:12', 'Ubuntu:22.04:LTS', 'npm']);
    expect(report).toMatchObject({ recordsRead: 9, imported: { 'Alpine:v3.20': 1, 'Debian:11': 2, 'Debian:12': 2, 'Ubuntu:22.04:LTS': 1, npm: 4 }, badCount: 0 });
    const debian11 = ecosystems.find((e) => e.ecosystem === 'Debian:11')!;
    const debian12 = ecosystems.find((e) => e.ecosystem === 'Debian:12')!;
    // DEBIAN-CVE-2023-45853 affects zlib in Debian 11 and 12: one copy each, with its own release's entry.
    expect(debian11.packages.zlib.map((r) => [r.id, r.affected])).toEqual([
      ['DEBIAN-CVE-2023-45853', [{ package: { ecosystem: 'Debian:11', name: 'zlib' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }], versions: ['1:1.2.11.dfsg-2+deb11u2'], ecosystem_specific: { urgency: 'unimportant' } }]],
    ]);
    expect(debian12.packages.zlib[0].affected.map((a) => a.package!.ecosystem)).toEqual(['Debian:12']);
    expect(Object.keys(debian12.packages)).toEqual(['openssl', 'zlib']);
    expect(debian12.sourceUpdatedAt).toBe('2025-06-02T09:41:18.552Z');
    const npm = ecosystems.find((e) => e.ecosystem === 'npm')!;
    // Latest `modified` of the four npm records (GHSA-35jh-r3h4-6jhm's).
    expect(npm.sourceUpdatedAt).toBe('2024-02-16T08:21:32.000Z');
    expect(npm.packages.lodash.map((r) => r.id)).toEqual(['GHSA-0000-0000-0001', 'GHSA-29mw-wpgm-hmr9', 'GHSA-35jh-r3h4-6jhm']);
    expect(npm.packages.semver[0].affected).toHaveLength(3);
  });

  it('gives the findings the whole records give, through a store and the lookup', async () => {
    const dir = scratchDir('vulndb-findings');
    try {
      const store = new FilesystemVulnerabilityData({ root: dir.path });
      await importVulnerabilityData(store, ALL_FIXTURES);
      const view = await new VulnerabilityData(store).forEcosystems(['Debian:12', 'Alpine:v3.20', 'Ubuntu:22.04:LTS', 'npm']);
      const fromStore = findingsOf(PACKAGES, view.recordsForPackages(PACKAGES));
      const fromRecords = findingsOf(PACKAGES, ALL_FIXTURES.map((r) => parseOsvRecord(r)));
      expect(fromStore).toEqual(fromRecords);
      expect(fromStore.map((f) => `${f.name} ${f.severity} ${f.attributes[0].value} ${f.attributes[1].value}`)).toEqual([
        'CVE-2024-9143 CRITICAL openssl 3.3.2-r0',
        'CVE-2021-23337 HIGH lodash 4.17.20',
        'CVE-2020-28500 MEDIUM lodash 4.17.20',
        'CVE-2022-25883 MEDIUM semver 7.5.1',
        'CVE-2024-9143 LOW openssl 3.0.2-0ubuntu1.18',
        'CVE-2023-45853 INFORMATIONAL zlib 1:1.2.13.dfsg-1',
        'CVE-2023-5363 UNDEFINED openssl 3.0.11-1~deb12u1',
        'CVE-2023-5363 UNDEFINED openssl 3.0.9-1',
      ]);
    } finally {
      dir.remove();
    }
  });

  it('skips and counts records of ecosystems Berth does not scan, and their entries in records it keeps', async () => {
    const mixed = { ...PYPI_RECORD, id: 'GHSA-mixd-mixd-mixd', affected: [...PYPI_RECORD.affected, fixture('GHSA-35jh-r3h4-6jhm.json').affected as unknown[]].flat() };
    const { ecosystems, report } = await compileOsvRecords([PYPI_RECORD, mixed, { id: 'OSV-NO-PACKAGE', modified: '2024-01-01T00:00:00Z', affected: [] }]);
    expect(report.skipped).toEqual({ records: 2, byEcosystem: { PyPI: 1, '(nothing to match)': 1 } });
    expect(ecosystems.map((e) => e.ecosystem)).toEqual(['npm']);
    expect(ecosystems[0].packages.lodash[0].affected.map((a) => a.package!.ecosystem)).toEqual(['npm']);
    expect(Object.keys(ecosystems[0].packages)).toEqual(['lodash']);
  });

  it('reports bad records with their id, field and file, and imports the rest', async () => {
    const { ecosystems, report } = await compileOsvRecords([
      BAD_RECORD,
      new OsvFile('export.zip:BROKEN.json', '{"id": "BROKEN-1", '),
      new OsvFile('export.zip:HUGE.json', '', 'larger than 16777216 bytes: not an OSV record'),
      { modified: '2024-01-01T00:00:00Z', affected: [] },
      new OsvFile('export.zip:GHSA-35jh-r3h4-6jhm.json', readFileSync(join(FIXTURES, 'GHSA-35jh-r3h4-6jhm.json'), 'utf8')),
    ]);
    expect(report.badCount).toBe(4);
    expect(report.bad).toEqual([
      { id: 'GHSA-bad0-bad0-bad0', field: 'affected[0].ranges[0].events', reason: expect.stringContaining('no introduced event') },
      { field: '', reason: expect.stringMatching(/^not JSON: /), source: 'export.zip:BROKEN.json' },
      { field: '', reason: 'larger than 16777216 bytes: not an OSV record', source: 'export.zip:HUGE.json' },
      { field: 'id', reason: 'a non-empty string is required' },
    ]);
    expect(report.recordsRead).toBe(5);
    expect(ecosystems.map((e) => [e.ecosystem, e.recordCount])).toEqual([['npm', 1]]);
  });

  it('keeps what matching, severity and findings read, the description bounded', async () => {
    const ubuntu = fixture('UBUNTU-CVE-2024-9143.json');
    const long = {
      id: 'DEBIAN-CVE-0000-0001',
      modified: '2024-01-01T00:00:00Z',
      details: `  ${'x'.repeat(DESCRIPTION_MAX + 500)}  `,
      published: '2023-01-01T00:00:00Z',
      references: [
        { type: 'PACKAGE', url: 'https://example.com/p' },
        { type: 'WEB', url: 'https://example.com/w1' },
        ...[1, 2, 3, 4].map((n) => ({ type: 'ADVISORY', url: `https://example.com/a${n}` })),
      ],
      affected: [
        { package: { ecosystem: 'Debian:12', name: 'zlib' }, ranges: [{ type: 'GIT', repo: 'https://example.com/zlib.git', events: [{ introduced: '0' }, { fixed: 'abc' }] }] },
        { package: { ecosystem: 'Debian:12', name: 'zlib' }, ranges: [{ type: 'GIT', repo: 'x', events: [{ introduced: '0' }] }, { type: 'ECOSYSTEM', events: [{ introduced: '0' }], database_specific: { x: 1 } }] },
      ],
    };
    const { ecosystems } = await compileOsvRecords([ubuntu, long, fixture('GHSA-35jh-r3h4-6jhm.json')]);
    const [debian, npm, ubuntuData] = ['Debian:12', 'npm', 'Ubuntu:22.04:LTS'].map((name) => ecosystems.find((e) => e.ecosystem === name)!);
    const kept = debian.packages.zlib[0];
    expect(kept.details).toHaveLength(DESCRIPTION_MAX);
    expect(kept.details!.endsWith('x…')).toBe(true);
    expect(kept.published).toBeUndefined();
    expect(kept.references!.map((r) => r.url)).toEqual(['https://example.com/a1', 'https://example.com/a2', 'https://example.com/a3', 'https://example.com/a4']);
    // A GIT-only entry matches nothing: gone; the other keeps its ECOSYSTEM range alone.
    expect(kept.affected).toEqual([{ package: { ecosystem: 'Debian:12', name: 'zlib' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] }]);
    // With a summary, the details are never shown.
    expect(npm.packages.lodash[0]).toMatchObject({ summary: 'Command Injection in lodash', database_specific: { severity: 'HIGH' } });
    expect(npm.packages.lodash[0].details).toBeUndefined();
    expect(npm.packages.lodash[0].references!.map((r) => r.type)).toEqual(['ADVISORY', 'WEB', 'WEB']);
    // Ubuntu's binaries list is not read by the scanner; its severity words are.
    expect(ubuntuData.packages.openssl[0].affected[0].ecosystem_specific).toBeUndefined();
    expect(ubuntuData.packages.openssl[0].severity).toEqual(ubuntu.severity);
  });

  it('keeps the copy of a record modified last, whatever the order', async () => {
    const older = fixture('GHSA-35jh-r3h4-6jhm.json');
    const newer = { ...older, modified: '2025-01-01T00:00:00Z', summary: 'newer' };
    for (const order of [
      [older, newer],
      [newer, older],
    ]) {
      const { ecosystems, report } = await compileOsvRecords(order);
      expect(report.duplicates).toBe(1);
      expect(ecosystems[0].packages.lodash.map((r) => r.summary)).toEqual(['newer']);
      expect(ecosystems[0].recordCount).toBe(1);
    }
  });

  it('keeps a bare distribution name as its own ecosystem, which the lookup merges into each release', async () => {
    const bare = {
      id: 'DEBIAN-CVE-0000-0002',
      modified: '2024-01-01T00:00:00Z',
      affected: [{ package: { ecosystem: 'Debian', name: 'zlib' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1:1.3-1' }] }] }],
    };
    // The same record named for Debian:12 too: one record in the lookup, with both entries.
    const both = { ...bare, id: 'DEBIAN-CVE-0000-0003', affected: [...bare.affected, { ...bare.affected[0], package: { ecosystem: 'Debian:12', name: 'zlib' } }] };
    const dir = scratchDir('vulndb-bare');
    try {
      const store = new FilesystemVulnerabilityData({ root: dir.path });
      const { imported } = await importVulnerabilityData(store, [...ALL_FIXTURES, bare, both]);
      expect(imported).toEqual(['Alpine:v3.20', 'Debian', 'Debian:11', 'Debian:12', 'Ubuntu:22.04:LTS', 'npm']);
      const view = await new VulnerabilityData(store).forEcosystems(['Debian:12']);
      const records = view.recordsFor('Debian:12', 'zlib');
      expect(records.map((r) => r.id).sort()).toEqual(['DEBIAN-CVE-0000-0002', 'DEBIAN-CVE-0000-0003', 'DEBIAN-CVE-2023-45853']);
      expect(records.find((r) => r.id === 'DEBIAN-CVE-0000-0003')!.affected.map((a) => a.package!.ecosystem).sort()).toEqual(['Debian', 'Debian:12']);
      expect(findingsOf([pkg('Debian:12', 'zlib1g', '1:1.2.13.dfsg-1', 'zlib')], records).map((f) => f.name)).toEqual([
        'CVE-2023-45853',
        'DEBIAN-CVE-0000-0002',
        'DEBIAN-CVE-0000-0003',
      ]);
      expect(view.recordsFor('Ubuntu:22.04:LTS', 'zlib')).toEqual([]);
      expect((await new VulnerabilityData(store).forEcosystems(['Debian:11'])).recordsFor('Debian:11', 'zlib').map((r) => r.id).sort()).toEqual([
        'DEBIAN-CVE-0000-0002',
        'DEBIAN-CVE-0000-0003',
        'DEBIAN-CVE-2023-45853',
      ]);
    } finally {
      dir.remove();
    }
  });

  it('encodes to gzipped JSON that decodes to the same data, and refuses another format', async () => {
    const { ecosystems } = await compileOsvRecords(ALL_FIXTURES);
    const bytes = encodeCompiledEcosystem(ecosystems[0]);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(decodeCompiledEcosystem(bytes, ecosystems[0].ecosystem)).toEqual(JSON.parse(JSON.stringify(ecosystems[0])));
    expect(() => decodeCompiledEcosystem(bytes, 'npm')).toThrow(/not of format 1/);
    expect(() => decodeCompiledEcosystem(Buffer.from('not gzip'), 'npm')).toThrow(/unreadable/);
  });
});

describe('reading OSV exports', () => {
  const work = scratchDir('vulndb-read');
  afterAll(() => work.remove());
  const zipOf = (entries: Record<string, Uint8Array>) => Buffer.from(zipSync(entries, { level: 6 }));
  const fixtureEntries = () => Object.fromEntries(FIXTURE_NAMES.map((name) => [name, readFileSync(join(FIXTURES, name))]));
  const ids = (files: OsvFile[]) => files.map((f) => (JSON.parse(f.text) as { id: string }).id);

  it('reads a zip as OSV publishes them, one record per .json entry, passing over other entries', async () => {
    const path = join(work.path, 'all.zip');
    writeFileSync(path, zipOf({ ...fixtureEntries(), 'docs/': new Uint8Array(0), 'modified_id.csv': strToU8('2025-01-01T00:00:00Z,DSA-5532-1\n') }));
    const files = await collect(readOsvExports([path]));
    expect(ids(files)).toEqual(ALL_FIXTURES.map((r) => r.id));
    expect(files[0].source).toBe(`${path}:${FIXTURE_NAMES[0]}`);
  });

  it('reads a zip written as a stream (sizes in data descriptors after each entry)', async () => {
    const chunks: Uint8Array[] = [];
    const zip = new Zip((err, data) => {
      if (err) throw err;
      chunks.push(data);
    });
    for (const name of FIXTURE_NAMES) {
      const entry = new ZipDeflate(name, { level: 6 });
      zip.add(entry);
      entry.push(readFileSync(join(FIXTURES, name)), true);
    }
    zip.end();
    const bytes = Buffer.concat(chunks);
    // General purpose flag bit 3: the local header carries no sizes.
    expect(bytes.readUInt16LE(6) & 8).toBe(8);
    const path = join(work.path, 'streamed.zip');
    writeFileSync(path, bytes);
    expect(ids(await collect(readOsvExports([path])))).toEqual(ALL_FIXTURES.map((r) => r.id));
  });

  it('hands each record on as soon as the chunks that complete it are read', async () => {
    // ~6 MB of stored (incompressible) records in 64 KiB chunks, as a file or a request body arrives.
    const entries: Record<string, [Uint8Array, { level: 0 }]> = {};
    for (let i = 0; i < 3000; i++) {
      const details = Buffer.from(new Uint8Array(1500).map((_, j) => (i * 31 + j * 7) % 251)).toString('base64');
      entries[`PYSEC-0000-${String(i).padStart(4, '0')}.json`] = [strToU8(JSON.stringify({ ...PYPI_RECORD, id: `PYSEC-0000-${i}`, details })), { level: 0 }];
    }
    const bytes = zipSync(entries);
    const CHUNK = 64 * 1024;
    let chunksRead = 0;
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += CHUNK) {
        chunksRead++;
        yield bytes.subarray(at, at + CHUNK);
      }
    }
    const readAt: number[] = [];
    for await (const file of readOsvZipStream('large.zip', chunks())) {
      expect(file.unreadable).toBeUndefined();
      readAt.push(chunksRead);
    }
    expect(readAt).toHaveLength(3000);
    // The first record came with the first chunk, the middle one with the middle chunks, the last before
    // the central directory (the zip's last few chunks): never all of them at the end.
    const total = Math.ceil(bytes.length / CHUNK);
    expect(readAt[0]).toBe(1);
    expect(Math.abs(readAt[1499] - total / 2)).toBeLessThan(4);
    expect(readAt[2999]).toBeGreaterThan(total - 6);
    // As a file, read in chunks of 1 MiB: the first chunk's head says zip, its tail is far from it.
    const path = join(work.path, 'large.zip');
    writeFileSync(path, bytes);
    expect((await collect(readOsvExports([path]))).length).toBe(3000);
  });

  it('reads a folder recursively (.json records and .zip exports, in name order) and .json files given directly', async () => {
    const folder = join(work.path, 'osv');
    mkdirSync(join(folder, 'Debian'), { recursive: true });
    mkdirSync(join(folder, 'npm'), { recursive: true });
    writeFileSync(join(folder, 'Debian', 'DSA-5532-1.json'), readFileSync(join(FIXTURES, 'DSA-5532-1.json')));
    writeFileSync(join(folder, 'Debian', 'README.txt'), 'not a record');
    writeFileSync(join(folder, 'npm', 'all.zip'), zipOf({ 'GHSA-29mw-wpgm-hmr9.json': readFileSync(join(FIXTURES, 'GHSA-29mw-wpgm-hmr9.json')) }));
    // A byte order mark, as some editors write.
    writeFileSync(join(folder, 'A.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(join(FIXTURES, 'DSA-5417-1.json'))]));
    // A link to a record is read; a link back up the tree is not followed.
    symlinkSync(join(FIXTURES, 'GHSA-0000-0000-0001.json'), join(folder, 'linked.json'));
    symlinkSync(folder, join(folder, 'loop'));
    const single = join(FIXTURES, 'GHSA-c2qf-rxjj-qqgw.json');
    const files = await collect(readOsvExports([folder, single]));
    expect(ids(files)).toEqual(['DSA-5417-1', 'DSA-5532-1', 'GHSA-0000-0000-0001', 'GHSA-29mw-wpgm-hmr9', 'GHSA-c2qf-rxjj-qqgw']);
    expect(files.map((f) => f.source)).toEqual([
      join(folder, 'A.json'),
      join(folder, 'Debian', 'DSA-5532-1.json'),
      join(folder, 'linked.json'),
      `${join(folder, 'npm', 'all.zip')}:GHSA-29mw-wpgm-hmr9.json`,
      single,
    ]);
  });

  it('reports a corrupt entry as a bad record and reads the entries after it', async () => {
    const bytes = zipOf(fixtureEntries());
    // The first entry's deflate data starts after its local header; block type 3 is invalid.
    bytes[30 + bytes.readUInt16LE(26) + bytes.readUInt16LE(28)] = 0x07;
    const path = join(work.path, 'corrupt.zip');
    writeFileSync(path, bytes);
    const { report, ecosystems } = await compileOsvRecords(readOsvExports([path]));
    expect(report.bad).toEqual([{ field: '', reason: expect.stringMatching(/^unreadable zip entry: /), source: `${path}:${FIXTURE_NAMES[0]}` }]);
    expect(FIXTURE_NAMES[0]).toBe('ALPINE-CVE-2024-9143.json');
    expect(report.imported).toEqual({ 'Debian:11': 2, 'Debian:12': 2, 'Ubuntu:22.04:LTS': 1, npm: 4 });
    expect(ecosystems).toHaveLength(4);
  });

  it('stops at what is not a zip, a zip cut short, and a path it cannot read', async () => {
    const whole = zipOf(fixtureEntries());
    const cases: Array<[string, Uint8Array | null, RegExp]> = [
      ['text.zip', Buffer.from('{"id": "not a zip"}'), /not a zip file/],
      ['empty.zip', Buffer.alloc(0), /empty file/],
      ['cut-inside.zip', whole.subarray(0, 600), /unreadable zip/],
      // Cut where the second entry starts: every entry read is whole, the central directory is missing.
      ['cut-between.zip', whole.subarray(0, whole.indexOf(Buffer.from([0x50, 0x4b, 3, 4]), 4)), /no end of central directory/],
      ['missing.zip', null, /no such file or folder/],
      ['records.tar.gz', Buffer.from('x'), /not an OSV export/],
    ];
    for (const [name, bytes, error] of cases) {
      const path = join(work.path, name);
      if (bytes !== null) writeFileSync(path, bytes);
      const reading = collect(readOsvExports([path]));
      await expect(reading).rejects.toThrow(OsvExportError);
      await expect(reading).rejects.toThrow(error);
    }
  });
});

describe('importing and looking up', () => {
  let dir: ReturnType<typeof scratchDir>;
  beforeEach(() => {
    dir = scratchDir('vulndb-lookup');
  });
  afterEach(() => dir.remove());

  /** The store, counting the ecosystem files read. */
  function countingStore(): { store: VulnerabilityDataStore; reads: string[] } {
    const inner = new FilesystemVulnerabilityData({ root: dir.path });
    const reads: string[] = [];
    const store: VulnerabilityDataStore = {
      startImport: () => inner.startImport(),
      putEcosystem: (g, e, b) => inner.putEcosystem(g, e, b),
      publishImport: (g, e) => inner.publishImport(g, e),
      discardImport: (g) => inner.discardImport(g),
      currentGeneration: () => inner.currentGeneration(),
      readEcosystem: (g, e) => {
        reads.push(e);
        return inner.readEcosystem(g, e);
      },
    };
    return { store, reads };
  }

  it('says there is no data before the first import', async () => {
    const data = new VulnerabilityData(countingStore().store);
    expect(await data.isEmpty()).toBe(true);
    const view = await data.forEcosystems(['Debian:12', 'npm']);
    expect(view.isEmpty()).toBe(true);
    expect(view.generation).toBeNull();
    expect(view.sourceUpdatedAt(['Debian:12'])).toBeUndefined();
    expect(NO_VULNERABILITY_DATA).toBe('no vulnerability data imported');
  });

  it("gives a scan the oldest source time of the data it used, and tells which ecosystems have none", async () => {
    const { store } = countingStore();
    await importVulnerabilityData(store, ALL_FIXTURES);
    const data = new VulnerabilityData(store);
    expect(await data.isEmpty()).toBe(false);
    const view = await data.forEcosystems(['Debian:12', 'npm']);
    expect(view.sourceUpdatedAt(['Debian:12', 'npm'])).toBe('2024-02-16T08:21:32.000Z');
    expect(view.sourceUpdatedAt(['Debian:12'])).toBe('2025-06-02T09:41:18.552Z');
    expect([view.covers('Debian:12'), view.covers('npm'), view.covers('Debian:13'), view.covers('Debian:11')]).toEqual([true, true, false, false]);
    expect(view.recordsFor('npm', 'left-pad')).toEqual([]);
    expect(view.recordsFor('npm', 'constructor')).toEqual([]);
    expect((await data.listEcosystems()).map((e) => e.ecosystem)).toEqual(['Alpine:v3.20', 'Debian:11', 'Debian:12', 'Ubuntu:22.04:LTS', 'npm']);
  });

  it('loads an ecosystem once per generation that wrote it, within a bounded cache', async () => {
    const { store, reads } = countingStore();
    await importVulnerabilityData(store, ALL_FIXTURES);
    const data = new VulnerabilityData(store, { maxCachedEcosystems: 2 });
    await data.forEcosystems(['Debian:12', 'npm']);
    await data.forEcosystems(['Debian:12', 'npm']);
    expect(reads.sort()).toEqual(['Debian:12', 'npm']);
    // npm imported again: its file is new, Debian:12's is the one already loaded.
    const newer = { ...fixture('GHSA-35jh-r3h4-6jhm.json'), modified: '2025-03-01T00:00:00Z' };
    await importVulnerabilityData(store, [newer]);
    reads.length = 0;
    const view = await data.forEcosystems(['Debian:12', 'npm']);
    expect(reads).toEqual(['npm']);
    expect(view.recordsFor('npm', 'lodash').map((r) => r.id)).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(view.sourceUpdatedAt(['npm'])).toBe('2025-03-01T00:00:00.000Z');
    // A third ecosystem pushes the least recently used out.
    reads.length = 0;
    await data.forEcosystems(['Alpine:v3.20']);
    await data.forEcosystems(['npm']);
    await data.forEcosystems(['Debian:12']);
    expect(reads).toEqual(['Alpine:v3.20', 'Debian:12']);
  });

  it('reads the pointer again when a newer import removed a file it named', async () => {
    const { store } = countingStore();
    await importVulnerabilityData(store, ALL_FIXTURES);
    const stale = await store.currentGeneration();
    await importVulnerabilityData(store, [fixture('GHSA-35jh-r3h4-6jhm.json')]);
    expect(await store.readEcosystem(stale!.generation, 'npm')).toBeNull();
    let calls = 0;
    const data = new VulnerabilityData({
      currentGeneration: async () => (calls++ === 0 ? stale : store.currentGeneration()),
      readEcosystem: (g, e) => store.readEcosystem(g, e),
    });
    const view = await data.forEcosystems(['npm']);
    expect(calls).toBe(2);
    expect(view.generation).not.toBe(stale!.generation);
    expect(view.recordsFor('npm', 'lodash').map((r) => r.id)).toEqual(['GHSA-35jh-r3h4-6jhm']);
  });

  it('publishes nothing when nothing compiled, and discards the generation of an import that failed', async () => {
    const { store } = countingStore();
    const nothing = await importVulnerabilityData(store, fromArray([PYPI_RECORD, BAD_RECORD]));
    expect(nothing).toMatchObject({ published: null, imported: [], report: { badCount: 1, skipped: { records: 1 } } });
    expect(await store.currentGeneration()).toBeNull();
    await importVulnerabilityData(store, [fixture('DSA-5532-1.json')]);
    const before = await store.currentGeneration();
    let puts = 0;
    const failing: VulnerabilityDataStore = {
      ...store,
      putEcosystem: async (g, e, b) => {
        if (++puts === 2) throw new Error('disk full');
        return store.putEcosystem(g, e, b);
      },
    };
    await expect(importVulnerabilityData(failing, ALL_FIXTURES)).rejects.toThrow('disk full');
    expect(await store.currentGeneration()).toEqual(before);
    expect(readdirSync(join(dir.path, 'generations'))).toEqual([before!.generation]);
  });
});
