/**
 * Bad input, generated: names, references, digests, Range and Content-Range headers, n/last
 * and manifest bodies (random JSON, mutated valid manifests, random bytes) against a real
 * in-process registry holding one seeded image.
 *
 * For every request:
 *   - the answer is never a 5xx;
 *   - it is the answer the input calls for: an independent oracle (the spec's grammars and
 *     what is stored) works out which status and error code fit, and a 4xx must carry the
 *     spec's JSON error body with one of them;
 *   - storage did not change (catalog, tags, manifest digests, the blob directory, and the
 *     metadata as the store lists it), unless the input happened to be a valid change.
 */
import fc from 'fast-check';
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CATALOGUE } from '../../lambdas/core/errors';
import { parseManifest } from '../../lambdas/core/manifest';
import { parseRequestedRange } from '../../lambdas/core/ranges';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import { startInProcessRegistry, type TestRegistry } from '../support/registry-harness';
import { EMPTY_CONFIG, blobOf, makeArtifact, makeImage, makeIndex, type Blob } from '../support/oci-fixtures';

const SEED = 0x0ce7_2024;
const RUNS = 60;
const REPO = 'fuzz/app';
const OTHER = 'fuzz/other';

// ---- the oracle's own rules (from the OCI Distribution Spec, not from the code under test) ----

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const validName = (n: string) => n.length <= 256 && NAME.test(n);
const validDigest = (d: string) => DIGEST.test(d);

/** The spec's error codes, plus the catalogue's own (TAG_INVALID, RANGE_INVALID's code, NOT_FOUND, ...). */
const SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];
const KNOWN_CODES = new Set([...SPEC_CODES, ...Object.values(ERROR_CATALOGUE).map((e) => e.code)]);

/** One acceptable answer: a success status, or an error status with its code. */
interface Outcome {
  status: number;
  code?: string;
}
const err = (status: number, code: string): Outcome => ({ status, code });
const ok = (status: number): Outcome => ({ status });

// ---- the registry, its seed, and what a snapshot of its storage holds ----

let registry: TestRegistry;
let store: LmdbMetadataStore;
const image = makeImage({ layers: [300, 2000], seed: 'bad-input-seed' });
const artifact = makeArtifact({ artifactType: 'application/vnd.example.sig', subject: image.manifest, payload: Buffer.from('signature bytes') });
const index = makeIndex([image]);
const otherBlob = blobOf(Buffer.from('only in the other repository'));
const seededBlobs: Blob[] = [image.config, ...image.layers, EMPTY_CONFIG, artifact.layer];
const seededManifests: Blob[] = [image.manifest, artifact.manifest, index];
const SEEDED_TAGS = ['v1', 'latest', 'multi'];

interface Request {
  method: string;
  path: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string | undefined>;
  body?: Uint8Array;
}

interface Response {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

async function send(req: Request): Promise<Response> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) query.set(k, v);
  const qs = query.toString();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
  const res = await fetch(`${registry.url}${req.path}${qs ? `?${qs}` : ''}`, { method: req.method, headers, body: req.body, redirect: 'manual' });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function pushBlob(repo: string, blob: Blob): Promise<void> {
  const res = await send({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, query: { digest: blob.digest }, body: blob.bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`seeding blob ${blob.digest}: ${res.status} ${res.bytes}`);
}

async function pushManifest(repo: string, reference: string, manifest: Blob): Promise<void> {
  const res = await send({ method: 'PUT', path: `/v2/${repo}/manifests/${reference}`, body: manifest.bytes, headers: { 'content-type': manifest.mediaType } });
  if (res.status !== 201) throw new Error(`seeding manifest ${reference}: ${res.status} ${res.bytes}`);
}

/** Puts the seed back (after a valid change removed part of it): blobs, then manifests and tags. */
async function seed(): Promise<void> {
  for (const blob of seededBlobs) await pushBlob(REPO, blob);
  await pushBlob(OTHER, otherBlob);
  await pushManifest(REPO, 'v1', image.manifest);
  await pushManifest(REPO, 'latest', image.manifest);
  await pushManifest(REPO, artifact.manifest.digest, artifact.manifest);
  await pushManifest(REPO, 'multi', index);
}

interface Snapshot {
  catalog: string[];
  tags: Record<string, string[]>;
  /** repo:tag -> the digest a HEAD answers with. */
  manifestDigests: Record<string, string | null>;
  /** content/blobs, as relative path and size. */
  files: string[];
  /** What the metadata store lists and answers for every repository and every digest of interest. */
  metadata: unknown;
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(`${relative(root, path)} ${statSync(path).size}`);
    }
  };
  walk(root);
  return out.sort();
}

