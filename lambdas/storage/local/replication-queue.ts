/**
 * Local mode's queue of replication jobs: one JSON file per job under `<data-dir>/replication/queue/`,
 * written atomically (a temporary file renamed into place), removed once the job is done or
 * dead-lettered (`<data-dir>/replication/dead-letters.jsonl`). A job is enqueued before the event that
 * asked for it is acknowledged, so a crash loses none; the same event delivered twice names the same
 * file, so it is queued once. Files list in the order of their names: the event's time first, so jobs
 * run in the order their changes committed.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplicationJob } from '../../core/replication/replication-jobs';
import { appendLines } from '../../events/append-lines';

export interface QueuedReplication {
  /** The file's name: `<event time>-<event id>-<region>-<registryId>.json`. */
  id: string;
  job: ReplicationJob;
  /** Attempts made so far. */
  attempts: number;
  /** Epoch ms before which the job is not tried again. */
  notBefore: number;
  lastError?: string;
  /** When the job's IN_PROGRESS status was recorded: the statuses its attempts record must be later (absent in files queued before statuses). */
  statusAt?: string;
}

export class LocalReplicationQueue {
  private readonly queueDir: string;
  private readonly deadLetterFile: string;

  constructor(dataDir: string) {
    this.queueDir = join(dataDir, 'replication', 'queue');
    this.deadLetterFile = join(dataDir, 'replication', 'dead-letters.jsonl');
  }

  /** Queues the job an event asked for (idempotent per event and destination). */
  async enqueue(job: ReplicationJob, event: { time: string; eventId: string }, options: { statusAt?: string } = {}): Promise<void> {
    const id = `${event.time.replace(/[^0-9TZ]/g, '')}-${event.eventId}-${job.destination.region}-${job.destination.registryId}.json`;
    await this.write({ id, job, attempts: 0, notBefore: 0, ...(options.statusAt !== undefined ? { statusAt: options.statusAt } : {}) });
  }

  /** Every queued job, in the order of their names. */
  async list(): Promise<QueuedReplication[]> {
    let names: string[];
    try {
      names = (await readdir(this.queueDir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const jobs: QueuedReplication[] = [];
    for (const name of names) {
      try {
        jobs.push(JSON.parse(await readFile(join(this.queueDir, name), 'utf8')) as QueuedReplication);
      } catch (err) {
        // Removed meanwhile (done by a concurrent pass): nothing to do.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return jobs;
  }

  /** Records a failed attempt and when to try again. */
  async retryLater(queued: QueuedReplication, lastError: string, notBefore: number): Promise<void> {
    await this.write({ ...queued, attempts: queued.attempts + 1, notBefore, lastError });
  }

  async done(queued: QueuedReplication): Promise<void> {
    await rm(join(this.queueDir, queued.id), { force: true });
  }

  /** Gives up on a job: one JSON line in the dead-letter file, then the job's file goes. */
  async deadLetter(queued: QueuedReplication, lastError: string, failureCode?: string): Promise<void> {
    const line = { failedAt: new Date().toISOString(), attempts: queued.attempts + 1, lastError, ...(failureCode !== undefined ? { failureCode } : {}), job: queued.job };
    await appendLines(this.deadLetterFile, [JSON.stringify(line)], 0o600);
    await this.done(queued);
  }

  /** Where jobs that failed for good are written. */
  get deadLetters(): string {
    return this.deadLetterFile;
  }

  private async write(queued: QueuedReplication): Promise<void> {
    await mkdir(this.queueDir, { recursive: true });
    const temporary = join(this.queueDir, `.${randomUUID()}.tmp`);
    await writeFile(temporary, JSON.stringify(queued), { mode: 0o600 });
    await rename(temporary, join(this.queueDir, queued.id));
  }
}
