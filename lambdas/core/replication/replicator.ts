/**
 * What every replicator does with a job, whatever carries its queue (local mode: files in the data
 * directory; AWS: SQS): which jobs a change asks for, the status each step leaves, carrying a job out
 * against its destination, and giving up on one (docs/replication.md). The queue, its retries and the
 * classification of failures are the caller's; the rules of the job are written once, here.
 *
 * Statuses are stamped with when their state began (the queueing, the attempt's start) and the store
 * keeps the latest, so an attempt that ends after a new push of the same digest was queued leaves that
 * push's IN_PROGRESS in place.
 */
import { createHash } from 'node:crypto';
import type { ImageChange } from '../../contracts/events';
import type { ImageActionEvent } from '../events';
import type { Logger } from '../log';
import type { ReplicationConfiguration, ReplicationDestination, ReplicationStatus } from '../model';
import type { ChangeOutbox, RegistrySettingsStore, ReplicationStatusStore } from '../../storage/ports';
import { replicatePush, type ReplicationSource, type ReplicationTarget } from './replicate-push';
import { replicationJobsOf, type ReplicatedChange, type ReplicationJob } from './replication-jobs';

export interface ReplicatorOptions {
  store: Pick<RegistrySettingsStore, 'getRegistrySettings'> & Pick<ReplicationStatusStore, 'setReplicationStatus'> & Pick<ChangeOutbox, 'recordChanges'>;
  source: ReplicationSource;
  /** The destination's endpoint, or undefined when the deployment no longer lists it. */
  targetOf: (destination: ReplicationDestination) => ReplicationTarget | undefined;
  /** This registry's region, which the destination's events name as the source region. */
  region: string;
  log: Logger;
  now?: () => number;
}

export interface Replicator {
  /** The jobs an image event asks for under the registry's current rules. */
  jobsOf(event: ImageActionEvent): Promise<ReplicationJob[]>;
  /** Records a push job's IN_PROGRESS before the job is queued; returns its time, which the job keeps. */
  queued(job: ReplicationJob): Promise<string>;
  /** When an attempt of a job queued at `statusAt` starts: always after its IN_PROGRESS. */
  attemptTime(statusAt: string | undefined): string;
  /** Carries the job out (throws what the destination or the network threw); a push ends COMPLETE. */
  carryOut(job: ReplicationJob, attemptAt: string): Promise<void>;
  /**
   * Gives a job up: FAILED with `failureCode`, and for a push the source's `ECR Replication Action`
   * with result FAILED, whose event id derives from `jobId` (a crash before the job leaves its queue
   * records it again under the same id, which consumers deduplicate on).
   */
  gaveUp(job: ReplicationJob, failureCode: string, jobId: string, attemptAt: string): Promise<void>;
}

/** The parts of an image event's detail replication reads. */
export function replicatedChangeOf(event: ImageActionEvent): ReplicatedChange {
  // Any registry event's detail: only image actions carry `action-type` PUSH or DELETE, which replication reads.
  const detail = event.detail as unknown as Record<string, unknown>;
  const tag = detail['image-tag'];
  return {
    action: String(detail['action-type'] ?? ''),
    repository: String(detail['repository-name']),
    digest: String(detail['image-digest']),
    ...(typeof tag === 'string' ? { tag } : {}),
    ...(detail['berth-replicated-from'] !== undefined ? { replicatedFrom: detail['berth-replicated-from'] } : {}),
  };
}

/** A UUID-shaped id derived from `seed`. */
function derivedEventId(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function createReplicator(options: ReplicatorOptions): Replicator {
  const now = options.now ?? Date.now;

  /** Statuses are kept for pushes only (ECR's are per image); a refused write is a later state already stored. */
  async function recordStatus(job: ReplicationJob, status: ReplicationStatus): Promise<void> {
    if (job.kind !== 'push') return;
    await options.store.setReplicationStatus(job.repository, job.digest, job.destination, status);
  }

  return {
    async jobsOf(event) {
      const configuration: ReplicationConfiguration = (await options.store.getRegistrySettings()).replicationConfiguration ?? { rules: [] };
      return replicationJobsOf(replicatedChangeOf(event), configuration);
    },

    async queued(job) {
      const statusAt = new Date(now()).toISOString();
      await recordStatus(job, { status: 'IN_PROGRESS', updatedAt: statusAt });
      return statusAt;
    },

    attemptTime(statusAt) {
      const queuedAt = statusAt !== undefined ? Date.parse(statusAt) : -Infinity;
      return new Date(Math.max(now(), queuedAt + 1)).toISOString();
    },

    async carryOut(job, attemptAt) {
      const target = options.targetOf(job.destination);
      if (!target) throw new Error(`the deployment lists no replication destination ${job.destination.region}/${job.destination.registryId}`);
      if (job.kind === 'delete') {
        await target.replicateDelete({ repository: job.repository, digest: job.digest, ...(job.tag !== undefined ? { tag: job.tag } : {}), sourceRegion: options.region });
        return;
      }
      const result = await replicatePush(options.source, target, { repository: job.repository, digest: job.digest, ...(job.tag !== undefined ? { tag: job.tag } : {}) }, options.region);
      // Gone at the source since its push: nothing was replicated and the image has no status to show.
      if (!result.ok) return;
      // A tag moved at the source since is no failure: that move's own job carries it.
      const untagged = !result.tagged && job.tag !== undefined && result.tagMoved !== true;
      if (untagged) {
        options.log.warn('replica left untagged', { repository: job.repository, digest: job.digest, tag: job.tag, destination: job.destination, reason: result.reason });
      }
      // The image is there, pullable by digest; the code says its tag is not (docs/replication.md, "DescribeImageReplicationStatus").
      await recordStatus(job, { status: 'COMPLETE', ...(untagged ? { failureCode: result.reason ?? 'IMAGE_TAG_ALREADY_EXISTS' } : {}), updatedAt: attemptAt });
    },

    async gaveUp(job, failureCode, jobId, attemptAt) {
      await recordStatus(job, { status: 'FAILED', failureCode, updatedAt: attemptAt });
      // Deletions have no status, and so no FAILED event either.
      if (job.kind !== 'push') return;
      const change: ImageChange = {
        action: 'REPLICATE',
        repository: job.repository,
        digest: job.digest,
        ...(job.tag !== undefined ? { tag: job.tag } : {}),
        eventId: derivedEventId(`replication-failed\u0000${jobId}`),
        time: new Date(now()).toISOString(),
        result: 'FAILED',
        replicatedTo: { account: job.destination.registryId, region: job.destination.region },
      };
      await options.store.recordChanges([change]);
    },
  };
}
