/**
 * `berth gc` on a data directory a real `berth serve` wrote: what it unlinks and deletes, what it
 * keeps (shared content, young content, everything a manifest uses), and that it refuses to run
 * beside a server.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, scratchDir, startRegistryProcess } from '../support/registry-harness';
import { RegistryClient, descriptor, manifestOf } from '../support/http-client';
import { blobOf, imageBlobs, makeImage, pseudoRandomBytes, sha256 } from '../support/oci-fixtures';

const berth = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });

const contentPath = (dataDir: string, digest: string) => join(dataDir, 'content', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

function contentFiles(dataDir: string): string[] {
  const root = join(dataDir, 'content', 'blobs', 'sha256');
  return readdirSync(root).flatMap((shard) => readdirSync(join(root, shard)).map((hex) => `sha256:${hex}`)).sort();
}

describe('berth gc', () => {
  const work = scratchDir('gc');
  afterAll(() => work.remove());

  test('GIVEN deleted images, an orphan upload and content shared across repositories WHEN collected THEN only what no manifest uses goes, and the rest still pulls', async () => {
    const dataDir = join(work.path, 'data');
    const kept = makeImage({ layers: [3000, 2000], seed: 'gc-kept' });
    const deleted = makeImage({ layers: [4000, 1000], seed: 'gc-deleted' });
    const orphan = blobOf(pseudoRandomBytes(5000, 'gc-orphan'));

    const server = await startRegistryProcess(dataDir);
    const client = new RegistryClient(server.url);
    try {
      await client.pushImage('team/kept', kept, 'v1');
      // The same image in a second repository, then deleted there: its content is still linked in team/kept.
      await client.pushImage('team/shared', kept, 'v1');
      expect((await client.delete(`/v2/team/shared/manifests/${kept.manifest.digest}`)).status).toBe(202);
      await client.pushImage('team/deleted', deleted, 'v1');
      expect((await client.delete(`/v2/team/deleted/manifests/${deleted.manifest.digest}`)).status).toBe(202);
      // A layer uploaded for a manifest that never came.
      await client.pushBlob('team/kept', orphan);

      // Beside a running server: refused, nothing touched.
      const busy = berth(['gc', '--data-dir', dataDir, '--min-age', '0']);
      expect(busy.status).toBe(2);
      expect(busy.stderr).toMatch(/in use by another Berth process/);
    } finally {
      await server.kill('SIGTERM');
    }
    const before = contentFiles(dataDir);
    const goneDigests = [...imageBlobs(deleted).map((b) => b.digest), orphan.digest].sort();
    expect(before).toEqual(expect.arrayContaining([...goneDigests, ...imageBlobs(kept).map((b) => b.digest)]));

    // A dry run lists the plan and changes nothing.
    const dry = berth(['gc', '--data-dir', dataDir, '--min-age', '0', '--dry-run']);
    expect(dry.status).toBe(0);
    for (const blob of imageBlobs(kept)) expect(dry.stdout).toContain(`unlink team/shared ${blob.digest}`);
    for (const blob of imageBlobs(deleted)) expect(dry.stdout).toContain(`unlink team/deleted ${blob.digest}`);
    expect(dry.stdout).toContain(`unlink team/kept ${orphan.digest}`);
    const plannedDeletes = [...dry.stdout.matchAll(/^delete (sha256:[0-9a-f]{64})/gm)].map((m) => m[1]).sort();
    expect(plannedDeletes).toEqual(goneDigests);
    expect(dry.stdout).toMatch(/1 manifest; would unlink 7 blob links no manifest uses, would delete 4 content files/);
    expect(contentFiles(dataDir)).toEqual(before);

    // The default minimum age (an hour) keeps everything this young.
    const young = berth(['gc', '--data-dir', dataDir]);
    expect(young.status).toBe(0);
    expect(young.stdout).toMatch(/unlinked 0 blob links no manifest uses, deleted 0 content files \(0\.0 MiB\); kept 7 blobs newer than --min-age 1h/);
    expect(contentFiles(dataDir)).toEqual(before);

    const collected = berth(['gc', '--data-dir', dataDir, '--min-age', '0']);
    expect(collected.stderr).toBe('');
    expect(collected.status).toBe(0);
    expect(collected.stdout).toMatch(/3 repositories, 1 manifest; unlinked 7 blob links no manifest uses, deleted 4 content files/);
    expect(contentFiles(dataDir)).toEqual(before.filter((d) => !goneDigests.includes(d)));
    for (const digest of goneDigests) expect(existsSync(contentPath(dataDir, digest))).toBe(false);

    // A second collection finds nothing left to do.
    expect(berth(['gc', '--data-dir', dataDir, '--min-age', '0']).stdout).toMatch(/unlinked 0 blob links no manifest uses, deleted 0 content files/);

    const again = await startRegistryProcess(dataDir);
    const after = new RegistryClient(again.url);
    try {
      const manifest = await after.get('/v2/team/kept/manifests/v1', { Accept: kept.manifest.mediaType });
      expect(manifest.status).toBe(200);
      for (const blob of imageBlobs(kept)) {
        const res = await after.get(`/v2/team/kept/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(blob.digest);
      }
      for (const [repo, digest] of [
        ['team/deleted', deleted.layers[0].digest],
        ['team/shared', kept.layers[0].digest],
        ['team/kept', orphan.digest],
      ]) {
        expect((await after.get(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
      }
      // The repositories are there still, and take pushes again.
      await after.pushImage('team/deleted', deleted, 'v2');
      expect((await after.get(`/v2/team/deleted/blobs/${deleted.layers[0].digest}`)).status).toBe(200);
    } finally {
      await again.kill('SIGTERM');
    }
  }, 180_000);

  test('GIVEN old content linked anew (a mount), a pushed non-distributable layer and a stray file WHEN collected THEN the mount waits out the age, the foreign layer stays, and the stray file is left alone', async () => {
    const dataDir = join(work.path, 'data-2');
    const image = makeImage({ layers: [3000], seed: 'gc-mounted' });
    const config = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'windows', rootfs: { type: 'layers', diff_ids: [] } })), 'application/vnd.oci.image.config.v1+json');
    const layer = blobOf(pseudoRandomBytes(2000, 'gc-foreign-base'), 'application/vnd.oci.image.layer.v1.tar+gzip');
    const foreign = blobOf(pseudoRandomBytes(2500, 'gc-foreign'), 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip');
    const foreignManifest = manifestOf({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor(config),
      layers: [{ ...descriptor(foreign), urls: ['https://example.com/base.tar.gz'] }, descriptor(layer)],
    });

    const server = await startRegistryProcess(dataDir);
    const client = new RegistryClient(server.url);
    try {
      await client.pushImage('old/a', image, 'v1');
      // The content is two hours old; old/b links it now, by a mount, for a push the stop cuts off.
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
      for (const blob of imageBlobs(image)) utimesSync(contentPath(dataDir, blob.digest), twoHoursAgo, twoHoursAgo);
      for (const blob of imageBlobs(image)) expect((await client.request('POST', `/v2/old/b/blobs/uploads/?mount=${blob.digest}&from=old/a`)).status).toBe(201);
      expect((await client.delete(`/v2/old/a/manifests/${image.manifest.digest}`)).status).toBe(202);
      // A Windows-style image whose foreign layer was pushed anyway (the record of the manifest leaves it out).
      for (const blob of [config, layer, foreign]) await client.pushBlob('foreign/app', blob);
      expect((await client.putManifest('foreign/app', 'v1', foreignManifest)).status).toBe(201);
      const foreignAge = new Date(Date.now() - 2 * 60 * 60 * 1000);
      utimesSync(contentPath(dataDir, foreign.digest), foreignAge, foreignAge);
    } finally {
      await server.kill('SIGTERM');
    }
    writeFileSync(join(dataDir, 'content', 'blobs', '.DS_Store'), 'not content');

    const byDefault = berth(['gc', '--data-dir', dataDir]);
    expect(byDefault.stderr).toBe('');
    expect(byDefault.stdout).toMatch(/unlinked 0 blob links no manifest uses, deleted 0 content files/);
    for (const blob of imageBlobs(image)) expect(existsSync(contentPath(dataDir, blob.digest))).toBe(true);

    const collected = berth(['gc', '--data-dir', dataDir, '--min-age', '0']);
    expect(collected.stderr).toBe('');
    // The mounted image's blobs, linked in old/a and old/b, go; the foreign layer stays with its manifest.
    expect(collected.stdout).toMatch(/unlinked 4 blob links no manifest uses, deleted 2 content files/);
    for (const blob of imageBlobs(image)) expect(existsSync(contentPath(dataDir, blob.digest))).toBe(false);
    expect(existsSync(join(dataDir, 'content', 'blobs', '.DS_Store'))).toBe(true);

    const again = await startRegistryProcess(dataDir);
    try {
      const res = await new RegistryClient(again.url).get(`/v2/foreign/app/blobs/${foreign.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(foreign.digest);
    } finally {
      await again.kill('SIGTERM');
    }
  }, 180_000);

  test('GIVEN no data directory WHEN run THEN it says so and creates none', () => {
    const missing = join(work.path, 'never-written');
    const result = berth(['gc', '--data-dir', missing]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no data directory at/);
    expect(existsSync(missing)).toBe(false);
  });

  test('GIVEN a malformed --min-age WHEN run THEN it says what it takes', () => {
    const result = berth(['gc', '--data-dir', join(work.path, 'unused'), '--min-age', 'soon']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--min-age must be a number with an optional unit s, m, h or d/);
  });
});
