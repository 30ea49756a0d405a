/**
 * The registry's rules, independent of transport and storage technology: what may be
 * uploaded, linked, stored, listed and deleted, and in which order, so that nothing is
 * visible before it is complete and nothing referenced is ever removed.
 */
import type { RepositorySettings, StoredManifest, UploadState } from './model';
import type { BlobStore, MetadataStore, PutManifestOptions, RepositoryStore } from '../storage/ports';
import { MAX_MANIFEST_BYTES } from './manifest';
import { LargeManifestBodies } from './large-manifest-bodies';
import { DEFAULT_REFERRERS_PAGE_BYTES } from './referrer-pages';
import { silentLogger, type Logger } from './log';
import { Repositories, unknownRepository } from './repositories';
import type { BlobContent, BlobInfo, ChunkRequest, ListPage, ManifestContent, ReferrersPage } from './registry/types';
import { RegistryBlobs } from './registry/blobs';
import { RegistryUploads } from './registry/uploads';
import { RegistryManifests } from './registry/manifests';
import { MAX_PAGE_SIZE, RegistryListings } from './registry/listings';

export type { BlobContent, BlobInfo, ChunkRequest, ListPage, ManifestContent, ReferrersPage } from './registry/types';
export { MAX_PAGE_SIZE } from './registry/listings';
export { PULL_RECORD_INTERVAL_MS } from './registry/manifests';

/**
 * What a push to a repository that does not exist may do: `false` refuses it (NAME_UNKNOWN),
 * `true` creates the repository with the default settings (by its first link, as always), and
 * `{ settings, policy }` creates it with those (a repository creation template's).
 */
export type CreateOnPushDecision = boolean | { settings: RepositorySettings; policy?: string };

export interface RegistryOptions {
  blobs: BlobStore;
  metadata: MetadataStore;
  /**
   * The repository role the Registry and whoever shares its `repositories` go through: a
   * CachedRepositorySettings over `metadata` in the composition roots. @default metadata
   */
  repositories?: RepositoryStore;
  /** Smallest chunk a chunked upload may send (except its last), advertised as `OCI-Chunk-Min-Length`. @default 0 */
  chunkMinLength?: number;
  /** Largest manifest accepted, in bytes. @default 4 MiB */
  maxManifestBytes?: number;
  /** Largest blob accepted, in bytes. @default 52,000 MiB (ECR's layer quota) */
  maxBlobBytes?: number;
  /** How long an unfinished upload is kept before purgeStaleUploads discards it. @default 24 hours */
  uploadLifetimeMs?: number;
  /**
   * Keep the running hash of an upload in the metadata store (exportable state) instead of
   * this process's memory: for deployments where an upload's requests land on different
   * processes (Lambda). Otherwise a commit whose hash was lost re-reads the bytes. @default false
   */
  shareHashState?: boolean;
  /** Whether a tag may never move once set (ECR's tag immutability). @default () => false */
  isTagImmutable?: (repository: string, tag: string) => boolean | Promise<boolean>;
  /**
   * Whether a push to the repository is scanned (docs/scanning.md): its image manifests then get an
   * IN_PROGRESS scan record in the push's own transaction, which the deployment's scanner carries
   * out. @default never (no scanner)
   */
  scansPushes?: (repository: string) => Promise<boolean>;
  /** Most referrers in one answer; more follow a `Link`. @default 1000 */
  referrersPageSize?: number;
  /**
   * Most bytes of JSON in one referrers answer (at least one descriptor is always listed); more
   * follow a `Link`. Lower it where a transport cannot carry 4 MiB. @default 4 MiB
   */
  referrersPageBytes?: number;
  log?: Logger;
  /**
   * Consulted when a push (upload start, mount, manifest) names a repository that does not
   * exist. @default () => true (create on push, with the defaults)
   */
  mayCreateOnPush?: (repository: string) => CreateOnPushDecision | Promise<CreateOnPushDecision>;
  /**
   * Record manifest pulls (GET) for `lastRecordedPullTime`, at most once per image per
   * PULL_RECORD_INTERVAL_MS. @default true
   */
  recordPulls?: boolean;
  /** The clock (tests). @default Date.now */
  now?: () => number;
  /**
   * Whether the caller may read a repository, consulted before a cross-repository mount.
   * Until identities exist, everyone may read everything. @default () => true
   */
  canPull?: (repository: string) => boolean | Promise<boolean>;
}

/**
 * The facade over the registry's parts (core/registry/: uploads, blobs, manifests, listings),
 * which hold the rules; its methods are what the router, the ECR control plane and tests call.
 */
