import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { InstalledPackage } from '../../lambdas/core/scanning/model';
import { inventoryOf, isInventoryPath } from '../../lambdas/core/scanning/inventory';
import { apkPackages } from '../../lambdas/core/scanning/inventory/apk';
import { purlEncode } from '../../lambdas/core/scanning/inventory/common';
import { dpkgStatusPackages, isInstalledStatus, parseControlStanzas } from '../../lambdas/core/scanning/inventory/dpkg';
import { npmLockPackages, npmPackages } from '../../lambdas/core/scanning/inventory/npm';
import { osvEcosystemOf, parseOsRelease } from '../../lambdas/core/scanning/inventory/os-release';

const FIXTURES = join(__dirname, '../fixtures/scanning');

/** Every file under a fixture image's root, keyed as the layer reader keys them (no leading slash). */
function image(dir: string): Map<string, Uint8Array> {
  const root = join(FIXTURES, dir);
  const files = new Map<string, Uint8Array>();
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(root);
  return files;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const noWarn = (message: string): void => {
  throw new Error(`unexpected warning: ${message}`);
};

function deb(path: string, distro: string, ecosystem: string, arch: string, name: string, version: string, encodedVersion: string, sourceName: string, sourceVersion?: string): InstalledPackage {
  const [namespace] = distro.split('-');
  return {
    ecosystem,
    name,
    version,
    sourceName,
    ...(sourceVersion ? { sourceVersion } : {}),
    path,
    purl: `pkg:deb/${namespace}/${name}@${encodedVersion}?arch=${arch}&distro=${distro}`,
  };
}

describe('inventoryOf on fixtures made from real package databases', () => {
  it('Debian 12: installed packages of a trimmed real dpkg status, with Source names and versions, the config-files stanza left out', () => {
    const inventory = inventoryOf(image('debian-12'));
    const d = (arch: string, name: string, version: string, encoded: string, sourceName: string, sourceVersion?: string): InstalledPackage =>
      deb('var/lib/dpkg/status', 'debian-12', 'Debian:12', arch, name, version, encoded, sourceName, sourceVersion);
    expect(inventory.os).toStrictEqual({
      id: 'debian',
      versionId: '12',
      versionCodename: 'bookworm',
      version: '12 (bookworm)',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    });
    expect(inventory.ecosystem).toBe('Debian:12');
    expect(inventory.warnings).toStrictEqual([]);
    expect(inventory.packages).toStrictEqual([
      d('amd64', 'base-files', '12.4+deb12u11', '12.4%2Bdeb12u11', 'base-files'),
      d('amd64', 'bash', '5.2.15-2+b8', '5.2.15-2%2Bb8', 'bash', '5.2.15-2'),
      d('amd64', 'bsdutils', '1:2.38.1-5+deb12u3', '1:2.38.1-5%2Bdeb12u3', 'util-linux', '2.38.1-5+deb12u3'),
      d('all', 'ca-certificates', '20230311+deb12u1', '20230311%2Bdeb12u1', 'ca-certificates'),
      d('amd64', 'curl', '7.88.1-10+deb12u14', '7.88.1-10%2Bdeb12u14', 'curl'),
      d('amd64', 'libc6', '2.36-9+deb12u14', '2.36-9%2Bdeb12u14', 'glibc'),
      d('amd64', 'libcap2', '1:2.66-4+deb12u2+b2', '1:2.66-4%2Bdeb12u2%2Bb2', 'libcap2', '1:2.66-4+deb12u2'),
      d('amd64', 'libcurl4', '7.88.1-10+deb12u14', '7.88.1-10%2Bdeb12u14', 'curl'),
      d('amd64', 'libgcc-s1', '12.2.0-14+deb12u1', '12.2.0-14%2Bdeb12u1', 'gcc-12'),
      d('amd64', 'libssl3', '3.0.19-1~deb12u2', '3.0.19-1~deb12u2', 'openssl'),
      d('amd64', 'libsystemd0', '252.38-1~deb12u1', '252.38-1~deb12u1', 'systemd'),
      d('amd64', 'login', '1:4.13+dfsg1-1+deb12u2', '1:4.13%2Bdfsg1-1%2Bdeb12u2', 'shadow'),
      d('amd64', 'openssl', '3.0.19-1~deb12u2', '3.0.19-1~deb12u2', 'openssl'),
      d('all', 'tzdata', '2025b-0+deb12u2', '2025b-0%2Bdeb12u2', 'tzdata'),
      d('amd64', 'zlib1g', '1:1.2.13.dfsg-1', '1:1.2.13.dfsg-1', 'zlib'),
    ]);
    expect(inventory.packages.map((p) => p.name)).not.toContain('netbase');
  });

  it('distroless Debian 12: one status.d file per package, no Status field, md5sums files ignored', () => {
    const files = image('distroless-debian-12');
    expect([...files.keys()]).toContain('var/lib/dpkg/status.d/netbase.md5sums');
    const inventory = inventoryOf(files);
    const d = (arch: string, name: string, version: string, encoded: string, sourceName: string): InstalledPackage =>
      deb(`var/lib/dpkg/status.d/${name}`, 'debian-12', 'Debian:12', arch, name, version, encoded, sourceName);
    expect(inventory.ecosystem).toBe('Debian:12');
    expect(inventory.os?.prettyName).toBe('Distroless');
    expect(inventory.warnings).toStrictEqual([]);
    expect(inventory.packages).toStrictEqual([
      d('amd64', 'base-files', '12.4+deb12u15', '12.4%2Bdeb12u15', 'base-files'),
      d('amd64', 'libssl3', '3.0.22-1~deb12u2', '3.0.22-1~deb12u2', 'openssl'),
      d('all', 'netbase', '6.4', '6.4', 'netbase'),
      d('all', 'tzdata', '2026f-0+deb12u1', '2026f-0%2Bdeb12u1', 'tzdata'),
    ]);
  });

  it('Ubuntu 22.04 LTS: the ecosystem carries :LTS and purls the ubuntu namespace', () => {
    const inventory = inventoryOf(image('ubuntu-22.04'));
    const d = (arch: string, name: string, version: string, sourceName: string): InstalledPackage =>
      deb('var/lib/dpkg/status', 'ubuntu-22.04', 'Ubuntu:22.04:LTS', arch, name, version, version, sourceName);
    expect(inventory.ecosystem).toBe('Ubuntu:22.04:LTS');
    expect(inventory.os?.version).toBe('22.04.3 LTS (Jammy Jellyfish)');
    expect(inventory.packages).toStrictEqual([
      d('all', 'adduser', '3.118ubuntu5', 'adduser'),
      d('arm64', 'apparmor', '3.0.4-2ubuntu2.2', 'apparmor'),
      d('arm64', 'apt', '2.4.9', 'apt'),
      d('all', 'apt-transport-https', '2.4.9', 'apt'),
    ]);
  });

  it('Alpine 3.20: apk records keyed by origin, purls with the full VERSION_ID', () => {
    const inventory = inventoryOf(image('alpine-3.20'));
    const a = (name: string, version: string, sourceName: string, encodedName = name): InstalledPackage => ({
      ecosystem: 'Alpine:v3.20',
      name,
      version,
      sourceName,
      path: 'lib/apk/db/installed',
      purl: `pkg:apk/alpine/${encodedName}@${version}?arch=x86_64&distro=alpine-3.20.3`,
    });
    expect(inventory.ecosystem).toBe('Alpine:v3.20');
    expect(inventory.warnings).toStrictEqual([]);
    expect(inventory.packages).toStrictEqual([
      a('alpine-baselayout-data', '3.6.5-r0', 'alpine-baselayout'),
      a('apk-tools', '2.14.4-r0', 'apk-tools'),
      a('busybox', '1.36.1-r29', 'busybox'),
      a('busybox-binsh', '1.36.1-r29', 'busybox'),
      a('ca-certificates-bundle', '20240705-r0', 'ca-certificates'),
      a('libcrypto3', '3.3.2-r0', 'openssl'),
      a('libgcc', '13.2.1_git20240309-r0', 'gcc'),
      a('libssl3', '3.3.2-r0', 'openssl'),
      a('libstdc++', '13.2.1_git20240309-r0', 'gcc', 'libstdc%2B%2B'),
      a('musl', '1.2.5-r0', 'musl'),
      a('musl-utils', '1.2.5-r0', 'musl'),
      a('scanelf', '1.3.7-r2', 'pax-utils'),
      a('ssl_client', '1.36.1-r29', 'busybox'),
      a('zlib', '1.3.1-r1', 'zlib'),
    ]);
  });

  it('npm: lock entries not installed, then installed package.json files; dev entries, the root and fixture package.json files left out', () => {
    const inventory = inventoryOf(image('node-app'));
    const lock = 'usr/src/app/package-lock.json';
    const installed = (dir: string): string => `usr/src/app/node_modules/${dir}/package.json`;
    const n = (name: string, version: string, path: string, purlName = name): InstalledPackage => ({
      ecosystem: 'npm',
      name,
      version,
      path,
      purl: `pkg:npm/${purlName}@${version}`,
    });
    expect(inventory.os).toBeUndefined();
    expect(inventory.ecosystem).toBeUndefined();
    expect(inventory.warnings).toStrictEqual([]);
    expect(inventory.packages).toStrictEqual([
      n('b4a', '1.9.0', lock),
      n('fflate', '0.8.3', lock),
      n('streamx', '2.28.1', lock),
      n('@cyclonedx/cyclonedx-library', '10.3.0', installed('@cyclonedx/cyclonedx-library'), '%40cyclonedx/cyclonedx-library'),
      n('fast-uri', '3.1.9', installed('ajv/node_modules/fast-uri')),
      n('ajv', '8.20.0', installed('ajv')),
      n('resolve', '1.22.14', installed('resolve')),
      n('semver', '7.8.6', installed('semver')),
      n('tar-stream', '3.3.0', installed('tar-stream')),
    ]);
  });
});

describe('isInventoryPath', () => {
  it.each([
    ['etc/os-release', true],
    ['usr/lib/os-release', true],
    ['var/lib/dpkg/status', true],
    ['var/lib/dpkg/status-old', false],
    ['var/lib/dpkg/status.d/libssl3', true],
    ['var/lib/dpkg/status.d/libssl3.md5sums', false],
    ['var/lib/dpkg/status.d/sub/libssl3', false],
    ['lib/apk/db/installed', true],
    ['lib/apk/db/installed.bak', false],
    ['package-lock.json', true],
    ['usr/src/app/package-lock.json', true],
    ['usr/src/app/node_modules/foo/package-lock.json', false],
    ['usr/src/app/package.json', false],
    ['usr/src/app/node_modules/semver/package.json', true],
    ['usr/src/app/node_modules/@cyclonedx/cyclonedx-library/package.json', true],
    ['usr/src/app/node_modules/ajv/node_modules/fast-uri/package.json', true],
    ['usr/src/app/node_modules/@a/b/node_modules/@c/d/package.json', true],
    ['usr/local/lib/node_modules/npm/node_modules/cross-spawn/package.json', true],
    ['app/node_modules/.pnpm/semver@7.5.4/node_modules/semver/package.json', true],
    ['usr/src/app/node_modules/resolve/test/resolver/dot_main/package.json', false],
    ['usr/src/app/node_modules/a/test/node_modules/b/package.json', false],
    ['usr/src/app/node_modules/fflate/esm/package.json', false],
    ['usr/src/app/node_modules/@scope/package.json', false],
    ['usr/src/app/node_modules/.bin/package.json', false],
    ['usr/src/app/node_modules/package.json', false],
  ])('%s -> %s', (path, kept) => {
    expect(isInventoryPath(path)).toBe(kept);
  });
});

describe('os-release', () => {
  it('parses quotes, escapes and comments as the shell would, and ignores lines that are not assignments', () => {
    const os = parseOsRelease(
      [
        '# comment',
        '',
        'ID=ubuntu',
        'VERSION="22.04.3 LTS (Jammy \\"Jellyfish\\")"',
        "PRETTY_NAME='Ubuntu $NOT_EXPANDED \\n'",
        'VERSION_ID=22.04 # trailing comment',
        'VERSION_CODENAME=jam\\ my',
        'not an assignment',
        'BROKEN="never closed',
      ].join('\r\n'),
    );
    expect(os).toStrictEqual({
      id: 'ubuntu',
      versionId: '22.04',
      versionCodename: 'jam my',
      version: '22.04.3 LTS (Jammy "Jellyfish")',
      prettyName: 'Ubuntu $NOT_EXPANDED \\n',
    });
  });

  it('defaults ID to linux and gives undefined for a file without assignments', () => {
    expect(parseOsRelease('NAME=Something\n')).toStrictEqual({ id: 'linux' });
    expect(parseOsRelease('\u0000\u0001garbage\n')).toBeUndefined();
  });

  it('reads the committed Alpine 3.19 os-release as Alpine:v3.19', () => {
    const os = parseOsRelease(readFileSync(join(FIXTURES, 'os-release/alpine-3.19'), 'utf8'));
    expect(os).toStrictEqual({ id: 'alpine', versionId: '3.19.1', prettyName: 'Alpine Linux v3.19' });
    expect(osvEcosystemOf(os!)).toBe('Alpine:v3.19');
  });

  it.each([
    [{ id: 'debian', versionId: '12' }, 'Debian:12'],
    [{ id: 'debian', versionId: '11' }, 'Debian:11'],
    [{ id: 'debian', versionCodename: 'trixie', prettyName: 'Debian GNU/Linux trixie/sid' }, 'Debian:13'],
    [{ id: 'debian', versionCodename: 'sid' }, undefined],
    [{ id: 'debian' }, undefined],
    [{ id: 'ubuntu', versionId: '22.04', version: '22.04.3 LTS (Jammy Jellyfish)' }, 'Ubuntu:22.04:LTS'],
    [{ id: 'ubuntu', versionId: '24.04', prettyName: 'Ubuntu 24.04.1 LTS' }, 'Ubuntu:24.04:LTS'],
    [{ id: 'ubuntu', versionId: '23.10', version: '23.10 (Mantic Minotaur)' }, 'Ubuntu:23.10'],
    [{ id: 'alpine', versionId: '3.19.1' }, 'Alpine:v3.19'],
    [{ id: 'alpine', versionId: '3.21.0_alpha20240807' }, 'Alpine:v3.21'],
    [{ id: 'alpine' }, undefined],
    [{ id: 'fedora', versionId: '40' }, undefined],
  ])('%j -> %s', (os, ecosystem) => {
    expect(osvEcosystemOf(os)).toBe(ecosystem);
  });
});

describe('dpkg', () => {
  it('joins continuation lines and lower-cases field names', () => {
    const [stanza] = parseControlStanzas('Package: a\nDescription: short\n long line\n .\nVERSION: 1\n');
    expect(stanza.get('description')).toBe('short\nlong line\n.');
    expect(stanza.get('version')).toBe('1');
  });

  it.each([
    ['install ok installed', true],
    ['hold ok installed', true],
    ['deinstall ok config-files', false],
    ['install ok unpacked', false],
    ['install ok half-configured', false],
    ['purge ok not-installed', false],
    ['', false],
  ])('Status %j installed: %s', (status, installed) => {
    expect(isInstalledStatus(status)).toBe(installed);
  });

  it('reports an installed stanza without a Version and keeps the others', () => {
    const warnings: string[] = [];
    const packages = dpkgStatusPackages(
      'Package: broken\nStatus: install ok installed\n\nPackage: ok\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n',
      'var/lib/dpkg/status',
      { ecosystem: 'Debian' },
      (m) => warnings.push(m),
    );
    expect(packages.map((p) => [p.name, p.purl])).toStrictEqual([['ok', 'pkg:deb/debian/ok@1.0?arch=amd64']]);
    expect(warnings).toStrictEqual(['var/lib/dpkg/status: stanza 1 has no Version field; skipped']);
  });
});

describe('apk', () => {
  it('skips a record without a version, and uses the name when there is no origin', () => {
    const warnings: string[] = [];
    const packages = apkPackages('P:invalidPackageWithoutAVersion\n\nP:musl\nV:1.2.5-r0\nA:x86_64\n', 'lib/apk/db/installed', { ecosystem: 'Alpine' }, (m) => warnings.push(m));
    expect(packages).toStrictEqual([
      { ecosystem: 'Alpine', name: 'musl', version: '1.2.5-r0', sourceName: 'musl', path: 'lib/apk/db/installed', purl: 'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64' },
    ]);
    expect(warnings).toStrictEqual(['lib/apk/db/installed: record 1 (invalidPackageWithoutAVersion) has no V: line; skipped']);
  });
});

describe('npm', () => {
  it('skips link entries and workspace folders, and names an aliased package by its real name', () => {
    const lock = JSON.stringify({
      lockfileVersion: 3,
      packages: {
        '': { name: 'root', version: '1.0.0', workspaces: ['packages/a'] },
        'node_modules/a': { resolved: 'packages/a', link: true },
        'packages/a': { name: 'a', version: '0.1.0' },
        'packages/a/node_modules/left-pad': { version: '1.3.0' },
        'node_modules/old-semver': { name: 'semver', version: '5.7.2' },
      },
    });
    const found = npmLockPackages(lock, 'srv/package-lock.json', noWarn);
    expect(found.map((f) => [f.installDir, f.pkg.name, f.pkg.version])).toStrictEqual([
      ['srv/packages/a/node_modules/left-pad', 'left-pad', '1.3.0'],
      ['srv/node_modules/old-semver', 'semver', '5.7.2'],
    ]);
  });

  it('reads a v1 lock tree: nested installs, aliases, no dev entries, no git or file versions', () => {
    const lock = JSON.stringify({
      lockfileVersion: 1,
      dependencies: {
        express: { version: '4.17.1', dependencies: { qs: { version: '6.7.0' } } },
        jest: { version: '26.6.3', dev: true },
        legacy: { version: 'npm:lodash@4.17.21' },
        fork: { version: 'git+https://github.com/x/y.git#abc' },
        local: { version: 'file:../local' },
      },
    });
    expect(npmPackages([['package-lock.json', lock]], [], noWarn).map((p) => `${p.name}@${p.version}`)).toStrictEqual([
      'express@4.17.1',
      'qs@6.7.0',
      'lodash@4.17.21',
    ]);
  });

  it('skips manifests without a name or version, and reports invalid JSON', () => {
    const warnings: string[] = [];
    const packages = npmPackages(
      [['package-lock.json', '{ not json']],
      [
        ['node_modules/a/package.json', '{"private": true}'],
        ['node_modules/b/package.json', '\uFEFF{"name": "b", "version": "1.0.0-rc.1+build.5"}'],
        ['node_modules/c/package.json', 'nope'],
      ],
      (m) => warnings.push(m),
    );
    expect(packages.map((p) => p.purl)).toStrictEqual(['pkg:npm/b@1.0.0-rc.1%2Bbuild.5']);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^node_modules\/c\/package\.json: .*; skipped$/);
    expect(warnings[1]).toMatch(/^package-lock\.json: .*; skipped$/);
  });
});

