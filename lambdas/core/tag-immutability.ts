/**
 * Tag immutability from a repository's settings, for Registry's `isTagImmutable` option, so that
 * every push path (the OCI manifest PUT and ECR's PutImage) refuses to move an immutable tag.
 * The settings are read from the repository role it is given: the composition roots give it a
 * CachedRepositorySettings (cached-repository-settings.ts), shared with the ECR API's writes.
 */
import type { RepositorySettings } from './model';
import type { RepositoryStore } from '../storage/ports';

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
 * The `isTagImmutable` of RegistryOptions, reading the repository settings from `store`. Wire it
 * into every Registry that accepts pushes, over the same (cached) repository role as the Registry's:
 * `new Registry({ ..., repositories, isTagImmutable: tagImmutabilityFromSettings(repositories) })`.
 */
export function tagImmutabilityFromSettings(store: Pick<RepositoryStore, 'getRepositorySettings'>): (repository: string, tag: string) => Promise<boolean> {
  return async (repository, tag) => {
    const settings = await store.getRepositorySettings(repository);
    return settings !== null && isTagImmutableUnder(settings, tag);
  };
}
