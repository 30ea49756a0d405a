/**
 * Listings (tags, catalog, referrers) and the protocol's edges (the base endpoint, methods,
 * names, errors, a TLS ClientHello on the plain-HTTP port) over plain HTTP, against an
 * in-process registry.
 */
import { startInProcessRegistry, type TestRegistry } from '../support/registry-harness';
import { EMPTY_CONFIG, blobOf, descriptor, imageBlobs, makeArtifact, makeImage, pseudoRandomBytes, type Blob, type Image } from '../support/oci-fixtures';
import { RegistryClient, expectOciError, manifestOf, rawExchange, withQuery, type Reply } from '../support/http-client';

let registry: TestRegistry;
let client: RegistryClient;
let counter = 0;
const freshRepo = (prefix = 'listings') => `${prefix}/repo-${counter++}`;
const freshImage = (): Image => makeImage({ layers: [256], seed: `listings-${Date.now()}-${counter++}` });

beforeAll(async () => {
  registry = await startInProcessRegistry();
  client = new RegistryClient(registry.url);
});
afterAll(async () => {
  await registry?.stop();
});

/** The target of a `Link: <...>; rel="next"` header, or undefined without one. */
function nextLink(res: Reply): string | undefined {
  const link = res.headers.get('link');
  if (link === null) return undefined;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  expect(match).not.toBeNull();
  return match![1];
}

/** Follows Link headers from `first`, returning every page's items. */
async function followPages(first: string, field: 'tags' | 'repositories'): Promise<string[][]> {
  const pages: string[][] = [];
  let url: string | undefined = first;
  while (url !== undefined) {
    const res = await client.get(url);
    expect(res.status).toBe(200);
    pages.push(res.json()[field]);
    url = nextLink(res);
    expect(pages.length).toBeLessThan(100);
  }
  return pages;
}

async function pushTags(repo: string, tags: string[]): Promise<Image> {
  const image = freshImage();
  for (const blob of imageBlobs(image)) await client.pushBlob(repo, blob);
  for (const tag of tags) expect((await client.putManifest(repo, tag, image.manifest)).status).toBe(201);
  return image;
}

describe('tags list', () => {
  const tags = ['v10', 'B', 'v2', 'a', 'latest', 'v1', '_x', 'v1.0-rc', 'A'];
  const repo = 'listings/tagged';
  beforeAll(async () => {
    await pushTags(repo, tags);
  });

  test('GIVEN tags pushed in any order WHEN the tags are listed THEN they come in lexical (byte) order, under the repository name', async () => {
    const res = await client.get(`/v2/${repo}/tags/list`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ name: repo, tags: [...tags].sort() });
    expect(res.json().tags).toEqual(['A', 'B', '_x', 'a', 'latest', 'v1', 'v1.0-rc', 'v10', 'v2']);
    expect(res.headers.get('link')).toBeNull();
  });

  test('GIVEN nine tags WHEN listed with n=2 THEN a Link rel="next" header leads page by page through all tags exactly once', async () => {
    const first = await client.get(`/v2/${repo}/tags/list?n=2`);
    expect(first.status).toBe(200);
    expect(first.json().tags).toEqual(['A', 'B']);
    const link = nextLink(first)!;
    expect(link).toMatch(new RegExp(`^/v2/${repo}/tags/list\\?`));
    const query = new URL(link, registry.url).searchParams;
    expect(query.get('n')).toBe('2');
    expect(query.get('last')).toBe('B');

    const pages = await followPages(`/v2/${repo}/tags/list?n=2`, 'tags');
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2, 1]);
    expect(pages.flat()).toEqual([...tags].sort());
  });

  test('GIVEN tags WHEN listed with last= THEN the list starts after that tag, with n limiting it', async () => {
    const res = await client.get(`/v2/${repo}/tags/list?last=latest&n=3`);
    expect(res.json().tags).toEqual(['v1', 'v1.0-rc', 'v10']);
    expect(nextLink(res)).toBeDefined();
    const rest = await client.get(`/v2/${repo}/tags/list?last=latest`);
    expect(rest.json().tags).toEqual(['v1', 'v1.0-rc', 'v10', 'v2']);
    expect(rest.headers.get('link')).toBeNull();
    const between = await client.get(`/v2/${repo}/tags/list?last=c`);
    expect(between.json().tags).toEqual(['latest', 'v1', 'v1.0-rc', 'v10', 'v2']);
    const past = await client.get(`/v2/${repo}/tags/list?last=zzz`);
    expect(past.json().tags).toEqual([]);
  });

  test('GIVEN n equal to the number of tags WHEN listed THEN all come on one page and no Link follows', async () => {
    const res = await client.get(`/v2/${repo}/tags/list?n=${tags.length}`);
    expect(res.json().tags).toHaveLength(tags.length);
    expect(res.headers.get('link')).toBeNull();
  });

  test('GIVEN tags WHEN listed with n=0 THEN an empty list and no Link', async () => {
    const res = await client.get(`/v2/${repo}/tags/list?n=0`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ name: repo, tags: [] });
    expect(res.headers.get('link')).toBeNull();
  });

  test('GIVEN a malformed n WHEN tags are listed THEN 400, not 5xx', async () => {
    for (const n of ['-1', 'abc', '1e3']) {
      const res = await client.get(`/v2/${repo}/tags/list?n=${n}`);
      expect(res.status).toBe(400);
      expect(res.json().errors[0].code).toMatch(/^[A-Z_]+$/);
    }
  });

  test('GIVEN an unknown repository WHEN its tags are listed THEN 404 NAME_UNKNOWN', async () => {
    expectOciError(await client.get(`/v2/${freshRepo('unknown')}/tags/list`), 404, 'NAME_UNKNOWN');
  });

  test('GIVEN repositories sharing a prefix WHEN one lists its tags THEN it sees only its own', async () => {
    await pushTags('listings/pre', ['mine']);
    await pushTags('listings/pre/fix', ['theirs']);
    await pushTags('listings/pre-fix', ['other']);
    expect((await client.get('/v2/listings/pre/tags/list')).json().tags).toEqual(['mine']);
    expect((await client.get('/v2/listings/pre/fix/tags/list')).json().tags).toEqual(['theirs']);
  });
});

