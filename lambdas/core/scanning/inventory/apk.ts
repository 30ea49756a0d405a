/**
 * Alpine packages from `lib/apk/db/installed`: blank-line separated records of `X:value` lines
 * (`P` name, `V` version, `A` arch, `o` origin, and file lines `F`/`R`/`Z`/... that are not needed
 * here). Alpine's advisories (secdb, and OSV's Alpine records) name the origin (source) package.
 */
import type { InstalledPackage } from '../model';
import { purlOf, type DistroContext, type Warn } from './common';

/** One record's single-letter fields; a letter seen twice keeps its first value (only file lines repeat). */
export type ApkRecord = Map<string, string>;

/** Splits an apk installed database into records. */
export function parseApkRecords(text: string): ApkRecord[] {
  const records: ApkRecord[] = [];
  let current: ApkRecord = new Map();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') {
      if (current.size > 0) records.push(current);
      current = new Map();
      continue;
    }
    if (line.length < 2 || line[1] !== ':') continue;
    if (!current.has(line[0])) current.set(line[0], line.slice(2));
  }
  if (current.size > 0) records.push(current);
  return records;
}

/** The installed packages of an apk database; records without a name or version are skipped and reported. */
export function apkPackages(text: string, path: string, distro: DistroContext, warn: Warn): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  const records = parseApkRecords(text);
  if (records.length === 0) warn(`${path}: no "X:value" record; nothing read`);
  records.forEach((record, index) => {
    const name = record.get('P');
    const version = record.get('V');
    if (!name || !version) {
      warn(`${path}: record ${index + 1}${name ? ` (${name})` : ''} has no ${name ? 'V:' : 'P:'} line; skipped`);
      return;
    }
    const os = distro.os;
    packages.push({
      ecosystem: distro.ecosystem,
      name,
      version,
      sourceName: record.get('o') || name,
      path,
      purl: purlOf('apk', os && os.id !== 'linux' ? os.id : 'alpine', name, version, {
        arch: record.get('A'),
        distro: os?.versionId ? `${os.id}-${os.versionId}` : undefined,
      }),
    });
  });
  return packages;
}
