/**
 * putManifest: the manifest, its pins, its referrer entry and its tag move in one transaction, or
 * in two phases when its references do not fit in one (docs/storage.md, "Transaction size" and
 * "Two-phase puts"). A put of an archived manifest restores it in its transaction ("The archive state").
 */
import { randomUUID } from 'node:crypto';
import { linkSk, manifestSk, parentSk, referrerSk, repoPk, scanSk, tagSk, taggedSk, usageSk } from '../../contracts/dynamodb-table';
import type { StoredManifest } from '../../core/model';
import { manifestPutChanges } from '../image-changes';
import { scanTime } from '../image-scans';
import { ContentBeingDeletedError, type PutManifestOptions, type PutManifestResult } from '../ports';
import { countLinks, deletingSince } from './content';
import { manifestFromItem, manifestItem, referrerItem, tagItem } from './items';
import { pin, pinRecord, referencePins, unpin, type Pin } from './pins';
import { changeTime, outboxPut } from './outbox';
import { batchGet, get, suffixes } from './reads';
import { ensureRepository } from './repositories';
import { scanOnPush } from './image-scans';
import { checkItemSize, keyString, MAX_ACTIONS, writableKey, type Action, type Item, type Key, type TableContext } from './table';
import { increment, retrying, transactOrRetry, transactOrRetryConflicts } from './transactions';
import { movedTo, moveUpdate, stateCondition, stripCopies, tagCopyUpdate, withArchiveState, type ArchiveState, type Expression } from './storage-class';

