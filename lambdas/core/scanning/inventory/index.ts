/**
 * An image's package inventory from its final files of interest (the layer reader keeps the paths
 * isInventoryPath accepts, whiteouts applied, keyed without a leading slash): the OS, the OSV
 * ecosystem of its distribution packages, and every package found, OS packages first. A file that
 * cannot be read is skipped and named in `warnings`; inventoryOf itself never throws.
 */
import type { InstalledPackage, OsRelease } from '../model';
import { apkPackages } from './apk';
import type { DistroContext, Warn } from './common';
import { dpkgStatusDirPackages, dpkgStatusPackages } from './dpkg';
import { isLockfilePath, isNodeModulesManifestPath, npmPackages } from './npm';
import { osvEcosystemOf, parseOsRelease } from './os-release';

export { osvEcosystemOf, parseOsRelease } from './os-release';

/** What inventoryOf found. */
export interface Inventory {
  os?: OsRelease;
  /** The OSV ecosystem of the OS's own packages (`Debian:12`, ...), when OSV has one for it. */
  ecosystem?: string;
  packages: InstalledPackage[];
  /** Files or records skipped, and why. */
  warnings: string[];
}

const OS_RELEASE_PATHS = ['etc/os-release', 'usr/lib/os-release'];
const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_STATUS_DIR = 'var/lib/dpkg/status.d/';
const APK_INSTALLED = 'lib/apk/db/installed';

function normalize(path: string): string {
  return path.replace(/^(?:\.\/|\/)+/, '');
}

function isStatusDirEntry(path: string): boolean {
  if (!path.startsWith(DPKG_STATUS_DIR)) return false;
  const name = path.slice(DPKG_STATUS_DIR.length);
  // distroless keeps each package's file checksums beside it as `<name>.md5sums`: not a stanza.
  return name !== '' && !name.includes('/') && !name.startsWith('.') && !name.endsWith('.md5sums');
}

/** Whether the layer reader must keep a file (path without leading slash) for inventoryOf. */
export function isInventoryPath(path: string): boolean {
  const p = normalize(path);
  return (
    OS_RELEASE_PATHS.includes(p) ||
    p === DPKG_STATUS ||
    p === APK_INSTALLED ||
    isStatusDirEntry(p) ||
    isLockfilePath(p) ||
    isNodeModulesManifestPath(p)
  );
}

const utf8 = new TextDecoder('utf-8');

/** Lists an image's OS and installed packages from its files of interest. */
export function inventoryOf(files: ReadonlyMap<string, Uint8Array>): Inventory {
  const warnings: string[] = [];
  const warn: Warn = (message) => warnings.push(message);
  const texts = new Map<string, string>();
  for (const [path, bytes] of files) {
    const p = normalize(path);
    if (isInventoryPath(p)) texts.set(p, utf8.decode(bytes));
  }
  const paths = [...texts.keys()].sort();
  const read = <T>(path: string, parse: (text: string) => T): T | undefined => {
    try {
      return parse(texts.get(path) ?? '');
    } catch (error) {
      warn(`${path}: ${(error as Error).message}; skipped`);
      return undefined;
    }
  };

  const os = osReleaseOf(texts, warn);
  const ecosystem = os ? osvEcosystemOf(os) : undefined;
  const packages: InstalledPackage[] = [];
  // Not push(...found): a big node_modules tree would pass more arguments than the stack holds.
  const add = (found: readonly InstalledPackage[] | undefined): void => {
    for (const pkg of found ?? []) packages.push(pkg);
  };

  const dpkgPaths = paths.filter((p) => p === DPKG_STATUS || isStatusDirEntry(p));
  if (dpkgPaths.length > 0) {
    const distro = distroContext(os, ecosystem, ['debian', 'ubuntu'], os?.id === 'ubuntu' ? 'Ubuntu' : 'Debian', warn);
    for (const path of dpkgPaths) {
      const parse = path === DPKG_STATUS ? dpkgStatusPackages : dpkgStatusDirPackages;
      add(read(path, (text) => parse(text, path, distro, warn)));
    }
  }
  if (texts.has(APK_INSTALLED)) {
    const distro = distroContext(os, ecosystem, ['alpine'], 'Alpine', warn);
    add(read(APK_INSTALLED, (text) => apkPackages(text, APK_INSTALLED, distro, warn)));
  }

  const locks = paths.filter(isLockfilePath).map((p) => [p, texts.get(p) ?? ''] as const);
  const manifests = paths.filter(isNodeModulesManifestPath).map((p) => [p, texts.get(p) ?? ''] as const);
  try {
    add(npmPackages(locks, manifests, warn));
  } catch (error) {
    warn(`npm packages: ${(error as Error).message}; skipped`);
  }

  return { ...(os ? { os } : {}), ...(ecosystem ? { ecosystem } : {}), packages, warnings };
}

/** `etc/os-release` when it holds anything, else `usr/lib/os-release`, as os-release(5) says to read them. */
function osReleaseOf(texts: ReadonlyMap<string, string>, warn: Warn): OsRelease | undefined {
  for (const path of OS_RELEASE_PATHS) {
    const text = texts.get(path);
    // An empty etc/os-release is most often the symlink to ../usr/lib/os-release, not resolved.
    if (text === undefined || text.trim() === '') continue;
    const os = parseOsRelease(text);
    if (os) return os;
    warn(`${path}: no KEY=value assignment; skipped`);
  }
  return undefined;
}

/**
 * The ecosystem stamped on a package database's packages: the OS's, when the OS is of the
 * database's family (its purl namespace and distro then come from it too). Otherwise (no
 * os-release, Debian sid, a derivative, an apk database on a Debian image) the bare distribution
 * name: OSV's Debian, Ubuntu and Alpine records are all scoped to a release, so the packages match
 * none, but they stay in the SBOM.
 */
function distroContext(
  os: OsRelease | undefined,
  ecosystem: string | undefined,
  familyIds: readonly string[],
  fallback: string,
  warn: Warn,
): DistroContext {
  const sameFamily = os !== undefined && familyIds.includes(os.id);
  if (sameFamily && ecosystem) return { os, ecosystem };
  const where = os ? `${os.prettyName ?? os.id} has no OSV release` : 'no os-release';
  warn(`${where}: its ${fallback} packages are listed under "${fallback}" and match no release-scoped advisory`);
  return { os: sameFamily ? os : undefined, ecosystem: fallback };
}
