/** LmdbMetadataStore's registry-wide entries: registry settings and policy, repository creation templates. */
import type { RootDatabase } from 'lmdb';
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings, type RepositoryCreationTemplate, type RepositoryCreationTemplateRecord } from '../../../core/model';
import { HIGH, key, prefix, storable } from './keys';

export async function getRegistrySettings(db: RootDatabase): Promise<RegistrySettings> {
  return { ...DEFAULT_REGISTRY_SETTINGS, ...(db.get('registry-settings') ?? {}) };
}

export async function setRegistrySettings(db: RootDatabase, settings: RegistrySettings): Promise<void> {
  await db.put('registry-settings', settings);
}

export async function getRegistryPolicy(db: RootDatabase): Promise<string | null> {
  return db.get('registry-policy') ?? null;
}

export async function setRegistryPolicy(db: RootDatabase, policy: string | null): Promise<void> {
  if (policy === null) await db.remove('registry-policy');
  else await db.put('registry-policy', policy);
}

export async function createRepositoryCreationTemplate(db: RootDatabase, template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
  const k = key('template', template.prefix);
  if (!storable(k)) return null;
  return db.transaction((): RepositoryCreationTemplateRecord | null => {
    if (db.get(k) !== undefined) return null;
    const now = new Date().toISOString();
    const record = { ...template, createdAt: now, updatedAt: now };
    db.put(k, record);
    return record;
  });
}

export async function listRepositoryCreationTemplates(db: RootDatabase): Promise<RepositoryCreationTemplateRecord[]> {
  const start = prefix('template');
  return [...db.getRange({ start, end: start + HIGH })].map(({ value }) => value as RepositoryCreationTemplateRecord);
}

export async function updateRepositoryCreationTemplate(
  db: RootDatabase,
  templatePrefix: string,
  update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
): Promise<RepositoryCreationTemplateRecord | null> {
  const k = key('template', templatePrefix);
  if (!storable(k)) return null;
  return db.transaction((): RepositoryCreationTemplateRecord | null => {
    const current: RepositoryCreationTemplateRecord | undefined = db.get(k);
    if (current === undefined) return null;
    const { createdAt, updatedAt: _updatedAt, ...template } = structuredClone(current);
    const next = { ...update(template), prefix: templatePrefix, createdAt, updatedAt: new Date().toISOString() };
    db.put(k, next);
    return next;
  });
}

export async function deleteRepositoryCreationTemplate(db: RootDatabase, templatePrefix: string): Promise<RepositoryCreationTemplateRecord | null> {
  const k = key('template', templatePrefix);
  if (!storable(k)) return null;
  return db.transaction((): RepositoryCreationTemplateRecord | null => {
    const current: RepositoryCreationTemplateRecord | undefined = db.get(k);
    if (current === undefined) return null;
    db.remove(k);
    return current;
  });
}