export async function putManifest(
  t: TableContext,
  repository: string,
  given: StoredManifest,
  tag?: string,
  options: PutManifestOptions = {},
): Promise<PutManifestResult> {
  // A manifest starts active; a stored one keeps (or, archived, restores) its own state below.
  const manifest: StoredManifest = withArchiveState(given, {});
  // Scanned on push: the image's scan record, IN_PROGRESS, in the put's transaction ("Image scan records").
  const scanStartedAt = options.scan !== undefined ? scanTime(options.scan.startedAt, 'scan.startedAt') : undefined;
  const pk = repoPk(repository);
  const blobs = [...new Set(manifest.blobs)];
  const children = [...new Set(manifest.children)];
  const references = blobs.length + children.length;
  // A body kept as content (too large for the item) counts as one more link on its content record.
  const external = manifest.body === undefined;
  // The manifest, its referrer entry, its tag (3), the repository when nothing else proves it, the outbox item, the body's count, the scan record.
  const fixed = 1 + (manifest.subject !== undefined ? 1 : 0) + (tag !== undefined ? 3 : 0) + (references === 0 ? 1 : 0) + 1 + (external ? 1 : 0) + (scanStartedAt !== undefined ? 1 : 0);
  // Too many references for one transaction: pin them first, in chunks, then commit the manifest.
  const twoPhase = fixed + 2 * references > MAX_ACTIONS;
  const manifestKey = writableKey({ pk, sk: manifestSk(manifest.digest) });
  const tagKey = tag !== undefined ? writableKey({ pk, sk: tagSk(tag) }) : undefined;
  const scanKey = scanStartedAt !== undefined ? writableKey({ pk, sk: scanSk(manifest.digest) }) : undefined;
  // Sized with a stand-in pinId: each attempt below draws its own, of the same length.
  const item = manifestItem(manifestKey, manifest, randomUUID());
  const referrer = manifest.subject !== undefined ? referrerItem(writableKey({ pk, sk: referrerSk(manifest.subject, manifest.digest) }), manifest) : undefined;
  checkItemSize(`the record of manifest ${manifest.digest}`, item);
  if (referrer) checkItemSize(`the referrer entry of manifest ${manifest.digest}`, referrer);

  return retrying<PutManifestResult>(t, async () => {
    // Names this attempt's pins: the manifest item owns the records that carry its pinId (see "Orphan pins").
    // A fresh one per attempt, so that a chunk an earlier attempt wrote without knowing it stays an orphan.
    const pinId = randomUUID();
    item.pinId = pinId;
    const linkKeys = blobs.map((b) => ({ pk, sk: linkSk(b) }));
    const childKeys = children.map((c) => ({ pk, sk: manifestSk(c) }));
    const found = await batchGet(t, [...linkKeys, ...childKeys, manifestKey, ...(tagKey ? [tagKey] : []), ...(scanKey ? [scanKey] : [])], 'pk, sk, #rev, #digest, #pinId, #storageClass', {
      '#rev': 'rev',
      '#digest': 'digest',
      '#pinId': 'pinId',
      '#storageClass': 'storageClass',
    });
    const missingBlobs = blobs.filter((_, i) => !found.has(keyString(linkKeys[i])));
    const missingManifests = children.filter((_, i) => !found.has(keyString(childKeys[i])));
    if (missingBlobs.length > 0 || missingManifests.length > 0) return { done: { ok: false, missingBlobs, missingManifests } };

    const exists = found.has(keyString(manifestKey));
    const storedKeys = found.get(keyString(manifestKey));
    const pushed = changeTime();
    const previous = tagKey ? (found.get(keyString(tagKey))?.digest as string | undefined) : undefined;
    // The tag write below is conditional on `previous`, so a racing push that set the tag
    // after this read makes the transaction fail, and the retry sees the new holder here.
    if (options.immutableTag && previous !== undefined && previous !== manifest.digest) return { done: { ok: false, tagHeldBy: previous } };
    const actions: Action[] = [];
    let pins: Pin[] = [];
    if (!exists && twoPhase) {
      actions.push({ Put: { TableName: t.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } });
      pins = referencePins(pk, manifest.digest, pinId, blobs, children);
      if (referrer) actions.push({ Put: { TableName: t.table, Item: referrer } });
      if (external) actions.push({ Update: countLinks(t, manifest.digest, 1, true) });
    } else if (!exists) {
      actions.push({ Put: { TableName: t.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } });
      for (const b of blobs) {
        actions.push({ Update: increment(t, { pk, sk: linkSk(b) }, 'users', 1) });
        actions.push({ Put: { TableName: t.table, Item: pinRecord(t, { pk, sk: usageSk(b, manifest.digest, pinId) }) } });
      }
      for (const c of children) {
        actions.push({ Update: increment(t, { pk, sk: manifestSk(c) }, 'parents', 1) });
        actions.push({ Put: { TableName: t.table, Item: pinRecord(t, { pk, sk: parentSk(c, manifest.digest, pinId) }) } });
      }
      if (referrer) actions.push({ Put: { TableName: t.table, Item: referrer } });
      if (external) actions.push({ Update: countLinks(t, manifest.digest, 1, true) });
      // Links and children exist only in existing repositories (deleteRepository removes its
      // links, conditionally on `users` = 0, before the repository item).
      if (references === 0) actions.push({ Update: ensureRepository(t, repository) });
    }
    // Archived: this put restores it, its item and every tag's copy (read after the item: a tag moved onto it bumps `rev`).
    const restore = storedKeys?.storageClass === 'ARCHIVE' ? moveUpdate('STANDARD', pushed.toISOString()) : undefined;
    const restoredTags = restore ? await suffixes(t, pk, `tagged#${manifest.digest}#`, Infinity) : [];
    // The stored item's state when a tag moves onto it: the tag's copy is taken of that state.
    let movedOnto: (ArchiveState & { pushedAt: string }) | undefined;
    if (tag !== undefined && tagKey && previous !== manifest.digest) {
      // The tag item carries a copy of the record it names: of the stored item when there is one.
      let named: StoredManifest = manifest;
      if (exists) {
        const stored = await get(t, manifestKey);
        if (!stored) return { again: true, immediately: true };
        named = manifestFromItem(stored);
        movedOnto = named;
        if (restore) named = withArchiveState(named, movedTo(named, 'STANDARD', pushed.toISOString()));
      }
      actions.push({
        Put: {
          TableName: t.table,
          Item: tagItem(tagKey, named),
          ...(previous === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: '#digest = :previous', ExpressionAttributeNames: { '#digest': 'digest' }, ExpressionAttributeValues: { ':previous': previous } }),
        },
      });
      actions.push({ Put: { TableName: t.table, Item: { pk, sk: taggedSk(manifest.digest, tag) } } });
      if (previous !== undefined) actions.push({ Delete: { TableName: t.table, Key: { pk, sk: taggedSk(previous, tag) } } });
    }
    if (restore || movedOnto) actions.push({ Update: storedManifestUpdate(t, manifestKey, restore && storedKeys ? { update: restore, item: storedKeys } : undefined, movedOnto) });
    // A manifest this put creates starts its scan; one stored already only when it has no scan record (a re-push keeps its findings).
    const scanned = scanKey !== undefined && found.has(keyString(scanKey));
    const scanStart = scanKey && scanStartedAt !== undefined && (!exists || !scanned) ? scanOnPush(t, scanKey, manifest.digest, scanStartedAt, scanned) : undefined;
    // With a write of the manifest item (its Put, or an Update conditional on it) in this transaction; else with the checks below.
    if (scanStart && actions.length > 0) actions.push(scanStart);
    if (restore) {
      // Every action so far and the outbox item, then as many tags as fit; the rest lose their copy first.
      const fitting = Math.max(0, MAX_ACTIONS - actions.length - 1);
      await stripCopies(t, pk, manifest.digest, restoredTags.slice(fitting));
      for (const restored of restoredTags.slice(0, fitting)) actions.push(tagCopyUpdate(t, pk, restored, manifest.digest, restore));
    }
    // Every successful put records its PUSH, in the transaction that commits it (docs/storage.md, "The outbox").
    const record = outboxPut(t, manifestPutChanges(repository, manifest.digest, tag, pushed, options.replicatedFrom));
    if (actions.length === 0) {
      // Nothing to change (a repeated put): the PUSH alone, provided the state it was decided on still holds.
      const checks: Action[] = [{ ConditionCheck: { TableName: t.table, Key: manifestKey, ConditionExpression: 'attribute_exists(pk)' } }];
      if (tagKey) {
        checks.push({
          ConditionCheck: {
            TableName: t.table,
            Key: tagKey,
            ConditionExpression: '#digest = :digest',
            ExpressionAttributeNames: { '#digest': 'digest' },
            ExpressionAttributeValues: { ':digest': manifest.digest },
          },
        });
      }
      return (await transactOrRetry(t, [...checks, ...(scanStart ? [scanStart] : []), record])) ? { done: { ok: true } } : { again: true };
    }
    actions.push(record);
    if (pins.length === 0) {
      if (await transactOrRetry(t, actions)) return { done: { ok: true } };
      await refuseBodyBeingDeleted(t, manifest);
      return { again: true };
    }
    // Phase 1: pin every reference (a failed condition means one went missing: the pins are given back, and
    // the next round's read answers the missing list).
    if (!(await pin(t, pins))) return { again: true };
    // Phase 2: the manifest appears, its PUSH with it. If this throws, its outcome is unknown and the pins stay (safe: see "Two-phase puts").
    if (await transactOrRetryConflicts(t, actions)) return { done: { ok: true } };
    // A failed condition may be this very commit, landed unseen and sent anew past its token's window
    // (see transact): then the manifest is this attempt's, pins and all.
    const stored = await get(t, manifestKey, true, '#pinId', { '#pinId': 'pinId' });
    if (stored?.pinId === pinId) return { done: { ok: true } };
    // Nothing of phase 2 was written (a tag moved, or a concurrent push of this digest won): give the pins back.
    await unpin(t, pins);
    await refuseBodyBeingDeleted(t, manifest);
    return { again: true };
  });
}

