/**
 * One scan of one image, start to finish (docs/scanning.md, "A scan"): the analyzer's parts joined.
 * The image's layers are read once (layers/), its inventory taken (inventory/) and stored, its packages
 * matched against the vulnerability data (vulndb/, osv/), the findings stored, and the scan record
 * finished with what it found. Whoever runs scans (local mode's worker, the AWS function) calls this
 * with the scan's start, which names it: a newer start of the same image makes this one's finish a
 * no-op (`superseded`), so two scans racing never leave the older one's findings.
 *
 * How a scan ends:
 * - COMPLETE with the findings (none is a finding too: an image with packages and no vulnerability);
 * - FAILED "no vulnerability data imported" when the registry has none: its inventory is stored, so
 *   the first import matches it (the rematch) without reading its layers again;
 * - UNSUPPORTED_IMAGE for what is not a container image (an index: its platform images are scanned
 *   each; an artifact; an image whose OS and package managers Berth does not read);
 * - FAILED with the reason when a layer cannot be read (corrupt, missing) or the deadline passes.
 */
import type { Logger } from '../log';
import type { ByteStream, StoredManifest } from '../model';
import type { FinishScanResult, ImageScanStore, ScanContentStore } from '../../storage/ports';
import { inventoryOf, isInventoryPath } from './inventory';
import { LayerReadError, readImageFiles, type ImageLayer, type ReadImageFilesOptions } from './layers';
import { findingsOf, severityCounts } from './osv/findings';
import type { UnevaluatedRange } from './osv/match';
import { encodeScanContent } from './scan-content';
import { noFindings, type ImageScanResult, type SeverityCounts } from './scan-records';
import { NO_VULNERABILITY_DATA, type VulnerabilityData } from './vulndb/lookup';

/** Config media types of container images (OCI and Docker); any other config makes an artifact. */
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export const UNSUPPORTED_INDEX = 'An image index is not scanned itself: each of its platform images is scanned as its own digest.';
export const UNSUPPORTED_ARTIFACT = 'Not a container image: an artifact (its config or artifactType says so) has no packages to scan.';
export const UNSUPPORTED_OS = 'The operating system and package managers of this image are not supported (Debian, Ubuntu, Alpine and npm are).';

export interface ScanImageDependencies {
  getManifest(repository: string, digest: string): Promise<StoredManifest | null>;
  /** A manifest body kept outside its record (too large for it). */
  readManifestBody(repository: string, digest: string): Promise<Uint8Array>;
  /** A blob's bytes as stored. */
  openBlob(digest: string): Promise<ByteStream>;
  scans: Pick<ImageScanStore, 'finishScan'>;
  content: Pick<ScanContentStore, 'putScanContent'>;
  vulnerabilities: VulnerabilityData;
  log: Logger;
  now?: () => Date;
  /** The reader's limits and the caller's deadline (`signal`). */
  limits?: ReadImageFilesOptions;
}

/** What became of a scan. */
export interface ScanOutcome {
  result: ImageScanResult;
  finished: FinishScanResult;
  /** Packages inventoried, and those that could not be evaluated against some record. */
  packages: number;
  unevaluated: number;
  warnings: string[];
}

interface ManifestBody {
  config?: { mediaType?: unknown };
  artifactType?: unknown;
  layers?: Array<{ mediaType?: unknown; digest?: unknown; size?: unknown }>;
}