export class Registry {
  readonly chunkMinLength: number;
  readonly maxManifestBytes: number;
  readonly referrersPageSize: number;
  readonly referrersPageBytes: number;
  readonly maxBlobBytes: number;
  readonly uploadLifetimeMs: number;
  /** "The repository must exist", creation and settings: the rules the ECR control plane shares. */
  readonly repositories: Repositories;
  private readonly metadata: MetadataStore;
  private readonly mayCreateOnPush?: (repository: string) => CreateOnPushDecision | Promise<CreateOnPushDecision>;
  private readonly blobParts: RegistryBlobs;
  private readonly uploads: RegistryUploads;
  private readonly manifests: RegistryManifests;
  private readonly listings: RegistryListings;

  constructor(options: RegistryOptions) {
    this.metadata = options.metadata;
    this.repositories = new Repositories(options.repositories ?? options.metadata);
    this.chunkMinLength = options.chunkMinLength ?? 0;
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.referrersPageSize = options.referrersPageSize ?? MAX_PAGE_SIZE;
    this.referrersPageBytes = options.referrersPageBytes ?? DEFAULT_REFERRERS_PAGE_BYTES;
    this.maxBlobBytes = options.maxBlobBytes ?? 52_000 * 1024 * 1024;
    this.uploadLifetimeMs = options.uploadLifetimeMs ?? 24 * 60 * 60 * 1000;
    this.mayCreateOnPush = options.mayCreateOnPush;
    const log = options.log ?? silentLogger;
    const ensurePushTarget = (repository: string) => this.ensurePushTarget(repository);
    this.blobParts = new RegistryBlobs({ blobs: options.blobs, metadata: options.metadata, log });
    this.uploads = new RegistryUploads({
      blobs: options.blobs,
      metadata: options.metadata,
      ensurePushTarget,
      maxBlobBytes: this.maxBlobBytes,
      uploadLifetimeMs: this.uploadLifetimeMs,
      shareHashState: options.shareHashState ?? false,
      canPull: options.canPull ?? (() => true),
    });
    this.manifests = new RegistryManifests({
      metadata: options.metadata,
      repositories: this.repositories,
      largeBodies: new LargeManifestBodies(options.blobs, log),
      ensurePushTarget,
      maxManifestBytes: this.maxManifestBytes,
      isTagImmutable: options.isTagImmutable ?? (() => false),
      scansPushes: options.scansPushes ?? (async () => false),
      recordPulls: options.recordPulls ?? true,
      now: options.now ?? Date.now,
      log,
    });
    this.listings = new RegistryListings({
      metadata: options.metadata,
      repositories: this.repositories,
      referrersPageSize: this.referrersPageSize,
      referrersPageBytes: this.referrersPageBytes,
    });
  }

  /**
   * Makes sure a push may write to `repository`: it exists, or `mayCreateOnPush` lets the push
   * create it (with a template's settings, created here before anything is linked).
   */
  async ensurePushTarget(repository: string): Promise<void> {
    if (!this.mayCreateOnPush) return;
    if (await this.repositories.exists(repository)) return;
    const decision = await this.mayCreateOnPush(repository);
    if (decision === false) {
      throw unknownRepository(
        repository,
        `repository ${repository} does not exist and this registry does not create repositories on push: create it first (CreateRepository) or add a CREATE_ON_PUSH repository creation template matching it`,
      );
    }
    if (decision === true) return;
    // null: a racing push created it first, which is as good.
    const created = await this.repositories.createIfAbsent(repository, decision.settings);
    if (created && decision.policy !== undefined) await this.metadata.setRepositoryPolicy(repository, decision.policy);
  }

  // ---- blobs (registry/blobs.ts) ------------------------------------------------------

  async statBlob(repository: string, digestText: string): Promise<BlobInfo> {
    return this.blobParts.statBlob(repository, digestText);
  }

  async readBlob(repository: string, digestText: string, rangeHeader?: string): Promise<BlobContent> {
    return this.blobParts.readBlob(repository, digestText, rangeHeader);
  }

  /** The blob store's direct URL for a linked blob (a presigned S3 URL), or null when the registry serves it itself. */
  async blobDownloadUrl(repository: string, digestText: string): Promise<BlobInfo & { url: string | null }> {
    return this.blobParts.blobDownloadUrl(repository, digestText);
  }

  async deleteBlob(repository: string, digestText: string): Promise<void> {
    return this.blobParts.deleteBlob(repository, digestText);
  }

