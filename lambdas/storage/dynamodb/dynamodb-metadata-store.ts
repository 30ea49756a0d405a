/**
 * DynamoDbMetadataStore: the metadata store of the AWS deployment, on one DynamoDB table. The
 * layout, its invariants and why each write is conditional as it is: docs/storage.md ("DynamoDB
 * single-table layout"); the keys and schema: lambdas/contracts/dynamodb-table.ts. This class is
 * the port's face; each concern is a module of this folder working on a TableContext.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChangeInitiator, ImageChange } from '../../contracts/events';
import type {
  ImageStorageClass,
  RegistrySettings,
  RepositoryCreationTemplate,
  RepositoryCreationTemplateRecord,
  RepositoryRecord,
  RepositorySettings,
  RepositorySettingsRecord,
  ReplicationDestination,
  ReplicationStatus,
  ReplicationStatusRecord,
  StoredManifest,
  UploadState,
} from '../../core/model';
import type { ImageFindingsUpdate, ImageScanRecord, ImageScanResult } from '../../core/scanning/scan-records';
import type {
  BlobLink,
  ContentClaim,
  ContentRecord,
  DeleteManifestOptions,
  DeleteTagOptions,
  DeleteRepositoryResult,
  DeleteResult,
  FinishScanResult,
  ImagePage,
  ImageScanPage,
  LinkedBlob,
  MetadataStore,
  OutboxEntry,
  Page,
  PageRequest,
  PutManifestOptions,
  PutManifestResult,
  ReferrerPage,
  StartScanResult,
  StorageClassUpdate,
  UnlinkOptions,
  UpdateFindingsResult,
} from '../ports';
import * as content from './content';
import * as deletes from './deletes';
import * as imageScans from './image-scans';
import * as manifestReads from './manifest-reads';
import { putManifest } from './manifest-puts';
import * as outbox from './outbox';
import * as meta from './registry-meta';
import * as replicationStatus from './replication-status';
import * as repositories from './repositories';
import * as storageClass from './storage-class';
import type { TableContext } from './table';
import * as uploads from './uploads';

export { DYNAMODB_LAYOUT_VERSION } from '../../contracts/dynamodb-table';
export { ItemTooLargeError } from './table';
export { UPLOAD_TTL_SECONDS } from './uploads';

export interface DynamoDbMetadataStoreOptions {
  /** Created once by the caller (per Lambda container) and never closed by the store. */
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  /**
   * How old a usage or parent record whose manifest does not exist must be before it is taken for
   * one left by a crash and released (docs/storage.md, "Orphan pins"). A put's two phases run in
   * one Lambda invocation, which lasts 15 minutes at most.
   * @default one hour
   */
  orphanPinGraceMs?: number;
  /**
   * The clock that stamps and ages pins, and stamps links and content records.
   * @default Date.now
   */
  now?: () => number;
}

const DEFAULT_ORPHAN_PIN_GRACE_MS = 60 * 60 * 1000;

export class DynamoDbMetadataStore implements MetadataStore {
  /** Larger bodies go to the blob store: an item with its record stays under DynamoDB's 400 KB (docs/storage.md, "Item size"). */
  readonly inlineManifestLimit = 160 * 1024;
  private readonly t: TableContext;

