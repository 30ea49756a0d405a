/**
 * The registry's domain types: repositories and their settings, manifests and images, referrers,
 * uploads, repository creation templates and the registry's own settings. The core's operations and
 * the storage ports (lambdas/storage/ports.ts) both speak these; nothing here knows how they are stored.
 */

/** Bytes as they arrive or leave: Node streams and web streams both satisfy this. */
export type ByteStream = AsyncIterable<Uint8Array>;

export interface RepositoryRecord {
  name: string;
  createdAt: string;
}

/** How tags may move in a repository (ECR's `imageTagMutability`). */
export type ImageTagMutability = 'MUTABLE' | 'IMMUTABLE' | 'MUTABLE_WITH_EXCLUSION' | 'IMMUTABLE_WITH_EXCLUSION';

/** A wildcard filter (`*` matches any run of characters) naming tags that are the exception to a repository's mode. */
export interface TagMutabilityExclusionFilter {
  filterType: 'WILDCARD';
  filter: string;
}

/** A resource tag (TagResource), as AWS spells its members. */
export interface ResourceTag {
  Key: string;
  Value: string;
}

/** What a repository reports about encryption; the blob store encrypts every blob with the deployment's own setting. */
export interface EncryptionConfiguration {
  encryptionType: 'AES256' | 'KMS';
  kmsKey?: string;
}

/**
 * A repository's settings, as ECR's CreateRepository takes them. Stored beside the repository
 * record (never inside it: pulls read the repository record and must not carry 50 tags with it).
 * A repository created by a push has no stored settings: the store answers DEFAULT_REPOSITORY_SETTINGS.
 */
export interface RepositorySettings {
  imageTagMutability: ImageTagMutability;
  /**
   * Wildcard filters (`*` matches any run of characters) naming the tags that are the exception to
   * the mode: mutable tags in an IMMUTABLE_WITH_EXCLUSION repository, immutable ones in a
   * MUTABLE_WITH_EXCLUSION one. Empty for the other modes.
   */
  imageTagMutabilityExclusionFilters: TagMutabilityExclusionFilter[];
  /** Stored and reported; scanning itself does not exist yet. */
  imageScanningConfiguration: { scanOnPush: boolean };
  /** What the repository reports; the blob store encrypts every blob with the deployment's own setting. */
  encryptionConfiguration: EncryptionConfiguration;
  /** Resource tags (TagResource), at most 50, in the order they were first set. */
  tags: ResourceTag[];
  /** The lifecycle policy (PutLifecyclePolicy), when the repository has one. */
  lifecyclePolicy?: StoredLifecyclePolicy;
  /** The last lifecycle policy preview started (StartLifecyclePolicyPreview). */
  lifecyclePreview?: LifecyclePreviewState;
}

/** A repository's lifecycle policy as stored: ECR's text, as given, validated when it was put. */
export interface StoredLifecyclePolicy {
  text: string;
  /** ISO 8601: when the policy was put. */
  updatedAt: string;
  /** ISO 8601: when the policy was last evaluated (ECR's `lastEvaluatedAt`). */
  lastEvaluatedAt?: string;
}

/**
 * A preview's state (docs/lifecycle.md, "Previews"). Its results are not stored: they are the
 * evaluation of `text` at `evaluatedAt` over the repository's images as they are when read.
 */
export interface LifecyclePreviewState {
  text: string;
  status: 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601: the instant the preview evaluates age rules at (its completion). */
  evaluatedAt?: string;
  /** Why it failed, when it did. */
  failure?: string;
}

/** Settings with the repository's creation time, as getRepositorySettings answers. */
export interface RepositorySettingsRecord extends RepositorySettings {
  createdAt: string;
}

export const DEFAULT_REPOSITORY_SETTINGS: RepositorySettings = Object.freeze({
  imageTagMutability: 'MUTABLE',
  imageTagMutabilityExclusionFilters: [],
  imageScanningConfiguration: { scanOnPush: false },
  encryptionConfiguration: { encryptionType: 'AES256' },
  tags: [],
}) as RepositorySettings;

/** A stored manifest, minus its body. */
export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** Blobs (config, layers) the manifest needs in its repository. */
  blobs: string[];
  /** Manifests (index children) the manifest needs in its repository. */
  children: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  pushedAt: string;
  /**
   * When the image was last pulled, as recorded by recordImagePull (ECR's `lastRecordedPullTime`):
   * at most once an hour, so it may lag by up to an hour. Kept beside the record (never copied onto
   * tags); a re-push of the same manifest keeps it.
   */
  lastPulledAt?: string;
  /**
   * ECR's storage class: `ARCHIVE` while the image is archived (listed, never pullable); absent
   * means STANDARD (ACTIVE). Set by ImageStorageClassStore; a re-push of the manifest restores it.
   */
  storageClass?: 'ARCHIVE';
  /** ISO 8601: when the image was last archived (ECR's `lastArchivedAt`). */
  lastArchivedAt?: string;
  /** ISO 8601: when the image was last restored from the archive (ECR's `lastActivatedAt`). */
  lastActivatedAt?: string;
}

/** ECR's two storage classes, as its API spells them. */
export type ImageStorageClass = 'STANDARD' | 'ARCHIVE';

