/**
 * Create-on-push from the registry's settings and its repository creation templates, for
 * Registry's `mayCreateOnPush` option: consulted only when a push names a repository that does not
 * exist (so no cache: a change through the ECR API applies to the next push).
 *
 * - A CREATE_ON_PUSH template matching the name gives the new repository its settings and policy.
 *   `ROOT` matches every name; a prefix `prod` (or `prod/`) matches the names under `prod/` (ECR's
 *   rule: "a prefix of prod would apply to all repositories beginning with prod/"). The longest
 *   matching prefix wins; ROOT is the shortest.
 * - No template matches: the registry setting `createOnPush` (default true) decides; the push
 *   creates the repository with the default settings, or is refused with NAME_UNKNOWN.
 */
import type { MetadataStore, RepositoryCreationTemplateRecord } from '../storage/ports';
import type { CreateOnPushDecision } from './registry';

type Source = Pick<MetadataStore, 'getRegistrySettings' | 'listRepositoryCreationTemplates'>;

/** Whether a template's prefix covers a repository name. */
export function templateMatches(prefix: string, repository: string): boolean {
  if (prefix === 'ROOT') return true;
  const namespace = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return repository.startsWith(namespace);
}

/** The CREATE_ON_PUSH template for a repository name: the longest matching prefix. */
export function templateFor(templates: RepositoryCreationTemplateRecord[], repository: string): RepositoryCreationTemplateRecord | undefined {
  let best: RepositoryCreationTemplateRecord | undefined;
  let bestLength = -1;
  for (const t of templates) {
    if (!t.appliedFor.includes('CREATE_ON_PUSH') || !templateMatches(t.prefix, repository)) continue;
    const length = t.prefix === 'ROOT' ? 0 : t.prefix.replace(/\/$/, '').length;
    if (length > bestLength) {
      best = t;
      bestLength = length;
    }
  }
  return best;
}

/**
 * Whether a push may create `repository`: a matching CREATE_ON_PUSH template always may (with its
 * settings); otherwise the registry setting decides, and `enabled: false` (the deployment's own
 * switch, e.g. the stack prop) turns it off whatever the setting says.
 */
export function createOnPushFromSettings(store: Source, options: { enabled?: boolean } = {}): (repository: string) => Promise<CreateOnPushDecision> {
  const enabled = options.enabled ?? true;
  return async (repository) => {
    const template = templateFor(await store.listRepositoryCreationTemplates(), repository);
    if (template) {
      return {
        settings: {
          imageTagMutability: template.imageTagMutability,
          imageTagMutabilityExclusionFilters: template.imageTagMutabilityExclusionFilters,
          imageScanningConfiguration: { scanOnPush: false },
          encryptionConfiguration: template.encryptionConfiguration,
          tags: template.resourceTags,
        },
        ...(template.repositoryPolicy !== undefined ? { policy: template.repositoryPolicy } : {}),
      };
    }
    return enabled && (await store.getRegistrySettings()).createOnPush;
  };
}
