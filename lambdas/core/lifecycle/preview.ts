/**
 * The offline preview (`berth lifecycle preview`): a policy and a repository's images as the AWS CLI
 * prints them (`aws ecr get-lifecycle-policy`, `aws ecr describe-images`) in, what
 * `aws ecr get-lifecycle-policy-preview` would print out. The evaluator is the one the registry runs
 * (evaluate.ts). DescribeImages carries no index links or subjects, so the images are independent here
 * (docs/lifecycle.md, "Offline preview").
 */
import { evaluateLifecyclePolicy } from './evaluate';
import { parseLifecyclePolicy } from './policy';
import type { LifecycleImage } from './policy-types';

/** An image as `aws ecr describe-images` prints it; times as the CLI prints them (ISO 8601) or epoch seconds. */
interface DescribedImage {
  imageDigest: string;
  imageTags?: string[];
  imagePushedAt: string | number;
  lastRecordedPullTime?: string | number;
  imageStatus?: string;
  lastArchivedAt?: string | number;
}

export class PreviewInputError extends Error {}

export interface PreviewOutput {
  lifecyclePolicyText: string;
  status: 'COMPLETE';
  previewResults: Array<{
    imageTags: string[];
    imageDigest: string;
    imagePushedAt: string | number;
    action: { type: 'EXPIRE' | 'TRANSITION'; targetStorageClass?: 'ARCHIVE' };
    appliedRulePriority: number;
    storageClass: 'STANDARD' | 'ARCHIVE';
  }>;
  summary: { expiringImageTotalCount: number; transitioningImageTotalCounts: Array<{ targetStorageClass: 'ARCHIVE'; imageTotalCount: number }> };
}

/** The policy text of a policy file: the document itself, or `lifecyclePolicyText` of get-lifecycle-policy's output. */
export function policyTextOf(file: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(file);
  } catch {
    return file; // not JSON: parseLifecyclePolicy refuses it with ECR's message
  }
  const text = (parsed as { lifecyclePolicyText?: unknown } | null)?.lifecyclePolicyText;
  return typeof text === 'string' ? text : file.trim();
}

function instant(value: unknown, what: string): string {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000).toISOString();
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  throw new PreviewInputError(`${what} is not a time (ISO 8601 as the AWS CLI prints it, or epoch seconds): ${JSON.stringify(value)}`);
}

export function imagesOf(file: string): Array<{ image: LifecycleImage; pushedAsGiven: string | number }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(file);
  } catch (err) {
    throw new PreviewInputError(`the images file is not JSON: ${(err as Error).message}`);
  }
  const details = (parsed as { imageDetails?: unknown } | null)?.imageDetails;
  if (!Array.isArray(details)) throw new PreviewInputError('the images file must be what `aws ecr describe-images` prints: {"imageDetails": [...]}');
  return (details as DescribedImage[]).map((d, i) => {
    if (typeof d?.imageDigest !== 'string') throw new PreviewInputError(`imageDetails[${i}] has no imageDigest`);
    const archived = d.imageStatus === 'ARCHIVED';
    return {
      pushedAsGiven: d.imagePushedAt,
      image: {
        digest: d.imageDigest,
        tags: Array.isArray(d.imageTags) ? d.imageTags : [],
        pushedAt: instant(d.imagePushedAt, `imageDetails[${i}].imagePushedAt`),
        ...(d.lastRecordedPullTime !== undefined ? { lastPulledAt: instant(d.lastRecordedPullTime, `imageDetails[${i}].lastRecordedPullTime`) } : {}),
        storageClass: archived ? 'archive' : 'standard',
        ...(d.lastArchivedAt !== undefined ? { lastArchivedAt: instant(d.lastArchivedAt, `imageDetails[${i}].lastArchivedAt`) } : {}),
      },
    };
  });
}

/** Throws LifecyclePolicyValidationError (the policy) or PreviewInputError (the images). */
export function previewLifecyclePolicy(policyFile: string, imagesFile: string, now: Date): PreviewOutput {
  const text = policyTextOf(policyFile);
  const policy = parseLifecyclePolicy(text);
  const images = imagesOf(imagesFile);
  const given = new Map(images.map(({ image, pushedAsGiven }) => [image.digest, pushedAsGiven]));
  const decisions = evaluateLifecyclePolicy(
    policy,
    images.map(({ image }) => image),
    now,
  );
  const transitioning = decisions.filter((d) => d.action.type === 'TRANSITION').length;
  return {
    lifecyclePolicyText: text,
    status: 'COMPLETE',
    previewResults: decisions.map((d) => ({
      imageTags: d.tags,
      imageDigest: d.digest,
      imagePushedAt: given.get(d.digest) ?? d.pushedAt,
      action: d.action,
      appliedRulePriority: d.appliedRulePriority,
      storageClass: d.storageClass,
    })),
    summary: {
      expiringImageTotalCount: decisions.length - transitioning,
      transitioningImageTotalCounts: transitioning > 0 ? [{ targetStorageClass: 'ARCHIVE', imageTotalCount: transitioning }] : [],
    },
  };
}