export interface StoredManifest extends ManifestRecord {
  /**
   * The body, when the metadata store keeps it inline; otherwise it is in the blob store under `digest`
   * (or, until the push that committed it has promoted it, staged: BlobStore.readStagedContent).
   */
  body?: Uint8Array;
}

/** A manifest's record (no body) with the tags that name it now: one image, as ListImages and DescribeImages show it. */
export interface ImageRecord extends ManifestRecord {
  tags: string[];
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface UploadState {
  id: string;
  repository: string;
  /** Bytes received and durable so far. */
  offset: number;
  startedAt: string;
  /** Opaque, exportable hash state, for adapters whose requests land on different processes. */
  hashState?: string;
}

/** Who may be given a repository that does not exist yet: ECR's repository creation templates. */
export type RepositoryCreationTemplateUse = 'CREATE_ON_PUSH' | 'PULL_THROUGH_CACHE' | 'REPLICATION';

/**
 * A repository creation template (ECR's CreateRepositoryCreationTemplate): the settings a repository
 * created through it gets. `prefix` is `ROOT` (every repository) or a name prefix ending in `/`-free
 * text such as `team-a/`; the longest matching prefix wins.
 */
export interface RepositoryCreationTemplate {
  prefix: string;
  description?: string;
  appliedFor: RepositoryCreationTemplateUse[];
  imageTagMutability: ImageTagMutability;
  imageTagMutabilityExclusionFilters: TagMutabilityExclusionFilter[];
  encryptionConfiguration: EncryptionConfiguration;
  resourceTags: ResourceTag[];
  repositoryPolicy?: string;
  lifecyclePolicy?: string;
  customRoleArn?: string;
}

export interface RepositoryCreationTemplateRecord extends RepositoryCreationTemplate {
  createdAt: string;
  updatedAt: string;
}

/** Registry-wide settings. */
export interface RegistrySettings {
  /** Whether a push may create a repository that no CREATE_ON_PUSH template matches. */
  createOnPush: boolean;
  /** Principals whose pulls do not move `lastRecordedPullTime` (RegisterPullTimeUpdateExclusion), in the order registered. */
  pullTimeUpdateExclusions?: PullTimeUpdateExclusion[];
  /** ECR's replication configuration (PutReplicationConfiguration), as validated by core/replication/configuration.ts. Absent: no rules. */
  replicationConfiguration?: ReplicationConfiguration;
  /**
   * ECR's registry scanning configuration (PutRegistryScanningConfiguration), as validated by
   * core/scanning/policy.ts. Absent: none was put (BASIC, no rules: each repository's scanOnPush decides).
   */
  scanningConfiguration?: RegistryScanningConfiguration;
}

/** How often a repository's images are scanned (ECR's ScanFrequency; CONTINUOUS_SCAN is Berth's rematch on new vulnerability data). */
export type ScanFrequency = 'SCAN_ON_PUSH' | 'CONTINUOUS_SCAN' | 'MANUAL';

/** ECR's ScanningRepositoryFilter: `*` stands for any characters; without `*`, any name containing the filter. */
export interface ScanningRepositoryFilter {
  filter: string;
  filterType: 'WILDCARD';
}

export interface RegistryScanningRule {
  scanFrequency: ScanFrequency;
  repositoryFilters: ScanningRepositoryFilter[];
}

/** ECR's RegistryScanningConfiguration. Only BASIC (Berth's own analyzer): ENHANCED needs Amazon Inspector. */
export interface RegistryScanningConfiguration {
  scanType: 'BASIC';
  rules: RegistryScanningRule[];
}

/** ECR's ReplicationConfiguration: which repositories go where. */
export interface ReplicationConfiguration {
  rules: ReplicationRule[];
}

export interface ReplicationRule {
  destinations: ReplicationDestination[];
  /** Absent: every repository. Present: the repositories whose name starts with one of the filters. */
  repositoryFilters?: RepositoryFilter[];
  /** Whether deletions at the source are replicated too (newer than @aws-sdk/client-ecr 3.1169's model). Kept as given. */
  deleteReplication?: { enabled: boolean };
}

export interface ReplicationDestination {
  region: string;
  registryId: string;
}

/** Where an image's replication to one destination stands (ECR's ImageReplicationStatus `status`). */
export type ReplicationState = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';

/** A status as the replicator records it for one image and destination (docs/replication.md, "DescribeImageReplicationStatus"). */
export interface ReplicationStatus {
  status: ReplicationState;
  /** Why it failed (the destination's exception name, DESTINATION_UNREACHABLE, ...), or what a COMPLETE replica lacks (IMAGE_TAG_ALREADY_EXISTS). */
  failureCode?: string;
  /** ISO 8601: when the state it records began (a push queued, an attempt started). Writes never go back in time. */
  updatedAt: string;
}

/** A stored status, with the destination it is of. */
export interface ReplicationStatusRecord extends ReplicationStatus {
  destination: ReplicationDestination;
}

export interface RepositoryFilter {
  filter: string;
  filterType: 'PREFIX_MATCH';
}

export interface PullTimeUpdateExclusion {
  principalArn: string;
  /** ISO 8601. */
  createdAt: string;
}

export const DEFAULT_REGISTRY_SETTINGS: RegistrySettings = Object.freeze({ createOnPush: true });
