/**
 * The garbage collector, one for both deployments and for `berth gc` (the protocol and why it loses
 * nothing: docs/garbage-collection.md). Listings only nominate: every removal is decided by a
 * conditional write in the metadata store (unlinkBlob with `linkedBefore`, beginContentDeletion),
 * so it may run while the registry serves, be killed at any point, and run again.
 */
import type { BlobStore, LinkedBlob, MetadataStore } from '../storage/ports';
import type { Logger } from './log';
import { allItems } from './paging';

export type CollectorMetadata = Pick<
  MetadataStore,
  'listRepositories' | 'listManifests' | 'getManifest' | 'listBlobLinks' | 'unlinkBlob' | 'listContentRecords' | 'beginContentDeletion' | 'finishContentDeletion'
>;
export type CollectorBlobs = Pick<BlobStore, 'deleteContent' | 'storedContent' | 'discardStaleStaging'>;

/**
 * How long a deletion may stay begun before another collector or a writer finishes it: longer than
 * any collector run can last (the AWS collector function's timeout is shorter; Lambda ends an
 * invocation at its timeout), so nobody finishes a deletion whose collector is still at work.
 */
export const DELETION_LEASE_MS = 15 * 60 * 1000;

export interface CollectionOptions {
  /** Links and content younger than this stay. */
  graceMs: number;
  /** Only report what would go. @default false */
  dryRun?: boolean;
  /** @default Date.now */
  now?: () => number;
  /** Stop starting new work after this epoch ms (a function's timeout); the next run goes on. @default none */
  deadline?: number;
  /**
   * How long a begun deletion belongs to its collector. Local mode passes 0: its collections never
   * overlap (one process, under the data directory's lock, one run at a time), so a deletion a new
   * run finds begun was left by a run that ended. @default DELETION_LEASE_MS
   */
  leaseMs?: number;
  /** Reads a manifest body kept outside the metadata store (large bodies on AWS). @default bodies must be inline */
  readBody?: (repository: string, digest: string) => Promise<Uint8Array | undefined>;
  log?: Logger;
}

export interface CollectionReport {
  repositories: number;
  manifests: number;
  /** Links removed (or, in a dry run, to be removed). */
  unlinked: Array<{ repository: string; digest: string }>;
  /** Content deleted (or to be deleted), with its size when known. */
  deleted: Array<{ digest: string; size: number }>;
  bytesFreed: number;
  /** Unused links and unlinked content kept because they are younger than the grace period (distinct digests). */
  keptYoung: number;
  /** Staged copies and interrupted writes removed. */
  staging: number;
  /** False when the run stopped at its deadline. */
  complete: boolean;
}

const PAGE = 500;
/**
 * Removals in flight at once. Each is its own conditional write; side by side they overlap their
 * round trips (DynamoDB, S3) and LMDB commits them together (lmdb-js batches concurrent write
 * transactions into one sync).
 */
const PARALLEL = 32;

