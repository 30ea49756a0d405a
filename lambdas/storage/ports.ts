/**
 * The two storage ports the registry core depends on. They are named after what the
 * registry does with them; adapters are named `<Technology><Port>` (FilesystemBlobStore,
 * LmdbMetadataStore, S3BlobStore, DynamoDbMetadataStore). The metadata port is split into roles
 * (RepositoryStore, ManifestStore, ...), so that each core operation names what it uses; the
 * records they carry are the core's (lambdas/core/model.ts).
 *
 * Rules every adapter keeps (the contract suites in test/contract check them):
 * - A blob becomes readable only through `commitUpload`/`putContent`, never half-written.
 * - Metadata changes that belong together (a manifest, its tag, its usage records) are
 *   applied atomically, with the preconditions checked in the same transaction.
 * - Lists come back in lexical (byte) order of their keys.
 */
import type {
  ByteStream,
  ImageRecord,
  ReferrerRecord,
  RegistrySettings,
  RepositoryCreationTemplate,
  RepositoryCreationTemplateRecord,
  RepositoryRecord,
  RepositorySettings,
  RepositorySettingsRecord,
  StoredManifest,
  UploadState,
} from '../core/model';
import type { ChangeInitiator, ImageChange, ReplicatedFrom } from '../contracts/events';
import type { ImageScanStore, ImageStorageClassStore, ReplicationStatusStore } from './image-management-ports';

// The roles of managing images over time (archive state, replication statuses, scans) and the
// vulnerability data, kept in their own module so that this one stays readable.
export * from './image-management-ports';

