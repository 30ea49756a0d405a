/**
 * Repository operations, shared by the OCI data plane (the Registry) and the ECR control plane:
 * "the repository must exist", creating one (explicitly or for a push), deleting it, and its
 * settings (tag mutability, scanning configuration, resource tags). Refusals are RegistryError
 * NAME_UNKNOWN (the OCI 404, ECR's RepositoryNotFoundException) or DomainErrors.
 */
import type { Page, PageRequest, RepositoryStore } from '../storage/ports';
import { DomainError } from './domain-errors';
import { RegistryError } from './errors';
import { DEFAULT_REPOSITORY_SETTINGS, type RepositorySettings, type RepositorySettingsRecord, type ResourceTag } from './model';

/** ECR's quota of resource tags per repository. */
export const MAX_RESOURCE_TAGS = 50;

/** What a repository that does not exist is, to every caller. */
export function unknownRepository(name: string, message?: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', message, { name });
}

export function tooManyTags(count: number): DomainError<'TOO_MANY_TAGS'> {
  return new DomainError('TOO_MANY_TAGS', { count, max: MAX_RESOURCE_TAGS });
}

export class Repositories {
  constructor(private readonly store: RepositoryStore) {}

  /** The same operations reading the store every time (a cached role's uncached view): what the control plane answers from. */
  uncached(): Repositories {
    const store = this.store as RepositoryStore & { uncached?: () => RepositoryStore };
    return store.uncached ? new Repositories(store.uncached()) : this;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.store.getRepository(name)) !== null;
  }

  /** The repository must exist: NAME_UNKNOWN otherwise. */
  async require(name: string): Promise<void> {
    if (!(await this.exists(name))) throw unknownRepository(name);
  }

  /** Repository names, one page in byte order. */
  list(page: PageRequest): Promise<Page> {
    return this.store.listRepositories(page);
  }

  /** Creates a repository with `settings` (the defaults for what is not given); REPOSITORY_EXISTS when it exists. */
  async create(name: string, settings: Partial<RepositorySettings> = {}): Promise<RepositorySettingsRecord> {
    const created = await this.createIfAbsent(name, settings);
    if (!created) throw new DomainError('REPOSITORY_EXISTS', { name });
    return created;
  }

  /** As create, but null when the repository exists (a push racing another push that created it). */
  createIfAbsent(name: string, settings: Partial<RepositorySettings> = {}): Promise<RepositorySettingsRecord | null> {
    const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
    return this.store.createRepository(name, { ...DEFAULT_REPOSITORY_SETTINGS, ...given });
  }

  /**
   * Deletes a repository and answers the settings it had: REPOSITORY_NOT_EMPTY while it holds an
   * image unless `force` (then its images, tags, links and policy go too).
   */
  async delete(name: string, force: boolean): Promise<RepositorySettingsRecord> {
    const settings = await this.settings(name);
    const result = await this.store.deleteRepository(name, force);
    if (!result.ok && result.reason === 'unknown') throw unknownRepository(name);
    if (!result.ok) throw new DomainError('REPOSITORY_NOT_EMPTY', { name });
    return settings;
  }

  /** The repository's settings; NAME_UNKNOWN when it does not exist. */
  async settings(name: string): Promise<RepositorySettingsRecord> {
    const settings = await this.find(name);
    if (!settings) throw unknownRepository(name);
    return settings;
  }

  /** The repository's settings, or null when it does not exist (a listing leaves it out). */
  find(name: string): Promise<RepositorySettingsRecord | null> {
    return this.store.getRepositorySettings(name);
  }

  setTagMutability(name: string, mutability: Pick<RepositorySettings, 'imageTagMutability' | 'imageTagMutabilityExclusionFilters'>): Promise<RepositorySettingsRecord> {
    return this.update(name, (current) => ({ ...current, ...mutability }));
  }

  setScanningConfiguration(name: string, imageScanningConfiguration: RepositorySettings['imageScanningConfiguration']): Promise<RepositorySettingsRecord> {
    return this.update(name, (current) => ({ ...current, imageScanningConfiguration }));
  }

  /** Adds or replaces resource tags (by key; new keys keep the order given); TOO_MANY_TAGS, and nothing written, past the quota. */
  tag(name: string, tags: ResourceTag[]): Promise<RepositorySettingsRecord> {
    return this.update(name, (current) => {
      const merged = new Map(current.tags.map((t) => [t.Key, t.Value]));
      for (const t of tags) merged.set(t.Key, t.Value);
      // Thrown inside the update, so nothing is written.
      if (merged.size > MAX_RESOURCE_TAGS) throw tooManyTags(merged.size);
      return { ...current, tags: [...merged].map(([Key, Value]) => ({ Key, Value })) };
    });
  }

  /** Removes the resource tags with these keys (absent keys are no error). */
  untag(name: string, keys: readonly string[]): Promise<RepositorySettingsRecord> {
    const drop = new Set(keys);
    return this.update(name, (current) => ({ ...current, tags: current.tags.filter((t) => !drop.has(t.Key)) }));
  }

  private async update(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord> {
    const updated = await this.store.updateRepositorySettings(name, update);
    if (!updated) throw unknownRepository(name);
    return updated;
  }
}
