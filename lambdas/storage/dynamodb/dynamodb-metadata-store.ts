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
 *   repo#<name>     policy                      policy (JSON text) of the repository
 *   repo#<repo>     repo                        name, createdAt                   repositories / <repo>
 *   repo#<repo>     link#<blob>                 size, users (manifests using it)  blob#<blob> / <repo>
 *   repo#<repo>     manifest#<digest>           ManifestRecord, body?, rev,
 *                                               parents (indexes using it)
 *   repo#<repo>     tag#<tag>                   digest, a copy of the manifest's
 *                                               record and inline body (see below)
 *   repo#<repo>     tagged#<digest>#<tag>       -                                 (reverse of tag)
 *   repo#<repo>     usage#<blob>#<manifest>     -                                 (manifest needs blob)
 *   repo#<repo>     parent#<child>#<index>      -                                 (index needs child)
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
 * - A manifest is never visible before its blobs and children: putManifest is one
 *   TransactWriteItems that increments `users` on every link and `parents` on every child
 *   manifest, each with `attribute_exists(pk)`, and puts the manifest, its usage/parent
 *   records, its referrer entry and its tag. Any failed condition cancels all of it.
 * - unlinkBlob deletes the link only if `users` is 0 (condition on the link item, which
 *   every putManifest using it updates in its transaction), so a put racing an unlink
 *   either pinned the blob first or found it gone. The usage items only name the users.
 * - deleteManifest deletes the manifest item only if `parents` is 0 and `rev` is what
 *   it read; every tag moved onto a manifest bumps its `rev`, and every tag deleted with
 *   it is deleted on the condition that it still names it, so no tag is left dangling.
 * - A tag moves with a condition on its previous value (or on its absence): concurrent
 *   pushes of one tag serialize, and each loser re-reads and tries again (last writer
 *   wins, as in every registry; the port has no "expected previous" for immutable tags).
 * - advanceUpload is an UpdateItem conditional on `offset`.
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
 * Transaction size. TransactWriteItems takes at most 100 actions. A put costs 1 (the
 * manifest) + 2 per distinct blob or child (counter + usage/parent record) + 1 with a
 * subject + 3 with a tag (tag, its reverse record, the previous manifest's reverse
 * record) + 1 to create the repository when nothing else proves it exists. So a manifest
 * may reference at most 47 distinct blobs and children when pushed with a tag and a
 * subject, 48 with a tag only, 49 otherwise (an image of config + 46 layers, an index of
 * 47 children, pushed by tag); beyond that putManifest throws TooManyReferencesError
 * before writing anything (moving a tag onto a stored manifest costs 4 actions, whatever
 * its size; the tag's copy of the record is part of the tag's Put, not an action of its
 * own). A transaction also holds at most 4 MB: the manifest item and the tag item (each
 * under 400 KB) and the referrer entry (its annotations) are the only large ones. Splitting
 * the put over several transactions would make reference counts visible for a manifest
 * that does not exist yet, and a crash between the parts would pin blobs forever, so this
 * store refuses instead of chunking. deleteManifest of a manifest with many tags first
 * removes the tags that do not fit, each in its own transaction (every intermediate state
 * is one a deleteTag could have produced), then deletes the manifest in one transaction.
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
import type {
  BlobLink,
  DeleteResult,
  MetadataStore,
  Page,
  PageRequest,
  PutManifestOptions,
  PutManifestResult,
  ReferrerRecord,
  RepositoryRecord,
  StoredManifest,
  UploadState,
} from '../ports';
import { StorageLayoutError, StorageLimitError } from '../errors';

export const DYNAMODB_LAYOUT_VERSION = 1;

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

/** The manifest references more blobs and children than one DynamoDB transaction can pin. */
export class TooManyReferencesError extends StorageLimitError {
  constructor(readonly digest: string, readonly references: number, readonly maxReferences: number) {
    super(
      `manifest ${digest} references ${references} distinct blobs and manifests; the DynamoDB metadata store ` +
        `commits a manifest in one transaction (at most 100 actions), which holds at most ${maxReferences} references`,
    );
    this.name = 'TooManyReferencesError';
  }
}

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
}

const MAX_ACTIONS = 100;
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
const linkSk = (blob: string) => `link#${blob}`;
const manifestSk = (digest: string) => `manifest#${digest}`;
const tagSk = (tag: string) => `tag#${tag}`;
const taggedSk = (digest: string, tag: string) => `tagged#${digest}#${tag}`;
const usageSk = (blob: string, manifest: string) => `usage#${blob}#${manifest}`;
const parentSk = (child: string, index: string) => `parent#${child}#${index}`;
const referrerSk = (subject: string, digest: string) => `referrer#${subject}#${digest}`;
const UPLOAD_SK = 'upload';

type Key = { pk: string; sk: string };
/** One round of an optimistic loop: a result, or "the state changed under me, read again". */
type Step<T> = { done: T } | { again: true; immediately?: boolean };
type Item = Record<string, unknown>;
type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Ids and bounds come straight from URLs: a key DynamoDB could not store names nothing stored. */
const storable = (k: Key): boolean => bytes(k.pk) <= MAX_PK_BYTES && bytes(k.sk) <= MAX_SK_BYTES;

