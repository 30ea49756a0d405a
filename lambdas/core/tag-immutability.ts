/**
 * Tag immutability from a repository's settings, for Registry's `isTagImmutable` option, so that
 * every push path (the OCI manifest PUT, and PutImage later) refuses to move an immutable tag.
 *
 * The settings are cached per process for a short while (SETTINGS_CACHE_MS): a push reads them
 * once per manifest PUT otherwise. A change made through the ECR API of the same process (local
 * mode: one process serves both) is seen at once, because the API calls forgetRepositorySettings
 * on the same store object; a change made in another process (AWS: the control-plane and registry
 * functions are separate Lambda containers) is seen within SETTINGS_CACHE_MS. The race itself
 * (twenty pushes of one tag) is settled by the metadata store's conditional write, not here.
 */
import type { MetadataStore, RepositorySettings } from '../storage/ports';

/** How long a repository's settings are trusted without reading them again. */
export const SETTINGS_CACHE_MS = 5_000;

type SettingsSource = Pick<MetadataStore, 'getRepositorySettings'>;

interface CacheEntry {
  at: number;
  settings: Promise<RepositorySettings | null>;
}

/** One cache per store object: the ECR API and the registry of one process share it. */
const caches = new WeakMap<object, Map<string, CacheEntry>>();

function cacheOf(store: object): Map<string, CacheEntry> {
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  return cache;
}

/** Drops the cached settings of a repository (the ECR API calls this after every change). */
export function forgetRepositorySettings(store: object, repository: string): void {
  caches.get(store)?.delete(repository);
}

/** Whether `filter` (ECR's WILDCARD filter: `*` matches any run of characters, possibly none) matches the whole tag. */
export function wildcardFilterMatches(filter: string, tag: string): boolean {
  const pattern = filter
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`, 's').test(tag);
}

/** Whether a tag may never move under these settings. */
export function isTagImmutableUnder(settings: Pick<RepositorySettings, 'imageTagMutability' | 'imageTagMutabilityExclusionFilters'>, tag: string): boolean {
  const excluded = () => settings.imageTagMutabilityExclusionFilters.some((f) => wildcardFilterMatches(f.filter, tag));
  switch (settings.imageTagMutability) {
    case 'IMMUTABLE':
      return true;
    case 'IMMUTABLE_WITH_EXCLUSION':
      return !excluded();
    case 'MUTABLE_WITH_EXCLUSION':
      return excluded();
    default:
      return false;
  }
}

/**
 * The `isTagImmutable` of RegistryOptions, reading the repository settings from `store` (cached
 * briefly; concurrent pushes share one read). Wire it into every Registry that accepts pushes:
 * `new Registry({ ..., isTagImmutable: tagImmutabilityFromSettings(metadata) })`.
 */
export function tagImmutabilityFromSettings(
  store: SettingsSource,
  options: { cacheMs?: number; now?: () => number } = {},
): (repository: string, tag: string) => Promise<boolean> {
  const cacheMs = options.cacheMs ?? SETTINGS_CACHE_MS;
  const now = options.now ?? Date.now;
  const cache = cacheOf(store);
  return async (repository, tag) => {
    const at = now();
    let entry = cache.get(repository);
    if (!entry || at - entry.at > cacheMs) {
      entry = { at, settings: store.getRepositorySettings(repository) };
      cache.set(repository, entry);
      // A failed read is not cached.
      entry.settings.catch(() => cache.get(repository) === entry && cache.delete(repository));
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    }
    const settings = await entry.settings;
    return settings !== null && isTagImmutableUnder(settings, tag);
  };
}
