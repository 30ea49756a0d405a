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
import type { LocalReplicationDestination } from '../../contracts/replication';
import { REPLICATION_ATTEMPTS, replicationRetryDelayMs } from '../../contracts/replicator';
import type { EventSink, ImageActionEvent } from '../../core/events';
import type { Logger } from '../../core/log';
import type { StoredManifest } from '../../core/model';
import type { ReplicationSource, ReplicationTarget } from '../../core/replication/replicate-push';
import type { ReplicationJob } from '../../core/replication/replication-jobs';
import { createReplicator } from '../../core/replication/replicator';
import { EcrReplicationTarget } from '../../aws/ecr-replication-target';
import { replicationFailureOf } from '../../aws/replication-failures';
import type { BlobLinkStore, ChangeOutbox, ManifestStore, RegistrySettingsStore, ReplicationStatusStore, TagStore } from '../../storage/ports';
import { LocalReplicationQueue, type QueuedReplication } from '../../storage/local/replication-queue';
import type { ScheduledJob } from '../deployment';

export { REPLICATION_ATTEMPTS };

export interface LocalReplicationOptions {
  dataDir: string;
  store: RegistrySettingsStore &
    Pick<ManifestStore, 'getManifest'> &
    Pick<BlobLinkStore, 'statBlobLink'> &
    Pick<TagStore, 'resolveTag'> &
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
    readManifestBody: (_repository, digest) => options.readManifestBody(digest),
    blobSize: async (repository, digest) => (await options.store.statBlobLink(repository, digest))?.size ?? null,
    blobUrl: options.blobUrl,
    resolveTag: (repository, tag) => options.store.resolveTag(repository, tag),
  };
  const replicator = createReplicator({
    store: options.store,
    source,
    targetOf: (d) => targets.get(`${d.region}/${d.registryId}`),
    region: options.region,
    log: options.log,
    now,
  });

  const sink: EventSink = {
    async deliver(events: readonly ImageActionEvent[]) {
      for (const event of events) {
        for (const job of await replicator.jobsOf(event)) {
          // Before the job exists, so that every attempt of it starts after its IN_PROGRESS.
          const statusAt = await replicator.queued(job);
          await queue.enqueue(job, { time: event.time, eventId: event.detail['berth-event-id'] }, { statusAt });
        }
      }
    },
  };

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
        const attemptAt = replicator.attemptTime(queued.statusAt);
        try {
          await replicator.carryOut(queued.job, attemptAt);
          await queue.done(queued);
          options.log.info('image replicated', { kind: queued.job.kind, repository: queued.job.repository, digest: queued.job.digest, destination: queued.job.destination });
        } catch (error) {
          blocked.add(key);
          await failed(queued, error, attemptAt);
        }
      }
    },
  };

  async function failed(queued: QueuedReplication, error: unknown, attemptAt: string): Promise<void> {
    const lastError = error instanceof Error ? error.message : String(error);
    const failure = replicationFailureOf(error);
    if (failure.permanent || queued.attempts + 1 >= REPLICATION_ATTEMPTS) {
      // Before the dead letter removes the job: a crash in between repeats the event rather than losing it.
      await replicator.gaveUp(queued.job, failure.code, queued.id, attemptAt);
      await queue.deadLetter(queued, lastError, failure.code);
      const message = failure.permanent ? 'replication refused by the destination, job dead-lettered' : 'replication abandoned, job dead-lettered';
      options.log.error(message, { job: queued.job, attempts: queued.attempts + 1, failureCode: failure.code, lastError, deadLetterFile: queue.deadLetters });
      return;
    }
    const delay = replicationRetryDelayMs(queued.attempts + 1);
    await queue.retryLater(queued, lastError, now() + delay);
    options.log.warn('replication failed, retrying', { job: queued.job, attempt: queued.attempts + 1, lastError, retryInMs: Math.round(delay) });
  }

  return { sink, job, queue };
}