export class DynamoDbMetadataStore implements MetadataStore {
  readonly inlineManifestLimit = 160 * 1024;
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(options: DynamoDbMetadataStoreOptions) {
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
      // Repositories are never deleted, so one seen once stays: then the link is one write.
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
        const by = await this.suffixes(key.pk, `usage#${digest}#`, 20);
        return { done: { ok: false, reason: 'in-use', by } };
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
    if (fixed + 2 * references > MAX_ACTIONS) {
      throw new TooManyReferencesError(manifest.digest, references, Math.floor((MAX_ACTIONS - fixed) / 2));
    }
    const manifestKey = this.writableKey({ pk, sk: manifestSk(manifest.digest) });
    const tagKey = tag !== undefined ? this.writableKey({ pk, sk: tagSk(tag) }) : undefined;
    const item = manifestItem(manifestKey, manifest);
    const referrer = manifest.subject !== undefined ? referrerItem(this.writableKey({ pk, sk: referrerSk(manifest.subject, manifest.digest) }), manifest) : undefined;
    checkItemSize(`the record of manifest ${manifest.digest}`, item);
    if (referrer) checkItemSize(`the referrer entry of manifest ${manifest.digest}`, referrer);

    return this.retrying<PutManifestResult>(async () => {
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
      if (!exists) {
        actions.push({ Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } });
        for (const b of blobs) {
          actions.push({ Update: this.increment({ pk, sk: linkSk(b) }, 'users', 1) });
          actions.push({ Put: { TableName: this.table, Item: { pk, sk: usageSk(b, manifest.digest) } } });
        }
        for (const c of children) {
          actions.push({ Update: this.increment({ pk, sk: manifestSk(c) }, 'parents', 1) });
          actions.push({ Put: { TableName: this.table, Item: { pk, sk: parentSk(c, manifest.digest) } } });
        }
        if (referrer) actions.push({ Put: { TableName: this.table, Item: referrer } });
        // Links and children exist only in existing repositories (which are never deleted).
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
      return (await this.transactOrRetry(actions)) ? { done: { ok: true } } : { again: true };
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

  async deleteManifest(repository: string, digest: string): Promise<DeleteResult<'in-use' | 'unknown'>> {
    const pk = repoPk(repository);
    const key = { pk, sk: manifestSk(digest) };
    if (!storable(key)) return { ok: false, reason: 'unknown', by: [] };
    return this.retrying<DeleteResult<'in-use' | 'unknown'>>(async () => {
      const item = await this.get(key, true, 'pk, sk, #blobs, #children, #subject, #rev, #parents', {
        '#blobs': 'blobs',
        '#children': 'children',
        '#subject': 'subject',
        '#rev': 'rev',
        '#parents': 'parents',
      });
      if (!item) return { done: { ok: false, reason: 'unknown', by: [] } };
      if (((item.parents as number | undefined) ?? 0) > 0) {
        return { done: { ok: false, reason: 'in-use', by: await this.suffixes(pk, `parent#${digest}#`, 20) } };
      }
      const blobs = [...new Set(item.blobs as string[])];
      const children = [...new Set(item.children as string[])];
      const tags = await this.suffixes(pk, `tagged#${digest}#`, Infinity);
      const budget = MAX_ACTIONS - 1 - (item.subject !== undefined ? 1 : 0) - 2 * (blobs.length + children.length);
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
            ConditionExpression: 'attribute_exists(pk) AND #rev = :rev AND (attribute_not_exists(#parents) OR #parents = :zero)',
            ExpressionAttributeNames: { '#rev': 'rev', '#parents': 'parents' },
            ExpressionAttributeValues: { ':rev': item.rev ?? 0, ':zero': 0 },
          },
        },
      ];
      for (const tag of tags) {
        actions.push({ Delete: this.tagDelete(pk, tag, digest) });
        actions.push({ Delete: { TableName: this.table, Key: { pk, sk: taggedSk(digest, tag) } } });
      }
      for (const b of blobs) {
        actions.push({ Update: this.increment({ pk, sk: linkSk(b) }, 'users', -1) });
        actions.push({ Delete: { TableName: this.table, Key: { pk, sk: usageSk(b, digest) } } });
      }
      for (const c of children) {
        actions.push({ Update: this.increment({ pk, sk: manifestSk(c) }, 'parents', -1) });
        actions.push({ Delete: { TableName: this.table, Key: { pk, sk: parentSk(c, digest) } } });
      }
      if (item.subject !== undefined) actions.push({ Delete: { TableName: this.table, Key: { pk, sk: referrerSk(item.subject as string, digest) } } });
      return (await this.transactOrRetry(actions)) ? { done: { ok: true } } : { again: true };
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

  async listReferrers(repository: string, subject: string): Promise<ReferrerRecord[]> {
    const prefix = `referrer#${subject}#`;
    if (!storable({ pk: repoPk(repository), sk: prefix })) return [];
    const items = await this.queryPrefix(repoPk(repository), prefix, Infinity);
    return items.map((item) => ({
      digest: item.digest as string,
      mediaType: item.mediaType as string,
      size: item.size as number,
      ...(item.artifactType !== undefined ? { artifactType: item.artifactType as string } : {}),
      ...(item.annotations !== undefined ? { annotations: item.annotations as Record<string, string> } : {}),
    }));
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

  private async queryPrefix(pk: string, prefix: string, limit: number, projection?: string): Promise<Item[]> {
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      const res = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ...(Number.isFinite(limit) ? { Limit: limit - out.length } : {}),
          ...(projection ? { ProjectionExpression: projection } : {}),
        }),
      );
      out.push(...(res.Items ?? []));
      start = res.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
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

function manifestItem(key: Key, m: StoredManifest): Item {
  return { ...key, ...recordFields(m), rev: 0, parents: 0 };
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
