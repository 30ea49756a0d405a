/**
 * What the inventory parsers share: the OS context they stamp on packages, how they report skipped
 * records, and package URLs (purl) for the SBOM, encoded as the purl specification's "Character
 * encoding" section says: every byte outside the letters, digits and `.-_~` is percent-encoded,
 * except the colon, which is never encoded (so Debian epochs read `1:2.66-4%2Bdeb12u2`).
 * Qualifiers are sorted by key, and those without a value are left out.
 */
import type { OsRelease } from '../model';

/** What the OS contributes to each package: the purl's namespace and distro, the OSV ecosystem. */
export interface DistroContext {
  os?: OsRelease;
  ecosystem: string;
}

/** Reports a record that was skipped, for the inventory's warnings. */
export type Warn = (message: string) => void;

const UNENCODED = /^[A-Za-z0-9._~:-]$/;
const utf8 = new TextEncoder();

/** Percent-encodes one purl component (a namespace segment, a name, a version or a qualifier value). */
export function purlEncode(component: string): string {
  let out = '';
  for (const char of component) {
    if (UNENCODED.test(char)) {
      out += char;
      continue;
    }
    for (const byte of utf8.encode(char)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Builds `pkg:<type>/<namespace>/<name>@<version>?<qualifiers>`. */
export function purlOf(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers: Record<string, string | undefined> = {},
): string {
  const prefix = namespace ? `pkg:${type}/${purlEncode(namespace)}/` : `pkg:${type}/`;
  const query = Object.entries(qualifiers)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${purlEncode(value)}`)
    .join('&');
  return `${prefix}${purlEncode(name)}@${purlEncode(version)}${query ? `?${query}` : ''}`;
}
