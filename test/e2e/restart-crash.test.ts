/**
 * Restarts and crashes of a real `berth serve` process on one data directory: an upload
 * survives a clean restart, a SIGKILL in the middle of many pushes leaves nothing partial
 * visible, a chunked upload resumes from exactly what the server acknowledged, and a data
 * directory in a layout this build does not know stops the server.
 *
 * The crash rounds are seeded (BERTH_CRASH_SEED, default below) so a failure can be
 * replayed: the seed of every round is in its title.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { blobOf, descriptor, pseudoRandomBytes, sha256, type Blob } from '../support/oci-fixtures';

// ---- a small HTTP client that can send bodies slowly and survive the server dying ----

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface SendOptions {
  method: string;
  headers?: OutgoingHttpHeaders;
  /** Sent in one write. */
  body?: Buffer;
  /** Sent in pieces of `piece` bytes with `pauseMs` between them; with `stallAfter`, sending stops there and the request never ends. */
  slow?: { bytes: Buffer; piece: number; pauseMs: number; stallAfter?: number };
  /** Called with the size of every piece of `slow` handed to the socket. */
  onSent?: (bytes: number) => void;
}

/** One request on its own connection (no keep-alive: the server behind it may be killed and restarted). */
function send(url: string, options: SendOptions): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const length = options.body?.length ?? options.slow?.bytes.length;
    const headers: OutgoingHttpHeaders = { ...options.headers };
    if (length !== undefined) headers['content-length'] = String(length);
    const req = httpRequest(url, { method: options.method, headers, agent: false });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) });
      });
    });
    if (options.slow) {
      const { bytes, piece, pauseMs, stallAfter } = options.slow;
      void (async () => {
        for (let at = 0; at < bytes.length; at += piece) {
          if (settled || req.destroyed) return;
          if (stallAfter !== undefined && at >= stallAfter) return;
          const part = bytes.subarray(at, Math.min(at + piece, bytes.length));
          const more = req.write(part);
          options.onSent?.(part.length);
          if (!more) {
            await new Promise<void>((r) => {
              const done = () => (req.off('drain', done), req.off('close', done), r());
              req.once('drain', done);
              req.once('close', done);
            });
          }
          if (pauseMs > 0) await sleep(pauseMs);
        }
        if (!settled && !req.destroyed) req.end();
      })();
    } else {
      req.end(options.body);
    }
  });
}

const expectStatus = (reply: Reply, status: number, what: string): Reply => {
  if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.toString('utf8').slice(0, 500)}`);
  return reply;
};

/** Absolute URL of an upload from the Location of a POST. */
const uploadUrl = (base: string, reply: Reply): string => new URL(reply.headers.location!, base).toString();
const withDigest = (location: string, digest: string): string => {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
};

async function startUpload(base: string, repo: string): Promise<string> {
  return uploadUrl(base, expectStatus(await send(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 202, `POST upload in ${repo}`));
}

async function putBlobWhole(base: string, repo: string, blob: Blob): Promise<void> {
  expectStatus(
    await send(`${base}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { 'content-type': 'application/octet-stream' } }),
    201,
    `monolithic upload of ${blob.digest}`,
  );
}

async function putManifest(base: string, repo: string, reference: string, manifest: Blob): Promise<Reply> {
  return send(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'content-type': manifest.mediaType } });
}

// ---- seeded randomness --------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE_SEED = Number(process.env.BERTH_CRASH_SEED ?? 20240611);
const ROUNDS = 4;

// ---- images for the crash rounds ----------------------------------------------------

interface CrashImage {
  repo: string;
  tag: string;
  config: Blob;
  layer: Blob;
  manifest: Blob;
  /** How the layer is sent: one slow PATCH, slow 1 MiB chunks with Content-Range, or a slow PATCH plus the last part in the PUT. */
  style: 'stream' | 'chunks' | 'put-last';
  startDelayMs: number;
}

function ociManifest(config: Blob, layers: Blob[]): Blob {
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  return blobOf(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: descriptor(config), layers: layers.map(descriptor) })), mediaType);
}

