/**
 * The registry's DynamoDB table as a contract: its key schema and index, which the CDK storage
 * construct (lib/table-schema.ts) declares and DynamoDB Local's tables are created from, and the
 * layout the adapter (lambdas/storage/dynamodb/) writes into it: the keys of every kind of item
 * and the layout version stored in `meta`/`layout`. The layout and its invariants are described
 * in docs/storage.md ("DynamoDB single-table layout").
 */

/**
 * The version of the layout below. A store that finds version 2 in `meta`/`layout` upgrades the table
 * in place (docs/storage.md, "Upgrading from layout version 2"); any other version it refuses.
 */
export const DYNAMODB_LAYOUT_VERSION = 3;

/** What the table must look like (every key attribute a string). */
export const DYNAMODB_TABLE_SCHEMA = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gpk', type: 'S' },
      sortKey: { name: 'gsk', type: 'S' },
      projection: 'KEYS_ONLY',
    },
  ],
  /** Epoch seconds; only upload sessions carry it. */
  timeToLiveAttribute: 'expiresAt',
  /**
   * The table's stream: the event publisher reads the outbox items it carries (OUTBOX_PK). New images
   * only: the publisher needs what was written, never what was there before.
   */
  streamViewType: 'NEW_IMAGE',
  billingMode: 'PAY_PER_REQUEST',
} as const;

/** The one index: overloaded and sparse, keyed by `gpk`/`gsk` (see the GSI1_* partitions below). */
export const GSI1 = DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes[0].indexName;

/** An item's primary key. */
export type TableKey = { pk: string; sk: string };

// Parts of a key are joined by '#', which sorts below every character a name, tag or digest may
// hold: a prefix query never runs into a neighbour.

export const META_PK = 'meta';
export const LAYOUT_SK = 'layout';
export const REGISTRY_POLICY_SK = 'registry-policy';
export const REGISTRY_SETTINGS_SK = 'registry-settings';
export const templateSk = (prefix: string) => `template#${prefix}`;
/** Progress of the upgrade from layout `from` (one item per scan segment), removed when it completes. */
export const upgradeSk = (from: number, segment: number) => `upgrade#${from}#${segment}`;

export const repoPk = (repo: string) => `repo#${repo}`;
export const REPO_SK = 'repo';
/** The repository's policy, beside (not inside) the repository item, so pulls that read the repository never carry it. */
export const POLICY_SK = 'policy';
/** The repository's settings, beside the repository item for the same reason. */
export const SETTINGS_SK = 'settings';
export const linkSk = (blob: string) => `link#${blob}`;
export const manifestSk = (digest: string) => `manifest#${digest}`;
export const tagSk = (tag: string) => `tag#${tag}`;
export const taggedSk = (digest: string, tag: string) => `tagged#${digest}#${tag}`;
export const usageSk = (blob: string, manifest: string, pinId: string) => `usage#${blob}#${manifest}#${pinId}`;
export const parentSk = (child: string, index: string, pinId: string) => `parent#${child}#${index}#${pinId}`;
export const referrerSk = (subject: string, digest: string) => `referrer#${subject}#${digest}`;
/**
 * An image's replication status to one destination (ReplicationStatusStore): status, failureCode?,
 * updatedAt. In the repository's partition, so that deleting the repository removes it.
 */
export const replicationStatusSk = (digest: string, region: string, registryId: string) => `replication#${digest}#${region}#${registryId}`;
/**
 * An image's scan record (ImageScanStore): digest, status, description?, startedAt, completedAt?,
 * vulnerabilitySourceUpdatedAt?, severityCounts (a map), findingsRef?, inventoryRef?, sbomDigest?,
 * manualScanAt?, generation. In the repository's partition, beside the manifest item; deleted in the
 * transaction that deletes the manifest.
 */
export const scanSk = (digest: string) => `scan#${digest}`;

/**
 * The outbox of image changes (ChangeOutbox, docs/events.md): one item per committed write that
 * changed images, written in that write's transaction, `changes` holding its ImageChange[] as JSON.
 * Its sort key orders items by commit time. The stream delivers each new item to the event publisher,
 * which deletes it once its events are on the bus; items left behind are swept by the same function.
 */
export const OUTBOX_PK = 'outbox';
export const outboxSk = (time: string, id: string) => `${time}#${id}`;
/** The attribute of an outbox item that holds its changes (a JSON string of ImageChange[]). */
export const OUTBOX_CHANGES_ATTRIBUTE = 'changes';

/**
 * A content record (ContentStore, docs/garbage-collection.md): one per stored digest, in its own
 * partition, holding `links`, `touchedAt` and, while the collector deletes the content, `deletingSince`.
 */
export const contentPk = (digest: string) => `blob#${digest}`;
export const CONTENT_SK = 'content';

export const uploadPk = (id: string) => `upload#${id}`;
export const UPLOAD_SK = 'upload';

/**
 * gsi1 partitions: the catalog (gsk: the name), a blob's repositories (gsk: the repository), uploads
 * (gsk: `<startedAt>#<id>`), content records (gsk: the digest; the collector's candidates).
 */
export const GSI1_REPOSITORIES = 'repositories';
export const gsi1BlobPk = (digest: string) => `blob#${digest}`;
export const GSI1_UPLOADS = 'uploads';
export const GSI1_CONTENT = 'content';
