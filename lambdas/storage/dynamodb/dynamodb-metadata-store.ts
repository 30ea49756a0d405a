/**
 * DynamoDbMetadataStore: the metadata store of the AWS deployment, on one DynamoDB table.
 * The SDK client is the caller's (created once per Lambda container); this store only
 * borrows it, so `close()` leaves it alone.
 *
 * Single-table design. Partition key `pk`, sort key `sk` (strings). Parts are joined by
 * '#', which sorts below every character a name, tag or digest may hold, so a prefix
 * query never runs into a neighbour and byte order after a prefix is the byte order of
 * the item's own key. One overloaded, sparse GSI (`gsi1`: `gpk`/`gsk`, KEYS_ONLY).
 *
 *   pk              sk                          attributes                        gsi1 (gpk / gsk)
 *   meta            layout                      version
 *   meta            registry-policy             policy (JSON text)
 *   meta            registry-settings           settings (RegistrySettings)       (absent: defaults)
 *   meta            template#<prefix>           template (RepositoryCreationTemplateRecord), rev
 *   repo#<name>     policy                      policy (JSON text) of the repository
 *   repo#<name>     settings                    settings (RepositorySettings), rev  (absent: defaults)
 *   repo#<repo>     repo                        name, createdAt                   repositories / <repo>
 *   repo#<repo>     link#<blob>                 size, users (manifests using it)  blob#<blob> / <repo>
 *   repo#<repo>     manifest#<digest>           ManifestRecord, body?, rev, pinId,
 *                                               parents (indexes using it),
 *                                               lastPulledAt? (never copied to tags)
 *   repo#<repo>     tag#<tag>                   digest, a copy of the manifest's
 *                                               record and inline body (see below)
 *   repo#<repo>     tagged#<digest>#<tag>       -                                 (reverse of tag)
 *   repo#<repo>     usage#<blob>#<manifest>#<pinId>   pinnedAt                    (manifest needs blob)
 *   repo#<repo>     parent#<child>#<index>#<pinId>   pinnedAt                    (index needs child)
 *   repo#<repo>     referrer#<subject>#<digest> ReferrerRecord
 *   upload#<id>     upload                      UploadState, expiresAt (TTL)      uploads / <startedAt>#<id>
 *
 * A repository is one item collection: tags, manifests and links are found by a
 * strongly consistent Query or GetItem on one partition (DynamoDB splits a hot
 * collection by sort key; the table has no LSI, so there is no 10 GB collection limit).
 * The catalog (`repositories`), the reverse blob lookup (`blob#<digest>`) and the upload
 * purge (`uploads`) go through gsi1, which is eventually consistent in AWS: a repository
 * or link appears there a moment after its write. Only creation and deletion of those
 * items write to the index (KEYS_ONLY, and `gsk` never changes), so advancing an upload
 * or using a blob costs no index write.
 *
 * Invariants, each enforced by a condition evaluated in the same write as the change:
 * - A manifest is never visible before its blobs and children: putManifest increments `users`
 *   on every link and `parents` on every child manifest, each with `attribute_exists(pk)`, and
 *   puts its usage/parent records, in the same transaction as the manifest item or (a large
 *   manifest, see "Transaction size") in transactions committed before it.
 * - unlinkBlob deletes the link only if `users` is 0 (condition on the link item, which
 *   every putManifest using it increments before or with its manifest), so a put racing an
 *   unlink either pinned the blob first or found it gone. Each +1 goes with its own usage/parent
 *   record and each -1 with that record's deletion, so a counter is the number of its records.
 * - deleteManifest deletes the manifest item only if `parents` is 0 and `rev` is what
 *   it read; every tag moved onto a manifest bumps its `rev`, and every tag deleted with
 *   it is deleted on the condition that it still names it, so no tag is left dangling.
 * - A tag moves with a condition on its previous value (or on its absence): concurrent
 *   pushes of one tag serialize, and each loser re-reads and tries again (last writer
 *   wins, as in every registry; the port has no "expected previous" for immutable tags).
 * - advanceUpload is an UpdateItem conditional on `offset`.
 * - recordImagePull is an UpdateItem of `lastPulledAt` on the manifest item, conditional on the
 *   item existing and on the stored time being absent or older than the caller's bound: a
 *   burst of pulls writes once (the losers' failed conditions are the only other cost, and the
 *   core keeps those to one per process per hour). The tag items' copies never carry it.
 *
 * A manifest by tag in one read. A tag item carries a copy of the record (and inline body)
 * of the manifest it names, written by the same Put that moves the tag, so getTaggedManifest
 * is one GetItem (the hot path of every pull: docker and containerd HEAD a tag, skopeo GETs
 * it). The copy cannot go stale: a manifest's record never changes while it exists (only its
 * `rev` and `parents` counters do), a tag moved onto another manifest is rewritten whole, and
 * deleting a manifest deletes its tags in the same transaction. Tagging a manifest that is
 * already stored reads its item first (one more GetItem, on that rare path) and makes the
 * `rev` increment conditional on its `pushedAt`, so the copy is of the item the tag now names.
 * A tag item without a copy (written before this, or whose copy would not fit in an item)
 * still resolves, with a second GetItem. The price: listTags reads whole tag items, so a
 * Query page of tags costs read capacity by the size of their manifests (one 4 KB unit per
 * few tags of a typical 1-3 KB image manifest), where it was a few bytes per tag.
 *
 * Repository settings live on their own item (a push reads the repository item, never 50 tags);
 * a repository created by a push has none and reads as the defaults. CreateRepository puts the
 * repository item (`attribute_not_exists`) and the settings item in one transaction; an update
 * is a Put of the settings item conditional on its `rev` (optimistic, so concurrent TagResource
 * calls never lose a tag) with a ConditionCheck that the repository item exists.
 *
 * Deleting a repository cannot be one transaction (a repository holds any number of items), so
 * deleteRepository removes it in steps, each a state the ordinary operations could also leave,
 * and the repository item last:
 *   1. manifests, each by deleteManifest (one transaction with its tags, usage records, counters
 *      and referrer entry; indexes before the children they pin, since a child with `parents`
 *      > 0 is refused and taken in a later round). No tag ever names a missing manifest.
 *   2. blob links, in transactions of up to 100 Deletes, each conditional on `users` = 0: a push
 *      that raced in and pinned a link makes the batch fail, and the loop starts again at 1.
 *   3. a consistent Query of the partition: anything but the repository, policy and settings
 *      items means a push raced in; start again at 1.
 *   4. one transaction deleting the policy, the settings and the repository item (conditional on
 *      its existence): the repository disappears from the catalog, getRepository and the ECR API
 *      at one instant, with nothing left under it.
 * Until step 4 the repository exists, so a crash part-way leaves a smaller, consistent
 * repository that a second DeleteRepository finishes. What is not covered: a push whose first
 * linkBlob lands between steps 3 and 4 (its eventually consistent read still saw the repository
 * item, so it writes the link alone) leaves that link without a repository item; the next push
 * to that name recreates the repository around it. A non-forced delete checks for manifests at
 * step 1 only; a manifest needing no blobs pushed after it would be deleted with the rest.
 *
 * Transaction size. TransactWriteItems takes at most 100 actions. A put costs 1 (the
 * manifest) + 2 per distinct blob or child (counter + usage/parent record) + 1 with a
 * subject + 3 with a tag (tag, its reverse record, the previous manifest's reverse
 * record) + 1 to create the repository when nothing else proves it exists. So one
 * transaction holds a manifest of at most 47 distinct blobs and children when pushed with a
 * tag and a subject, 48 with a tag only, 49 otherwise (moving a tag onto a stored manifest
 * costs 4 actions, whatever its size; the tag's copy of the record is part of the tag's Put,
 * not an action of its own). A transaction also holds at most 4 MB: the manifest item and
 * the tag item (each under 400 KB) and the referrer entry (its annotations) are the only
 * large ones. A manifest within that limit is put in one transaction, as above.
 *
 * A larger one (real images have up to ~127 layers, indexes more children) is put in two phases:
 *   1. pin: the references in chunks of 50, each chunk one transaction of `ADD users/parents 1`
 *      (with `attribute_exists(pk)`) and the Put of the usage/parent record per reference. A
 *      failed condition (a blob or child gone since the read) gives back the chunks already
 *      pinned (-1 and the records deleted, in chunks) and the next read answers the missing
 *      list, as the one-transaction put does. A chunk whose outcome is unknown (an error other
 *      than a cancelled transaction) is never given back: it may have been written.
 *   2. commit: one transaction puts the manifest item (`attribute_not_exists(pk)`), its referrer
 *      entry and its tag moves. Only here does the manifest become visible. If it is cancelled (a
 *      tag moved, a concurrent push of the same digest won), the pins are given back (its own
 *      records, named by its pinId, deleted with their -1) and the put starts again.
 * Why this is safe: between and after the phases, and after a crash between them, the only
 * difference from a one-transaction put is pins without a manifest: counters too high and
 * usage/parent records naming a manifest that does not exist. Every deletion is conditional on
 * its counter being 0, so a pin can only keep a blob or child longer than needed, never let one
 * that a visible manifest references be deleted (that manifest's own pins were committed before
 * it, and nothing takes them back while it exists: the orphan release below takes only pins
 * that no manifest owns).
 *
 * Orphan pins. A crash between the phases (or while a large delete unpins) leaves pins whose
 * manifest does not own them. Every put draws a fresh `pinId`, writes it into the manifest item
 * and into the sort key of each of its usage/parent records (stamped `pinnedAt`); a manifest owns
 * the records that carry its pinId, and its delete removes exactly those. So the records of a
 * crashed attempt stay distinct from those of a later put of the same manifest, and a counter is
 * always the number of its records. When unlinkBlob (or deleteManifest) finds its counter above 0,
 * it reads the records: an owned one is a user (refused, named); one younger than
 * `orphanPinGraceMs` may be a put between its phases (refused, named); an older one that its
 * manifest does not own is an orphan, released in one transaction: the record deleted, a
 * ConditionCheck that the manifest still does not own it, and -1 on the counter. Then it reads
 * again, and the delete stays conditional on the counter being 0. The grace period is the only
 * guess: a put's phases run in one Lambda invocation (15 minutes at most) against a default of
 * an hour. Every other give-back (a failed put, a large delete's unpinning) deletes its record on
 * the condition that it still exists, so a pin released meanwhile is never counted off twice, and
 * deleteRepository goes through unlinkBlob and deleteManifest for what is still held, so orphans
 * never stall it. Two more places keep a counter equal to its records: deleteManifest deletes the
 * item on the condition that its pinId is the one whose records it deletes (a manifest deleted and
 * pushed again meanwhile has rev 0 again, but other pins), and a commit or pin chunk that landed
 * unseen (TransactionInProgress, then a retry) is recognised: the commit by its pinId on the stored
 * manifest, a pin chunk by its records already existing (the attempt starts again with a fresh
 * pinId, and the landed chunk is an orphan).
 *
 * deleteManifest of a manifest with many tags first removes the tags that do not fit, each in
 * its own transaction (every intermediate state is one a deleteTag could have produced), then
 * deletes the manifest in one transaction. When its references do not fit in that transaction,
 * it deletes the manifest item, its tags and its referrer entry first (the manifest is gone at
 * once), then unpins the references in chunks of 50: a crash part-way leaves orphan pins, safe
 * as above and released later. (A push of the same digest meanwhile pins with its own pinId, which
 * the unpinning never touches.)
 *
 * Item size. An item holds at most 400 KB. The record fields (blob and child lists,
 * annotations, subject) are taken from the manifest body, so together they are no larger
 * than it: with bodies inline up to `inlineManifestLimit` (160 KiB) an item stays under
 * about 330 KB, and so does a tag item with its copy (the same fields plus a sort key of at
 * most 132 bytes, minus the two counters). Larger bodies live in the blob store (the core
 * puts them there) and the item lacks `body`; a record that still would not fit is refused
 * with a clear error. A tag item whose copy would exceed the limit (a record within a few
 * bytes of it) is written without the copy and resolves in two reads.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type BatchGetCommandOutput,
  type QueryCommandInput,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  DEFAULT_REGISTRY_SETTINGS,
  DEFAULT_REPOSITORY_SETTINGS,
  sameTags,
  type DeleteManifestOptions,
  type RegistrySettings,
  type RepositoryCreationTemplate,
  type RepositoryCreationTemplateRecord,
  type DeleteRepositoryResult,
  type ImagePage,
  type ImageRecord,
  type ManifestRecord,
  type RepositorySettings,
  type RepositorySettingsRecord,
} from '../ports';
import type {
  BlobLink,
  DeleteResult,
  MetadataStore,
  Page,
  PageRequest,
  PutManifestOptions,
  PutManifestResult,
  ReferrerPage,
  ReferrerRecord,
  RepositoryRecord,
  StoredManifest,
  UploadState,
} from '../ports';
import { StorageLayoutError, StorageLimitError } from '../errors';

export const DYNAMODB_LAYOUT_VERSION = 2;

/**
 * What the table must look like: the CDK storage construct declares it from this, and the
 * tests create their DynamoDB Local tables from it, so the two cannot drift apart.
 */
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
  billingMode: 'PAY_PER_REQUEST',
} as const;

