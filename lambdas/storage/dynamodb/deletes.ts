/**
 * Deletes: a blob link, a manifest (with its tags, pins and referrer entry), a tag, a repository.
 * Each is conditional on what it read; why the steps are ordered as they are is in docs/storage.md
 * ("Invariants", "Deleting a manifest", "Deleting a repository").
 */
import { linkSk, manifestSk, parentSk, POLICY_SK, REPO_SK, referrerSk, repoPk, scanSk, SETTINGS_SK, tagSk, taggedSk, usageSk } from '../../contracts/dynamodb-table';
import { imageDeleteChanges, untagChanges, type DeleteMarks } from '../image-changes';
import { sameTags, type DeleteManifestOptions, type DeleteTagOptions, type DeleteRepositoryResult, type UnlinkOptions } from '../ports';
import type { DeleteResult } from '../ports';
import { countLinks } from './content';
import { changeTime, outboxPut } from './outbox';
import { referencePins, releaseOrphanPins, unpin } from './pins';
import { get, queryPartition, queryPrefix, suffixes } from './reads';
import { deleteReplicationStatuses } from './replication-status';
import { MAX_ACTIONS, storable, type Action, type Key, type TableContext } from './table';
import { backoff, increment, MAX_ATTEMPTS, retrying, sleep, transactOrRetry, transactOrRetryConflicts } from './transactions';

/**
 * The link's Delete (unless a manifest uses it, or it was renewed since `linkedBefore`) and, when it
 * was counted, one link fewer on the content's record, in one transaction. Every condition is on what
 * was read: a link renewed, pinned or counted meanwhile is read again.
 */
