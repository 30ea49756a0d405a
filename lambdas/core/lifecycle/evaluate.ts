/**
 * What a lifecycle policy does to one repository's images: ECR's evaluation rules plus Berth's
 * multi-arch and referrer safety. Pure: the caller lists the images and carries the decisions out.
 * docs/lifecycle.md explains every rule and every choice made where ECR's documentation is silent.
 */
import type { LifecycleDecision, LifecycleImage, LifecyclePolicy, LifecycleRule, StorageClass } from './policy-types';

const DAY_MS = 86_400_000;
/** ECR bills archived images for 90 days and its lifecycle never expires one archived more recently. */
export const ARCHIVE_MINIMUM_DAYS = 90;

type Decision = { type: 'EXPIRE' | 'TRANSITION'; priority: number };

export function evaluateLifecyclePolicy(policy: LifecyclePolicy, images: LifecycleImage[], now: Date): LifecycleDecision[] {
  const nowMs = now.getTime();
  const byDigest = new Map(images.map((image) => [image.digest, image]));
  const referrers = referrersOf(images);
  // An untagged manifest that an index references is part of that index, not an image of its own.
  const candidates = images.filter((image) => image.subject === undefined && !(image.tags.length === 0 && referrers.has(image.digest)));

  const decisions = new Map<string, Decision>();
  const rules = [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority);
  rules.forEach((rule, index) => {
    const higher = rules.slice(0, index);
    // Marking sees every selected image, even those a higher rule already acts on (ECR: "rules can
    // still identify them as if they haven't been expired"); only applying skips them.
    for (const image of marked(rule, candidates.filter((image) => selects(rule, image)), nowMs)) {
      if (decisions.has(image.digest)) continue;
      if (higher.some((h) => selects(h, image))) continue;
      if (rule.action.type === 'expire' && archivedTooRecently(image, nowMs)) continue;
      decisions.set(image.digest, { type: rule.action.type === 'expire' ? 'EXPIRE' : 'TRANSITION', priority: rule.rulePriority });
    }
  });

  keepWhatKeptIndexesReference(images, decisions, byDigest);
  cascadeToChildren(images, decisions, byDigest, referrers, nowMs);

  return [...decisions.entries()]
    .map(([digest, decision]) => toOutput(byDigest.get(digest)!, decision))
    .sort((a, b) => a.appliedRulePriority - b.appliedRulePriority || olderFirst(a, b));
}

/** Whether the image has the rule's tag status, tag lists and storage class. */
export function selects(rule: LifecycleRule, image: LifecycleImage): boolean {
  const { tagStatus, tagPrefixList, tagPatternList } = rule.selection;
  if (storageClassOf(image) !== (rule.selection.storageClass ?? 'standard')) return false;
  if (tagStatus === 'untagged') return image.tags.length === 0;
  if (tagStatus === 'any') return true;
  if (image.tags.length === 0) return false;
  // One tag may satisfy several entries: each entry only needs "some tag of the image".
  const prefixesOk = (tagPrefixList ?? []).every((prefix) => image.tags.some((tag) => tag.startsWith(prefix)));
  const patternsOk = (tagPatternList ?? []).every((pattern) => {
    const re = patternRegExp(pattern);
    return image.tags.some((tag) => re.test(tag));
  });
  return prefixesOk && patternsOk;
}

/** `*` matches any run of characters (also none); everything else literally; the whole tag; case-sensitive. */
export function patternRegExp(pattern: string): RegExp {
  const cached = patternCache.get(pattern);
  if (cached !== undefined) return cached;
  const body = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  const re = new RegExp(`^${body}$`, 's');
  patternCache.set(pattern, re);
  return re;
}
const patternCache = new Map<string, RegExp>();

function marked(rule: LifecycleRule, selected: LifecycleImage[], nowMs: number): LifecycleImage[] {
  const { countType, countNumber } = rule.selection;
  if (countType === 'imageCountMoreThan') {
    return [...selected].sort((a, b) => -olderFirst(a, b)).slice(countNumber);
  }
  const limitMs = countNumber * DAY_MS;
  return selected.filter((image) => {
    const since = referenceTime(countType, image);
    // "Older than N days": an image exactly N days old is not yet acted on.
    return since !== undefined && nowMs - since > limitMs;
  });
}