/**
 * The one Update of a stored manifest's item a put makes. A tag moved onto it bumps `rev`, so a delete
 * that listed its tags before this move fails and looks again, on the condition that the item is the one
 * the tag's copy was taken of (`pushedAt`, archive state). A restore (`restore`, with the item's keys as
 * read) is conditional on the item being that one and still archived.
 */
function storedManifestUpdate(
  t: TableContext,
  key: Key,
  restore: { update: Expression; item: Item } | undefined,
  movedOnto: (ArchiveState & { pushedAt: string }) | undefined,
): Action['Update'] {
  const update: string[] = [];
  const conditions = ['attribute_exists(pk)'];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  if (restore) {
    update.push(restore.update.expression);
    conditions.push('#rev = :rev', restore.item.pinId !== undefined ? '#pinId = :pinId' : 'attribute_not_exists(#pinId)', '#storageClass = :archived');
    Object.assign(names, restore.update.names, { '#rev': 'rev', '#pinId': 'pinId', '#storageClass': 'storageClass' });
    Object.assign(values, restore.update.values, { ':rev': restore.item.rev ?? 0, ':archived': 'ARCHIVE' }, restore.item.pinId !== undefined ? { ':pinId': restore.item.pinId } : {});
  }
  if (movedOnto) {
    const state = stateCondition(movedOnto);
    update.push('ADD #rev :one');
    conditions.push('#pushedAt = :pushedAt', state.expression);
    Object.assign(names, state.names, { '#rev': 'rev', '#pushedAt': 'pushedAt' });
    Object.assign(values, state.values, { ':one': 1, ':pushedAt': movedOnto.pushedAt });
  }
  return { TableName: t.table, Key: key, UpdateExpression: update.join(' '), ConditionExpression: conditions.join(' AND '), ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}

/** A body kept as content cannot be counted while the collector deletes it: the core claims and stores it again first. */
async function refuseBodyBeingDeleted(t: TableContext, manifest: StoredManifest): Promise<void> {
  if (manifest.body === undefined && (await deletingSince(t, manifest.digest)) !== undefined) throw new ContentBeingDeletedError(manifest.digest);
}
