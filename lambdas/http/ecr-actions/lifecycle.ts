/**
 * ECR's lifecycle actions over the core's LifecyclePolicies (core/lifecycle/lifecycle-policies.ts):
 * Put/Get/DeleteLifecyclePolicy, Start/GetLifecyclePolicyPreview, UpdateImageStorageClass. A policy
 * ECR would refuse is InvalidParameterException at 'LifecyclePolicyText' with the validator's
 * "Lifecycle policy validation failure: ..." message, as ECR words it.
 */
import { LifecyclePolicyValidationError, MAX_LIFECYCLE_POLICY_LENGTH, MIN_LIFECYCLE_POLICY_LENGTH } from '../../core/lifecycle/policy';
import type { LifecycleDecision } from '../../core/lifecycle/policy-types';
import type { EcrActionDefinition } from './types';
import { ecrError } from '../ecr-errors';
import {
  checkRegistryId,
  constraints,
  decodeToken,
  encodeToken,
  epochSeconds,
  existingRepository,
  invalidParameter,
  maxResultsOf,
  missingMember,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNameOf,
  requiredEnum,
  requiredString,
  imageIdOf,
  validationError,
  type Input,
} from './common';

/** The policy's text member, checked for ECR's length; the grammar is the core's (InvalidParameterException naming the rule and field). */
function policyText(input: Input, required: true): string;
function policyText(input: Input, required: false): string | undefined;
function policyText(input: Input, required: boolean): string | undefined {
  const text = required ? requiredString(input, 'lifecyclePolicyText') : optionalString(input, 'lifecyclePolicyText');
  if (text === undefined) return undefined;
  if (text.length < MIN_LIFECYCLE_POLICY_LENGTH) throw validationError('lifecyclePolicyText', text, constraints.minLength(MIN_LIFECYCLE_POLICY_LENGTH));
  if (text.length > MAX_LIFECYCLE_POLICY_LENGTH) throw validationError('lifecyclePolicyText', text, constraints.maxLength(MAX_LIFECYCLE_POLICY_LENGTH));
  return text;
}

/** The core's refusal of a policy, in ECR's words. */
async function refusingInvalidPolicies<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof LifecyclePolicyValidationError) throw invalidParameter('LifecyclePolicyText', err.message);
    throw err;
  }
}

interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

const matchesId = (result: LifecycleDecision, id: ImageId) =>
  (id.imageDigest === undefined || id.imageDigest === result.digest) && (id.imageTag === undefined || result.tags.includes(id.imageTag));

function previewResult(result: LifecycleDecision): Record<string, unknown> {
  return {
    ...(result.tags.length > 0 ? { imageTags: result.tags } : {}),
    imageDigest: result.digest,
    imagePushedAt: epochSeconds(result.pushedAt),
    action: { type: result.action.type, ...(result.action.targetStorageClass ? { targetStorageClass: result.action.targetStorageClass } : {}) },
    appliedRulePriority: result.appliedRulePriority,
    storageClass: result.storageClass,
  };
}

function summaryOf(results: LifecycleDecision[]): Record<string, unknown> {
  const transitioning = results.filter((r) => r.action.type === 'TRANSITION').length;
  return {
    expiringImageTotalCount: results.filter((r) => r.action.type === 'EXPIRE').length,
    transitioningImageTotalCounts: transitioning > 0 ? [{ targetStorageClass: 'ARCHIVE', imageTotalCount: transitioning }] : [],
  };
}

