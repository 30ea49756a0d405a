/**
 * BerthRunLifecyclePolicy: Berth's own action on the ECR JSON endpoint, what `berth lifecycle run
 * --endpoint` calls to have a running server carry out lifecycle policies now (every repository's, or
 * `repositoryName`'s), at `now` (epoch seconds; default the request's time), or only report what it
 * would do (`dryRun`). It is an action of this endpoint rather than a /v2/_berth route so that it is
 * signed and authorized as every ECR call is (SigV4 with the caller's AWS credentials, the identity,
 * registry and repository policies), with no second authentication scheme for one command.
 *
 * Authorized as `ecr:BatchDeleteImage`, not an action of its own: policies can name only ECR's
 * actions (contracts/ecr-actions.ts refuses others, and IAM would not know one), and what a run can
 * do is delete images: with `now` in the future, any image a rule selects. So it asks for what deleting
 * the repository's images asks for; archiving, the run's other change, is the milder one. A named
 * repository is authorized against its ARN and policy; a run over the registry against `repository/*`
 * (an administrator's grant, as BERTH_ACCESS_KEY_ID's `ecr:*`), skipping any repository whose own
 * policy denies the caller. A dry run needs the same: it is the same command, asked to hold back.
 *
 * Only deployments that pass `runLifecyclePolicies` answer it (local mode); elsewhere it is unknown.
 */
import type { LifecycleRunReport } from '../../core/lifecycle/run';
import { ecrError } from '../ecr-errors';
import { checkRegistryId, epochSeconds, existingRepository, optionalBoolean, optionalString, serializationError, validRepositoryName, type Input } from './common';
import type { EcrActionDefinition } from './types';

export const BERTH_RUN_LIFECYCLE_POLICY = 'BerthRunLifecyclePolicy';

function optionalRepositoryName(input: Input): string | undefined {
  const name = optionalString(input, 'repositoryName');
  return name === undefined ? undefined : validRepositoryName(name);
}

function instantOf(input: Input, fallback: number): Date {
  const value = input.now;
  if (value === undefined || value === null) return new Date(fallback);
  // A timestamp in the AWS JSON protocols: epoch seconds.
  if (typeof value !== 'number' || !Number.isFinite(value)) throw serializationError('now must be a timestamp (epoch seconds)');
  const at = new Date(value * 1000);
  if (Number.isNaN(at.getTime())) throw serializationError('now is out of range');
  return at;
}

/** A report as the action answers it: ECR's member names, times in epoch seconds. */
function runOutput(report: LifecycleRunReport): Record<string, unknown> {
  return {
    repositoryName: report.repository,
    evaluatedAt: epochSeconds(report.evaluatedAt),
    imagesEvaluated: report.imagesEvaluated,
    results: report.outcomes.map((o) => ({
      imageDigest: o.digest,
      imageTags: o.tags,
      imagePushedAt: epochSeconds(o.pushedAt),
      action: o.action,
      appliedRulePriority: o.appliedRulePriority,
      storageClass: o.storageClass,
      result: o.result,
    })),
  };
}

export const BERTH_LIFECYCLE_ACTIONS: Record<string, EcrActionDefinition> = {
  [BERTH_RUN_LIFECYCLE_POLICY]: {
    iamAction: 'ecr:BatchDeleteImage',
    repositories: (input) => {
      const name = optionalRepositoryName(input);
      return name === undefined ? undefined : [name];
    },
    validation: 'modern',
    async run(context) {
      const { input, options, request } = context;
      if (!options.runLifecyclePolicies) throw ecrError('UnknownOperationException', { target: (request.headers['x-amz-target'] ?? '').slice(0, 200) });
      checkRegistryId(input, options.registryAccount);
      const repository = optionalRepositoryName(input) === undefined ? undefined : await existingRepository(context);
      const dryRun = optionalBoolean(input, 'dryRun') ?? false;
      const now = instantOf(input, context.now);
      const { reports, failures } = await options.runLifecyclePolicies({
        repository,
        now,
        dryRun,
        ...(repository === undefined ? { include: context.mayAccess } : {}),
      });
      if (repository !== undefined && reports.length === 0 && failures.length === 0) {
        throw ecrError('LifecyclePolicyNotFoundException', { name: repository, account: options.registryAccount });
      }
      return {
        registryId: options.registryAccount,
        evaluatedAt: epochSeconds(now.toISOString()),
        dryRun,
        lifecycleRuns: reports.map(runOutput),
        failures: failures.map((f) => ({ repositoryName: f.repository, failureReason: f.error })),
      };
    },
  },
};
