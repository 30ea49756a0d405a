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
import { readEventLines } from '../support/image-events';

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
    [registry, daemon] = await Promise.all([
      startRegistryProcess(join(work.path, 'data'), 0, ['--events-file', join(work.path, 'events.jsonl')]),
      startDockerd(join(work.path, 'dockerd')),
    ]);
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
  /** The image events (--events-file) about `repo`, once `count` of them have arrived. */
  async function eventsOf(repo: string, count: number, until: (detail: Record<string, string>) => boolean = () => true): Promise<Array<Record<string, string>>> {
    const name = repo.slice(registry.host.length + 1);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const events = readEventLines(join(work.path, 'events.jsonl')).filter((e) => e.detail['repository-name'] === name);
      const details = events.map((e) => ({ ...e.detail }) as Record<string, string>);
      if ((details.length >= count && details.some(until)) || Date.now() > deadline) return details;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('GIVEN docker pushes a tagged image, then the same image to another repository THEN each push is one PUSH event with its tag and the digest docker printed', async () => {
    const image = makeImage({ layers: [32 * 1024], seed: `docker-${process.pid}-events` });
    const first = freshRepo('events');
    const second = freshRepo('events-mounted');
    load(image, `${first}:v1`);
    const digest = pushedDigest(docker('push', `${first}:v1`));
    docker('tag', `${first}:v1`, `${second}:v2`);
    expect(pushedDigest(docker('push', `${second}:v2`))).toBe(digest);
    const push = (repo: string, tag: string) => ({ result: 'SUCCESS', 'repository-name': repo.slice(registry.host.length + 1), 'image-digest': digest, 'action-type': 'PUSH', 'image-tag': tag, 'berth-event-id': expect.any(String) });
    expect(await eventsOf(first, 1)).toEqual([push(first, 'v1')]);
    expect(await eventsOf(second, 1)).toEqual([push(second, 'v2')]);
    docker('rmi', `${first}:v1`, `${second}:v2`);
  });

  test('GIVEN two images pushed by docker WHEN docker manifest push makes a multi-arch index of them THEN the index is one PUSH with its tag, and any child manifest it PUT is a PUSH without one', async () => {
    const repo = freshRepo('events-multi');
    const amd = makeImage({ layers: [16 * 1024], architecture: 'amd64', seed: `docker-${process.pid}-amd` });
    const arm = makeImage({ layers: [17 * 1024], architecture: 'arm64', seed: `docker-${process.pid}-arm` });
    load(amd, `${repo}:amd`);
    const amdDigest = pushedDigest(docker('push', `${repo}:amd`));
    repoCounter++; // load() names its files after the counter
    load(arm, `${repo}:arm`);
    const armDigest = pushedDigest(docker('push', `${repo}:arm`));
    await eventsOf(repo, 2);
    docker('manifest', 'create', '--insecure', `${repo}:multi`, `${repo}:amd`, `${repo}:arm`);
    const indexDigest = /sha256:[0-9a-f]{64}/.exec(docker('manifest', 'push', '--insecure', `${repo}:multi`))![0];
    const events = (await eventsOf(repo, 3, (e) => e['image-tag'] === 'multi')).slice(2);
    const index = events.filter((e) => e['image-tag'] === 'multi');
    expect(index).toEqual([{ result: 'SUCCESS', 'repository-name': repo.slice(registry.host.length + 1), 'image-digest': indexDigest, 'action-type': 'PUSH', 'image-tag': 'multi', 'berth-event-id': expect.any(String) }]);
    for (const child of events.filter((e) => e['image-tag'] === undefined)) {
      expect(child['action-type']).toBe('PUSH');
      expect([amdDigest, armDigest]).toContain(child['image-digest']);
    }
    expect(events.every((e) => e['image-tag'] === undefined || e['image-tag'] === 'multi')).toBe(true);
    docker('rmi', `${repo}:amd`, `${repo}:arm`);
  });
});
