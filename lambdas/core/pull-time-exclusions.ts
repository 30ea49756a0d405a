/**
 * ECR's pull time update exclusions (RegisterPullTimeUpdateExclusion and its siblings): principals
 * whose pulls do not move an image's `lastRecordedPullTime`, so that a scanner pulling every image
 * does not keep every image "recently pulled" for lifecycle rules that archive or expire by pull age.
 * The list is a registry setting; the pull path reads it only when it is about to record a pull.
 */
import type { RegistrySettingsStore } from '../storage/ports';
import { DomainError } from './domain-errors';
import type { PullTimeUpdateExclusion } from './model';

/** Berth's bound on the list (ECR documents none): it is read with the registry's settings. */
export const MAX_PULL_TIME_EXCLUSIONS = 100;

/** ECR's pattern for `principalArn`: an IAM role or user ARN, at most 200 characters. */
export const PRINCIPAL_ARN_PATTERN = /^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)\/[\w+=,.@-]+(\/[\w+=,.@-]+)*$/;
export const MAX_PRINCIPAL_ARN_LENGTH = 200;

/**
 * Whether a caller is excluded. A role's sessions (`arn:aws:sts::<account>:assumed-role/<role>/<session>`,
 * how a scanner's calls arrive) match an exclusion of that role, whatever its path.
 */
export function isExcludedFromPullTime(exclusions: readonly PullTimeUpdateExclusion[], callerArn: string): boolean {
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(callerArn);
  return exclusions.some(({ principalArn }) => {
    if (principalArn === callerArn) return true;
    if (!session) return false;
    const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principalArn);
    return role !== null && role[1] === session[1] && role[2] === session[2] && role[3] === session[3];
  });
}

export class PullTimeExclusions {
  constructor(
    private readonly store: RegistrySettingsStore,
    private readonly now: () => Date = () => new Date(),
    /** Called after every change (the same process's pull path drops its cached list). */
    private readonly changed: () => void = () => {},
  ) {}

  async register(principalArn: string): Promise<PullTimeUpdateExclusion> {
    const settings = await this.store.getRegistrySettings();
    const current = settings.pullTimeUpdateExclusions ?? [];
    if (current.some((e) => e.principalArn === principalArn)) throw new DomainError('EXCLUSION_EXISTS', { principalArn });
    if (current.length >= MAX_PULL_TIME_EXCLUSIONS) throw new DomainError('EXCLUSION_LIMIT', { max: MAX_PULL_TIME_EXCLUSIONS });
    const added = { principalArn, createdAt: this.now().toISOString() };
    await this.store.setRegistrySettings({ ...settings, pullTimeUpdateExclusions: [...current, added] });
    this.changed();
    return added;
  }

  async deregister(principalArn: string): Promise<void> {
    const settings = await this.store.getRegistrySettings();
    const current = settings.pullTimeUpdateExclusions ?? [];
    if (!current.some((e) => e.principalArn === principalArn)) throw new DomainError('EXCLUSION_UNKNOWN', { principalArn });
    await this.store.setRegistrySettings({ ...settings, pullTimeUpdateExclusions: current.filter((e) => e.principalArn !== principalArn) });
    this.changed();
  }

  async list(): Promise<PullTimeUpdateExclusion[]> {
    return (await this.store.getRegistrySettings()).pullTimeUpdateExclusions ?? [];
  }
}