/** Upload sessions disappear this long after they were created (the core purges far earlier). */
export const UPLOAD_TTL_SECONDS = 7 * 24 * 60 * 60;

/** A record that cannot fit in one DynamoDB item (400 KB) even without its body. */
export class ItemTooLargeError extends StorageLimitError {
  constructor(readonly what: string, readonly bytes: number) {
    super(`${what} needs about ${bytes} bytes in one DynamoDB item, which holds at most 400 KB`);
    this.name = 'ItemTooLargeError';
  }
}

export interface DynamoDbMetadataStoreOptions {
  /** Created once by the caller (per Lambda container) and never closed by the store. */
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  /**
   * How old a usage or parent record whose manifest does not exist must be before it is taken for
   * one left by a crash and released (see "Orphan pins" in the header). A put's two phases run in
   * one Lambda invocation, which lasts 15 minutes at most.
   * @default one hour
   */
  orphanPinGraceMs?: number;
  /**
   * The clock that stamps and ages pins.
   * @default Date.now
   */
  now?: () => number;
}

const DEFAULT_ORPHAN_PIN_GRACE_MS = 60 * 60 * 1000;

const MAX_ACTIONS = 100;
/** References pinned (or unpinned) per transaction by a two-phase put or delete: two actions each. */
const PIN_CHUNK = MAX_ACTIONS / 2;
const MAX_PK_BYTES = 2048;
const MAX_SK_BYTES = 1024;
/** What this store lets an item grow to before refusing it (DynamoDB's limit is 400 KB). */
const MAX_ITEM_BYTES = 390 * 1024;
const GSI = DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes[0].indexName;
/** Optimistic rounds before giving up: 20 pushes of one tag need about 20. */
const MAX_ATTEMPTS = 80;

const bytes = (s: string): number => Buffer.byteLength(s);
const repoPk = (repo: string) => `repo#${repo}`;
const uploadPk = (id: string) => `upload#${id}`;
const REPO_SK = 'repo';
/** The repository's policy, beside (not inside) the repository item, so pulls that read the repository never carry it. */
const POLICY_SK = 'policy';
/** The repository's settings (RepositorySettings), beside the repository item for the same reason. */
const SETTINGS_SK = 'settings';
const linkSk = (blob: string) => `link#${blob}`;
const manifestSk = (digest: string) => `manifest#${digest}`;
const tagSk = (tag: string) => `tag#${tag}`;
const taggedSk = (digest: string, tag: string) => `tagged#${digest}#${tag}`;
const usageSk = (blob: string, manifest: string, pinId: string) => `usage#${blob}#${manifest}#${pinId}`;
const parentSk = (child: string, index: string, pinId: string) => `parent#${child}#${index}#${pinId}`;
const referrerSk = (subject: string, digest: string) => `referrer#${subject}#${digest}`;
const UPLOAD_SK = 'upload';
const META_PK = 'meta';
const REGISTRY_SETTINGS_SK = 'registry-settings';
const templateSk = (prefix: string) => `template#${prefix}`;

type Key = { pk: string; sk: string };
/** One round of an optimistic loop: a result, or "the state changed under me, read again". */
type Step<T> = { done: T } | { again: true; immediately?: boolean };
type Item = Record<string, unknown>;
type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
/** A manifest's hold on a blob link (`users`) or a child manifest (`parents`), with the record naming it. */
type Pin = { counted: Key; counter: 'users' | 'parents'; record: Key };

function referencePins(pk: string, digest: string, pinId: string, blobs: string[], children: string[]): Pin[] {
  return [
    ...blobs.map((b): Pin => ({ counted: { pk, sk: linkSk(b) }, counter: 'users', record: { pk, sk: usageSk(b, digest, pinId) } })),
    ...children.map((c): Pin => ({ counted: { pk, sk: manifestSk(c) }, counter: 'parents', record: { pk, sk: parentSk(c, digest, pinId) } })),
  ];
}

/** Ids and bounds come straight from URLs: a key DynamoDB could not store names nothing stored. */
const storable = (k: Key): boolean => bytes(k.pk) <= MAX_PK_BYTES && bytes(k.sk) <= MAX_SK_BYTES;