function referenceTime(countType: LifecycleRule['selection']['countType'], image: LifecycleImage): number | undefined {
  switch (countType) {
    case 'sinceImagePushed':
      return Date.parse(image.pushedAt);
    case 'sinceImagePulled':
      // Never pulled: its age counts from the push, so an image nobody ever pulled still ages out.
      return Date.parse(image.lastPulledAt ?? image.pushedAt);
    case 'sinceImageTransitioned':
      return image.lastArchivedAt === undefined ? undefined : Date.parse(image.lastArchivedAt);
    default:
      return undefined;
  }
}

function archivedTooRecently(image: LifecycleImage, nowMs: number): boolean {
  if (storageClassOf(image) !== 'archive') return false;
  // Without an archive time the 90 days cannot be shown to have passed.
  if (image.lastArchivedAt === undefined) return true;
  return nowMs - Date.parse(image.lastArchivedAt) < ARCHIVE_MINIMUM_DAYS * DAY_MS;
}

/**
 * A manifest an index still references must stay: no expiry while any referencing manifest is kept,
 * no archiving while any referencing manifest stays pullable. Dropping a decision keeps one more
 * manifest, which may protect its own children (nested indexes): repeat until nothing changes.
 */
function keepWhatKeptIndexesReference(images: LifecycleImage[], decisions: Map<string, Decision>, byDigest: Map<string, LifecycleImage>): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (const parent of images) {
      if (!parent.children?.length) continue;
      const parentDecision = decisions.get(parent.digest);
      if (parentDecision?.type === 'EXPIRE') continue;
      const parentStaysStandard = parentDecision === undefined && storageClassOf(parent) === 'standard';
      for (const child of parent.children) {
        const decision = decisions.get(child);
        if (decision === undefined || !byDigest.has(child)) continue;
        if (decision.type === 'EXPIRE' || parentStaysStandard) {
          decisions.delete(child);
          changed = true;
        }
      }
    }
  }
}

/**
 * An index's untagged children go with it: expired when it expires and nothing kept references them,
 * archived when it is archived and nothing pullable references them. A tagged child is an image of
 * its own and only its own rule acts on it.
 */
function cascadeToChildren(
  images: LifecycleImage[],
  decisions: Map<string, Decision>,
  byDigest: Map<string, LifecycleImage>,
  referrers: Map<string, LifecycleImage[]>,
  nowMs: number,
): void {
  const work = images.filter((image) => image.children?.length && decisions.has(image.digest));
  while (work.length > 0) {
    const parent = work.pop()!;
    const decision = decisions.get(parent.digest)!;
    for (const childDigest of parent.children ?? []) {
      const child = byDigest.get(childDigest);
      if (child === undefined || child.subject !== undefined || child.tags.length > 0 || decisions.has(childDigest)) continue;
      const others = (referrers.get(childDigest) ?? []).filter((other) => other.digest !== parent.digest);
      const othersRelease =
        decision.type === 'EXPIRE'
          ? others.every((other) => decisions.get(other.digest)?.type === 'EXPIRE')
          : others.every((other) => decisions.has(other.digest) || storageClassOf(other) === 'archive');
      if (!othersRelease) continue;
      if (decision.type === 'EXPIRE' && archivedTooRecently(child, nowMs)) continue;
      if (decision.type === 'TRANSITION' && storageClassOf(child) === 'archive') continue;
      decisions.set(childDigest, { ...decision });
      if (child.children?.length) work.push(child);
    }
  }
}

function referrersOf(images: LifecycleImage[]): Map<string, LifecycleImage[]> {
  const referrers = new Map<string, LifecycleImage[]>();
  for (const image of images) {
    for (const child of new Set(image.children ?? [])) {
      if (child === image.digest) continue;
      const list = referrers.get(child) ?? [];
      list.push(image);
      referrers.set(child, list);
    }
  }
  return referrers;
}

/** Older first; equal push times: the smaller digest counts as the older. */
function olderFirst(a: { pushedAt: string; digest: string }, b: { pushedAt: string; digest: string }): number {
  const byTime = Date.parse(a.pushedAt) - Date.parse(b.pushedAt);
  if (byTime !== 0) return byTime;
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

function storageClassOf(image: LifecycleImage): StorageClass {
  return image.storageClass ?? 'standard';
}

function toOutput(image: LifecycleImage, decision: Decision): LifecycleDecision {
  return {
    digest: image.digest,
    tags: [...image.tags],
    pushedAt: image.pushedAt,
    action: decision.type === 'EXPIRE' ? { type: 'EXPIRE' } : { type: 'TRANSITION', targetStorageClass: 'ARCHIVE' },
    appliedRulePriority: decision.priority,
    storageClass: storageClassOf(image) === 'archive' ? 'ARCHIVE' : 'STANDARD',
  };
}