function crashImages(round: number, rng: () => number): CrashImage[] {
  const styles: CrashImage['style'][] = ['stream', 'chunks', 'put-last'];
  const images: CrashImage[] = [];
  let shared: Blob | undefined;
  for (let i = 0; i < 10; i++) {
    const size = Math.floor((1.5 + rng() * 2.5) * 1024 * 1024);
    // Images 0 and 1 push the same layer into different repositories at the same time.
    const layer = i === 1 && shared ? shared : blobOf(pseudoRandomBytes(size, `crash/${round}/${i}`), 'application/vnd.oci.image.layer.v1.tar');
    if (i === 0) shared = layer;
    const config = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', round, i })), 'application/vnd.oci.image.config.v1+json');
    images.push({
      repo: `crash/app${i % 3}`,
      tag: `r${round}-i${i}`,
      config,
      layer,
      manifest: ociManifest(config, [layer]),
      style: styles[Math.floor(rng() * styles.length)],
      startDelayMs: Math.floor(rng() * 800),
    });
  }
  return images;
}

const SLOW = { piece: 64 * 1024, pauseMs: 20 };

/** What a client does: upload the layer (slowly, in the image's style), the config, then PUT the manifest by tag. */
async function pushSlowly(base: string, image: CrashImage, onSent: (bytes: number) => void): Promise<void> {
  await sleep(image.startDelayMs);
  const location = await startUpload(base, image.repo);
  const bytes = image.layer.bytes;
  if (image.style === 'stream') {
    expectStatus(await send(location, { method: 'PATCH', slow: { bytes, ...SLOW }, onSent, headers: { 'content-type': 'application/octet-stream' } }), 202, 'PATCH');
    expectStatus(await send(withDigest(location, image.layer.digest), { method: 'PUT' }), 201, 'PUT');
  } else if (image.style === 'chunks') {
    const chunk = 1024 * 1024;
    let next = location;
    for (let at = 0; at < bytes.length; at += chunk) {
      const piece = bytes.subarray(at, Math.min(at + chunk, bytes.length));
      const reply = expectStatus(
        await send(next, { method: 'PATCH', slow: { bytes: piece, ...SLOW }, onSent, headers: { 'content-range': `${at}-${at + piece.length - 1}`, 'content-type': 'application/octet-stream' } }),
        202,
        'chunk PATCH',
      );
      next = uploadUrl(base, reply);
    }
    expectStatus(await send(withDigest(next, image.layer.digest), { method: 'PUT' }), 201, 'PUT');
  } else {
    const half = Math.floor(bytes.length / 2);
    const reply = expectStatus(await send(location, { method: 'PATCH', slow: { bytes: bytes.subarray(0, half), ...SLOW }, onSent }), 202, 'PATCH');
    expectStatus(
      await send(withDigest(uploadUrl(base, reply), image.layer.digest), {
        method: 'PUT',
        slow: { bytes: bytes.subarray(half), ...SLOW },
        onSent,
        headers: { 'content-range': `${half}-${bytes.length - 1}`, 'content-type': 'application/octet-stream' },
      }),
      201,
      'PUT with last chunk',
    );
  }
  await putBlobWhole(base, image.repo, image.config);
  expectStatus(await putManifest(base, image.repo, image.tag, image.manifest), 201, `manifest ${image.repo}:${image.tag}`);
}

/** The client's retry after the crash: fresh uploads of the same blobs, the same manifest PUT. */
async function pushAgain(base: string, image: CrashImage): Promise<void> {
  const location = await startUpload(base, image.repo);
  expectStatus(await send(withDigest(location, image.layer.digest), { method: 'PUT', body: image.layer.bytes }), 201, 'retry PUT');
  await putBlobWhole(base, image.repo, image.config);
  expectStatus(await putManifest(base, image.repo, image.tag, image.manifest), 201, `retry manifest ${image.repo}:${image.tag}`);
}

interface Visibility {
  blobs: number;
  manifests: number;
  tags: number;
  /** repo:tag of every image whose tag resolved. */
  tagged: Set<string>;
}

/**
 * Everything a client can see is complete: a blob that HEADs 200 has exactly its digest's
 * bytes, a manifest (by tag or digest) is served only with all its blobs in the repository.
 */
