/**
 * The `meta` partition: the layout version, the registry's policy and settings, and the
 * repository creation templates.
 */
import { DeleteCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DYNAMODB_LAYOUT_VERSION, LAYOUT_SK, META_PK, REGISTRY_POLICY_SK, REGISTRY_SETTINGS_SK, templateSk } from '../../contracts/dynamodb-table';
import { StorageLayoutError } from '../errors';
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings, type RepositoryCreationTemplate, type RepositoryCreationTemplateRecord } from '../../core/model';
import { upgradeFromVersion2 } from './layout-upgrade';
import { get, queryPrefix } from './reads';
import { storable, type TableContext } from './table';
import { isConditionFailure, retrying } from './transactions';

/**
 * Throws StorageLayoutError unless the table holds this build's layout: an empty table gets it, a
 * table at version 2 is upgraded in place first (layout-upgrade.ts).
 */
export async function checkLayout(t: TableContext): Promise<void> {
  const location = `DynamoDB table ${t.table}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const layout = await get(t, { pk: META_PK, sk: LAYOUT_SK });
    if (layout) {
      if (layout.version === 2) {
        await upgradeFromVersion2(t);
        continue;
      }
      if (layout.version !== DYNAMODB_LAYOUT_VERSION) {
        throw new StorageLayoutError(location, `metadata layout version ${String(layout.version)}; this build reads version ${DYNAMODB_LAYOUT_VERSION}`);
      }
      return;
    }
    const scan = await t.doc.send(new ScanCommand({ TableName: t.table, Limit: 1, ConsistentRead: true, ProjectionExpression: 'pk' }));
    if ((scan.Items?.length ?? 0) > 0 || scan.LastEvaluatedKey) throw new StorageLayoutError(location, 'metadata has no layout version');
    try {
      await t.doc.send(
        new PutCommand({
          TableName: t.table,
          Item: { pk: META_PK, sk: LAYOUT_SK, version: DYNAMODB_LAYOUT_VERSION },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // Another instance wrote it first: read what it wrote.
    }
  }
  throw new StorageLayoutError(location, 'the layout version could not be read');
}

export async function getRegistryPolicy(t: TableContext): Promise<string | null> {
  const item = await get(t, { pk: META_PK, sk: REGISTRY_POLICY_SK });
  return item ? (item.policy as string) : null;
}

export async function setRegistryPolicy(t: TableContext, policy: string | null): Promise<void> {
  if (policy === null) await t.doc.send(new DeleteCommand({ TableName: t.table, Key: { pk: META_PK, sk: REGISTRY_POLICY_SK } }));
  else await t.doc.send(new PutCommand({ TableName: t.table, Item: { pk: META_PK, sk: REGISTRY_POLICY_SK, policy } }));
}

export async function getRegistrySettings(t: TableContext): Promise<RegistrySettings> {
  const item = await get(t, { pk: META_PK, sk: REGISTRY_SETTINGS_SK });
  return { ...DEFAULT_REGISTRY_SETTINGS, ...((item?.settings as RegistrySettings | undefined) ?? {}) };
}

export async function setRegistrySettings(t: TableContext, settings: RegistrySettings): Promise<void> {
  await t.doc.send(new PutCommand({ TableName: t.table, Item: { pk: META_PK, sk: REGISTRY_SETTINGS_SK, settings } }));
}

export async function createRepositoryCreationTemplate(t: TableContext, template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
  const key = { pk: META_PK, sk: templateSk(template.prefix) };
  if (!storable(key)) return null;
  const now = new Date().toISOString();
  const record: RepositoryCreationTemplateRecord = { ...template, createdAt: now, updatedAt: now };
  try {
    await t.doc.send(new PutCommand({ TableName: t.table, Item: { ...key, template: record, rev: 0 }, ConditionExpression: 'attribute_not_exists(pk)' }));
    return record;
  } catch (err) {
    if (isConditionFailure(err)) return null;
    throw err;
  }
}

export async function listRepositoryCreationTemplates(t: TableContext): Promise<RepositoryCreationTemplateRecord[]> {
  const items = await queryPrefix(t, META_PK, templateSk(''), Infinity, '#template', { '#template': 'template' });
  return items.map((item) => item.template as RepositoryCreationTemplateRecord);
}

export async function updateRepositoryCreationTemplate(
  t: TableContext,
  prefix: string,
  update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
): Promise<RepositoryCreationTemplateRecord | null> {
  const key = { pk: META_PK, sk: templateSk(prefix) };
  if (!storable(key)) return null;
  return retrying<RepositoryCreationTemplateRecord | null>(t, async () => {
    const item = await get(t, key);
    if (!item) return { done: null };
    const { createdAt, updatedAt: _updatedAt, ...current } = item.template as RepositoryCreationTemplateRecord;
    const next: RepositoryCreationTemplateRecord = { ...update(structuredClone(current)), prefix, createdAt, updatedAt: new Date().toISOString() };
    try {
      await t.doc.send(
        new PutCommand({
          TableName: t.table,
          Item: { ...key, template: next, rev: (item.rev as number) + 1 },
          ConditionExpression: '#rev = :rev',
          ExpressionAttributeNames: { '#rev': 'rev' },
          ExpressionAttributeValues: { ':rev': item.rev },
        }),
      );
      return { done: next };
    } catch (err) {
      if (isConditionFailure(err)) return { again: true };
      throw err;
    }
  });
}

export async function deleteRepositoryCreationTemplate(t: TableContext, prefix: string): Promise<RepositoryCreationTemplateRecord | null> {
  const key = { pk: META_PK, sk: templateSk(prefix) };
  if (!storable(key)) return null;
  const res = await t.doc.send(new DeleteCommand({ TableName: t.table, Key: key, ReturnValues: 'ALL_OLD' }));
  return (res.Attributes?.template as RepositoryCreationTemplateRecord | undefined) ?? null;
}
