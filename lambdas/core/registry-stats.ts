/**
 * What `berth stats` shows: per repository and for the registry, the images, tags, blob links and
 * the bytes they hold, and what the garbage collector last freed (docs/garbage-collection.md,
 * "Seeing it"). A repository's stored bytes are the sizes of the blobs it links; the registry's count
 * each distinct blob once, however many repositories link it, which is what the disk holds.
 * Manifest bodies kept in the metadata store are not counted.
 */
import { RegistryError } from './errors';
import { validateRepositoryName } from './names';
import type { CollectionReport } from './garbage-collection';
import type { MetadataStore } from '../storage/ports';
import { allItems, allPages } from './paging';

export type StatsMetadata = Pick<MetadataStore, 'getRepository' | 'listRepositories' | 'listManifests' | 'listBlobLinks'>;

export interface RepositoryStats {
  repository: string;
  /** Manifests (an index and each of its children count). */
  images: number;
  tags: number;
  /** Blobs the repository links. */
  blobs: number;
  /** The sum of the sizes of the blobs it links. */
  storedBytes: number;
}

export interface RegistryStats {
  repositories: RepositoryStats[];
  registry: {
    repositories: number;
    images: number;
    tags: number;
    /** Distinct blobs linked by the repositories counted. */
    blobs: number;
    /** The sizes of those distinct blobs: a layer shared by two repositories counts once. */
    storedBytes: number;
  };
}

/** What the garbage collector last did, as the local data directory keeps it (`gc-last.json`). */
export interface LastCollection {
  finishedAt: string;
  durationMs: number;
  /** Links removed. */
  unlinked: number;
  /** Content deleted. */
  deleted: number;
  bytesFreed: number;
  /** False when the run stopped at its deadline (the next run goes on). */
  complete: boolean;
}

/** The answer of `GET /v2/_berth/stats` and of `berth stats --json`. */
export interface StatsReport extends RegistryStats {
  lastCollection: LastCollection | null;
}

export interface StatsOptions {
  /** Only this repository (NAME_UNKNOWN when it does not exist). @default every repository */
  repository?: string;
  /** The repositories of a page the caller may see (access control's filterCatalog). @default all */
  visible?: (names: string[]) => Promise<string[]>;
}

const PAGE = 500;

export async function computeRegistryStats(metadata: StatsMetadata, options: StatsOptions = {}): Promise<RegistryStats> {
  const repositories: RepositoryStats[] = [];
  const distinct = new Set<string>();
  const registry = { repositories: 0, images: 0, tags: 0, blobs: 0, storedBytes: 0 };

  const count = async (repository: string) => {
    const stats: RepositoryStats = { repository, images: 0, tags: 0, blobs: 0, storedBytes: 0 };
    for await (const image of allItems((last) => metadata.listManifests(repository, { last, limit: PAGE }), (record) => record.digest)) {
      stats.images++;
      stats.tags += image.tags.length;
    }
    for await (const link of allItems((last) => metadata.listBlobLinks(repository, { last, limit: PAGE }), (l) => l.digest)) {
      stats.blobs++;
      stats.storedBytes += link.size;
      if (distinct.has(link.digest)) continue;
      distinct.add(link.digest);
      registry.blobs++;
      registry.storedBytes += link.size;
    }
    repositories.push(stats);
    registry.repositories++;
    registry.images += stats.images;
    registry.tags += stats.tags;
  };

  if (options.repository !== undefined) {
    const name = validateRepositoryName(options.repository);
    if (options.visible && (await options.visible([name])).length === 0) throw new RegistryError('DENIED', `not authorized to describe repository ${name}`);
    if (!(await metadata.getRepository(name))) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not found`);
    await count(name);
  } else {
    for await (const names of allPages((last) => metadata.listRepositories({ last, limit: PAGE }), (name) => name)) {
      for (const name of options.visible ? await options.visible(names) : names) await count(name);
    }
  }
  return { repositories, registry };
}

/** The summary of a collector's report that stats show and the data directory keeps. */
export function lastCollectionOfReport(report: CollectionReport, startedMs: number, finishedMs: number): LastCollection {
  return {
    finishedAt: new Date(finishedMs).toISOString(),
    durationMs: finishedMs - startedMs,
    unlinked: report.unlinked.length,
    deleted: report.deleted.length,
    bytesFreed: report.bytesFreed,
    complete: report.complete,
  };
}
