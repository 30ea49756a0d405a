/**
 * Local mode's scanner (docs/scanning.md, "Running scans locally"): a push to a scanned repository
 * commits its IN_PROGRESS scan record with the manifest; the PUSH event that follows (the outbox
 * drain's sinks) queues the scan, one JSON file per scan under `<data-dir>/scanning/queue/`, written
 * before the event is acknowledged, so a crash loses none; a job on the server's timer carries the
 * scans out one at a time (core/scanning/scan-image.ts). StartImageScan queues its scan the same way.
 * A scan whose run throws (not one that ends FAILED: a store that failed) is tried again after a
 * while, three times, then finished FAILED with the error.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventSink, ImageActionEvent } from '../../core/events';
import type { Logger } from '../../core/log';
import type { Registry } from '../../core/registry';
import { scanImage } from '../../core/scanning/scan-image';
import { VulnerabilityData } from '../../core/scanning/vulndb/lookup';
import type { BlobStore, MetadataStore } from '../../storage/ports';
import { FilesystemScanContent } from '../../storage/local/filesystem-scan-content';
import { FilesystemVulnerabilityData } from '../../storage/local/filesystem-vulnerability-data';
import type { ScheduledJob } from '../deployment';

/** Tries of a scan whose run throws, before it is finished FAILED. */
export const SCAN_ATTEMPTS = 3;
const RETRY_MS = 10_000;

interface QueuedScan {
  id: string;
  repository: string;
  digest: string;
  startedAt: string;
  attempts: number;
  notBefore: number;
  lastError?: string;
}

export interface LocalScanning {
  sink: EventSink;
  /** Where scans keep their findings and inventories (`<data-dir>/scans/`). */
  content: FilesystemScanContent;
  job: ScheduledJob;
  /** Queues the scan of an image whose record was just started (StartImageScan). */
  requestScan(repository: string, digest: string, startedAt: string): Promise<void>;
  /** Resolves once the queue is empty (tests). */
  idle(timeoutMs?: number): Promise<void>;
}

export interface LocalScanningOptions {
  dataDir: string;
  registry: Registry;
  metadata: MetadataStore;
  blobs: Pick<BlobStore, 'readBlob'>;
  log: Logger;
  /** How often the queue is looked at. @default 500 ms */
  everyMs?: number;
}

export function localScanning(options: LocalScanningOptions): LocalScanning {
  const queueDir = join(options.dataDir, 'scanning', 'queue');
  const content = new FilesystemScanContent({ root: join(options.dataDir, 'scans') });
  const vulnerabilities = new VulnerabilityData(new FilesystemVulnerabilityData({ root: join(options.dataDir, 'vulndb') }));
  const { metadata, log } = options;

  async function write(queued: QueuedScan): Promise<void> {
    await mkdir(queueDir, { recursive: true });
    const temporary = join(queueDir, `.${randomUUID()}.tmp`);
    await writeFile(temporary, JSON.stringify(queued), { mode: 0o600 });
    await rename(temporary, join(queueDir, queued.id));
  }

  async function enqueue(repository: string, digest: string, startedAt: string): Promise<void> {
    // One file per scan (its start names it): the same event delivered twice queues it once.
    const id = `${startedAt.replace(/[^0-9TZ]/g, '')}-${createHash('sha256').update(`${repository}\u0000${digest}\u0000${startedAt}`).digest('hex').slice(0, 32)}.json`;
    await write({ id, repository, digest, startedAt, attempts: 0, notBefore: 0 });
  }

  async function list(): Promise<QueuedScan[]> {
    let names: string[];
    try {
      names = (await readdir(queueDir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const scans: QueuedScan[] = [];
    for (const name of names) {
      try {
        scans.push(JSON.parse(await readFile(join(queueDir, name), 'utf8')) as QueuedScan);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return scans;
  }

  const sink: EventSink = {
    async deliver(events: readonly ImageActionEvent[]) {
      for (const event of events) {
        const detail = event.detail as unknown as Record<string, unknown>;
        if (detail['action-type'] !== 'PUSH' || event['detail-type'] !== 'ECR Image Action') continue;
        const repository = String(detail['repository-name']);
        const digest = String(detail['image-digest']);
        const record = await metadata.getScan(repository, digest);
        // Only a scan the push started (or a later start still running): a re-push of a scanned image has none to run.
        if (record?.status === 'IN_PROGRESS') await enqueue(repository, digest, record.startedAt);
      }
    },
  };

  async function carryOut(queued: QueuedScan): Promise<void> {
    const outcome = await scanImage(
      {
        getManifest: (repository, digest) => metadata.getManifest(repository, digest),
        readManifestBody: (_repository, digest) => options.registry.readManifestBody(digest),
        openBlob: (digest) => options.blobs.readBlob(digest),
        scans: metadata,
        content,
        vulnerabilities,
        log,
      },
      queued.repository,
      queued.digest,
      queued.startedAt,
    );
    log.info('image scanned', {
      repository: queued.repository,
      digest: queued.digest,
      status: outcome.result.status,
      description: outcome.result.description,
      severityCounts: outcome.result.severityCounts,
      packages: outcome.packages,
      ...(outcome.warnings.length > 0 ? { warnings: outcome.warnings.slice(0, 20) } : {}),
    });
  }

  const job: ScheduledJob = {
    name: 'scan-images',
    everyMs: options.everyMs ?? 500,
    run: async () => {
      for (const queued of await list()) {
        if (queued.notBefore > Date.now()) continue;
        try {
          await carryOut(queued);
          await rm(join(queueDir, queued.id), { force: true });
        } catch (error) {
          const lastError = error instanceof Error ? error.message : String(error);
          if (queued.attempts + 1 >= SCAN_ATTEMPTS) {
            log.error('scan abandoned after its attempts', { repository: queued.repository, digest: queued.digest, lastError });
            await metadata
              .finishScan(queued.repository, queued.digest, { status: 'FAILED', description: `The scan failed: ${lastError}`, completedAt: new Date().toISOString() }, { expectedStartedAt: queued.startedAt })
              .catch((err: unknown) => log.error('could not record the failed scan', { error: err }));
            await rm(join(queueDir, queued.id), { force: true });
          } else {
            log.warn('scan failed, retrying', { repository: queued.repository, digest: queued.digest, attempt: queued.attempts + 1, lastError });
            await write({ ...queued, attempts: queued.attempts + 1, notBefore: Date.now() + RETRY_MS, lastError });
          }
        }
      }
    },
  };

  return {
    sink,
    content,
    job,
    requestScan: enqueue,
    async idle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while ((await list()).length > 0) {
        if (Date.now() > deadline) throw new Error('scans still queued');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}