export async function unlinkBlob(t: TableContext, repository: string, digest: string, options: UnlinkOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'recent'>> {
  const key = { pk: repoPk(repository), sk: linkSk(digest) };
  if (!storable(key)) return { ok: false, reason: 'unknown', by: [] };
  const before = options.linkedBefore !== undefined ? new Date(options.linkedBefore).toISOString() : undefined;
  return retrying<DeleteResult<'in-use' | 'unknown' | 'recent'>>(t, async () => {
    const link = await get(t, key);
    if (!link) return { done: { ok: false, reason: 'unknown', by: [] } };
    if (((link.users as number | undefined) ?? 0) > 0) {
      const { holders, released } = await releaseOrphanPins(t, key, 'users', `usage#${digest}#`);
      if (released > 0) return { again: true, immediately: true };
      return { done: { ok: false, reason: 'in-use', by: holders.slice(0, 20) } };
    }
    // Links written before layout 3 carry no time: made at the epoch.
    if (before !== undefined && ((link.linkedAt as string | undefined) ?? '') >= before) return { done: { ok: false, reason: 'recent', by: [] } };
    return (await transactOrRetry(t, linkDelete(t, key, digest, link.counted === true, before))) ? { done: { ok: true } } : { again: true };
  });
}

/** A link's Delete, while no manifest uses it (and it is older than `before`), with its count taken off the content's record. */
function linkDelete(t: TableContext, key: Key, digest: string, counted: boolean, before?: string): Action[] {
  const names: Record<string, string> = { '#users': 'users', '#counted': 'counted' };
  const values: Record<string, unknown> = { ':zero': 0 };
  let condition = `attribute_exists(pk) AND (attribute_not_exists(#users) OR #users = :zero) AND ${counted ? 'attribute_exists' : 'attribute_not_exists'}(#counted)`;
  if (before !== undefined) {
    condition += ' AND (attribute_not_exists(#linkedAt) OR #linkedAt < :before)';
    names['#linkedAt'] = 'linkedAt';
    values[':before'] = before;
  }
  const actions: Action[] = [{ Delete: { TableName: t.table, Key: key, ConditionExpression: condition, ExpressionAttributeNames: names, ExpressionAttributeValues: values } }];
  if (counted) actions.push({ Update: countLinks(t, digest, -1, false) });
  return actions;
}

export async function deleteManifest(
  t: TableContext,
  repository: string,
  digest: string,
  options: DeleteManifestOptions = {},
): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
  const pk = repoPk(repository);
  const key = { pk, sk: manifestSk(digest) };
  if (!storable(key)) return { ok: false, reason: 'unknown', by: [] };
  // Tags untagged in steps below recorded their own DELETEs: the image then needs no untagged one.
  let untaggedInSteps = false;
  return retrying<DeleteResult<'in-use' | 'unknown' | 'tagged'>>(t, async () => {
    const item = await get(t, key, true, 'pk, sk, #blobs, #children, #subject, #rev, #parents, #pinId, #bodyCounted', {
      '#blobs': 'blobs',
      '#children': 'children',
      '#subject': 'subject',
      '#rev': 'rev',
      '#parents': 'parents',
      '#pinId': 'pinId',
      '#bodyCounted': 'bodyCounted',
    });
    if (!item) return { done: { ok: false, reason: 'unknown', by: [] } };
    // Read after the item: a tag moved on since bumps `rev`, which the delete below is conditional on.
    // Tags first: a delete meant for an image's last tag leaves an image with other tags alone, index or not.
    const tags = await suffixes(t, pk, `tagged#${digest}#`, Infinity);
    if (options.onlyIfTags && !sameTags(tags, options.onlyIfTags)) return { done: { ok: false, reason: 'tagged', by: tags.slice(0, 20) } };
    if (((item.parents as number | undefined) ?? 0) > 0) {
      const { holders, released } = await releaseOrphanPins(t, key, 'parents', `parent#${digest}#`);
      if (released > 0) return { again: true, immediately: true };
      return { done: { ok: false, reason: 'in-use', by: holders.slice(0, 20) } };
    }
    const pinId = item.pinId as string;
    const blobs = [...new Set(item.blobs as string[])];
    const children = [...new Set(item.children as string[])];
    // A body kept as content counts as a link on its record (docs/storage.md, "Content records").
    const bodyCounted = item.bodyCounted === true;
    // Too many references to unpin in the delete's transaction: the manifest goes first, the pins after it.
    // Always in the transaction: the manifest's Delete, the outbox item, the scan record's Delete, the referrer entry and the body's count.
    const always = 3 + (item.subject !== undefined ? 1 : 0) + (bodyCounted ? 1 : 0);
    const unpinAfter = always + 2 * (blobs.length + children.length) > MAX_ACTIONS;
    const budget = MAX_ACTIONS - always - (unpinAfter ? 0 : 2 * (blobs.length + children.length));
    const fitting = Math.max(0, Math.floor(budget / 2));
    if (tags.length > fitting) {
      // Too many tags for one transaction: untag first (each step a state deleteTag could leave), then look again.
      for (const tag of tags.slice(fitting)) {
        if (await untag(t, repository, tag, digest, options)) untaggedInSteps = true;
      }
      return { again: true, immediately: true };
    }
    const actions: Action[] = [
      {
        Delete: {
          TableName: t.table,
          Key: key,
          // `pinId` too: a manifest deleted and pushed again meanwhile has rev 0 again, but other pins.
          ConditionExpression: 'attribute_exists(pk) AND #rev = :rev AND #pinId = :pinId AND (attribute_not_exists(#parents) OR #parents = :zero)',
          ExpressionAttributeNames: { '#rev': 'rev', '#parents': 'parents', '#pinId': 'pinId' },
          ExpressionAttributeValues: { ':rev': item.rev ?? 0, ':zero': 0, ':pinId': pinId },
        },
      },
    ];
    for (const tag of tags) {
      actions.push({ Delete: tagDelete(t, pk, tag, digest) });
      actions.push({ Delete: { TableName: t.table, Key: { pk, sk: taggedSk(digest, tag) } } });
    }
    if (!unpinAfter) {
      for (const b of blobs) {
        actions.push({ Update: increment(t, { pk, sk: linkSk(b) }, 'users', -1) });
        actions.push({ Delete: { TableName: t.table, Key: { pk, sk: usageSk(b, digest, pinId) } } });
      }
      for (const c of children) {
        actions.push({ Update: increment(t, { pk, sk: manifestSk(c) }, 'parents', -1) });
        actions.push({ Delete: { TableName: t.table, Key: { pk, sk: parentSk(c, digest, pinId) } } });
      }
    }
    if (item.subject !== undefined) actions.push({ Delete: { TableName: t.table, Key: { pk, sk: referrerSk(item.subject as string, digest) } } });
    // The image's scan record goes with it, whether it has one or not (docs/storage.md, "Image scan records").
    actions.push({ Delete: { TableName: t.table, Key: { pk, sk: scanSk(digest) } } });
    if (bodyCounted) actions.push({ Update: countLinks(t, digest, -1, false) });
    if (tags.length > 0 || !untaggedInSteps) actions.push(outboxPut(t, imageDeleteChanges(repository, digest, tags, changeTime(), options)));
    if (!(await transactOrRetry(t, actions))) return { again: true };
    if (unpinAfter) {
      // The manifest is gone; a failure here leaves pins too many, which only keeps blobs and children longer.
      await unpin(t, referencePins(pk, digest, pinId, blobs, children)).catch(() => undefined);
    }
    return { done: { ok: true } };
  });
}

export async function deleteTag(t: TableContext, repository: string, tag: string, options: DeleteTagOptions = {}): Promise<boolean> {
  const key = { pk: repoPk(repository), sk: tagSk(tag) };
  if (!storable(key)) return false;
  return retrying<boolean>(t, async () => {
    const item = await get(t, key, true, '#digest', { '#digest': 'digest' });
    // untag() is conditional on this digest: a tag moved meanwhile is read again, then refused here.
    if (!item || (options.ifDigest !== undefined && item.digest !== options.ifDigest)) return { done: false };
    return (await untag(t, repository, tag, item.digest as string, options)) ? { done: true } : { again: true };
  });
}

