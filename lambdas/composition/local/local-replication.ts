/**
 * Local mode's replication (docs/replication.md, "Running it locally"): a sink of the image events
 * that queues the jobs each change asks for (core/replication/replication-jobs.ts) in the data
 * directory, and a job on the server's timer that carries them out one at a time against each
 * destination's ECR JSON endpoint, signed with the access key `replicationDestinations` gives it.
 * A failed job is tried again with backoff (the destination may be down for a while: a job keeps
 * trying for about two hours), then dead-lettered; a refusal retrying cannot change (aws/replication-failures.ts)
 * is dead-lettered at once. A job waits while an earlier one for the same image and destination is
 * pending, so a push and the delete after it arrive in that order.
 *
 * A push job records the image's status at that destination (DescribeImageReplicationStatus):
 * IN_PROGRESS when queued, COMPLETE when done, FAILED with a failure code when dead-lettered; a
 * dead-lettered push also records ECR's `ECR Replication Action` with result FAILED in the outbox, once
 * per job (the destination, which refused or was never reached, emits nothing). Each
 * write is stamped with when its state began (the queueing, the attempt's start) and the store keeps
 * the latest, so an attempt that ends after a new push of the same digest was queued leaves that
 * push's IN_PROGRESS in place.
 */
import { createHash } from 'node:crypto';
import type { ImageChange } from '../../contracts/events';
import type { LocalReplicationDestination } from '../../contracts/replication';
import type { EventSink, ImageActionEvent } from '../../core/events';
import type { Logger } from '../../core/log';
import type { ReplicationConfiguration, ReplicationStatus, StoredManifest } from '../../core/model';
import { replicatePush, type ReplicationSource, type ReplicationTarget } from '../../core/replication/replicate-push';
import { replicationJobsOf, type ReplicationJob } from '../../core/replication/replication-jobs';
import { EcrReplicationTarget } from '../../aws/ecr-replication-target';
import { replicationFailureOf } from '../../aws/replication-failures';
import type { BlobLinkStore, ChangeOutbox, ManifestStore, RegistrySettingsStore, ReplicationStatusStore } from '../../storage/ports';
import { LocalReplicationQueue, type QueuedReplication } from '../../storage/local/replication-queue';
import type { ScheduledJob } from '../deployment';

/** Attempts before a job is dead-lettered: with the backoff below, about two hours of trying. */
export const REPLICATION_ATTEMPTS = 30;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 5 * 60_000;

export interface LocalReplicationOptions {
  dataDir: string;
  store: RegistrySettingsStore &
    Pick<ManifestStore, 'getManifest'> &
    Pick<BlobLinkStore, 'statBlobLink'> &
    Pick<ReplicationStatusStore, 'setReplicationStatus'> &
    Pick<ChangeOutbox, 'recordChanges'>;
  readManifestBody: (digest: string) => Promise<Uint8Array>;
  /** A URL the destination can fetch a blob of this registry from without credentials (a download-token URL). */
  blobUrl: (repository: string, digest: string) => Promise<string>;
  destinations: readonly LocalReplicationDestination[];
  /** This registry's region, which the destination's events name as the source region. */
  region: string;
  log: Logger;
  /** How often the queue is looked at. @default 500 ms */
  everyMs?: number;
  now?: () => number;
}

export interface LocalReplication {
  sink: EventSink;
  job: ScheduledJob;
  queue: LocalReplicationQueue;
}

const keyOf = (job: ReplicationJob) => `${job.repository}\u0000${job.digest}\u0000${job.destination.region}\u0000${job.destination.registryId}`;

