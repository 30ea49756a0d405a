/**
 * Debian and Ubuntu packages from dpkg's database: `var/lib/dpkg/status` (deb822 stanzas, one per
 * package dpkg knows of, installed or not) and distroless images' `var/lib/dpkg/status.d/<name>`
 * (one `dpkg-deb --field` output per package, no Status field: everything there is installed).
 * Advisories name the source package, so each binary carries its `Source:`.
 */
import type { InstalledPackage, OsRelease } from '../model';
import { purlOf, type DistroContext, type Warn } from './common';

/** One deb822 stanza: field names lower-cased (they are case-insensitive), continuation lines joined with `\n`. */
export type ControlStanza = Map<string, string>;

const FIELD = /^([^\s:][^:]*):(.*)$/;
const SOURCE = /^(\S+)(?:\s+\(([^)]+)\))?$/;

/**
 * Splits deb822 text into stanzas. A line starting with a space or tab continues the previous
 * field; blank lines (whitespace only) end a stanza. A line that is neither a field nor a
 * continuation is ignored rather than failing the whole database.
 */
export function parseControlStanzas(text: string): ControlStanza[] {
  const stanzas: ControlStanza[] = [];
  let current: ControlStanza | undefined;
  let lastField: string | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') {
      if (current && current.size > 0) stanzas.push(current);
      current = undefined;
      lastField = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current && lastField !== undefined) current.set(lastField, `${current.get(lastField)}\n${line.slice(1)}`);
      continue;
    }
    const match = FIELD.exec(line);
    if (!match) continue;
    current ??= new Map();
    lastField = match[1].trim().toLowerCase();
    current.set(lastField, match[2].trim());
  }
  if (current && current.size > 0) stanzas.push(current);
  return stanzas;
}

/**
 * Whether a Status (`want flag state`) means the files are on disk: its state is `installed`.
 * `hold ok installed` counts (a held package is installed); `deinstall ok config-files`,
 * `install ok unpacked`, `purge ok not-installed` and half-installed states do not.
 */
export function isInstalledStatus(status: string | undefined): boolean {
  const words = (status ?? '').trim().split(/\s+/);
  return words.length === 3 && words[2] === 'installed';
}

/** The packages of a `var/lib/dpkg/status` file that are installed. */
export function dpkgStatusPackages(text: string, path: string, distro: DistroContext, warn: Warn): InstalledPackage[] {
  return packagesOf(parseControlStanzas(text), path, distro, warn, true);
}

/**
 * The packages of one `var/lib/dpkg/status.d/` file (distroless): stanzas without a Status are
 * installed; one that has a Status is held to it as in the status file.
 */
export function dpkgStatusDirPackages(text: string, path: string, distro: DistroContext, warn: Warn): InstalledPackage[] {
  return packagesOf(parseControlStanzas(text), path, distro, warn, false);
}

function packagesOf(
  stanzas: ControlStanza[],
  path: string,
  distro: DistroContext,
  warn: Warn,
  requireStatus: boolean,
): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  if (stanzas.length === 0) warn(`${path}: no "Field: value" stanza; nothing read`);
  stanzas.forEach((stanza, index) => {
    const status = stanza.get('status');
    if ((requireStatus || status !== undefined) && !isInstalledStatus(status)) return;
    const name = stanza.get('package');
    const version = stanza.get('version');
    if (!name || !version) {
      warn(`${path}: stanza ${index + 1} has no ${name ? 'Version' : 'Package'} field; skipped`);
      return;
    }
    packages.push(packageOf(name, version, stanza, path, distro));
  });
  return packages;
}

function packageOf(name: string, version: string, stanza: ControlStanza, path: string, distro: DistroContext): InstalledPackage {
  const source = SOURCE.exec(stanza.get('source') ?? '');
  const pkg: InstalledPackage = {
    ecosystem: distro.ecosystem,
    name,
    version,
    sourceName: source?.[1] ?? name,
    path,
    purl: purlOf('deb', namespaceOf(distro.os), name, version, {
      arch: stanza.get('architecture'),
      distro: distro.os?.versionId ? `${distro.os.id}-${distro.os.versionId}` : undefined,
    }),
  };
  const sourceVersion = source?.[2]?.trim();
  if (sourceVersion && sourceVersion !== version) pkg.sourceVersion = sourceVersion;
  return pkg;
}

function namespaceOf(os: OsRelease | undefined): string {
  return os && os.id !== 'linux' ? os.id : 'debian';
}
