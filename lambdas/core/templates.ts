/**
 * Repository creation templates (ECR's): the settings a repository created through one gets, and
 * which template applies to a name. `ROOT` matches every name; a prefix `prod` (or `prod/`) matches
 * the names under `prod/` (ECR's rule: "a prefix of prod would apply to all repositories beginning
 * with prod/"). The longest matching prefix wins; ROOT is the shortest.
 */
import type { TemplateStore } from '../storage/ports';
import { DomainError } from './domain-errors';
import type { RepositoryCreationTemplate, RepositoryCreationTemplateRecord, RepositoryCreationTemplateUse } from './model';

/** Whether a template's prefix covers a repository name. */
export function templateMatches(prefix: string, repository: string): boolean {
  if (prefix === 'ROOT') return true;
  const namespace = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return repository.startsWith(namespace);
}

/** The template for a repository name created by `use` (a push by default): the longest matching prefix among those applied for it. */
export function templateFor(
  templates: RepositoryCreationTemplateRecord[],
  repository: string,
  use: RepositoryCreationTemplateUse = 'CREATE_ON_PUSH',
): RepositoryCreationTemplateRecord | undefined {
  let best: RepositoryCreationTemplateRecord | undefined;
  let bestLength = -1;
  for (const t of templates) {
    if (!t.appliedFor.includes(use) || !templateMatches(t.prefix, repository)) continue;
    const length = t.prefix === 'ROOT' ? 0 : t.prefix.replace(/\/$/, '').length;
    if (length > bestLength) {
      best = t;
      bestLength = length;
    }
  }
  return best;
}

/** A new template's members: what is not given takes the defaults (a mutable repository, no tags). */
export type NewTemplate = Partial<RepositoryCreationTemplate> & Pick<RepositoryCreationTemplate, 'prefix' | 'appliedFor' | 'encryptionConfiguration'>;

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class CreationTemplates {
  constructor(private readonly store: TemplateStore) {}

  /** TEMPLATE_EXISTS when one has that prefix. */
  async create(template: NewTemplate): Promise<RepositoryCreationTemplateRecord> {
    const created = await this.store.createRepositoryCreationTemplate({
      imageTagMutability: 'MUTABLE',
      imageTagMutabilityExclusionFilters: [],
      resourceTags: [],
      ...template,
    });
    if (!created) throw new DomainError('TEMPLATE_EXISTS', { prefix: template.prefix });
    return created;
  }

  /** Templates in byte order of prefix, after `after` (exclusive), only `prefixes` when some are named. */
  async list(options: { prefixes?: readonly string[]; after?: string; limit: number }): Promise<{ items: RepositoryCreationTemplateRecord[]; more: boolean }> {
    const { prefixes, after, limit } = options;
    const all = (await this.store.listRepositoryCreationTemplates()).filter(
      (t) => (!prefixes || prefixes.length === 0 || prefixes.includes(t.prefix)) && (after === undefined || byteOrder(t.prefix, after) > 0),
    );
    return { items: all.slice(0, limit), more: all.length > limit };
  }

  /** Replaces the given members; a new mode without filters clears the old filters (they only go with the *_WITH_EXCLUSION modes). TEMPLATE_UNKNOWN. */
  async update(prefix: string, fields: Partial<RepositoryCreationTemplate>): Promise<RepositoryCreationTemplateRecord> {
    const updated = await this.store.updateRepositoryCreationTemplate(prefix, (current) => ({
      ...current,
      ...fields,
      ...(fields.imageTagMutability !== undefined && fields.imageTagMutabilityExclusionFilters === undefined ? { imageTagMutabilityExclusionFilters: [] } : {}),
      prefix,
    }));
    if (!updated) throw new DomainError('TEMPLATE_UNKNOWN', { prefix });
    return updated;
  }

  /** Deletes a template and answers what it was; TEMPLATE_UNKNOWN. */
  async delete(prefix: string): Promise<RepositoryCreationTemplateRecord> {
    const deleted = await this.store.deleteRepositoryCreationTemplate(prefix);
    if (!deleted) throw new DomainError('TEMPLATE_UNKNOWN', { prefix });
    return deleted;
  }
}