/** Scans `repository@digest` as the scan started at `startedAt`, and finishes its record. */
export async function scanImage(deps: ScanImageDependencies, repository: string, digest: string, startedAt: string): Promise<ScanOutcome> {
  const now = deps.now ?? (() => new Date());
  const finish = async (result: ImageScanResult, extra: Partial<ScanOutcome> = {}): Promise<ScanOutcome> => {
    const finished = await deps.scans.finishScan(repository, digest, result, { expectedStartedAt: startedAt });
    if (!finished.ok) deps.log.info('scan finished after a newer start or a delete; its result is dropped', { repository, digest, startedAt, reason: finished.reason });
    return { result, finished, packages: 0, unevaluated: 0, warnings: [], ...extra };
  };
  const ended = (status: ImageScanResult['status'], description?: string): ImageScanResult => ({
    status,
    ...(description !== undefined ? { description } : {}),
    completedAt: now().toISOString(),
  });

  const manifest = await deps.getManifest(repository, digest);
  if (!manifest) return finish(ended('FAILED', 'The image was deleted while it was being scanned.'));
  if (manifest.children.length > 0 || manifest.mediaType.includes('index') || manifest.mediaType.includes('manifest.list')) {
    return finish(ended('UNSUPPORTED_IMAGE', UNSUPPORTED_INDEX));
  }
  const body = JSON.parse(Buffer.from(manifest.body ?? (await deps.readManifestBody(repository, digest))).toString('utf8')) as ManifestBody;
  const configType = typeof body.config?.mediaType === 'string' ? body.config.mediaType : '';
  if (typeof body.artifactType === 'string' || !IMAGE_CONFIG_TYPES.has(configType)) return finish(ended('UNSUPPORTED_IMAGE', UNSUPPORTED_ARTIFACT));

  const layers: ImageLayer[] = (body.layers ?? [])
    .filter((layer) => typeof layer.digest === 'string' && manifest.blobs.includes(layer.digest))
    .map((layer) => ({
      digest: layer.digest as string,
      mediaType: typeof layer.mediaType === 'string' ? layer.mediaType : '',
      ...(typeof layer.size === 'number' ? { size: layer.size } : {}),
      open: () => deps.openBlob(layer.digest as string),
    }));
  let files;
  try {
    files = await readImageFiles(layers, isInventoryPath, deps.limits);
  } catch (err) {
    if (err instanceof LayerReadError) return finish(ended('FAILED', `A layer could not be read: ${err.message}`));
    if (deps.limits?.signal?.aborted) return finish(ended('FAILED', `The scan ran out of time: ${String(deps.limits.signal.reason ?? 'deadline')}`));
    throw err;
  }
  const inventory = inventoryOf(files.files);
  const warnings = [...files.warnings, ...inventory.warnings];
  if (inventory.os === undefined && inventory.packages.length === 0) return finish(ended('UNSUPPORTED_IMAGE', UNSUPPORTED_OS), { warnings });

  const inventoryRef = await deps.content.putScanContent(
    repository,
    digest,
    'inventory',
    startedAt,
    encodeScanContent({ format: 1, ...(inventory.os ? { os: inventory.os } : {}), ...(inventory.ecosystem ? { ecosystem: inventory.ecosystem } : {}), packages: inventory.packages }),
  );
  const counts = { packages: inventory.packages.length, warnings };
  if (await deps.vulnerabilities.isEmpty()) return finish({ ...ended('FAILED', NO_VULNERABILITY_DATA), inventoryRef }, { ...counts, unevaluated: 0 });

  const matched = await matchInventory(deps.vulnerabilities, inventory.packages);
  const findingsRef = await deps.content.putScanContent(repository, digest, 'findings', startedAt, encodeScanContent({ format: 1, findings: matched.findings }));
  return finish(
    {
      ...ended('COMPLETE'),
      severityCounts: matched.severityCounts,
      ...(matched.vulnerabilitySourceUpdatedAt ? { vulnerabilitySourceUpdatedAt: matched.vulnerabilitySourceUpdatedAt } : {}),
      findingsRef,
      inventoryRef,
    },
    { ...counts, unevaluated: matched.unevaluated },
  );
}

/** Matches an inventory against the data of its ecosystems: what a scan and a rematch both do. */
export async function matchInventory(
  vulnerabilities: VulnerabilityData,
  packages: Parameters<typeof findingsOf>[0],
): Promise<{ findings: ReturnType<typeof findingsOf>; severityCounts: SeverityCounts; vulnerabilitySourceUpdatedAt?: string; unevaluated: number }> {
  const ecosystems = [...new Set(packages.map((p) => p.ecosystem))];
  const view = await vulnerabilities.forEcosystems(ecosystems);
  const unevaluated: UnevaluatedRange[] = [];
  const findings = findingsOf(packages, view.recordsForPackages(packages), { onUnevaluated: (u) => unevaluated.push(u) });
  const counts = { ...noFindings(), ...severityCounts(findings) };
  const sourceUpdatedAt = view.sourceUpdatedAt(ecosystems);
  return { findings, severityCounts: counts, ...(sourceUpdatedAt ? { vulnerabilitySourceUpdatedAt: sourceUpdatedAt } : {}), unevaluated: unevaluated.length };
}