/** Every page of a store listing. */
async function listAll(list: (last?: string) => Promise<{ items: string[]; more: boolean }>): Promise<string[]> {
  const all: string[] = [];
  let last: string | undefined;
  for (;;) {
    const page = await list(last);
    all.push(...page.items);
    if (!page.more) return all;
    last = page.items[page.items.length - 1];
  }
}

async function snapshot(probeDigests: string[] = []): Promise<Snapshot> {
  const catalogRes = await send({ method: 'GET', path: '/v2/_catalog' });
  const catalog: string[] = JSON.parse(catalogRes.bytes.toString()).repositories;
  const tags: Record<string, string[]> = {};
  const manifestDigests: Record<string, string | null> = {};
  for (const repo of catalog) {
    tags[repo] = JSON.parse((await send({ method: 'GET', path: `/v2/${repo}/tags/list` })).bytes.toString()).tags;
    for (const tag of tags[repo]) {
      manifestDigests[`${repo}:${tag}`] = (await send({ method: 'HEAD', path: `/v2/${repo}/manifests/${tag}` })).headers.get('docker-content-digest');
    }
  }

  const digests = [...new Set([...seededBlobs, otherBlob, ...seededManifests].map((b) => b.digest).concat(probeDigests.filter(validDigest)))];
  const repositories = await listAll((last) => store.listRepositories({ limit: 50, last }));
  const metadata: Record<string, unknown> = {};
  for (const repo of repositories) {
    const repoTags = await listAll((last) => store.listTags(repo, { limit: 50, last }));
    const manifests: Record<string, unknown> = {};
    for (const digest of [...digests, ...(await Promise.all(repoTags.map((t) => store.resolveTag(repo, t))))]) {
      if (!digest || manifests[digest] !== undefined) continue;
      const m = await store.getManifest(repo, digest);
      // A GET records the pull time (lastRecordedPullTime): bookkeeping of a read, not a change of content.
      if (m) {
        const { lastPulledAt: _pulled, ...record } = m;
        manifests[digest] = { ...record, body: m.body ? createHash('sha256').update(m.body).digest('hex') : null };
      }
    }
    metadata[repo] = {
      record: await store.getRepository(repo),
      tags: Object.fromEntries(await Promise.all(repoTags.map(async (t) => [t, await store.resolveTag(repo, t)]))),
      links: Object.fromEntries(await Promise.all(digests.map(async (d) => [d, await store.statBlobLink(repo, d)]))),
      manifests,
      referrers: Object.fromEntries(await Promise.all(digests.map(async (d) => [d, (await store.listReferrers(repo, d, { limit: 1000 })).items]))),
    };
  }
  metadata['#blob-repositories'] = Object.fromEntries(await Promise.all(digests.map(async (d) => [d, await store.repositoriesWithBlob(d, 100)])));

  return { catalog, tags, manifestDigests, files: listFiles(join(registry.dataDir, 'content', 'blobs')), metadata: { repositories, ...metadata } };
}

// ---- checking one request ----

interface Case {
  req: Request;
  /** Answers that fit the input; the first success status marks the input as valid. */
  expected: Outcome[];
  /** Digests the input names, so the snapshots look at them too. */
  probes?: string[];
  /** Extra checks on a successful answer. */
  onSuccess?: (res: Response) => void;
}

const MUTATING = new Set(['PUT', 'DELETE', 'POST', 'PATCH']);

function describeCase(c: Case, res: Response): string {
  const body = c.req.body ? ` body(${c.req.body.length})=${JSON.stringify(Buffer.from(c.req.body).toString('latin1').slice(0, 300))}` : '';
  return `${c.req.method} ${c.req.path} query=${JSON.stringify(c.req.query ?? {})} headers=${JSON.stringify(c.req.headers ?? {})}${body}\n  -> ${res.status} ${res.bytes.toString().slice(0, 400)}\n  expected one of ${JSON.stringify(c.expected)}`;
}

async function check(c: Case): Promise<void> {
  const before = await snapshot(c.probes);
  const res = await send(c.req);
  const context = () => describeCase(c, res);

  if (res.status >= 500) throw new Error(`server error\n${context()}`);
  const fits = c.expected.filter((o) => o.status === res.status);
  if (fits.length === 0) throw new Error(`status does not fit the input\n${context()}`);

  if (res.status >= 400) {
    if (c.req.method !== 'HEAD') {
      let body: { errors?: { code?: unknown; message?: unknown }[] };
      try {
        body = JSON.parse(res.bytes.toString());
      } catch {
        throw new Error(`error without a JSON body\n${context()}`);
      }
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      if (!Array.isArray(body.errors) || body.errors.length === 0) throw new Error(`error body without errors[]\n${context()}`);
      for (const e of body.errors) {
        if (typeof e.code !== 'string' || !KNOWN_CODES.has(e.code) || typeof e.message !== 'string') throw new Error(`error entry off the spec\n${context()}`);
      }
      const code = body.errors[0].code as string;
      if (!fits.some((o) => o.code === code)) throw new Error(`error code ${code} does not fit the input\n${context()}`);
    }
    if (res.status === 416) expect(res.headers.get('content-range') ?? res.headers.get('range')).toBeTruthy();
  } else {
    c.onSuccess?.(res);
  }

  const after = await snapshot(c.probes);
  if (res.status < 300 && MUTATING.has(c.req.method)) {
    // A valid change: put the seed back so that later inputs meet the same registry.
    await seed();
    return;
  }
  try {
    expect(after).toEqual(before);
  } catch (e) {
    throw new Error(`storage changed\n${context()}\n${(e as Error).message}`, { cause: e });
  }
}

