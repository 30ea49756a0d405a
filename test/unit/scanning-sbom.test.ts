/**
 * The SBOM (lambdas/core/scanning/sbom.ts): CycloneDX 1.5 JSON listing exactly an inventory's
 * packages, the same bytes for the same input, and the OCI artifact that attaches it to its image,
 * checked with the registry's own manifest parser and pushed through the real Registry so that
 * the referrers API lists it. The library's schema validator needs `ajv-formats-draft2019`, which
 * is not installed, so the document's structure is asserted field by field.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseManifest } from '../../lambdas/core/manifest';
import { Registry } from '../../lambdas/core/registry';
import { inventoryOf } from '../../lambdas/core/scanning/inventory';
import type { InstalledPackage } from '../../lambdas/core/scanning/model';
import {
  EMPTY_CONFIG_DIGEST,
  SBOM_ARTIFACT_TYPE,
  buildSbom,
  imageSbomArtifact,
  indexSbomArtifacts,
  platformImagesOf,
  sbomArtifactManifest,
  type SbomInput,
} from '../../lambdas/core/scanning/sbom';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { imageBlobs, makeImage, makeIndex, sha256, type Blob } from '../support/oci-fixtures';
import { scratchDir } from '../support/registry-harness';

const FIXTURES = join(__dirname, '../fixtures/scanning');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const TIMESTAMP = new Date('2024-06-01T12:00:00.000Z');
const TOOL = { name: 'berth', version: '0.1.0' };

/** Every file under a fixture image's root, keyed as the layer reader keys them (no leading slash). */
function image(dir: string): Map<string, Uint8Array> {
  const root = join(FIXTURES, dir);
  const files = new Map<string, Uint8Array>();
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(root);
  return files;
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

interface CdxComponent {
  type: string;
  name: string;
  version?: string;
  'bom-ref'?: string;
  purl?: string;
  properties?: Array<{ name: string; value: string }>;
}
/** What the tests read of a CycloneDX document. */
interface CdxBom {
  $schema: string;
  bomFormat: string;
  specVersion: string;
  version: number;
  serialNumber: string;
  metadata: { timestamp: string; component: CdxComponent };
  components: CdxComponent[];
}
interface ArtifactManifest {
  layers: Array<{ digest: string }>;
  annotations: Record<string, string>;
}
const json = <T = CdxBom>(bytes: Uint8Array): T => JSON.parse(text(bytes)) as T;

function debianInput(overrides: Partial<SbomInput> = {}): SbomInput {
  const inventory = inventoryOf(image('debian-12'));
  return {
    image: { repository: 'team/app', digest: DIGEST, registry: 'registry.example:5000', platform: { os: 'linux', architecture: 'amd64' } },
    os: inventory.os,
    packages: inventory.packages,
    tool: TOOL,
    timestamp: TIMESTAMP,
    ...overrides,
  };
}

const pkg = (name: string, version: string, path: string, extra: Partial<InstalledPackage> = {}): InstalledPackage => ({
  ecosystem: 'npm',
  name,
  version,
  path,
  purl: `pkg:npm/${name}@${version}`,
  ...extra,
});

describe('buildSbom', () => {
  it('Debian 12: CycloneDX 1.5 with the image as metadata.component, the OS, and exactly the inventory packages with their purls', () => {
    const input = debianInput();
    const sbom = json(buildSbom(input));

    expect(sbom.$schema).toBe('http://cyclonedx.org/schema/bom-1.5.schema.json');
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.specVersion).toBe('1.5');
    expect(sbom.version).toBe(1);
    expect(sbom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sbom).not.toHaveProperty('dependencies');
    expect(sbom.metadata).toStrictEqual({
      timestamp: '2024-06-01T12:00:00.000Z',
      tools: { components: [{ type: 'application', name: 'berth', version: '0.1.0' }] },
      component: {
        type: 'container',
        name: 'team/app',
        version: DIGEST,
        'bom-ref': `pkg:oci/app@${DIGEST}?arch=amd64&repository_url=registry.example:5000%2Fteam%2Fapp`,
        purl: `pkg:oci/app@${DIGEST}?arch=amd64&repository_url=registry.example:5000%2Fteam%2Fapp`,
        properties: [{ name: 'berth:platform', value: 'linux/amd64' }],
      },
    });

    const [osComponent, ...libraries] = sbom.components;
    expect(osComponent).toStrictEqual({ type: 'operating-system', name: 'debian', version: '12', 'bom-ref': 'os:debian@12', description: 'Debian GNU/Linux 12 (bookworm)' });
    expect(libraries).toHaveLength(15);
    const listed = libraries.map((c) => ({ type: c.type, name: c.name, version: c.version, purl: c.purl }));
    const expected = input.packages.map((p) => ({ type: 'library', name: p.name, version: p.version, purl: p.purl }));
    expect(listed).toStrictEqual(expected);
    expect(libraries.map((c) => c['bom-ref'])).toStrictEqual(input.packages.map((p) => p.purl));

    // A binary whose source package (and version) differ: what advisories name.
    expect(libraries.find((c) => c.name === 'libcap2')).toStrictEqual({
      type: 'library',
      name: 'libcap2',
      version: '1:2.66-4+deb12u2+b2',
      'bom-ref': 'pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u2%2Bb2?arch=amd64&distro=debian-12',
      purl: 'pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u2%2Bb2?arch=amd64&distro=debian-12',
      properties: [
        { name: 'berth:location', value: 'var/lib/dpkg/status' },
        { name: 'berth:osv-ecosystem', value: 'Debian:12' },
        { name: 'berth:source-name', value: 'libcap2' },
        { name: 'berth:source-version', value: '1:2.66-4+deb12u2' },
      ],
    });
    expect(libraries.find((c) => c.name === 'libssl3')?.properties).toContainEqual({ name: 'berth:source-name', value: 'openssl' });
  });

  it('gives the same bytes for the same input, whatever the packages order; the time changes only the timestamp and serial number', () => {
    const input = debianInput();
    const bytes = buildSbom(input);
    expect(text(buildSbom(debianInput()))).toBe(text(bytes));
    expect(text(buildSbom({ ...input, packages: [...input.packages].reverse() }))).toBe(text(bytes));

    const later = json(buildSbom({ ...input, timestamp: new Date('2024-06-02T00:00:00.000Z') }));
    const first = json(bytes);
    expect(later.serialNumber).not.toBe(first.serialNumber);
    expect(later.metadata.timestamp).toBe('2024-06-02T00:00:00.000Z');
    expect({ ...later, serialNumber: '', metadata: { ...later.metadata, timestamp: '' } }).toStrictEqual({ ...first, serialNumber: '', metadata: { ...first.metadata, timestamp: '' } });
    // Another image at the same time: another serial number.
    expect(json(buildSbom({ ...input, image: { ...input.image, digest: `sha256:${'cd'.repeat(32)}` } })).serialNumber).not.toBe(first.serialNumber);
  });

  it('writes exactly these bytes for a small image without registry or OS (no purl on the image, no OS component)', () => {
    const sbom = buildSbom({
      image: { repository: 'app', digest: DIGEST },
      packages: [pkg('b', '2.0.0', 'usr/src/app/package-lock.json'), pkg('a', '1.0.0', 'usr/src/app/node_modules/a/package.json')],
      tool: TOOL,
      timestamp: TIMESTAMP,
    });
    const location = (path: string) => `{"name":"berth:location","value":"${path}"},{"name":"berth:osv-ecosystem","value":"npm"}`;
    expect(text(sbom)).toBe(
      '{"$schema":"http://cyclonedx.org/schema/bom-1.5.schema.json","bomFormat":"CycloneDX","specVersion":"1.5","version":1,' +
        // uuid5(5b4532c7-d191-4027-9f63-8ca9a9e40dbb, '<digest> <timestamp>'), as Python's uuid module computes it.
        '"serialNumber":"urn:uuid:28b7d666-6be6-5f36-834b-c13bf8379254",' +
        `"metadata":{"timestamp":"2024-06-01T12:00:00.000Z","tools":{"components":[{"type":"application","name":"berth","version":"0.1.0"}]},"component":{"type":"container","name":"app","version":"${DIGEST}","bom-ref":"app@${DIGEST}"}},` +
        '"components":[' +
        `{"type":"library","name":"a","version":"1.0.0","bom-ref":"pkg:npm/a@1.0.0","purl":"pkg:npm/a@1.0.0","properties":[${location('usr/src/app/node_modules/a/package.json')}]},` +
        `{"type":"library","name":"b","version":"2.0.0","bom-ref":"pkg:npm/b@2.0.0","purl":"pkg:npm/b@2.0.0","properties":[${location('usr/src/app/package-lock.json')}]}` +
        ']}',
    );
  });

  it('keeps one component per installed copy, each with its own bom-ref, and names packages without a purl', () => {
    const sbom = json(
      buildSbom({
        image: { repository: 'app', digest: DIGEST },
        packages: [
          pkg('ms', '2.1.3', 'app/node_modules/debug/node_modules/ms/package.json'),
          pkg('ms', '2.1.3', 'app/node_modules/ms/package.json'),
          { ecosystem: 'npm', name: 'local', version: '0.0.1', path: 'app/package-lock.json' },
        ],
        tool: TOOL,
        timestamp: TIMESTAMP,
      }),
    );
    expect(sbom.components.map((c) => [c['bom-ref'], c.properties?.[0].value])).toStrictEqual([
      ['npm:local@0.0.1', 'app/package-lock.json'],
      ['pkg:npm/ms@2.1.3', 'app/node_modules/debug/node_modules/ms/package.json'],
      ['pkg:npm/ms@2.1.3|2', 'app/node_modules/ms/package.json'],
    ]);
    expect(sbom.components[0]).not.toHaveProperty('purl');
  });
});

