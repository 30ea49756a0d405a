/**
 * The archive state (ImageStorageClassStore in ports.ts): attributes of the manifest item, and of
 * every tag item's copy of its record, changed together in one transaction so that a pull by tag
 * (one GetItem of the copy) sees what a read by digest sees. Why, and the transaction's limit:
 * docs/storage.md ("The archive state").
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { manifestSk, repoPk, tagSk } from '../../contracts/dynamodb-table';
import type { ChangeInitiator } from '../../contracts/events';
import type { ImageStorageClass, ManifestRecord } from '../../core/model';
import { storageClassChange } from '../image-changes';
import type { StorageClassUpdate } from '../ports';
import { manifestFromItem, RECORD_PROJECTION } from './items';
import { changeTime, outboxPut } from './outbox';
import { get, suffixes } from './reads';
import { MAX_ACTIONS, storable, type Action, type TableContext } from './table';
import { isConditionFailure, retrying, transactOrRetry } from './transactions';

export type ArchiveState = Pick<ManifestRecord, 'storageClass' | 'lastArchivedAt' | 'lastActivatedAt'>;

/** Part of an update or condition expression, with exactly the names and values it uses (DynamoDB refuses unused ones). */
export interface Expression {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

const ARCHIVE_ATTRIBUTES = ['storageClass', 'lastArchivedAt', 'lastActivatedAt'] as const;

/** The state moving to `target` at `at` makes of `state`. */
export function movedTo(state: ArchiveState, target: ImageStorageClass, at: string): ArchiveState {
  return target === 'ARCHIVE'
    ? { storageClass: 'ARCHIVE', lastArchivedAt: at, ...(state.lastActivatedAt !== undefined ? { lastActivatedAt: state.lastActivatedAt } : {}) }
    : { ...(state.lastArchivedAt !== undefined ? { lastArchivedAt: state.lastArchivedAt } : {}), lastActivatedAt: at };
}

/** `m` with its archive state replaced by `state`. */
export function withArchiveState<T extends ManifestRecord>(m: T, state: ArchiveState): T {
  const { storageClass: _class, lastArchivedAt: _archived, lastActivatedAt: _activated, ...rest } = m;
  return { ...rest, ...state } as T;
}

/**
 * The update moving an item (the manifest's, or a tag's copy) to `target`: only the attributes that
 * change, so that a copy stays equal to its manifest item whatever it was written from.
 */
export function moveUpdate(target: ImageStorageClass, at: string): Expression {
  return target === 'ARCHIVE'
    ? {
        expression: 'SET #storageClass = :archive, #lastArchivedAt = :movedAt',
        names: { '#storageClass': 'storageClass', '#lastArchivedAt': 'lastArchivedAt' },
        values: { ':archive': 'ARCHIVE', ':movedAt': at },
      }
    : {
        expression: 'REMOVE #storageClass SET #lastActivatedAt = :movedAt',
        names: { '#storageClass': 'storageClass', '#lastActivatedAt': 'lastActivatedAt' },
        values: { ':movedAt': at },
      };
}

/** A condition that the item's archive state is exactly `state`, so that a copy taken of `state` is current. */
export function stateCondition(state: ArchiveState): Expression {
  const out: Expression = { expression: '', names: {}, values: {} };
  const parts = ARCHIVE_ATTRIBUTES.map((attribute) => {
    out.names[`#${attribute}`] = attribute;
    const value = state[attribute];
    if (value === undefined) return `attribute_not_exists(#${attribute})`;
    out.values[`:state_${attribute}`] = value;
    return `#${attribute} = :state_${attribute}`;
  });
  out.expression = parts.join(' AND ');
  return out;
}

/** The Update moving a tag's copy, while the tag still names `digest`. */
export function tagCopyUpdate(t: TableContext, pk: string, tag: string, digest: string, move: Expression): Action {
  return {
    Update: {
      TableName: t.table,
      Key: { pk, sk: tagSk(tag) },
      UpdateExpression: move.expression,
      ConditionExpression: '#digest = :digest',
      ExpressionAttributeNames: { ...move.names, '#digest': 'digest' },
      ExpressionAttributeValues: { ...move.values, ':digest': digest },
    },
  };
}

/**
 * Takes the copy off tags naming `digest` that one transaction cannot update with it: a tag item
 * with the digest alone reads through the manifest item (two GetItems), so it is right in every
 * state, before, during and after the change. A tag moved meanwhile is left alone.
 */
export async function stripCopies(t: TableContext, pk: string, digest: string, tags: readonly string[]): Promise<void> {
  for (let i = 0; i < tags.length; i += 8) {
    await Promise.all(
      tags.slice(i, i + 8).map(async (tag) => {
        try {
          await t.doc.send(
            new PutCommand({
              TableName: t.table,
              Item: { pk, sk: tagSk(tag), digest },
              ConditionExpression: '#digest = :digest',
              ExpressionAttributeNames: { '#digest': 'digest' },
              ExpressionAttributeValues: { ':digest': digest },
            }),
          );
        } catch (err) {
          if (!isConditionFailure(err)) throw err;
        }
      }),
    );
  }
}

export async function setImageStorageClass(
  t: TableContext,
  repository: string,
  digest: string,
  target: ImageStorageClass,
  at: string,
  options: { initiatedBy?: ChangeInitiator } = {},
): Promise<StorageClassUpdate> {
  const pk = repoPk(repository);
  const key = { pk, sk: manifestSk(digest) };
  if (!storable(key)) return { ok: false, reason: 'unknown' };
  return retrying<StorageClassUpdate>(t, async () => {
    const item = await get(t, key, true, `${RECORD_PROJECTION.expression}, #rev, #pinId`, { ...RECORD_PROJECTION.names, '#rev': 'rev', '#pinId': 'pinId' });
    if (!item) return { done: { ok: false, reason: 'unknown' } };
    const current = manifestFromItem(item);
    if ((current.storageClass ?? 'STANDARD') === target) return { done: { ok: true, manifest: current, changed: false } };
    // Read after the item: a tag moved onto it since bumps `rev`, which the write below is conditional on;
    // one moved off it fails its own Update's condition.
    const tags = await suffixes(t, pk, `tagged#${digest}#`, Infinity);
    // The manifest's Update and the outbox item, then as many tags as fit; the rest lose their copy first.
    const fitting = MAX_ACTIONS - 2;
    await stripCopies(t, pk, digest, tags.slice(fitting));
    const move = moveUpdate(target, at);
    const state = stateCondition(current);
    const instance = item.pinId !== undefined ? '#pinId = :pinId' : 'attribute_not_exists(#pinId)';
    const actions: Action[] = [
      {
        Update: {
          TableName: t.table,
          Key: key,
          UpdateExpression: move.expression,
          ConditionExpression: `attribute_exists(pk) AND #rev = :rev AND ${instance} AND ${state.expression}`,
          ExpressionAttributeNames: { ...move.names, ...state.names, '#rev': 'rev', '#pinId': 'pinId' },
          ExpressionAttributeValues: { ...move.values, ...state.values, ':rev': item.rev ?? 0, ...(item.pinId !== undefined ? { ':pinId': item.pinId } : {}) },
        },
      },
      ...tags.slice(0, fitting).map((tag) => tagCopyUpdate(t, pk, tag, digest, move)),
      // Keyed by the commit's clock: `at` is the caller's and may lie behind writes already recorded.
      outboxPut(t, [storageClassChange(repository, current, target, new Date(at), options.initiatedBy)], changeTime().toISOString()),
    ];
    if (!(await transactOrRetry(t, actions))) return { again: true };
    return { done: { ok: true, manifest: withArchiveState(current, movedTo(current, target, at)), changed: true } };
  });
}
