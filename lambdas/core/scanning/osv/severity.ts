/**
 * A finding's ECR severity (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED) from an OSV record.
 *
 * 1. The record's own severity words, where the ecosystem's database gives them. These are read, the
 *    matched `affected` entries first (a distribution rates per release), then the record's top level:
 *    - `severity[]` of type `Ubuntu` (Ubuntu's priority: negligible, low, medium, high, critical;
 *      `untriaged` is no rating), in an `affected` entry or at the top level (UBUNTU-CVE records);
 *    - `affected[].ecosystem_specific.urgency` (the Debian security tracker's urgency, which
 *      osv.dev's DEBIAN-CVE records carry per release: unimportant, low, medium, high; `not yet
 *      assigned` and `end-of-life` are no rating);
 *    - `affected[].ecosystem_specific.severity` and `affected[].database_specific.severity` (the
 *      schema's own examples: Python's and Rust's `HIGH`);
 *    - `database_specific.severity` (GitHub's advisories: LOW, MODERATE, HIGH, CRITICAL).
 *    Several matched entries: the highest word wins. Alpine's records carry no words (secdb has none),
 *    nor do Debian's DSA/DLA records.
 * 2. Else the highest CVSS v3.0/v3.1 base score among the `CVSS_V3` vectors of the matched entries
 *    and the top level, computed here from the vector by FIRST's formulas (not taken from any
 *    database's number), and mapped as Amazon Inspector maps scores for ECR's scans: 0 INFORMATIONAL,
 *    0.1-3.9 LOW, 4.0-6.9 MEDIUM, 7.0-8.9 HIGH, 9.0-10.0 CRITICAL. CVSS v4 vectors are not scored
 *    (v4's score is a lookup over macro-vectors, not a formula; Inspector too scores by v3.1) and v2
 *    vectors are not mapped onto v3's bands.
 * 3. Else UNDEFINED, which is what ECR's API calls Inspector's "untriaged" (the vendor has not rated it).
 *
 * Words map as Clair did for ECR's first basic scanning: Ubuntu's negligible and Debian's unimportant
 * to INFORMATIONAL, GitHub's MODERATE to MEDIUM.
 */
import type { EcrSeverity } from '../model';
import type { OsvAffected, OsvRecord, OsvSeverity } from './record';

/** ECR's levels from most to least severe, UNDEFINED last: the order findings are listed in. */
export const SEVERITY_ORDER: readonly EcrSeverity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];

/** A severity and where it came from, with the CVSS v3 vector behind it when there is one. */
export interface RecordSeverity {
  severity: EcrSeverity;
  source: 'words' | 'cvss3' | 'none';
  /** The highest-scoring usable CVSS v3 vector of the record, whatever decided the severity. */
  cvss3?: { vector: string; score: number };
}

const WORDS: Readonly<Record<string, EcrSeverity>> = {
  critical: 'CRITICAL',
  high: 'HIGH',
  moderate: 'MEDIUM',
  medium: 'MEDIUM',
  low: 'LOW',
  negligible: 'INFORMATIONAL',
  unimportant: 'INFORMATIONAL',
};

/** ECR's level for a severity word of a vulnerability database, or undefined for a word that rates nothing (`not yet assigned`, `untriaged`). */
export function severityOfWord(word: string): EcrSeverity | undefined {
  // The Debian tracker marks a doubtful urgency with asterisks (`low**`).
  const key = word.trim().toLowerCase().replace(/\*+$/, '');
  return Object.hasOwn(WORDS, key) ? WORDS[key] : undefined;
}

/** ECR's (Inspector's) level for a CVSS base score. */
export function severityOfCvssScore(score: number): EcrSeverity {
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  if (score > 0) return 'LOW';
  return 'INFORMATIONAL';
}