export const LIFECYCLE_ACTIONS: Record<string, EcrActionDefinition> = {
  PutLifecyclePolicy: {
    iamAction: 'ecr:PutLifecyclePolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const text = policyText(input, true);
      await refusingInvalidPolicies(() => options.operations.lifecycle.put(repositoryName, text));
      return { registryId: options.registryAccount, repositoryName, lifecyclePolicyText: text };
    },
  },

  GetLifecyclePolicy: {
    iamAction: 'ecr:GetLifecyclePolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const policy = await options.operations.lifecycle.get(repositoryName);
      return {
        registryId: options.registryAccount,
        repositoryName,
        lifecyclePolicyText: policy.text,
        ...(policy.lastEvaluatedAt !== undefined ? { lastEvaluatedAt: epochSeconds(policy.lastEvaluatedAt) } : {}),
      };
    },
  },

  DeleteLifecyclePolicy: {
    iamAction: 'ecr:DeleteLifecyclePolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const policy = await options.operations.lifecycle.delete(repositoryName);
      return {
        registryId: options.registryAccount,
        repositoryName,
        lifecyclePolicyText: policy.text,
        ...(policy.lastEvaluatedAt !== undefined ? { lastEvaluatedAt: epochSeconds(policy.lastEvaluatedAt) } : {}),
      };
    },
  },

  StartLifecyclePolicyPreview: {
    iamAction: 'ecr:StartLifecyclePolicyPreview',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const text = policyText(input, false);
      const previewed = await refusingInvalidPolicies(() => options.operations.lifecycle.startPreview(repositoryName, text));
      // ECR's answer: the preview runs, the caller polls GetLifecyclePolicyPreview.
      return { registryId: options.registryAccount, repositoryName, lifecyclePolicyText: previewed, status: 'IN_PROGRESS' };
    },
  },

  GetLifecyclePolicyPreview: {
    iamAction: 'ecr:GetLifecyclePolicyPreview',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repositoryName = await existingRepository(context);
      const ids = optionalList(input, 'imageIds', 1, 100)?.map((id, i) => imageIdOf(id, `imageIds.${i + 1}`));
      const max = maxResultsOf(input, 100, 100);
      const filter = optionalObject(input, 'filter');
      const tagStatus = filter && filter.tagStatus !== undefined && filter.tagStatus !== null ? requiredEnum(filter, 'tagStatus', ['TAGGED', 'UNTAGGED', 'ANY'] as const) : 'ANY';
      const token = decodeToken(input);
      const offset = token === undefined ? 0 : token.offset;
      if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw invalidParameter('nextToken', 'the token is not one this registry issued');

      const preview = await options.operations.lifecycle.preview(repositoryName);
      const base = { registryId: options.registryAccount, repositoryName, lifecyclePolicyText: preview.text, status: preview.status };
      if (preview.status !== 'COMPLETE') return base;
      const selected = preview.results.filter(
        (r) => (tagStatus === 'ANY' || (tagStatus === 'TAGGED') === r.tags.length > 0) && (!ids || ids.some((id) => matchesId(r, id))),
      );
      const page = selected.slice(offset, offset + max);
      return {
        ...base,
        previewResults: page.map(previewResult),
        summary: summaryOf(preview.results),
        ...(offset + max < selected.length ? { nextToken: encodeToken({ offset: offset + max }) } : {}),
      };
    },
  },

  UpdateImageStorageClass: {
    iamAction: 'ecr:UpdateImageStorageClass',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repositoryName = await existingRepository(context);
      if (input.imageId === undefined || input.imageId === null) throw missingMember('imageId');
      const id = imageIdOf(input.imageId, 'imageId');
      const target = requiredEnum(input, 'targetStorageClass', ['STANDARD', 'ARCHIVE'] as const);
      const resolved = await options.operations.images.resolve(repositoryName, { digest: id.imageDigest, tag: id.imageTag });
      if (!resolved.ok) {
        if (resolved.reason === 'invalid-digest' || resolved.reason === 'invalid-tag') throw invalidParameter('imageId', `the image id is not valid (${resolved.reason})`);
        throw ecrError('ImageNotFoundException', { name: repositoryName, account: options.registryAccount, digest: id.imageDigest, tag: id.imageTag });
      }
      const moved = await options.operations.images.setStorageClass(repositoryName, resolved.digest, target);
      if (!moved.ok && moved.reason === 'unknown') {
        throw ecrError('ImageNotFoundException', { name: repositoryName, account: options.registryAccount, digest: id.imageDigest, tag: id.imageTag });
      }
      if (!moved.ok) throw ecrError('ImageStorageClassUpdateNotSupportedException', { detail: moved.why });
      return {
        registryId: options.registryAccount,
        repositoryName,
        imageId: { imageDigest: resolved.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) },
        imageStatus: target === 'ARCHIVE' ? 'ARCHIVED' : 'ACTIVE',
      };
    },
  },
};
