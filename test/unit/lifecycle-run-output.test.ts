/** `berth lifecycle run`'s text output (cli/lifecycle-run.ts): a line per image, then the summary. */
import { renderLifecycleRuns } from '../../lambdas/cli/lifecycle-run';
import type { LifecycleOutcome, LifecycleRunReport } from '../../lambdas/core/lifecycle/run';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const outcome = (n: number, type: 'EXPIRE' | 'TRANSITION', result: LifecycleOutcome['result'], tags: string[] = []): LifecycleOutcome => ({
  digest: digest(n),
  tags,
  pushedAt: '2026-11-01T00:00:00.000Z',
  action: type === 'EXPIRE' ? { type } : { type, targetStorageClass: 'ARCHIVE' },
  appliedRulePriority: n,
  storageClass: 'STANDARD',
  result,
});
const report = (repository: string, outcomes: LifecycleOutcome[], imagesEvaluated: number, dryRun = false): LifecycleRunReport => ({
  repository,
  evaluatedAt: '2026-12-03T12:00:00.000Z',
  dryRun,
  hasPolicy: true,
  imagesEvaluated,
  outcomes,
});

describe('renderLifecycleRuns', () => {
  test('GIVEN a run that expired, archived and was refused some THEN a line each, with why, and the summary counts', () => {
    const text = renderLifecycleRuns(
      [
        report('team/a', [outcome(1, 'EXPIRE', 'done', ['v1', 'v1.0']), outcome(2, 'TRANSITION', 'done'), outcome(3, 'EXPIRE', 'tagged-since', ['v3'])], 5),
        report('team/b', [outcome(4, 'EXPIRE', 'in-use'), outcome(5, 'EXPIRE', 'gone')], 2),
      ],
      false,
    );
    expect(text).toBe(
      [
        `expired team/a ${digest(1)} (v1,v1.0; rule 1)`,
        `archived team/a ${digest(2)} (untagged; rule 2)`,
        `kept team/a ${digest(3)} (v3; rule 3): tagged since the evaluation`,
        `kept team/b ${digest(4)} (untagged; rule 4): an index references it`,
        `gone team/b ${digest(5)} (untagged; rule 5): deleted meanwhile`,
        'berth lifecycle run: 2 repositories with a policy, 7 images evaluated at 2026-12-03T12:00:00.000Z; expired 1 image, archived 1 image; 3 images changed since the evaluation, not acted on',
        '',
      ].join('\n'),
    );
  });

  test('GIVEN a dry run THEN would-lines; GIVEN no policy anywhere THEN it says so', () => {
    expect(renderLifecycleRuns([report('team/a', [outcome(1, 'EXPIRE', 'dry-run'), outcome(2, 'TRANSITION', 'dry-run', ['old'])], 3, true)], true)).toBe(
      `would expire team/a ${digest(1)} (untagged; rule 1)\nwould archive team/a ${digest(2)} (old; rule 2)\n` +
        'berth lifecycle run: 1 repository with a policy, 3 images evaluated at 2026-12-03T12:00:00.000Z; would expire 1 image, would archive 1 image\n',
    );
    expect(renderLifecycleRuns([], false)).toBe('berth lifecycle run: no repository has a lifecycle policy\n');
  });
});