// ---- generators ----

const noDotSegments = (s: string) => s.split('/').every((part) => part !== '.' && part !== '..');
const encodable = (s: string) => {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
};
/** Path form: every character escaped as a client would, except the `/` between components. */
const encodeName = (name: string) => name.split('/').map(encodeURIComponent).join('/');

const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:(?:\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}$/);
const arbValidName = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
/** Names of 240 to 270 characters: both sides of the 256 limit. */
const arbLongName = fc.integer({ min: 240, max: 270 }).map((length) => {
  let name = 'a'.repeat(Math.min(length, 100));
  while (name.length < length) name += length - name.length === 1 ? 'b' : '/' + 'b'.repeat(Math.min(length - name.length - 1, 100));
  return name;
});
const arbNameAlphabet = fc
  .string({ unit: fc.constantFrom('a', 'b', 'z', '0', '9', '.', '_', '-', '/', 'A', ':', '@', ' ', '%'), minLength: 1, maxLength: 24 })
  .filter(noDotSegments);
const arbAnyName = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('/') && s !== '.' && s !== '..' && encodable(s));
const arbName = fc.oneof(
  { weight: 3, arbitrary: fc.constant(REPO) },
  { weight: 1, arbitrary: fc.constant(OTHER) },
  { weight: 2, arbitrary: arbValidName },
  { weight: 1, arbitrary: arbLongName },
  { weight: 2, arbitrary: arbNameAlphabet },
  { weight: 2, arbitrary: arbAnyName },
);

/** Header text a client can send: visible ASCII, spaces and tabs (fetch refuses control characters). */
const arbHeaderText = (maxLength: number) =>
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), fc.constant('\t')), maxLength });

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const arbValidDigest = fc.oneof(hex(64).map((h) => `sha256:${h}`), hex(128).map((h) => `sha512:${h}`));
const arbBadDigest = fc.oneof(
  hex(64).map((h) => `sha256:${h.toUpperCase()}`),
  hex(63).map((h) => `sha256:${h}`),
  hex(65).map((h) => `sha256:${h}`),
  hex(64).map((h) => `sha512:${h}`),
  hex(96).map((h) => `sha384:${h}`),
  hex(64).map((h) => `md5:${h}`),
  hex(64),
  fc.constant('sha256:'),
  fc.string({ unit: fc.constantFrom('s', 'h', 'a', '2', '5', '6', ':', 'f', 'G', '+', '='), minLength: 1, maxLength: 20 }),
);
const arbSeededBlobDigest = fc.constantFrom(...seededBlobs.map((b) => b.digest), otherBlob.digest);
const arbSeededManifestDigest = fc.constantFrom(...seededManifests.map((b) => b.digest));
/** Any text (empty strings come from the constants, so that shrinking's favourite does not crowd the rest out). */
const arbAnyString = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => encodable(s) && s !== '.' && s !== '..');
const arbDigest = fc.oneof(arbSeededBlobDigest, arbSeededManifestDigest, arbValidDigest, arbBadDigest, arbAnyString.filter((s) => !s.includes('/')));

const arbTag = fc.oneof(
  fc.constantFrom(...SEEDED_TAGS, 'missing', 'a'.repeat(128), 'a'.repeat(129), '_x', '.x', '-x', 'x:y'),
  fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '_', '-', ':', '+', '/', ' '), minLength: 1, maxLength: 20 }),
  fc.integer({ min: 120, max: 135 }).map((n) => 'v'.repeat(n)),
);
const arbReference = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SEEDED_TAGS, ...seededManifests.map((m) => m.digest)) },
    { weight: 3, arbitrary: arbTag },
    { weight: 3, arbitrary: arbDigest },
    { weight: 2, arbitrary: arbAnyString },
    { weight: 1, arbitrary: fc.constant('') },
  )
  .filter((r) => r !== '.' && r !== '..' && !r.includes('/'));
/** Mostly the seeded repository, where references resolve; sometimes anything. */
const arbNameMostlySeeded = fc.oneof({ weight: 2, arbitrary: fc.constant(REPO) }, { weight: 3, arbitrary: arbName });

