// One scan, start to finish (lambdas/core/scanning/scan-image.ts): layers made from the fixture images
// made of real package databases (test/fixtures/scanning/), the OSV fixtures imported into local
// mode's vulnerability data store, recording fakes of the scan record and content ports.
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { createHash } from 'node:crypto';
import { inventoryOf } from '../../lambdas/core/scanning/inventory';
import { findingsOf } from '../../lambdas/core/scanning/osv/findings';
import { parseOsvRecord } from '../../lambdas/core/scanning/osv/record';
import { decodeFindings, decodeInventory } from '../../lambdas/core/scanning/scan-content';
import { scanImage, UNSUPPORTED_ARTIFACT, UNSUPPORTED_INDEX, UNSUPPORTED_OS, type ScanImageDependencies } from '../../lambdas/core/scanning/scan-image';
import type { ImageScanResult } from '../../lambdas/core/scanning/scan-records';
import { importVulnerabilityData } from '../../lambdas/core/scanning/vulndb/import';
import { NO_VULNERABILITY_DATA, VulnerabilityData } from '../../lambdas/core/scanning/vulndb/lookup';
import type { StoredManifest } from '../../lambdas/core/model';
import { FilesystemVulnerabilityData } from '../../lambdas/storage/local/filesystem-vulnerability-data';
import { scratchDir } from '../support/registry-harness';
import { fixtureImageFiles, osvFixtureRecords } from '../support/scanning-fixtures';

const OSV_RECORDS = osvFixtureRecords();
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const scratch: Array<{ remove(): void }> = [];
afterAll(() => scratch.forEach((d) => d.remove()));
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A gzip tar layer of `files` (plus entries such as a symlink). */
async function layer(files: Map<string, Buffer>, extra: Array<{ name: string; type: 'symlink'; linkname: string }> = []): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const [name, content] of files) tar.entry({ name, size: content.length }, content);
  for (const entry of extra) tar.entry({ name: entry.name, type: entry.type, linkname: entry.linkname });
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

interface Harness {
  deps: ScanImageDependencies;
  finished: ImageScanResult[];
  content: Map<string, Uint8Array>;
  addImage(repository: string, layers: Buffer[], config?: { mediaType?: string; artifactType?: string }): string;
  addManifest(repository: string, manifest: StoredManifest): void;
}

async function harness(options: { vulnerabilityData: boolean }): Promise<Harness> {
  const dir = scratchDir('scan-image');
  scratch.push(dir);
  const store = new FilesystemVulnerabilityData({ root: dir.path });
  if (options.vulnerabilityData) await importVulnerabilityData(store, OSV_RECORDS);
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, StoredManifest>();
  const finished: ImageScanResult[] = [];
  const content = new Map<string, Uint8Array>();
  const deps: ScanImageDependencies = {
    getManifest: async (repository, digest) => manifests.get(`${repository}@${digest}`) ?? null,
    readManifestBody: async () => {
      throw new Error('bodies are inline here');
    },
    openBlob: async (digest) => {
      const bytes = blobs.get(digest);
      if (!bytes) throw new Error(`no blob ${digest}`);
      return (async function* () {
        yield bytes;
      })();
    },
    scans: {
      finishScan: async (_repository, _digest, result) => {
        finished.push(result);
        return { ok: true } as Awaited<ReturnType<ScanImageDependencies['scans']['finishScan']>>;
      },
    },
    content: {
      putScanContent: async (repository, digest, kind, scanId, bytes) => {
        const ref = `${repository}/${digest}/${kind}-${scanId}`;
        content.set(ref, bytes);
        return ref;
      },
    },
    vulnerabilities: new VulnerabilityData(store),
    log: quiet,
    now: () => new Date('2026-12-03T12:00:00.000Z'),
  };
  const addManifest = (repository: string, manifest: StoredManifest) => manifests.set(`${repository}@${manifest.digest}`, manifest);
  const addImage = (repository: string, layerBlobs: Buffer[], config: { mediaType?: string; artifactType?: string } = {}) => {
    const configBytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
    blobs.set(sha(configBytes), configBytes);
    for (const l of layerBlobs) blobs.set(sha(l), l);
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...(config.artifactType ? { artifactType: config.artifactType } : {}),
        config: { mediaType: config.mediaType ?? 'application/vnd.oci.image.config.v1+json', digest: sha(configBytes), size: configBytes.length },
        layers: layerBlobs.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
      }),
    );
    const digest = sha(body);
    addManifest(repository, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: body.length, blobs: [sha(configBytes), ...layerBlobs.map(sha)], children: [], pushedAt: '2026-12-03T11:00:00.000Z', body });
    return digest;
  };
  return { deps, finished, content, addImage, addManifest };
}

const STARTED = '2026-12-03T11:00:00.000Z';

