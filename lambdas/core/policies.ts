/**
 * Repository and registry policies: setting, reading and deleting them (the documents are checked
 * against the policy grammar by whoever takes them in, core/policy/policy-document.ts), and the raw
 * reads authorization evaluates them from.
 */
import type { PolicyStore } from '../storage/ports';
import { DomainError } from './domain-errors';
import { unknownRepository, type Repositories } from './repositories';

export class Policies {
  constructor(
    private readonly store: PolicyStore,
    private readonly repositories: Repositories,
  ) {}

  /** The repository's policy, or null when it has none (or does not exist): for authorization. */
  findRepositoryPolicy(name: string): Promise<string | null> {
    return this.store.getRepositoryPolicy(name);
  }

  /** The registry's policy, or null: for authorization. */
  findRegistryPolicy(): Promise<string | null> {
    return this.store.getRegistryPolicy();
  }

  /** NAME_UNKNOWN when the repository does not exist. */
  async setRepositoryPolicy(name: string, policy: string): Promise<void> {
    if (!(await this.store.setRepositoryPolicy(name, policy))) throw unknownRepository(name);
  }

  /** NAME_UNKNOWN, or REPOSITORY_POLICY_UNKNOWN when the repository has none. */
  async repositoryPolicy(name: string): Promise<string> {
    await this.repositories.require(name);
    const policy = await this.store.getRepositoryPolicy(name);
    if (policy === null) throw new DomainError('REPOSITORY_POLICY_UNKNOWN', { name });
    return policy;
  }

  /** Removes the repository's policy and answers what it was; refused as repositoryPolicy is. */
  async deleteRepositoryPolicy(name: string): Promise<string> {
    const policy = await this.repositoryPolicy(name);
    if (!(await this.store.setRepositoryPolicy(name, null))) throw unknownRepository(name);
    return policy;
  }

  setRegistryPolicy(policy: string): Promise<void> {
    return this.store.setRegistryPolicy(policy);
  }

  /** REGISTRY_POLICY_UNKNOWN when there is none. */
  async registryPolicy(): Promise<string> {
    const policy = await this.store.getRegistryPolicy();
    if (policy === null) throw new DomainError('REGISTRY_POLICY_UNKNOWN', {});
    return policy;
  }

  /** Removes the registry's policy and answers what it was. */
  async deleteRegistryPolicy(): Promise<string> {
    const policy = await this.registryPolicy();
    await this.store.setRegistryPolicy(null);
    return policy;
  }
}
