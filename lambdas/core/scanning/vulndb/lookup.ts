/**
 * The scanner's view of the vulnerability data (VulnerabilityDataStore): per image, the records of
 * its OS release and of npm, by the package name advisories use.
 *
 * `forEcosystems` reads the published pointer once and loads every ecosystem the scan needs from it,
 * so one scan never mixes two imports. A loaded ecosystem is kept (parsed) under the generation that
 * wrote its file: an import that does not carry it leaves it cached, one that does is loaded anew.
 * The cache holds a bounded number of ecosystems (an OS release's data is a hundred MB or more
 * parsed), least recently used out first. A file removed by a newer publication between the pointer read and the
 * file read makes the view read the pointer again, once.
 *
 * A release's records are merged with those of its bare distribution name (`Debian` for `Debian:12`),
 * which match.ts lets cover every release; a record present in both becomes one, with both
 * ecosystems' `affected` entries.
 */
import type { VulnerabilityDataGeneration, VulnerabilityDataStore, VulnerabilityEcosystemInfo } from '../../../storage/ports';
import type { InstalledPackage } from '../model';
import { advisoryIdentity, ecosystemCovers } from '../osv/match';
import type { OsvRecord } from '../osv/record';
import { decodeCompiledEcosystem, type CompiledEcosystem } from './format';

/** What a scan reports when the registry has no data to match against (issue 15). */
export const NO_VULNERABILITY_DATA = 'no vulnerability data imported';

export interface VulnerabilityDataOptions {
  /**
   * Parsed ecosystems kept in memory: a release's records take about 1.6 kB each parsed (60,000
   * records, about 100 MB). @default 3 (an OS release, its bare distribution name, npm)
   */
  maxCachedEcosystems?: number;
}

export type VulnerabilityDataReader = Pick<VulnerabilityDataStore, 'currentGeneration' | 'readEcosystem'>;

export class VulnerabilityData {
  private readonly cache = new Map<string, Promise<CompiledEcosystem>>();
  private readonly maxCached: number;

  constructor(
    private readonly store: VulnerabilityDataReader,
    options: VulnerabilityDataOptions = {},
  ) {
    this.maxCached = Math.max(1, options.maxCachedEcosystems ?? 3);
  }

  /** Whether nothing was ever imported (a scan then ends FAILED with NO_VULNERABILITY_DATA). */
  async isEmpty(): Promise<boolean> {
    return ((await this.store.currentGeneration())?.ecosystems.length ?? 0) === 0;
  }

  /** The published ecosystems, as `berth vulndb status` lists them. */
  async listEcosystems(): Promise<VulnerabilityEcosystemInfo[]> {
    return (await this.store.currentGeneration())?.ecosystems ?? [];
  }

  /** The data a scan of packages in `ecosystems` needs, all of one publication. */
  async forEcosystems(ecosystems: readonly string[]): Promise<VulnerabilityView> {
    for (let attempt = 1; ; attempt++) {
      const pointer = await this.store.currentGeneration();
      const needed = (pointer?.ecosystems ?? []).filter((info) => ecosystems.some((asked) => ecosystemCovers(info.ecosystem, asked)));
      try {
        const loaded = await Promise.all(needed.map(async (info) => ({ info, data: await this.load(info) })));
        return new VulnerabilityView(pointer, loaded);
      } catch (err) {
        if (!(err instanceof EcosystemGoneError) || attempt >= 2) throw err;
      }
    }
  }

