/**
 * LmdbMetadataStore: the metadata store of local mode, on LMDB. Why LMDB, what its transactions
 * guarantee and the key layout: docs/storage.md ("LMDB metadata store"). This class is the port's
 * face; each concern is a module of lmdb/ working on the database.
 */
import { open, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
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
  DeleteManifestOptions,
  DeleteTagOptions,
  DeleteRepositoryResult,
  DeleteResult,
  ContentClaim,
  ContentRecord,
  FinishScanResult,
  ImagePage,
  ImageScanPage,
  LinkedBlob,
  MetadataStore,
  OutboxEntry,
  UnlinkOptions,
  Page,
  PageRequest,
  PutManifestOptions,
  PutManifestResult,
  ReferrerPage,
  StartScanResult,
  StorageClassUpdate,
  UpdateFindingsResult,
} from '../ports';
import { StorageLayoutError } from '../errors';
import * as repositories from './lmdb/repositories';
import * as manifests from './lmdb/manifests';
import * as meta from './lmdb/registry-meta';
import * as uploads from './lmdb/uploads';
import * as outbox from './lmdb/outbox';
import * as content from './lmdb/content';
import * as storageClass from './lmdb/storage-class';
import * as replicationStatus from './lmdb/replication-status';
import * as imageScans from './lmdb/image-scans';

/** 2: content records (garbage collection); a version-1 environment is upgraded in place when opened. */
export const LMDB_LAYOUT_VERSION = 2;

export interface LmdbMetadataStoreOptions {
  /** Directory holding the LMDB environment. */
  path: string;
}

export class LmdbMetadataStore implements MetadataStore {
  /** LMDB keeps large values in overflow pages, so every manifest the registry accepts stays inline. */
  readonly inlineManifestLimit = Number.MAX_SAFE_INTEGER;
  private readonly db: RootDatabase;

  private constructor(db: RootDatabase) {
    this.db = db;
  }

  static async open(options: LmdbMetadataStoreOptions): Promise<LmdbMetadataStore> {
    mkdirSync(options.path, { recursive: true });
    // overlappingSync (lmdb-js's default) resolves a write before it is on disk; a registry
    // answers 201 only for what survives a power loss.
    const db = open({ path: options.path, encoding: 'msgpack', overlappingSync: false });
    try {
      await checkLayout(db, options.path);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new LmdbMetadataStore(db);
  }

  // ---- repositories, settings, policies, blob links (lmdb/repositories.ts) ---------------

  async getRepository(name: string): Promise<RepositoryRecord | null> {
    return repositories.getRepository(this.db, name);
  }

  async listRepositories(page: PageRequest): Promise<Page> {
    return repositories.listRepositories(this.db, page);
  }

  async createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return repositories.createRepository(this.db, name, settings);
  }

  async getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null> {
    return repositories.getRepositorySettings(this.db, name);
  }

