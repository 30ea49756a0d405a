/**
 * ECR's repository actions: CreateRepository, DeleteRepository, DescribeRepositories,
 * PutImageTagMutability, PutImageScanningConfiguration, TagResource, UntagResource,
 * ListTagsForResource, over the core's Repositories (core/repositories.ts). Inputs are validated with
 * ECR's exception names and constraints (API Reference); repositories are answered in ECR's
 * Repository shape (common.ts).
 */
import { MAX_RESOURCE_TAGS, tooManyTags } from '../../core/repositories';
import type { ImageTagMutability, RepositorySettings } from '../../core/model';
import type { EcrActionContext, EcrActionDefinition, EcrEncryption } from './types';
import { ecrError } from '../ecr-errors';
import {
  checkRegistryId,
  constraints,
  decodeToken,
  encodeToken,
  invalidParameter,
  maxResultsOf,
  optionalBoolean,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNameOf,
  repositoryObject,
  requiredEnum,
  requiredString,
  serializationError,
  validationError,
  validRepositoryName,
  type Input,
} from './common';

const MUTABILITIES: readonly ImageTagMutability[] = ['MUTABLE', 'IMMUTABLE', 'IMMUTABLE_WITH_EXCLUSION', 'MUTABLE_WITH_EXCLUSION'];
/** ECR's quota of exclusion filters per repository (the tags quota is the core's, MAX_RESOURCE_TAGS). */
export const MAX_EXCLUSION_FILTERS = 5;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const EXCLUSION_FILTER = /^[0-9a-zA-Z._*-]{1,128}$/;

// ---- validation --------------------------------------------------------------------------------

export function tagsOf(input: Input, member = 'tags'): Array<{ Key: string; Value: string }> {
  const list = optionalList(input, member, 0, 200) ?? [];
  const seen = new Set<string>();
  const tags = list.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw serializationError(`${member}.${i + 1} must be an object`);
    const tag = entry as Input;
    const Key = requiredString(tag, 'Key');
    const Value = requiredString(tag, 'Value');
    if (Key.length < 1 || Key.length > 128 || !TAG_TEXT.test(Key)) {
      throw ecrError('InvalidTagParameterException', { detail: `Invalid tag key '${Key.slice(0, 140)}': 1 to 128 letters, digits, spaces and _ . : / = + - @` });
    }
    if (Key.toLowerCase().startsWith('aws:')) throw ecrError('InvalidTagParameterException', { detail: `Invalid tag key '${Key}': the aws: prefix is reserved for AWS use` });
    if (Value.length > 256 || !TAG_TEXT.test(Value)) {
      throw ecrError('InvalidTagParameterException', { detail: `Invalid value for tag '${Key}': at most 256 letters, digits, spaces and _ . : / = + - @` });
    }
    if (seen.has(Key)) throw ecrError('InvalidTagParameterException', { detail: `Tag key '${Key}' appears more than once in the request` });
    seen.add(Key);
    return { Key, Value };
  });
  if (tags.length > MAX_RESOURCE_TAGS) throw tooManyTags(tags.length);
  return tags;
}

/** imageTagMutability with its exclusion filters, as CreateRepository and PutImageTagMutability take them. */
export function mutabilityOf(input: Input, required: boolean): Pick<RepositorySettings, 'imageTagMutability' | 'imageTagMutabilityExclusionFilters'> | undefined {
  if (!required && (input.imageTagMutability === undefined || input.imageTagMutability === null)) {
    if (input.imageTagMutabilityExclusionFilters !== undefined && input.imageTagMutabilityExclusionFilters !== null) {
      throw invalidParameter('imageTagMutabilityExclusionFilters', 'exclusion filters need imageTagMutability IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION');
    }
    return undefined;
  }
  const imageTagMutability = requiredEnum(input, 'imageTagMutability', MUTABILITIES);
  const list = optionalList(input, 'imageTagMutabilityExclusionFilters', 1, MAX_EXCLUSION_FILTERS);
  const withExclusion = imageTagMutability.endsWith('_WITH_EXCLUSION');
  if (withExclusion && !list) {
    throw invalidParameter('imageTagMutabilityExclusionFilters', `${imageTagMutability} needs between 1 and ${MAX_EXCLUSION_FILTERS} exclusion filters`);
  }
  if (!withExclusion && list) {
    throw invalidParameter('imageTagMutabilityExclusionFilters', `exclusion filters are only taken with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not ${imageTagMutability}`);
  }
  const filters = (list ?? []).map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw serializationError(`imageTagMutabilityExclusionFilters.${i + 1} must be an object`);
    const filterType = requiredEnum(entry as Input, 'filterType', ['WILDCARD'] as const);
    const filter = requiredString(entry as Input, 'filter');
    if (!EXCLUSION_FILTER.test(filter)) {
      throw validationError(`imageTagMutabilityExclusionFilters.${i + 1}.member.filter`, filter, 'Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}');
    }
    return { filterType, filter };
  });
  return { imageTagMutability, imageTagMutabilityExclusionFilters: filters };
}

