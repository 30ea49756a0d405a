/**
 * Repositories, their settings and policy, and blob links (docs/storage.md, "Repository
 * settings"). Deleting a repository or a link is in deletes.ts.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  GSI1,
  GSI1_REPOSITORIES,
  gsi1BlobPk,
  linkSk,
  POLICY_SK,
  REPO_SK,
  repoPk,
  SETTINGS_SK,
} from '../../contracts/dynamodb-table';
import { DEFAULT_REPOSITORY_SETTINGS, type RepositorySettings, type RepositorySettingsRecord } from '../../core/model';
import type { RepositoryRecord } from '../../core/model';
import { ContentBeingDeletedError, type BlobLink, type LinkedBlob, type Page, type PageRequest } from '../ports';
import { countLinks, deletingSince } from './content';
import { batchGet, get, pageByKey, pageItemsByKey } from './reads';
import { bytes, keyString, MAX_PK_BYTES, storable, writableKey, type Action, type Item, type TableContext } from './table';
import { retrying, transactOrRetry } from './transactions';

export async function getRepository(t: TableContext, name: string): Promise<RepositoryRecord | null> {
  const item = await get(t, { pk: repoPk(name), sk: REPO_SK });
  return item ? { name: item.name as string, createdAt: item.createdAt as string } : null;
}

export async function listRepositories(t: TableContext, page: PageRequest): Promise<Page> {
  return pageByKey(t, { TableName: t.table, IndexName: GSI1 }, 'gpk', GSI1_REPOSITORIES, 'gsk', '', page, (item) => item.gsk as string);
}

export async function createRepository(t: TableContext, name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
  const pk = repoPk(name);
  const key = writableKey({ pk, sk: REPO_SK });
  const createdAt = new Date().toISOString();
  const actions: Action[] = [
    {
      Put: {
        TableName: t.table,
        Item: { ...key, name, createdAt, gpk: GSI1_REPOSITORIES, gsk: name },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    { Put: { TableName: t.table, Item: { pk, sk: SETTINGS_SK, settings, rev: 0 } } },
  ];
  return retrying<RepositorySettingsRecord | null>(t, async () => ((await transactOrRetry(t, actions)) ? { done: { ...settings, createdAt } } : { done: null }));
}

export async function getRepositorySettings(t: TableContext, name: string): Promise<RepositorySettingsRecord | null> {
  const pk = repoPk(name);
  if (!storable({ pk, sk: REPO_SK })) return null;
  const found = await batchGet(t, [
    { pk, sk: REPO_SK },
    { pk, sk: SETTINGS_SK },
  ]);
  const repo = found.get(keyString({ pk, sk: REPO_SK }));
  if (!repo) return null;
  const settings = (found.get(keyString({ pk, sk: SETTINGS_SK }))?.settings as RepositorySettings | undefined) ?? DEFAULT_REPOSITORY_SETTINGS;
  return { ...settings, createdAt: repo.createdAt as string };
}

export async function updateRepositorySettings(
  t: TableContext,
  name: string,
  update: (current: RepositorySettings) => RepositorySettings,
): Promise<RepositorySettingsRecord | null> {
  const pk = repoPk(name);
  if (!storable({ pk, sk: REPO_SK })) return null;
  const repoKey = { pk, sk: REPO_SK };
  const settingsKey = { pk, sk: SETTINGS_SK };
  return retrying<RepositorySettingsRecord | null>(t, async () => {
    const found = await batchGet(t, [repoKey, settingsKey]);
    const repo = found.get(keyString(repoKey));
    if (!repo) return { done: null };
    const stored = found.get(keyString(settingsKey));
    const current = (stored?.settings as RepositorySettings | undefined) ?? DEFAULT_REPOSITORY_SETTINGS;
    const next = update(structuredClone(current));
    const rev = stored ? (stored.rev as number) : undefined;
    const written = await transactOrRetry(t, [
      { ConditionCheck: { TableName: t.table, Key: repoKey, ConditionExpression: 'attribute_exists(pk)' } },
      {
        Put: {
          TableName: t.table,
          Item: { ...settingsKey, settings: next, rev: (rev ?? -1) + 1 },
          ...(rev === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: { ':rev': rev } }),
        },
      },
    ]);
    return written ? { done: { ...next, createdAt: repo.createdAt as string } } : { again: true };
  });
}

/** The Update that creates the repository item if it is missing (a push creates its repository). */
export function ensureRepository(t: TableContext, repository: string) {
  return {
    TableName: t.table,
    Key: writableKey({ pk: repoPk(repository), sk: REPO_SK }),
    UpdateExpression: 'SET #name = :name, createdAt = if_not_exists(createdAt, :now), gpk = :gpk, gsk = :name',
    ExpressionAttributeNames: { '#name': 'name' },
    ExpressionAttributeValues: { ':name': repository, ':now': new Date().toISOString(), ':gpk': GSI1_REPOSITORIES },
  };
}

