/**
 * docker 20.10 (the legacy image store: POST, one PATCH with `Transfer-Encoding: chunked`,
 * PUT ?digest=, then HEAD; cross-repository mounts with POST ?mount=&from=) against a real
 * `berth serve` process, through a private dockerd (test/support/dockerd.ts).
 *
 * docker keeps layers uncompressed and gzips them again on push, so the pushed manifest is
 * docker's own; what must survive is the config (the image ID) and every layer's content
 * (its diff ID), and the digest docker reports must be the one the registry serves.
 */
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describeWithBinaries, run } from '../support/clients';
import { startDockerd, type DockerDaemon } from '../support/dockerd';
import { startRegistryProcess, scratchDir, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, writeLayout, sha256, type Image } from '../support/oci-fixtures';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

describeWithBinaries(['dockerd', 'docker', 'skopeo'], 'docker against berth serve', () => {
  let work: ReturnType<typeof scratchDir>;
  let registry: RegistryProcess;
  let daemon: DockerDaemon;
  let repoCounter = 0;
  const docker = (...args: string[]) => run('docker', args, { env: daemon.env });
  const skopeo = (...args: string[]) => run('skopeo', args);
  const freshRepo = (what: string) => `${registry.host}/docker/${what}-${process.pid}-${++repoCounter}`;

  beforeAll(async () => {
    work = scratchDir('docker');
    [registry, daemon] = await Promise.all([startRegistryProcess(join(work.path, 'data')), startDockerd(join(work.path, 'dockerd'))]);
  });
  afterAll(async () => {
    await daemon?.stop();
    await registry?.stop();
    work?.remove();
  });

  /** Loads a fixture image into dockerd as `ref`, through skopeo's docker-archive. */
  function load(image: Image, ref: string): void {
    const layout = join(work.path, `layout-${repoCounter}`);
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    const archive = join(work.path, `image-${repoCounter}.tar`);
    skopeo('copy', `oci:${layout}:v1`, `docker-archive:${archive}:${ref}`);
    expect(docker('load', '-i', archive)).toContain(`Loaded image: ${ref}`);
  }

  function inspect(ref: string): { Id: string; RepoDigests: string[]; RootFS: { Layers: string[] } } {
    return JSON.parse(docker('image', 'inspect', ref))[0];
  }

  function pushedDigest(output: string): string {
    const match = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(output);
    if (!match) throw new Error(`docker push printed no digest:\n${output}`);
    return match[1];
  }

  async function get(path: string, accept?: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
    const response = await fetch(`${registry.url}${path}`, { headers: accept ? { Accept: accept } : {} });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  }

  /** The registry holds `digest` under `repo` as docker pushed it: config byte for byte, every layer's content intact. */
  async function expectStored(repo: string, digest: string, image: Image): Promise<void> {
    const name = repo.slice(registry.host.length + 1);
    const manifest = await get(`/v2/${name}/manifests/${digest}`, DOCKER_MANIFEST);
    expect(manifest.status).toBe(200);
    expect(sha256(manifest.body)).toBe(digest);
    expect(manifest.headers.get('docker-content-digest')).toBe(digest);
    const parsed = JSON.parse(manifest.body.toString());
    expect(parsed.mediaType).toBe(DOCKER_MANIFEST);
    expect(parsed.config.digest).toBe(image.config.digest);
    const config = await get(`/v2/${name}/blobs/${image.config.digest}`);
    expect(config.body.equals(image.config.bytes)).toBe(true);
    const diffIds: string[] = JSON.parse(image.config.bytes.toString()).rootfs.diff_ids;
    expect(parsed.layers).toHaveLength(diffIds.length);
    for (const [i, layer] of parsed.layers.entries()) {
      const blob = await get(`/v2/${name}/blobs/${layer.digest}`);
      expect(blob.status).toBe(200);
      expect(sha256(blob.body)).toBe(layer.digest);
      expect(blob.body.length).toBe(layer.size);
      expect(sha256(gunzipSync(blob.body))).toBe(diffIds[i]);
    }
  }

  test('GIVEN an image loaded into docker WHEN docker pushes it and pulls it back by tag and by digest THEN the RepoDigest is the pushed digest and the image is intact', async () => {
    const image = makeImage({ layers: [300 * 1024, 64 * 1024], seed: `docker-${process.pid}-a` });
    const diffIds: string[] = JSON.parse(image.config.bytes.toString()).rootfs.diff_ids;
    const repo = freshRepo('app');
    load(image, `${repo}:v1`);
    expect(inspect(`${repo}:v1`).Id).toBe(image.config.digest);

    const digest = pushedDigest(docker('push', `${repo}:v1`));
    await expectStored(repo, digest, image);
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${repo}:v1`));
    expect(inspected.Digest).toBe(digest);
    expect(inspected.Layers).toHaveLength(2);
    expect(JSON.parse(skopeo('list-tags', '--tls-verify=false', `docker://${repo}`)).Tags).toEqual(['v1']);

    docker('rmi', `${repo}:v1`);
    expect(() => inspect(`${repo}:v1`)).toThrow(/No such image/i);
    expect(docker('pull', `${repo}:v1`)).toContain(`Digest: ${digest}`);
    const byTag = inspect(`${repo}:v1`);
    expect(byTag.Id).toBe(image.config.digest);
    expect(byTag.RepoDigests).toEqual([`${repo}@${digest}`]);
    expect(byTag.RootFS.Layers).toEqual(diffIds);

    docker('rmi', `${repo}:v1`);
    docker('pull', `${repo}@${digest}`);
    const byDigest = inspect(`${repo}@${digest}`);
    expect(byDigest.Id).toBe(image.config.digest);
    expect(byDigest.RepoDigests).toEqual([`${repo}@${digest}`]);
    expect(byDigest.RootFS.Layers).toEqual(diffIds);
    docker('rmi', `${repo}@${digest}`);
  });

  test('GIVEN an image already pushed to one repository WHEN docker pushes it to another THEN the layers are mounted and both serve the same digest', async () => {
    const image = makeImage({ layers: [128 * 1024], seed: `docker-${process.pid}-b` });
    const first = freshRepo('source');
    const second = freshRepo('mounted');
    load(image, `${first}:v1`);
    const digest = pushedDigest(docker('push', `${first}:v1`));

    docker('tag', `${first}:v1`, `${second}:v2`);
    const output = docker('push', `${second}:v2`);
    expect(output).toMatch(/Mounted from docker\//);
    expect(pushedDigest(output)).toBe(digest);
    await expectStored(second, digest, image);
    expect(JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${second}:v2`)).Digest).toBe(digest);

    docker('rmi', `${first}:v1`, `${second}:v2`);
    docker('pull', `${second}:v2`);
    expect(inspect(`${second}:v2`).Id).toBe(image.config.digest);
    expect(inspect(`${second}:v2`).RepoDigests).toEqual([`${second}@${digest}`]);
    docker('rmi', `${second}:v2`);
  });
});