  private load(info: VulnerabilityEcosystemInfo): Promise<CompiledEcosystem> {
    const key = `${info.generation}\u0000${info.ecosystem}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    // An older generation's copy of this ecosystem is never asked for again: it makes room now.
    for (const other of this.cache.keys()) if (other.endsWith(`\u0000${info.ecosystem}`)) this.cache.delete(other);
    const loading = this.store.readEcosystem(info.generation, info.ecosystem).then((bytes) => {
      if (bytes === null) throw new EcosystemGoneError(info);
      return decodeCompiledEcosystem(bytes, info.ecosystem);
    });
    this.cache.set(key, loading);
    // A failed load is not kept: the next scan tries again.
    loading.catch(() => {
      if (this.cache.get(key) === loading) this.cache.delete(key);
    });
    while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    return loading;
  }
}

class EcosystemGoneError extends Error {
  constructor(info: VulnerabilityEcosystemInfo) {
    super(`the vulnerability data of ${info.ecosystem} (generation ${info.generation}) is gone: a newer import replaced it`);
  }
}

/** One publication's data for one scan: synchronous lookups over the ecosystems it loaded. */
export class VulnerabilityView {
  private readonly loaded: ReadonlyArray<{ info: VulnerabilityEcosystemInfo; data: CompiledEcosystem }>;

  constructor(
    private readonly pointer: VulnerabilityDataGeneration | null,
    loaded: ReadonlyArray<{ info: VulnerabilityEcosystemInfo; data: CompiledEcosystem }>,
  ) {
    this.loaded = loaded;
  }

  /** The publication this view reads, or null when nothing was ever imported. */
  get generation(): string | null {
    return this.pointer?.generation ?? null;
  }

  /** Whether the registry has no vulnerability data at all (not: none for these ecosystems). */
  isEmpty(): boolean {
    return (this.pointer?.ecosystems.length ?? 0) === 0;
  }

  /** Whether some data covers `ecosystem` (its own, or its distribution's bare name). */
  covers(ecosystem: string): boolean {
    return this.loaded.some(({ info }) => ecosystemCovers(info.ecosystem, ecosystem));
  }

  /** The records naming `packageName` in `ecosystem` (the source package for distributions). */
  recordsFor(ecosystem: string, packageName: string): OsvRecord[] {
    const byId = new Map<string, OsvRecord>();
    for (const { info, data } of this.loaded) {
      if (!ecosystemCovers(info.ecosystem, ecosystem) || !Object.hasOwn(data.packages, packageName)) continue;
      for (const record of data.packages[packageName]) {
        const seen = byId.get(record.id);
        byId.set(record.id, seen === undefined ? record : { ...seen, affected: [...seen.affected, ...record.affected] });
      }
    }
    return [...byId.values()];
  }

  /** The records any of `packages` may match, each once: what findingsOf takes. */
  recordsForPackages(packages: readonly InstalledPackage[]): OsvRecord[] {
    const records = new Map<string, OsvRecord>();
    const asked = new Set<string>();
    for (const pkg of packages) {
      const { name } = advisoryIdentity(pkg);
      const key = `${pkg.ecosystem}\u0000${name}`;
      if (asked.has(key)) continue;
      asked.add(key);
      for (const record of this.recordsFor(pkg.ecosystem, name)) {
        // The same record under another package keeps its entries for both (matchPackage filters by name).
        const seen = records.get(record.id);
        records.set(record.id, seen === undefined ? record : mergeEntries(seen, record));
      }
    }
    return [...records.values()];
  }

  /**
   * ECR's vulnerabilitySourceUpdatedAt for a scan of `ecosystems`: the oldest `sourceUpdatedAt` of
   * the data covering them, so a stale source is not hidden behind a fresh one; undefined when none does.
   */
  sourceUpdatedAt(ecosystems: readonly string[]): string | undefined {
    const times = this.loaded
      .filter(({ info }) => ecosystems.some((asked) => ecosystemCovers(info.ecosystem, asked)))
      .map(({ info }) => info.sourceUpdatedAt)
      .sort();
    return times[0];
  }
}

function mergeEntries(a: OsvRecord, b: OsvRecord): OsvRecord {
  const affected = [...a.affected];
  for (const entry of b.affected) if (!affected.includes(entry)) affected.push(entry);
  return { ...a, affected };
}
