// Pull time update exclusions (core/pull-time-exclusions.ts): who is excluded, and the list's rules.
import { isExcludedFromPullTime, MAX_PULL_TIME_EXCLUSIONS, PRINCIPAL_ARN_PATTERN, PullTimeExclusions } from '../../lambdas/core/pull-time-exclusions';
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings } from '../../lambdas/core/model';

const at = (principalArn: string) => ({ principalArn, createdAt: '2026-12-01T00:00:00.000Z' });

describe('who is excluded', () => {
  const exclusions = [at('arn:aws:iam::111122223333:role/scanners/inspector'), at('arn:aws:iam::111122223333:user/ci')];

  test.each([
    ['the user itself', 'arn:aws:iam::111122223333:user/ci', true],
    ['the role itself', 'arn:aws:iam::111122223333:role/scanners/inspector', true],
    ['a session of the role (sessions carry no path)', 'arn:aws:sts::111122223333:assumed-role/inspector/scan-42', true],
    ['a session of another role', 'arn:aws:sts::111122223333:assumed-role/deployer/x', false],
    ['the same role name in another account', 'arn:aws:sts::444455556666:assumed-role/inspector/x', false],
    ['another user', 'arn:aws:iam::111122223333:user/cix', false],
  ])('%s', (_name, caller, excluded) => {
    expect(isExcludedFromPullTime(exclusions, caller)).toBe(excluded);
  });

  test("ECR's principalArn pattern takes roles and users, not sessions or groups", () => {
    expect(PRINCIPAL_ARN_PATTERN.test('arn:aws:iam::111122223333:role/a/b')).toBe(true);
    expect(PRINCIPAL_ARN_PATTERN.test('arn:aws-cn:iam::111122223333:user/u')).toBe(true);
    expect(PRINCIPAL_ARN_PATTERN.test('arn:aws:sts::111122223333:assumed-role/a/b')).toBe(false);
    expect(PRINCIPAL_ARN_PATTERN.test('arn:aws:iam::111122223333:group/g')).toBe(false);
  });
});

describe('the list', () => {
  function memory(): { getRegistrySettings(): Promise<RegistrySettings>; setRegistrySettings(s: RegistrySettings): Promise<void> } {
    let settings: RegistrySettings = DEFAULT_REGISTRY_SETTINGS;
    return { getRegistrySettings: async () => settings, setRegistrySettings: async (s) => void (settings = s) };
  }

  test('register, refuse a duplicate, list in order, deregister, refuse an unknown one; other settings kept', async () => {
    const store = memory();
    await store.setRegistrySettings({ createOnPush: false });
    const list = new PullTimeExclusions(store, () => new Date('2026-12-03T00:00:00Z'));
    expect(await list.register('arn:aws:iam::111122223333:user/a')).toEqual({ principalArn: 'arn:aws:iam::111122223333:user/a', createdAt: '2026-12-03T00:00:00.000Z' });
    await list.register('arn:aws:iam::111122223333:user/b');
    await expect(list.register('arn:aws:iam::111122223333:user/a')).rejects.toMatchObject({ name: 'DomainError', kind: 'EXCLUSION_EXISTS' });
    expect((await list.list()).map((e) => e.principalArn)).toEqual(['arn:aws:iam::111122223333:user/a', 'arn:aws:iam::111122223333:user/b']);
    await list.deregister('arn:aws:iam::111122223333:user/a');
    await expect(list.deregister('arn:aws:iam::111122223333:user/a')).rejects.toMatchObject({ name: 'DomainError', kind: 'EXCLUSION_UNKNOWN' });
    expect((await store.getRegistrySettings()).createOnPush).toBe(false);
  });

  test(`at most ${MAX_PULL_TIME_EXCLUSIONS}`, async () => {
    const list = new PullTimeExclusions(memory());
    for (let i = 0; i < MAX_PULL_TIME_EXCLUSIONS; i++) await list.register(`arn:aws:iam::111122223333:user/u${i}`);
    await expect(list.register('arn:aws:iam::111122223333:user/one-more')).rejects.toMatchObject({ name: 'DomainError', kind: 'EXCLUSION_LIMIT' });
  });
});
