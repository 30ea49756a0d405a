/**
 * Blob uploads, mounts, repository isolation and blob reads over plain HTTP, against an
 * in-process registry: the paths no mainstream client exercises (chunked uploads with
 * Content-Range, POST ?digest=) as well as the ones every client does.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startInProcessRegistry, type TestRegistry } from '../support/registry-harness';
import { blobOf, pseudoRandomBytes, type Blob } from '../support/oci-fixtures';
import { RegistryClient, expectOciError, withQuery, SPEC_ERROR_CODES } from '../support/http-client';

let registry: TestRegistry;
let client: RegistryClient;
let counter = 0;

/** Fresh blobs and repositories for every test, so no test sees another's state. */
const freshBlob = (size = 4096): Blob => blobOf(pseudoRandomBytes(size, `uploads-${Date.now()}-${counter++}`));
const freshRepo = (prefix = 'uploads') => `${prefix}/repo-${counter++}`;

beforeAll(async () => {
  registry = await startInProcessRegistry();
  client = new RegistryClient(registry.url);
});
afterAll(async () => {
  await registry?.stop();
});

/** The blob is readable in `repo` with exactly these bytes. */
async function expectBlobReadable(repo: string, blob: Blob): Promise<void> {
  const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
  expect(res.body.equals(blob.bytes)).toBe(true);
}