export class DynamoDbMetadataStore implements MetadataStore {
  readonly inlineManifestLimit = 160 * 1024;
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly orphanPinGraceMs: number;
  private readonly now: () => number;

  constructor(options: DynamoDbMetadataStoreOptions) {
    this.orphanPinGraceMs = options.orphanPinGraceMs ?? DEFAULT_ORPHAN_PIN_GRACE_MS;
    this.now = options.now ?? Date.now;
    this.doc =
      options.client instanceof DynamoDBDocumentClient
        ? options.client
        : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = options.tableName;
  }

  /** A store over the table, after checking (or, on an empty table, writing) its layout version. */
  static async open(options: DynamoDbMetadataStoreOptions): Promise<DynamoDbMetadataStore> {
    const store = new DynamoDbMetadataStore(options);
    await store.checkLayout();
    return store;
  }

  /** Throws StorageLayoutError unless the table holds this build's layout (an empty table gets it). */
  async checkLayout(): Promise<void> {
    const location = `DynamoDB table ${this.table}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const layout = await this.get({ pk: 'meta', sk: 'layout' });
      if (layout) {
        if (layout.version !== DYNAMODB_LAYOUT_VERSION) {
          throw new StorageLayoutError(location, `metadata layout version ${String(layout.version)}; this build reads version ${DYNAMODB_LAYOUT_VERSION}`);
        }
        return;
      }
      const scan = await this.doc.send(new ScanCommand({ TableName: this.table, Limit: 1, ConsistentRead: true, ProjectionExpression: 'pk' }));
      if ((scan.Items?.length ?? 0) > 0 || scan.LastEvaluatedKey) throw new StorageLayoutError(location, 'metadata has no layout version');
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: 'meta', sk: 'layout', version: DYNAMODB_LAYOUT_VERSION },
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

  // ---- repositories and blob links ----

  async getRepository(name: string): Promise<RepositoryRecord | null> {
    const item = await this.get({ pk: repoPk(name), sk: REPO_SK });
    return item ? { name: item.name as string, createdAt: item.createdAt as string } : null;
  }

  async listRepositories(page: PageRequest): Promise<Page> {
    return this.pageByKey(
      { TableName: this.table, IndexName: GSI },
      'gpk',
      'repositories',
      'gsk',
      '',
      page,
      (item) => item.gsk as string,
    );
  }

  async createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
    const pk = repoPk(name);
    const key = this.writableKey({ pk, sk: REPO_SK });
    const createdAt = new Date().toISOString();
    const actions: Action[] = [
      {
        Put: {
          TableName: this.table,
          Item: { ...key, name, createdAt, gpk: 'repositories', gsk: name },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Put: { TableName: this.table, Item: { pk, sk: SETTINGS_SK, settings, rev: 0 } } },
    ];
    return this.retrying<RepositorySettingsRecord | null>(async () =>
      (await this.transactOrRetry(actions)) ? { done: { ...settings, createdAt } } : { done: null },
    );
  }

  async getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null> {
    const pk = repoPk(name);
    if (!storable({ pk, sk: REPO_SK })) return null;
    const found = await this.batchGet([
      { pk, sk: REPO_SK },
      { pk, sk: SETTINGS_SK },
    ]);
    const repo = found.get(keyString({ pk, sk: REPO_SK }));
    if (!repo) return null;
    const settings = (found.get(keyString({ pk, sk: SETTINGS_SK }))?.settings as RepositorySettings | undefined) ?? DEFAULT_REPOSITORY_SETTINGS;
    return { ...settings, createdAt: repo.createdAt as string };
  }

  async updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null> {
    const pk = repoPk(name);
    if (!storable({ pk, sk: REPO_SK })) return null;
    const repoKey = { pk, sk: REPO_SK };
    const settingsKey = { pk, sk: SETTINGS_SK };
    return this.retrying<RepositorySettingsRecord | null>(async () => {
      const found = await this.batchGet([repoKey, settingsKey]);
      const repo = found.get(keyString(repoKey));
      if (!repo) return { done: null };
      const stored = found.get(keyString(settingsKey));
      const current = (stored?.settings as RepositorySettings | undefined) ?? DEFAULT_REPOSITORY_SETTINGS;
      const next = update(structuredClone(current));
      const rev = stored ? (stored.rev as number) : undefined;
      const written = await this.transactOrRetry([
        { ConditionCheck: { TableName: this.table, Key: repoKey, ConditionExpression: 'attribute_exists(pk)' } },
        {
          Put: {
            TableName: this.table,
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

  async deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult> {
    const pk = repoPk(name);
    const repoKey = { pk, sk: REPO_SK };
    if (!storable(repoKey) || !(await this.get(repoKey))) return { ok: false, reason: 'unknown' };
    // The ordering argument is in the header comment ("Deleting a repository").
    for (let round = 0; round < MAX_ATTEMPTS; round++) {
      if (round > 0) await sleep(backoff(round));
      // 1. manifests: those no index pins, a few at a time; pinned ones go in a later pass.
      const manifests = await this.queryPrefix(pk, 'manifest#', force ? Infinity : 1, 'sk, #parents', { '#parents': 'parents' });
      if (manifests.length > 0) {
        if (!force) return { ok: false, reason: 'not-empty' };
        const free = manifests.filter((m) => ((m.parents as number | undefined) ?? 0) === 0).map((m) => (m.sk as string).slice('manifest#'.length));
        for (let i = 0; i < free.length; i += 8) await Promise.all(free.slice(i, i + 8).map((digest) => this.deleteManifest(name, digest)));
        if (free.length === 0) {
          // Every manifest left is pinned by a parent that does not exist: orphan pins, or an index push in progress.
          for (const m of manifests) await this.deleteManifest(name, (m.sk as string).slice('manifest#'.length));
        }
        continue;
      }
      // 2. blob links, unless a racing push pinned one. Links still counted as used with no manifest left are
      // held by orphan pins (released by unlinkBlob) or by a push in progress (wait for it).
      const links = await this.queryPrefix(pk, 'link#', Infinity, 'sk, #users', { '#users': 'users' });
      const held = links.filter((link) => ((link.users as number | undefined) ?? 0) > 0);
      for (const link of held) await this.unlinkBlob(name, (link.sk as string).slice('link#'.length));
      if (held.length > 0) continue;
      let pinned = false;
      for (let i = 0; i < links.length && !pinned; i += MAX_ACTIONS) {
        const batch: Action[] = links.slice(i, i + MAX_ACTIONS).map((link) => ({
          Delete: {
            TableName: this.table,
            Key: { pk, sk: link.sk as string },
            ConditionExpression: 'attribute_not_exists(#users) OR #users = :zero',
            ExpressionAttributeNames: { '#users': 'users' },
            ExpressionAttributeValues: { ':zero': 0 },
          },
        }));
        pinned = !(await this.transactOrRetryConflicts(batch));
      }
      if (pinned) continue;
      // 3. nothing else may be left under the repository.
      const rest = await this.queryPartition(pk, 4);
      if (rest.some((item) => ![REPO_SK, POLICY_SK, SETTINGS_SK].includes(item.sk as string))) continue;
      // 4. the repository, its policy and settings at one instant.
      const deleted = await this.transactOrRetryConflicts([
        { Delete: { TableName: this.table, Key: { pk, sk: POLICY_SK } } },
        { Delete: { TableName: this.table, Key: { pk, sk: SETTINGS_SK } } },
        { Delete: { TableName: this.table, Key: repoKey, ConditionExpression: 'attribute_exists(pk)' } },
      ]);
      // A failed condition: another delete finished first.
      return deleted ? { ok: true } : { ok: false, reason: 'unknown' };
    }
    throw new Error(`DynamoDB table ${this.table}: gave up deleting repository ${name} after ${MAX_ATTEMPTS} rounds against concurrent pushes`);
  }

  async listManifests(repository: string, { last, limit }: PageRequest): Promise<ImagePage> {
    const pk = repoPk(repository);
    if (bytes(pk) > MAX_PK_BYTES || limit <= 0) return { items: [], more: false };
    const from = clip(`manifest#${last ?? ''}`, MAX_SK_BYTES);
    const records: ManifestRecord[] = [];
    let more = false;
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': 'manifest$' },
          // Everything but the body and the counters.
          ProjectionExpression: '#digest, #mediaType, #size, #blobs, #children, #pushedAt, #subject, #artifactType, #annotations, #lastPulledAt',
          ExpressionAttributeNames: {
            '#digest': 'digest',
            '#mediaType': 'mediaType',
            '#size': 'size',
            '#blobs': 'blobs',
            '#children': 'children',
            '#pushedAt': 'pushedAt',
            '#subject': 'subject',
            '#artifactType': 'artifactType',
            '#annotations': 'annotations',
            '#lastPulledAt': 'lastPulledAt',
          },
          ConsistentRead: true,
          Limit: Math.min(1000, limit + 2 - records.length),
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) {
        const digest = item.digest as string;
        if (last !== undefined && Buffer.compare(Buffer.from(digest), Buffer.from(last)) <= 0) continue;
        if (records.length === limit) {
          more = true;
          break;
        }
        const { body: _body, ...record } = manifestFromItem(item);
        records.push(record);
      }
      start = res.LastEvaluatedKey;
    } while (start && !more);
    if (records.length === 0) return { items: [], more };
    // The tags of the page's manifests: one range of reverse records, in the same (digest) order.
    const tags = new Map<string, string[]>(records.map((r) => [r.digest, []]));
    const first = `tagged#${records[0].digest}#`;
    const after = `tagged#${records[records.length - 1].digest}$`;
    let tagStart: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': first, ':to': after },
          ProjectionExpression: 'sk',
          ConsistentRead: true,
          ExclusiveStartKey: tagStart,
        }),
      );
      for (const item of res.Items ?? []) {
        const rest = (item.sk as string).slice('tagged#'.length);
        const cut = rest.lastIndexOf('#');
        tags.get(rest.slice(0, cut))?.push(rest.slice(cut + 1));
      }
      tagStart = res.LastEvaluatedKey;
    } while (tagStart);
    const items: ImageRecord[] = records.map((r) => ({ ...r, tags: tags.get(r.digest)! }));
    return { items, more };
  }

  async getManifestTags(repository: string, digest: string): Promise<string[]> {
    const prefix = `tagged#${digest}#`;
    if (!storable({ pk: repoPk(repository), sk: prefix })) return [];
    return this.suffixes(repoPk(repository), prefix, Infinity);
  }

  async linkBlob(repository: string, digest: string, link: BlobLink): Promise<void> {
    const linkKey = this.writableKey({ pk: repoPk(repository), sk: linkSk(digest) });
    // SET, not Put: the `users` count of an existing link must survive a second link.
    const updateLink = {
      TableName: this.table,
      Key: linkKey,
      UpdateExpression: 'SET #size = :size, gpk = :gpk, gsk = :gsk',
      ExpressionAttributeNames: { '#size': 'size' },
      ExpressionAttributeValues: { ':size': link.size, ':gpk': `blob#${digest}`, ':gsk': repository },
    };
    await this.retrying<void>(async () => {
      // A repository seen is (almost always) still there: then the link is one write. The one
      // exception, a deleteRepository finishing meanwhile, is described in the header.
      if (await this.get({ pk: repoPk(repository), sk: REPO_SK }, false)) {
        await this.doc.send(new UpdateCommand(updateLink));
      } else {
        await this.transact([{ Update: this.ensureRepository(repository) }, { Update: updateLink }]);
      }
      return { done: undefined };
    });
  }

  async statBlobLink(repository: string, digest: string): Promise<BlobLink | null> {
    const item = await this.get({ pk: repoPk(repository), sk: linkSk(digest) });
    return item ? { size: item.size as number } : null;
  }

  async unlinkBlob(repository: string, digest: string): Promise<DeleteResult<'in-use' | 'unknown'>> {
    const key = { pk: repoPk(repository), sk: linkSk(digest) };
    if (!storable(key)) return { ok: false, reason: 'unknown', by: [] };
    return this.retrying<DeleteResult<'in-use' | 'unknown'>>(async () => {
      const link = await this.get(key);
      if (!link) return { done: { ok: false, reason: 'unknown', by: [] } };
      if (((link.users as number | undefined) ?? 0) > 0) {
        const { holders, released } = await this.releaseOrphanPins(key, 'users', `usage#${digest}#`);
        if (released > 0) return { again: true, immediately: true };
        return { done: { ok: false, reason: 'in-use', by: holders.slice(0, 20) } };
      }
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: key,
            ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#users) OR #users = :zero)',
            ExpressionAttributeNames: { '#users': 'users' },
            ExpressionAttributeValues: { ':zero': 0 },
          }),
        );
        return { done: { ok: true } };
      } catch (err) {
        if (isConditionFailure(err)) return { again: true };
        throw err;
      }
    });
  }

  async repositoriesWithBlob(digest: string, limit: number): Promise<string[]> {
    if (limit <= 0 || bytes(`blob#${digest}`) > MAX_PK_BYTES) return [];
    const out: string[] = [];
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI,
          KeyConditionExpression: 'gpk = :gpk',
          ExpressionAttributeValues: { ':gpk': `blob#${digest}` },
          Limit: limit - out.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) out.push(item.gsk as string);
      start = res.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  // ---- manifests and tags ----

  async putManifest(repository: string, manifest: StoredManifest, tag?: string, options: PutManifestOptions = {}): Promise<PutManifestResult> {
    const pk = repoPk(repository);
    const blobs = [...new Set(manifest.blobs)];
    const children = [...new Set(manifest.children)];
    const references = blobs.length + children.length;
    const fixed = 1 + (manifest.subject !== undefined ? 1 : 0) + (tag !== undefined ? 3 : 0) + (references === 0 ? 1 : 0);
    // Too many references for one transaction: pin them first, in chunks, then commit the manifest (see the header).
    const twoPhase = fixed + 2 * references > MAX_ACTIONS;
    const manifestKey = this.writableKey({ pk, sk: manifestSk(manifest.digest) });
    const tagKey = tag !== undefined ? this.writableKey({ pk, sk: tagSk(tag) }) : undefined;
    // Sized with a stand-in pinId: each attempt below draws its own, of the same length.
    const item = manifestItem(manifestKey, manifest, randomUUID());
    const referrer = manifest.subject !== undefined ? referrerItem(this.writableKey({ pk, sk: referrerSk(manifest.subject, manifest.digest) }), manifest) : undefined;
    checkItemSize(`the record of manifest ${manifest.digest}`, item);
    if (referrer) checkItemSize(`the referrer entry of manifest ${manifest.digest}`, referrer);

    return this.retrying<PutManifestResult>(async () => {
      // Names this attempt's pins: the manifest item owns the records that carry its pinId (see "Orphan pins").
      // A fresh one per attempt, so that a chunk an earlier attempt wrote without knowing it stays an orphan.
      const pinId = randomUUID();
      item.pinId = pinId;
      const linkKeys = blobs.map((b) => ({ pk, sk: linkSk(b) }));
      const childKeys = children.map((c) => ({ pk, sk: manifestSk(c) }));
      const found = await this.batchGet([...linkKeys, ...childKeys, manifestKey, ...(tagKey ? [tagKey] : [])], 'pk, sk, #rev, #digest', {
        '#rev': 'rev',
        '#digest': 'digest',
      });
      const missingBlobs = blobs.filter((_, i) => !found.has(keyString(linkKeys[i])));
      const missingManifests = children.filter((_, i) => !found.has(keyString(childKeys[i])));
      if (missingBlobs.length > 0 || missingManifests.length > 0) return { done: { ok: false, missingBlobs, missingManifests } };

      const exists = found.has(keyString(manifestKey));
      const previous = tagKey ? (found.get(keyString(tagKey))?.digest as string | undefined) : undefined;
      // The tag write below is conditional on `previous`, so a racing push that set the tag
      // after this read makes the transaction fail, and the retry sees the new holder here.
      if (options.immutableTag && previous !== undefined && previous !== manifest.digest) return { done: { ok: false, tagHeldBy: previous } };
      const actions: Action[] = [];
      let pins: Pin[] = [];
      if (!exists && twoPhase) {
        actions.push({ Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } });
        pins = referencePins(pk, manifest.digest, pinId, blobs, children);
        if (referrer) actions.push({ Put: { TableName: this.table, Item: referrer } });
      } else if (!exists) {
        actions.push({ Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } });
        for (const b of blobs) {
          actions.push({ Update: this.increment({ pk, sk: linkSk(b) }, 'users', 1) });
          actions.push({ Put: { TableName: this.table, Item: this.pinRecord({ pk, sk: usageSk(b, manifest.digest, pinId) }) } });
        }
        for (const c of children) {
          actions.push({ Update: this.increment({ pk, sk: manifestSk(c) }, 'parents', 1) });
          actions.push({ Put: { TableName: this.table, Item: this.pinRecord({ pk, sk: parentSk(c, manifest.digest, pinId) }) } });
        }
        if (referrer) actions.push({ Put: { TableName: this.table, Item: referrer } });
        // Links and children exist only in existing repositories (deleteRepository removes its
        // links, conditionally on `users` = 0, before the repository item).
        if (references === 0) actions.push({ Update: this.ensureRepository(repository) });
      }
      if (tag !== undefined && tagKey && previous !== manifest.digest) {
        // The tag item carries a copy of the record it names: of the stored item when there is one.
        let named: StoredManifest = manifest;
        if (exists) {
          const stored = await this.get(manifestKey);
          if (!stored) return { again: true, immediately: true };
          named = manifestFromItem(stored);
          // A moved tag bumps the manifest's rev, so a delete that listed its tags before this move
          // fails and looks again; `pushedAt` pins the item the copy was taken from.
          actions.push({
            Update: {
              TableName: this.table,
              Key: manifestKey,
              UpdateExpression: 'ADD #rev :one',
              ConditionExpression: 'attribute_exists(pk) AND #pushedAt = :pushedAt',
              ExpressionAttributeNames: { '#rev': 'rev', '#pushedAt': 'pushedAt' },
              ExpressionAttributeValues: { ':one': 1, ':pushedAt': named.pushedAt },
            },
          });
        }
        actions.push({
          Put: {
            TableName: this.table,
            Item: tagItem(tagKey, named),
            ...(previous === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#digest = :previous', ExpressionAttributeNames: { '#digest': 'digest' }, ExpressionAttributeValues: { ':previous': previous } }),
          },
        });
        actions.push({ Put: { TableName: this.table, Item: { pk, sk: taggedSk(manifest.digest, tag) } } });
        if (previous !== undefined) actions.push({ Delete: { TableName: this.table, Key: { pk, sk: taggedSk(previous, tag) } } });
      }
      if (actions.length === 0) return { done: { ok: true } };
      if (pins.length === 0) return (await this.transactOrRetry(actions)) ? { done: { ok: true } } : { again: true };
      // Phase 1: pin every reference (a failed condition means one went missing: the pins are given back, and
      // the next round's read answers the missing list).
      if (!(await this.pin(pins))) return { again: true };
      // Phase 2: the manifest appears. If this throws, its outcome is unknown and the pins stay (safe: see the header).
      if (await this.transactOrRetryConflicts(actions)) return { done: { ok: true } };
      // A failed condition may be this very commit, retried after it landed unseen (TransactionInProgress):
      // then the manifest is this attempt's, pins and all.
      const stored = await this.get(manifestKey, true, '#pinId', { '#pinId': 'pinId' });
      if (stored?.pinId === pinId) return { done: { ok: true } };
      // Nothing of phase 2 was written (a tag moved, or a concurrent push of this digest won): give the pins back.
      await this.unpin(pins);
      return { again: true };
    });
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | null> {
    const item = await this.get({ pk: repoPk(repository), sk: manifestSk(digest) });
    return item ? manifestFromItem(item) : null;
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    // The digest only (the item carries the manifest's record and body too).
    const item = await this.get({ pk: repoPk(repository), sk: tagSk(tag) }, true, '#digest', { '#digest': 'digest' });
    return item ? (item.digest as string) : null;
  }

  async getTaggedManifest(repository: string, tag: string): Promise<StoredManifest | null> {
    const item = await this.get({ pk: repoPk(repository), sk: tagSk(tag) });
    if (!item) return null;
    if (item.mediaType !== undefined) return manifestFromItem(item);
    // A tag item without a copy of the record: the manifest's own item.
    return this.getManifest(repository, item.digest as string);
  }

  async deleteManifest(repository: string, digest: string, options: DeleteManifestOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
    const pk = repoPk(repository);
    const key = { pk, sk: manifestSk(digest) };
    if (!storable(key)) return { ok: false, reason: 'unknown', by: [] };
    return this.retrying<DeleteResult<'in-use' | 'unknown' | 'tagged'>>(async () => {
      const item = await this.get(key, true, 'pk, sk, #blobs, #children, #subject, #rev, #parents, #pinId', {
        '#blobs': 'blobs',
        '#children': 'children',
        '#subject': 'subject',
        '#rev': 'rev',
        '#parents': 'parents',
        '#pinId': 'pinId',
      });
      if (!item) return { done: { ok: false, reason: 'unknown', by: [] } };
      if (((item.parents as number | undefined) ?? 0) > 0) {
        const { holders, released } = await this.releaseOrphanPins(key, 'parents', `parent#${digest}#`);
        if (released > 0) return { again: true, immediately: true };
        return { done: { ok: false, reason: 'in-use', by: holders.slice(0, 20) } };
      }
      const pinId = item.pinId as string;
      const blobs = [...new Set(item.blobs as string[])];
      const children = [...new Set(item.children as string[])];
      const tags = await this.suffixes(pk, `tagged#${digest}#`, Infinity);
      // Read after the item: a tag moved on since bumps `rev`, which the delete below is conditional on.
      if (options.onlyIfTags && !sameTags(tags, options.onlyIfTags)) return { done: { ok: false, reason: 'tagged', by: tags.slice(0, 20) } };
      // Too many references to unpin in the delete's transaction: the manifest goes first, the pins after it (see the header).
      const unpinAfter = 1 + (item.subject !== undefined ? 1 : 0) + 2 * (blobs.length + children.length) > MAX_ACTIONS;
      const budget = MAX_ACTIONS - 1 - (item.subject !== undefined ? 1 : 0) - (unpinAfter ? 0 : 2 * (blobs.length + children.length));
      const fitting = Math.max(0, Math.floor(budget / 2));
      if (tags.length > fitting) {
        // Too many tags for one transaction: untag first (each step a state deleteTag could leave), then look again.
        for (const tag of tags.slice(fitting)) await this.untag(repository, tag, digest);
        return { again: true, immediately: true };
      }
      const actions: Action[] = [
        {
          Delete: {
            TableName: this.table,
            Key: key,
            // `pinId` too: a manifest deleted and pushed again meanwhile has rev 0 again, but other pins.
            ConditionExpression: 'attribute_exists(pk) AND #rev = :rev AND #pinId = :pinId AND (attribute_not_exists(#parents) OR #parents = :zero)',
            ExpressionAttributeNames: { '#rev': 'rev', '#parents': 'parents', '#pinId': 'pinId' },
            ExpressionAttributeValues: { ':rev': item.rev ?? 0, ':zero': 0, ':pinId': pinId },
          },
        },
      ];
      for (const tag of tags) {
        actions.push({ Delete: this.tagDelete(pk, tag, digest) });
        actions.push({ Delete: { TableName: this.table, Key: { pk, sk: taggedSk(digest, tag) } } });
      }
      if (!unpinAfter) {
        for (const b of blobs) {
          actions.push({ Update: this.increment({ pk, sk: linkSk(b) }, 'users', -1) });
          actions.push({ Delete: { TableName: this.table, Key: { pk, sk: usageSk(b, digest, pinId) } } });
        }
        for (const c of children) {
          actions.push({ Update: this.increment({ pk, sk: manifestSk(c) }, 'parents', -1) });
          actions.push({ Delete: { TableName: this.table, Key: { pk, sk: parentSk(c, digest, pinId) } } });
        }
      }
      if (item.subject !== undefined) actions.push({ Delete: { TableName: this.table, Key: { pk, sk: referrerSk(item.subject as string, digest) } } });
      if (!(await this.transactOrRetry(actions))) return { again: true };
      if (unpinAfter) {
        // The manifest is gone; a failure here leaves pins too many, which only keeps blobs and children longer.
        await this.unpin(referencePins(pk, digest, pinId, blobs, children)).catch(() => undefined);
      }
      return { done: { ok: true } };
    });
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const key = { pk: repoPk(repository), sk: tagSk(tag) };
    if (!storable(key)) return false;
    return this.retrying<boolean>(async () => {
      const item = await this.get(key, true, '#digest', { '#digest': 'digest' });
      if (!item) return { done: false };
      return (await this.untag(repository, tag, item.digest as string)) ? { done: true } : { again: true };
    });
  }

  async listTags(repository: string, page: PageRequest): Promise<Page> {
    if (bytes(repoPk(repository)) > MAX_PK_BYTES) return { items: [], more: false };
    // Tag items carry their manifest's record: return the keys only (the read capacity is by whole items all the same).
    return this.pageByKey({ TableName: this.table, ConsistentRead: true, ProjectionExpression: '#sk' }, 'pk', repoPk(repository), 'sk', 'tag#', page, (item) =>
      (item.sk as string).slice('tag#'.length),
    );
  }

  /**
   * One Query per call as a rule: DynamoDB ends a Query at 1 MB whatever its Limit, which is the
   * read bound the port asks for (a referrer item holds up to ~390 KB of annotations). Another
   * Query follows only while none was found (everything read was at or before `last`).
   */
  async listReferrers(repository: string, subject: string, { last, limit }: PageRequest): Promise<ReferrerPage> {
    const pk = repoPk(repository);
    const prefix = referrerSk(subject, '');
    if (!storable({ pk, sk: prefix })) return { items: [], more: false };
    const bound = last !== undefined && last !== '' ? Buffer.from(last) : undefined;
    // Every key under `prefix` sorts below `prefix` with its closing '#' raised to '$'. A bound longer
    // than a sort key may be is clipped (it sorts at or before the whole bound), and BETWEEN includes
    // it: what sorts at or before the bound is skipped below.
    const range = bound
      ? { condition: 'pk = :pk AND sk BETWEEN :from AND :to', values: { ':pk': pk, ':from': clip(prefix + last, MAX_SK_BYTES), ':to': `${prefix.slice(0, -1)}$` } }
      : { condition: 'pk = :pk AND begins_with(sk, :prefix)', values: { ':pk': pk, ':prefix': prefix } };
    const items: ReferrerRecord[] = [];
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: range.condition,
          ExpressionAttributeValues: range.values,
          ConsistentRead: true,
          ExclusiveStartKey: start,
          // One more shows whether more follow, and one more again for the bound itself.
          Limit: Math.min(1000, limit + 2),
        }),
      );
      start = res.LastEvaluatedKey;
      for (const item of res.Items ?? []) {
        if (bound && Buffer.compare(Buffer.from(item.digest as string), bound) <= 0) continue;
        if (items.length >= limit) return { items, more: true };
        items.push(referrerFromItem(item));
      }
    } while (start && items.length === 0);
    return { items, more: start !== undefined };
  }

  // ---- pulls, registry settings, creation templates ----

  async recordImagePull(repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
    const key = { pk: repoPk(repository), sk: manifestSk(digest) };
    if (!storable(key)) return false;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: 'SET #pulled = :at',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#pulled) OR #pulled < :notBefore)',
          ExpressionAttributeNames: { '#pulled': 'lastPulledAt' },
          ExpressionAttributeValues: { ':at': at, ':notBefore': notBefore },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async getRegistrySettings(): Promise<RegistrySettings> {
    const item = await this.get({ pk: META_PK, sk: REGISTRY_SETTINGS_SK });
    return { ...DEFAULT_REGISTRY_SETTINGS, ...((item?.settings as RegistrySettings | undefined) ?? {}) };
  }

  async setRegistrySettings(settings: RegistrySettings): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: META_PK, sk: REGISTRY_SETTINGS_SK, settings } }));
  }

  async createRepositoryCreationTemplate(template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
    const key = { pk: META_PK, sk: templateSk(template.prefix) };
    if (!storable(key)) return null;
    const now = new Date().toISOString();
    const record: RepositoryCreationTemplateRecord = { ...template, createdAt: now, updatedAt: now };
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...key, template: record, rev: 0 }, ConditionExpression: 'attribute_not_exists(pk)' }));
      return record;
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  }

  async listRepositoryCreationTemplates(): Promise<RepositoryCreationTemplateRecord[]> {
    const items = await this.queryPrefix(META_PK, 'template#', Infinity, '#template', { '#template': 'template' });
    return items.map((item) => item.template as RepositoryCreationTemplateRecord);
  }

  async updateRepositoryCreationTemplate(
    prefix: string,
    update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
  ): Promise<RepositoryCreationTemplateRecord | null> {
    const key = { pk: META_PK, sk: templateSk(prefix) };
    if (!storable(key)) return null;
    return this.retrying<RepositoryCreationTemplateRecord | null>(async () => {
      const item = await this.get(key);
      if (!item) return { done: null };
      const { createdAt, updatedAt: _updatedAt, ...current } = item.template as RepositoryCreationTemplateRecord;
      const next: RepositoryCreationTemplateRecord = { ...update(structuredClone(current)), prefix, createdAt, updatedAt: new Date().toISOString() };
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
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

  async deleteRepositoryCreationTemplate(prefix: string): Promise<RepositoryCreationTemplateRecord | null> {
    const key = { pk: META_PK, sk: templateSk(prefix) };
    if (!storable(key)) return null;
    const res = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: key, ReturnValues: 'ALL_OLD' }));
    return (res.Attributes?.template as RepositoryCreationTemplateRecord | undefined) ?? null;
  }

  // ---- uploads ----

  async getRepositoryPolicy(repository: string): Promise<string | null> {
    const item = await this.get({ pk: repoPk(repository), sk: POLICY_SK });
    return item ? (item.policy as string) : null;
  }

  async setRepositoryPolicy(repository: string, policy: string | null): Promise<boolean> {
    const pk = repoPk(repository);
    if (!storable({ pk, sk: REPO_SK })) return false;
    const write: Action =
      policy === null
        ? { Delete: { TableName: this.table, Key: { pk, sk: POLICY_SK } } }
        : { Put: { TableName: this.table, Item: { pk, sk: POLICY_SK, policy } } };
    // The repository must exist at the moment the policy is written (repositories are never half there).
    return this.transactOrRetry([{ ConditionCheck: { TableName: this.table, Key: { pk, sk: REPO_SK }, ConditionExpression: 'attribute_exists(pk)' } }, write]);
  }

  async getRegistryPolicy(): Promise<string | null> {
    const item = await this.get({ pk: 'meta', sk: 'registry-policy' });
    return item ? (item.policy as string) : null;
  }

  async setRegistryPolicy(policy: string | null): Promise<void> {
    if (policy === null) await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: 'meta', sk: 'registry-policy' } }));
    else await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: 'meta', sk: 'registry-policy', policy } }));
  }

  async createUpload(state: UploadState): Promise<void> {
    const key = this.writableKey({ pk: uploadPk(state.id), sk: UPLOAD_SK });
    // From creation, not from startedAt: a caller-supplied time in the past must not make AWS drop a live session.
    const expiresAt = Math.floor(Math.max(Date.now(), Date.parse(state.startedAt) || 0) / 1000) + UPLOAD_TTL_SECONDS;
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...key, ...uploadFields(state), expiresAt, gpk: 'uploads', gsk: `${state.startedAt}#${state.id}` },
      }),
    );
  }

  async getUpload(id: string): Promise<UploadState | null> {
    const item = await this.get({ pk: uploadPk(id), sk: UPLOAD_SK });
    return item ? uploadFromItem(item) : null;
  }

  async advanceUpload(id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
    const key = { pk: uploadPk(id), sk: UPLOAD_SK };
    if (!storable(key)) return false;
    // The hash state describes exactly `offset` bytes (see the core): an advance without one clears it.
    const hash = next.hashState !== undefined;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: hash ? 'SET #offset = :next, hashState = :hash' : 'SET #offset = :next REMOVE hashState',
          ConditionExpression: 'attribute_exists(pk) AND #offset = :expected',
          ExpressionAttributeNames: { '#offset': 'offset' },
          ExpressionAttributeValues: { ':next': next.offset, ':expected': expectedOffset, ...(hash ? { ':hash': next.hashState } : {}) },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async deleteUpload(id: string): Promise<void> {
    const key = { pk: uploadPk(id), sk: UPLOAD_SK };
    if (!storable(key)) return;
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: key }));
  }

  async listUploadsStartedBefore(isoTime: string, limit: number): Promise<UploadState[]> {
    // By startedAt, through the index, never by the TTL: AWS deletes expired items only
    // eventually (and DynamoDB Local never does).
    if (limit <= 0 || isoTime === '' || bytes(isoTime) > MAX_SK_BYTES) return [];
    const out: UploadState[] = [];
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI,
          KeyConditionExpression: 'gpk = :gpk AND gsk < :before',
          ExpressionAttributeValues: { ':gpk': 'uploads', ':before': isoTime },
          Limit: Math.min(100, limit - out.length),
          ExclusiveStartKey: start,
        }),
      );
      const keys = (res.Items ?? []).map((i) => ({ pk: i.pk as string, sk: i.sk as string }));
      const found = await this.batchGet(keys);
      // The index lags the table: skip what is gone or no longer matches.
      for (const k of keys) {
        const item = found.get(keyString(k));
        if (item && (item.startedAt as string) < isoTime && out.length < limit) out.push(uploadFromItem(item));
      }
      start = res.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  /** The client belongs to the caller (shared by every store of the Lambda container). */
  async close(): Promise<void> {}

  // ---- helpers ----

  private writableKey(key: Key): Key {
    if (!storable(key)) {
      throw new Error(
        `DynamoDB cannot store the key ${key.pk.slice(0, 80)}… / ${key.sk.slice(0, 80)}… (partition keys hold ${MAX_PK_BYTES} bytes, sort keys ${MAX_SK_BYTES})`,
      );
    }
    return key;
  }

  private ensureRepository(repository: string) {
    return {
      TableName: this.table,
      Key: this.writableKey({ pk: repoPk(repository), sk: REPO_SK }),
      UpdateExpression: 'SET #name = :name, createdAt = if_not_exists(createdAt, :now), gpk = :gpk, gsk = :name',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':name': repository, ':now': new Date().toISOString(), ':gpk': 'repositories' },
    };
  }

  /** ADD on an existing item only: a counter must never create the item it counts on. */
  private increment(key: Key, attribute: string, by: number) {
    return {
      TableName: this.table,
      Key: key,
      UpdateExpression: 'ADD #a :by',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#a': attribute },
      ExpressionAttributeValues: { ':by': by },
    };
  }

  /**
   * Phase 1 of a large put: each chunk one transaction of +1 on the counter (on an existing item) and
   * the usage/parent record (which must not exist yet: a chunk retried after it landed unseen fails
   * here instead of counting twice). False when a condition failed, after giving back the chunks
   * pinned so far; the put then starts again with a fresh pinId. A chunk whose outcome is unknown
   * (an error other than a failed condition, or a retry that met its own landed writes) is left
   * as it is: an orphan, released later.
   */
  private async pin(pins: Pin[]): Promise<boolean> {
    const pinned: Pin[] = [];
    for (let i = 0; i < pins.length; i += PIN_CHUNK) {
      const chunk = pins.slice(i, i + PIN_CHUNK);
      let ok: boolean;
      try {
        ok = await this.transactOrRetryConflicts(
          chunk.flatMap((p): Action[] => [{ Update: this.increment(p.counted, p.counter, 1) }, { Put: { TableName: this.table, Item: this.pinRecord(p.record), ConditionExpression: 'attribute_not_exists(pk)' } }]),
        );
      } catch (err) {
        await this.unpin(pinned).catch(() => undefined);
        throw err;
      }
      if (!ok) {
        await this.unpin(pinned);
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
  private async unpin(pins: Pin[]): Promise<void> {
    const actions = (p: Pin): Action[] => [
      { Update: this.increment(p.counted, p.counter, -1) },
      { Delete: { TableName: this.table, Key: p.record, ConditionExpression: 'attribute_exists(pk)' } },
    ];
    for (let i = 0; i < pins.length; i += PIN_CHUNK) {
      const chunk = pins.slice(i, i + PIN_CHUNK);
      if (await this.transactOrRetryConflicts(chunk.flatMap(actions))) continue;
      // A counted item or a record is gone (released as an orphan): give back the others one by one.
      for (const p of chunk) await this.transactOrRetryConflicts(actions(p));
    }
  }

  /** A usage or parent record, stamped so that an orphan can be told from a put in progress. */
  private pinRecord(key: Key): Item {
    return { ...key, pinnedAt: new Date(this.now()).toISOString() };
  }

  /**
   * Reads the records of the pins on a link (`usage#<blob>#`) or a manifest (`parent#<child>#`) and
   * releases the orphans among them: records older than the grace period whose manifest does not
   * exist or does not own them (another pinId; see "Orphan pins" in the header). Stops at the first
   * page that names an owner. Returns how many were released and the holders that remain: the
   * owning manifests, or the manifests of pins too young to tell from a put in progress.
   */
  private async releaseOrphanPins(counted: Key, counter: 'users' | 'parents', prefix: string): Promise<{ holders: string[]; released: number }> {
    const { pk } = counted;
    const cutoff = this.now() - this.orphanPinGraceMs;
    const holders = new Set<string>();
    let released = 0;
    for await (const page of this.prefixPages(pk, prefix, { pageSize: 100, projection: 'sk, #at', names: { '#at': 'pinnedAt' } })) {
      const records = page.map((r) => {
        const [owner, pinId] = (r.sk as string).slice(prefix.length).split('#');
        return { key: { pk, sk: r.sk as string }, owner, pinId, pinnedAt: r.pinnedAt as string | undefined };
      });
      const owners = await this.batchGet(records.map((r) => ({ pk, sk: manifestSk(r.owner) })), 'pk, sk, #pinId', { '#pinId': 'pinId' });
      const owned = records.filter((r) => owners.get(keyString({ pk, sk: manifestSk(r.owner) }))?.pinId === r.pinId);
      if (owned.length > 0) return { holders: [...new Set(owned.map((r) => r.owner))], released };
      for (const r of records) {
        const young = r.pinnedAt === undefined || !(Date.parse(r.pinnedAt) <= cutoff);
        if (!young && (await this.transactOrRetryConflicts(this.releaseActions(counted, counter, r.key, r.owner, r.pinId)))) released++;
        else holders.add(r.owner);
      }
      if (holders.size >= 100) break;
    }
    return { holders: [...holders], released };
  }

  /** One orphan pin given back: its record deleted and -1 on its counter, if its manifest still does not own it. */
  private releaseActions(counted: Key, counter: 'users' | 'parents', record: Key, owner: string, pinId: string): Action[] {
    return [
      { Delete: { TableName: this.table, Key: record, ConditionExpression: 'attribute_exists(pk)' } },
      {
        ConditionCheck: {
          TableName: this.table,
          Key: { pk: record.pk, sk: manifestSk(owner) },
          ConditionExpression: 'attribute_not_exists(pk) OR #pinId <> :pinId',
          ExpressionAttributeNames: { '#pinId': 'pinId' },
          ExpressionAttributeValues: { ':pinId': pinId },
        },
      },
      {
        Update: {
          TableName: this.table,
          Key: counted,
          UpdateExpression: 'ADD #c :minus',
          ConditionExpression: 'attribute_exists(pk) AND #c > :zero',
          ExpressionAttributeNames: { '#c': counter },
          ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
        },
      },
    ];
  }

  private tagDelete(pk: string, tag: string, digest: string) {
    return {
      TableName: this.table,
      Key: { pk, sk: tagSk(tag) },
      ConditionExpression: '#digest = :digest',
      ExpressionAttributeNames: { '#digest': 'digest' },
      ExpressionAttributeValues: { ':digest': digest },
    };
  }

  /** Removes `tag` if it still names `digest`; false when it moved or went meanwhile. */
  private async untag(repository: string, tag: string, digest: string): Promise<boolean> {
    const pk = repoPk(repository);
    return this.transactOrRetry([{ Delete: this.tagDelete(pk, tag, digest) }, { Delete: { TableName: this.table, Key: { pk, sk: taggedSk(digest, tag) } } }]);
  }

  private async get(key: Key, consistent = true, projection?: string, names?: Record<string, string>): Promise<Item | undefined> {
    if (!storable(key)) return undefined;
    const res = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: key,
        ConsistentRead: consistent,
        ...(projection ? { ProjectionExpression: projection } : {}),
        ...(names ? { ExpressionAttributeNames: names } : {}),
      }),
    );
    return res.Item;
  }

  /** Consistent BatchGetItem of any number of keys, keyed by `pk\0sk`. */
  private async batchGet(keys: Key[], projection?: string, names?: Record<string, string>): Promise<Map<string, Item>> {
    const out = new Map<string, Item>();
    const unique = [...new Map(keys.map((k) => [keyString(k), k])).values()];
    for (let i = 0; i < unique.length; i += 100) {
      let pending: Item[] | undefined = unique.slice(i, i + 100);
      for (let round = 0; pending && pending.length > 0; round++) {
        if (round > 0) await sleep(backoff(round));
        const res: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({
            RequestItems: {
              [this.table]: { Keys: pending, ConsistentRead: true, ...(projection ? { ProjectionExpression: projection } : {}), ...(names ? { ExpressionAttributeNames: names } : {}) },
            },
          }),
        );
        for (const item of res.Responses?.[this.table] ?? []) out.set(keyString(item as Key), item);
        pending = res.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    return out;
  }

  /** The part after `prefix` of every sort key under it, up to `limit`. */
  private async suffixes(pk: string, prefix: string, limit: number): Promise<string[]> {
    return (await this.queryPrefix(pk, prefix, limit, 'sk')).map((item) => (item.sk as string).slice(prefix.length));
  }

  private async queryPrefix(pk: string, prefix: string, limit: number, projection?: string, names?: Record<string, string>): Promise<Item[]> {
    const out: Item[] = [];
    for await (const page of this.prefixPages(pk, prefix, { limit, projection, names })) out.push(...page);
    return out;
  }

  /** Consistent Query pages of the items under `prefix`: `limit` items in all, `pageSize` per page at most. */
  private async *prefixPages(
    pk: string,
    prefix: string,
    options: { limit?: number; pageSize?: number; projection?: string; names?: Record<string, string> },
  ): AsyncGenerator<Item[]> {
    const limit = options.limit ?? Infinity;
    let read = 0;
    let start: Item | undefined;
    do {
      const pageLimit = Math.min(limit - read, options.pageSize ?? Infinity);
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ...(Number.isFinite(pageLimit) ? { Limit: pageLimit } : {}),
          ...(options.projection ? { ProjectionExpression: options.projection } : {}),
          ...(options.names ? { ExpressionAttributeNames: options.names } : {}),
        }),
      );
      const items = res.Items ?? [];
      read += items.length;
      start = res.LastEvaluatedKey;
      yield items;
    } while (start && read < limit);
  }

  /**
   * One page of the sort keys under `prefix` in partition `partition`, after `last` (exclusive).
   * DynamoDB orders sort keys by their UTF-8 bytes, as the port asks. A bound longer than
   * a sort key may be is clipped to a prefix (which sorts at or before it) and what sorts
   * at or before the whole bound is skipped here.
   */
  private async pageByKey(
    base: Pick<QueryCommandInput, 'TableName' | 'IndexName' | 'ConsistentRead' | 'ProjectionExpression'>,
    pkName: string,
    partition: string,
    skName: string,
    prefix: string,
    { last, limit }: PageRequest,
    extract: (item: Item) => string,
  ): Promise<Page> {
    const values: Record<string, unknown> = { ':p': partition };
    let condition: string;
    const bound = last !== undefined && last !== '' ? Buffer.from(last) : undefined;
    if (last === undefined || last === '') {
      condition = prefix === '' ? '#pk = :p' : '#pk = :p AND begins_with(#sk, :prefix)';
      if (prefix !== '') values[':prefix'] = prefix;
    } else {
      const from = clip(prefix + last, MAX_SK_BYTES);
      if (prefix === '') {
        condition = '#pk = :p AND #sk >= :from';
        values[':from'] = from;
      } else {
        // Every key under `prefix` sorts below `prefix` with its last character raised by one.
        condition = '#pk = :p AND #sk BETWEEN :from AND :to';
        values[':from'] = from;
        values[':to'] = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      }
    }
    const items: string[] = [];
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          ...base,
          KeyConditionExpression: condition,
          ExpressionAttributeNames: prefix === '' && condition === '#pk = :p' ? { '#pk': pkName } : { '#pk': pkName, '#sk': skName },
          ExpressionAttributeValues: values,
          Limit: Math.min(1000, limit + 1 - items.length + (bound ? 1 : 0)),
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) {
        const name = extract(item);
        if (bound && Buffer.compare(Buffer.from(name), bound) <= 0) continue;
        if (items.length === limit) return { items, more: true };
        items.push(name);
      }
      start = res.LastEvaluatedKey;
    } while (start);
    return { items, more: false };
  }

  /** Up to `limit` keys of a partition (consistent). */
  private async queryPartition(pk: string, limit: number): Promise<Item[]> {
    const res = await this.doc.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ProjectionExpression: 'sk', ConsistentRead: true, Limit: limit }),
    );
    return res.Items ?? [];
  }

  /** transactOrRetry, with conflicts retried here (for callers outside `retrying`). */
  private async transactOrRetryConflicts(actions: Action[]): Promise<boolean> {
    return this.retrying<boolean>(async () => ({ done: await this.transactOrRetry(actions) }));
  }

  private async transact(actions: Action[]): Promise<void> {
    await this.doc.send(new TransactWriteCommand({ TransactItems: actions }));
  }

  /** Runs a transaction; false when a condition failed (the caller reads again), and conflicts are retried. */
  private async transactOrRetry(actions: Action[]): Promise<boolean> {
    try {
      await this.transact(actions);
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Optimistic loop: `step` reads, decides and writes; `{ again }` means the state changed
   * under it (a failed condition) and it runs again on fresh reads. Transaction conflicts
   * (two transactions on one item at once) back off and run again too.
   */
  private async retrying<T>(step: () => Promise<Step<T>>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        const outcome = await step();
        if ('done' in outcome) return outcome.done;
        if (outcome.immediately) continue;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      await sleep(backoff(attempt));
    }
    throw new Error(`DynamoDB table ${this.table}: gave up after ${MAX_ATTEMPTS} attempts against concurrent writers`);
  }
}

