/**
 * Image scan records (ImageScanStore in ports.ts): one item per image in the repository's partition
 * (`scan#<digest>`), beside the manifest item rather than on it, so that a pull never reads it and a
 * put never carries it. Written only while the manifest exists (a start checks it in its transaction;
 * a push writes it in the manifest's own; a finish or an update is conditional on the item, which
 * exists only with its manifest) and deleted in the manifest's delete transaction (deletes.ts).
 * A finish and a findings update put their SCAN change (ECR's `ECR Image Scan`) in the outbox in the
 * transaction that writes the record. docs/storage.md, "Image scan records".
 */
import { manifestSk, REPO_SK, repoPk, scanSk, taggedSk } from '../../contracts/dynamodb-table';
import type {
  FinishScanResult,
  ImageFindingsUpdate,
  ImageScanPage,
  ImageScanRecord,
  ImageScanResult,
  ListedImageScan,
  SeverityCounts,
  StartScanResult,
  UpdateFindingsResult,
} from '../../core/scanning/scan-records';
import {
  checkedGeneration,
  checkedLimit,
  checkedResult,
  checkedUpdate,
  decideStart,
  DEFAULT_SCAN_PAGE,
  finishedRecord,
  finishRefusal,
  readScanCursor,
  rematchable,
  scanCursor,
  scanStartedOnPush,
  scanTime,
  updatedRecord,
  updateRefusal,
} from '../image-scans';
import { scanChange } from '../image-changes';
import { changeTime, outboxPut } from './outbox';
import { batchGet, get, pageItemsByKey, suffixes } from './reads';
import { listRepositories } from './repositories';
import { MAX_ACTIONS, storable, type Action, type Item, type Key, type TableContext } from './table';
import { isConditionFailure, retrying, transact, transactOrRetry } from './transactions';

const PREFIX = 'scan#';
/** Scan items listScansSince looks at in one call at most (a page may come back short, with a cursor). */
const LIST_READ_LIMIT = 1000;

const scanKey = (repository: string, digest: string): Key => ({ pk: repoPk(repository), sk: scanSk(digest) });

/** The item's record: the attributes the record has, nothing else. */
export function scanFromItem(item: Item): ImageScanRecord {
  const optional = ['description', 'completedAt', 'vulnerabilitySourceUpdatedAt', 'findingsRef', 'inventoryRef', 'sbomDigest', 'manualScanAt'] as const;
  const record: ImageScanRecord = {
    digest: item.digest as string,
    status: item.status as ImageScanRecord['status'],
    startedAt: item.startedAt as string,
    severityCounts: item.severityCounts as SeverityCounts,
    generation: item.generation as number,
  };
  for (const name of optional) if (item[name] !== undefined) record[name] = item[name] as string;
  return record;
}

/**
 * The Put a push with PutManifestOptions.scan adds to its transaction: the first record of the image,
 * IN_PROGRESS. Over none (`attribute_not_exists`, so a start that lands first makes the put read again),
 * or, for a manifest the put creates, over whatever an item of no image held.
 */
export function scanOnPush(t: TableContext, key: Key, digest: string, startedAt: string, overwrite: boolean): Action {
  return { Put: { TableName: t.table, Item: { ...key, ...scanStartedOnPush(digest, startedAt) }, ...(overwrite ? {} : { ConditionExpression: 'attribute_not_exists(pk)' }) } };
}

/**
 * A consistent read of the record, then one transaction: a ConditionCheck that the manifest exists and
 * the Put of the new record, conditional on the generation read (or on there being none). A failed
 * ConditionCheck answers `unknown`; a record changed meanwhile is read again and decided anew.
 */
export async function startScan(t: TableContext, repository: string, digest: string, at: string, options: { manual?: boolean } = {}): Promise<StartScanResult> {
  const startedAt = scanTime(at, 'at');
  const key = scanKey(repository, digest);
  const manifestKey = { pk: key.pk, sk: manifestSk(digest) };
  if (!storable(key) || !storable(manifestKey)) return { ok: false, reason: 'unknown' };
  return retrying<StartScanResult>(t, async () => {
    const item = await get(t, key);
    const stored = item ? scanFromItem(item) : undefined;
    const decision = decideStart(digest, stored, startedAt, options.manual === true);
    if (!decision.ok) return { done: decision };
    const failed = await transactOrFailed(t, [
      { ConditionCheck: { TableName: t.table, Key: manifestKey, ConditionExpression: 'attribute_exists(pk)' } },
      { Put: { TableName: t.table, Item: { ...key, ...decision.scan }, ...sameGeneration(stored) } },
    ]);
    if (failed === undefined) return { done: decision };
    return failed[0] ? { done: { ok: false, reason: 'unknown' } } : { again: true };
  });
}