/** Stored content as the blob store sees it. */
export interface StoredContentInfo {
  digest: string;
  size: number;
  /** Epoch ms of the last write. */
  modifiedAt: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface BlobStore {
  /** Size of a committed blob, or null when no such content exists. */
  statBlob(digest: string): Promise<{ size: number } | null>;
  /** Streams a committed blob (or one inclusive range of it). Throws when absent. */
  readBlob(digest: string, range?: ByteRange): Promise<ByteStream>;
  /**
   * Optional capability: a URL the client can fetch the blob from directly (a presigned
   * S3 URL), so that no layer byte passes through the registry. Null means "serve it yourself".
   */
  blobRedirectUrl?(digest: string): Promise<string | null>;
  /** Stores small content under its digest, atomically. */
  putContent(digest: string, bytes: Uint8Array): Promise<void>;
  /** Removes content; only garbage collection calls this, once nothing links it. */
  deleteContent(digest: string): Promise<void>;
  /** Every stored content, in no particular order: garbage collection's look for content without a record. */
  storedContent(): AsyncIterable<StoredContentInfo>;
  /** Removes staged copies (and interrupted writes) last changed before `before` (epoch ms): left by pushes that crashed before their commit. Answers how many. */
  discardStaleStaging(before: number): Promise<number>;

  /*
   * Staged content: a manifest body too large for the metadata store, written before the metadata
   * transaction that may still refuse it. It is kept under a key of its push's own (`stagingId`), so a
   * refusal can remove exactly what it wrote (content under the digest may be another repository's),
   * and becomes content only once the manifest is committed. Staged copies of one digest all hold the
   * digest's bytes (checked as putContent checks them); statBlob and readBlob do not see them.
   */
  /** Stores `bytes` (whose digest is `digest`) as staged content, durably and atomically. */
  stageContent(stagingId: string, digest: string, bytes: Uint8Array): Promise<void>;
  /**
   * Makes staged content the content of `digest` (without a copy when that content exists already),
   * then removes the staged copy, so that a reader finds one or the other at every moment. Idempotent
   * and safe to race with itself; throws ContentNotFoundError when neither exists.
   */
  promoteStagedContent(stagingId: string, digest: string): Promise<void>;
  /** Removes staged content without making it content; succeeds when there is none. */
  discardStagedContent(stagingId: string, digest: string): Promise<void>;
  /** Some staged copy of `digest`, or null when none exists: a body committed but not promoted yet. */
  readStagedContent(digest: string): Promise<{ stagingId: string; bytes: Uint8Array } | null>;

  /** Creates the byte area for a new upload session. */
  startUpload(uploadId: string): Promise<void>;
  /**
   * Writes `data` at `offset` (everything after `offset` from an earlier, interrupted
   * write is discarded first) and resolves with the new size of the upload.
   */
  appendUpload(uploadId: string, offset: number, data: ByteStream): Promise<number>;
  /** Streams the bytes received so far (used to re-hash after a restart). */
  readUpload(uploadId: string, size: number): Promise<ByteStream>;
  /** Makes the upload's first `size` bytes the content for `digest`, atomically. */
  commitUpload(uploadId: string, digest: string, size: number): Promise<void>;
  /** Discards an upload's bytes; succeeds when there are none. */
  abortUpload(uploadId: string): Promise<void>;
}

export interface ImagePage {
  items: ImageRecord[];
  /** True when more images follow the last one returned. */
  more: boolean;
}

export type DeleteRepositoryResult = { ok: true } | { ok: false; reason: 'unknown' | 'not-empty' };

export interface BlobLink {
  size: number;
}

/** A repository's link to a blob, with when it was made or last renewed (an upload or mount of the blob renews it). */
export interface LinkedBlob extends BlobLink {
  digest: string;
  /** ISO 8601. Links written before this was recorded count as made at the epoch. */
  linkedAt: string;
}

export interface UnlinkOptions {
  /** Only a link made (or renewed) before this ISO time goes: one an upload or mount renewed meanwhile stays (`recent`). @default any */
  linkedBefore?: string;
}

/**
 * What the registry knows of stored content (docs/garbage-collection.md): how many repositories link
 * it, when it was last claimed, linked or unlinked, and whether the collector is deleting it.
 */
export interface ContentRecord {
  digest: string;
  /** Repositories that link the content (a manifest body kept as content counts as one more). */
  links: number;
  /** Bytes, once a link told (statistics; the collector does not need it). */
  size?: number;
  /** ISO 8601: the last claim, link or unlink. Collection waits a grace period after it. */
  touchedAt: string;
  /** ISO 8601, while the collector is deleting the content: nothing may claim or link it then. */
  deletingSince?: string;
}

export type ContentClaim = { ok: true } | { ok: false; reason: 'being-deleted'; since: string };

/** Thrown by linkBlob when the collector is deleting the content (it must be claimed, and written again, first). */
export class ContentBeingDeletedError extends Error {
  constructor(readonly digest: string) {
    super(`the content ${digest} is being deleted by garbage collection`);
    this.name = 'ContentBeingDeletedError';
  }
}

export interface ReferrerPage {
  items: ReferrerRecord[];
  /** True when more referrers may follow the last one returned. */
  more: boolean;
}

export interface PageRequest {
  /** Exclusive lower bound. */
  last?: string;
  limit: number;
}

export interface Page {
  items: string[];
  /** True when more items follow the last one returned. */
  more: boolean;
}

export type PutManifestResult =
  | { ok: true }
  | { ok: false; missingBlobs: string[]; missingManifests: string[] }
  /** An immutable tag already names another manifest (`tagHeldBy`); nothing was written. */
  | { ok: false; tagHeldBy: string };

export interface PutManifestOptions {
  /** The tag may be set but never moved to another manifest, even by a racing push. @default false */
  immutableTag?: boolean;
  /**
   * The put stores a replica from this source (BerthReplicateImage): its PUSH is marked as one and a
   * REPLICATE is recorded beside it, in the same transaction (image-changes.ts manifestPutChanges). @default none
   */
  replicatedFrom?: ReplicatedFrom;
  /**
   * The repository is scanned on push: the put writes the image's scan record as IN_PROGRESS from
   * `startedAt` in the same transaction (ImageScanStore), so a scan is never missing once the push is
   * acknowledged. A put of a manifest already stored writes it only when the image has no scan record
   * (a re-push keeps the findings it has). @default none
   */
  scan?: { startedAt: string };
}

export type DeleteResult<T extends string> = { ok: true } | { ok: false; reason: T; by: string[] };

export interface DeleteTagOptions {
  /** The manifest the tag must still name. @default whichever it names */
  ifDigest?: string;
  /**
   * The delete carries out a source's deletion (BerthReplicateDelete): its DELETE is marked with the
   * source, so replicators skip it and a replicated delete is never passed on. @default none
   */
  replicatedFrom?: ReplicatedFrom;
}

export interface DeleteManifestOptions {
  /** The tags (any order) that must be exactly the ones naming the manifest for the delete to happen. @default any tags */
  onlyIfTags?: string[];
  /** Recorded on the outbox changes when no client request made the delete (a lifecycle expiry). @default none */
  initiatedBy?: ChangeInitiator;
  /** As DeleteTagOptions.replicatedFrom: every DELETE the delete records carries the source. @default none */
  replicatedFrom?: ReplicatedFrom;
}

/** Whether two tag lists name the same set (for `onlyIfTags`). */
export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  const want = new Set(b);
  return a.length === want.size && a.every((tag) => want.has(tag));
}

