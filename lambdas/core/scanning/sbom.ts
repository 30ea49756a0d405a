/**
 * An image's software bill of materials (issue 15): CycloneDX JSON built from its inventory, and
 * the OCI artifact that attaches it to the image, so the referrers API lists it and generic OCI
 * tools (`oras discover` / `oras pull`, `regctl artifact`, `skopeo copy` by digest) fetch it.
 *
 * CycloneDX 1.5, not 1.6: every reader of 1.6 reads 1.5 (Dependency-Track, Trivy, Grype), some
 * readers of 1.5 refuse 1.6 (Amazon Inspector's ScanSbom takes 1.5), and nothing here needs 1.6.
 *
 * Property names (CycloneDX property taxonomy; `berth` is not a registered namespace, and `syft`
 * and `aquasecurity` are reserved to their tools, so their names are not borrowed):
 * - `berth:location`: the file the package was listed in (dpkg status, apk database, package.json
 *   or lock). CycloneDX 1.5's `evidence.occurrences` would say it too, but the library does not model it.
 * - `berth:osv-ecosystem`: the OSV ecosystem advisories for it are under (`Debian:12`, `npm`).
 * - `berth:source-name`, `berth:source-version`: the distribution source package (Debian `Source:`,
 *   Alpine origin) that advisories name, when the inventory has it.
 * - `berth:platform` on the image: `os/architecture[/variant]`.
 *
 * Same input, same bytes: components are sorted, bom-refs are derived from the packages, and the
 * serial number from the image digest and the timestamp. No `dependencies` graph is written: the
 * library would list every component with no dependencies, which CycloneDX reads as "has none",
 * while the inventory does not know them.
 */
import { createHash } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { digestOf } from '../digest';
import { parseDescriptor, parseManifest, type Descriptor } from '../manifest';
import { IMAGE_MANIFEST_TYPES, MediaTypes } from '../media-types';
import { purlOf } from './inventory/common';
import type { InstalledPackage, OsRelease } from './model';

/** The artifact type, and the SBOM layer's media type (IANA-registered for CycloneDX JSON). */
export const SBOM_ARTIFACT_TYPE = 'application/vnd.cyclonedx+json';
/** Names the tool that generated an SBOM artifact, so Berth can tell its own from ones users pushed. */
export const SBOM_GENERATOR_ANNOTATION = 'dev.berth.sbom.generator';
/** The layer's file name for tools that write layers to files (`oras pull` skips untitled layers). */
export const SBOM_FILE_NAME = 'sbom.cdx.json';

const EMPTY_JSON = new TextEncoder().encode('{}');
/** The OCI empty descriptor's blob, `{}`: sha256:44136fa3... */
export const EMPTY_CONFIG_DIGEST = digestOf(EMPTY_JSON);

/** RFC 4122 name-based (v5) UUIDs of SBOM serial numbers are in this namespace (a random UUID, fixed). */
const SERIAL_NAMESPACE = Buffer.from('5b4532c7d19140279f638ca9a9e40dbb', 'hex');

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface SbomImage {
  /** The repository, as pushed to (`team/app`). */
  repository: string;
  /** The image manifest's digest (a platform image's own, for an index's children). */
  digest: string;
  /** host[:port] of the registry: with it, the image gets a `pkg:oci` purl with its `repository_url`. */
  registry?: string;
  platform?: Platform;
}

export interface SbomTool {
  name: string;
  version: string;
}

export interface SbomInput {
  image: SbomImage;
  os?: OsRelease;
  packages: readonly InstalledPackage[];
  tool: SbomTool;
  timestamp: Date;
}

/** A blob an artifact references: stored in the repository before its manifest. */
export interface ArtifactBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Uint8Array;
}

export interface SbomArtifact {
  manifest: Uint8Array;
  mediaType: typeof MediaTypes.ociManifest;
  /** The manifest's sha256 digest. */
  digest: string;
  /** The empty config and the SBOM layer. */
  blobs: ArtifactBlob[];
}

export type SubjectDescriptor = Pick<Descriptor, 'mediaType' | 'digest' | 'size'>;