/** What the registry may hold for the oracle: taken from the store before the request. */
async function repoExists(name: string): Promise<boolean> {
  return validName(name) && (await store.getRepository(name)) !== null;
}

/** Outcomes for a name that must be valid, else `undefined` when it is. */
function nameOutcomes(name: string): Outcome[] | undefined {
  if (name === '') return [err(404, 'NOT_FOUND'), err(400, 'NAME_INVALID')];
  if (!validName(name)) return [err(400, 'NAME_INVALID')];
  return undefined;
}

function referenceOutcomes(reference: string): Outcome[] | undefined {
  if (reference.includes(':')) return validDigest(reference) ? undefined : [err(400, 'DIGEST_INVALID')];
  return TAG.test(reference) ? undefined : [err(400, 'TAG_INVALID')];
}

function assertProperty<T>(arb: fc.Arbitrary<T>, run: (input: T) => Promise<void>, numRuns = RUNS): Promise<void> {
  return fc.assert(fc.asyncProperty(arb, run), { seed: SEED, numRuns, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: true });
}

// ---- the properties ----

beforeAll(async () => {
  registry = await startInProcessRegistry();
  await seed();
  // A second handle on the same LMDB environment: reads what the registry's store commits.
  store = await LmdbMetadataStore.open({ path: join(registry.dataDir, 'metadata') });
});

afterAll(async () => {
  await store?.close();
  await registry?.stop();
});

test('GIVEN the seed THEN the snapshot sees it (the oracle looks at real data)', async () => {
  const s = await snapshot();
  expect(s.catalog).toEqual([REPO, OTHER]);
  expect(s.tags[REPO]).toEqual(['latest', 'multi', 'v1']);
  expect(s.manifestDigests[`${REPO}:v1`]).toBe(image.manifest.digest);
  expect(s.files.length).toBe(seededBlobs.length + 1);
});

test('GIVEN arbitrary names and references WHEN manifests are fetched, probed or deleted THEN the answer fits and storage is unchanged', async () => {
  await assertProperty(fc.record({ method: fc.constantFrom('GET', 'HEAD', 'DELETE'), name: arbNameMostlySeeded, reference: arbReference }), async ({ method, name, reference }) => {
    const path = `/v2/${encodeName(name)}/manifests/${encodeURIComponent(reference)}`;
    let expected: Outcome[];
    if (reference === '') expected = [err(404, 'NOT_FOUND')];
    else if (nameOutcomes(name)) expected = nameOutcomes(name)!;
    // No manifest can be named by an invalid tag or digest: reading or deleting one is "not found" (only a PUT answers 400).
    else if (referenceOutcomes(reference)) expected = [(await repoExists(name)) ? err(404, 'MANIFEST_UNKNOWN') : err(404, 'NAME_UNKNOWN')];
    else {
      const digest = reference.includes(':') ? reference : await store.resolveTag(name, reference);
      const stored = digest !== null && (await store.getManifest(name, digest)) !== null;
      const missing = (await repoExists(name)) ? err(404, 'MANIFEST_UNKNOWN') : err(404, 'NAME_UNKNOWN');
      if (method === 'DELETE') {
        const inUse = stored && reference.includes(':') && digest === image.manifest.digest && name === REPO;
        expected = inUse ? [err(409, 'DENIED')] : stored ? [ok(202)] : [missing];
      } else {
        expected = stored ? [ok(200)] : [missing];
      }
    }
    await check({ req: { method, path }, expected, probes: [reference] });
  });
});

test('GIVEN arbitrary n and last WHEN tags and the catalog are listed THEN the answer fits, pages are right, and storage is unchanged', async () => {
  const arbN = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('', '0', '1', '2', '1000', '1001', '999999999', '1234567890', '-1', '1.5', ' 1', '1 ', '+1', '0x10', '1e3', 'NaN'),
    fc.nat({ max: 5 }).map(String),
    fc.string({ unit: 'binary-ascii', maxLength: 12 }),
  );
  const arbLast = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('', 'latest', 'multi', 'v1', 'a', 'z', REPO, OTHER, 'fuzz', 'fuzz/', '\u0000', '\u007f', '\u00e9'),
    arbAnyString,
    fc.integer({ min: 1500, max: 6000 }).map((n) => 'm'.repeat(n)),
  );
  await assertProperty(fc.record({ catalog: fc.boolean(), name: arbName, n: arbN, last: arbLast }), async ({ catalog, name, n, last }) => {
    const nValid = n === undefined || n === '' || /^\d{1,9}$/.test(n);
    const limit = n === undefined || n === '' || !nValid ? 1000 : Math.min(Number(n), 1000);
    const expectedPage = async (all: string[]) => {
      const after = last === undefined ? all : all.filter((x) => Buffer.compare(Buffer.from(x), Buffer.from(last)) > 0);
      return limit === 0 ? [] : after.slice(0, limit);
    };
    if (catalog) {
      const all = await listAll((l) => store.listRepositories({ limit: 50, last: l }));
      const page = await expectedPage(all);
      await check({
        req: { method: 'GET', path: '/v2/_catalog', query: { n, last } },
        expected: nValid ? [ok(200)] : [err(400, 'PAGINATION_NUMBER_INVALID')],
        onSuccess: (res) => expect(JSON.parse(res.bytes.toString())).toEqual({ repositories: page }),
      });
      return;
    }
    let expected: Outcome[];
    let page: string[] = [];
    if (nameOutcomes(name)) expected = nameOutcomes(name)!;
    else if (!(await repoExists(name))) expected = [err(404, 'NAME_UNKNOWN')];
    else if (!nValid) expected = [err(400, 'PAGINATION_NUMBER_INVALID')];
    else {
      expected = [ok(200)];
      page = await expectedPage(await listAll((l) => store.listTags(name, { limit: 50, last: l })));
    }
    await check({
      req: { method: 'GET', path: `/v2/${encodeName(name)}/tags/list`, query: { n, last } },
      expected,
      onSuccess: (res) => expect(JSON.parse(res.bytes.toString())).toEqual({ name, tags: page }),
    });
  });
});

