/** The MetadataStore contract (test/contract/metadata-store.contract.ts): registry settings and repository creation templates. */
import type { RepositoryCreationTemplate } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { type OpenedMetadataStore } from './fixtures';

export function describeRegistrySettings(current: () => OpenedMetadataStore): void {
  describe('registry settings and repository creation templates', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });

    const template = (prefix: string, extra: Partial<RepositoryCreationTemplate> = {}): RepositoryCreationTemplate => ({
      prefix,
      appliedFor: ['CREATE_ON_PUSH'],
      imageTagMutability: 'IMMUTABLE',
      imageTagMutabilityExclusionFilters: [],
      encryptionConfiguration: { encryptionType: 'AES256' },
      resourceTags: [{ Key: 'team', Value: prefix }],
      ...extra,
    });

    test('GIVEN an empty store WHEN the registry settings are read THEN create-on-push is on; a change is kept', async () => {
      expect(await store.getRegistrySettings()).toEqual({ createOnPush: true });
      await store.setRegistrySettings({ createOnPush: false });
      expect(await store.getRegistrySettings()).toEqual({ createOnPush: false });
      await store.setRegistrySettings({ createOnPush: true });
      expect(await store.getRegistrySettings()).toEqual({ createOnPush: true });
    });

    test('GIVEN templates WHEN created, listed, updated and deleted THEN each prefix exists once, in byte order, with its times', async () => {
      const created = await store.createRepositoryCreationTemplate(template('team-b/', { repositoryPolicy: '{"Version":"2012-10-17","Statement":[]}' }));
      expect(created).toMatchObject({ prefix: 'team-b/', imageTagMutability: 'IMMUTABLE' });
      expect(Date.parse(created!.createdAt)).not.toBeNaN();
      expect(created!.updatedAt).toBe(created!.createdAt);
      expect(await store.createRepositoryCreationTemplate(template('team-b/'))).toBeNull();
      await store.createRepositoryCreationTemplate(template('ROOT'));
      await store.createRepositoryCreationTemplate(template('team-a/'));
      expect((await store.listRepositoryCreationTemplates()).map((t) => t.prefix)).toEqual(['ROOT', 'team-a/', 'team-b/']);

      const updated = await store.updateRepositoryCreationTemplate('team-a/', (t) => ({ ...t, imageTagMutability: 'MUTABLE', description: 'changed' }));
      expect(updated).toMatchObject({ prefix: 'team-a/', imageTagMutability: 'MUTABLE', description: 'changed', resourceTags: [{ Key: 'team', Value: 'team-a/' }] });
      expect(updated!.createdAt).toBe((await store.listRepositoryCreationTemplates()).find((t) => t.prefix === 'team-a/')!.createdAt);
      expect(await store.updateRepositoryCreationTemplate('nope/', (t) => t)).toBeNull();

      const deleted = await store.deleteRepositoryCreationTemplate('team-b/');
      expect(deleted).toMatchObject({ prefix: 'team-b/', repositoryPolicy: '{"Version":"2012-10-17","Statement":[]}' });
      expect(await store.deleteRepositoryCreationTemplate('team-b/')).toBeNull();
      expect((await store.listRepositoryCreationTemplates()).map((t) => t.prefix)).toEqual(['ROOT', 'team-a/']);
      // Templates are not repositories.
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
    });

    test('GIVEN a template WHEN updated concurrently THEN no update is lost', async () => {
      await store.createRepositoryCreationTemplate(template('team/', { resourceTags: [] }));
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.updateRepositoryCreationTemplate('team/', (t) => ({ ...t, resourceTags: [...t.resourceTags, { Key: `k${i}`, Value: 'v' }] })),
        ),
      );
      const [stored] = await store.listRepositoryCreationTemplates();
      expect(stored.resourceTags.map((t) => t.Key).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `k${i}`).sort());
    });
  });
}