async function expectBlobUnknown(repo: string, digest: string): Promise<void> {
  const head = await client.head(`/v2/${repo}/blobs/${digest}`);
  expect(head.status).toBe(404);
  expectOciError(await client.get(`/v2/${repo}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
}

async function expectUploadGone(repo: string, location: string): Promise<void> {
  expectOciError(await client.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  expect(location).toContain(`/v2/${repo}/blobs/uploads/`);
}

/** Every committed blob file under the data directory's sha256 area. */
function committedBlobFiles(): string[] {
  const root = join(registry.dataDir, 'content', 'blobs', 'sha256');
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else out.push(entry.name);
    }
  };
  walk(root);
  return out;
}

function expectCreated(res: { status: number; headers: Headers }, repo: string, digest: string): void {
  expect(res.status).toBe(201);
  expect(res.headers.get('docker-content-digest')).toBe(digest);
  expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/${repo}/blobs/${digest}`);
}

describe('uploads', () => {
  test('GIVEN a started upload WHEN the client PUTs the whole blob with ?digest= THEN it answers 201 and the blob reads back byte for byte', async () => {
    const repo = freshRepo();
    const blob = freshBlob(100_000);
    const location = await client.startUpload(repo);
    const res = await client.request('PUT', withQuery(location, { digest: blob.digest }), { body: blob.bytes });
    expectCreated(res, repo, blob.digest);
    await expectBlobReadable(repo, blob);
    await expectUploadGone(repo, location);
  });

  test('GIVEN nothing WHEN the client sends one POST ?digest= with the blob THEN it answers 201 with Location and Docker-Content-Digest and the blob is readable', async () => {
    const repo = freshRepo();
    const blob = freshBlob(5000);
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob.bytes,
    });
    expectCreated(res, repo, blob.digest);
    const located = await client.get(res.headers.get('location')!);
    expect(located.body.equals(blob.bytes)).toBe(true);
  });

  test('GIVEN a POST ?digest= whose body has another digest WHEN it is sent THEN 400 DIGEST_INVALID and the blob is not readable', async () => {
    const repo = freshRepo();
    const blob = freshBlob(300);
    const claimed = freshBlob(300);
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?digest=${claimed.digest}`, { body: blob.bytes });
    expectOciError(res, 400, 'DIGEST_INVALID');
    await expectBlobUnknown(repo, claimed.digest);
    await expectBlobUnknown(repo, blob.digest);
  });

  test('GIVEN a started upload WHEN one PATCH sends the blob with Transfer-Encoding: chunked and no length (docker 20.10) THEN the PUT ?digest= commits it', async () => {
    const repo = freshRepo();
    const blob = freshBlob(300_000);
    const location = await client.startUpload(repo);
    const parts = [blob.bytes.subarray(0, 1000), blob.bytes.subarray(1000, 150_000), blob.bytes.subarray(150_000)];
    const patch = await client.chunked('PATCH', location, parts, { 'Content-Type': 'application/octet-stream' });
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe(`0-${blob.size - 1}`);
    expect(patch.headers.get('location')).toBeTruthy();
    const put = await client.request('PUT', withQuery(patch.headers.get('location')!, { digest: blob.digest }));
    expectCreated(put, repo, blob.digest);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN a started upload WHEN one PATCH sends the blob with Content-Length and no Content-Range (skopeo) THEN it answers 202 with the Range and the PUT commits it', async () => {
    const repo = freshRepo();
    const blob = freshBlob(70_000);
    const location = await client.startUpload(repo);
    const patch = await client.request('PATCH', location, { headers: { 'Content-Type': 'application/octet-stream' }, body: blob.bytes });
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe(`0-${blob.size - 1}`);
    expect(patch.headers.get('docker-upload-uuid')).toBeTruthy();
    const put = await client.request('PUT', withQuery(patch.headers.get('location')!, { digest: blob.digest }));
    expectCreated(put, repo, blob.digest);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN a started upload WHEN several PATCHes send Content-Range chunks in order THEN each answers the growing Range and the commit yields the whole blob', async () => {
    const repo = freshRepo();
    const blob = freshBlob(10_000);
    let location = await client.startUpload(repo);
    for (const [start, end] of [
      [0, 2999],
      [3000, 6999],
      [7000, 9999],
    ]) {
      const res = await client.request('PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end}` },
        body: blob.bytes.subarray(start, end + 1),
      });
      expect(res.status).toBe(202);
      expect(res.headers.get('range')).toBe(`0-${end}`);
      location = res.headers.get('location')!;
    }
    const put = await client.request('PUT', withQuery(location, { digest: blob.digest }));
    expectCreated(put, repo, blob.digest);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN an upload holding 1000 bytes WHEN a chunk out of order or overlapping arrives THEN 416 with the current Range and Location, and the upload is unchanged', async () => {
    const repo = freshRepo();
    const blob = freshBlob(3000);
    const location = await client.startUpload(repo);
    const first = await client.request('PATCH', location, { headers: { 'Content-Range': '0-999' }, body: blob.bytes.subarray(0, 1000) });
    expect(first.status).toBe(202);

    for (const [start, end] of [
      [2000, 2999], // a gap: out of order
      [500, 1499], // overlaps what is already there
    ]) {
      const res = await client.request('PATCH', location, { headers: { 'Content-Range': `${start}-${end}` }, body: blob.bytes.subarray(start, end + 1) });
      expect(res.status).toBe(416);
      expect(res.headers.get('range')).toBe('0-999');
      expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(new URL(location, registry.url).pathname);
      expect(SPEC_ERROR_CODES).toContain(res.json().errors[0].code);
    }
    const status = await client.get(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-999');

    // the upload can still be finished from where it really is
    const rest = await client.request('PATCH', location, { headers: { 'Content-Range': '1000-2999' }, body: blob.bytes.subarray(1000) });
    expect(rest.status).toBe(202);
    expectCreated(await client.request('PUT', withQuery(location, { digest: blob.digest })), repo, blob.digest);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN an upload with some bytes WHEN the client GETs it THEN 204 with Range, Location and Docker-Upload-UUID', async () => {
    const repo = freshRepo();
    const location = await client.startUpload(repo);
    await client.request('PATCH', location, { headers: { 'Content-Range': '0-99' }, body: freshBlob(100).bytes });
    const res = await client.get(location);
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
    expect(res.headers.get('range')).toBe('0-99');
    const id = res.headers.get('docker-upload-uuid');
    expect(id).toBeTruthy();
    expect(res.headers.get('location')).toContain(`/v2/${repo}/blobs/uploads/${id}`);
  });

  test('GIVEN an upload with its first chunk WHEN the closing PUT carries the final chunk THEN the blob is committed whole', async () => {
    const repo = freshRepo();
    const blob = freshBlob(8000);
    const location = await client.startUpload(repo);
    const patch = await client.request('PATCH', location, { headers: { 'Content-Range': '0-4999' }, body: blob.bytes.subarray(0, 5000) });
    expect(patch.status).toBe(202);
    const put = await client.request('PUT', withQuery(patch.headers.get('location')!, { digest: blob.digest }), {
      headers: { 'Content-Range': '5000-7999', 'Content-Type': 'application/octet-stream' },
      body: blob.bytes.subarray(5000),
    });
    expectCreated(put, repo, blob.digest);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN a POST WHEN the very next request is a PUT ?digest= carrying the whole blob (containerd) THEN exactly 201 with Docker-Content-Digest equal to the digest', async () => {
    const repo = freshRepo();
    const blob = freshBlob(50_000);
    const post = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
    expect(post.status).toBe(202);
    const put = await client.request('PUT', withQuery(post.headers.get('location')!, { digest: blob.digest }), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob.bytes,
    });
    expectCreated(put, repo, blob.digest);
    expect(put.body.length).toBe(0);
    await expectBlobReadable(repo, blob);
  });

  test('GIVEN an upload with bytes WHEN the client DELETEs it THEN 204, and a GET on it answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const repo = freshRepo();
    const blob = freshBlob(100);
    const location = await client.startUpload(repo);
    await client.request('PATCH', location, { body: blob.bytes });
    const res = await client.delete(location);
    expect(res.status).toBe(204);
    await expectUploadGone(repo, location);
    expectOciError(await client.request('PUT', withQuery(location, { digest: blob.digest })), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectBlobUnknown(repo, blob.digest);
  });

  test('GIVEN nothing WHEN the client POSTs to start an upload THEN 202 with Location, Range 0-0, Docker-Upload-UUID and a numeric OCI-Chunk-Min-Length', async () => {
    const repo = freshRepo();
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
    expect(res.status).toBe(202);
    expect(res.headers.get('oci-chunk-min-length')).toMatch(/^\d+$/);
    expect(res.headers.get('location')).toMatch(new RegExp(`/v2/${repo}/blobs/uploads/[^/]+$`));
    expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
    expect(res.headers.get('range')).toBe('0-0');
  });

  test('GIVEN an upload WHEN it is committed THEN the answer is exactly 201 with an empty body, Location of the blob and Docker-Content-Digest', async () => {
    const repo = freshRepo();
    const blob = freshBlob(1234);
    const location = await client.startUpload(repo);
    await client.request('PATCH', location, { body: blob.bytes });
    const put = await client.request('PUT', withQuery(location, { digest: blob.digest }));
    expect(put.status).toBe(201);
    expect(put.body.length).toBe(0);
    expectCreated(put, repo, blob.digest);
    const head = await client.head(put.headers.get('location')!);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.size));
  });

  test('GIVEN an upload WHEN the closing PUT names a digest the bytes do not have THEN 400 DIGEST_INVALID, neither digest is readable and the upload is gone', async () => {
    const repo = freshRepo();
    const blob = freshBlob(2000);
    const wrong = freshBlob(2000);
    const location = await client.startUpload(repo);
    await client.request('PATCH', location, { body: blob.bytes });
    const res = await client.request('PUT', withQuery(location, { digest: wrong.digest }));
    const error = expectOciError(res, 400, 'DIGEST_INVALID');
    expect(error.message).toContain(blob.digest);
    await expectBlobUnknown(repo, wrong.digest);
    await expectBlobUnknown(repo, blob.digest);
    await expectUploadGone(repo, location);
  });

  test('GIVEN a blob WHEN it is uploaded under its sha512 digest (monolithic PUT and chunked PATCH + PUT) THEN both commit and read back under that digest', async () => {
    const repo = freshRepo();
    for (const mode of ['put', 'patch'] as const) {
      const bytes = freshBlob(6000).bytes;
      const digest = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
      const location = await client.startUpload(repo);
      let put;
      if (mode === 'put') {
        put = await client.request('PUT', withQuery(location, { digest }), { body: bytes });
      } else {
        await client.request('PATCH', location, { headers: { 'Content-Range': '0-2999' }, body: bytes.subarray(0, 3000) });
        await client.request('PATCH', location, { headers: { 'Content-Range': '3000-5999' }, body: bytes.subarray(3000) });
        put = await client.request('PUT', withQuery(location, { digest }));
      }
      expectCreated(put, repo, digest);
      const res = await client.get(`/v2/${repo}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(digest);
      expect(res.body.equals(bytes)).toBe(true);
    }
  });

  test('GIVEN an upload started in repo A WHEN its id is used under repo B THEN 404 BLOB_UPLOAD_UNKNOWN and the upload in A is untouched', async () => {
    const repoA = freshRepo();
    const repoB = freshRepo();
    const blob = freshBlob(500);
    const location = await client.startUpload(repoA);
    const id = location.split('/').pop()!;
    const foreign = `/v2/${repoB}/blobs/uploads/${id}`;
    expectOciError(await client.get(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectOciError(await client.request('PATCH', foreign, { body: blob.bytes }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectOciError(await client.request('PUT', `${foreign}?digest=${blob.digest}`, { body: blob.bytes }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectOciError(await client.delete(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectBlobUnknown(repoB, blob.digest);

    const status = await client.get(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    expectCreated(await client.request('PUT', withQuery(location, { digest: blob.digest }), { body: blob.bytes }), repoA, blob.digest);
  });

  test('GIVEN an upload with bytes WHEN the closing PUT carries a malformed digest THEN 400 DIGEST_INVALID (not 5xx) and the upload keeps its bytes', async () => {
    const repo = freshRepo();
    const blob = freshBlob(800);
    const location = await client.startUpload(repo);
    await client.request('PATCH', location, { body: blob.bytes });
    for (const digest of ['sha256:xyz', 'notadigest', 'sha256:' + 'A'.repeat(64), 'md5:' + 'a'.repeat(32), '']) {
      expectOciError(await client.request('PUT', withQuery(location, { digest })), 400, 'DIGEST_INVALID');
    }
    expectOciError(await client.request('PUT', location), 400, 'DIGEST_INVALID');
    const status = await client.get(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${blob.size - 1}`);
  });
});