/**
 * The link and its count on the content's record in one transaction: a new link (or one not yet
 * counted, written before layout 3) adds 1 and is marked `counted`; a renewal only touches the
 * record. The link's write is conditional on what was read, so a link made or removed meanwhile
 * is read again, never counted twice or not at all.
 */
export async function linkBlob(t: TableContext, repository: string, digest: string, link: BlobLink): Promise<void> {
  const repoKey = { pk: repoPk(repository), sk: REPO_SK };
  const linkKey = writableKey({ pk: repoPk(repository), sk: linkSk(digest) });
  await retrying<void>(t, async () => {
    const found = await batchGet(t, [repoKey, linkKey], 'pk, sk, #counted', { '#counted': 'counted' });
    const counted = found.get(keyString(linkKey))?.counted === true;
    // SET, not Put: the `users` count of an existing link must survive a second link.
    const updateLink = {
      TableName: t.table,
      Key: linkKey,
      UpdateExpression: 'SET #size = :size, gpk = :gpk, gsk = :gsk, linkedAt = :now, #counted = :true',
      ConditionExpression: counted ? 'attribute_exists(#counted)' : 'attribute_not_exists(#counted)',
      ExpressionAttributeNames: { '#size': 'size', '#counted': 'counted' },
      ExpressionAttributeValues: { ':size': link.size, ':gpk': gsi1BlobPk(digest), ':gsk': repository, ':now': new Date(t.now()).toISOString(), ':true': true },
    };
    const actions: Action[] = [{ Update: updateLink }, { Update: countLinks(t, digest, counted ? 0 : 1, true, link.size) }];
    // A repository seen is (almost always) still there. The one exception, a deleteRepository
    // finishing meanwhile, is in docs/storage.md ("Deleting a repository").
    if (!found.has(keyString(repoKey))) actions.push({ Update: ensureRepository(t, repository) });
    if (await transactOrRetry(t, actions)) return { done: undefined };
    if ((await deletingSince(t, digest)) !== undefined) throw new ContentBeingDeletedError(digest);
    return { again: true };
  });
}

export async function statBlobLink(t: TableContext, repository: string, digest: string): Promise<BlobLink | null> {
  const item = await get(t, { pk: repoPk(repository), sk: linkSk(digest) });
  return item ? { size: item.size as number } : null;
}

/** Links written before layout 3 carry no `linkedAt`: they count as made at the epoch. */
export async function listBlobLinks(t: TableContext, repository: string, page: PageRequest): Promise<{ items: LinkedBlob[]; more: boolean }> {
  const pk = repoPk(repository);
  if (!storable({ pk, sk: REPO_SK })) return { items: [], more: false };
  const prefix = linkSk('');
  const { items, more } = await pageItemsByKey(t, { TableName: t.table, ConsistentRead: true }, 'pk', pk, 'sk', prefix, page, (item) => (item.sk as string).slice(prefix.length));
  return {
    items: items.map(({ name, item }) => ({ digest: name, size: item.size as number, linkedAt: (item.linkedAt as string | undefined) ?? new Date(0).toISOString() })),
    more,
  };
}

export async function repositoriesWithBlob(t: TableContext, digest: string, limit: number): Promise<string[]> {
  if (limit <= 0 || bytes(gsi1BlobPk(digest)) > MAX_PK_BYTES) return [];
  const out: string[] = [];
  let start: Item | undefined;
  do {
    const res = await t.doc.send(
      new QueryCommand({
        TableName: t.table,
        IndexName: GSI1,
        KeyConditionExpression: 'gpk = :gpk',
        ExpressionAttributeValues: { ':gpk': gsi1BlobPk(digest) },
        Limit: limit - out.length,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) out.push(item.gsk as string);
    start = res.LastEvaluatedKey;
  } while (start && out.length < limit);
  return out;
}

export async function getRepositoryPolicy(t: TableContext, repository: string): Promise<string | null> {
  const item = await get(t, { pk: repoPk(repository), sk: POLICY_SK });
  return item ? (item.policy as string) : null;
}

export async function setRepositoryPolicy(t: TableContext, repository: string, policy: string | null): Promise<boolean> {
  const pk = repoPk(repository);
  if (!storable({ pk, sk: REPO_SK })) return false;
  const write: Action =
    policy === null ? { Delete: { TableName: t.table, Key: { pk, sk: POLICY_SK } } } : { Put: { TableName: t.table, Item: { pk, sk: POLICY_SK, policy } } };
  // The repository must exist at the moment the policy is written (repositories are never half there).
  return transactOrRetry(t, [{ ConditionCheck: { TableName: t.table, Key: { pk, sk: REPO_SK }, ConditionExpression: 'attribute_exists(pk)' } }, write]);
}
