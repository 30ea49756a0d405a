/**
 * The repository role with its settings cached for a short while: a push reads a repository's
 * settings for every manifest PUT with a tag (tag immutability), and the settings change rarely.
 *
 * A write through this object (create, settings update, delete) drops the repository's entry, so
 * whoever shares it in one process sees the change at once: local mode gives the same object to the
 * Registry and the ECR API; on AWS the registry function's data and control planes share one per
 * container, and a change made by another container is seen within `ttlMs`. Only existing
 * repositories are cached: a repository a push creates (by its first link, not through here) is found
 * at once. The race itself (twenty pushes of one tag) is settled by the store's conditional write.
 */
import type { RepositorySettings, RepositorySettingsRecord } from './model';
import type { DeleteRepositoryResult, Page, PageRequest, RepositoryStore } from '../storage/ports';

/** How long a repository's settings are trusted without reading them again. */
export const SETTINGS_CACHE_MS = 5_000;

/** Entries kept at most; the oldest goes first. */
const MAX_ENTRIES = 10_000;

interface Entry {
  at: number;
  settings: Promise<RepositorySettingsRecord | null>;
}

export class CachedRepositorySettings implements RepositoryStore {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: RepositoryStore,
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? SETTINGS_CACHE_MS;
    this.now = options.now ?? Date.now;
  }

  getRepository(name: string) {
    return this.store.getRepository(name);
  }

  listRepositories(page: PageRequest): Promise<Page> {
    return this.store.listRepositories(page);
  }

  /** Concurrent reads of one repository share one store read. */
  getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null> {
    const at = this.now();
    const cached = this.entries.get(name);
    if (cached && at - cached.at <= this.ttlMs) return cached.settings;
    const entry: Entry = { at, settings: this.store.getRepositorySettings(name) };
    this.entries.delete(name);
    this.entries.set(name, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    // Neither a failed read nor "no such repository" is kept.
    const forget = () => this.entries.get(name) === entry && this.entries.delete(name);
    entry.settings.then((settings) => settings === null && forget(), forget);
    return entry.settings;
  }

  createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return this.writing(name, () => this.store.createRepository(name, settings));
  }

  updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return this.writing(name, () => this.store.updateRepositorySettings(name, update));
  }

  deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult> {
    return this.writing(name, () => this.store.deleteRepository(name, force));
  }

  /**
   * A view that reads the store every time (and refreshes the entry) and writes through this
   * cache: the control plane's view, so that DescribeRepositories after a change made by another
   * container is never stale, while the pushes of this container still see its own changes at once.
   */
  uncached(): RepositoryStore {
    const refreshed = (name: string, settings: Promise<RepositorySettingsRecord | null>) => {
      this.entries.delete(name);
      return settings;
    };
    return {
      getRepository: (name) => this.store.getRepository(name),
      listRepositories: (page) => this.store.listRepositories(page),
      getRepositorySettings: (name) => refreshed(name, this.store.getRepositorySettings(name)),
      createRepository: (name, settings) => this.createRepository(name, settings),
      updateRepositorySettings: (name, update) => this.updateRepositorySettings(name, update),
      deleteRepository: (name, force) => this.deleteRepository(name, force),
    };
  }

  /** Drops a repository's entry, before the write (a read racing it is not kept) and after. */
  private async writing<T>(name: string, write: () => Promise<T>): Promise<T> {
    this.entries.delete(name);
    try {
      return await write();
    } finally {
      this.entries.delete(name);
    }
  }
}
