/**
 * Manifests over plain HTTP against an in-process registry: every manifest kind pushed,
 * served byte for byte and deleted by tag and by digest, the references a manifest must
 * satisfy, and the deletions the registry refuses while something still needs the target.
 */
import { startInProcessRegistry, type TestRegistry } from '../support/registry-harness';
import { EMPTY_CONFIG, blobOf, imageBlobs, makeArtifact, makeImage, makeIndex, pseudoRandomBytes, type Blob, type Image } from '../support/oci-fixtures';
import { RegistryClient, expectOciError, manifestOf } from '../support/http-client';

let registry: TestRegistry;
let client: RegistryClient;
let counter = 0;
const freshRepo = (prefix = 'manifests') => `${prefix}/repo-${counter++}`;
const freshImage = (docker = false, architecture = 'amd64'): Image => makeImage({ layers: [512, 2048], seed: `manifests-${Date.now()}-${counter++}`, docker, architecture });

beforeAll(async () => {
  registry = await startInProcessRegistry();
  client = new RegistryClient(registry.url);
});
afterAll(async () => {
  await registry?.stop();
});

async function expectManifestServed(repo: string, reference: string, manifest: Blob, contentType = manifest.mediaType): Promise<void> {
  const get = await client.get(`/v2/${repo}/manifests/${reference}`, { Accept: contentType });
  expect(get.status).toBe(200);
  expect(get.headers.get('content-type')).toBe(contentType);
  expect(get.headers.get('docker-content-digest')).toBe(manifest.digest);
  expect(get.headers.get('content-length')).toBe(String(manifest.size));
  expect(get.body.equals(manifest.bytes)).toBe(true);

  const head = await client.head(`/v2/${repo}/manifests/${reference}`, { Accept: contentType });
  expect(head.status).toBe(200);
  expect(head.headers.get('content-type')).toBe(contentType);
  expect(head.headers.get('docker-content-digest')).toBe(manifest.digest);
  expect(head.headers.get('content-length')).toBe(String(manifest.size));
  expect(head.body.length).toBe(0);
}