test('GIVEN arbitrary digests and Range headers WHEN blobs are fetched, probed or deleted THEN the answer fits and storage is unchanged', async () => {
  const size = image.layers[1].size;
  const arbRange = fc.oneof(
    fc.constant(undefined),
    fc.tuple(fc.integer({ min: 0, max: size + 10 }), fc.integer({ min: 0, max: size + 10 })).map(([a, b]) => `bytes=${a}-${b}`),
    fc.integer({ min: 0, max: size + 10 }).map((a) => `bytes=${a}-`),
    fc.integer({ min: 0, max: size + 10 }).map((a) => `bytes=-${a}`),
    fc.constantFrom('bytes=-', 'bytes=0-0,5-9', 'bytes=1-2, 3-4', 'items=0-1', '0-1', 'bytes 0-1', 'bytes=a-b', '', 'bytes=99999999999999999-', `bytes=0-${'9'.repeat(20)}`),
    arbHeaderText(20),
  );
  const arbBlobDigest = fc.oneof({ weight: 3, arbitrary: fc.constant(image.layers[1].digest) }, { weight: 4, arbitrary: arbDigest }, { weight: 1, arbitrary: fc.constant('uploads') });
  await assertProperty(fc.record({ method: fc.constantFrom('GET', 'GET', 'HEAD', 'DELETE'), name: arbNameMostlySeeded, digest: arbBlobDigest, range: arbRange }), async ({ method, name, digest, range }) => {
    const path = `/v2/${encodeName(name)}/blobs/${encodeURIComponent(digest)}`;
    const headers = method === 'GET' ? { range } : {};
    let expected: Outcome[];
    let body: Buffer | undefined;
    if (digest === '') expected = [err(404, 'NOT_FOUND')];
    else if (digest === 'uploads') expected = [err(405, 'UNSUPPORTED'), ...(nameOutcomes(name) ?? [])];
    else if (nameOutcomes(name)) expected = nameOutcomes(name)!;
    else if (!validDigest(digest)) expected = [err(400, 'DIGEST_INVALID')];
    else {
      const link = await store.statBlobLink(name, digest);
      const blob = [...seededBlobs, otherBlob].find((b) => b.digest === digest);
      if (!link) expected = [err(404, 'BLOB_UNKNOWN')];
      // Every blob seeded into REPO is used by a seeded manifest; links elsewhere (OTHER, mounts) are not.
      else if (method === 'DELETE') expected = name === REPO && seededBlobs.some((b) => b.digest === digest) ? [err(409, 'DENIED')] : [ok(202)];
      else if (method === 'HEAD' || range === undefined) {
        expected = [ok(200)];
        body = method === 'GET' ? blob!.bytes : undefined;
      } else {
        // Which ranges are satisfiable is RFC 9110's rule, unit-tested in ranges.test.ts.
        let slice: { start: number; end: number } | undefined;
        let satisfiable = true;
        try {
          slice = parseRequestedRange(range, link.size);
        } catch {
          satisfiable = false;
        }
        expected = !satisfiable ? [err(416, 'SIZE_INVALID')] : slice ? [ok(206)] : [ok(200)];
        body = slice ? blob!.bytes.subarray(slice.start, slice.end + 1) : blob!.bytes;
      }
    }
    await check({
      req: { method, path, headers },
      expected,
      probes: [digest],
      onSuccess: (res) => {
        if (body) expect(res.bytes.equals(body)).toBe(true);
      },
    });
  });
});