  constructor(options: DynamoDbMetadataStoreOptions) {
    this.t = {
      doc:
        options.client instanceof DynamoDBDocumentClient
          ? options.client
          : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } }),
      table: options.tableName,
      orphanPinGraceMs: options.orphanPinGraceMs ?? DEFAULT_ORPHAN_PIN_GRACE_MS,
      now: options.now ?? Date.now,
    };
  }

  /** A store over the table, after checking (on an empty table, writing; on a version-2 table, upgrading) its layout version. */
  static async open(options: DynamoDbMetadataStoreOptions): Promise<DynamoDbMetadataStore> {
    const store = new DynamoDbMetadataStore(options);
    await store.checkLayout();
    return store;
  }

  /** Throws StorageLayoutError unless the table holds this build's layout (an empty table gets it, a version-2 table is upgraded). */
  checkLayout(): Promise<void> {
    return meta.checkLayout(this.t);
  }

  // ---- repositories and blob links ----

  getRepository(name: string): Promise<RepositoryRecord | null> {
    return repositories.getRepository(this.t, name);
  }

  listRepositories(page: PageRequest): Promise<Page> {
    return repositories.listRepositories(this.t, page);
  }

  createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return repositories.createRepository(this.t, name, settings);
  }

  getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null> {
    return repositories.getRepositorySettings(this.t, name);
  }

  updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return repositories.updateRepositorySettings(this.t, name, update);
  }

  deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult> {
    return deletes.deleteRepository(this.t, name, force);
  }

  linkBlob(repository: string, digest: string, link: BlobLink): Promise<void> {
    return repositories.linkBlob(this.t, repository, digest, link);
  }

  statBlobLink(repository: string, digest: string): Promise<BlobLink | null> {
    return repositories.statBlobLink(this.t, repository, digest);
  }

  unlinkBlob(repository: string, digest: string, options: UnlinkOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'recent'>> {
    return deletes.unlinkBlob(this.t, repository, digest, options);
  }

  listBlobLinks(repository: string, page: PageRequest): Promise<{ items: LinkedBlob[]; more: boolean }> {
    return repositories.listBlobLinks(this.t, repository, page);
  }

  repositoriesWithBlob(digest: string, limit: number): Promise<string[]> {
    return repositories.repositoriesWithBlob(this.t, digest, limit);
  }

  // ---- manifests, tags and referrers ----

  putManifest(repository: string, manifest: StoredManifest, tag?: string, options: PutManifestOptions = {}): Promise<PutManifestResult> {
    return putManifest(this.t, repository, manifest, tag, options);
  }

  getManifest(repository: string, digest: string): Promise<StoredManifest | null> {
    return manifestReads.getManifest(this.t, repository, digest);
  }

  resolveTag(repository: string, tag: string): Promise<string | null> {
    return manifestReads.resolveTag(this.t, repository, tag);
  }

  getTaggedManifest(repository: string, tag: string): Promise<StoredManifest | null> {
    return manifestReads.getTaggedManifest(this.t, repository, tag);
  }

  listManifests(repository: string, page: PageRequest): Promise<ImagePage> {
    return manifestReads.listManifests(this.t, repository, page);
  }

  getManifestTags(repository: string, digest: string): Promise<string[]> {
    return manifestReads.getManifestTags(this.t, repository, digest);
  }

  deleteManifest(repository: string, digest: string, options: DeleteManifestOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
    return deletes.deleteManifest(this.t, repository, digest, options);
  }

  deleteTag(repository: string, tag: string, options: DeleteTagOptions = {}): Promise<boolean> {
    return deletes.deleteTag(this.t, repository, tag, options);
  }

  listTags(repository: string, page: PageRequest): Promise<Page> {
    return manifestReads.listTags(this.t, repository, page);
  }

  listReferrers(repository: string, subject: string, page: PageRequest): Promise<ReferrerPage> {
    return manifestReads.listReferrers(this.t, repository, subject, page);
  }

  recordImagePull(repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
    return manifestReads.recordImagePull(this.t, repository, digest, at, notBefore);
  }

  setImageStorageClass(repository: string, digest: string, target: ImageStorageClass, at: string, options: { initiatedBy?: ChangeInitiator } = {}): Promise<StorageClassUpdate> {
    return storageClass.setImageStorageClass(this.t, repository, digest, target, at, options);
  }

  // ---- replication statuses ----

  setReplicationStatus(repository: string, digest: string, destination: ReplicationDestination, status: ReplicationStatus): Promise<boolean> {
    return replicationStatus.setReplicationStatus(this.t, repository, digest, destination, status);
  }

  getReplicationStatuses(repository: string, digest: string): Promise<ReplicationStatusRecord[]> {
    return replicationStatus.getReplicationStatuses(this.t, repository, digest);
  }

  // ---- image scan records ----

  startScan(repository: string, digest: string, at: string, options: { manual?: boolean } = {}): Promise<StartScanResult> {
    return imageScans.startScan(this.t, repository, digest, at, options);
  }

  finishScan(repository: string, digest: string, result: ImageScanResult, options: { expectedStartedAt: string }): Promise<FinishScanResult> {
    return imageScans.finishScan(this.t, repository, digest, result, options);
  }

  getScan(repository: string, digest: string): Promise<ImageScanRecord | null> {
    return imageScans.getScan(this.t, repository, digest);
  }

  getScans(repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>> {
    return imageScans.getScans(this.t, repository, digests);
  }

  listScansSince(since: Date, cursor?: string, limit?: number): Promise<ImageScanPage> {
    return imageScans.listScansSince(this.t, since, cursor, limit);
  }

  updateFindings(repository: string, digest: string, update: ImageFindingsUpdate, options: { expectedGeneration: number }): Promise<UpdateFindingsResult> {
    return imageScans.updateFindings(this.t, repository, digest, update, options);
  }

  // ---- policies, registry settings, creation templates ----

  getRepositoryPolicy(repository: string): Promise<string | null> {
    return repositories.getRepositoryPolicy(this.t, repository);
  }

  setRepositoryPolicy(repository: string, policy: string | null): Promise<boolean> {
    return repositories.setRepositoryPolicy(this.t, repository, policy);
  }

  getRegistryPolicy(): Promise<string | null> {
    return meta.getRegistryPolicy(this.t);
  }

  setRegistryPolicy(policy: string | null): Promise<void> {
    return meta.setRegistryPolicy(this.t, policy);
  }

  getRegistrySettings(): Promise<RegistrySettings> {
    return meta.getRegistrySettings(this.t);
  }

  setRegistrySettings(settings: RegistrySettings): Promise<void> {
    return meta.setRegistrySettings(this.t, settings);
  }

  createRepositoryCreationTemplate(template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.createRepositoryCreationTemplate(this.t, template);
  }

  listRepositoryCreationTemplates(): Promise<RepositoryCreationTemplateRecord[]> {
    return meta.listRepositoryCreationTemplates(this.t);
  }

  updateRepositoryCreationTemplate(
    prefix: string,
    update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
  ): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.updateRepositoryCreationTemplate(this.t, prefix, update);
  }

  deleteRepositoryCreationTemplate(prefix: string): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.deleteRepositoryCreationTemplate(this.t, prefix);
  }

  // ---- uploads ----

  createUpload(state: UploadState): Promise<void> {
    return uploads.createUpload(this.t, state);
  }

  getUpload(id: string): Promise<UploadState | null> {
    return uploads.getUpload(this.t, id);
  }

  advanceUpload(id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
    return uploads.advanceUpload(this.t, id, expectedOffset, next);
  }

  deleteUpload(id: string): Promise<void> {
    return uploads.deleteUpload(this.t, id);
  }

  listUploadsStartedBefore(isoTime: string, limit: number): Promise<UploadState[]> {
    return uploads.listUploadsStartedBefore(this.t, isoTime, limit);
  }

  // ---- content records (garbage collection) ----

  claimContent(digest: string): Promise<ContentClaim> {
    return content.claimContent(this.t, digest);
  }

  getContentRecord(digest: string): Promise<ContentRecord | null> {
    return content.getContentRecord(this.t, digest);
  }

  listContentRecords(page: PageRequest): Promise<{ items: ContentRecord[]; more: boolean }> {
    return content.listContentRecords(this.t, page);
  }

  beginContentDeletion(digest: string, touchedBefore: string, staleBefore: string): Promise<boolean> {
    return content.beginContentDeletion(this.t, digest, touchedBefore, staleBefore);
  }

  finishContentDeletion(digest: string): Promise<void> {
    return content.finishContentDeletion(this.t, digest);
  }

  // ---- the outbox of image changes ----

  readOutbox(limit: number, after?: string): Promise<OutboxEntry[]> {
    return outbox.readOutbox(this.t, limit, after);
  }

  acknowledgeOutbox(ids: readonly string[]): Promise<void> {
    return outbox.acknowledgeOutbox(this.t, ids);
  }

  recordChanges(changes: readonly ImageChange[]): Promise<void> {
    return outbox.recordChanges(this.t, changes);
  }

  /** The client belongs to the caller (shared by every store of the Lambda container). */
  async close(): Promise<void> {}
}
