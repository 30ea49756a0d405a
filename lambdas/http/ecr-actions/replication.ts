/**
 * ECR's replication actions over the core's ReplicationConfigurations (core/replication/configuration.ts):
 * PutReplicationConfiguration and DescribeImageReplicationStatus; DescribeRegistry (ecr-actions/registry.ts)
 * answers the stored configuration with replicationConfigurationObject.
 *
 * A configuration the core refuses is InvalidParameterException at 'replicationConfiguration' with
 * the core's message, which names the rule and the field. `deleteReplication` is read and answered as
 * raw JSON: @aws-sdk/client-ecr 3.1169 predates it (berth ecr adds it itself, ecr-cli.ts).
 *
 * DescribeImageReplicationStatus answers the statuses the replicator recorded for the image's digest,
 * for the destinations the rules give its repository (ReplicationConfigurations.statusOf; docs/replication.md).
 */
import { ReplicationConfigurationError } from '../../core/replication/configuration';
import type { ReplicationConfiguration } from '../../core/model';
import { ecrError } from '../ecr-errors';
import type { EcrActionDefinition } from './types';
import { checkRegistryId, existingRepository, imageIdOf, invalidParameter, missingMember, optionalObject, repositoryNameOf } from './common';

/** A configuration as ECR's ReplicationConfiguration shape (members in the model's order). */
export function replicationConfigurationObject(configuration: ReplicationConfiguration): Record<string, unknown> {
  return {
    rules: configuration.rules.map((rule) => ({
      destinations: rule.destinations.map(({ region, registryId }) => ({ region, registryId })),
      ...(rule.repositoryFilters !== undefined ? { repositoryFilters: rule.repositoryFilters.map(({ filter, filterType }) => ({ filter, filterType })) } : {}),
      ...(rule.deleteReplication !== undefined ? { deleteReplication: { enabled: rule.deleteReplication.enabled } } : {}),
    })),
  };
}

export const REPLICATION_ACTIONS: Record<string, EcrActionDefinition> = {
  PutReplicationConfiguration: {
    iamAction: 'ecr:PutReplicationConfiguration',
    async run({ input, options }) {
      const raw = optionalObject(input, 'replicationConfiguration');
      if (raw === undefined) throw missingMember('replicationConfiguration');
      try {
        const stored = await options.operations.replication.put(raw);
        return { replicationConfiguration: replicationConfigurationObject(stored) };
      } catch (err) {
        if (err instanceof ReplicationConfigurationError) throw invalidParameter('replicationConfiguration', err.message);
        throw err;
      }
    },
  },

  DescribeImageReplicationStatus: {
    iamAction: 'ecr:DescribeImageReplicationStatus',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repositoryName = await existingRepository(context);
      if (input.imageId === undefined || input.imageId === null) throw missingMember('imageId');
      const id = imageIdOf(input.imageId, 'imageId');
      const resolved = await options.operations.images.resolve(repositoryName, { digest: id.imageDigest, tag: id.imageTag });
      if (!resolved.ok) {
        if (resolved.reason === 'invalid-digest' || resolved.reason === 'invalid-tag') throw invalidParameter('imageId', `the image id is not valid (${resolved.reason})`);
        throw ecrError('ImageNotFoundException', { name: repositoryName, account: options.registryAccount, digest: id.imageDigest, tag: id.imageTag });
      }
      const statuses = await options.operations.replication.statusOf(repositoryName, resolved.digest);
      return {
        repositoryName,
        imageId: { imageDigest: resolved.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) },
        replicationStatuses: statuses.map((s) => ({ region: s.region, registryId: s.registryId, status: s.status, ...(s.failureCode !== undefined ? { failureCode: s.failureCode } : {}) })),
      };
    },
  },
};