describe('catalog', () => {
  test('GIVEN several repositories WHEN the catalog is listed and paginated with n THEN it is lexical and following Link yields every repository exactly once', async () => {
    const own = await startInProcessRegistry();
    try {
      const c = new RegistryClient(own.url);
      const names = ['zeta/app', 'alpha', 'alpha/nested', 'beta-1', 'beta.2', 'mid/x/y'];
      for (const name of names) await c.pushBlob(name, blobOf(Buffer.from(name)));
      const all = await c.get('/v2/_catalog');
      expect(all.status).toBe(200);
      expect(all.json()).toEqual({ repositories: [...names].sort() });

      const pages: string[][] = [];
      let url: string | undefined = '/v2/_catalog?n=4';
      while (url !== undefined) {
        const res = await c.get(url);
        pages.push(res.json().repositories);
        const link = res.headers.get('link');
        url = link === null ? undefined : /^<([^>]+)>;\s*rel="next"$/.exec(link)![1];
        if (url) expect(url).toMatch(/^\/v2\/_catalog\?/);
      }
      expect(pages.map((p) => p.length)).toEqual([4, 2]);
      expect(pages.flat()).toEqual([...names].sort());

      const zero = await c.get('/v2/_catalog?n=0');
      expect(zero.json()).toEqual({ repositories: [] });
      expect(zero.headers.get('link')).toBeNull();
      expect((await c.get('/v2/_catalog?last=beta.2')).json().repositories).toEqual(['mid/x/y', 'zeta/app']);
    } finally {
      await own.stop();
    }
  });
});