describe('scanImage', () => {
  test('GIVEN a Debian 12 image in two layers (os-release a symlink) WHEN scanned THEN COMPLETE with exactly the findings of its inventory, and the inventory and findings stored', async () => {
    const h = await harness({ vulnerabilityData: true });
    const files = fixtureImageFiles('debian-12');
    const osRelease = files.get('etc/os-release')!;
    files.delete('etc/os-release');
    const base = await layer(new Map([['usr/lib/os-release', osRelease]]), [{ name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' }]);
    const top = await layer(files);
    const digest = h.addImage('team/debian', [base, top]);

    const outcome = await scanImage(h.deps, 'team/debian', digest, STARTED);

    const expectedInventory = inventoryOf(new Map([...fixtureImageFiles('debian-12')]));
    const expected = findingsOf(expectedInventory.packages, OSV_RECORDS.map((r) => parseOsvRecord(r)), { onUnevaluated: () => undefined });
    expect(expected.length).toBeGreaterThan(0);
    expect(outcome.result).toMatchObject({ status: 'COMPLETE', completedAt: '2026-12-03T12:00:00.000Z' });
    expect(outcome.packages).toBe(expectedInventory.packages.length);
    const findings = decodeFindings(h.content.get(outcome.result.findingsRef!)!).findings;
    expect(findings).toEqual(expected);
    const total = Object.values(outcome.result.severityCounts!).reduce((a, b) => a + b, 0);
    expect(total).toBe(expected.length);
    expect(outcome.result.vulnerabilitySourceUpdatedAt).toMatch(/^\d{4}-/);
    const inventory = decodeInventory(h.content.get(outcome.result.inventoryRef!)!);
    expect(inventory.ecosystem).toBe('Debian:12');
    expect(inventory.packages).toEqual(expectedInventory.packages);
    expect(h.finished).toEqual([outcome.result]);
  });

  test('GIVEN no vulnerability data imported WHEN an image is scanned THEN FAILED "no vulnerability data imported", never a scan without findings, and its inventory stored for the first import', async () => {
    const h = await harness({ vulnerabilityData: false });
    const digest = h.addImage('team/alpine', [await layer(fixtureImageFiles('alpine-3.20'))]);
    const outcome = await scanImage(h.deps, 'team/alpine', digest, STARTED);
    expect(outcome.result).toEqual({ status: 'FAILED', description: NO_VULNERABILITY_DATA, completedAt: '2026-12-03T12:00:00.000Z', inventoryRef: expect.any(String) });
    expect(decodeInventory(h.content.get(outcome.result.inventoryRef!)!).ecosystem).toBe('Alpine:v3.20');
  });

  test('GIVEN what is not a scannable image WHEN scanned THEN UNSUPPORTED_IMAGE, saying why', async () => {
    const h = await harness({ vulnerabilityData: true });
    const artifact = h.addImage('team/a', [await layer(new Map([['sbom.json', Buffer.from('{}')]]))], { artifactType: 'application/vnd.cyclonedx+json', mediaType: 'application/vnd.oci.empty.v1+json' });
    expect((await scanImage(h.deps, 'team/a', artifact, STARTED)).result).toMatchObject({ status: 'UNSUPPORTED_IMAGE', description: UNSUPPORTED_ARTIFACT });
    const scratch = h.addImage('team/a', [await layer(new Map([['app/server', Buffer.from('binary')]]))]);
    expect((await scanImage(h.deps, 'team/a', scratch, STARTED)).result).toMatchObject({ status: 'UNSUPPORTED_IMAGE', description: UNSUPPORTED_OS });
    h.addManifest('team/a', { digest: `sha256:${'1'.repeat(64)}`, mediaType: 'application/vnd.oci.image.index.v1+json', size: 2, blobs: [], children: [artifact], pushedAt: STARTED, body: Buffer.from('{}') });
    expect((await scanImage(h.deps, 'team/a', `sha256:${'1'.repeat(64)}`, STARTED)).result).toMatchObject({ status: 'UNSUPPORTED_IMAGE', description: UNSUPPORTED_INDEX });
  });

  test('GIVEN a corrupt layer WHEN scanned THEN FAILED naming the layer, nothing stored', async () => {
    const h = await harness({ vulnerabilityData: true });
    const good = await layer(fixtureImageFiles('debian-12'));
    const corrupt = Buffer.concat([good.subarray(0, 40), Buffer.from('not gzip any more')]);
    const digest = h.addImage('team/broken', [corrupt]);
    const outcome = await scanImage(h.deps, 'team/broken', digest, STARTED);
    expect(outcome.result.status).toBe('FAILED');
    expect(outcome.result.description).toContain(sha(corrupt));
    expect(h.content.size).toBe(0);
  });

  test('GIVEN the image deleted before its scan ran WHEN scanned THEN the finish says so (and the store refuses it for a deleted image)', async () => {
    const h = await harness({ vulnerabilityData: true });
    const outcome = await scanImage(h.deps, 'team/gone', `sha256:${'2'.repeat(64)}`, STARTED);
    expect(outcome.result).toMatchObject({ status: 'FAILED' });
  });
});
