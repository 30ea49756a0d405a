/**
 * ECR's scanning configuration actions over the core's RegistryScanningConfigurations
 * (core/scanning/policy.ts): PutRegistryScanningConfiguration, GetRegistryScanningConfiguration and
 * BatchGetRepositoryScanningConfiguration (each repository's effective configuration, the core's
 * effectiveScanning).
 *
 * The top-level members are checked as the AWS JSON front checks them (ValidationException: `scanType`
 * outside BASIC/ENHANCED, more than 2 `rules`, 1..25 `repositoryNames` of ECR's pattern); what the core
 * refuses (ENHANCED, which needs Amazon Inspector, and anything inside a rule) is
 * InvalidParameterException at `scanType` or `rules` with the core's message, which names the rule and
 * the field, as PutReplicationConfiguration's refusals do. A refusal writes nothing.
 */
import { repositoryArn } from '../../contracts/ecr-actions';
import { MAX_SCANNING_RULES, SCAN_TYPES, ScanningConfigurationError } from '../../core/scanning/policy';
import type { RegistryScanningConfiguration } from '../../core/model';
import type { EcrActionDefinition } from './types';
import { constraints, invalidParameter, missingMember, optionalList, serializationError, validationError, validRepositoryName, type Input } from './common';

/** ECR's limit on BatchGetRepositoryScanningConfiguration's repositoryNames. */
export const MAX_SCANNING_CONFIGURATION_REPOSITORIES = 25;

/** A configuration as ECR's RegistryScanningConfiguration shape. */
export function registryScanningConfigurationObject(configuration: RegistryScanningConfiguration): Record<string, unknown> {
  return {
    scanType: configuration.scanType,
    rules: configuration.rules.map((rule) => ({
      scanFrequency: rule.scanFrequency,
      repositoryFilters: rule.repositoryFilters.map(({ filter, filterType }) => ({ filter, filterType })),
    })),
  };
}

/** BatchGetRepositoryScanningConfiguration's names, validated (each authorized against its own ARN), each once. */
function repositoryNamesOf(input: Input): string[] {
  if (input.repositoryNames === undefined || input.repositoryNames === null) throw missingMember('repositoryNames');
  const names = optionalList(input, 'repositoryNames', 1, MAX_SCANNING_CONFIGURATION_REPOSITORIES)!;
  const valid = names.map((value, i) => {
    if (typeof value !== 'string') throw serializationError(`repositoryNames.${i + 1} must be a string`);
    return validRepositoryName(value, 'repositoryNames');
  });
  return [...new Set(valid)];
}

export const SCANNING_CONFIGURATION_ACTIONS: Record<string, EcrActionDefinition> = {
  PutRegistryScanningConfiguration: {
    iamAction: 'ecr:PutRegistryScanningConfiguration',
    async run({ input, options }) {
      const { scanType } = input;
      if (scanType !== undefined && scanType !== null) {
        if (typeof scanType !== 'string') throw serializationError('scanType must be a string');
        if (!(SCAN_TYPES as readonly string[]).includes(scanType)) throw validationError('scanType', scanType, constraints.oneOf(SCAN_TYPES));
      }
      const rules = optionalList(input, 'rules', 0, MAX_SCANNING_RULES);
      try {
        const stored = await options.operations.scanning.put({ scanType, rules });
        return { registryScanningConfiguration: registryScanningConfigurationObject(stored) };
      } catch (err) {
        if (err instanceof ScanningConfigurationError) throw invalidParameter(err.field.startsWith('scanType') ? 'scanType' : 'rules', err.message);
        throw err;
      }
    },
  },

  GetRegistryScanningConfiguration: {
    iamAction: 'ecr:GetRegistryScanningConfiguration',
    async run({ options }) {
      return { registryId: options.registryAccount, scanningConfiguration: registryScanningConfigurationObject(await options.operations.scanning.get()) };
    },
  },

  BatchGetRepositoryScanningConfiguration: {
    iamAction: 'ecr:BatchGetRepositoryScanningConfiguration',
    repositories: repositoryNamesOf,
    async run({ input, options }) {
      const found: Array<{ name: string; scanOnPush: boolean }> = [];
      const failures: Record<string, unknown>[] = [];
      for (const name of repositoryNamesOf(input)) {
        const settings = await options.operations.repositories.find(name);
        if (settings) found.push({ name, scanOnPush: settings.imageScanningConfiguration.scanOnPush });
        else {
          failures.push({
            repositoryName: name,
            failureCode: 'REPOSITORY_NOT_FOUND',
            failureReason: `The repository with name '${name}' does not exist in the registry with id '${options.registryAccount}'`,
          });
        }
      }
      const effective = await options.operations.scanning.effective(found);
      return {
        scanningConfigurations: found.map((repository, i) => ({
          repositoryArn: repositoryArn(options.region, options.registryAccount, repository.name),
          repositoryName: repository.name,
          scanOnPush: effective[i].scanOnPush,
          scanFrequency: effective[i].frequency,
          appliedScanFilters: effective[i].appliedFilters.map(({ filter, filterType }) => ({ filter, filterType })),
        })),
        failures,
      };
    },
  },
};
