/**
 * Scan on push in local mode, through the registry as the server composes it (openLocalRegistry): a
 * push to a repository with scanOnPush commits its IN_PROGRESS scan record with the manifest, the
 * PUSH event queues the scan, the scanner reads the layers (a Debian 12 image made from the fixture
 * package database, os-release a symlink) and matches them against the OSV fixtures imported with
 * the vulnerability data store; a repository without scanOnPush gets no scan; no data imported ends
 * the scan FAILED "no vulnerability data imported".
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { openLocalRegistry, type LocalRegistry } from '../../lambdas/composition/local/local-registry';
import { DEFAULT_REPOSITORY_SETTINGS } from '../../lambdas/core/model';
import { inventoryOf } from '../../lambdas/core/scanning/inventory';
import { findingsOf } from '../../lambdas/core/scanning/osv/findings';
import { parseOsvRecord } from '../../lambdas/core/scanning/osv/record';
import { decodeFindings } from '../../lambdas/core/scanning/scan-content';
import { importVulnerabilityData } from '../../lambdas/core/scanning/vulndb/import';
import { NO_VULNERABILITY_DATA } from '../../lambdas/core/scanning/vulndb/lookup';
import { FilesystemScanContent } from '../../lambdas/storage/local/filesystem-scan-content';
import { FilesystemVulnerabilityData } from '../../lambdas/storage/local/filesystem-vulnerability-data';
import { scratchDir } from '../support/registry-harness';
import { fixtureImageFiles, osvFixtureRecords } from '../support/scanning-fixtures';

const OSV_RECORDS = osvFixtureRecords();
const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function gzipLayer(files: Map<string, Buffer>): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const [name, content] of files) {
    if (name === 'etc/os-release') {
      tar.entry({ name: 'usr/lib/os-release', size: content.length }, content);
      tar.entry({ name, type: 'symlink', linkname: '../usr/lib/os-release' });
    } else {
      tar.entry({ name, size: content.length }, content);
    }
  }
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

async function pushImage(local: LocalRegistry, repository: string, fixture: string, tag: string): Promise<string> {
  const layer = await gzipLayer(fixtureImageFiles(fixture));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  for (const blob of [layer, config]) {
    await local.registry.uploadWhole(repository, sha(blob), { body: (async function* () { yield blob; })(), contentLength: blob.length });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return (await local.registry.putManifest(repository, tag, manifest, 'application/vnd.oci.image.manifest.v1+json')).digest;
}

async function scanned(local: LocalRegistry, repository: string, digest: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const record = await local.metadata.getScan(repository, digest);
    if ((record && record.status !== 'IN_PROGRESS') || Date.now() > deadline) return record;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('scan on push in local mode', () => {
  let work: ReturnType<typeof scratchDir>;
  beforeAll(() => {
    work = scratchDir('scan-on-push');
  });
  afterAll(() => work?.remove());

  test('GIVEN OSV data imported and a repository with scanOnPush WHEN a Debian image is pushed THEN IN_PROGRESS at once, then COMPLETE with its findings; a repository without scanOnPush gets no scan', async () => {
    const dataDir = join(work.path, 'with-data');
    await importVulnerabilityData(new FilesystemVulnerabilityData({ root: join(dataDir, 'vulndb') }), OSV_RECORDS);
    const local = await openLocalRegistry(dataDir, quiet);
    try {
      await local.metadata.createRepository('team/scanned', { ...DEFAULT_REPOSITORY_SETTINGS, imageScanningConfiguration: { scanOnPush: true } });
      await local.metadata.createRepository('team/plain', DEFAULT_REPOSITORY_SETTINGS);
      const digest = await pushImage(local, 'team/scanned', 'debian-12', 'v1');
      // Committed with the push: asked at once, the scan is IN_PROGRESS (or already done).
      expect((await local.metadata.getScan('team/scanned', digest))?.status).toMatch(/^(IN_PROGRESS|COMPLETE)$/);
      const record = await scanned(local, 'team/scanned', digest);
      expect(record).toMatchObject({ status: 'COMPLETE', findingsRef: expect.any(String), inventoryRef: expect.any(String) });
      const expected = findingsOf(inventoryOf(fixtureImageFiles('debian-12')).packages, OSV_RECORDS.map((r) => parseOsvRecord(r)), { onUnevaluated: () => undefined });
      const stored = await new FilesystemScanContent({ root: join(dataDir, 'scans') }).readScanContent(record!.findingsRef!);
      expect(decodeFindings(stored!).findings).toEqual(expected);
      expect(Object.values(record!.severityCounts).reduce((a, b) => a + b, 0)).toBe(expected.length);

      const plain = await pushImage(local, 'team/plain', 'debian-12', 'v1');
      await local.scanning.idle();
      expect(await local.metadata.getScan('team/plain', plain)).toBeNull();
    } finally {
      await local.close();
    }
  });

  test('GIVEN no vulnerability data WHEN a scanned repository gets a push THEN the scan ends FAILED "no vulnerability data imported"', async () => {
    const local = await openLocalRegistry(join(work.path, 'without-data'), quiet);
    try {
      await local.metadata.createRepository('team/alpine', { ...DEFAULT_REPOSITORY_SETTINGS, imageScanningConfiguration: { scanOnPush: true } });
      const digest = await pushImage(local, 'team/alpine', 'alpine-3.20', 'v1');
      expect(await scanned(local, 'team/alpine', digest)).toMatchObject({ status: 'FAILED', description: NO_VULNERABILITY_DATA, inventoryRef: expect.any(String) });
    } finally {
      await local.close();
    }
  });
});
