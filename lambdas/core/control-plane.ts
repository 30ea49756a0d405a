/**
 * The operations the ECR control plane calls, built over the metadata store's roles and the
 * Registry the data plane uses, so that both ways in share each rule and the Registry's repository
 * role (a CachedRepositorySettings in the composition roots: a change made here is seen by the next push).
 */
import type {
  BlobLinkStore,
  ImageScanStore,
  ImageStorageClassStore,
  ManifestStore,
  PolicyStore,
  RegistrySettingsStore,
  ReplicationStatusStore,
  RepositoryStore,
  TagStore,
  TemplateStore,
} from '../storage/ports';
import { LifecyclePolicies } from './lifecycle/lifecycle-policies';
import { PullTimeExclusions } from './pull-time-exclusions';
import { ReplicationConfigurations, type ReplicationDeployment } from './replication/configuration';
import { RegistryScanningConfigurations } from './scanning/policy';
import { ImageScanOperations, type ControlPlaneScanning } from './scanning/scan-operations';
import { Replicas } from './replication/replicas';
import { RegistrySettingsOperations } from './create-on-push';
import { Images } from './images';
import { Policies } from './policies';
import { Pushes } from './pushes';
import type { Registry } from './registry';
import { Repositories } from './repositories';
import { CreationTemplates } from './templates';

/** The roles of the metadata store the control plane uses. */
export type ControlPlaneStore = RepositoryStore &
  ManifestStore &
  TagStore &
  Pick<BlobLinkStore, 'statBlobLink'> &
  PolicyStore &
  TemplateStore &
  RegistrySettingsStore &
  ImageStorageClassStore &
  Pick<ReplicationStatusStore, 'getReplicationStatuses'> &
  Pick<ImageScanStore, 'startScan' | 'getScan' | 'getScans'>;

export interface ControlPlaneOperations {
  repositories: Repositories;
  images: Images;
  policies: Policies;
  templates: CreationTemplates;
  registrySettings: RegistrySettingsOperations;
  /** Lifecycle policies and their previews. */
  lifecycle: LifecyclePolicies;
  pullTimeExclusions: PullTimeExclusions;
  /** The replication configuration, checked against the destinations the deployment knows. */
  replication: ReplicationConfigurations;
  /** The registry's scanning configuration, and how it applies to each repository. */
  scanning: RegistryScanningConfigurations;
  /** Image scans: records, findings, StartImageScan (scanning/scan-operations.ts). */
  scans: ImageScanOperations;
  /** Layer uploads and manifest puts; absent without a Registry to push through. */
  pushes?: Pushes;
  /** What a replication source stores here (the destination's side); absent without a Registry. */
  replicas?: Replicas;
}

export function controlPlaneOperations(options: {
  store: ControlPlaneStore;
  /** The data plane's Registry: its repository role and its upload and manifest rules. */
  registry?: Registry;
  /** Reads manifest bodies kept in the blob store. @default the Registry's */
  readManifestBody?: (digest: string) => Promise<Uint8Array>;
  /** The clock lifecycle previews measure ages by. @default Date.now */
  now?: () => number;
  /** This registry and the replication destinations its deployment configures. @default none: every destination is refused */
  replication?: ReplicationDeployment;
  /** The scanner's content store and its queue (StartImageScan's `requestScan`). @default neither: findings unreadable, manual scans stay IN_PROGRESS */
  scanning?: ControlPlaneScanning;
}): ControlPlaneOperations {
  const clock = options.now ?? Date.now;
  const { store, registry } = options;
  // Fresh reads (a change another container made shows at once); writes still clear the Registry's cache.
  const repositories = registry?.repositories.uncached() ?? new Repositories(store);
  const readManifestBody = options.readManifestBody ?? (registry ? (digest: string) => registry.readManifestBody(digest) : undefined);
  return {
    repositories,
    images: new Images({ store, readManifestBody, referrersPageBytes: registry?.referrersPageBytes }),
    policies: new Policies(store, repositories),
    templates: new CreationTemplates(store),
    registrySettings: new RegistrySettingsOperations(store),
    lifecycle: new LifecyclePolicies(store, () => new Date(clock())),
    pullTimeExclusions: new PullTimeExclusions(store, () => new Date(clock()), () => registry?.forgetPullTimeExclusions()),
    replication: new ReplicationConfigurations(store, options.replication),
    scanning: new RegistryScanningConfigurations(store),
    scans: new ImageScanOperations(store, options.scanning ?? {}, () => new Date(clock())),
    ...(registry ? { pushes: new Pushes(registry, store), replicas: new Replicas(registry, store) } : {}),
  };
}