describe('referrers', () => {
  /** An ordinary image manifest (no artifactType) that names a subject. */
  function imageWithSubject(subject: Blob, image: Image, annotations?: Record<string, string>): Blob {
    const body: Record<string, unknown> = JSON.parse(image.manifest.bytes.toString());
    body.subject = descriptor(subject);
    if (annotations) body.annotations = annotations;
    return manifestOf(body);
  }

  async function referrers(repo: string, digest: string, query = ''): Promise<Reply> {
    const res = await client.get(`/v2/${repo}/referrers/${digest}${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    const index = res.json();
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    return res;
  }

  test('GIVEN an image with an artifact and a plain image referring to it WHEN its referrers are listed THEN both come back with artifactType (config type as fallback) and annotations', async () => {
    const repo = freshRepo('referrers');
    const subject = freshImage();
    await client.pushImage(repo, subject, 'v1');

    const sbom = makeArtifact({ artifactType: 'application/vnd.example.sbom', subject: subject.manifest, annotations: { 'org.example.kind': 'sbom' } });
    for (const blob of [EMPTY_CONFIG, sbom.layer]) await client.pushBlob(repo, blob);
    const pushed = await client.putManifest(repo, sbom.manifest.digest, sbom.manifest);
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('oci-subject')).toBe(subject.manifest.digest);

    const plain = freshImage();
    for (const blob of imageBlobs(plain)) await client.pushBlob(repo, blob);
    const attached = imageWithSubject(subject.manifest, plain, { 'org.example.kind': 'attestation' });
    expect((await client.putManifest(repo, attached.digest, attached)).status).toBe(201);

    const res = await referrers(repo, subject.manifest.digest);
    expect(res.headers.get('oci-filters-applied')).toBeNull();
    const manifests = res.json().manifests;
    expect(manifests).toHaveLength(2);
    expect(manifests).toEqual(
      expect.arrayContaining([
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sbom.manifest.digest,
          size: sbom.manifest.size,
          artifactType: 'application/vnd.example.sbom',
          annotations: { 'org.example.kind': 'sbom' },
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: attached.digest,
          size: attached.size,
          artifactType: 'application/vnd.oci.image.config.v1+json',
          annotations: { 'org.example.kind': 'attestation' },
        },
      ]),
    );

    // a referrer deleted is no longer listed
    expect((await client.delete(`/v2/${repo}/manifests/${attached.digest}`)).status).toBe(202);
    expect((await referrers(repo, subject.manifest.digest)).json().manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.manifest.digest]);
  });

  test('GIVEN referrers of two artifact types WHEN filtered with ?artifactType= THEN only that type comes back and OCI-Filters-Applied says artifactType', async () => {
    const repo = freshRepo('referrers');
    const subject = freshImage();
    await client.pushImage(repo, subject, 'v1');
    const made: Record<string, Blob> = {};
    for (const type of ['application/vnd.example.sig', 'application/vnd.example.sbom']) {
      const artifact = makeArtifact({ artifactType: type, subject: subject.manifest });
      for (const blob of [EMPTY_CONFIG, artifact.layer]) await client.pushBlob(repo, blob);
      expect((await client.putManifest(repo, artifact.manifest.digest, artifact.manifest)).status).toBe(201);
      made[type] = artifact.manifest;
    }
    const res = await referrers(repo, subject.manifest.digest, `?artifactType=${encodeURIComponent('application/vnd.example.sig')}`);
    expect(res.headers.get('oci-filters-applied')).toBe('artifactType');
    const manifests = res.json().manifests;
    expect(manifests.map((m: { digest: string }) => m.digest)).toEqual([made['application/vnd.example.sig'].digest]);
    expect(manifests[0].artifactType).toBe('application/vnd.example.sig');

    const none = await referrers(repo, subject.manifest.digest, '?artifactType=application/vnd.example.nothing');
    expect(none.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(none.json().manifests).toEqual([]);
    expect((await referrers(repo, subject.manifest.digest)).json().manifests).toHaveLength(2);
  });

  test('GIVEN a referrer whose subject was never pushed WHEN the referrers of that digest are listed THEN the referrer is listed', async () => {
    const repo = freshRepo('referrers');
    const subject = freshImage();
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.early', subject: subject.manifest });
    for (const blob of [EMPTY_CONFIG, artifact.layer]) await client.pushBlob(repo, blob);
    expect((await client.putManifest(repo, artifact.manifest.digest, artifact.manifest)).status).toBe(201);
    const manifests = (await referrers(repo, subject.manifest.digest)).json().manifests;
    expect(manifests.map((m: { digest: string }) => m.digest)).toEqual([artifact.manifest.digest]);
  });

  test('GIVEN a referrer in repo A WHEN repo B lists the referrers of the same subject THEN B sees none', async () => {
    const repoA = freshRepo('referrers');
    const repoB = freshRepo('referrers');
    const subject = freshImage();
    await client.pushImage(repoA, subject);
    await client.pushImage(repoB, subject);
    const artifact = makeArtifact({ artifactType: 'application/vnd.example.sig', subject: subject.manifest });
    for (const blob of [EMPTY_CONFIG, artifact.layer]) await client.pushBlob(repoA, blob);
    expect((await client.putManifest(repoA, artifact.manifest.digest, artifact.manifest)).status).toBe(201);
    expect((await referrers(repoA, subject.manifest.digest)).json().manifests).toHaveLength(1);
    expect((await referrers(repoB, subject.manifest.digest)).json().manifests).toEqual([]);
  });

  test('GIVEN a well-formed digest nothing refers to WHEN its referrers are listed THEN 200 with an empty index', async () => {
    const repo = freshRepo('referrers');
    await client.pushImage(repo, freshImage(), 'v1');
    const unknown = blobOf(pseudoRandomBytes(32, `unknown-${counter++}`)).digest;
    expect((await referrers(repo, unknown)).json()).toEqual({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    // and in a repository that does not exist at all
    expect((await referrers(freshRepo('nowhere'), unknown)).json().manifests).toEqual([]);
  });

  test('GIVEN a malformed digest WHEN referrers are listed THEN 400 DIGEST_INVALID', async () => {
    const repo = freshRepo('referrers');
    for (const digest of ['sha256:abc', 'latest', 'sha256:' + 'g'.repeat(64)]) {
      expectOciError(await client.get(`/v2/${repo}/referrers/${digest}`), 400, 'DIGEST_INVALID');
    }
  });
});

describe('errors and transport', () => {
  test('GIVEN a registry WHEN GET /v2/ is requested THEN 200 with Docker-Distribution-Api-Version: registry/2.0, also on errors', async () => {
    for (const path of ['/v2/', '/v2']) {
      const res = await client.get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    }
    const error = await client.get(`/v2/${freshRepo('unknown')}/tags/list`);
    expect(error.status).toBe(404);
    expect(error.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('GIVEN routes WHEN a method they do not support is used THEN 405 UNSUPPORTED with Allow, and nothing changes', async () => {
    const repo = freshRepo();
    const image = await pushTags(repo, ['v1']);
    const cases: [string, string][] = [
      ['POST', `/v2/${repo}/manifests/v1`],
      ['PATCH', `/v2/${repo}/manifests/v1`],
      ['DELETE', `/v2/${repo}/tags/list`],
      ['PUT', `/v2/${repo}/blobs/${image.config.digest}`],
      ['DELETE', '/v2/'],
      ['POST', '/v2/_catalog'],
    ];
    for (const [method, path] of cases) {
      const res = await client.request(method, path, { body: method === 'GET' || method === 'DELETE' ? undefined : image.manifest.bytes });
      expectOciError(res, 405, 'UNSUPPORTED');
      expect(res.headers.get('allow')).toBeTruthy();
    }
    const still = await client.get(`/v2/${repo}/manifests/v1`);
    expect(still.status).toBe(200);
    expect(still.body.equals(image.manifest.bytes)).toBe(true);
    expect((await client.get(`/v2/${repo}/blobs/${image.config.digest}`)).body.equals(image.config.bytes)).toBe(true);
  });

  test('GIVEN repository names outside the grammar WHEN they are used THEN 400 NAME_INVALID and no repository appears', async () => {
    const blob = blobOf(Buffer.from(`invalid-name-${counter++}`));
    for (const name of ['Upper/case', 'a//b', '-lead', 'trail-', 'a..b', 'a/.b', 'sp%20ace', 'a%2Fb']) {
      expectOciError(await client.request('POST', `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { body: blob.bytes }), 400, 'NAME_INVALID');
      expectOciError(await client.get(`/v2/${name}/tags/list`), 400, 'NAME_INVALID');
    }
    const catalog = (await client.get('/v2/_catalog')).json().repositories as string[];
    expect(catalog.filter((r) => /[A-Z]|\/\/|^-|-$|\.\.| /.test(r))).toEqual([]);
  });

  test('GIVEN a name of 257 characters WHEN used THEN 400 NAME_INVALID; one of 256 characters works for a whole push', async () => {
    const longest = `${'a'.repeat(120)}/${'b'.repeat(135)}`;
    expect(longest).toHaveLength(256);
    const tooLong = `${longest}c`;
    const image = freshImage();

    const refused = await client.request('POST', `/v2/${tooLong}/blobs/uploads/`);
    expectOciError(refused, 400, 'NAME_INVALID');
    expectOciError(await client.putManifest(tooLong, 'v1', image.manifest), 400, 'NAME_INVALID');
    expectOciError(await client.get(`/v2/${tooLong}/tags/list`), 400, 'NAME_INVALID');

    await client.pushImage(longest, image, 'v1');
    const tags = await client.get(`/v2/${longest}/tags/list`);
    expect(tags.json()).toEqual({ name: longest, tags: ['v1'] });
    const manifest = await client.get(`/v2/${longest}/manifests/v1`);
    expect(manifest.body.equals(image.manifest.bytes)).toBe(true);
    expect((await client.get('/v2/_catalog')).json().repositories).toContain(longest);
  });

  // Issue 9 point 9: a read of a reference no manifest can have is 404 (was 400); only the PUT refuses it with 400.
  test('GIVEN a tag of 129 characters WHEN a manifest is pushed or read under it THEN the push is 400, the read 404, and the tag does not exist', async () => {
    const repo = freshRepo();
    const image = await pushTags(repo, ['v1']);
    const tag = 'a'.repeat(129);
    const res = await client.putManifest(repo, tag, image.manifest);
    expect(res.status).toBe(400);
    expect(res.json().errors[0].code).toBe('TAG_INVALID');
    expectOciError(await client.get(`/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
    expect((await client.get(`/v2/${repo}/tags/list`)).json().tags).toEqual(['v1']);
  });

  test('GIVEN the plain-HTTP port WHEN a client opens with a TLS ClientHello THEN it promptly gets a response starting with HTTP/1.1 400', async () => {
    const random = pseudoRandomBytes(32, 'client-hello');
    const hello = Buffer.concat([
      Buffer.from([0x01, 0x00, 0x00, 0x2b]), // ClientHello, 43 bytes
      Buffer.from([0x03, 0x03]), // TLS 1.2
      random,
      Buffer.from([0x00]), // no session id
      Buffer.from([0x00, 0x02, 0xc0, 0x2f]), // one cipher suite
      Buffer.from([0x01, 0x00]), // null compression
      Buffer.from([0x00, 0x00]), // no extensions
    ]);
    const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, hello.length]), hello]);
    const { data, elapsedMs } = await rawExchange('127.0.0.1', Number(new URL(registry.url).port), record, 5000);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 400/);
    expect(elapsedMs).toBeLessThan(2000);
    // the registry still serves ordinary requests afterwards
    expect((await client.get('/v2/')).status).toBe(200);
  });

  test('GIVEN request lines a URL parser would normalize (dot segments, encoded slashes) WHEN sent raw THEN 4xx OCI errors and no repository appears', async () => {
    const port = Number(new URL(registry.url).port);
    for (const target of ['/v2/../../etc/passwd/tags/list', '/v2/a/../b/tags/list', '/v2/a%2Fb/tags/list', `/v2/a%2F..%2Fb/blobs/uploads/`]) {
      const method = target.endsWith('/uploads/') ? 'POST' : 'GET';
      const request = `${method} ${target} HTTP/1.1\r\nHost: ${registry.host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
      const { data } = await rawExchange('127.0.0.1', port, Buffer.from(request), 5000);
      const text = data.toString('utf8');
      expect(text).toMatch(/^HTTP\/1\.1 4\d\d /);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
      expect(body.errors[0].code).toBe('NAME_INVALID');
    }
    const catalog = (await client.get('/v2/_catalog')).json().repositories as string[];
    expect(catalog.filter((r) => r.includes('..') || r === 'a/b' || r === 'b')).toEqual([]);
  });

  test('GIVEN hostile and malformed requests WHEN they are sent THEN every answer is a 4xx OCI error without a stack trace', async () => {
    const repo = freshRepo();
    const image = await pushTags(repo, ['v1']);
    const upload = await client.startUpload(repo);
    const blob = blobOf(pseudoRandomBytes(100, `hostile-${counter++}`));
    const cases: [string, string, { headers?: Record<string, string>; body?: Buffer | string }?][] = [
      ['GET', '/v2/%E0%A4%A/tags/list'],
      ['GET', `/v2/${repo}/manifests/%E0%A4%A`],
      ['GET', `/v2/${repo}/blobs/sha256:%ZZ`],
      ['GET', `/v2/${repo}/blobs/uploads/%E0%A4%A`],
      ['GET', '/v2/../../etc/passwd/tags/list'],
      ['GET', `/v2/${repo}/blobs/uploads/..%2F..%2Fetc`],
      ['PATCH', `/v2/${repo}/blobs/uploads/..%2F..%2Fetc`, { body: 'x' }],
      ['GET', `/v2/${repo}/blobs/uploads/${'z'.repeat(300)}`],
      ['GET', `/v2/${repo}/manifests/sha256:${'0'.repeat(64)}`],
      ['GET', `/v2/${repo}/manifests/sha999:${'0'.repeat(64)}`],
      ['GET', `/v2/${repo}/blobs/${image.layers[0].digest}`, { headers: { Range: 'bytes=50-10' } }],
      ['GET', `/v2/${repo}/tags/list?n=99999999999999999999`],
      ['GET', `/v2/_catalog?n=-5`],
      ['PATCH', upload, { headers: { 'Content-Range': 'bytes=abc' }, body: blob.bytes }],
      ['PATCH', upload, { headers: { 'Content-Range': '0-9' }, body: blob.bytes }],
      ['PATCH', upload, { headers: { 'Content-Range': '0-199' }, body: blob.bytes }],
      ['PUT', withQuery(upload, { digest: 'sha256:' }), { body: blob.bytes }],
      ['PUT', `/v2/${repo}/manifests/v2`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":-1}}' }],
      ['PUT', `/v2/${repo}/manifests/v2`, { headers: { 'Content-Type': 'text/plain' }, body: '{"schemaVersion":2}' }],
      ['PUT', `/v2/${repo}/manifests/v2`, { headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body: '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":{}}' }],
      ['PUT', `/v2/${repo}/manifests/v2`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: '' }],
      ['POST', `/v2/${repo}/blobs/uploads/?digest=sha256:nope`, { body: 'x' }],
      ['DELETE', `/v2/${repo}/blobs/sha256:nope`],
      ['DELETE', `/v2/${repo}/manifests/sha256:nope`],
      ['GET', '/v2/nothing-here'],
    ];
    for (const [method, path, options] of cases) {
      const res = await client.request(method, path, options ?? {});
      const shown = `${method} ${path} -> ${res.status} ${res.text().slice(0, 300)}`;
      expect({ shown, ok: res.status >= 400 && res.status < 500 }).toEqual({ shown, ok: true });
      const body = res.json();
      expect(Array.isArray(body.errors)).toBe(true);
      expect(typeof body.errors[0].code).toBe('string');
      expect(JSON.stringify(body)).not.toMatch(/\bat .+:\d+:\d+|Error: |\.ts\b|node_modules/);
    }
    // none of that changed the repository
    expect((await client.get(`/v2/${repo}/tags/list`)).json().tags).toEqual(['v1']);
    const status = await client.get(upload);
    expect(status.status).toBe(204);
  });
});