/*
 * The metadata port, in roles: each core operation depends on the roles it uses; an adapter implements
 * them all (MetadataStore).
 */

/** Repositories and their settings (stored together: the settings go with the repository). */
export interface RepositoryStore {
  getRepository(name: string): Promise<RepositoryRecord | null>;
  listRepositories(page: PageRequest): Promise<Page>;
  /**
   * Creates a repository explicitly (ECR's CreateRepository) with its settings, atomically; null
   * when a repository of that name exists already (whether created explicitly or by a push).
   */
  createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null>;
  /** The repository's settings (the defaults for a repository created by a push), or null when it does not exist. */
  getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null>;
  /**
   * Replaces the settings with `update(current)`, atomically with respect to other updates (a
   * concurrent TagResource is never lost) and only while the repository exists; null when it does not.
   * `update` may run more than once (optimistic adapters) and must not have side effects.
   */
  updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null>;
  /**
   * Deletes a repository: refused (`not-empty`) while it holds a manifest unless `force`; with
   * `force` its manifests, tags, blob links, usage records, referrer entries, replication statuses,
   * scan records, policy and settings go too. Blob content stays in the blob store (other repositories may link it). Uploads in
   * progress are left to the purge; one that completes later creates the repository anew, as a push does.
   * No state in between is one that reads could find inconsistent (see each adapter for how).
   */
  deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult>;
}

/** Which blobs each repository may read. */
export interface BlobLinkStore {
  /**
   * Links content into a repository, creating the repository on its first link, renewing the link's
   * time when it exists, and counting it on the content's record (created if absent) in the same
   * transaction. Throws ContentBeingDeletedError while the collector deletes the content.
   */
  linkBlob(repository: string, digest: string, link: BlobLink): Promise<void>;
  statBlobLink(repository: string, digest: string): Promise<BlobLink | null>;
  /**
   * Unlinks a blob unless a manifest of the repository uses it (checked atomically), and with
   * `linkedBefore` only if the link was not made or renewed since (`recent` otherwise).
   */
  unlinkBlob(repository: string, digest: string, options?: UnlinkOptions): Promise<DeleteResult<'in-use' | 'unknown' | 'recent'>>;
  /** One page of a repository's links in byte order of digest; `last` is a digest (exclusive). */
  listBlobLinks(repository: string, page: PageRequest): Promise<{ items: LinkedBlob[]; more: boolean }>;
  /** Repositories (up to `limit`) that link the blob, for automatic mounts. */
  repositoriesWithBlob(digest: string, limit: number): Promise<string[]>;
}

