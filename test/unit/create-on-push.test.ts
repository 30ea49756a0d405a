import { createOnPushFromSettings } from '../../lambdas/core/create-on-push';
import type { RegistrySettings, RepositoryCreationTemplateRecord } from '../../lambdas/core/model';

/** A settings source in memory: this is pure decision logic, the adapters are covered by the contract suite. */
function source(createOnPush: boolean, templates: Partial<RepositoryCreationTemplateRecord>[] = []) {
  return {
    getRegistrySettings: async (): Promise<RegistrySettings> => ({ createOnPush }),
    listRepositoryCreationTemplates: async () => templates as RepositoryCreationTemplateRecord[],
  };
}

describe('create on push', () => {
  test.each([
    [true, true, true],
    [false, true, false],
    [true, false, false],
    [false, false, false],
  ])('GIVEN the registry setting %p and the deployment switch %p WHEN a push names a new repository THEN creating it is %p', async (setting, enabled, expected) => {
    expect(await createOnPushFromSettings(source(setting), { enabled })('team/app')).toBe(expected);
  });

  test('GIVEN the deployment switch off WHEN a CREATE_ON_PUSH template matches THEN the repository is created with its settings', async () => {
    const decide = createOnPushFromSettings(source(false, [{ prefix: 'team', appliedFor: ['CREATE_ON_PUSH'], imageTagMutability: 'IMMUTABLE', resourceTags: [] }]), { enabled: false });
    expect(await decide('team/app')).toMatchObject({ settings: { imageTagMutability: 'IMMUTABLE' } });
    expect(await decide('other/app')).toBe(false);
  });
});
