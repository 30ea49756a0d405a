/**
 * An image's OS from `etc/os-release` (os-release(5)), and the OSV ecosystem its packages' advisories
 * are filed under. OSV's names are taken from the schema's ecosystem list (ossf/osv-schema
 * `ecosystems.json`, rendered at ossf.github.io/osv-schema): `Debian:<RELEASE>` with the numeric
 * release of Debian's distro-info-data (`Debian:7` is wheezy); `Ubuntu:<YY.MM>` with a mandatory
 * `:LTS` suffix for LTS releases (`Ubuntu:22.04:LTS`); `Alpine:v<major.minor>`, where the `v` is
 * required (`Alpine:v3.16`).
 */
import type { OsRelease } from '../model';

/** Debian's codenames and releases (distro-info-data), for an os-release without VERSION_ID. */
const DEBIAN_RELEASES: Readonly<Record<string, string>> = {
  buzz: '1.1', rex: '1.2', bo: '1.3', hamm: '2.0', slink: '2.1', potato: '2.2', woody: '3.0', sarge: '3.1',
  etch: '4', lenny: '5', squeeze: '6', wheezy: '7', jessie: '8', stretch: '9', buster: '10',
  bullseye: '11', bookworm: '12', trixie: '13', forky: '14', duke: '15',
};

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/**
 * Reads os-release's shell-compatible assignments: `#` comments and blank lines ignored, values in
 * double quotes (where `\` escapes `$`, `"`, `\` and `` ` ``), single quotes (taken literally) or
 * bare (where `\` escapes any character, and unquoted whitespace ends the value). A line that is
 * not an assignment, or whose quote is never closed, is skipped; nothing is expanded.
 */
export function parseOsReleaseVariables(text: string): Map<string, string> {
  const variables = new Map<string, string>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '').trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const match = ASSIGNMENT.exec(line);
    if (!match) continue;
    const value = shellWord(match[2]);
    if (value !== undefined) variables.set(match[1], value);
  }
  return variables;
}

function shellWord(raw: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i];
    if (c === '"') {
      i += 1;
      while (i < raw.length && raw[i] !== '"') {
        if (raw[i] === '\\' && i + 1 < raw.length && '$"\\`'.includes(raw[i + 1])) {
          out += raw[i + 1];
          i += 2;
        } else {
          out += raw[i];
          i += 1;
        }
      }
      if (i >= raw.length) return undefined;
      i += 1;
    } else if (c === "'") {
      const end = raw.indexOf("'", i + 1);
      if (end < 0) return undefined;
      out += raw.slice(i + 1, end);
      i = end + 1;
    } else if (c === '\\') {
      if (i + 1 < raw.length) out += raw[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t') {
      // The shell would run what follows as a command; os-release allows only a trailing comment.
      break;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/**
 * Parses an os-release file. Returns undefined when it holds no assignment at all (an empty or
 * binary file); `ID` defaults to `linux`, as os-release(5) says.
 */
export function parseOsRelease(text: string): OsRelease | undefined {
  const variables = parseOsReleaseVariables(text);
  if (variables.size === 0) return undefined;
  const release: OsRelease = { id: variables.get('ID') || 'linux' };
  const versionId = variables.get('VERSION_ID');
  const versionCodename = variables.get('VERSION_CODENAME');
  const version = variables.get('VERSION');
  const prettyName = variables.get('PRETTY_NAME');
  if (versionId) release.versionId = versionId;
  if (versionCodename) release.versionCodename = versionCodename;
  if (version) release.version = version;
  if (prettyName) release.prettyName = prettyName;
  return release;
}

/**
 * The OSV ecosystem for an OS's distribution packages, or undefined when OSV has none for it.
 * Debian testing (an os-release with VERSION_CODENAME but no VERSION_ID) is named as the release it
 * will become (`trixie` -> `Debian:13`), the nearest scope OSV publishes; sid (unstable) has no
 * release and gives undefined. Alpine edge (`3.21.0_alpha20240807`) likewise maps to the branch it
 * will become.
 */
export function osvEcosystemOf(os: OsRelease): string | undefined {
  switch (os.id) {
    case 'debian': {
      const major = /^(\d+)/.exec(os.versionId ?? '')?.[1];
      if (major) return `Debian:${major}`;
      const fromCodename = os.versionCodename ? DEBIAN_RELEASES[os.versionCodename] : undefined;
      return fromCodename ? `Debian:${fromCodename}` : undefined;
    }
    case 'ubuntu': {
      const release = /^(\d+\.\d+)/.exec(os.versionId ?? '')?.[1];
      if (!release) return undefined;
      const lts = /\bLTS\b/.test(os.version ?? os.prettyName ?? '');
      return lts ? `Ubuntu:${release}:LTS` : `Ubuntu:${release}`;
    }
    case 'alpine': {
      const branch = /^(\d+)\.(\d+)/.exec(os.versionId ?? '');
      return branch ? `Alpine:v${branch[1]}.${branch[2]}` : undefined;
    }
    default:
      return undefined;
  }
}