async function checkNothingPartial(base: string, images: CrashImage[], moving: { repo: string; tag: string; candidates: Blob[] }): Promise<Visibility> {
  const seen: Visibility = { blobs: 0, manifests: 0, tags: 0, tagged: new Set() };
  const blobOk = new Map<string, boolean>();
  const blobVisible = async (repo: string, blob: Blob): Promise<boolean> => {
    const key = `${repo}@${blob.digest}`;
    const known = blobOk.get(key);
    if (known !== undefined) return known;
    const head = await send(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
    expect([200, 404]).toContain(head.status);
    const visible = head.status === 200;
    if (visible) {
      expect(Number(head.headers['content-length'])).toBe(blob.size);
      const got = await send(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'GET' });
      expect(got.status).toBe(200);
      expect(got.body.length).toBe(blob.size);
      expect(sha256(got.body)).toBe(blob.digest);
      seen.blobs++;
    }
    blobOk.set(key, visible);
    return visible;
  };
  const manifestComplete = async (repo: string, body: Buffer): Promise<void> => {
    const parsed = JSON.parse(body.toString('utf8'));
    for (const d of [parsed.config, ...parsed.layers]) {
      const blob = images.find((img) => img.layer.digest === d.digest)?.layer ?? images.find((img) => img.config.digest === d.digest)?.config;
      if (blob) expect(await blobVisible(repo, blob)).toBe(true);
      else expect((await send(`${base}/v2/${repo}/blobs/${d.digest}`, { method: 'HEAD' })).status).toBe(200);
    }
  };

  for (const image of images) {
    await blobVisible(image.repo, image.layer);
    await blobVisible(image.repo, image.config);
    const byDigest = await send(`${base}/v2/${image.repo}/manifests/${image.manifest.digest}`, { method: 'GET' });
    expect([200, 404]).toContain(byDigest.status);
    if (byDigest.status === 200) {
      expect(sha256(byDigest.body)).toBe(image.manifest.digest);
      await manifestComplete(image.repo, byDigest.body);
      seen.manifests++;
    }
    const byTag = await send(`${base}/v2/${image.repo}/manifests/${image.tag}`, { method: 'GET' });
    expect([200, 404]).toContain(byTag.status);
    if (byTag.status === 200) {
      expect(sha256(byTag.body)).toBe(image.manifest.digest);
      expect(byDigest.status).toBe(200);
      seen.tags++;
      seen.tagged.add(`${image.repo}:${image.tag}`);
    }
  }
  // Every tag the registry lists resolves to a complete manifest.
  for (const repo of new Set([...images.map((i) => i.repo), moving.repo])) {
    const list = await send(`${base}/v2/${repo}/tags/list`, { method: 'GET' });
    if (list.status === 404) continue;
    expect(list.status).toBe(200);
    for (const tag of JSON.parse(list.body.toString('utf8')).tags as string[]) {
      const got = await send(`${base}/v2/${repo}/manifests/${tag}`, { method: 'GET' });
      expect(got.status).toBe(200);
      await manifestComplete(repo, got.body);
    }
  }
  const movingTag = await send(`${base}/v2/${moving.repo}/manifests/${moving.tag}`, { method: 'GET' });
  if (movingTag.status === 200) expect(moving.candidates.map((c) => c.digest)).toContain(sha256(movingTag.body));
  return seen;
}

// ---- the tests ----------------------------------------------------------------------

