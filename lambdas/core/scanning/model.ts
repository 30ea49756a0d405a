/**
 * The scanner's shared vocabulary (issue 15, docs/scanning.md): what an image's layers yield (its
 * files of interest, its OS, its installed packages) and what matching them against OSV records
 * yields (findings in ECR's shape). The analyzer's parts (layers/, inventory/, versions/, osv/) each
 * read or produce these, and nothing else.
 */

/** An image's OS, from `etc/os-release` (or `usr/lib/os-release`). */
export interface OsRelease {
  /** `ID`: debian, ubuntu, alpine, ... */
  id: string;
  /** `VERSION_ID`: 12, 22.04, 3.19.1, ... */
  versionId?: string;
  /** `VERSION_CODENAME`: bookworm, jammy, ... */
  versionCodename?: string;
  /** `VERSION`: `22.04.3 LTS (Jammy Jellyfish)`: says whether an Ubuntu release is LTS. */
  version?: string;
  /** `PRETTY_NAME`. */
  prettyName?: string;
}

/**
 * A package as installed in the image, keyed as advisories key it. OSV's ecosystem names: `Debian:12`,
 * `Ubuntu:22.04:LTS` (`Ubuntu:23.10` for a release without LTS), `Alpine:v3.19`, `npm`.
 */
export interface InstalledPackage {
  /** The OSV ecosystem the advisories for this package are under. */
  ecosystem: string;
  /** The name as installed (a Debian binary package, an apk package, an npm package). */
  name: string;
  /** The version as installed. */
  version: string;
  /**
   * What distribution advisories name: the Debian `Source:` package (without its parenthesized
   * version) or the Alpine origin (`o:`). Absent: the same as `name`.
   */
  sourceName?: string;
  /** The source package's version, when the dpkg status gives one that differs from `version`. */
  sourceVersion?: string;
  /** Where it was found (the package database or the package.json), for the SBOM and findings. */
  path: string;
  /** A package URL (purl) for the SBOM: `pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12`, `pkg:apk/alpine/...`, `pkg:npm/...`. */
  purl?: string;
}

/** ECR's severity levels (DescribeImageScanFindings). */
export type EcrSeverity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'INFORMATIONAL' | 'UNDEFINED';

/** One finding, in the shape of ECR's ImageScanFinding (basic scanning). */
export interface ScanFinding {
  /** The vulnerability's id as users search for it: its CVE alias when it has one, else the OSV id. */
  name: string;
  description?: string;
  /** A page about it. */
  uri?: string;
  severity: EcrSeverity;
  /** ECR's attributes: `package_name`, `package_version`, `CVSS3_SCORE`, `CVSS3_VECTOR`, ... */
  attributes: Array<{ key: string; value: string }>;
}