describe('referrers pagination', () => {
  let small: TestRegistry;
  let smallClient: RegistryClient;
  beforeAll(async () => {
    small = await startInProcessRegistry(undefined, { referrersPageSize: 2 });
    smallClient = new RegistryClient(small.url);
  });
  afterAll(async () => {
    await small?.stop();
  });

  test('GIVEN five referrers and a page size of two WHEN the Link headers are followed THEN every referrer comes exactly once, in digest order, filter kept', async () => {
    const repo = 'paged/referrers';
    const subject = makeImage({ layers: [128], seed: 'paged-subject' });
    await smallClient.pushImage(repo, subject, 'v1');
    const pushed: string[] = [];
    for (let i = 0; i < 5; i++) {
      const artifact = makeArtifact({ artifactType: 'application/vnd.example.sig', subject: subject.manifest, payload: Buffer.from(`sig ${i}`) });
      for (const blob of [EMPTY_CONFIG, artifact.layer]) await smallClient.pushBlob(repo, blob);
      expect((await smallClient.putManifest(repo, artifact.manifest.digest, artifact.manifest)).status).toBe(201);
      pushed.push(artifact.manifest.digest);
    }
    const seen: string[] = [];
    let url: string | undefined = `/v2/${repo}/referrers/${subject.manifest.digest}?artifactType=application%2Fvnd.example.sig`;
    let pages = 0;
    while (url !== undefined) {
      const res = await smallClient.get(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('oci-filters-applied')).toBe('artifactType');
      const manifests: { digest: string }[] = res.json().manifests;
      expect(manifests.length).toBeLessThanOrEqual(2);
      seen.push(...manifests.map((m) => m.digest));
      url = nextLink(res);
      pages++;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...pushed].sort());
  });
});