/** A consistent read, then the finished record written with its SCAN change (writeWithScanChange). */
export async function finishScan(
  t: TableContext,
  repository: string,
  digest: string,
  result: ImageScanResult,
  options: { expectedStartedAt: string },
): Promise<FinishScanResult> {
  const expected = scanTime(options.expectedStartedAt, 'expectedStartedAt');
  const checked = checkedResult(result);
  const key = scanKey(repository, digest);
  if (!storable(key)) return { ok: false, reason: 'unknown' };
  return retrying<FinishScanResult>(t, async () => {
    const item = await get(t, key);
    const stored = item ? scanFromItem(item) : undefined;
    const refusal = finishRefusal(stored, expected);
    if (refusal || !stored) return { done: refusal ?? { ok: false, reason: 'unknown' } };
    const next = finishedRecord(stored, checked);
    return (await writeWithScanChange(t, repository, key, next, stored)) ? { done: { ok: true, scan: next } } : { again: true };
  });
}

/** As finishScan: a read, then the updated record written with its SCAN change. */
export async function updateFindings(
  t: TableContext,
  repository: string,
  digest: string,
  update: ImageFindingsUpdate,
  options: { expectedGeneration: number },
): Promise<UpdateFindingsResult> {
  const checked = checkedUpdate(update);
  const expectedGeneration = checkedGeneration(options.expectedGeneration);
  const key = scanKey(repository, digest);
  if (!storable(key)) return { ok: false, reason: 'unknown' };
  return retrying<UpdateFindingsResult>(t, async () => {
    const item = await get(t, key);
    const stored = item ? scanFromItem(item) : undefined;
    const refusal = updateRefusal(stored, checked, expectedGeneration);
    if (refusal || !stored) return { done: refusal ?? { ok: false, reason: 'unknown' } };
    const next = updatedRecord(stored, checked);
    return (await writeWithScanChange(t, repository, key, next, stored)) ? { done: { ok: true, scan: next } } : { again: true };
  });
}

export async function getScan(t: TableContext, repository: string, digest: string): Promise<ImageScanRecord | null> {
  const item = await get(t, scanKey(repository, digest));
  return item ? scanFromItem(item) : null;
}