function tagDelete(t: TableContext, pk: string, tag: string, digest: string) {
  return {
    TableName: t.table,
    Key: { pk, sk: tagSk(tag) },
    ConditionExpression: '#digest = :digest',
    ExpressionAttributeNames: { '#digest': 'digest' },
    ExpressionAttributeValues: { ':digest': digest },
  };
}

/** Removes `tag` if it still names `digest`, recording its DELETE with `marks`; false when it moved or went meanwhile. */
async function untag(t: TableContext, repository: string, tag: string, digest: string, marks: DeleteMarks = {}): Promise<boolean> {
  const pk = repoPk(repository);
  return transactOrRetry(t, [
    { Delete: tagDelete(t, pk, tag, digest) },
    { Delete: { TableName: t.table, Key: { pk, sk: taggedSk(digest, tag) } } },
    outboxPut(t, untagChanges(repository, digest, [tag], changeTime(), marks)),
  ]);
}

/** In steps, each a state the ordinary operations could also leave, the repository item last. */
export async function deleteRepository(t: TableContext, name: string, force: boolean): Promise<DeleteRepositoryResult> {
  const pk = repoPk(name);
  const repoKey = { pk, sk: REPO_SK };
  if (!storable(repoKey) || !(await get(t, repoKey))) return { ok: false, reason: 'unknown' };
  for (let round = 0; round < MAX_ATTEMPTS; round++) {
    if (round > 0) await sleep(backoff(round));
    // 1. manifests: those no index pins, a few at a time; pinned ones go in a later pass.
    const manifests = await queryPrefix(t, pk, 'manifest#', force ? Infinity : 1, 'sk, #parents', { '#parents': 'parents' });
    if (manifests.length > 0) {
      if (!force) return { ok: false, reason: 'not-empty' };
      const free = manifests.filter((m) => ((m.parents as number | undefined) ?? 0) === 0).map((m) => (m.sk as string).slice('manifest#'.length));
      for (let i = 0; i < free.length; i += 8) await Promise.all(free.slice(i, i + 8).map((digest) => deleteManifest(t, name, digest)));
      if (free.length === 0) {
        // Every manifest left is pinned by a parent that does not exist: orphan pins, or an index push in progress.
        for (const m of manifests) await deleteManifest(t, name, (m.sk as string).slice('manifest#'.length));
      }
      continue;
    }
    // 2. blob links, unless a racing push pinned one. Links still counted as used with no manifest left are
    // held by orphan pins (released by unlinkBlob) or by a push in progress (wait for it).
    const links = await queryPrefix(t, pk, 'link#', Infinity, 'sk, #users, #counted', { '#users': 'users', '#counted': 'counted' });
    const held = links.filter((link) => ((link.users as number | undefined) ?? 0) > 0);
    for (const link of held) await unlinkBlob(t, name, (link.sk as string).slice('link#'.length));
    if (held.length > 0) continue;
    let pinned = false;
    // Each link with its count on the content's record: two actions per link.
    for (let i = 0; i < links.length && !pinned; i += MAX_ACTIONS / 2) {
      const batch: Action[] = links
        .slice(i, i + MAX_ACTIONS / 2)
        .flatMap((link) => linkDelete(t, { pk, sk: link.sk as string }, (link.sk as string).slice('link#'.length), link.counted === true));
      pinned = !(await transactOrRetryConflicts(t, batch));
    }
    if (pinned) continue;
    // Then replication statuses, which nothing else removes (a manifest's delete leaves them).
    await deleteReplicationStatuses(t, pk);
    // 3. nothing else may be left under the repository.
    const rest = await queryPartition(t, pk, 4);
    if (rest.some((item) => ![REPO_SK, POLICY_SK, SETTINGS_SK].includes(item.sk as string))) continue;
    // 4. the repository, its policy and settings at one instant.
    const deleted = await transactOrRetryConflicts(t, [
      { Delete: { TableName: t.table, Key: { pk, sk: POLICY_SK } } },
      { Delete: { TableName: t.table, Key: { pk, sk: SETTINGS_SK } } },
      { Delete: { TableName: t.table, Key: repoKey, ConditionExpression: 'attribute_exists(pk)' } },
    ]);
    // A failed condition: another delete finished first.
    return deleted ? { ok: true } : { ok: false, reason: 'unknown' };
  }
  throw new Error(`DynamoDB table ${t.table}: gave up deleting repository ${name} after ${MAX_ATTEMPTS} rounds against concurrent pushes`);
}
