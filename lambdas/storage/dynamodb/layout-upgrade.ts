/**
 * The upgrade in place from layout version 2 (no content records) to 3 (docs/storage.md, "Upgrading
 * from layout version 2"): every link, and every manifest whose body is kept as content, is counted
 * on its content's record, each in the same transaction as the flag (`counted`, `bodyCounted`) that
 * says it was, so the work is idempotent: a second opener running at the same time, or one resuming
 * after a crash, counts nothing twice. A parallel Scan finds what is left to count; each segment's
 * progress is kept in `meta` so that a resumed upgrade does not read the table again from its start.
 * The layout becomes 3 once every segment is done.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { LAYOUT_SK, META_PK, upgradeSk } from '../../contracts/dynamodb-table';
import { countLinks } from './content';
import { get } from './reads';
import { MAX_ACTIONS, type Action, type Item, type Key, type TableContext } from './table';
import { isConditionFailure, transact, transactOrRetryConflicts } from './transactions';

const FROM = 2;
const TO = 3;
/** Parallel Scan segments: a few, so that one Lambda container upgrades a large table in a fraction of the time. */
const SEGMENTS = 4;
/** Items a Scan page evaluates: each page's progress is saved after it. */
const SCAN_PAGE = 1000;

const LAYOUT_KEY: Key = { pk: META_PK, sk: LAYOUT_SK };
const markerKey = (segment: number): Key => ({ pk: META_PK, sk: upgradeSk(FROM, segment) });

/** A link or an external manifest body not counted yet. */
interface Uncounted {
  key: Key;
  flag: 'counted' | 'bodyCounted';
  digest: string;
}

export async function upgradeFromVersion2(t: TableContext): Promise<void> {
  await Promise.all(Array.from({ length: SEGMENTS }, (_, segment) => upgradeSegment(t, segment)));
  try {
    await transact(t, [
      {
        Update: {
          TableName: t.table,
          Key: LAYOUT_KEY,
          UpdateExpression: 'SET version = :to',
          ConditionExpression: 'version = :from',
          ExpressionAttributeValues: { ':from': FROM, ':to': TO },
        },
      },
      ...Array.from({ length: SEGMENTS }, (_, segment): Action => ({ Delete: { TableName: t.table, Key: markerKey(segment) } })),
    ]);
  } catch (err) {
    // Another opener finished the upgrade first.
    if (!isConditionFailure(err)) throw err;
  }
}

async function upgradeSegment(t: TableContext, segment: number): Promise<void> {
  const marker = await get(t, markerKey(segment));
  if (marker?.done === true) return;
  let start = marker?.next as Key | undefined;
  do {
    const page = await t.doc.send(
      new ScanCommand({
        TableName: t.table,
        Segment: segment,
        TotalSegments: SEGMENTS,
        ConsistentRead: true,
        Limit: SCAN_PAGE,
        ExclusiveStartKey: start,
        ProjectionExpression: 'pk, sk',
        FilterExpression:
          'begins_with(pk, :repo) AND ((begins_with(sk, :link) AND attribute_not_exists(counted)) OR ' +
          '(begins_with(sk, :manifest) AND attribute_not_exists(body) AND attribute_not_exists(bodyCounted)))',
        ExpressionAttributeValues: { ':repo': 'repo#', ':link': 'link#', ':manifest': 'manifest#' },
      }),
    );
    await countAll(t, (page.Items ?? []).map(uncounted));
    start = page.LastEvaluatedKey as Key | undefined;
    // Saved only while the layout is still 2: an opener that finished removed the markers, which stay removed.
    const saved = await transactOrRetryConflicts(t, [
      { ConditionCheck: { TableName: t.table, Key: LAYOUT_KEY, ConditionExpression: 'version = :from', ExpressionAttributeValues: { ':from': FROM } } },
      { Put: { TableName: t.table, Item: { ...markerKey(segment), ...(start ? { next: start } : { done: true }) } } },
    ]);
    if (!saved) return;
  } while (start);
}

function uncounted(item: Item): Uncounted {
  const key = { pk: item.pk as string, sk: item.sk as string };
  const [kind, ...rest] = key.sk.split('#');
  return { key, flag: kind === 'link' ? 'counted' : 'bodyCounted', digest: rest.join('#') };
}

/** In transactions of as many items as fit (one Update per item, one per distinct digest). */
async function countAll(t: TableContext, items: Uncounted[]): Promise<void> {
  let chunk: Uncounted[] = [];
  let digests = new Set<string>();
  for (const item of items) {
    const more = digests.has(item.digest) ? 1 : 2;
    if (chunk.length + digests.size + more > MAX_ACTIONS) {
      await countChunk(t, chunk);
      chunk = [];
      digests = new Set();
    }
    chunk.push(item);
    digests.add(item.digest);
  }
  if (chunk.length > 0) await countChunk(t, chunk);
}

async function countChunk(t: TableContext, chunk: Uncounted[]): Promise<void> {
  if (await transactOrRetryConflicts(t, countActions(t, chunk))) return;
  // One was counted (or deleted) meanwhile, by another opener: each on its own, skipping those.
  for (const item of chunk) await transactOrRetryConflicts(t, countActions(t, [item]));
}

function countActions(t: TableContext, chunk: Uncounted[]): Action[] {
  const perDigest = new Map<string, number>();
  const actions: Action[] = chunk.map((item) => {
    perDigest.set(item.digest, (perDigest.get(item.digest) ?? 0) + 1);
    return {
      Update: {
        TableName: t.table,
        Key: item.key,
        UpdateExpression: 'SET #flag = :true',
        // A manifest's condition on `body` too: one deleted and pushed again inline meanwhile has nothing to count.
        ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(#flag)${item.flag === 'bodyCounted' ? ' AND attribute_not_exists(body)' : ''}`,
        ExpressionAttributeNames: { '#flag': item.flag },
        ExpressionAttributeValues: { ':true': true },
      },
    };
  });
  for (const [digest, links] of perDigest) actions.push({ Update: countLinks(t, digest, links, false) });
  return actions;
}
