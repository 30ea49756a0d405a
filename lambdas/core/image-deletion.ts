/**
 * Deleting images, the one rule for both ways in. As ECR's BatchDeleteImage does: removing an
 * image's last tag deletes the image ("When you remove the last tag from an image, the image is
 * deleted from your repository"), and a deleted image takes its referrers (signatures, SBOMs,
 * attestations whose `subject` it was) with it. The OCI `DELETE` by tag stays tag-only, as the
 * distribution spec says (it does not come here), and its `DELETE` by digest keeps the referrers
 * (the spec's dangling subject): deleteImage with `referrers: 'keep'`.
 *
 * Every delete is conditional on the tags the store finds in the same transaction
 * (`deleteManifest`'s `onlyIfTags`), so an image a racing push tags meanwhile is never deleted.
 */
import type { ChangeInitiator, ReplicatedFrom } from '../contracts/events';
import type { ManifestStore, TagStore } from '../storage/ports';
import { eachReferrer } from './referrer-pages';

export type ImageDeletionStore = Pick<ManifestStore, 'deleteManifest' | 'listReferrers'> & Pick<TagStore, 'deleteTag'>;

export type ImageDeletion =
  /** `imageDeleted`: the image went too (it was the last tag, or it was deleted by digest). */
  | { ok: true; imageDeleted: boolean }
  | { ok: false; reason: 'unknown' }
  /** An index of the repository still references the image (`by`); nothing changed. */
  | { ok: false; reason: 'in-use'; by: string[] }
  /** Other tags than `onlyIfTags` name the image now (deleteImage with `onlyIfTags`); nothing changed. */
  | { ok: false; reason: 'tagged' };

/** Referrers of referrers (a signature of an SBOM) go too, this many levels down. */
const MAX_REFERRER_DEPTH = 8;
/**
 * Most referrers one request deletes: anyone who may push can give a subject thousands, and the
 * request must end within API Gateway's 29 s. The rest keep a dangling subject (the referrers API
 * allows it) until garbage collection sweeps referrers whose subject is gone.
 */
export const MAX_REFERRERS_DELETED_PER_REQUEST = 100;

/**
 * What marks the DELETEs a deletion records, on every write it makes (the image, its tags, its
 * referrers): `initiatedBy` for a lifecycle expiry, `replicatedFrom` for a source's deletion carried
 * out here (BerthReplicateDelete), which replicators then skip.
 */
export interface DeletionMarks {
  initiatedBy?: ChangeInitiator;
  replicatedFrom?: ReplicatedFrom;
}

/**
 * Removes `tag`, which named `digest` when the caller resolved it; the image goes with its last tag.
 * `replicatedFrom` marks the recorded DELETEs (a replicated delete).
 */
export async function deleteImageTag(
  store: ImageDeletionStore,
  repository: string,
  tag: string,
  digest: string,
  options: Pick<DeletionMarks, 'replicatedFrom'> = {},
): Promise<ImageDeletion> {
  const marks = marksOf(options);
  const whole = await store.deleteManifest(repository, digest, { onlyIfTags: [tag], ...marks });
  if (whole.ok) {
    await deleteReferrersOf(store, repository, digest, marks);
    return { ok: true, imageDeleted: true };
  }
  if (whole.reason === 'in-use') return { ok: false, reason: 'in-use', by: whole.by };
  if (whole.reason === 'unknown') return { ok: false, reason: 'unknown' };
  // Other tags name the image too: this tag only, and only while it still names this image (a push may have moved it).
  if (!(await store.deleteTag(repository, tag, { ifDigest: digest, ...marks }))) return { ok: false, reason: 'unknown' };
  // Those other tags may have gone meanwhile; then this was the last one after all.
  const rest = await store.deleteManifest(repository, digest, { onlyIfTags: [], ...marks });
  if (rest.ok) await deleteReferrersOf(store, repository, digest, marks);
  return { ok: true, imageDeleted: rest.ok };
}

/**
 * Deletes an image by digest with every tag naming it, and (unless `referrers: 'keep'`) its referrers.
 * With `onlyIfTags`, only while exactly those tags name it (`tagged` otherwise); `initiatedBy` and
 * `replicatedFrom` mark the recorded changes (DeletionMarks).
 */
export async function deleteImage(
  store: ImageDeletionStore,
  repository: string,
  digest: string,
  options: { referrers?: 'delete' | 'keep'; onlyIfTags?: string[] } & DeletionMarks = {},
): Promise<ImageDeletion> {
  const marks = marksOf(options);
  const result = await store.deleteManifest(repository, digest, {
    ...(options.onlyIfTags !== undefined ? { onlyIfTags: options.onlyIfTags } : {}),
    ...marks,
  });
  if (result.ok) {
    if (options.referrers !== 'keep') await deleteReferrersOf(store, repository, digest, marks);
    return { ok: true, imageDeleted: true };
  }
  if (result.reason === 'in-use') return { ok: false, reason: 'in-use', by: result.by };
  if (result.reason === 'tagged') return { ok: false, reason: 'tagged' };
  return { ok: false, reason: 'unknown' };
}

/**
 * Deletes the untagged referrers of a deleted image. A referrer that carries a tag of its own, or
 * that an index still references, was named by someone and stays. A crash part-way leaves
 * referrers whose subject is gone, which the referrers API allows (a dangling subject); so does
 * the per-request bound. They harm nothing; garbage collection is where they go.
 */
async function deleteReferrersOf(
  store: ImageDeletionStore,
  repository: string,
  subject: string,
  marks: DeletionMarks,
  budget = { left: MAX_REFERRERS_DELETED_PER_REQUEST },
  depth = 0,
): Promise<void> {
  if (depth >= MAX_REFERRER_DEPTH) return;
  for await (const referrer of eachReferrer(store, repository, subject)) {
    if (budget.left <= 0) return;
    const result = await store.deleteManifest(repository, referrer.digest, { onlyIfTags: [], ...marks });
    if (!result.ok) continue;
    budget.left--;
    await deleteReferrersOf(store, repository, referrer.digest, marks, budget, depth + 1);
  }
}

/** The marks given, without absent members: the options handed to the stores carry no `undefined` values, as everywhere else. */
function marksOf(options: DeletionMarks): DeletionMarks {
  return {
    ...(options.initiatedBy !== undefined ? { initiatedBy: options.initiatedBy } : {}),
    ...(options.replicatedFrom !== undefined ? { replicatedFrom: options.replicatedFrom } : {}),
  };
}
