/**
 * Findings in the shape of ECR's basic scanning (ImageScanFinding in DescribeImageScanFindings), one
 * per vulnerability and package:
 * - `name`: the CVE, as ECR's findings are named ("usually a CVE number", API reference): the record's
 *   own id when it is one, else its single CVE alias, else (distribution records keep CVEs in
 *   `upstream`, the schema forbidding them as aliases) its single CVE upstream; a record about several
 *   CVEs (a DSA fixing three) or none (a GHSA without CVE) keeps its own id, as no one CVE describes it.
 * - `description`: the summary, else the details, trimmed.
 * - `uri`: the record's first ADVISORY reference (DEBIAN-CVE records point at the Debian security
 *   tracker, as ECR's own Debian findings do), else its page on osv.dev.
 * - `severity`: severity.ts.
 * - `attributes`: ECR's keys for basic scans: `package_name`, `package_version`, and `CVSS3_SCORE`
 *   with `CVSS3_VECTOR` when the record has a readable CVSS v3 vector.
 *
 * The package is the one the advisory names: for a distribution, the source package at its source
 * version (ECR's findings on Debian name `linux`, not `linux-image-...`). So `libssl3` and `openssl`
 * installed from one openssl source give one finding, and a CVE that two records describe (a DSA and
 * the DEBIAN-CVE record) gives one too: the more severe, or on a tie the record whose id sorts first.
 * Findings are sorted by severity (CRITICAL first, UNDEFINED last), then name, package name and version.
 */
import type { EcrSeverity, InstalledPackage, ScanFinding } from '../model';
import { advisoryIdentity, matchPackage, recordsByPackageName, type MatchOptions } from './match';
import type { OsvAffected, OsvRecord } from './record';
import { recordSeverity, SEVERITY_ORDER } from './severity';

const CVE = /^CVE-\d{4}-\d{4,}$/;

/** The finding name for a record: its CVE when the record is about exactly one, else its id. */
export function findingName(record: OsvRecord): string {
  if (CVE.test(record.id)) return record.id;
  const aliases = distinct((record.aliases ?? []).filter((id) => CVE.test(id)));
  if (aliases.length === 1) return aliases[0];
  if (aliases.length === 0) {
    const upstream = distinct((record.upstream ?? []).filter((id) => CVE.test(id)));
    if (upstream.length === 1) return upstream[0];
  }
  return record.id;
}

/** The page a finding links to: the record's ADVISORY reference, else osv.dev's page for it. */
export function findingUri(record: OsvRecord): string {
  const advisory = record.references?.find((reference) => reference.type === 'ADVISORY');
  return advisory?.url ?? `https://osv.dev/vulnerability/${encodeURIComponent(record.id)}`;
}

/** The findings for an image's packages against OSV records, deduplicated and sorted; `options` as matchPackage's. */
export function findingsOf(packages: readonly InstalledPackage[], records: Iterable<OsvRecord>, options: MatchOptions = {}): ScanFinding[] {
  const index = recordsByPackageName(records);
  const kept = new Map<string, { finding: ScanFinding; recordId: string }>();
  for (const pkg of packages) {
    const identity = advisoryIdentity(pkg);
    for (const { record, affected } of matchPackage(pkg, index.get(identity.name) ?? [], options)) {
      const finding = toFinding(record, affected, identity);
      const key = [finding.name, identity.name, identity.version].join('\u0000');
      const previous = kept.get(key);
      if (previous === undefined || prefer(finding, record.id, previous.finding, previous.recordId)) kept.set(key, { finding, recordId: record.id });
    }
  }
  return [...kept.values()].map(({ finding }) => finding).sort(compareFindings);
}

/** ECR's `findingSeverityCounts`: how many findings at each level, levels without findings left out. */
export function severityCounts(findings: readonly ScanFinding[]): Partial<Record<EcrSeverity, number>> {
  const counts: Partial<Record<EcrSeverity, number>> = {};
  for (const level of SEVERITY_ORDER) {
    const count = findings.filter((finding) => finding.severity === level).length;
    if (count > 0) counts[level] = count;
  }
  return counts;
}

function toFinding(record: OsvRecord, affected: readonly OsvAffected[], identity: { name: string; version: string }): ScanFinding {
  const { severity, cvss3 } = recordSeverity(record, affected);
  const attributes = [
    { key: 'package_name', value: identity.name },
    { key: 'package_version', value: identity.version },
  ];
  if (cvss3 !== undefined) {
    attributes.push({ key: 'CVSS3_SCORE', value: cvss3.score.toFixed(1) }, { key: 'CVSS3_VECTOR', value: cvss3.vector });
  }
  const description = record.summary?.trim() || record.details?.trim() || undefined;
  return { name: findingName(record), ...(description === undefined ? {} : { description }), uri: findingUri(record), severity, attributes };
}

function prefer(candidate: ScanFinding, candidateId: string, current: ScanFinding, currentId: string): boolean {
  const byLevel = rank(candidate.severity) - rank(current.severity);
  return byLevel < 0 || (byLevel === 0 && candidateId < currentId);
}

function compareFindings(a: ScanFinding, b: ScanFinding): number {
  return rank(a.severity) - rank(b.severity) || compareText(a.name, b.name) || compareText(attribute(a, 'package_name'), attribute(b, 'package_name')) || compareText(attribute(a, 'package_version'), attribute(b, 'package_version'));
}

function rank(level: EcrSeverity): number {
  return SEVERITY_ORDER.indexOf(level);
}

function attribute(finding: ScanFinding, key: string): string {
  return finding.attributes.find((a) => a.key === key)?.value ?? '';
}

// Code-unit order, not the locale's: the same findings list the same way on every machine.
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}
