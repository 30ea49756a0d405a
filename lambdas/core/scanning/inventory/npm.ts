/**
 * npm packages from two sources, merged: `package-lock.json` files (v2/v3 `packages` map, or v1's
 * `dependencies` tree) and installed `node_modules/<name>/package.json` files.
 *
 * Choices:
 * - A lock's `dev: true` entries are left out. An image built with `npm ci --omit=dev` keeps the
 *   lock that lists its dev dependencies without installing them, and reporting those would be
 *   findings for code that is not in the image; when dev dependencies are installed, their
 *   `node_modules` package.json files report them. `devOptional` and `optional` entries are kept.
 * - `link: true` entries are left out (the linked folder has its own entry), and so are entries
 *   whose key has no `node_modules/` (the root `""` and workspaces' own folders: the project's own
 *   code, not a dependency).
 * - Where a package.json is installed in the folder a lock entry names, the installed one is
 *   reported and the lock entry dropped, whatever the versions: the files on disk are what runs.
 * - An aliased dependency (`"x": "npm:real@1.2.3"`) is reported under its real name, which is
 *   the name advisories use.
 */
import type { InstalledPackage } from '../model';
import { purlOf, type Warn } from './common';

/** The npm ecosystem as OSV names it. */
export const NPM_ECOSYSTEM = 'npm';

const NODE_MODULES = 'node_modules/';
const ALIAS = /^npm:((?:@[^/@]+\/)?[^/@]+)@(.+)$/;

interface Found {
  /** The folder the package is installed in, from the image's root. */
  installDir: string;
  pkg: InstalledPackage;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  return JSON.parse(text.replace(/^\uFEFF/, ''));
}

function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function join(dir: string, rest: string): string {
  return dir ? `${dir}/${rest}` : rest;
}

/**
 * Whether a path is a package's own manifest in a node_modules tree: `node_modules/<name>/package.json`
 * or `node_modules/@scope/<name>/package.json`, nested installs (`.../node_modules/a/node_modules/b/...`)
 * and pnpm's store (`node_modules/.pnpm/<id>/node_modules/<name>/...`) included. A package.json
 * deeper inside a package (`node_modules/a/esm/package.json`, a test fixture's
 * `node_modules/a/test/node_modules/b/package.json`) is not one.
 */
export function isNodeModulesManifestPath(path: string): boolean {
  const segments = path.split('/');
  if (segments.pop() !== 'package.json') return false;
  let i = segments.indexOf('node_modules');
  if (i < 0) return false;
  while (i < segments.length) {
    if (segments[i] !== 'node_modules') return false;
    if (segments[i + 1] === '.pnpm' && segments[i + 2] && i + 3 < segments.length) {
      i += 3;
      continue;
    }
    const width = segments[i + 1]?.startsWith('@') ? 2 : 1;
    const name = segments.slice(i + 1, i + 1 + width);
    if (name.length !== width || name.some((part) => part === '' || part.startsWith('.'))) return false;
    i += 1 + width;
  }
  return true;
}

/** Whether a path is a project's `package-lock.json` (not one shipped inside a dependency). */
export function isLockfilePath(path: string): boolean {
  return (path === 'package-lock.json' || path.endsWith('/package-lock.json')) && !path.split('/').includes('node_modules');
}

function npmPackage(name: string, version: string, path: string): InstalledPackage {
  const scope = name.startsWith('@') ? name.slice(0, name.indexOf('/')) : undefined;
  const bare = scope ? name.slice(scope.length + 1) : name;
  return {
    ecosystem: NPM_ECOSYSTEM,
    name,
    version,
    path,
    // The purl npm type lower-cases scope and name; the package keeps npm's own spelling.
    purl: purlOf('npm', scope?.toLowerCase(), bare.toLowerCase(), version),
  };
}

/** The package a node_modules package.json describes, or undefined when it has no name or version. Throws on invalid JSON. */
export function npmManifestPackage(text: string, path: string): InstalledPackage | undefined {
  const manifest = parseJson(text);
  if (!isObject(manifest)) return undefined;
  const { name, version } = manifest;
  if (typeof name !== 'string' || typeof version !== 'string' || !name || !version) return undefined;
  return npmPackage(name, version, path);
}

/** The packages a lock file lists as installed, with the folder each is installed in. Throws on invalid JSON. */
export function npmLockPackages(text: string, lockPath: string, warn: Warn): Array<{ installDir: string; pkg: InstalledPackage }> {
  const lock = parseJson(text);
  if (!isObject(lock)) throw new Error('not a JSON object');
  const dir = dirname(lockPath);
  if (isObject(lock.packages)) return fromPackagesMap(lock.packages, dir, lockPath);
  if (isObject(lock.dependencies)) return fromDependencyTree(lock.dependencies, dir, lockPath);
  warn(`${lockPath}: neither a "packages" map nor a "dependencies" tree; no packages read`);
  return [];
}

function fromPackagesMap(packages: Json, dir: string, lockPath: string): Found[] {
  const found: Found[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    if (!isObject(entry) || entry.link === true || entry.dev === true) continue;
    const at = key.lastIndexOf(NODE_MODULES);
    if (at < 0 || (at > 0 && key[at - 1] !== '/')) continue;
    const name = typeof entry.name === 'string' && entry.name ? entry.name : key.slice(at + NODE_MODULES.length);
    if (typeof entry.version !== 'string' || !entry.version || !name) continue;
    found.push({ installDir: join(dir, key), pkg: npmPackage(name, entry.version, lockPath) });
  }
  return found;
}

function fromDependencyTree(dependencies: Json, parentDir: string, lockPath: string, found: Found[] = []): Found[] {
  for (const [folderName, entry] of Object.entries(dependencies)) {
    if (!isObject(entry)) continue;
    const installDir = join(parentDir, `node_modules/${folderName}`);
    if (entry.dev !== true && typeof entry.version === 'string') {
      const alias = ALIAS.exec(entry.version);
      const [name, version] = alias ? [alias[1], alias[2]] : [folderName, entry.version];
      // git, file: and URL dependencies carry a location, not a registry version advisories could name.
      if (version && !/[:/#]/.test(version)) found.push({ installDir, pkg: npmPackage(name, version, lockPath) });
    }
    if (isObject(entry.dependencies)) fromDependencyTree(entry.dependencies, installDir, lockPath, found);
  }
  return found;
}

/**
 * Merges lock files and installed manifests (each `[path, text]`) into one list: lock entries
 * first, in lock order, then installed packages in path order. A file that is not valid JSON is
 * skipped and reported.
 */
export function npmPackages(
  locks: ReadonlyArray<readonly [string, string]>,
  manifests: ReadonlyArray<readonly [string, string]>,
  warn: Warn,
): InstalledPackage[] {
  const installed = new Map<string, InstalledPackage>();
  for (const [path, text] of manifests) {
    try {
      const pkg = npmManifestPackage(text, path);
      if (pkg) installed.set(dirname(path), pkg);
    } catch (error) {
      warn(`${path}: ${(error as Error).message}; skipped`);
    }
  }
  const packages: InstalledPackage[] = [];
  for (const [path, text] of locks) {
    try {
      for (const { installDir, pkg } of npmLockPackages(text, path, warn)) {
        if (!installed.has(installDir)) packages.push(pkg);
      }
    } catch (error) {
      warn(`${path}: ${(error as Error).message}; skipped`);
    }
  }
  for (const pkg of installed.values()) packages.push(pkg);
  return packages;
}
