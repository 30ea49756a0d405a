/**
 * ECR's lifecycle policy document (user guide, "Lifecycle policy properties"; the 2025 grammar with
 * archive and pull age), as Berth reads it once validated (policy.ts), and what evaluating it
 * decides (evaluate.ts). docs/lifecycle.md is the reader's version.
 */

export type TagStatus = 'tagged' | 'untagged' | 'any';
export type StorageClass = 'standard' | 'archive';
export type CountType = 'imageCountMoreThan' | 'sinceImagePushed' | 'sinceImagePulled' | 'sinceImageTransitioned';
export type LifecycleActionType = 'expire' | 'transition';

export interface LifecycleRule {
  rulePriority: number;
  description?: string;
  selection: {
    tagStatus: TagStatus;
    /** Each entry must be a prefix of some tag of the image. */
    tagPrefixList?: string[];
    /** Each entry must match some tag of the image, whole, `*` matching any run of characters. */
    tagPatternList?: string[];
    /** @default 'standard' */
    storageClass: StorageClass;
    countType: CountType;
    /** Only with the `since...` count types: always 'days'. */
    countUnit?: 'days';
    countNumber: number;
  };
  action: { type: LifecycleActionType; targetStorageClass?: 'archive' };
}

export interface LifecyclePolicy {
  rules: LifecycleRule[];
}

/** An image as the evaluator sees it (a manifest of the repository, an index counting as one image). */
export interface LifecycleImage {
  digest: string;
  tags: string[];
  /** ISO 8601. */
  pushedAt: string;
  /** ISO 8601; absent when never pulled. */
  lastPulledAt?: string;
  /** @default 'standard' (ACTIVE) */
  storageClass?: StorageClass;
  /** ISO 8601: when it was archived, for sinceImageTransitioned and the 90-day minimum. */
  lastArchivedAt?: string;
  /** A manifest with a `subject` (a signature, an SBOM): never a candidate, goes with its subject. */
  subject?: string;
  /** Manifests this one references (an index's children). */
  children?: string[];
}

/** What a rule does to an image. */
export interface LifecycleDecision {
  digest: string;
  tags: string[];
  pushedAt: string;
  action: { type: 'EXPIRE' | 'TRANSITION'; targetStorageClass?: 'ARCHIVE' };
  appliedRulePriority: number;
  /** The image's storage class before the action, as ECR's preview names it. */
  storageClass: 'STANDARD' | 'ARCHIVE';
}