describe('berth serve across restarts and crashes', () => {
  let work: ReturnType<typeof scratchDir>;
  beforeAll(() => {
    work = scratchDir('restart-crash');
  });
  afterAll(() => work?.remove());

  test('GIVEN half a blob uploaded WHEN the server restarts THEN the upload reports its range, takes the rest and commits intact', async () => {
    const dataDir = join(work.path, 'restart');
    const blob = blobOf(pseudoRandomBytes(3 * 1024 * 1024 + 123, 'restart'));
    const half = 1536 * 1024 + 7;
    let registry: RegistryProcess = await startRegistryProcess(dataDir);
    try {
      const location = await startUpload(registry.url, 'restart/app');
      const path = new URL(location).pathname;
      const patched = expectStatus(await send(location, { method: 'PATCH', body: blob.bytes.subarray(0, half) }), 202, 'first PATCH');
      expect(patched.headers.range).toBe(`0-${half - 1}`);

      await registry.stop();
      expect(registry.child.exitCode).toBe(0);
      registry = await startRegistryProcess(dataDir);
      const at = (p: string) => `${registry.url}${p}`;

      const status = expectStatus(await send(at(path), { method: 'GET' }), 204, 'upload status after restart');
      expect(status.headers.range).toBe(`0-${half - 1}`);

      const rest = expectStatus(
        await send(at(path), { method: 'PATCH', body: blob.bytes.subarray(half), headers: { 'content-range': `${half}-${blob.size - 1}` } }),
        202,
        'second PATCH',
      );
      expect(rest.headers.range).toBe(`0-${blob.size - 1}`);
      const committed = expectStatus(await send(`${at(path)}?digest=${blob.digest}`, { method: 'PUT' }), 201, 'closing PUT');
      expect(committed.headers['docker-content-digest']).toBe(blob.digest);

      const back = expectStatus(await send(at(`/v2/restart/app/blobs/${blob.digest}`), { method: 'GET' }), 200, 'blob GET');
      expect(back.body.length).toBe(blob.size);
      expect(sha256(back.body)).toBe(blob.digest);
      expect((await send(at(path), { method: 'GET' })).status).toBe(404);
    } finally {
      await registry.stop();
    }
  });

  describe('SIGKILL in the middle of concurrent pushes', () => {
    const dataDir = () => join(work.path, 'crash');
    const allImages: CrashImage[] = [];
    const moving = { repo: 'crash/moving', tag: 'latest', candidates: [] as Blob[] };

    test.each(Array.from({ length: ROUNDS }, (_, round) => [round, BASE_SEED + round]))(
      'round %i (seed %i): GIVEN uploads and manifest PUTs in flight WHEN the server is killed and restarted THEN nothing partial is visible and the retry succeeds',
      async (round, seed) => {
        const rng = mulberry32(seed);
        const images = crashImages(round, rng);
        allImages.push(...images);
        let registry = await startRegistryProcess(dataDir());
        try {
          // Manifest PUTs racing the uploads: the moving tag is repointed again and again to earlier complete images.
          const earlier = allImages.filter((img) => !images.includes(img)).slice(-4);
          let stopRetagging = false;
          const retag = (async () => {
            if (earlier.length === 0) return;
            const base = registry.url;
            for (const img of earlier) {
              await putBlobWhole(base, moving.repo, img.layer).catch(() => undefined);
              await putBlobWhole(base, moving.repo, img.config).catch(() => undefined);
              moving.candidates.push(img.manifest);
            }
            for (let i = 0; !stopRetagging; i++) {
              const reply = await putManifest(base, moving.repo, moving.tag, earlier[i % earlier.length].manifest).catch(() => undefined);
              if (!reply) return;
            }
          })();

          const base = registry.url;
          // The kill lands when a seeded share of all layer bytes has been sent, so it is always
          // inside the activity; a share past 100% means "after the last byte, during the
          // commits, config uploads and manifest PUTs", up to 150 ms later.
          const total = images.reduce((sum, img) => sum + img.layer.size, 0);
          const share = rng() * 1.15;
          const threshold = Math.min(share, 1) * total;
          const lateMs = share > 1 ? Math.floor(((share - 1) / 0.15) * 150) : 0;
          let sent = 0;
          let reached!: () => void;
          const killPoint = new Promise<void>((r) => (reached = r));
          const onSent = (n: number) => {
            sent += n;
            if (sent >= threshold) reached();
          };
          // Settled-tracking starts now: pushes fail while the kill is awaited, and must not count as unhandled.
          const pushes = Promise.allSettled(images.map((image) => pushSlowly(base, image, onSent)));
          await Promise.race([killPoint, pushes]);
          await sleep(lateMs);
          await registry.kill('SIGKILL');
          stopRetagging = true;
          const outcomes = await pushes;
          await retag;
          const interrupted = outcomes.filter((o) => o.status === 'rejected').length;

          registry = await startRegistryProcess(dataDir());
          const before = await checkNothingPartial(registry.url, allImages, moving);
          const survived = images.filter((img) => before.tagged.has(`${img.repo}:${img.tag}`)).length;
          for (const image of images) await pushAgain(registry.url, image);
          const after = await checkNothingPartial(registry.url, allImages, moving);
          expect(after.tags).toBe(allImages.length);
          expect(after.manifests).toBe(allImages.length);
          // Not an assertion on timing: a record of where this seed's kill landed.
          process.stdout.write(
            `crash round ${round} seed ${seed}: killed at ${Math.round(Math.min(share, 1) * 100)}% of the layer bytes${lateMs ? ` + ${lateMs} ms` : ''}, ` +
              `${interrupted}/${images.length} pushes interrupted, ${survived}/${images.length} of this round's tags visible after restart ` +
              `(all rounds: ${before.blobs} blobs, ${before.manifests} manifests)\n`,
          );
          expect(registry.stderr()).not.toMatch(/"level":"error"/);
        } finally {
          await registry.kill('SIGKILL');
        }
      },
    );
  });

  test('GIVEN a chunked upload WHEN the server is killed between chunks and inside a chunk THEN the upload reports what was acknowledged and completes', async () => {
    const dataDir = join(work.path, 'chunks');
    const chunk = 1024 * 1024;
    const blob = blobOf(pseudoRandomBytes(5 * chunk + 999, 'chunks'));
    const patch = (url: string, from: number, to: number) =>
      send(url, { method: 'PATCH', body: blob.bytes.subarray(from, to), headers: { 'content-range': `${from}-${to - 1}`, 'content-type': 'application/octet-stream' } });
    let registry = await startRegistryProcess(dataDir);
    try {
      const first = await startUpload(registry.url, 'chunks/app');
      const path = new URL(first).pathname;
      let acknowledged = 0;
      for (const end of [chunk, 2 * chunk]) {
        const reply = expectStatus(await patch(`${registry.url}${path}`, acknowledged, end), 202, 'PATCH');
        expect(reply.headers.range).toBe(`0-${end - 1}`);
        acknowledged = end;
      }

      // Killed between two chunks.
      await registry.kill('SIGKILL');
      registry = await startRegistryProcess(dataDir);
      let status = expectStatus(await send(`${registry.url}${path}`, { method: 'GET' }), 204, 'status after kill between chunks');
      expect(status.headers.range).toBe(`0-${acknowledged - 1}`);

      // Killed while a chunk's body is arriving: the server has written part of it, but acknowledged none of it.
      // 1.5 of the chunk's 2 MiB are sent, then the client stalls, so the chunk cannot be acknowledged.
      const partial = send(`${registry.url}${path}`, {
        method: 'PATCH',
        slow: { bytes: blob.bytes.subarray(acknowledged, acknowledged + 2 * chunk), piece: 256 * 1024, pauseMs: 0, stallAfter: 1.5 * chunk },
        headers: { 'content-range': `${acknowledged}-${acknowledged + 2 * chunk - 1}` },
      });
      void partial.catch(() => undefined);
      // Wait until the unacknowledged bytes are on disk, so the restart really has more bytes than it acknowledged.
      const uploadFile = join(dataDir, 'content', 'uploads', path.split('/').pop()!);
      for (let i = 0; i < 500 && statSync(uploadFile).size <= acknowledged; i++) await sleep(10);
      expect(statSync(uploadFile).size).toBeGreaterThan(acknowledged);
      await registry.kill('SIGKILL');
      await expect(partial).rejects.toThrow();
      registry = await startRegistryProcess(dataDir);
      status = expectStatus(await send(`${registry.url}${path}`, { method: 'GET' }), 204, 'status after kill inside a chunk');
      expect(status.headers.range).toBe(`0-${acknowledged - 1}`);

      // The client resumes from what the server reports and finishes.
      const reported = Number(/^0-(\d+)$/.exec(String(status.headers.range))![1]) + 1;
      for (let at = reported; at < blob.size; at += chunk) {
        expectStatus(await patch(`${registry.url}${path}`, at, Math.min(at + chunk, blob.size)), 202, 'resumed PATCH');
      }
      expectStatus(await send(`${registry.url}${path}?digest=${blob.digest}`, { method: 'PUT' }), 201, 'closing PUT');
      const back = expectStatus(await send(`${registry.url}/v2/chunks/app/blobs/${blob.digest}`, { method: 'GET' }), 200, 'blob GET');
      expect(sha256(back.body)).toBe(blob.digest);
    } finally {
      await registry.kill('SIGKILL');
    }
  });

  test('GIVEN a data directory with an unknown layout version WHEN berth serve starts THEN it exits non-zero saying it cannot read that layout', async () => {
    const dataDir = join(work.path, 'layout');
    const registry = await startRegistryProcess(dataDir);
    await registry.stop();
    const layoutFile = join(dataDir, 'content', 'layout.json');
    expect(JSON.parse(readFileSync(layoutFile, 'utf8'))).toEqual({ version: 1 });
    writeFileSync(layoutFile, JSON.stringify({ version: 99 }) + '\n');

    const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'serve', '--port', '0', '--data-dir', dataDir], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.status).not.toBeNull();
    expect(result.stdout).not.toMatch(/listening/);
    expect(result.stderr).toContain(`cannot use the data in ${join(dataDir, 'content')}`);
    expect(result.stderr).toMatch(/layout version 99; this build reads version 1/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});
