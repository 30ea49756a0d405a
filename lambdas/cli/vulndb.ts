/**
 * `berth vulndb`: the vulnerability data scans match against (core/scanning/vulndb/).
 * - `import FILE... --data-dir DIR`: OSV exports (`<ecosystem>/all.zip`, folders of records, `.json`
 *   records) compiled and published into a stopped server's data directory, under its lock as
 *   `berth gc` takes it. Bad records are listed and the rest imported.
 * - `status --data-dir DIR`: the published ecosystems, their records and their source's age. It
 *   reads the pointer without the lock: the pointer is replaced whole (a rename), so a running
 *   server's directory reads as well as a stopped one's.
 * A running server (`--endpoint`) and the deployment's bucket (`--execute-api`) are not reached yet.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { VulnerabilityDataGeneration } from '../storage/ports';
import type { CompileReport } from '../core/scanning/vulndb/compile';
import { importVulnerabilityData, type VulnerabilityImportResult } from '../core/scanning/vulndb/import';
import { OsvExportError, readOsvExports } from '../core/scanning/vulndb/read-osv-export';
import { DataDirInUseError, lockDataDir } from '../storage/local/data-dir-lock';
import { FilesystemVulnerabilityData } from '../storage/local/filesystem-vulnerability-data';
import { HELP } from './help';
import { count, fail } from './options';

export const VULNDB_USAGE = 'Usage: berth vulndb import FILE... [--data-dir DIR] [--json]\n       berth vulndb status [--data-dir DIR] [--json]';
/** Bad records printed; the rest are counted. */
const BAD_PRINTED = 20;

function failRun(message: string): never {
  process.stderr.write(`berth: vulndb: ${message}\n`);
  process.exit(1);
}

export async function vulndb(argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h') {
    process.stdout.write(HELP);
    return;
  }
  if (subcommand !== 'import' && subcommand !== 'status') fail(`berth vulndb takes a subcommand, import or status; got ${JSON.stringify(subcommand ?? '')}\n${VULNDB_USAGE}`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { 'data-dir': { type: 'string', default: './data' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${VULNDB_USAGE}`);
  }
  const { values, positionals: files } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (subcommand === 'import' && files.length === 0) fail(`berth vulndb import needs OSV exports: <ecosystem>/all.zip files, folders of OSV records or .json records\n${VULNDB_USAGE}`);
  if (subcommand === 'status' && files.length > 0) fail(`berth vulndb status takes no files\n${VULNDB_USAGE}`);
  const dataDir = values['data-dir'];
  if (!existsSync(dataDir)) fail(`no data directory at ${dataDir} (--data-dir names the one \`berth serve\` used)`);
  const root = resolve(dataDir);
  const store = new FilesystemVulnerabilityData({ root: join(root, 'vulndb') });
  if (subcommand === 'status') {
    const current = await store.currentGeneration();
    process.stdout.write(values.json ? `${JSON.stringify(current, null, 2)}\n` : renderStatus(current));
    return;
  }
  let result: VulnerabilityImportResult;
  try {
    const unlock = await lockDataDir(root);
    try {
      result = await importVulnerabilityData(store, readOsvExports(files));
    } finally {
      unlock();
    }
  } catch (err) {
    if (err instanceof DataDirInUseError) fail(`${err.message}; stop the server first (imports into a running server are not there yet)`);
    if (err instanceof OsvExportError) failRun(err.message);
    throw err;
  }
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : renderImport(result));
  if (result.published === null) process.exit(1);
}

const sizeOf = (bytes: number) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** Columns, the first left-aligned, the others right-aligned unless told. */
function table(rows: string[][], left: ReadonlySet<number> = new Set([0])): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (left.has(column) ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ').trimEnd());
}

export function renderImport(result: VulnerabilityImportResult): string {
  const { report, published } = result;
  const lines = [`read ${count(report.recordsRead, 'record')}`];
  const imported = Object.entries(report.imported);
  if (imported.length > 0) {
    const infos = new Map((published?.ecosystems ?? []).map((info) => [info.ecosystem, info]));
    const rows = [['ECOSYSTEM', 'RECORDS', 'SOURCE UPDATED'], ...imported.map(([ecosystem, n]) => [ecosystem, String(n), infos.get(ecosystem)?.sourceUpdatedAt ?? ''])];
    lines.push('imported:', ...table(rows, new Set([0, 2])).map((line) => `  ${line}`));
  }
  lines.push(...skippedLines(report));
  if (report.duplicates > 0) lines.push(`${count(report.duplicates, 'record')} seen twice in an ecosystem: the one modified last kept`);
  if (report.badCount > 0) {
    lines.push(`bad: ${count(report.badCount, 'record')} not imported`);
    for (const bad of report.bad.slice(0, BAD_PRINTED)) {
      lines.push(`  ${bad.id ?? '(no id)'}: ${bad.field === '' ? '' : `${bad.field}: `}${bad.reason}${bad.source === undefined ? '' : ` (${bad.source})`}`);
    }
    if (report.badCount > BAD_PRINTED) lines.push(`  ... and ${report.badCount - BAD_PRINTED} more (--json lists up to ${report.bad.length})`);
  }
  lines.push(
    published === null
      ? 'berth vulndb import: nothing to import, the data is unchanged'
      : `berth vulndb import: published ${count(result.imported.length, 'ecosystem')} (generation ${published.generation}); ` +
          `${count(published.ecosystems.length, 'ecosystem')} in all`,
  );
  return `${lines.join('\n')}\n`;
}

function skippedLines(report: CompileReport): string[] {
  if (report.skipped.records === 0) return [];
  const by = Object.entries(report.skipped.byEcosystem)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([ecosystem, n]) => `${ecosystem} ${n}`)
    .join(', ');
  return [`skipped ${count(report.skipped.records, 'record')} of ecosystems Berth does not scan: ${by}`];
}

export function renderStatus(current: VulnerabilityDataGeneration | null): string {
  if (current === null || current.ecosystems.length === 0) {
    return 'no vulnerability data imported: scans end FAILED until berth vulndb import loads some\n';
  }
  const rows = [
    ['ECOSYSTEM', 'RECORDS', 'SOURCE UPDATED', 'IMPORTED', 'SIZE'],
    ...current.ecosystems.map((info) => [info.ecosystem, String(info.recordCount), info.sourceUpdatedAt, info.importedAt, sizeOf(info.size)]),
  ];
  return `${[...table(rows, new Set([0, 2, 3])), `generation ${current.generation}, published ${current.publishedAt}`].join('\n')}\n`;
}