const utf8 = new TextEncoder();

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Code-unit order over every field, so that the order never depends on the input's or a locale's. */
function comparePackages(a: InstalledPackage, b: InstalledPackage): number {
  const key = (p: InstalledPackage): string[] => [p.purl ?? '', p.ecosystem, p.name, p.version, p.path, p.sourceName ?? '', p.sourceVersion ?? ''];
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < x.length; i++) {
    const c = compare(x[i], y[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/** The same package installed twice (two node_modules copies) keeps one component each: bom-refs must still differ. */
function uniqueRefs(candidates: readonly string[]): string[] {
  const taken = new Set<string>();
  return candidates.map((candidate) => {
    let ref = candidate;
    for (let n = 2; taken.has(ref); n++) ref = `${candidate}|${n}`;
    taken.add(ref);
    return ref;
  });
}

function properties(entries: Array<[string, string | undefined]>): Models.PropertyRepository {
  const repository = new Models.PropertyRepository();
  for (const [name, value] of entries) if (value !== undefined && value !== '') repository.add(new Models.Property(name, value));
  return repository;
}

function platformText(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join('/');
}

function imagePurl(image: SbomImage): string | undefined {
  if (!image.registry) return undefined;
  const name = image.repository.slice(image.repository.lastIndexOf('/') + 1);
  return purlOf('oci', undefined, name, image.digest, { arch: image.platform?.architecture, repository_url: `${image.registry}/${image.repository}` });
}

/** `urn:uuid:` of a v5 UUID named by the digest and time: unique per image and generation, yet reproducible. */
function serialNumberOf(digest: string, timestamp: Date): string {
  const hash = createHash('sha1').update(SERIAL_NAMESPACE).update(`${digest} ${timestamp.toISOString()}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The image's SBOM as CycloneDX 1.5 JSON (UTF-8, compact). */
export function buildSbom(input: SbomInput): Uint8Array {
  const { image, os, tool, timestamp } = input;
  const packages = [...input.packages].sort(comparePackages);
  const purl = imagePurl(image);
  const refs = uniqueRefs([
    purl ?? `${image.repository}@${image.digest}`,
    ...(os ? [`os:${os.id}@${os.versionId ?? ''}`] : []),
    ...packages.map((p) => p.purl ?? `${p.ecosystem}:${p.name}@${p.version}`),
  ]);
  const [imageRef, osRef] = refs;
  const packageRefs = refs.slice(os ? 2 : 1);

  const imageComponent = new Models.Component(Enums.ComponentType.Container, image.repository, {
    bomRef: imageRef,
    version: image.digest,
    ...(purl ? { purl } : {}),
    properties: properties([['berth:platform', image.platform ? platformText(image.platform) : undefined]]),
  });
  const components = new Models.ComponentRepository();
  if (os) {
    components.add(
      new Models.Component(Enums.ComponentType.OperatingSystem, os.id, {
        bomRef: osRef,
        ...(os.versionId ? { version: os.versionId } : {}),
        ...(os.prettyName ? { description: os.prettyName } : {}),
      }),
    );
  }
  packages.forEach((p, i) => {
    components.add(
      new Models.Component(Enums.ComponentType.Library, p.name, {
        bomRef: packageRefs[i],
        version: p.version,
        ...(p.purl ? { purl: p.purl } : {}),
        properties: properties([
          ['berth:location', p.path],
          ['berth:osv-ecosystem', p.ecosystem],
          ['berth:source-name', p.sourceName],
          ['berth:source-version', p.sourceVersion],
        ]),
      }),
    );
  });

  const tools = new Models.Tools();
  tools.components.add(new Models.Component(Enums.ComponentType.Application, tool.name, { version: tool.version }));
  const bom = new Models.Bom({
    serialNumber: serialNumberOf(image.digest, timestamp),
    metadata: new Models.Metadata({ timestamp, tools, component: imageComponent }),
    components,
  });
  // The normalizer, not JsonSerializer: the serializer gives components without a bom-ref random
  // ones (all have one here) and writes the dependency graph this module leaves out.
  const normalized = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot5).makeForBom().normalize(bom, { sortLists: false });
  return utf8.encode(JSON.stringify({ ...normalized, dependencies: undefined }));
}

/**
 * The OCI image manifest that carries an SBOM as an artifact of `subject`, as the image spec's
 * guidelines for artifacts without a config lay it out: `artifactType`, the empty config, one layer.
 * The empty descriptor leaves out the optional `data`: the blob is pushed anyway (a registry
 * checks that the config exists), and the spec's own artifact examples carry none.
 */
export function sbomArtifactManifest(sbom: Uint8Array, subject: SubjectDescriptor, options: { created: Date; annotations?: Record<string, string> }): SbomArtifact {
  const checked = parseDescriptor(subject, 'subject');
  const config: ArtifactBlob = { mediaType: MediaTypes.ociEmpty, digest: EMPTY_CONFIG_DIGEST, size: EMPTY_JSON.byteLength, bytes: EMPTY_JSON };
  const layer: ArtifactBlob = { mediaType: SBOM_ARTIFACT_TYPE, digest: digestOf(sbom), size: sbom.byteLength, bytes: sbom };
  const body = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: SBOM_ARTIFACT_TYPE,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: [
      { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, annotations: { 'org.opencontainers.image.title': SBOM_FILE_NAME } },
    ],
    subject: { mediaType: checked.mediaType, digest: checked.digest, size: checked.size },
    annotations: { 'org.opencontainers.image.created': options.created.toISOString(), ...options.annotations },
  };
  const manifest = utf8.encode(JSON.stringify(body));
  return { manifest, mediaType: MediaTypes.ociManifest, digest: digestOf(manifest), blobs: [config, layer] };
}

/** The SBOM of one image manifest and the artifact attaching it, stamped with the generating tool. */
export function imageSbomArtifact(input: SbomInput, subject: Omit<SubjectDescriptor, 'digest'>): SbomArtifact {
  return sbomArtifactManifest(
    buildSbom(input),
    { mediaType: subject.mediaType, digest: input.image.digest, size: subject.size },
    { created: input.timestamp, annotations: { [SBOM_GENERATOR_ANNOTATION]: `${input.tool.name} ${input.tool.version}` } },
  );
}

function platformOf(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { os, architecture, variant } = value as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return { os, architecture, ...(typeof variant === 'string' && variant !== '' ? { variant } : {}) };
}

/**
 * An index's platform images, each once: its image manifests, less the attestation manifests
 * BuildKit adds (`vnd.docker.reference.type`, platform `unknown/unknown`), artifacts (an
 * `artifactType`) and nested indexes, which have no packages of their own.
 */
export function platformImagesOf(index: Uint8Array): Array<{ descriptor: Descriptor; platform?: Platform }> {
  if (parseManifest(index, undefined).kind !== 'index') throw new Error('platformImagesOf: not an image index');
  const manifests = (JSON.parse(new TextDecoder().decode(index)) as { manifests: unknown[] }).manifests;
  const seen = new Set<string>();
  const images: Array<{ descriptor: Descriptor; platform?: Platform }> = [];
  manifests.forEach((value, i) => {
    const descriptor = parseDescriptor(value, `manifests[${i}]`);
    const platform = platformOf(descriptor.platform);
    const attestation =
      descriptor.annotations?.['vnd.docker.reference.type'] !== undefined || (platform?.os === 'unknown' && platform.architecture === 'unknown');
    if (!IMAGE_MANIFEST_TYPES.has(descriptor.mediaType) || descriptor.artifactType !== undefined || attestation || seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    images.push({ descriptor, ...(platform ? { platform } : {}) });
  });
  return images;
}

export interface IndexSbomInput {
  repository: string;
  registry?: string;
  /** The index manifest's body. */
  index: Uint8Array;
  /** Each platform image's inventory by its digest; one without (not scanned, or its scan failed) gets no SBOM. */
  inventories: ReadonlyMap<string, { os?: OsRelease; packages: readonly InstalledPackage[] }>;
  tool: SbomTool;
  timestamp: Date;
}

export interface PlatformSbomArtifact {
  subject: SubjectDescriptor;
  platform?: Platform;
  artifact: SbomArtifact;
}

/** One SBOM artifact per platform image of an index, each with that image as its subject. */
export function indexSbomArtifacts(input: IndexSbomInput): PlatformSbomArtifact[] {
  const artifacts: PlatformSbomArtifact[] = [];
  for (const { descriptor, platform } of platformImagesOf(input.index)) {
    const inventory = input.inventories.get(descriptor.digest);
    if (!inventory) continue;
    const image: SbomImage = {
      repository: input.repository,
      digest: descriptor.digest,
      ...(input.registry ? { registry: input.registry } : {}),
      ...(platform ? { platform } : {}),
    };
    const subject = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
    const sbomInput: SbomInput = { image, ...(inventory.os ? { os: inventory.os } : {}), packages: inventory.packages, tool: input.tool, timestamp: input.timestamp };
    const artifact = imageSbomArtifact(sbomInput, subject);
    artifacts.push({ subject, ...(platform ? { platform } : {}), artifact });
  }
  return artifacts;
}