/** The record's severity for a package it matched through `affected` (all its entries when not given). */
export function recordSeverity(record: OsvRecord, affected: readonly OsvAffected[] = record.affected): RecordSeverity {
  const cvss3 = highestCvss3([...affected.flatMap((entry) => entry.severity ?? []), ...(record.severity ?? [])]);
  const withCvss = (result: RecordSeverity): RecordSeverity => (cvss3 === undefined ? result : { ...result, cvss3 });
  const words = highest(affected.flatMap(entryWords)) ?? highest(recordWords(record));
  if (words !== undefined) return withCvss({ severity: words, source: 'words' });
  if (cvss3 !== undefined) return withCvss({ severity: severityOfCvssScore(cvss3.score), source: 'cvss3' });
  return { severity: 'UNDEFINED', source: 'none' };
}

function entryWords(entry: OsvAffected): EcrSeverity[] {
  return [
    ...ubuntuWords(entry.severity),
    ...wordAt(entry.ecosystem_specific, 'urgency'),
    ...wordAt(entry.ecosystem_specific, 'severity'),
    ...wordAt(entry.database_specific, 'severity'),
  ];
}

function recordWords(record: OsvRecord): EcrSeverity[] {
  return [...ubuntuWords(record.severity), ...wordAt(record.database_specific, 'severity')];
}

function ubuntuWords(severity: readonly OsvSeverity[] | undefined): EcrSeverity[] {
  return (severity ?? []).flatMap((s) => (s.type === 'Ubuntu' ? wordsOf(s.score) : []));
}

function wordAt(object: Record<string, unknown> | undefined, key: string): EcrSeverity[] {
  const value = object?.[key];
  return typeof value === 'string' ? wordsOf(value) : [];
}

function wordsOf(word: string): EcrSeverity[] {
  const level = severityOfWord(word);
  return level === undefined ? [] : [level];
}

function highest(levels: readonly EcrSeverity[]): EcrSeverity | undefined {
  if (levels.length === 0) return undefined;
  return levels.reduce((a, b) => (SEVERITY_ORDER.indexOf(b) < SEVERITY_ORDER.indexOf(a) ? b : a));
}

function highestCvss3(severity: readonly OsvSeverity[]): { vector: string; score: number } | undefined {
  let best: { vector: string; score: number } | undefined;
  for (const s of severity) {
    if (s.type !== 'CVSS_V3') continue;
    let score: number;
    try {
      score = cvss3BaseScore(s.score);
    } catch {
      continue; // an unreadable vector rates nothing; another vector or the words may
    }
    if (best === undefined || score > best.score) best = { vector: s.score, score };
  }
  return best;
}

// ---- CVSS v3.0 / v3.1 base score (FIRST, "CVSS v3.1: Specification Document", sections 7.1 and 7.4) ----

/** A vector string CVSS v3 cannot read. */
export class CvssVectorError extends Error {
  constructor(
    readonly vector: string,
    reason: string,
  ) {
    super(`invalid CVSS v3 vector ${JSON.stringify(vector)}: ${reason}`);
    this.name = 'CvssVectorError';
  }
}

/** The base metrics of a CVSS v3 vector. */
export interface Cvss3BaseMetrics {
  version: '3.0' | '3.1';
  AV: 'N' | 'A' | 'L' | 'P';
  AC: 'L' | 'H';
  PR: 'N' | 'L' | 'H';
  UI: 'N' | 'R';
  S: 'U' | 'C';
  C: 'H' | 'L' | 'N';
  I: 'H' | 'L' | 'N';
  A: 'H' | 'L' | 'N';
}

const BASE_VALUES: Readonly<Record<string, readonly string[]>> = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'R'],
  S: ['U', 'C'],
  C: ['H', 'L', 'N'],
  I: ['H', 'L', 'N'],
  A: ['H', 'L', 'N'],
};