// ---- items ----

function manifestItem(key: Key, m: StoredManifest, pinId: string): Item {
  return { ...key, ...recordFields(m), rev: 0, parents: 0, pinId };
}

/** The tag's item: the digest it names and a copy of that manifest's record (body included), when it fits in an item. */
function tagItem(key: Key, m: StoredManifest): Item {
  const item = { ...key, ...recordFields(m) };
  return itemSize(item) <= MAX_ITEM_BYTES ? item : { ...key, digest: m.digest };
}

/** A StoredManifest as item attributes (the inverse of manifestFromItem). */
function recordFields(m: StoredManifest): Item {
  return {
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    blobs: m.blobs,
    children: m.children,
    pushedAt: m.pushedAt,
    ...(m.subject !== undefined ? { subject: m.subject } : {}),
    ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
    ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
    ...(m.body !== undefined ? { body: m.body } : {}),
  };
}

function manifestFromItem(item: Item): StoredManifest {
  return {
    digest: item.digest as string,
    mediaType: item.mediaType as string,
    size: item.size as number,
    blobs: item.blobs as string[],
    children: item.children as string[],
    pushedAt: item.pushedAt as string,
    ...(item.subject !== undefined ? { subject: item.subject as string } : {}),
    ...(item.artifactType !== undefined ? { artifactType: item.artifactType as string } : {}),
    ...(item.annotations !== undefined ? { annotations: item.annotations as Record<string, string> } : {}),
    ...(item.body !== undefined ? { body: item.body as Uint8Array } : {}),
    ...(item.lastPulledAt !== undefined ? { lastPulledAt: item.lastPulledAt as string } : {}),
  };
}