describe('mounts', () => {
  test('GIVEN a blob in repo A WHEN repo B asks POST ?mount=&from=A THEN 201 with Location and Docker-Content-Digest, and B reads the blob', async () => {
    const repoA = freshRepo('mounts');
    const repoB = freshRepo('mounts');
    const blob = freshBlob(2048);
    await client.pushBlob(repoA, blob);
    await expectBlobUnknown(repoB, blob.digest);
    const res = await client.request('POST', `/v2/${repoB}/blobs/uploads/?mount=${blob.digest}&from=${repoA}`);
    expectCreated(res, repoB, blob.digest);
    await expectBlobReadable(repoB, blob);
  });

  test('GIVEN a blob absent from repo A WHEN repo B asks to mount it from A THEN 202 with an upload session that then takes the blob', async () => {
    const repoA = freshRepo('mounts');
    const repoB = freshRepo('mounts');
    const blob = freshBlob(2048);
    await client.pushBlob(repoA, freshBlob(10));
    const res = await client.request('POST', `/v2/${repoB}/blobs/uploads/?mount=${blob.digest}&from=${repoA}`);
    expect(res.status).toBe(202);
    expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
    const location = res.headers.get('location')!;
    expect(location).toContain(`/v2/${repoB}/blobs/uploads/`);
    await expectBlobUnknown(repoB, blob.digest);
    expectCreated(await client.request('PUT', withQuery(location, { digest: blob.digest }), { body: blob.bytes }), repoB, blob.digest);
    await expectBlobUnknown(repoA, blob.digest);
  });

  test('GIVEN a malformed mount digest WHEN a repo asks to mount it THEN the hint is ignored: 202 with an upload session', async () => {
    const repo = freshRepo('mounts');
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?mount=sha256:nope&from=${repo}`);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toContain(`/v2/${repo}/blobs/uploads/`);
  });

  test('GIVEN a blob that exists only in another repo WHEN a mount names no from THEN 201 and the target reads it', async () => {
    const repoA = freshRepo('mounts');
    const repoB = freshRepo('mounts');
    const blob = freshBlob(999);
    await client.pushBlob(repoA, blob);
    const res = await client.request('POST', `/v2/${repoB}/blobs/uploads/?mount=${blob.digest}`);
    expectCreated(res, repoB, blob.digest);
    await expectBlobReadable(repoB, blob);
  });
});

describe('isolation', () => {
  test('GIVEN a blob uploaded to repo A WHEN repo B guesses its digest THEN HEAD and GET answer 404 BLOB_UNKNOWN', async () => {
    const repoA = freshRepo('iso');
    const repoB = freshRepo('iso');
    const blob = freshBlob(4000);
    await client.pushBlob(repoA, blob);
    await client.pushBlob(repoB, freshBlob(10)); // B exists, it just does not hold this blob
    await expectBlobUnknown(repoB, blob.digest);
    expectOciError(await client.get(`/v2/${repoB}/blobs/${blob.digest}`, { Range: 'bytes=0-9' }), 404, 'BLOB_UNKNOWN');
    await expectBlobReadable(repoA, blob);
  });

  test('GIVEN the same blob uploaded to two repos WHEN both read it THEN both get it, and its bytes are stored once', async () => {
    const repoA = freshRepo('iso');
    const repoB = freshRepo('iso');
    const blob = freshBlob(6000);
    const before = committedBlobFiles().length;
    await client.pushBlob(repoA, blob);
    expect(committedBlobFiles().length).toBe(before + 1);
    await client.pushBlob(repoB, blob);
    await expectBlobReadable(repoA, blob);
    await expectBlobReadable(repoB, blob);
    const files = committedBlobFiles();
    expect(files.length).toBe(before + 1);
    expect(files.filter((f) => f === blob.digest.slice('sha256:'.length))).toHaveLength(1);
  });
});

describe('blob reads', () => {
  const repo = 'reads/blobs';
  const blob = blobOf(pseudoRandomBytes(1000, 'blob-reads'));

  beforeAll(async () => {
    await client.pushBlob(repo, blob);
  });

  test('GIVEN a blob WHEN it is fetched with GET THEN 200 with Content-Length, Docker-Content-Digest and the exact bytes', async () => {
    const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
    expect(res.body.equals(blob.bytes)).toBe(true);
  });

  test('GIVEN a blob WHEN it is fetched with HEAD THEN 200 with Content-Length and Docker-Content-Digest and no body', async () => {
    const res = await client.head(`/v2/${repo}/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
    expect(res.body.length).toBe(0);
  });

  test('GIVEN a blob WHEN a byte range is requested THEN 206 with Content-Range and exactly those bytes', async () => {
    const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { Range: 'bytes=100-199' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(res.headers.get('content-length')).toBe('100');
    expect(res.body.equals(blob.bytes.subarray(100, 200))).toBe(true);

    const open = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { Range: 'bytes=990-' });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-range')).toBe('bytes 990-999/1000');
    expect(open.body.equals(blob.bytes.subarray(990))).toBe(true);
  });

  test('GIVEN a blob WHEN a suffix range is requested THEN 206 with the last bytes', async () => {
    const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { Range: 'bytes=-50' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 950-999/1000');
    expect(res.body.equals(blob.bytes.subarray(950))).toBe(true);
  });

  test('GIVEN a blob WHEN a range beyond its end is requested THEN 416 with Content-Range bytes */size and an OCI error body', async () => {
    const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { Range: 'bytes=1000-1100' });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
    expect(SPEC_ERROR_CODES).toContain(res.json().errors[0].code);
  });

  test('GIVEN a Range header that is not one bytes= range WHEN the blob is read THEN the whole blob is served (RFC 9110)', async () => {
    for (const range of ['bytes=abc', 'items=0-1', 'bytes=-']) {
      const res = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { Range: range });
      expect(res.status).toBe(200);
      expect(res.body.equals(blob.bytes)).toBe(true);
    }
  });

  test('GIVEN a malformed digest WHEN a blob is read THEN 400 DIGEST_INVALID', async () => {
    expectOciError(await client.get(`/v2/${repo}/blobs/sha256:1234`), 400, 'DIGEST_INVALID');
  });
});