/** Manifests, with their usage records and referrer entries. */
export interface ManifestStore {
  /** Largest manifest body kept inline; larger bodies go to the blob store first. */
  readonly inlineManifestLimit: number;
  /**
   * Stores a manifest (and moves `tag` to it) atomically, provided every blob and child
   * manifest it needs is present in the repository at that moment. A put of an archived manifest
   * restores it (STANDARD, `lastActivatedAt` now) and keeps `lastArchivedAt`; the outbox gets its
   * PUSH only (the push is the restore, as ECR documents re-pushing).
   */
  putManifest(repository: string, manifest: StoredManifest, tag?: string, options?: PutManifestOptions): Promise<PutManifestResult>;
  getManifest(repository: string, digest: string): Promise<StoredManifest | null>;
  /**
   * The manifest a tag names, record and (when kept inline) body, or null when the tag does
   * not exist. The answer is what `getManifest(repository, await resolveTag(repository, tag))`
   * would give at one moment (never a tag paired with another manifest's record), but in one
   * read: a manifest by tag is the hot path of every pull (docker and containerd HEAD it, skopeo
   * GETs it), so adapters whose reads are billed per call keep it to one (the DynamoDB adapter
   * keeps a copy of the record on the tag item; LMDB reads both keys in one read transaction).
   */
  getTaggedManifest(repository: string, tag: string): Promise<StoredManifest | null>;
  /**
   * Deletes a manifest with its tags, referrer entries and scan record unless an index of the repository still
   * needs it. With `onlyIfTags`, only while exactly those tags name it (checked in the same
   * transaction, so a tag a racing push adds is never deleted unseen): otherwise `tagged`, nothing changed.
   */
  deleteManifest(repository: string, digest: string, options?: DeleteManifestOptions): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>>;
  /**
   * The repository's manifests (records without bodies) with their tags, one page in byte order of
   * digest; `last` is a digest (exclusive). An unknown repository has none.
   */
  listManifests(repository: string, page: PageRequest): Promise<ImagePage>;
  /**
   * A subject's referrers in digest byte order, after `last` (exclusive): at most `limit`. A
   * referrer carries its manifest's annotations (up to megabytes), so an adapter may return fewer
   * to keep one read small in bytes (about a megabyte), but never none while more follow. `more`
   * says whether to ask again; only after a page cut short in bytes may it precede an empty page.
   */
  listReferrers(repository: string, subject: string, page: PageRequest): Promise<ReferrerPage>;
}

/** The tags naming manifests. */
export interface TagStore {
  resolveTag(repository: string, tag: string): Promise<string | null>;
  /** Removes a tag; with `ifDigest`, only while it names that manifest (atomically). False when there was nothing to remove. */
  deleteTag(repository: string, tag: string, options?: DeleteTagOptions): Promise<boolean>;
  listTags(repository: string, page: PageRequest): Promise<Page>;
  /** The tags naming a manifest now, in byte order. */
  getManifestTags(repository: string, digest: string): Promise<string[]>;
}

/** When images were last pulled. */
export interface PullRecords {
  /**
   * Records a pull of a manifest at `at` (ISO time), only if none is recorded at or after
   * `notBefore`: a conditional update, so a burst of pulls writes once. True when it wrote; false
   * when a recent enough time is stored or the manifest does not exist.
   */
  recordImagePull(repository: string, digest: string, at: string, notBefore: string): Promise<boolean>;
}

/** Repository and registry policies (IAM JSON grammar). */
export interface PolicyStore {
  /** The repository's policy document (IAM JSON grammar), or null when it has none. */
  getRepositoryPolicy(repository: string): Promise<string | null>;
  /** Sets (or with null removes) a repository's policy; false when the repository does not exist. */
  setRepositoryPolicy(repository: string, policy: string | null): Promise<boolean>;
  /** The registry-wide policy document, or null. */
  getRegistryPolicy(): Promise<string | null>;
  setRegistryPolicy(policy: string | null): Promise<void>;
}

/** The registry-wide settings. */
export interface RegistrySettingsStore {
  /** Registry-wide settings (DEFAULT_REGISTRY_SETTINGS when none are stored). */
  getRegistrySettings(): Promise<RegistrySettings>;
  setRegistrySettings(settings: RegistrySettings): Promise<void>;
}