function referrerFromItem(item: Item): ReferrerRecord {
  return {
    digest: item.digest as string,
    mediaType: item.mediaType as string,
    size: item.size as number,
    ...(item.artifactType !== undefined ? { artifactType: item.artifactType as string } : {}),
    ...(item.annotations !== undefined ? { annotations: item.annotations as Record<string, string> } : {}),
  };
}

function referrerItem(key: Key, m: StoredManifest): Item {
  return {
    ...key,
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
    ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
  };
}

function uploadFields(s: UploadState): Item {
  return {
    id: s.id,
    repository: s.repository,
    offset: s.offset,
    startedAt: s.startedAt,
    ...(s.hashState !== undefined ? { hashState: s.hashState } : {}),
  };
}

function uploadFromItem(item: Item): UploadState {
  return {
    id: item.id as string,
    repository: item.repository as string,
    offset: item.offset as number,
    startedAt: item.startedAt as string,
    ...(item.hashState !== undefined ? { hashState: item.hashState as string } : {}),
  };
}

/** An upper estimate of DynamoDB's item size (names + values; numbers counted as 21 bytes). */
function itemSize(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'string') return bytes(value);
  if (typeof value === 'number' || typeof value === 'boolean') return 21;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + itemSize(v), 0);
  return 3 + Object.entries(value as Item).reduce((n, [k, v]) => n + 1 + bytes(k) + itemSize(v), 0);
}

