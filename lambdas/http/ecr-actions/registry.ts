/**
 * ECR's registry-wide actions: DescribeRegistry (its replication configuration is PutReplicationConfiguration's,
 * ecr-actions/replication.ts), the repository creation templates
 * (Create/Describe/Update/DeleteRepositoryCreationTemplate) and Get/PutAccountSetting for Berth's
 * one registry setting, `BERTH_CREATE_ON_PUSH` (ENABLED by default: a push may create a repository
 * no template matches; DISABLED: only CreateRepository or a CREATE_ON_PUSH template creates one).
 *
 * Templates are the core's (core/templates.ts), matched as ECR matches them: `ROOT` matches every
 * repository, a prefix `prod` (or `prod/`) the repositories under `prod/`; the longest wins. Their
 * encryption follows the deployment's setting, as CreateRepository's does; a lifecycle policy is
 * validated as PutLifecyclePolicy validates it and given to the repositories the template creates;
 * a custom role is stored and reported, not used (Berth has no replication yet).
 */
import { parsePolicyDocument, PolicyValidationError } from '../../core/policy/policy-document';
import { LifecyclePolicyValidationError, parseLifecyclePolicy } from '../../core/lifecycle/policy';
import type { RepositoryCreationTemplate, RepositoryCreationTemplateRecord, RepositoryCreationTemplateUse } from '../../core/model';
import type { EcrActionContext, EcrActionDefinition } from './types';
import {
  decodeToken,
  encodeToken,
  epochSeconds,
  invalidParameter,
  maxResultsOf,
  optionalList,
  optionalObject,
  optionalString,
  requiredString,
  serializationError,
  validationError,
  type Input,
} from './common';
import { encryptionOf, mutabilityOf, tagsOf } from './repositories';
import { replicationConfigurationObject } from './replication';

export const CREATE_ON_PUSH_SETTING = 'BERTH_CREATE_ON_PUSH';
const PREFIX = /^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\/?|ROOT)$/;
const USES: readonly RepositoryCreationTemplateUse[] = ['CREATE_ON_PUSH', 'PULL_THROUGH_CACHE', 'REPLICATION'];

function prefixOf(input: Input): string {
  const prefix = requiredString(input, 'prefix');
  if (prefix.length < 1 || prefix.length > 256 || !PREFIX.test(prefix)) {
    throw validationError('prefix', prefix, `Member must satisfy regular expression pattern: ${PREFIX.source} and have length between 1 and 256`);
  }
  return prefix;
}

function appliedForOf(input: Input, required: boolean): RepositoryCreationTemplateUse[] | undefined {
  const list = optionalList(input, 'appliedFor', 1, 3);
  if (!list) {
    if (required) throw validationError('appliedFor', null, 'Member must not be null');
    return undefined;
  }
  return [
    ...new Set(
      list.map((value) => {
        if (typeof value !== 'string' || !USES.includes(value as RepositoryCreationTemplateUse)) {
          throw validationError('appliedFor', value, `Member must satisfy enum value set: [${USES.join(', ')}]`);
        }
        return value as RepositoryCreationTemplateUse;
      }),
    ),
  ];
}

function boundedString(input: Input, member: string, max: number): string | undefined {
  const value = optionalString(input, member);
  if (value !== undefined && value.length > max) throw validationError(member, value, `Member must have length less than or equal to ${max}`);
  return value;
}

function repositoryPolicyOf(input: Input): string | undefined {
  const text = boundedString(input, 'repositoryPolicy', 10_240);
  if (text === undefined) return undefined;
  try {
    parsePolicyDocument(text, 'repository');
  } catch (err) {
    if (err instanceof PolicyValidationError) throw invalidParameter('repositoryPolicy', err.message);
    throw err;
  }
  return text;
}

/** The members of a Create/Update request that are present, validated. */
function templateFields(context: EcrActionContext): Partial<RepositoryCreationTemplate> {
  const { input, options } = context;
  const fields: Partial<RepositoryCreationTemplate> = {};
  const description = boundedString(input, 'description', 256);
  if (description !== undefined) fields.description = description;
  const mutability = mutabilityOf(input, false);
  if (mutability) Object.assign(fields, mutability);
  if (optionalObject(input, 'encryptionConfiguration')) fields.encryptionConfiguration = encryptionOf(input, options.encryption ?? { encryptionType: 'AES256' });
  if (input.resourceTags !== undefined && input.resourceTags !== null) fields.resourceTags = tagsOf(input, 'resourceTags');
  const policy = repositoryPolicyOf(input);
  if (policy !== undefined) fields.repositoryPolicy = policy;
  const lifecyclePolicy = boundedString(input, 'lifecyclePolicy', 30_720);
  if (lifecyclePolicy !== undefined) {
    // A template's policy is what PutLifecyclePolicy would take: refused now, not at the push it would apply to.
    try {
      parseLifecyclePolicy(lifecyclePolicy);
    } catch (err) {
      if (err instanceof LifecyclePolicyValidationError) throw invalidParameter('lifecyclePolicy', err.message);
      throw err;
    }
    fields.lifecyclePolicy = lifecyclePolicy;
  }
  const customRoleArn = boundedString(input, 'customRoleArn', 2048);
  if (customRoleArn !== undefined) fields.customRoleArn = customRoleArn;
  const appliedFor = appliedForOf(input, false);
  if (appliedFor) fields.appliedFor = appliedFor;
  return fields;
}