async function expectManifestUnknown(repo: string, reference: string): Promise<void> {
  expect((await client.head(`/v2/${repo}/manifests/${reference}`)).status).toBe(404);
  expectOciError(await client.get(`/v2/${repo}/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN');
}

async function tagsOf(repo: string): Promise<string[]> {
  const res = await client.get(`/v2/${repo}/tags/list`);
  expect(res.status).toBe(200);
  return res.json().tags;
}

function expectManifestCreated(res: { status: number; headers: Headers }, repo: string, digest: string): void {
  expect(res.status).toBe(201);
  expect(res.headers.get('docker-content-digest')).toBe(digest);
  expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/${repo}/manifests/${digest}`);
}

/** PUT by tag, read by tag and digest, delete by tag, PUT by digest, delete by digest. */
async function roundTrip(repo: string, manifest: Blob): Promise<void> {
  expectManifestCreated(await client.putManifest(repo, 'v1', manifest), repo, manifest.digest);
  await expectManifestServed(repo, 'v1', manifest);
  await expectManifestServed(repo, manifest.digest, manifest);

  expect((await client.delete(`/v2/${repo}/manifests/v1`)).status).toBe(202);
  await expectManifestUnknown(repo, 'v1');
  await expectManifestServed(repo, manifest.digest, manifest);

  expect((await client.delete(`/v2/${repo}/manifests/${manifest.digest}`)).status).toBe(202);
  await expectManifestUnknown(repo, manifest.digest);

  expectManifestCreated(await client.putManifest(repo, manifest.digest, manifest), repo, manifest.digest);
  await expectManifestServed(repo, manifest.digest, manifest);
  expect(await tagsOf(repo)).toEqual([]);
  expect((await client.delete(`/v2/${repo}/manifests/${manifest.digest}`)).status).toBe(202);
  await expectManifestUnknown(repo, manifest.digest);
}

/** Pretty-printed JSON with a trailing newline: a registry that re-serializes would change the digest. */
function prettified(manifest: Blob): Blob {
  return blobOf(Buffer.from(JSON.stringify(JSON.parse(manifest.bytes.toString()), null, 3) + '\n'), manifest.mediaType);
}

async function pushBlobs(repo: string, blobs: Blob[]): Promise<void> {
  for (const blob of blobs) await client.pushBlob(repo, blob);
}

describe('manifest kinds', () => {
  test('GIVEN an OCI image manifest WHEN it is pushed, read and deleted by tag and by digest THEN every step answers as the spec says, byte for byte', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    await roundTrip(repo, prettified(image.manifest));
  });

  test('GIVEN a Docker schema 2 manifest WHEN it is pushed, read and deleted THEN it is served with its Docker media type, byte for byte', async () => {
    const repo = freshRepo();
    const image = freshImage(true);
    expect(image.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    await pushBlobs(repo, imageBlobs(image));
    await roundTrip(repo, image.manifest);
  });

  test('GIVEN a Docker manifest list over two images WHEN it is pushed, read and deleted THEN it is served with the list media type, byte for byte', async () => {
    const repo = freshRepo();
    const images = [freshImage(true, 'amd64'), freshImage(true, 'arm64')];
    for (const image of images) await client.pushImage(repo, image);
    const list = makeIndex(images, true);
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    await roundTrip(repo, list);
  });

  test('GIVEN an OCI index over two images WHEN it is pushed, read and deleted THEN it is served with the index media type, byte for byte', async () => {
    const repo = freshRepo();
    const images = [freshImage(false, 'amd64'), freshImage(false, 'arm64')];
    for (const image of images) await client.pushImage(repo, image);
    await roundTrip(repo, prettified(makeIndex(images)));
  });

  test('GIVEN an OCI artifact (artifactType, empty config) WHEN it is pushed, read and deleted THEN it is served byte for byte', async () => {
    const repo = freshRepo();
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.sbom+json', annotations: { 'org.example': 'x' } });
    await pushBlobs(repo, [EMPTY_CONFIG, artifact.layer]);
    await roundTrip(repo, artifact.manifest);
  });

  test('GIVEN a manifest pushed with a Content-Type carrying parameters WHEN it is read THEN the stored media type is served', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const res = await client.putManifest(repo, 'params', image.manifest, `${image.manifest.mediaType}; charset=utf-8`);
    expectManifestCreated(res, repo, image.manifest.digest);
    await expectManifestServed(repo, 'params', image.manifest);
  });
});