function scanningOf(input: Input, required: boolean): RepositorySettings['imageScanningConfiguration'] | undefined {
  const config = optionalObject(input, 'imageScanningConfiguration');
  if (!config) {
    if (required) throw validationError('imageScanningConfiguration', null, 'Member must not be null');
    return undefined;
  }
  return { scanOnPush: optionalBoolean(config, 'scanOnPush') ?? false };
}

function describeEncryption(e: { encryptionType: string; kmsKey?: string }): string {
  return e.encryptionType === 'KMS' ? `KMS with key ${e.kmsKey ?? '(the AWS managed key)'}` : 'AES256 (SSE-S3)';
}

/** The key named by an ARN or a bare key id: `arn:aws:kms:r:a:key/<id>` and `<id>` are the same key. */
const keyId = (key: string) => key.replace(/^arn:[^:]+:kms:[^:]*:\d*:key\//, '');

/**
 * The registry encrypts every blob with the deployment's setting, so a repository can only have
 * that setting: a request for another one is refused, saying so, until per-repository keys exist.
 */
export function encryptionOf(input: Input, deployment: EcrEncryption): RepositorySettings['encryptionConfiguration'] {
  const config = optionalObject(input, 'encryptionConfiguration');
  const effective = { encryptionType: deployment.encryptionType, ...(deployment.kmsKey !== undefined ? { kmsKey: deployment.kmsKey } : {}) };
  if (!config) return effective;
  const encryptionType = requiredEnum(config, 'encryptionType', ['AES256', 'KMS', 'KMS_DSSE'] as const);
  const kmsKey = optionalString(config, 'kmsKey');
  if (kmsKey !== undefined && kmsKey.length < 1) throw validationError('encryptionConfiguration.kmsKey', kmsKey, constraints.minLength(1));
  if (kmsKey !== undefined && kmsKey.length > 2048) throw validationError('encryptionConfiguration.kmsKey', kmsKey, constraints.maxLength(2048));
  if (encryptionType === 'AES256' && kmsKey !== undefined) throw invalidParameter('encryptionConfiguration.kmsKey', 'a KMS key is only taken with encryptionType KMS');
  const sameType = encryptionType === deployment.encryptionType;
  const sameKey = kmsKey === undefined || (deployment.kmsKey !== undefined && keyId(kmsKey) === keyId(deployment.kmsKey));
  if (!sameType || !sameKey) {
    throw invalidParameter(
      'encryptionConfiguration',
      `this registry encrypts every image with the deployment's setting, ${describeEncryption(deployment)}; ` +
        `per-repository encryption is not supported yet, so ${describeEncryption({ encryptionType, kmsKey })} cannot be used. ` +
        'Omit encryptionConfiguration, or ask for exactly that setting',
    );
  }
  return effective;
}

// ---- helpers -----------------------------------------------------------------------------------

const ARN = /^arn:aws[a-z-]*:ecr:([a-z0-9-]+):(\d{12}):repository\/(.+)$/;

/** The repository a resource ARN names (validated); the account and region are checked in `run`. */
function repositoryOfArn(input: Input): string {
  const arn = requiredString(input, 'resourceArn');
  const match = ARN.exec(arn);
  if (!match) throw invalidParameter('resourceArn', `'${arn.slice(0, 300)}' is not a repository ARN (arn:aws:ecr:<region>:<account>:repository/<name>)`);
  return validRepositoryName(match[3], 'resourceArn');
}

function repositoryOfOwnArn(context: EcrActionContext): string {
  const arn = requiredString(context.input, 'resourceArn');
  const name = repositoryOfArn(context.input);
  const [, region, account] = ARN.exec(arn)!;
  const { options } = context;
  if (account !== options.registryAccount || region !== options.region) {
    throw invalidParameter('resourceArn', `this registry is account ${options.registryAccount} in ${options.region}; '${arn.slice(0, 300)}' names another`);
  }
  return name;
}

// ---- the actions -------------------------------------------------------------------------------

export const REPOSITORY_ACTIONS: Record<string, EcrActionDefinition> = {
  CreateRepository: {
    iamAction: 'ecr:CreateRepository',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const name = repositoryNameOf(input);
      const created = await options.operations.repositories.create(name, {
        ...mutabilityOf(input, false),
        imageScanningConfiguration: scanningOf(input, false),
        encryptionConfiguration: encryptionOf(input, options.encryption ?? { encryptionType: 'AES256' }),
        tags: tagsOf(input),
      });
      return { repository: repositoryObject(context, name, created) };
    },
  },

  DeleteRepository: {
    iamAction: 'ecr:DeleteRepository',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const name = repositoryNameOf(input);
      const force = optionalBoolean(input, 'force') ?? false;
      const settings = await options.operations.repositories.delete(name, force);
      return { repository: repositoryObject(context, name, settings) };
    },
  },

  DescribeRepositories: {
    iamAction: 'ecr:DescribeRepositories',
    // Each named repository is authorized against its own ARN; a listing against `repository/*`,
    // and then leaves out the repositories whose own policies deny the caller (docs/ecr-compatibility.md).
    repositories: (input) => {
      const names = optionalList(input, 'repositoryNames', 1, 100);
      if (!names) return undefined;
      return names.map((value, i) => {
        if (typeof value !== 'string') throw serializationError(`repositoryNames.${i + 1} must be a string`);
        return validRepositoryName(value, 'repositoryNames');
      });
    },
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const names = optionalList(input, 'repositoryNames', 1, 100);
      if (names) {
        if (input.nextToken !== undefined || input.maxResults !== undefined) {
          throw invalidParameter('repositoryNames', 'maxResults and nextToken cannot be used together with repositoryNames');
        }
        const repositories = [];
        for (const [i, value] of names.entries()) {
          if (typeof value !== 'string') throw serializationError(`repositoryNames.${i + 1} must be a string`);
          const name = validRepositoryName(value, 'repositoryNames');
          repositories.push(repositoryObject(context, name, await options.operations.repositories.settings(name)));
        }
        return { repositories };
      }
      const limit = maxResultsOf(input, 1000, 100);
      const token = decodeToken(input);
      const last = token === undefined ? undefined : typeof token.last === 'string' ? token.last : undefined;
      if (token !== undefined && last === undefined) throw invalidParameter('nextToken', 'the token is not one this registry issued');
      const page = await options.operations.repositories.list({ last, limit });
      const repositories = [];
      for (const name of page.items) {
        if (!(await context.mayAccess(name))) continue;
        const settings = await options.operations.repositories.find(name);
        // Deleted between the listing and this read: left out.
        if (settings) repositories.push(repositoryObject(context, name, settings));
      }
      return {
        repositories,
        ...(page.more && page.items.length > 0 ? { nextToken: encodeToken({ last: page.items[page.items.length - 1] }) } : {}),
      };
    },
  },

  PutImageTagMutability: {
    iamAction: 'ecr:PutImageTagMutability',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const name = repositoryNameOf(input);
      const mutability = mutabilityOf(input, true)!;
      const updated = await options.operations.repositories.setTagMutability(name, mutability);
      return {
        registryId: options.registryAccount,
        repositoryName: name,
        imageTagMutability: updated.imageTagMutability,
        ...(updated.imageTagMutabilityExclusionFilters.length > 0 ? { imageTagMutabilityExclusionFilters: updated.imageTagMutabilityExclusionFilters } : {}),
      };
    },
  },

  PutImageScanningConfiguration: {
    iamAction: 'ecr:PutImageScanningConfiguration',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const name = repositoryNameOf(input);
      const imageScanningConfiguration = scanningOf(input, true)!;
      const updated = await options.operations.repositories.setScanningConfiguration(name, imageScanningConfiguration);
      return { registryId: options.registryAccount, repositoryName: name, imageScanningConfiguration: updated.imageScanningConfiguration };
    },
  },

  TagResource: {
    iamAction: 'ecr:TagResource',
    repository: repositoryOfArn,
    async run(context) {
      const name = repositoryOfOwnArn(context);
      const tags = tagsOf(context.input);
      if (context.input.tags === undefined || context.input.tags === null) throw validationError('tags', null, 'Member must not be null');
      await context.options.operations.repositories.tag(name, tags);
      return {};
    },
  },

  UntagResource: {
    iamAction: 'ecr:UntagResource',
    repository: repositoryOfArn,
    async run(context) {
      const name = repositoryOfOwnArn(context);
      const keys = optionalList(context.input, 'tagKeys', 0, 200);
      if (!keys) throw validationError('tagKeys', null, 'Member must not be null');
      if (keys.some((k) => typeof k !== 'string')) throw serializationError('tagKeys must be a list of strings');
      await context.options.operations.repositories.untag(name, keys as string[]);
      return {};
    },
  },

  ListTagsForResource: {
    iamAction: 'ecr:ListTagsForResource',
    repository: repositoryOfArn,
    async run(context) {
      const name = repositoryOfOwnArn(context);
      const settings = await context.options.operations.repositories.settings(name);
      return { tags: settings.tags };
    },
  },
};