/** Repository creation templates. */
export interface TemplateStore {
  /** Creates a repository creation template; null when one with that prefix exists. */
  createRepositoryCreationTemplate(template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null>;
  /** Every template, in byte order of prefix (ECR allows a few hundred at most). */
  listRepositoryCreationTemplates(): Promise<RepositoryCreationTemplateRecord[]>;
  /** Replaces a template with `update(current)` atomically; null when it does not exist. `update` may run more than once. */
  updateRepositoryCreationTemplate(
    prefix: string,
    update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
  ): Promise<RepositoryCreationTemplateRecord | null>;
  /** Deletes a template and answers what it was; null when it did not exist. */
  deleteRepositoryCreationTemplate(prefix: string): Promise<RepositoryCreationTemplateRecord | null>;
}

/** The state of uploads in progress (their bytes are the blob store's). */
export interface UploadStore {
  createUpload(state: UploadState): Promise<void>;
  getUpload(id: string): Promise<UploadState | null>;
  /** Moves an upload forward, only if its offset is still `expectedOffset`. */
  advanceUpload(id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean>;
  deleteUpload(id: string): Promise<void>;
  /** Up to `limit` uploads whose `startedAt` is before `isoTime` (for purging abandoned ones). */
  listUploadsStartedBefore(isoTime: string, limit: number): Promise<UploadState[]>;
}

/**
 * The content records garbage collection decides on (docs/garbage-collection.md, "The protocol").
 * Writers claim content before writing its bytes; the collector deletes content only after turning
 * its record to `deleting` in a conditional write (no link, untouched for the grace period), and
 * removes the record after the bytes; nothing can claim or link content in between.
 */
export interface ContentStore {
  /**
   * Marks content in use now, before its bytes are written or it is linked (an upload's commit, a
   * mount, a manifest body kept as content): creates its record or renews `touchedAt`. Refused while
   * the collector deletes it (`being-deleted`, with since when).
   */
  claimContent(digest: string): Promise<ContentClaim>;
  getContentRecord(digest: string): Promise<ContentRecord | null>;
  /** One page of content records in byte order of digest; `last` is a digest (exclusive). */
  listContentRecords(page: PageRequest): Promise<{ items: ContentRecord[]; more: boolean }>;
  /**
   * Turns the content's record to `deleting`, atomically, only if no repository links it and it was
   * not touched at or after `touchedBefore`; an absent record (content stored before records were
   * kept, or left by a crash) is created as `deleting`. A record already `deleting` since before
   * `staleBefore` (a collector that stopped half-way) is taken over. True when the caller may now
   * delete the bytes and then call finishContentDeletion.
   */
  beginContentDeletion(digest: string, touchedBefore: string, staleBefore: string): Promise<boolean>;
  /** Removes the record of content whose bytes are gone (only while it is `deleting`). */
  finishContentDeletion(digest: string): Promise<void>;
}

/** One committed write's changes, as the outbox keeps them until they are delivered. */
export interface OutboxEntry {
  /** The entry's key in the outbox: entries list in the order of these ids' bytes, which is commit order as near as the adapter can tell. */
  id: string;
  /** The image changes of one write, in the order they happened (several for a deleted image with several tags). */
  changes: ImageChange[];
}

/**
 * The outbox of image changes (docs/events.md, "Delivery"). Every write that changes an image records
 * its changes here in the same transaction as the change itself, so a change is never committed
 * without its record nor recorded without having committed:
 * - putManifest: one PUSH (with `tag` when one was given), for every successful put, a repeated one included;
 *   with `replicatedFrom`, that PUSH carries it and a REPLICATE follows (ECR's replication event);
 * - deleteTag: one DELETE with the tag, when it removed one;
 * - deleteManifest: one DELETE per tag the manifest had (tags removed in steps by an adapter count the
 *   same), or one without a tag when it had none;
 *   both with `replicatedFrom` (and deleteManifest with `initiatedBy`) carried by each DELETE;
 * - deleteRepository with force: what deleteManifest records, for each manifest it removes.
 * Refused or failed writes record nothing. A tag that moves to another manifest is part of the PUSH
 * (as in ECR, the manifest it left gets no event). A drainer reads entries, delivers them, then
 * acknowledges them; an entry read but not acknowledged (a crash) is read again: at least once.
 */
export interface ChangeOutbox {
  /** Up to `limit` entries not yet acknowledged, in id order, after `after` (exclusive) when given. */
  readOutbox(limit: number, after?: string): Promise<OutboxEntry[]>;
  /** Removes delivered entries; ids no longer (or never) in the outbox are ignored. */
  acknowledgeOutbox(ids: readonly string[]): Promise<void>;
  /**
   * Records changes that are not part of an image write (a replicator's FAILED REPLICATE: nothing else
   * changes when a destination refuses), as one entry; none is a no-op. The caller builds them whole
   * (event id, time), so a retry of this call may record them twice: consumers deduplicate on the event id.
   */
  recordChanges(changes: readonly ImageChange[]): Promise<void>;
}

/** The whole metadata port, as each adapter implements it. */
export interface MetadataStore
  extends RepositoryStore,
    BlobLinkStore,
    ManifestStore,
    TagStore,
    PullRecords,
    PolicyStore,
    RegistrySettingsStore,
    TemplateStore,
    UploadStore,
    ChangeOutbox,
    ContentStore,
    ImageStorageClassStore,
    ReplicationStatusStore,
    ImageScanStore {
  /** Releases handles; the store is unusable afterwards. */
  close(): Promise<void>;
}