test('GIVEN arbitrary names and digests WHEN referrers are listed THEN the answer fits and storage is unchanged', async () => {
  await assertProperty(
    fc.record({
      name: arbName,
      digest: fc.oneof(fc.constant(image.manifest.digest), arbDigest),
      artifactType: fc.option(fc.constantFrom('application/vnd.example.sig', 'x/y', '')),
      last: fc.option(fc.oneof(fc.constantFrom('', 'sha256:', artifact.manifest.digest), arbDigest, fc.integer({ min: 1000, max: 6000 }).map((n) => 's'.repeat(n)))),
    }),
    async ({ name, digest, artifactType, last }) => {
      let expected: Outcome[];
      let listed: string[] = [];
      if (digest === '') expected = [err(404, 'NOT_FOUND')];
      else if (nameOutcomes(name)) expected = nameOutcomes(name)!;
      else if (!validDigest(digest)) expected = [err(400, 'DIGEST_INVALID')];
      else {
        expected = [ok(200)];
        listed = (await store.listReferrers(name, digest, { limit: 1000 })).items
          .filter((r) => (artifactType === null || r.artifactType === artifactType) && (last === null || Buffer.compare(Buffer.from(r.digest), Buffer.from(last)) > 0))
          .map((r) => r.digest);
      }
      await check({
        req: { method: 'GET', path: `/v2/${encodeName(name)}/referrers/${encodeURIComponent(digest)}`, query: { artifactType: artifactType ?? undefined, last: last ?? undefined } },
        expected,
        probes: [digest],
        onSuccess: (res) => expect(JSON.parse(res.bytes.toString()).manifests.map((m: { digest: string }) => m.digest)).toEqual(listed),
      });
    },
  );
});

// Mutations of the seeded image manifest; each knows whether it leaves a valid manifest.
type Json = Record<string, unknown>;
const base = (): Json => JSON.parse(image.manifest.bytes.toString());
const layerAt = (m: Json, i: number) => (m.layers as Json[])[i];
const MUTATIONS: { name: string; apply: (m: Json) => unknown; valid: 'yes' | 'no' | 'missing-blob' }[] = [
  { name: 'unchanged', apply: (m) => m, valid: 'yes' },
  { name: 'annotated', apply: (m) => ({ ...m, annotations: { 'org.example': 'x' } }), valid: 'yes' },
  { name: 'schemaVersion 1', apply: (m) => ({ ...m, schemaVersion: 1 }), valid: 'no' },
  { name: 'schemaVersion "2"', apply: (m) => ({ ...m, schemaVersion: '2' }), valid: 'no' },
  { name: 'no schemaVersion', apply: ({ schemaVersion: _s, ...m }) => m, valid: 'no' },
  { name: 'no config', apply: ({ config: _c, ...m }) => m, valid: 'no' },
  { name: 'config is a string', apply: (m) => ({ ...m, config: 'config' }), valid: 'no' },
  { name: 'layers is an object', apply: (m) => ({ ...m, layers: { ...(m.layers as unknown[]) } }), valid: 'no' },
  { name: 'layer digest uppercase', apply: (m) => (layerAt(m, 0).digest = String(layerAt(m, 0).digest).toUpperCase(), m), valid: 'no' },
  { name: 'layer digest truncated', apply: (m) => (layerAt(m, 0).digest = String(layerAt(m, 0).digest).slice(0, 20), m), valid: 'no' },
  { name: 'layer size negative', apply: (m) => (layerAt(m, 0).size = -1, m), valid: 'no' },
  { name: 'layer size string', apply: (m) => (layerAt(m, 0).size = '12', m), valid: 'no' },
  { name: 'layer without mediaType', apply: (m) => (delete layerAt(m, 1).mediaType, m), valid: 'no' },
  { name: 'layer is null', apply: (m) => ({ ...m, layers: [null] }), valid: 'no' },
  { name: 'annotations not strings', apply: (m) => ({ ...m, annotations: { a: 1 } }), valid: 'no' },
  { name: 'mediaType is a number', apply: (m) => ({ ...m, mediaType: 2 }), valid: 'no' },
  { name: 'mediaType is not a manifest type', apply: (m) => ({ ...m, mediaType: 'application/json' }), valid: 'no' },
  { name: 'mediaType says index', apply: (m) => ({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' }), valid: 'no' },
  { name: 'mediaType says schema 1', apply: (m) => ({ ...m, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }), valid: 'no' },
  { name: 'subject is a string', apply: (m) => ({ ...m, subject: 'sha256:abc' }), valid: 'no' },
  { name: 'layer of an unknown blob', apply: (m) => (layerAt(m, 0).digest = `sha256:${'e'.repeat(64)}`, m), valid: 'missing-blob' },
  { name: 'config of an unknown blob', apply: (m) => ((m.config as Json).digest = `sha512:${'f'.repeat(128)}`, m), valid: 'missing-blob' },
  { name: 'layer made foreign', apply: (m) => (layerAt(m, 0).mediaType = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', layerAt(m, 0).digest = `sha256:${'e'.repeat(64)}`, m), valid: 'yes' },
  { name: 'array of the manifest', apply: (m) => [m], valid: 'no' },
];

const arbManifestBody = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('mutated' as const), mutation: fc.constantFrom(...MUTATIONS), truncate: fc.option(fc.nat(), { freq: 6 }) }).map(({ kind, mutation, truncate }) => {
    let text = JSON.stringify(mutation.apply(base()));
    if (truncate !== null) text = text.slice(0, truncate % text.length);
    return { kind, label: `${mutation.name}${truncate !== null ? ' (truncated)' : ''}`, bytes: Buffer.from(text) };
  }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((text) => ({ kind: 'json' as const, label: 'random JSON', bytes: Buffer.from(text) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'bytes' as const, label: 'random bytes', bytes: Buffer.from(b) })) },
);
const arbContentType = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constant('application/vnd.oci.image.manifest.v1+json') },
  fc.constantFrom(
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/json',
    'text/plain',
  ),
  arbHeaderText(30),
);