// Temporal and environmental metrics are allowed in a vector and do not change the base score.
const OTHER_VALUES: Readonly<Record<string, readonly string[]>> = {
  E: ['X', 'U', 'P', 'F', 'H'],
  RL: ['X', 'O', 'T', 'W', 'U'],
  RC: ['X', 'U', 'R', 'C'],
  CR: ['X', 'L', 'M', 'H'],
  IR: ['X', 'L', 'M', 'H'],
  AR: ['X', 'L', 'M', 'H'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'R'],
  MS: ['X', 'U', 'C'],
  MC: ['X', 'N', 'L', 'H'],
  MI: ['X', 'N', 'L', 'H'],
  MA: ['X', 'N', 'L', 'H'],
};

/** Reads a `CVSS:3.0/...` or `CVSS:3.1/...` vector (metrics in any order, each once, all eight base metrics present); throws CvssVectorError. */
export function parseCvss3Vector(vector: string): Cvss3BaseMetrics {
  const [prefix, ...parts] = vector.trim().split('/');
  const version = prefix === 'CVSS:3.0' ? '3.0' : prefix === 'CVSS:3.1' ? '3.1' : undefined;
  if (version === undefined) throw new CvssVectorError(vector, 'it must start with CVSS:3.0/ or CVSS:3.1/');
  const seen = new Map<string, string>();
  for (const part of parts) {
    const [metric, value, extra] = part.split(':');
    if (value === undefined || extra !== undefined) throw new CvssVectorError(vector, `${JSON.stringify(part)} is not METRIC:VALUE`);
    const allowed = Object.hasOwn(BASE_VALUES, metric) ? BASE_VALUES[metric] : Object.hasOwn(OTHER_VALUES, metric) ? OTHER_VALUES[metric] : undefined;
    if (allowed === undefined) throw new CvssVectorError(vector, `unknown metric ${metric}`);
    if (!allowed.includes(value)) throw new CvssVectorError(vector, `${metric} cannot be ${value} (one of ${allowed.join(', ')})`);
    if (seen.has(metric)) throw new CvssVectorError(vector, `${metric} is given twice`);
    seen.set(metric, value);
  }
  const missing = Object.keys(BASE_VALUES).filter((metric) => !seen.has(metric));
  if (missing.length > 0) throw new CvssVectorError(vector, `the base metric${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
  return { version, ...Object.fromEntries(Object.keys(BASE_VALUES).map((metric) => [metric, seen.get(metric)])) } as Cvss3BaseMetrics;
}

const AV = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 } as const;
const AC = { L: 0.77, H: 0.44 } as const;
const PR_UNCHANGED = { N: 0.85, L: 0.62, H: 0.27 } as const;
const PR_CHANGED = { N: 0.85, L: 0.68, H: 0.5 } as const;
const UI = { N: 0.85, R: 0.62 } as const;
const CIA = { H: 0.56, L: 0.22, N: 0 } as const;

/** The base score of a CVSS v3.0 or v3.1 vector, with the Roundup of the vector's own version. */
export function cvss3BaseScore(vector: string): number {
  const m = parseCvss3Vector(vector);
  const changed = m.S === 'C';
  const iss = 1 - (1 - CIA[m.C]) * (1 - CIA[m.I]) * (1 - CIA[m.A]);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * AV[m.AV] * AC[m.AC] * (changed ? PR_CHANGED : PR_UNCHANGED)[m.PR] * UI[m.UI];
  if (impact <= 0) return 0;
  const roundUp = m.version === '3.1' ? roundUp31 : roundUp30;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

/**
 * CVSS v3.1's Roundup (specification, Appendix A): the smallest number with one decimal place that is
 * at least the input, computed on integers so that a floating-point error below 10^-5 (4.000000000000001)
 * does not round up a whole tenth.
 */
export function roundUp31(input: number): number {
  const intInput = Math.round(input * 100000);
  if (intInput % 10000 === 0) return intInput / 100000;
  return (Math.floor(intInput / 10000) + 1) / 10;
}

/** CVSS v3.0's Round up (v3.0 specification, the base equations), as FIRST's v3.0 calculator computes it: Math.ceil on tenths. */
export function roundUp30(input: number): number {
  return Math.ceil(input * 10) / 10;
}
