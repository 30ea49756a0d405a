/**
 * podman 4.3 and buildah 1.28 (containers/image, like skopeo: POST, one PATCH with the whole
 * blob, PUT ?digest=; podman and buildah recompress layers on push, so their PATCH bodies are
 * chunked) against a real `berth serve` process. Each client gets its own storage (vfs) under
 * the test's scratch directory, so the machine's images are never touched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describeWithBinaries, run } from '../support/clients';
import { startRegistryProcess, scratchDir, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, pseudoRandomBytes, writeLayout, sha256, type Image } from '../support/oci-fixtures';

interface Harness {
  work: ReturnType<typeof scratchDir>;
  registry: RegistryProcess;
  /** Environment for podman and buildah: an empty auth file of their own (a stray DOCKER_CONFIG makes podman fail). */
  env: NodeJS.ProcessEnv;
  repo(what: string): string;
  skopeo(...args: string[]): string;
  get(path: string): Promise<{ status: number; headers: Headers; body: Buffer }>;
  /** Puts a fixture image into a client's isolated storage under the name `ref`, with skopeo. */
  store(image: Image, storage: string, ref: string): void;
  expectStored(repo: string, digest: string, image: Image): Promise<void>;
}

/** Starts a registry for one describe block and answers the helpers both clients share. */
function useRegistry(prefix: string): Harness {
  const h = {} as Harness;
  let counter = 0;
  beforeAll(async () => {
    h.work = scratchDir(prefix, { shortPath: true });
    h.registry = await startRegistryProcess(join(h.work.path, 'data'));
    const authFile = join(h.work.path, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: {} }));
    h.env = { REGISTRY_AUTH_FILE: authFile };
  });
  afterAll(async () => {
    await h.registry?.stop();
    h.work?.remove();
  });
  h.repo = (what) => `${h.registry.host}/${prefix}/${what}-${process.pid}-${++counter}`;
  h.skopeo = (...args) => run('skopeo', args);
  h.get = async (path) => {
    const response = await fetch(`${h.registry.url}${path}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  };
  h.store = (image, storage, ref) => {
    const dir = join(h.work.path, `layout-${++counter}`);
    writeLayout(dir, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
    // `podman pull oci:DIR` would name the image after DIR, which may hold capitals.
    h.skopeo('copy', `oci:${dir}:v1`, `containers-storage:[vfs@${join(storage, 'root')}+${join(storage, 'runroot')}]${ref}`);
  };
  /** The registry serves `digest` under `repo` with the fixture's config and every layer's content (its diff ID). */
  h.expectStored = async (repo, digest, image) => {
    const name = repo.slice(h.registry.host.length + 1);
    const manifest = await h.get(`/v2/${name}/manifests/${digest}`);
    expect(manifest.status).toBe(200);
    expect(sha256(manifest.body)).toBe(digest);
    const parsed = JSON.parse(manifest.body.toString());
    expect(parsed.config.digest).toBe(image.config.digest);
    expect((await h.get(`/v2/${name}/blobs/${image.config.digest}`)).body.equals(image.config.bytes)).toBe(true);
    const diffIds: string[] = JSON.parse(image.config.bytes.toString()).rootfs.diff_ids;
    expect(parsed.layers).toHaveLength(diffIds.length);
    for (const [i, layer] of parsed.layers.entries()) {
      const blob = await h.get(`/v2/${name}/blobs/${layer.digest}`);
      expect(sha256(blob.body)).toBe(layer.digest);
      expect(sha256(/gzip/.test(layer.mediaType) ? gunzipSync(blob.body) : blob.body)).toBe(diffIds[i]);
    }
    expect(JSON.parse(h.skopeo('inspect', '--tls-verify=false', `docker://${repo}@${digest}`)).Digest).toBe(digest);
  };
  return h;
}

/** Global flags that give a containers/storage client its own store under `dir`. */
function isolatedStorage(dir: string): string[] {
  return ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs'];
}