  async updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return repositories.updateRepositorySettings(this.db, name, update);
  }

  async deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult> {
    return repositories.deleteRepository(this.db, name, force);
  }

  async getRepositoryPolicy(repository: string): Promise<string | null> {
    return repositories.getRepositoryPolicy(this.db, repository);
  }

  async setRepositoryPolicy(repository: string, policy: string | null): Promise<boolean> {
    return repositories.setRepositoryPolicy(this.db, repository, policy);
  }

  async linkBlob(repository: string, digest: string, link: BlobLink): Promise<void> {
    return repositories.linkBlob(this.db, repository, digest, link);
  }

  async statBlobLink(repository: string, digest: string): Promise<BlobLink | null> {
    return repositories.statBlobLink(this.db, repository, digest);
  }

  async listBlobLinks(repository: string, page: PageRequest): Promise<{ items: LinkedBlob[]; more: boolean }> {
    return repositories.listBlobLinksPage(this.db, repository, page);
  }

  async claimContent(digest: string): Promise<ContentClaim> {
    return content.claimContent(this.db, digest);
  }

  async getContentRecord(digest: string): Promise<ContentRecord | null> {
    return content.getContentRecord(this.db, digest);
  }

  async listContentRecords(page: PageRequest): Promise<{ items: ContentRecord[]; more: boolean }> {
    return content.listContentRecords(this.db, page);
  }

  async beginContentDeletion(digest: string, touchedBefore: string, staleBefore: string): Promise<boolean> {
    return content.beginContentDeletion(this.db, digest, touchedBefore, staleBefore);
  }

  async finishContentDeletion(digest: string): Promise<void> {
    return content.finishContentDeletion(this.db, digest);
  }

  async unlinkBlob(repository: string, digest: string, options: UnlinkOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'recent'>> {
    return repositories.unlinkBlob(this.db, repository, digest, options);
  }

  async repositoriesWithBlob(digest: string, limit: number): Promise<string[]> {
    return repositories.repositoriesWithBlob(this.db, digest, limit);
  }

  // ---- manifests, tags, referrers (lmdb/manifests.ts) ------------------------------------

  async putManifest(repository: string, manifest: StoredManifest, tag?: string, options: PutManifestOptions = {}): Promise<PutManifestResult> {
    return manifests.putManifest(this.db, repository, manifest, tag, options);
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | null> {
    return manifests.getManifest(this.db, repository, digest);
  }

  async listManifests(repository: string, page: PageRequest): Promise<ImagePage> {
    return manifests.listManifests(this.db, repository, page);
  }

  async getManifestTags(repository: string, digest: string): Promise<string[]> {
    return manifests.getManifestTags(this.db, repository, digest);
  }

  async recordImagePull(repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
    return manifests.recordImagePull(this.db, repository, digest, at, notBefore);
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    return manifests.resolveTag(this.db, repository, tag);
  }

  async getTaggedManifest(repository: string, tag: string): Promise<StoredManifest | null> {
    return manifests.getTaggedManifest(this.db, repository, tag);
  }

  async deleteManifest(repository: string, digest: string, options: DeleteManifestOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
    return manifests.deleteManifest(this.db, repository, digest, options);
  }

  async deleteTag(repository: string, tag: string, options: DeleteTagOptions = {}): Promise<boolean> {
    return manifests.deleteTag(this.db, repository, tag, options);
  }

  async listTags(repository: string, page: PageRequest): Promise<Page> {
    return manifests.listTags(this.db, repository, page);
  }

  async listReferrers(repository: string, subject: string, page: PageRequest): Promise<ReferrerPage> {
    return manifests.listReferrers(this.db, repository, subject, page);
  }

  async setImageStorageClass(
    repository: string,
    digest: string,
    target: ImageStorageClass,
    at: string,
    options: { initiatedBy?: ChangeInitiator } = {},
  ): Promise<StorageClassUpdate> {
    return storageClass.setImageStorageClass(this.db, repository, digest, target, at, options);
  }

  // ---- replication statuses (lmdb/replication-status.ts) --------------------------------

  async setReplicationStatus(repository: string, digest: string, destination: ReplicationDestination, status: ReplicationStatus): Promise<boolean> {
    return replicationStatus.setReplicationStatus(this.db, repository, digest, destination, status);
  }

  async getReplicationStatuses(repository: string, digest: string): Promise<ReplicationStatusRecord[]> {
    return replicationStatus.getReplicationStatuses(this.db, repository, digest);
  }

  // ---- image scan records (lmdb/image-scans.ts) -----------------------------------------

  async startScan(repository: string, digest: string, at: string, options: { manual?: boolean } = {}): Promise<StartScanResult> {
    return imageScans.startScan(this.db, repository, digest, at, options);
  }

  async finishScan(repository: string, digest: string, result: ImageScanResult, options: { expectedStartedAt: string }): Promise<FinishScanResult> {
    return imageScans.finishScan(this.db, repository, digest, result, options);
  }

  async getScan(repository: string, digest: string): Promise<ImageScanRecord | null> {
    return imageScans.getScan(this.db, repository, digest);
  }

  async getScans(repository: string, digests: readonly string[]): Promise<Map<string, ImageScanRecord>> {
    return imageScans.getScans(this.db, repository, digests);
  }

  async listScansSince(since: Date, cursor?: string, limit?: number): Promise<ImageScanPage> {
    return imageScans.listScansSince(this.db, since, cursor, limit);
  }

  async updateFindings(repository: string, digest: string, update: ImageFindingsUpdate, options: { expectedGeneration: number }): Promise<UpdateFindingsResult> {
    return imageScans.updateFindings(this.db, repository, digest, update, options);
  }

  // ---- registry settings, registry policy, creation templates (lmdb/registry-meta.ts) ----

  async getRegistrySettings(): Promise<RegistrySettings> {
    return meta.getRegistrySettings(this.db);
  }

  async setRegistrySettings(settings: RegistrySettings): Promise<void> {
    return meta.setRegistrySettings(this.db, settings);
  }

  async getRegistryPolicy(): Promise<string | null> {
    return meta.getRegistryPolicy(this.db);
  }

  async setRegistryPolicy(policy: string | null): Promise<void> {
    return meta.setRegistryPolicy(this.db, policy);
  }

  async createRepositoryCreationTemplate(template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.createRepositoryCreationTemplate(this.db, template);
  }

  async listRepositoryCreationTemplates(): Promise<RepositoryCreationTemplateRecord[]> {
    return meta.listRepositoryCreationTemplates(this.db);
  }

  async updateRepositoryCreationTemplate(
    templatePrefix: string,
    update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
  ): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.updateRepositoryCreationTemplate(this.db, templatePrefix, update);
  }

  async deleteRepositoryCreationTemplate(templatePrefix: string): Promise<RepositoryCreationTemplateRecord | null> {
    return meta.deleteRepositoryCreationTemplate(this.db, templatePrefix);
  }

  // ---- uploads (lmdb/uploads.ts) ---------------------------------------------------------

  async createUpload(state: UploadState): Promise<void> {
    return uploads.createUpload(this.db, state);
  }

  async getUpload(id: string): Promise<UploadState | null> {
    return uploads.getUpload(this.db, id);
  }

  async advanceUpload(id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
    return uploads.advanceUpload(this.db, id, expectedOffset, next);
  }

  async deleteUpload(id: string): Promise<void> {
    return uploads.deleteUpload(this.db, id);
  }

  async listUploadsStartedBefore(isoTime: string, limit: number): Promise<UploadState[]> {
    return uploads.listUploadsStartedBefore(this.db, isoTime, limit);
  }

  async readOutbox(limit: number, after?: string): Promise<OutboxEntry[]> {
    return outbox.readOutbox(this.db, limit, after);
  }

  async acknowledgeOutbox(ids: readonly string[]): Promise<void> {
    return outbox.acknowledgeOutbox(this.db, ids);
  }

  async recordChanges(changes: readonly ImageChange[]): Promise<void> {
    return outbox.recordChanges(this.db, changes);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

async function checkLayout(db: RootDatabase, path: string): Promise<void> {
  const layout: { version: number } | undefined = db.get('layout');
  if (layout === undefined) {
    const empty = db.getKeysCount({ limit: 1 }) === 0;
    if (!empty) throw new StorageLayoutError(path, 'metadata has no layout version');
    await db.put('layout', { version: LMDB_LAYOUT_VERSION });
    return;
  }
  if (layout.version === 1) {
    await db.transaction(() => {
      content.recordExistingContent(db);
      db.put('layout', { version: LMDB_LAYOUT_VERSION });
    });
    return;
  }
  if (layout.version !== LMDB_LAYOUT_VERSION) {
    throw new StorageLayoutError(path, `metadata layout version ${layout.version}; this build reads version ${LMDB_LAYOUT_VERSION}`);
  }
}