describe('manifest validation', () => {
  test('GIVEN a manifest whose layer is not in the repository WHEN it is pushed THEN 400 MANIFEST_BLOB_UNKNOWN naming the layer, and nothing is stored', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await client.pushBlob(repo, image.config);
    await client.pushBlob(repo, image.layers[0]);
    const res = await client.putManifest(repo, 'v1', image.manifest);
    const error = expectOciError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(error.message).toContain(image.layers[1].digest);
    await expectManifestUnknown(repo, 'v1');
    await expectManifestUnknown(repo, image.manifest.digest);
    expect(await tagsOf(repo)).toEqual([]);
  });

  test('GIVEN a manifest whose config is not in the repository WHEN it is pushed THEN 400 MANIFEST_BLOB_UNKNOWN and nothing is stored', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, image.layers);
    const error = expectOciError(await client.putManifest(repo, 'v1', image.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(error.message).toContain(image.config.digest);
    await expectManifestUnknown(repo, image.manifest.digest);
  });

  test('GIVEN a layer that exists only in another repository WHEN a manifest using it is pushed THEN 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = freshRepo();
    const other = freshRepo();
    const image = freshImage();
    await pushBlobs(other, imageBlobs(image));
    await client.pushBlob(repo, image.config);
    expectOciError(await client.putManifest(repo, 'v1', image.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    await expectManifestUnknown(repo, image.manifest.digest);
  });

  test('GIVEN an index one of whose children is not in the repository WHEN it is pushed THEN 400 MANIFEST_BLOB_UNKNOWN naming the child, and nothing is stored', async () => {
    const repo = freshRepo();
    const present = freshImage();
    const missing = freshImage(false, 'arm64');
    await client.pushImage(repo, present, 'present');
    await pushBlobs(repo, imageBlobs(missing));
    const index = makeIndex([present, missing]);
    const error = expectOciError(await client.putManifest(repo, 'multi', index), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(error.message).toContain(missing.manifest.digest);
    await expectManifestUnknown(repo, 'multi');
    await expectManifestUnknown(repo, index.digest);
    expect(await tagsOf(repo)).toEqual(['present']);
  });

  test.each([
    ['malformed JSON', Buffer.from('{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", '), 'application/vnd.oci.image.manifest.v1+json'],
    ['a JSON array', Buffer.from('[]'), 'application/vnd.oci.image.manifest.v1+json'],
    [
      'schemaVersion 1',
      Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', architecture: 'amd64', fsLayers: [], history: [] })),
      'application/vnd.docker.distribution.manifest.v1+json',
    ],
    ['schemaVersion 1 without a Content-Type hint', Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] })), 'application/json'],
  ])('GIVEN %s WHEN it is pushed as a manifest THEN 400 MANIFEST_INVALID and the tag stays absent', async (_what, body, contentType) => {
    const repo = freshRepo();
    await client.pushBlob(repo, blobOf(pseudoRandomBytes(10, `seed-${counter++}`)));
    const res = await client.request('PUT', `/v2/${repo}/manifests/bad`, { headers: { 'Content-Type': contentType }, body });
    expectOciError(res, 400, 'MANIFEST_INVALID');
    await expectManifestUnknown(repo, 'bad');
    expect(await tagsOf(repo)).toEqual([]);
  });

  test('GIVEN an OCI manifest WHEN it is pushed with a Docker Content-Type THEN 400 MANIFEST_INVALID and it is not stored', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const res = await client.putManifest(repo, 'v1', image.manifest, 'application/vnd.docker.distribution.manifest.v2+json');
    const error = expectOciError(res, 400, 'MANIFEST_INVALID');
    expect(error.message).toMatch(/Content-Type/);
    await expectManifestUnknown(repo, 'v1');
    await expectManifestUnknown(repo, image.manifest.digest);
  });

  test('GIVEN a manifest larger than 4 MiB WHEN it is pushed THEN 413 and it is not stored', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const parsed = JSON.parse(image.manifest.bytes.toString());
    parsed.annotations = { padding: 'x'.repeat(4 * 1024 * 1024) };
    const big = manifestOf(parsed);
    expect(big.size).toBeGreaterThan(4 * 1024 * 1024);
    const res = await client.putManifest(repo, 'big', big);
    expect(res.status).toBe(413);
    expect(res.json().errors[0].code).toBe('SIZE_INVALID');
    await expectManifestUnknown(repo, 'big');
    await expectManifestUnknown(repo, big.digest);
  });

  test('GIVEN a manifest just under 4 MiB WHEN it is pushed THEN it is accepted and served byte for byte', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const parsed = JSON.parse(image.manifest.bytes.toString());
    parsed.annotations = { padding: '' };
    const overhead = Buffer.byteLength(JSON.stringify(parsed));
    parsed.annotations.padding = 'x'.repeat(4 * 1024 * 1024 - overhead);
    const big = manifestOf(parsed);
    expect(big.size).toBe(4 * 1024 * 1024);
    expectManifestCreated(await client.putManifest(repo, 'big', big), repo, big.digest);
    await expectManifestServed(repo, 'big', big);
  });

  test('GIVEN a PUT by digest WHEN the body has another digest THEN 400 DIGEST_INVALID and neither digest is stored', async () => {
    const repo = freshRepo();
    const image = freshImage();
    const other = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const res = await client.putManifest(repo, other.manifest.digest, image.manifest);
    expectOciError(res, 400, 'DIGEST_INVALID');
    await expectManifestUnknown(repo, other.manifest.digest);
    await expectManifestUnknown(repo, image.manifest.digest);
  });

  test('GIVEN a manifest whose subject does not exist yet WHEN it is pushed THEN 201 with OCI-Subject naming the subject', async () => {
    const repo = freshRepo();
    const subject = freshImage();
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.signature', subject: subject.manifest });
    await pushBlobs(repo, [EMPTY_CONFIG, artifact.layer]);
    const res = await client.putManifest(repo, artifact.manifest.digest, artifact.manifest);
    expectManifestCreated(res, repo, artifact.manifest.digest);
    expect(res.headers.get('oci-subject')).toBe(subject.manifest.digest);
    await expectManifestServed(repo, artifact.manifest.digest, artifact.manifest);
    await expectManifestUnknown(repo, subject.manifest.digest);
  });

  test('GIVEN a manifest without a subject WHEN it is pushed THEN the response has no OCI-Subject', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const res = await client.putManifest(repo, 'v1', image.manifest);
    expect(res.status).toBe(201);
    expect(res.headers.get('oci-subject')).toBeNull();
  });
});