export async function collectGarbage(metadata: CollectorMetadata, blobs: CollectorBlobs, options: CollectionOptions): Promise<CollectionReport> {
  const now = options.now ?? Date.now;
  const cutoff = now() - options.graceMs;
  const cutoffIso = new Date(cutoff).toISOString();
  const outOfTime = () => options.deadline !== undefined && now() >= options.deadline;
  const report: CollectionReport = { repositories: 0, manifests: 0, unlinked: [], deleted: [], bytesFreed: 0, keptYoung: 0, staging: 0, complete: true };
  const young = new Set<string>();
  /** Links a dry run would remove, by digest: its content may go with them. */
  const plannedUnlinks = new Map<string, number>();
  const linkSizes = new Map<string, number>();
  const unlinks: string[] = [];
  const deletions: Array<{ digest: string; size: number }> = [];

  // 1. Links no manifest of their repository uses.
  for await (const repository of allItems((last) => metadata.listRepositories({ last, limit: PAGE }), (name) => name)) {
    if (outOfTime()) return { ...report, complete: false };
    report.repositories++;
    const used = new Set<string>();
    const manifests: string[] = [];
    for await (const image of allItems((last) => metadata.listManifests(repository, { last, limit: PAGE }), (record) => record.digest)) {
      report.manifests++;
      manifests.push(image.digest);
      for (const digest of image.blobs) used.add(digest);
    }
    const unused: LinkedBlob[] = [];
    for await (const link of allItems((last) => metadata.listBlobLinks(repository, { last, limit: PAGE }), (l) => l.digest)) {
      linkSizes.set(link.digest, link.size);
      if (!used.has(link.digest)) unused.push(link);
    }
    // The record leaves out layers that need not be pushed (non-distributable, with urls); one pushed anyway is
    // used all the same. Bodies are read only when some link is unused by the records: most runs read none.
    if (unused.length > 0) {
      for (const digest of manifests) for (const named of await referencedByBody(metadata, repository, digest, options.readBody)) used.add(named);
    }
    for (const link of unused) {
      if (used.has(link.digest)) continue;
      if (Date.parse(link.linkedAt) >= cutoff) {
        young.add(link.digest);
        continue;
      }
      if (options.dryRun) {
        report.unlinked.push({ repository, digest: link.digest });
        plannedUnlinks.set(link.digest, (plannedUnlinks.get(link.digest) ?? 0) + 1);
        continue;
      }
      unlinks.push(link.digest);
      if (unlinks.length >= PARALLEL) await unlinkAll(repository);
    }
    await unlinkAll(repository);
  }

  // 2. Content no repository links, untouched for the grace period (and deletions a stopped collector left).
  // A deletion begun exactly now by a run that ended counts as stale with a lease of 0.
  const staleIso = new Date(now() - (options.leaseMs ?? DELETION_LEASE_MS) + 1).toISOString();
  const recorded = new Set<string>();
  for await (const record of allItems((last) => metadata.listContentRecords({ last, limit: PAGE }), (r) => r.digest)) {
    recorded.add(record.digest);
    const links = record.links - (plannedUnlinks.get(record.digest) ?? 0);
    const stale = record.deletingSince !== undefined && record.deletingSince < staleIso;
    if (!stale && (record.deletingSince !== undefined || links > 0)) continue;
    if (!stale && Date.parse(record.touchedAt) >= cutoff) {
      young.add(record.digest);
      continue;
    }
    if (outOfTime()) return finish(report, young, false);
    deletions.push({ digest: record.digest, size: record.size ?? linkSizes.get(record.digest) ?? 0 });
    if (deletions.length >= PARALLEL) await deleteAll();
  }
  await deleteAll();

  // 3. Content without a record: stored before records were kept, or by a write that crashed before it claimed.
  for await (const stored of blobs.storedContent()) {
    if (recorded.has(stored.digest)) continue;
    if (stored.modifiedAt >= cutoff) {
      young.add(stored.digest);
      continue;
    }
    if (outOfTime()) return finish(report, young, false);
    deletions.push({ digest: stored.digest, size: stored.size });
    if (deletions.length >= PARALLEL) await deleteAll();
  }
  await deleteAll();

  // 4. Staged copies of pushes that stopped before their commit.
  if (!options.dryRun) report.staging = await blobs.discardStaleStaging(cutoff);
  return finish(report, young, true);

  /** Unlinks the nominated links of `repository`, each re-checked in the store's own transaction. */
  async function unlinkAll(repository: string): Promise<void> {
    const batch = unlinks.splice(0);
    await settled(
      batch.map(async (digest) => {
        // A manifest pushed, or the link renewed, since the listing keeps it.
        const result = await metadata.unlinkBlob(repository, digest, { linkedBefore: cutoffIso });
        if (result.ok) report.unlinked.push({ repository, digest });
        else if (result.reason === 'recent') young.add(digest);
      }),
    );
  }

  async function deleteAll(): Promise<void> {
    const batch = deletions.splice(0);
    await settled(batch.map(({ digest, size }) => deleteContent(digest, size)));
  }

  async function deleteContent(digest: string, size: number): Promise<void> {
    if (!options.dryRun) {
      // The conditional write decides; a claim or a link since the listing makes it refuse.
      if (!(await metadata.beginContentDeletion(digest, cutoffIso, staleIso))) return;
      await blobs.deleteContent(digest);
      await metadata.finishContentDeletion(digest);
    }
    report.deleted.push({ digest, size });
    report.bytesFreed += size;
  }
}

/** Waits for all, then fails with the first failure: nothing keeps running after the collector returned. */
async function settled(work: Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(work);
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

function finish(report: CollectionReport, young: Set<string>, complete: boolean): CollectionReport {
  for (const { digest } of report.deleted) young.delete(digest);
  return { ...report, keptYoung: young.size, complete };
}

/** Every descriptor digest a manifest's body names: config, layers (all of them) and an artifact's blobs. */
async function referencedByBody(
  metadata: CollectorMetadata,
  repository: string,
  digest: string,
  readBody: CollectionOptions['readBody'],
): Promise<string[]> {
  const body = (await metadata.getManifest(repository, digest))?.body ?? (await readBody?.(repository, digest));
  if (body === undefined) return [];
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
  } catch {
    return [];
  }
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  return [json.config, ...list(json.layers), ...list(json.blobs)]
    .map((d) => (d && typeof d === 'object' ? (d as { digest?: unknown }).digest : undefined))
    .filter((d): d is string => typeof d === 'string');
}
