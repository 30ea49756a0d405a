/**
 * Pins: a manifest's hold on a blob link (`users`) or a child manifest (`parents`), each +1 on the
 * counter going with its own usage/parent record. Pinning in chunks (two-phase puts), giving pins
 * back, and releasing orphan pins are explained in docs/storage.md ("Two-phase puts", "Orphan pins").
 */
import { linkSk, manifestSk, parentSk, usageSk } from '../../contracts/dynamodb-table';
import { batchGet, prefixPages } from './reads';
import { keyString, MAX_ACTIONS, type Action, type Item, type Key, type TableContext } from './table';
import { increment, transactOrRetryConflicts } from './transactions';

/** A manifest's hold on a blob link (`users`) or a child manifest (`parents`), with the record naming it. */
export type Pin = { counted: Key; counter: 'users' | 'parents'; record: Key };

/** References pinned (or unpinned) per transaction by a two-phase put or delete: two actions each. */
const PIN_CHUNK = MAX_ACTIONS / 2;

export function referencePins(pk: string, digest: string, pinId: string, blobs: string[], children: string[]): Pin[] {
  return [
    ...blobs.map((b): Pin => ({ counted: { pk, sk: linkSk(b) }, counter: 'users', record: { pk, sk: usageSk(b, digest, pinId) } })),
    ...children.map((c): Pin => ({ counted: { pk, sk: manifestSk(c) }, counter: 'parents', record: { pk, sk: parentSk(c, digest, pinId) } })),
  ];
}

/** A usage or parent record, stamped so that an orphan can be told from a put in progress. */
export function pinRecord(t: TableContext, key: Key): Item {
  return { ...key, pinnedAt: new Date(t.now()).toISOString() };
}

/**
 * Phase 1 of a large put: each chunk one transaction of +1 on the counter (on an existing item) and
 * the usage/parent record (which must not exist yet: a chunk retried after it landed unseen fails
 * here instead of counting twice). False when a condition failed, after giving back the chunks
 * pinned so far; the put then starts again with a fresh pinId. A chunk whose outcome is unknown
 * (an error other than a failed condition, or a retry that met its own landed writes) is left
 * as it is: an orphan, released later.
 */
export async function pin(t: TableContext, pins: Pin[]): Promise<boolean> {
  const pinned: Pin[] = [];
  for (let i = 0; i < pins.length; i += PIN_CHUNK) {
    const chunk = pins.slice(i, i + PIN_CHUNK);
    let ok: boolean;
    try {
      ok = await transactOrRetryConflicts(
        t,
        chunk.flatMap((p): Action[] => [
          { Update: increment(t, p.counted, p.counter, 1) },
          { Put: { TableName: t.table, Item: pinRecord(t, p.record), ConditionExpression: 'attribute_not_exists(pk)' } },
        ]),
      );
    } catch (err) {
      await unpin(t, pinned).catch(() => undefined);
      throw err;
    }
    if (!ok) {
      await unpin(t, pinned);
      return false;
    }
    pinned.push(...chunk);
  }
  return true;
}

/**
 * Gives pins back in chunks: -1 on each counter with its usage/parent record deleted, on the condition
 * that the record still exists, so that a pin released meanwhile as an orphan is not counted off twice.
 */
export async function unpin(t: TableContext, pins: Pin[]): Promise<void> {
  const actions = (p: Pin): Action[] => [
    { Update: increment(t, p.counted, p.counter, -1) },
    { Delete: { TableName: t.table, Key: p.record, ConditionExpression: 'attribute_exists(pk)' } },
  ];
  for (let i = 0; i < pins.length; i += PIN_CHUNK) {
    const chunk = pins.slice(i, i + PIN_CHUNK);
    if (await transactOrRetryConflicts(t, chunk.flatMap(actions))) continue;
    // A counted item or a record is gone (released as an orphan): give back the others one by one.
    for (const p of chunk) await transactOrRetryConflicts(t, actions(p));
  }
}

/**
 * Reads the records of the pins on a link (`usage#<blob>#`) or a manifest (`parent#<child>#`) and
 * releases the orphans among them: records older than the grace period whose manifest does not
 * exist or does not own them (another pinId). Stops at the first page that names an owner.
 * Returns how many were released and the holders that remain: the owning manifests, or the
 * manifests of pins too young to tell from a put in progress.
 */
export async function releaseOrphanPins(
  t: TableContext,
  counted: Key,
  counter: 'users' | 'parents',
  prefix: string,
): Promise<{ holders: string[]; released: number }> {
  const { pk } = counted;
  const cutoff = t.now() - t.orphanPinGraceMs;
  const holders = new Set<string>();
  let released = 0;
  for await (const page of prefixPages(t, pk, prefix, { pageSize: 100, projection: 'sk, #at', names: { '#at': 'pinnedAt' } })) {
    const records = page.map((r) => {
      const [owner, pinId] = (r.sk as string).slice(prefix.length).split('#');
      return { key: { pk, sk: r.sk as string }, owner, pinId, pinnedAt: r.pinnedAt as string | undefined };
    });
    const owners = await batchGet(t, records.map((r) => ({ pk, sk: manifestSk(r.owner) })), 'pk, sk, #pinId', { '#pinId': 'pinId' });
    const owned = records.filter((r) => owners.get(keyString({ pk, sk: manifestSk(r.owner) }))?.pinId === r.pinId);
    if (owned.length > 0) return { holders: [...new Set(owned.map((r) => r.owner))], released };
    for (const r of records) {
      const young = r.pinnedAt === undefined || !(Date.parse(r.pinnedAt) <= cutoff);
      if (!young && (await transactOrRetryConflicts(t, releaseActions(t, counted, counter, r.key, r.owner, r.pinId)))) released++;
      else holders.add(r.owner);
    }
    if (holders.size >= 100) break;
  }
  return { holders: [...holders], released };
}

/** One orphan pin given back: its record deleted and -1 on its counter, if its manifest still does not own it. */
function releaseActions(t: TableContext, counted: Key, counter: 'users' | 'parents', record: Key, owner: string, pinId: string): Action[] {
  return [
    { Delete: { TableName: t.table, Key: record, ConditionExpression: 'attribute_exists(pk)' } },
    {
      ConditionCheck: {
        TableName: t.table,
        Key: { pk: record.pk, sk: manifestSk(owner) },
        ConditionExpression: 'attribute_not_exists(pk) OR #pinId <> :pinId',
        ExpressionAttributeNames: { '#pinId': 'pinId' },
        ExpressionAttributeValues: { ':pinId': pinId },
      },
    },
    {
      Update: {
        TableName: t.table,
        Key: counted,
        UpdateExpression: 'ADD #c :minus',
        ConditionExpression: 'attribute_exists(pk) AND #c > :zero',
        ExpressionAttributeNames: { '#c': counter },
        ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
      },
    },
  ];
}