describeWithBinaries(['podman', 'skopeo'], 'podman against berth serve', () => {
  const h = useRegistry('podman');
  const podman = (...args: string[]) =>
    run('podman', [...isolatedStorage(join(h.work.path, 'podman')), '--tmpdir', join(h.work.path, 'podman', 'tmp'), '--events-backend', 'none', ...args], { env: h.env });
  const inspect = (ref: string): { Id: string; Digest: string; RepoDigests: string[] } => JSON.parse(podman('image', 'inspect', ref))[0];

  test('GIVEN an image in podman storage WHEN podman pushes it and pulls it back by tag and by digest THEN the digest and the image survive', async () => {
    const image = makeImage({ layers: [300 * 1024, 50 * 1024], seed: `podman-${process.pid}-a` });
    const repo = h.repo('app');
    h.store(image, join(h.work.path, 'podman'), `${repo}:v1`);
    expect(`sha256:${inspect(`${repo}:v1`).Id}`).toBe(image.config.digest);

    const digestFile = join(h.work.path, 'podman-digest');
    podman('push', '--tls-verify=false', '--digestfile', digestFile, `${repo}:v1`);
    const digest = readFileSync(digestFile, 'utf8').trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await h.expectStored(repo, digest, image);
    expect(JSON.parse(h.skopeo('inspect', '--tls-verify=false', `docker://${repo}:v1`)).Digest).toBe(digest);

    podman('rmi', '--all', '--force');
    expect(() => inspect(`${repo}:v1`)).toThrow(/not known|no such/i);
    podman('pull', '--tls-verify=false', `${repo}:v1`);
    const byTag = inspect(`${repo}:v1`);
    expect(`sha256:${byTag.Id}`).toBe(image.config.digest);
    expect(byTag.Digest).toBe(digest);
    expect(byTag.RepoDigests).toContain(`${repo}@${digest}`);

    podman('rmi', '--all', '--force');
    podman('pull', '--tls-verify=false', `${repo}@${digest}`);
    const byDigest = inspect(`${repo}@${digest}`);
    expect(`sha256:${byDigest.Id}`).toBe(image.config.digest);
    expect(byDigest.Digest).toBe(digest);
    podman('rmi', '--all', '--force');
  });
});

describeWithBinaries(['buildah', 'skopeo'], 'buildah against berth serve', () => {
  const h = useRegistry('buildah');
  const buildah = (...args: string[]) => run('buildah', [...isolatedStorage(join(h.work.path, 'buildah')), ...args], { env: h.env });
  const inspectImage = (ref: string): { FromImageID: string; FromImageDigest: string } => JSON.parse(buildah('inspect', '--type', 'image', ref));

  test('GIVEN a fixture image WHEN buildah pushes it and pulls it back THEN the digest and the config survive', async () => {
    const image = makeImage({ layers: [256 * 1024], seed: `buildah-${process.pid}-a` });
    const repo = h.repo('app');
    h.store(image, join(h.work.path, 'buildah'), `${repo}:v1`);

    const digestFile = join(h.work.path, 'buildah-digest');
    buildah('push', '--tls-verify=false', '--digestfile', digestFile, `${repo}:v1`);
    const digest = readFileSync(digestFile, 'utf8').trim();
    await h.expectStored(repo, digest, image);

    buildah('rmi', '--all', '--force');
    buildah('pull', '--tls-verify=false', `${repo}:v1`);
    const pulled = inspectImage(`${repo}:v1`);
    expect(`sha256:${pulled.FromImageID}`).toBe(image.config.digest);
    expect(pulled.FromImageDigest).toBe(digest);
    buildah('rmi', '--all', '--force');
  });

  test('GIVEN a container built FROM scratch WHEN buildah commits and pushes it and pulls it back THEN the file in it has the same bytes', async () => {
    const payload = pseudoRandomBytes(200 * 1024, `buildah-${process.pid}-scratch`);
    const payloadFile = join(h.work.path, 'payload.bin');
    writeFileSync(payloadFile, payload);
    const repo = h.repo('scratch');

    const container = buildah('from', 'scratch').trim();
    buildah('copy', container, payloadFile, '/payload.bin');
    buildah('config', '--cmd', '/payload.bin', '--label', 'made-by=berth-e2e', container);
    const imageId = buildah('commit', '--format', 'oci', '--rm', container, `${repo}:v1`).trim().split('\n').pop()!;
    const digestFile = join(h.work.path, 'scratch-digest');
    buildah('push', '--tls-verify=false', '--digestfile', digestFile, `${repo}:v1`);
    const digest = readFileSync(digestFile, 'utf8').trim();

    const name = repo.slice(h.registry.host.length + 1);
    const manifest = await h.get(`/v2/${name}/manifests/v1`);
    expect(sha256(manifest.body)).toBe(digest);
    const parsed = JSON.parse(manifest.body.toString());
    expect(parsed.config.digest).toBe(`sha256:${imageId}`);
    const config = JSON.parse((await h.get(`/v2/${name}/blobs/${parsed.config.digest}`)).body.toString());
    expect(config.config.Labels['made-by']).toBe('berth-e2e');

    buildah('rmi', '--all', '--force');
    buildah('pull', '--tls-verify=false', `${repo}@${digest}`);
    const pulled = buildah('from', `${repo}@${digest}`).trim();
    const mountpoint = buildah('mount', pulled).trim();
    expect(readFileSync(join(mountpoint, 'payload.bin')).equals(payload)).toBe(true);
    buildah('umount', pulled);
    buildah('rm', pulled);
    buildah('rmi', '--all', '--force');
  });
});
