import { join, resolve } from 'node:path';
import { Registry, type RegistryOptions } from '../../core/registry';
import type { Logger } from '../../core/log';
import { FilesystemBlobStore } from '../../storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../storage/local/lmdb-metadata-store';
import { lockDataDir } from '../../storage/local/data-dir-lock';
import { tagImmutabilityFromSettings } from '../../core/tag-immutability';
import { CachedRepositorySettings } from '../../core/cached-repository-settings';
import { createOnPushFromSettings } from '../../core/create-on-push';
import type { MetadataStore } from '../../storage/ports';
import type { ScheduledJob } from '../deployment';
import { runLocalJobs } from './job-runner';
import type { EventOrigin, EventSink } from '../../core/events';
import { DEFAULT_EVENT_SOURCE } from '../../contracts/events';
import { outboxDrainJob } from './local-events';
import { DEFAULT_LOCAL_GC, garbageCollectionJob, type LocalGcSettings } from './local-gc';
import { DEFAULT_LOCAL_LIFECYCLE, localLifecycle, type LocalLifecycle, type LocalLifecycleSettings } from './local-lifecycle';
import { DEFAULT_ACCOUNT, DEFAULT_REGIONS } from './identities';
import { scanOnPushFromSettings } from '../../core/scanning/policy';
import { localScanning, type LocalScanning } from './local-scanning';

export interface LocalRegistry {
  registry: Registry;
  /** The metadata store under the registry (the ECR API's policies live there). */
  metadata: MetadataStore;
  dataDir: string;
  /** The scheduled jobs it runs (the upload purge), on the server's timer (job-runner.ts). */
  jobs: ScheduledJob[];
  /** Lifecycle policies: the job in `jobs` and the runs asked for (berth lifecycle run --endpoint) share one queue. */
  lifecycle: LocalLifecycle;
  /** Image scans: queued by pushes to scanned repositories and by StartImageScan, run on the server's timer. */
  scanning: LocalScanning;
  close(): Promise<void>;
}

/** The registry over a metadata store opened here: the local ECR API finds it from the store it is given. */
const registries = new WeakMap<object, Registry>();

/** The local registry whose metadata store is `store`, if openLocalRegistry opened it. */
export function localRegistryOf(store: object): Registry | undefined {
  return registries.get(store);
}

/** How often abandoned uploads are looked for. */
const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;

/** The registry of local mode: blobs as files and metadata in LMDB, both under one data directory. */
export async function openLocalRegistry(
  dataDir: string,
  log: Logger,
  settings: Omit<RegistryOptions, 'blobs' | 'metadata' | 'log'> = {},
  /** Where image events go. @default nowhere: the outbox is drained and its entries dropped */
  events: { sinks: EventSink[]; origin: EventOrigin } = { sinks: [], origin: { account: DEFAULT_ACCOUNT, region: DEFAULT_REGIONS[0], source: DEFAULT_EVENT_SOURCE } },
  /** Online garbage collection (docs/garbage-collection.md); `intervalMs` 0 turns it off. */
  gc: LocalGcSettings = DEFAULT_LOCAL_GC,
  /** Lifecycle policies on the server's timer (docs/lifecycle.md); `intervalMs` 0 turns it off. */
  lifecycleSettings: LocalLifecycleSettings = DEFAULT_LOCAL_LIFECYCLE,
  /** More event sinks and jobs that need the opened registry (replication). */
  extend?: (opened: { registry: Registry; metadata: LmdbMetadataStore; dataDir: string }) => { sinks: EventSink[]; jobs: ScheduledJob[] },
): Promise<LocalRegistry> {
  const root = resolve(dataDir);
  // A restarted container finds its predecessor's lock from another PID namespace: wait for its heartbeat to stop.
  const unlock = await lockDataDir(root, { waitMs: 20_000 });
  let metadata: LmdbMetadataStore;
  let blobs: FilesystemBlobStore;
  try {
    blobs = FilesystemBlobStore.open({ root: join(root, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(root, 'metadata') });
  } catch (err) {
    unlock();
    throw err;
  }
  // One process serves both planes: the ECR API writes settings through the Registry's repositories, so a push sees them at once.
  const repositories = new CachedRepositorySettings(metadata);
  // Tag immutability comes from the repository settings (ECR's PutImageTagMutability) unless the caller decides.
  // Create-on-push follows the registry setting and the repository creation templates (ECR API) unless the caller decides.
  const registry = new Registry({
    isTagImmutable: tagImmutabilityFromSettings(repositories),
    mayCreateOnPush: createOnPushFromSettings(metadata),
    scansPushes: scanOnPushFromSettings(repositories, metadata),
    ...settings,
    blobs,
    metadata,
    repositories,
    log,
  });
  registries.set(metadata, registry);
  const lifecycle = localLifecycle(metadata, lifecycleSettings, log);
  const scanning = localScanning({ dataDir: root, registry, metadata, blobs, log });
  const extension = extend?.({ registry, metadata, dataDir: root }) ?? { sinks: [], jobs: [] };

  const jobs: ScheduledJob[] = [
    {
      name: 'purge-abandoned-uploads',
      everyMs: HOUSEKEEPING_INTERVAL_MS,
      run: async () => {
        const count = await registry.purgeStaleUploads();
        if (count > 0) log.info('purged abandoned uploads', { count });
      },
    },
    outboxDrainJob(metadata, [...events.sinks, scanning.sink, ...extension.sinks], events.origin),
    ...(gc.intervalMs > 0 ? [garbageCollectionJob(metadata, blobs, gc, log, root)] : []),
    ...lifecycle.jobs,
    scanning.job,
    ...extension.jobs,
  ];
  const runner = runLocalJobs(jobs, log);

  return {
    registry,
    metadata,
    dataDir: root,
    jobs,
    lifecycle,
    scanning,
    close: async () => {
      await runner.stop();
      await metadata.close();
      unlock();
    },
  };
}