test('GIVEN random JSON, mutated manifests and random bytes WHEN PUT as manifests THEN the answer fits and nothing is stored unless the manifest is valid', async () => {
  await assertProperty(
    fc.record({
      name: fc.oneof({ weight: 4, arbitrary: fc.constant(REPO) }, { weight: 1, arbitrary: arbName }),
      reference: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('fuzzed', 'v1', 'latest') }, { weight: 1, arbitrary: arbReference }, { weight: 2, arbitrary: fc.constant('digest-of-body') }),
      body: arbManifestBody,
      contentType: arbContentType,
    }),
    async ({ name, reference: ref, body, contentType }) => {
      const digest = `sha256:${createHash('sha256').update(body.bytes).digest('hex')}`;
      const reference = ref === 'digest-of-body' ? digest : ref;
      let expected: Outcome[];
      if (reference === '') expected = [err(404, 'NOT_FOUND')];
      else if (nameOutcomes(name)) expected = nameOutcomes(name)!;
      else if (referenceOutcomes(reference)) expected = referenceOutcomes(reference)!;
      else {
        // Whether the body is a manifest is parseManifest's rule, unit-tested in manifest.test.ts;
        // what the repository holds comes from the store.
        let parsed: ReturnType<typeof parseManifest> | undefined;
        try {
          parsed = parseManifest(body.bytes, contentType);
        } catch {
          parsed = undefined;
        }
        if (!parsed) expected = [err(400, 'MANIFEST_INVALID')];
        else if (reference.includes(':') && reference !== digest) expected = [err(400, 'DIGEST_INVALID')];
        else {
          const missingBlobs = (await Promise.all(parsed.blobs.map(async (d) => ((await store.statBlobLink(name, d)) ? null : d)))).filter(Boolean);
          const missingChildren = (await Promise.all(parsed.children.map(async (d) => ((await store.getManifest(name, d)) ? null : d)))).filter(Boolean);
          expected = missingBlobs.length + missingChildren.length > 0 ? [err(400, 'MANIFEST_BLOB_UNKNOWN')] : [ok(201)];
        }
        // The mutation table is the independent word on the mutated manifests it knows.
        if (body.kind === 'mutated' && !body.label.includes('truncated') && contentType === undefined) {
          const mutation = MUTATIONS.find((m) => m.name === body.label)!;
          const want = mutation.valid === 'yes' ? 201 : mutation.valid === 'missing-blob' && name === REPO ? 400 : undefined;
          if (want !== undefined && name === REPO && !reference.includes(':')) expect(expected.map((o) => o.status)).toEqual([want]);
          if (mutation.valid === 'no') expect(expected.map((o) => o.code)).toEqual(['MANIFEST_INVALID']);
        }
      }
      await check({
        req: { method: 'PUT', path: `/v2/${encodeName(name)}/manifests/${encodeURIComponent(reference)}`, body: body.bytes, headers: { 'content-type': contentType } },
        expected,
        probes: [digest],
      });
    },
  );
});