  // ---- uploads (registry/uploads.ts) --------------------------------------------------

  async startUpload(repository: string): Promise<UploadState> {
    return this.uploads.startUpload(repository);
  }

  /**
   * Links a blob that already exists in `from` (or, without `from`, anywhere the caller
   * may read) into `repository` without copying bytes. Answers undefined when it cannot,
   * and the caller falls back to a normal upload.
   */
  async mountBlob(repository: string, digestText: string, from?: string): Promise<BlobInfo | undefined> {
    return this.uploads.mountBlob(repository, digestText, from);
  }

  /** Renews the repository's link to a blob it holds (a replication about to use it); false when it holds none. */
  async renewBlobLink(repository: string, digestText: string): Promise<boolean> {
    return this.uploads.renewBlobLink(repository, digestText);
  }

  /** The single-request upload: `POST ?digest=` with the whole blob. */
  async uploadWhole(repository: string, digestText: string, request: ChunkRequest): Promise<BlobInfo> {
    return this.uploads.uploadWhole(repository, digestText, request);
  }

  async getUpload(repository: string, id: string): Promise<UploadState> {
    return this.uploads.getUpload(repository, id);
  }

  async appendUpload(repository: string, id: string, request: ChunkRequest): Promise<UploadState> {
    return this.uploads.appendUpload(repository, id, request);
  }

  async completeUpload(repository: string, id: string, digestText: string | undefined, request: ChunkRequest): Promise<BlobInfo> {
    return this.uploads.completeUpload(repository, id, digestText, request);
  }

  async cancelUpload(repository: string, id: string): Promise<void> {
    return this.uploads.cancelUpload(repository, id);
  }

  /**
   * Discards uploads started more than `uploadLifetimeMs` ago: abandoned pushes would
   * otherwise hold their bytes forever (the spec asks registries to time them out). One that
   * a request is using is left for the next round: waiting on it (a body that may stall until
   * the server cuts it) would hold up the purge of every other.
   */
  async purgeStaleUploads(now = Date.now()): Promise<number> {
    return this.uploads.purgeStaleUploads(now);
  }

  // ---- manifests (registry/manifests.ts) ----------------------------------------------

  /**
   * `replicatedFrom`: the put stores a replica (BerthReplicateImage), recorded as such in the outbox.
   * `noScan`: not scanned whatever the repository says (what the scanner itself stores).
   */
  async putManifest(
    repository: string,
    reference: string,
    body: Uint8Array,
    contentType: string | undefined,
    options: Pick<PutManifestOptions, 'replicatedFrom'> & { noScan?: boolean } = {},
  ): Promise<{ digest: string; subject?: string }> {
    return this.manifests.putManifest(repository, reference, body, contentType, options);
  }

  /** Manifest metadata without the body, for HEAD. */
  async statManifest(repository: string, reference: string): Promise<StoredManifest> {
    return this.manifests.statManifest(repository, reference);
  }

  /** Drops the pull path's cached pull time update exclusions (the control plane changed them). */
  forgetPullTimeExclusions(): void {
    this.manifests.forgetPullTimeExclusions();
  }

  /** A manifest for a pull; `pulledBy` is the caller's principal ARN (pull time update exclusions). */
  async getManifest(repository: string, reference: string, options: { pulledBy?: string } = {}): Promise<ManifestContent> {
    return this.manifests.getManifest(repository, reference, options);
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    return this.manifests.deleteManifest(repository, reference);
  }

  /** The body of a committed manifest that was too large to keep inline (ECR's BatchGetImage reads it too). */
  async readManifestBody(digest: string): Promise<Uint8Array> {
    return this.manifests.readManifestBody(digest);
  }

  // ---- listings (registry/listings.ts) ------------------------------------------------

  async listTags(repository: string, n: string | undefined, last: string | undefined): Promise<ListPage> {
    return this.listings.listTags(repository, n, last);
  }

  async listRepositories(n: string | undefined, last: string | undefined): Promise<ListPage> {
    return this.listings.listRepositories(n, last);
  }

  /**
   * Manifests whose `subject` is `digestText`, as an image index's descriptors, one page at a
   * time (ordered by referrer digest; `last` is the previous page's last digest). A page ends at
   * `referrersPageSize` descriptors or `referrersPageBytes` of JSON, whichever comes first.
   */
  async listReferrers(repository: string, digestText: string, options: { artifactType?: string; last?: string } = {}): Promise<ReferrersPage> {
    return this.listings.listReferrers(repository, digestText, options);
  }
}
