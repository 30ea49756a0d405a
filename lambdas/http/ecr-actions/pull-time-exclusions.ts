/**
 * ECR's pull time update exclusions: Register/Deregister/ListPullTimeUpdateExclusions over the core's
 * PullTimeExclusions (core/pull-time-exclusions.ts). Registry-wide: IAM evaluates them against `*`.
 */
import { MAX_PRINCIPAL_ARN_LENGTH, PRINCIPAL_ARN_PATTERN } from '../../core/pull-time-exclusions';
import type { EcrActionDefinition } from './types';
import { constraints, decodeToken, encodeToken, epochSeconds, invalidParameter, maxResultsOf, requiredString, validationError, type Input } from './common';

function principalArnOf(input: Input): string {
  const arn = requiredString(input, 'principalArn');
  if (arn.length > MAX_PRINCIPAL_ARN_LENGTH) throw validationError('principalArn', arn, constraints.maxLength(MAX_PRINCIPAL_ARN_LENGTH));
  if (!PRINCIPAL_ARN_PATTERN.test(arn)) throw validationError('principalArn', arn, constraints.pattern(PRINCIPAL_ARN_PATTERN.source));
  return arn;
}

export const PULL_TIME_EXCLUSION_ACTIONS: Record<string, EcrActionDefinition> = {
  RegisterPullTimeUpdateExclusion: {
    iamAction: 'ecr:RegisterPullTimeUpdateExclusion',
    async run({ input, options }) {
      const added = await options.operations.pullTimeExclusions.register(principalArnOf(input));
      return { principalArn: added.principalArn, createdAt: epochSeconds(added.createdAt) };
    },
  },

  DeregisterPullTimeUpdateExclusion: {
    iamAction: 'ecr:DeregisterPullTimeUpdateExclusion',
    async run({ input, options }) {
      const principalArn = principalArnOf(input);
      await options.operations.pullTimeExclusions.deregister(principalArn);
      return { principalArn };
    },
  },

  ListPullTimeUpdateExclusions: {
    iamAction: 'ecr:ListPullTimeUpdateExclusions',
    async run({ input, options }) {
      const max = maxResultsOf(input, 1000, 100);
      const token = decodeToken(input);
      const offset = token === undefined ? 0 : token.offset;
      if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw invalidParameter('nextToken', 'the token is not one this registry issued');
      const all = await options.operations.pullTimeExclusions.list();
      const page = all.slice(offset, offset + max);
      return { pullTimeUpdateExclusions: page.map((e) => e.principalArn), ...(offset + max < all.length ? { nextToken: encodeToken({ offset: offset + max }) } : {}) };
    },
  },
};