/** A template as ECR's RepositoryCreationTemplate shape. */
function templateObject(t: RepositoryCreationTemplateRecord): Record<string, unknown> {
  return {
    prefix: t.prefix,
    ...(t.description !== undefined ? { description: t.description } : {}),
    encryptionConfiguration: t.encryptionConfiguration,
    resourceTags: t.resourceTags,
    imageTagMutability: t.imageTagMutability,
    ...(t.imageTagMutabilityExclusionFilters.length > 0 ? { imageTagMutabilityExclusionFilters: t.imageTagMutabilityExclusionFilters } : {}),
    ...(t.repositoryPolicy !== undefined ? { repositoryPolicy: t.repositoryPolicy } : {}),
    ...(t.lifecyclePolicy !== undefined ? { lifecyclePolicy: t.lifecyclePolicy } : {}),
    appliedFor: t.appliedFor,
    ...(t.customRoleArn !== undefined ? { customRoleArn: t.customRoleArn } : {}),
    createdAt: epochSeconds(t.createdAt),
    updatedAt: epochSeconds(t.updatedAt),
  };
}

export const REGISTRY_ACTIONS: Record<string, EcrActionDefinition> = {
  DescribeRegistry: {
    iamAction: 'ecr:DescribeRegistry',
    async run({ options }) {
      // The stored configuration (PutReplicationConfiguration, ecr-actions/replication.ts); no rules when none was put.
      return { registryId: options.registryAccount, replicationConfiguration: replicationConfigurationObject(await options.operations.replication.get()) };
    },
  },

  GetAccountSetting: {
    iamAction: 'ecr:GetAccountSetting',
    async run({ input, options }) {
      const name = requiredString(input, 'name');
      if (name !== CREATE_ON_PUSH_SETTING) throw invalidParameter('name', `this registry has one account setting, ${CREATE_ON_PUSH_SETTING}`);
      return { name, value: (await options.operations.registrySettings.createOnPush()) ? 'ENABLED' : 'DISABLED' };
    },
  },

  PutAccountSetting: {
    iamAction: 'ecr:PutAccountSetting',
    async run({ input, options }) {
      const name = requiredString(input, 'name');
      if (name !== CREATE_ON_PUSH_SETTING) throw invalidParameter('name', `this registry has one account setting, ${CREATE_ON_PUSH_SETTING}`);
      const value = requiredString(input, 'value');
      if (value !== 'ENABLED' && value !== 'DISABLED') throw invalidParameter('value', `${CREATE_ON_PUSH_SETTING} is ENABLED or DISABLED`);
      await options.operations.registrySettings.setCreateOnPush(value === 'ENABLED');
      return { name, value };
    },
  },

  CreateRepositoryCreationTemplate: {
    iamAction: 'ecr:CreateRepositoryCreationTemplate',
    async run(context) {
      const { input, options } = context;
      const prefix = prefixOf(input);
      appliedForOf(input, true);
      const fields = templateFields(context);
      const created = await options.operations.templates.create({
        ...fields,
        prefix,
        appliedFor: fields.appliedFor!,
        encryptionConfiguration: fields.encryptionConfiguration ?? encryptionOf({}, options.encryption ?? { encryptionType: 'AES256' }),
      });
      return { registryId: options.registryAccount, repositoryCreationTemplate: templateObject(created) };
    },
  },

  DescribeRepositoryCreationTemplates: {
    iamAction: 'ecr:DescribeRepositoryCreationTemplates',
    async run({ input, options }) {
      const prefixes = optionalList(input, 'prefixes', 0, 100);
      const wanted = prefixes?.map((p, i) => {
        if (typeof p !== 'string') throw serializationError(`prefixes.${i + 1} must be a string`);
        return prefixOf({ prefix: p });
      });
      const max = maxResultsOf(input, 1000, 100);
      const token = decodeToken(input);
      const after = token === undefined ? undefined : typeof token.after === 'string' ? token.after : undefined;
      if (token !== undefined && after === undefined) throw invalidParameter('nextToken', 'the token is not one this registry issued');
      const page = await options.operations.templates.list({ prefixes: wanted, after, limit: max });
      return {
        registryId: options.registryAccount,
        repositoryCreationTemplates: page.items.map(templateObject),
        ...(page.more ? { nextToken: encodeToken({ after: page.items[page.items.length - 1].prefix }) } : {}),
      };
    },
  },

  UpdateRepositoryCreationTemplate: {
    iamAction: 'ecr:UpdateRepositoryCreationTemplate',
    async run(context) {
      const { input, options } = context;
      const prefix = prefixOf(input);
      const fields = templateFields(context);
      const updated = await options.operations.templates.update(prefix, fields);
      return { registryId: options.registryAccount, repositoryCreationTemplate: templateObject(updated) };
    },
  },

  DeleteRepositoryCreationTemplate: {
    iamAction: 'ecr:DeleteRepositoryCreationTemplate',
    async run({ input, options }) {
      const prefix = prefixOf(input);
      const deleted = await options.operations.templates.delete(prefix);
      return { registryId: options.registryAccount, repositoryCreationTemplate: templateObject(deleted) };
    },
  },
};
