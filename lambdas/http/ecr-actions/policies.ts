/**
 * ECR's policy actions: Set/Get/DeleteRepositoryPolicy and Put/Get/DeleteRegistryPolicy, over the
 * core's Policies. A policy document is checked against the grammar on the way in
 * (core/policy/policy-document.ts): InvalidParameterException at 'PolicyText' naming what is wrong.
 */
import { parsePolicyDocument, PolicyValidationError } from '../../core/policy/policy-document';
import type { EcrActionDefinition } from './types';
import { checkRegistryId, invalidParameter, repositoryNameOf, requiredString, type Input } from './common';

function policyTextOf(input: Input, kind: 'repository' | 'registry'): string {
  const text = requiredString(input, 'policyText');
  try {
    parsePolicyDocument(text, kind);
  } catch (err) {
    if (err instanceof PolicyValidationError) throw invalidParameter('PolicyText', err.message);
    throw err;
  }
  return text;
}

export const POLICY_ACTIONS: Record<string, EcrActionDefinition> = {
  SetRepositoryPolicy: {
    iamAction: 'ecr:SetRepositoryPolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const policyText = policyTextOf(input, 'repository');
      await options.operations.policies.setRepositoryPolicy(repositoryName, policyText);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  GetRepositoryPolicy: {
    iamAction: 'ecr:GetRepositoryPolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      // The core checks that the repository exists, then that it has a policy.
      const repositoryName = repositoryNameOf(input);
      const policyText = await options.operations.policies.repositoryPolicy(repositoryName);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  DeleteRepositoryPolicy: {
    iamAction: 'ecr:DeleteRepositoryPolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      // The core checks that the repository exists, then that it has a policy.
      const repositoryName = repositoryNameOf(input);
      const policyText = await options.operations.policies.deleteRepositoryPolicy(repositoryName);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  PutRegistryPolicy: {
    iamAction: 'ecr:PutRegistryPolicy',
    async run({ input, options }) {
      const policyText = policyTextOf(input, 'registry');
      await options.operations.policies.setRegistryPolicy(policyText);
      return { registryId: options.registryAccount, policyText };
    },
  },

  GetRegistryPolicy: {
    iamAction: 'ecr:GetRegistryPolicy',
    async run({ options }) {
      const policyText = await options.operations.policies.registryPolicy();
      return { registryId: options.registryAccount, policyText };
    },
  },

  DeleteRegistryPolicy: {
    iamAction: 'ecr:DeleteRegistryPolicy',
    async run({ options }) {
      const policyText = await options.operations.policies.deleteRegistryPolicy();
      return { registryId: options.registryAccount, policyText };
    },
  },
};