describe('sbomArtifactManifest', () => {
  const subject = { mediaType: OCI_MANIFEST, digest: DIGEST, size: 1234 };

  it('is an OCI image manifest with the CycloneDX artifactType, the empty config, the SBOM as its one layer, and the image as subject', () => {
    const sbom = buildSbom(debianInput());
    const artifact = sbomArtifactManifest(sbom, subject, { created: TIMESTAMP, annotations: { 'com.example.note': 'x' } });
    expect(text(artifact.manifest)).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.cyclonedx+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 },
        layers: [{ mediaType: 'application/vnd.cyclonedx+json', digest: sha256(sbom), size: sbom.byteLength, annotations: { 'org.opencontainers.image.title': 'sbom.cdx.json' } }],
        subject,
        annotations: { 'org.opencontainers.image.created': '2024-06-01T12:00:00.000Z', 'com.example.note': 'x' },
      }),
    );
    expect(artifact.mediaType).toBe(OCI_MANIFEST);
    expect(artifact.digest).toBe(sha256(artifact.manifest));
    expect(artifact.blobs.map((b) => ({ ...b, bytes: text(b.bytes) }))).toStrictEqual([
      { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY_CONFIG_DIGEST, size: 2, bytes: '{}' },
      { mediaType: 'application/vnd.cyclonedx+json', digest: sha256(sbom), size: sbom.byteLength, bytes: text(sbom) },
    ]);
    expect(EMPTY_CONFIG_DIGEST).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it("passes the registry's own manifest validation as an image manifest whose blobs, subject and artifactType are the SBOM's", () => {
    const sbom = buildSbom(debianInput());
    const artifact = sbomArtifactManifest(sbom, subject, { created: TIMESTAMP });
    for (const contentType of [artifact.mediaType, undefined]) {
      expect(parseManifest(artifact.manifest, contentType)).toStrictEqual({
        mediaType: OCI_MANIFEST,
        kind: 'image',
        blobs: [EMPTY_CONFIG_DIGEST, sha256(sbom)],
        children: [],
        subject,
        artifactType: SBOM_ARTIFACT_TYPE,
        annotations: { 'org.opencontainers.image.created': '2024-06-01T12:00:00.000Z' },
      });
    }
  });

  it('refuses a subject the registry would refuse', () => {
    expect(() => sbomArtifactManifest(new Uint8Array(2), { ...subject, digest: 'sha256:nothex' }, { created: TIMESTAMP })).toThrow(/subject: digest/);
  });
});

