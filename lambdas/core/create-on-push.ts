/**
 * Create-on-push from the registry's settings and its repository creation templates, for
 * Registry's `mayCreateOnPush` option: consulted only when a push names a repository that does not
 * exist (so no cache: a change through the ECR API applies to the next push).
 *
 * - A CREATE_ON_PUSH template matching the name (templates.ts: the longest prefix) gives the new
 *   repository its settings and policy.
 * - No template matches: the registry setting `createOnPush` (default true) decides; the push
 *   creates the repository with the default settings, or is refused with NAME_UNKNOWN.
 */
import type { RegistrySettingsStore, TemplateStore } from '../storage/ports';
import type { RepositoryCreationTemplateRecord, RepositorySettings } from './model';
import type { CreateOnPushDecision } from './registry';
import { templateFor } from './templates';

type Source = Pick<RegistrySettingsStore, 'getRegistrySettings'> & Pick<TemplateStore, 'listRepositoryCreationTemplates'>;

/**
 * Whether a push may create `repository`: a matching CREATE_ON_PUSH template always may (with its
 * settings); otherwise the registry setting decides, and `enabled: false` (the deployment's own
 * switch, e.g. the stack prop) turns it off whatever the setting says.
 */
export function createOnPushFromSettings(store: Source, options: { enabled?: boolean } = {}): (repository: string) => Promise<CreateOnPushDecision> {
  const enabled = options.enabled ?? true;
  return async (repository) => {
    const template = templateFor(await store.listRepositoryCreationTemplates(), repository);
    if (template) return creationFromTemplate(template);
    return enabled && (await store.getRegistrySettings()).createOnPush;
  };
}

/** What a repository created through a template gets: its settings and, if it has one, its policy (replication creates with it too). */
export function creationFromTemplate(template: RepositoryCreationTemplateRecord): { settings: RepositorySettings; policy?: string } {
  return {
    settings: {
      imageTagMutability: template.imageTagMutability,
      imageTagMutabilityExclusionFilters: template.imageTagMutabilityExclusionFilters,
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: template.encryptionConfiguration,
      tags: template.resourceTags,
      ...(template.lifecyclePolicy !== undefined ? { lifecyclePolicy: { text: template.lifecyclePolicy, updatedAt: new Date().toISOString() } } : {}),
    },
    ...(template.repositoryPolicy !== undefined ? { policy: template.repositoryPolicy } : {}),
  };
}

/** The registry-wide settings the ECR API reads and writes (its account setting BERTH_CREATE_ON_PUSH). */
export class RegistrySettingsOperations {
  constructor(private readonly store: RegistrySettingsStore) {}

  /** Whether a push may create a repository no template matches. */
  async createOnPush(): Promise<boolean> {
    return (await this.store.getRegistrySettings()).createOnPush;
  }

  async setCreateOnPush(enabled: boolean): Promise<void> {
    const current = await this.store.getRegistrySettings();
    await this.store.setRegistrySettings({ ...current, createOnPush: enabled });
  }
}
