/**
 * `berth lifecycle preview`, as a team moving from ECR runs it: the policy as `aws ecr
 * get-lifecycle-policy` prints it, the images as `aws ecr describe-images` prints them (CLI
 * timestamps and epoch seconds), out what `aws ecr get-lifecycle-policy-preview` would print; an
 * invalid policy fails with PutLifecyclePolicy's message.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, scratchDir } from '../support/registry-harness';

const berth = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 });
const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('berth lifecycle preview', () => {
  let work: ReturnType<typeof scratchDir>;
  beforeAll(() => {
    work = scratchDir('lifecycle-preview');
  });
  afterAll(() => work?.remove());

  const policy = {
    rules: [
      { rulePriority: 1, description: 'keep the newest prod image', selection: { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
      { rulePriority: 2, description: 'untagged after a week', selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 }, action: { type: 'expire' } },
    ],
  };
  const images = {
    imageDetails: [
      { registryId: '123456789012', repositoryName: 'team/app', imageDigest: digest(1), imageTags: ['prod-1'], imagePushedAt: '2026-11-01T10:00:00+00:00', imageStatus: 'ACTIVE' },
      { registryId: '123456789012', repositoryName: 'team/app', imageDigest: digest(2), imageTags: ['prod-2'], imagePushedAt: '2026-11-20T10:00:00.000000+00:00', imageStatus: 'ACTIVE' },
      { registryId: '123456789012', repositoryName: 'team/app', imageDigest: digest(3), imagePushedAt: 1_793_354_400, imageStatus: 'ACTIVE' },
      { registryId: '123456789012', repositoryName: 'team/app', imageDigest: digest(4), imagePushedAt: '2026-12-02T10:00:00+00:00', imageStatus: 'ACTIVE' },
    ],
  };

  test('GIVEN get-lifecycle-policy and describe-images output WHEN previewed at a fixed time THEN the older prod image and the old untagged image, in rule order, with the summary', () => {
    const policyFile = join(work.path, 'policy.json');
    const imagesFile = join(work.path, 'images.json');
    writeFileSync(policyFile, JSON.stringify({ registryId: '123456789012', repositoryName: 'team/app', lifecyclePolicyText: JSON.stringify(policy), lastEvaluatedAt: '2026-12-01T00:00:00+00:00' }));
    writeFileSync(imagesFile, JSON.stringify(images, null, 4));
    const result = berth(['lifecycle', 'preview', '--policy', policyFile, '--images', imagesFile, '--now', '2026-12-03T12:00:00Z']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      lifecyclePolicyText: JSON.stringify(policy),
      status: 'COMPLETE',
      previewResults: [
        { imageTags: ['prod-1'], imageDigest: digest(1), imagePushedAt: '2026-11-01T10:00:00+00:00', action: { type: 'EXPIRE' }, appliedRulePriority: 1, storageClass: 'STANDARD' },
        // 1,793,354,400 s is 2026-10-30T10:00:00Z: more than 7 days before --now.
        { imageTags: [], imageDigest: digest(3), imagePushedAt: 1_793_354_400, action: { type: 'EXPIRE' }, appliedRulePriority: 2, storageClass: 'STANDARD' },
      ],
      summary: { expiringImageTotalCount: 2, transitioningImageTotalCounts: [] },
    });
    // The policy document itself works as well as get-lifecycle-policy's output.
    writeFileSync(policyFile, JSON.stringify(policy, null, 2));
    const again = berth(['lifecycle', 'preview', '--policy', policyFile, '--images', imagesFile, '--now', '2026-12-03T12:00:00Z']);
    expect(JSON.parse(again.stdout).previewResults.map((r: { imageDigest: string }) => r.imageDigest)).toEqual([digest(1), digest(3)]);
  });

  test('GIVEN an invalid policy WHEN previewed THEN it fails with PutLifecyclePolicy\'s message and prints no preview', () => {
    const policyFile = join(work.path, 'bad.json');
    const imagesFile = join(work.path, 'images.json');
    writeFileSync(policyFile, JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', tagPrefixList: ['x'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] }));
    writeFileSync(imagesFile, JSON.stringify(images));
    const result = berth(['lifecycle', 'preview', '--policy', policyFile, '--images', imagesFile]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^berth: InvalidParameterException: Lifecycle policy validation failure: .*rulePriority 1/);
  });
});
