/**
 * An import of OSV records into a VulnerabilityDataStore, whoever runs it (`berth vulndb import
 * --data-dir` today; a server action for `--endpoint` later): compile, write each ecosystem into a new
 * generation, publish it. Nothing is published when nothing compiled, and a failure before the
 * publication discards the generation, so readers keep the data they had.
 */
import type { VulnerabilityDataGeneration, VulnerabilityDataStore } from '../../../storage/ports';
import { compileOsvRecords, type CompileReport } from './compile';
import { encodeCompiledEcosystem } from './format';

export interface VulnerabilityImportResult {
  report: CompileReport;
  /** The publication, or null when no record compiled (nothing changed). */
  published: VulnerabilityDataGeneration | null;
  /** The ecosystems this import replaced or added. */
  imported: string[];
}

export interface VulnerabilityImportOptions {
  /** @default () => new Date() */
  now?: () => Date;
}

export async function importVulnerabilityData(
  store: Pick<VulnerabilityDataStore, 'startImport' | 'putEcosystem' | 'publishImport' | 'discardImport'>,
  records: Iterable<unknown> | AsyncIterable<unknown>,
  options: VulnerabilityImportOptions = {},
): Promise<VulnerabilityImportResult> {
  const { ecosystems, report } = await compileOsvRecords(records);
  if (ecosystems.length === 0) return { report, published: null, imported: [] };
  const importedAt = (options.now ?? (() => new Date()))().toISOString();
  const generation = await store.startImport();
  try {
    const infos = [];
    // One ecosystem encoded at a time: the gzipped copies are not all in memory at once.
    for (const compiled of ecosystems) {
      await store.putEcosystem(generation, compiled.ecosystem, encodeCompiledEcosystem(compiled));
      infos.push({ ecosystem: compiled.ecosystem, sourceUpdatedAt: compiled.sourceUpdatedAt, importedAt, recordCount: compiled.recordCount });
    }
    const published = await store.publishImport(generation, infos);
    return { report, published, imported: infos.map((info) => info.ecosystem) };
  } catch (err) {
    await store.discardImport(generation).catch(() => undefined);
    throw err;
  }
}