describe('malformed input', () => {
  it('never throws: bad files are skipped and named in warnings, good ones still read', () => {
    const files = new Map<string, Uint8Array>([
      ['etc/os-release', bytes('')],
      ['usr/lib/os-release', bytes('ID=debian\nVERSION_ID="12"\n')],
      ['var/lib/dpkg/status', Uint8Array.from([0xff, 0xfe, 0x00, 0x0a, 0x0a, 0x80])],
      ['var/lib/dpkg/status.d/x', bytes('Package: x\nVersion: 1\n')],
      ['app/package-lock.json', bytes('[1, 2')],
      ['app/node_modules/y/package.json', bytes('{"name": 5}')],
      ['unrelated/file', bytes('ignored')],
    ]);
    const inventory = inventoryOf(files);
    expect(inventory.ecosystem).toBe('Debian:12');
    expect(inventory.packages.map((p) => `${p.name}@${p.version} ${p.path}`)).toStrictEqual(['x@1 var/lib/dpkg/status.d/x']);
    expect(inventory.warnings).toStrictEqual([
      'var/lib/dpkg/status: no "Field: value" stanza; nothing read',
      expect.stringMatching(/^app\/package-lock\.json: .*; skipped$/),
    ]);
  });

  it('lists packages under the bare distribution name when the OS has no OSV release, and says so', () => {
    const inventory = inventoryOf(
      new Map([
        ['etc/os-release', bytes('PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\nVERSION_CODENAME=sid\n')],
        ['var/lib/dpkg/status', bytes('Package: a\nStatus: install ok installed\nVersion: 1\n')],
      ]),
    );
    expect(inventory.ecosystem).toBeUndefined();
    expect(inventory.packages.map((p) => [p.ecosystem, p.purl])).toStrictEqual([['Debian', 'pkg:deb/debian/a@1']]);
    expect(inventory.warnings).toStrictEqual([
      'Debian GNU/Linux trixie/sid has no OSV release: its Debian packages are listed under "Debian" and match no release-scoped advisory',
    ]);
  });
});

describe('purl encoding', () => {
  it('percent-encodes all but letters, digits, .-_~ and the colon', () => {
    expect(purlEncode('1:2.66-4+deb12u2~b1')).toBe('1:2.66-4%2Bdeb12u2~b1');
    expect(purlEncode("a b/c@d?e#f!g'(h)*é")).toBe('a%20b%2Fc%40d%3Fe%23f%21g%27%28h%29%2A%C3%A9');
  });
});