function checkItemSize(what: string, item: Item): void {
  const size = itemSize(item);
  if (size > MAX_ITEM_BYTES) throw new ItemTooLargeError(what, size);
}

// ---- errors and retries ----

const keyString = (k: Key) => `${k.pk}\u0000${k.sk}`;

interface CancellationReason {
  Code?: string;
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | null)?.name;
}

function reasons(err: unknown): string[] {
  return ((err as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/** A condition of this write (or of one action of this transaction) did not hold. */
function isConditionFailure(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'ConditionalCheckFailedException') return true;
  return name === 'TransactionCanceledException' && reasons(err).includes('ConditionalCheckFailed');
}

/** Another transaction held an item at the same moment: nothing was written, try again. */
function isConflict(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'TransactionConflictException' || name === 'TransactionInProgressException') return true;
  if (name !== 'TransactionCanceledException') return false;
  const codes = reasons(err).filter((c) => c !== 'None');
  return codes.length > 0 && codes.every((c) => c === 'TransactionConflict' || c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded');
}

const backoff = (attempt: number) => Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The longest prefix of `s` within `max` UTF-8 bytes, never ending inside a surrogate pair. */
function clip(s: string, max: number): string {
  if (bytes(s) <= max) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (bytes(s.slice(0, mid)) <= max) lo = mid;
    else hi = mid - 1;
  }
  const cut = s.slice(0, lo);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}