describe('manifest deletion', () => {
  test('GIVEN a manifest under two tags WHEN one tag is deleted THEN only that tag goes; the other tag and the digest still resolve', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await client.pushImage(repo, image, 'a');
    expect((await client.putManifest(repo, 'b', image.manifest)).status).toBe(201);
    expect((await client.delete(`/v2/${repo}/manifests/a`)).status).toBe(202);
    await expectManifestUnknown(repo, 'a');
    await expectManifestServed(repo, 'b', image.manifest);
    await expectManifestServed(repo, image.manifest.digest, image.manifest);
    expect(await tagsOf(repo)).toEqual(['b']);
    expectOciError(await client.delete(`/v2/${repo}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
  });

  test('GIVEN a manifest under several tags and another manifest under its own tag WHEN the first is deleted by digest THEN it and all its tags go, the other stays', async () => {
    const repo = freshRepo();
    const image = freshImage();
    const other = freshImage();
    await client.pushImage(repo, image, 'one');
    for (const tag of ['two', 'three']) expect((await client.putManifest(repo, tag, image.manifest)).status).toBe(201);
    await client.pushImage(repo, other, 'keep');
    expect(await tagsOf(repo)).toEqual(['keep', 'one', 'three', 'two']);

    expect((await client.delete(`/v2/${repo}/manifests/${image.manifest.digest}`)).status).toBe(202);
    await expectManifestUnknown(repo, image.manifest.digest);
    for (const tag of ['one', 'two', 'three']) await expectManifestUnknown(repo, tag);
    expect(await tagsOf(repo)).toEqual(['keep']);
    await expectManifestServed(repo, 'keep', other.manifest);
    expectOciError(await client.delete(`/v2/${repo}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
  });

  test('GIVEN a manifest referenced by an index in the same repo WHEN it is deleted by digest THEN 409 naming the index until the index is deleted', async () => {
    const repo = freshRepo();
    const images = [freshImage(false, 'amd64'), freshImage(false, 'arm64')];
    for (const image of images) await client.pushImage(repo, image);
    const index = makeIndex(images);
    expect((await client.putManifest(repo, 'multi', index)).status).toBe(201);

    const refused = await client.delete(`/v2/${repo}/manifests/${images[0].manifest.digest}`);
    const error = expectOciError(refused, 409, 'DENIED');
    expect(error.message).toContain(index.digest);
    await expectManifestServed(repo, images[0].manifest.digest, images[0].manifest);
    await expectManifestServed(repo, 'multi', index);

    expect((await client.delete(`/v2/${repo}/manifests/${index.digest}`)).status).toBe(202);
    await expectManifestUnknown(repo, 'multi');
    expect((await client.delete(`/v2/${repo}/manifests/${images[0].manifest.digest}`)).status).toBe(202);
    await expectManifestUnknown(repo, images[0].manifest.digest);
    await expectManifestServed(repo, images[1].manifest.digest, images[1].manifest);
  });

  test('GIVEN a blob used by a manifest WHEN the blob is deleted THEN it is refused with a message naming the manifest, and the blob stays readable', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await client.pushImage(repo, image, 'v1');
    const layer = image.layers[0];
    const res = await client.delete(`/v2/${repo}/blobs/${layer.digest}`);
    const error = expectOciError(res, 409, 'DENIED');
    expect(error.message).toContain(image.manifest.digest);
    const read = await client.get(`/v2/${repo}/blobs/${layer.digest}`);
    expect(read.status).toBe(200);
    expect(read.body.equals(layer.bytes)).toBe(true);

    // once the manifest is gone, the blob may go too
    expect((await client.delete(`/v2/${repo}/manifests/${image.manifest.digest}`)).status).toBe(202);
    expect((await client.delete(`/v2/${repo}/blobs/${layer.digest}`)).status).toBe(202);
    expectOciError(await client.get(`/v2/${repo}/blobs/${layer.digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('GIVEN an unused blob WHEN it is deleted THEN 202, then HEAD and GET answer 404 and a second delete 404 BLOB_UNKNOWN', async () => {
    const repo = freshRepo();
    const blob = blobOf(pseudoRandomBytes(300, `unused-${counter++}`));
    await client.pushBlob(repo, blob);
    const res = await client.delete(`/v2/${repo}/blobs/${blob.digest}`);
    expect(res.status).toBe(202);
    expect((await client.head(`/v2/${repo}/blobs/${blob.digest}`)).status).toBe(404);
    expectOciError(await client.get(`/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    expectOciError(await client.delete(`/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('GIVEN a blob in two repos WHEN it is deleted from one THEN the other still reads it', async () => {
    const repoA = freshRepo();
    const repoB = freshRepo();
    const blob = blobOf(pseudoRandomBytes(300, `shared-${counter++}`));
    await client.pushBlob(repoA, blob);
    await client.pushBlob(repoB, blob);
    expect((await client.delete(`/v2/${repoA}/blobs/${blob.digest}`)).status).toBe(202);
    expectOciError(await client.get(`/v2/${repoA}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    const read = await client.get(`/v2/${repoB}/blobs/${blob.digest}`);
    expect(read.status).toBe(200);
    expect(read.body.equals(blob.bytes)).toBe(true);
  });

  test('GIVEN an unknown repository WHEN a manifest is read THEN 404 NAME_UNKNOWN', async () => {
    expectOciError(await client.get(`/v2/${freshRepo('nowhere')}/manifests/latest`), 404, 'NAME_UNKNOWN');
  });
});

describe('manifest references', () => {
  test('GIVEN a tag of 128 characters WHEN a manifest is pushed under it THEN it is accepted; under 129 characters THEN 400 and no tag is created', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const ok = 'T'.repeat(128);
    expect((await client.putManifest(repo, ok, image.manifest)).status).toBe(201);
    const tooLong = 'T'.repeat(129);
    const res = await client.putManifest(repo, tooLong, image.manifest);
    expect(res.status).toBe(400);
    expect(res.json().errors[0].code).toBe('TAG_INVALID');
    expect(await tagsOf(repo)).toEqual([ok]);
    expect(res.json().errors[0].message.length).toBeGreaterThan(0);
  });

  test('GIVEN a tag on one manifest WHEN another manifest is pushed under the same tag THEN the tag moves and the first stays reachable by digest', async () => {
    const repo = freshRepo();
    const first = freshImage();
    const second = freshImage();
    await client.pushImage(repo, first, 'latest');
    await client.pushImage(repo, second, 'latest');
    await expectManifestServed(repo, 'latest', second.manifest);
    await expectManifestServed(repo, first.manifest.digest, first.manifest);
    expect(await tagsOf(repo)).toEqual(['latest']);
    // deleting the first by digest must not take the moved tag with it
    expect((await client.delete(`/v2/${repo}/manifests/${first.manifest.digest}`)).status).toBe(202);
    await expectManifestServed(repo, 'latest', second.manifest);
  });

  test('GIVEN tags that break the grammar WHEN a manifest is pushed under them THEN 400 and no tag is created', async () => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    for (const tag of ['.hidden', '-dash', 'sp%20ace', 'a%2Fb']) {
      const res = await client.putManifest(repo, tag, image.manifest);
      expect(res.status).toBe(400);
    }
    expect(await tagsOf(repo)).toEqual([]);
  });
});

describe('references that cannot name a manifest', () => {
  const unnameable = ['.hidden', '-dash', 'a'.repeat(129), 'sha256:1234', 'sha256:' + 'Z'.repeat(64), 'md5:0123456789abcdef0123456789abcdef', '%E0%A4%A', 'sha256:%ZZ'];

  test.each(unnameable)('GIVEN an existing repository WHEN %s is read, probed or deleted as a manifest THEN 404 MANIFEST_UNKNOWN and nothing changes', async (reference) => {
    const repo = freshRepo();
    const image = freshImage();
    await client.pushImage(repo, image, 'v1');
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      const res = await client.request(method, `/v2/${repo}/manifests/${reference}`);
      expect(res.status).toBe(404);
      if (method !== 'HEAD') expect(res.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    }
    expect(await tagsOf(repo)).toEqual(['v1']);
    await expectManifestServed(repo, 'v1', image.manifest);
  });

  test.each(unnameable)('GIVEN no such repository WHEN %s is read or deleted as a manifest THEN 404 NAME_UNKNOWN', async (reference) => {
    const repo = freshRepo('absent');
    for (const method of ['GET', 'DELETE'] as const) expectOciError(await client.request(method, `/v2/${repo}/manifests/${reference}`), 404, 'NAME_UNKNOWN');
  });

  test.each([
    ['%E0%A4%A', 'TAG_INVALID'],
    ['sha256:%ZZ', 'DIGEST_INVALID'],
    ['sha256:1234', 'DIGEST_INVALID'],
    ['-dash', 'TAG_INVALID'],
  ])('GIVEN a PUT under %s THEN it stays 400 %s', async (reference, code) => {
    const repo = freshRepo();
    const image = freshImage();
    await pushBlobs(repo, imageBlobs(image));
    const res = await client.request('PUT', `/v2/${repo}/manifests/${reference}`, { body: image.manifest.bytes, headers: { 'content-type': image.manifest.mediaType } });
    expectOciError(res, 400, code);
    expect(await tagsOf(repo)).toEqual([]);
  });
});

describe('immutable tags', () => {
  let frozen: TestRegistry;
  let frozenClient: RegistryClient;
  beforeAll(async () => {
    frozen = await startInProcessRegistry(undefined, { isTagImmutable: (_repository, tag) => tag.startsWith('release-') });
    frozenClient = new RegistryClient(frozen.url);
  });
  afterAll(async () => {
    await frozen?.stop();
  });

  test('GIVEN an immutable tag WHEN a different manifest is pushed to it THEN 400 TAG_INVALID naming the holder, and the tag does not move', async () => {
    const first = makeImage({ layers: [64], seed: 'immutable-1' });
    const second = makeImage({ layers: [64], seed: 'immutable-2' });
    await frozenClient.pushImage('frozen/app', first, 'release-1');
    for (const blob of imageBlobs(second)) await frozenClient.pushBlob('frozen/app', blob);
    const res = await frozenClient.putManifest('frozen/app', 'release-1', second.manifest);
    expectOciError(res, 400, 'TAG_INVALID');
    expect(res.json().errors[0].message).toContain(`immutable`);
    expect(res.json().errors[0].message).toContain(first.manifest.digest);
    const current = await frozenClient.get('/v2/frozen/app/manifests/release-1');
    expect(current.headers.get('docker-content-digest')).toBe(first.manifest.digest);
    expect((await frozenClient.putManifest('frozen/app', 'release-1', first.manifest)).status).toBe(201);
    expect((await frozenClient.putManifest('frozen/app', 'latest', second.manifest)).status).toBe(201);
    expect((await frozenClient.putManifest('frozen/app', 'latest', first.manifest)).status).toBe(201);
  });
});