/** Consistent BatchGetItems, 100 keys a request. */
export async function getScans(t: TableContext, repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>> {
  const keys = digests.map((digest) => scanKey(repository, digest)).filter(storable);
  const out = new Map<string, ImageScanRecord>();
  if (keys.length === 0) return out;
  for (const item of (await batchGet(t, keys)).values()) {
    const record = scanFromItem(item);
    out.set(record.digest, record);
  }
  return out;
}

/**
 * The catalog (gsi1 `repositories`, 100 names a Query) from the cursor's repository on, and in each
 * repository an eventually consistent Query of its `scan#` items, filtered here (a FilterExpression would
 * cost the same read units): LIST_READ_LIMIT items at most a call. Cost in docs/storage.md.
 */
export async function listScansSince(t: TableContext, since: Date, cursor?: string, limit: number = DEFAULT_SCAN_PAGE): Promise<ImageScanPage> {
  const from = since.toISOString();
  checkedLimit(limit);
  const start = cursor !== undefined ? readScanCursor(cursor) : undefined;
  const items: ListedImageScan[] = [];
  let looked = 0;
  let pending: string[] = start ? [start.repository] : [];
  let after = start?.digest ?? '';
  let catalogLast = start?.repository;
  let catalogMore = true;
  for (;;) {
    if (pending.length === 0) {
      if (!catalogMore) return { items };
      const page = await listRepositories(t, { ...(catalogLast !== undefined ? { last: catalogLast } : {}), limit: 100 });
      if (page.items.length === 0) return { items };
      pending = page.items;
      catalogMore = page.more;
      catalogLast = pending[pending.length - 1];
    }
    const repository = pending.shift()!;
    const pk = repoPk(repository);
    for (let more = storable({ pk, sk: REPO_SK }); more; ) {
      const page = await pageItemsByKey(t, { TableName: t.table }, 'pk', pk, 'sk', PREFIX, { last: after, limit: 100 }, (item) => (item.sk as string).slice(PREFIX.length));
      for (const { name, item } of page.items) {
        looked++;
        const record = scanFromItem(item);
        if (rematchable(record, from)) items.push({ repository, ...record });
        if (items.length === limit || looked >= LIST_READ_LIMIT) return { items, cursor: scanCursor(repository, name) };
        after = name;
      }
      more = page.more;
    }
    after = '';
  }
}

/**
 * The record read, or none: its generation and its scan's start. The start too, because a record deleted
 * with its image and made again by a push of the same digest starts at generation 1 again.
 */
function sameGeneration(stored: ImageScanRecord | undefined): Omit<NonNullable<Action['Put']>, 'TableName' | 'Item'> {
  return stored
    ? {
        ConditionExpression: '#generation = :generation AND #startedAt = :startedAt',
        ExpressionAttributeNames: { '#generation': 'generation', '#startedAt': 'startedAt' },
        ExpressionAttributeValues: { ':generation': stored.generation, ':startedAt': stored.startedAt },
      }
    : { ConditionExpression: 'attribute_not_exists(pk)' };
}

/** Actions of writeWithScanChange's transaction besides the tags' checks: the record's Put, the manifest's ConditionCheck, the outbox item. */
const SCAN_WRITE_ACTIONS = 3;

/**
 * The record replaced whole, only while it is the one read, and its SCAN change put in the outbox, in one
 * transaction; false when anything it depends on changed (or went) meanwhile, and the caller reads again.
 * `image-tags` are the image's tags when the transaction commits: read (the manifest item's `rev`, then
 * its `tagged#` records) before it, and made conditions of it: a ConditionCheck of the manifest item's
 * `rev` (a tag moved onto the image bumps it) and one per tag that its `tagged#` record still exists (a
 * tag deleted or moved off removes it). Past MAX_ACTIONS - 3 tags, the rest are listed unchecked.
 */
async function writeWithScanChange(t: TableContext, repository: string, key: Key, next: ImageScanRecord, stored: ImageScanRecord): Promise<boolean> {
  const manifestKey = { pk: key.pk, sk: manifestSk(next.digest) };
  const manifest = await get(t, manifestKey, true, 'pk, #rev', { '#rev': 'rev' });
  // The image went after the record was read: reading again finds the record gone with it.
  if (!manifest) return false;
  const tags = await suffixes(t, key.pk, `tagged#${next.digest}#`, Infinity);
  const actions: Action[] = [
    { Put: { TableName: t.table, Item: { ...key, ...next }, ...sameGeneration(stored) } },
    {
      ConditionCheck: {
        TableName: t.table,
        Key: manifestKey,
        ...(manifest.rev !== undefined
          ? { ConditionExpression: 'attribute_exists(pk) AND #rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: { ':rev': manifest.rev } }
          : { ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#rev)', ExpressionAttributeNames: { '#rev': 'rev' } }),
      },
    },
    ...tags.slice(0, MAX_ACTIONS - SCAN_WRITE_ACTIONS).map(
      (tag): Action => ({ ConditionCheck: { TableName: t.table, Key: { pk: key.pk, sk: taggedSk(next.digest, tag) }, ConditionExpression: 'attribute_exists(pk)' } }),
    ),
    outboxPut(t, [scanChange(repository, next, tags, changeTime())]),
  ];
  return transactOrRetry(t, actions);
}

/** Runs the transaction; undefined when it committed, else which of its actions failed their condition. Conflicts are thrown (for `retrying`). */
async function transactOrFailed(t: TableContext, actions: Action[]): Promise<boolean[] | undefined> {
  try {
    await transact(t, actions);
    return undefined;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
    return actions.map((_, i) => reasons[i]?.Code === 'ConditionalCheckFailed');
  }
}