test('GIVEN arbitrary digests, mounts and bodies WHEN blob uploads are started THEN the answer fits and only a matching digest stores a blob', async () => {
  await assertProperty(
    fc.record({
      name: arbName,
      digest: fc.option(fc.oneof(arbDigest, fc.constant('body'))),
      mount: fc.option(arbDigest, { freq: 3 }),
      from: fc.option(fc.oneof(fc.constant(REPO), fc.constant(OTHER), arbName), { freq: 2 }),
      body: fc.uint8Array({ maxLength: 64 }),
    }),
    async ({ name, digest: d, mount, from, body }) => {
      const bodyDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const digest = d === 'body' ? bodyDigest : d;
      let expected: Outcome[];
      if (nameOutcomes(name)) expected = nameOutcomes(name)!;
      else {
        // A malformed mount digest is only an unusable hint: the answer is a new upload session.
        let mountable = false;
        if (mount !== null && validDigest(mount)) {
          const sources = from !== null ? (validName(from) ? [from] : []) : await store.repositoriesWithBlob(mount, 16);
          for (const source of sources) if (await store.statBlobLink(source, mount)) mountable = true;
        }
        if (mountable) expected = [ok(201)];
        else if (digest !== null && mount === null) {
          expected = !validDigest(digest) ? [err(400, 'DIGEST_INVALID')] : digest === bodyDigest ? [ok(201)] : [err(400, 'DIGEST_INVALID')];
        } else expected = [ok(202)];
      }
      await check({
        req: { method: 'POST', path: `/v2/${encodeName(name)}/blobs/uploads/`, query: { digest: digest ?? undefined, mount: mount ?? undefined, from: from ?? undefined }, body },
        expected,
        probes: [digest ?? '', mount ?? '', bodyDigest],
      });
    },
  );
});

test('GIVEN arbitrary upload ids, Content-Range headers, digests and bodies WHEN chunks are sent THEN the answer fits and only a verified upload stores a blob', async () => {
  const arbContentRange = fc.oneof(
    fc.constant(undefined),
    fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })).map(([a, b]) => `${a}-${b}`),
    fc.constantFrom('0-', '-1', 'bytes=0-9', 'bytes 0-9/*', '0-9/10', '9-0', '', '0-99999999999999999', 'a-b'),
    arbHeaderText(16),
  );
  const arbId = fc.oneof(
    { weight: 5, arbitrary: fc.constant('real') },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: arbAnyString.filter((s) => s !== '' && !s.includes('/')) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 6000 }).map((n) => 'u'.repeat(n)) },
  );
  await assertProperty(
    fc.record({
      method: fc.constantFrom('PATCH', 'PATCH', 'PUT', 'PUT', 'GET', 'DELETE'),
      id: arbId,
      contentRange: arbContentRange,
      digest: fc.option(fc.oneof(fc.constant('body'), arbDigest), { freq: 4 }),
      body: fc.uint8Array({ maxLength: 20 }),
    }),
    async ({ method, id: idChoice, contentRange, digest: d, body }) => {
      const started = await send({ method: 'POST', path: `/v2/${REPO}/blobs/uploads/` });
      expect(started.status).toBe(202);
      const realId = started.headers.get('docker-upload-uuid')!;
      const id = idChoice === 'real' ? realId : idChoice;
      const bodyDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const digest = d === 'body' ? bodyDigest : d;

      const chunkOutcome = (): Outcome | undefined => {
        if (body.length === 0 || contentRange === undefined) return undefined;
        const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(contentRange.trim());
        if (!m || Number(m[2]) < Number(m[1])) return err(400, 'BLOB_UPLOAD_INVALID');
        if (Number(m[1]) !== 0) return err(416, 'BLOB_UPLOAD_INVALID');
        if (Number(m[2]) - Number(m[1]) + 1 !== body.length) return err(400, 'BLOB_UPLOAD_INVALID');
        return undefined;
      };
      let expected: Outcome[];
      if (method === 'PUT' && (digest === null || !validDigest(digest))) expected = [err(400, 'DIGEST_INVALID')];
      else if (id !== realId) expected = [err(404, 'BLOB_UPLOAD_UNKNOWN')];
      else if (method === 'GET' || method === 'DELETE') expected = [ok(204)];
      else if (method === 'PATCH') expected = [chunkOutcome() ?? ok(202)];
      else expected = [chunkOutcome() ?? (digest === bodyDigest ? ok(201) : err(400, 'DIGEST_INVALID'))];

      await check({
        req: {
          method,
          path: `/v2/${REPO}/blobs/uploads/${encodeURIComponent(id)}`,
          query: { digest: method === 'PUT' ? (digest ?? undefined) : undefined },
          headers: { 'content-range': contentRange, 'content-type': 'application/octet-stream' },
          body: method === 'PATCH' || method === 'PUT' ? body : undefined,
        },
        expected,
        probes: [digest ?? '', bodyDigest],
      });
      await send({ method: 'DELETE', path: `/v2/${REPO}/blobs/uploads/${realId}` });
    },
  );
});

test('GIVEN a registry that took all the bad input above THEN a fresh upload id is still unknown to it and the seed is intact', async () => {
  const res = await send({ method: 'GET', path: `/v2/${REPO}/blobs/uploads/${randomUUID()}` });
  expect(res.status).toBe(404);
  const s = await snapshot();
  expect(s.manifestDigests[`${REPO}:v1`]).toBe(image.manifest.digest);
  expect(s.manifestDigests[`${REPO}:multi`]).toBe(index.digest);
});