export function localReplication(options: LocalReplicationOptions): LocalReplication {
  const queue = new LocalReplicationQueue(options.dataDir);
  const now = options.now ?? Date.now;
  const targets = new Map<string, ReplicationTarget>(
    options.destinations.map((d) => [
      `${d.region}/${d.registryId}`,
      new EcrReplicationTarget({ url: d.endpoint, region: d.region, credentials: { accessKeyId: d.accessKeyId, secretAccessKey: d.secretAccessKey } }),
    ]),
  );
  const source: ReplicationSource = {
    getManifest: (repository, digest): Promise<StoredManifest | null> => options.store.getManifest(repository, digest),
    readManifestBody: options.readManifestBody,
    blobSize: async (repository, digest) => (await options.store.statBlobLink(repository, digest))?.size ?? null,
    blobUrl: options.blobUrl,
  };

  /** Statuses are kept for pushes only (ECR's are per image); a refused write is a later state already stored. */
  async function recordStatus(job: ReplicationJob, status: ReplicationStatus): Promise<void> {
    if (job.kind !== 'push') return;
    await options.store.setReplicationStatus(job.repository, job.digest, job.destination, status);
  }

  const sink: EventSink = {
    async deliver(events: readonly ImageActionEvent[]) {
      let configuration: ReplicationConfiguration | undefined;
      for (const event of events) {
        configuration ??= (await options.store.getRegistrySettings()).replicationConfiguration ?? { rules: [] };
        const detail = event.detail as ImageActionEvent['detail'] & { 'berth-replicated-from'?: unknown };
        const jobs = replicationJobsOf(
          {
            action: detail['action-type'],
            repository: detail['repository-name'],
            digest: detail['image-digest'],
            ...(detail['image-tag'] !== undefined ? { tag: detail['image-tag'] } : {}),
            ...(detail['berth-replicated-from'] !== undefined ? { replicatedFrom: detail['berth-replicated-from'] } : {}),
          },
          configuration,
        );
        for (const job of jobs) {
          // Before the job exists, so that every attempt of it starts after its IN_PROGRESS.
          const statusAt = new Date(now()).toISOString();
          await recordStatus(job, { status: 'IN_PROGRESS', updatedAt: statusAt });
          await queue.enqueue(job, { time: event.time, eventId: detail['berth-event-id'] }, { statusAt });
        }
      }
    },
  };

  async function carryOut(job: ReplicationJob, attemptAt: string): Promise<void> {
    const target = targets.get(`${job.destination.region}/${job.destination.registryId}`);
    if (!target) throw new Error(`no replicationDestinations entry for ${job.destination.region}/${job.destination.registryId}`);
    if (job.kind === 'delete') {
      await target.replicateDelete({ repository: job.repository, digest: job.digest, ...(job.tag !== undefined ? { tag: job.tag } : {}), sourceRegion: options.region });
      return;
    }
    const result = await replicatePush(source, target, { repository: job.repository, digest: job.digest, ...(job.tag !== undefined ? { tag: job.tag } : {}) }, options.region);
    // Gone at the source since its push: nothing was replicated and the image has no status to show.
    if (!result.ok) return;
    const untagged = !result.tagged && job.tag !== undefined;
    if (untagged) {
      options.log.warn('replica left untagged', { repository: job.repository, digest: job.digest, tag: job.tag, destination: job.destination, reason: result.reason });
    }
    // The image is there, pullable by digest; the code says its tag is not (docs/replication.md, "DescribeImageReplicationStatus").
    await recordStatus(job, { status: 'COMPLETE', ...(untagged ? { failureCode: result.reason ?? 'IMAGE_TAG_ALREADY_EXISTS' } : {}), updatedAt: attemptAt });
  }

  /** An attempt's statuses are stamped with its start, always after the job's IN_PROGRESS (clocks agree to the millisecond at best). */
  function attemptTime(queued: QueuedReplication): string {
    const queuedAt = queued.statusAt !== undefined ? Date.parse(queued.statusAt) : -Infinity;
    return new Date(Math.max(now(), queuedAt + 1)).toISOString();
  }

  const job: ScheduledJob = {
    name: 'replicate-images',
    everyMs: options.everyMs ?? 500,
    run: async () => {
      const blocked = new Set<string>();
      for (const queued of await queue.list()) {
        const key = keyOf(queued.job);
        if (blocked.has(key)) continue;
        if (queued.notBefore > now()) {
          blocked.add(key);
          continue;
        }
        const attemptAt = attemptTime(queued);
        try {
          await carryOut(queued.job, attemptAt);
          await queue.done(queued);
          options.log.info('image replicated', { kind: queued.job.kind, repository: queued.job.repository, digest: queued.job.digest, destination: queued.job.destination });
        } catch (error) {
          blocked.add(key);
          await failed(queued, error, attemptAt);
        }
      }
    },
  };

  /**
   * The source's FAILED `ECR Replication Action` for a push job given up on (deletions have none, as
   * they have no status). Its event id comes from the job's queue id, so that a crash before the job
   * leaves the queue records it again under the same id, which consumers deduplicate on.
   */
  async function recordFailedReplication(queued: QueuedReplication): Promise<void> {
    const { job } = queued;
    if (job.kind !== 'push') return;
    const hex = createHash('sha256').update(`replication-failed\u0000${queued.id}`).digest('hex');
    const change: ImageChange = {
      action: 'REPLICATE',
      repository: job.repository,
      digest: job.digest,
      ...(job.tag !== undefined ? { tag: job.tag } : {}),
      eventId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`,
      time: new Date(now()).toISOString(),
      result: 'FAILED',
      replicatedTo: { account: job.destination.registryId, region: job.destination.region },
    };
    await options.store.recordChanges([change]);
  }

  async function failed(queued: QueuedReplication, error: unknown, attemptAt: string): Promise<void> {
    const lastError = error instanceof Error ? error.message : String(error);
    const failure = replicationFailureOf(error);
    if (failure.permanent || queued.attempts + 1 >= REPLICATION_ATTEMPTS) {
      await recordStatus(queued.job, { status: 'FAILED', failureCode: failure.code, updatedAt: attemptAt });
      // Before the dead letter removes the job: a crash in between repeats the event rather than losing it.
      await recordFailedReplication(queued);
      await queue.deadLetter(queued, lastError, failure.code);
      const message = failure.permanent ? 'replication refused by the destination, job dead-lettered' : 'replication abandoned, job dead-lettered';
      options.log.error(message, { job: queued.job, attempts: queued.attempts + 1, failureCode: failure.code, lastError, deadLetterFile: queue.deadLetters });
      return;
    }
    const bound = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** queued.attempts);
    const delay = bound / 2 + Math.random() * (bound / 2);
    await queue.retryLater(queued, lastError, now() + delay);
    options.log.warn('replication failed, retrying', { job: queued.job, attempt: queued.attempts + 1, lastError, retryInMs: Math.round(delay) });
  }

  return { sink, job, queue };
}