describe('platformImagesOf', () => {
  const child = (digit: string, extra: Record<string, unknown> = {}) => ({ mediaType: OCI_MANIFEST, digest: `sha256:${digit.repeat(64)}`, size: 100, ...extra });
  const index = (manifests: object[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));

  it("keeps an index's platform images, once each, and leaves out attestations, artifacts and nested indexes", () => {
    const images = platformImagesOf(
      index([
        child('1', { platform: { os: 'linux', architecture: 'amd64' } }),
        child('2', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
        child('3', { platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': child('1').digest } }),
        child('4', { artifactType: 'application/spdx+json' }),
        child('5', { mediaType: 'application/vnd.oci.image.index.v1+json' }),
        child('1', { platform: { os: 'linux', architecture: 'amd64' } }),
        child('6', { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }),
      ]),
    );
    expect(images.map((i) => [i.descriptor.digest.slice(7, 8), i.platform])).toStrictEqual([
      ['1', { os: 'linux', architecture: 'amd64' }],
      ['2', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
      ['6', undefined],
    ]);
  });

  it('refuses an image manifest', () => {
    expect(() => platformImagesOf(Buffer.from(JSON.stringify(child('1', { schemaVersion: 2, config: child('2'), layers: [] }))))).toThrow(/not an image index/);
  });
});

describe('SBOM artifacts pushed to the Registry', () => {
  let work: { path: string; remove: () => void };
  let metadata: LmdbMetadataStore;
  let registry: Registry;

  beforeEach(async () => {
    work = scratchDir('scanning-sbom');
    metadata = await LmdbMetadataStore.open({ path: join(work.path, 'metadata') });
    registry = new Registry({ blobs: FilesystemBlobStore.open({ root: join(work.path, 'content') }), metadata });
  });
  afterEach(async () => {
    await metadata.close();
    work.remove();
  });

  async function pushBlobs(repository: string, blobs: Array<Pick<Blob, 'digest'> & { bytes: Uint8Array }>): Promise<void> {
    for (const blob of blobs) {
      const upload = await registry.startUpload(repository);
      await registry.completeUpload(repository, upload.id, blob.digest, { body: (async function* () { yield blob.bytes; })() });
    }
  }

  it('an index gets one SBOM per platform image, each listed by the referrers API of its image (and by artifactType)', async () => {
    const amd64 = makeImage({ layers: [10], seed: 'sbom-amd64' });
    const arm64 = makeImage({ layers: [10], seed: 'sbom-arm64', architecture: 'arm64' });
    const index = makeIndex([amd64, arm64]);
    for (const img of [amd64, arm64]) {
      await pushBlobs('team/app', imageBlobs(img));
      await registry.putManifest('team/app', img.manifest.digest, img.manifest.bytes, img.manifest.mediaType);
    }
    await registry.putManifest('team/app', 'v1', index.bytes, index.mediaType);

    const debian = inventoryOf(image('debian-12'));
    const alpine = inventoryOf(image('alpine-3.20'));
    const artifacts = indexSbomArtifacts({
      repository: 'team/app',
      index: index.bytes,
      inventories: new Map([
        [amd64.manifest.digest, debian],
        [arm64.manifest.digest, alpine],
      ]),
      tool: TOOL,
      timestamp: TIMESTAMP,
    });
    expect(artifacts.map((a) => [a.subject, a.platform])).toStrictEqual([
      [{ mediaType: OCI_MANIFEST, digest: amd64.manifest.digest, size: amd64.manifest.size }, { os: 'linux', architecture: 'amd64' }],
      [{ mediaType: OCI_MANIFEST, digest: arm64.manifest.digest, size: arm64.manifest.size }, { os: 'linux', architecture: 'arm64' }],
    ]);

    for (const [i, { artifact, subject }] of artifacts.entries()) {
      const sbom = json(artifact.blobs[1].bytes);
      expect(sbom.metadata.component.version).toBe(subject.digest);
      expect(sbom.components.length).toBe(1 + [debian, alpine][i].packages.length);
      await pushBlobs('team/app', artifact.blobs);
      const pushed = await registry.putManifest('team/app', artifact.digest, artifact.manifest, artifact.mediaType);
      expect(pushed).toStrictEqual({ digest: artifact.digest, subject: subject.digest });

      const listed = { mediaType: OCI_MANIFEST, digest: artifact.digest, size: artifact.manifest.byteLength, artifactType: SBOM_ARTIFACT_TYPE, annotations: json<ArtifactManifest>(artifact.manifest).annotations };
      expect((await registry.listReferrers('team/app', subject.digest)).index.manifests).toEqual([listed]);
      expect((await registry.listReferrers('team/app', subject.digest, { artifactType: SBOM_ARTIFACT_TYPE })).index.manifests).toEqual([listed]);
      expect(listed.annotations['dev.berth.sbom.generator']).toBe('berth 0.1.0');
    }
    // The index itself is no platform image: nothing refers to it.
    expect((await registry.listReferrers('team/app', index.digest)).index.manifests).toStrictEqual([]);
  });

  it('a platform image without an inventory gets no SBOM', () => {
    const amd64 = makeImage({ layers: [1], seed: 'sbom-missing' });
    const arm64 = makeImage({ layers: [1], seed: 'sbom-missing-arm', architecture: 'arm64' });
    const artifacts = indexSbomArtifacts({
      repository: 'team/app',
      index: makeIndex([amd64, arm64]).bytes,
      inventories: new Map([[arm64.manifest.digest, { packages: [] }]]),
      tool: TOOL,
      timestamp: TIMESTAMP,
    });
    expect(artifacts.map((a) => a.subject.digest)).toStrictEqual([arm64.manifest.digest]);
  });

  it('an image SBOM pushed by imageSbomArtifact reads back byte for byte', async () => {
    const img = makeImage({ layers: [10], seed: 'sbom-single' });
    await pushBlobs('team/app', imageBlobs(img));
    await registry.putManifest('team/app', 'v1', img.manifest.bytes, img.manifest.mediaType);
    const artifact = imageSbomArtifact(debianInput({ image: { repository: 'team/app', digest: img.manifest.digest } }), { mediaType: img.manifest.mediaType, size: img.manifest.size });
    await pushBlobs('team/app', artifact.blobs);
    await registry.putManifest('team/app', artifact.digest, artifact.manifest, artifact.mediaType);

    const manifest = await registry.getManifest('team/app', artifact.digest);
    expect(text(manifest.body)).toBe(text(artifact.manifest));
    const layer = json<ArtifactManifest>(manifest.body).layers[0];
    const read = await registry.readBlob('team/app', layer.digest);
    if (read.kind !== 'bytes') throw new Error(`expected the blob's bytes, got a ${read.kind}`);
    const chunks: Buffer[] = [];
    for await (const chunk of read.stream) chunks.push(Buffer.from(chunk));
    expect(text(Buffer.concat(chunks))).toBe(text(artifact.blobs[1].bytes));
    expect(json(Buffer.concat(chunks)).metadata.component.version).toBe(img.manifest.digest);
  });
});
