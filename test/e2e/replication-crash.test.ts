/**
 * Replication survives its replicator's death (issue 14, "Faults"): in local mode the replicator is
 * the source server's worker and its queue is files in the source's data directory. The source is
 * killed with SIGKILL while the destination is fetching one of an image's large layers from it. A
 * poller hits the destination every ~50 ms from before the push to the end, and checks every time a
 * tag answers that every blob of the manifest it names is there (HEAD 200, the right size). After
 * the kill the destination holds no tag for the image and only whole blobs (each one it serves has
 * its digest). Restarted on the same data directory, the source finishes the job by itself: the tag
 * names the pushed digest, every blob is identical, and DescribeImageReplicationStatus says COMPLETE.
 *
 * The restarted source listens on another port: blob URLs are minted per attempt from the address
 * the server listens on (`publicUrl` in cli/serve.ts, `blobUrl` in composition/local/compose.ts,
 * asked for each blob by core/replication/replicate-push.ts), so a queued job needs no address.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeImageReplicationStatusCommand, ECRClient, GetAuthorizationTokenCommand, PutReplicationConfigurationCommand, type ImageReplicationStatus } from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, type Blob, type Image } from '../support/oci-fixtures';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
const SOURCE_ADMIN = { accessKeyId: 'AKIASOURCEADMIN00C14', secretAccessKey: 'source-admin-secret-access-key-crash14' };
const DEST_ADMIN = { accessKeyId: 'AKIADESTADMIN0000C14', secretAccessKey: 'dest-admin-secret-access-key-crash-14' };
const REPLICATOR = { accessKeyId: 'AKIAREPLICATOR000C14', secretAccessKey: 'replicator-secret-access-key-crash-14' };
const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const allowReplication = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };

const REPO = 'prod/crash';
const TAG = 'v1';
const MIB = 1024 * 1024;
const MANIFEST_ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

let work: { path: string; remove: () => void };
let sourceConfig: string;
let source: RegistryProcess;
let dest: RegistryProcess;
let poller: Poller | undefined;
const basic = { source: '', dest: '' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const client = (proc: RegistryProcess, region: string, credentials: typeof SOURCE_ADMIN) => new ECRClient({ region, endpoint: proc.url, credentials, maxAttempts: 1 });
const sourceData = () => join(work.path, 'source-data');
const destData = () => join(work.path, 'dest-data');

function writeConfig(name: string, config: Record<string, unknown>): string {
  const file = join(work.path, `${name}.json`);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

async function push(repo: string, image: Image, tag: string): Promise<void> {
  for (const blob of imageBlobs(image)) {
    const res = await fetch(`${source.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
      method: 'POST',
      body: blob.bytes,
      headers: { 'Content-Type': 'application/octet-stream', Authorization: basic.source },
    });
    expect(res.status).toBe(201);
  }
  const res = await fetch(`${source.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType, Authorization: basic.source } });
  expect(res.status).toBe(201);
}

const atDest = (path: string, method: 'GET' | 'HEAD' = 'GET') => fetch(`${dest.url}${path}`, { method, headers: { Accept: MANIFEST_ACCEPT, Authorization: basic.dest } });

async function headBlob(blob: Blob): Promise<{ status: number; size: number | null }> {
  const res = await atDest(`/v2/${REPO}/blobs/${blob.digest}`, 'HEAD');
  const length = res.headers.get('content-length');
  return { status: res.status, size: length === null ? null : Number(length) };
}

interface Poller {
  /** What broke the rule: a tag naming a manifest whose blobs (or children) are not all at the destination. */
  violations: string[];
  /** Rounds made, and rounds in which the image's tag answered 200 (its blobs then checked). */
  rounds: number;
  taggedRounds: number;
  stop(): Promise<void>;
}

/**
 * Polls the destination every ~50 ms: the image's tag and every tag tags/list names; for each that
 * answers 200, every blob of its manifest (and every child of an index) must be there. A blob HEAD
 * after the manifest GET cannot give a false alarm: nothing at the destination deletes blobs here
 * (its collector runs hourly with a day's grace).
 */
function startPoller(): Poller {
  const state: Poller = { violations: [], rounds: 0, taggedRounds: 0, stop: async () => undefined };
  let stopped = false;

  async function checkManifest(reference: string, via: string, depth: number): Promise<void> {
    const res = await atDest(`/v2/${REPO}/manifests/${reference}`);
    if (res.status !== 200) {
      state.violations.push(`${via}: manifest ${reference} answers ${res.status}`);
      await res.body?.cancel();
      return;
    }
    await checkBody(Buffer.from(await res.arrayBuffer()), `${via} -> ${res.headers.get('docker-content-digest')}`, depth);
  }

  async function checkBody(body: Buffer, via: string, depth: number): Promise<void> {
    const manifest = JSON.parse(body.toString('utf8')) as { config?: Blob; layers?: Blob[]; manifests?: Blob[] };
    for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
      const head = await headBlob(blob);
      if (head.status !== 200 || head.size !== blob.size) state.violations.push(`${via}: blob ${blob.digest} HEAD ${head.status}, size ${head.size} (expected 200, ${blob.size})`);
    }
    for (const child of manifest.manifests ?? []) {
      if (depth >= 4) state.violations.push(`${via}: nested too deep`);
      else await checkManifest(child.digest, `${via} child`, depth + 1);
    }
  }

  async function checkTag(tag: string): Promise<boolean> {
    const res = await atDest(`/v2/${REPO}/manifests/${tag}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return false;
    }
    if (res.status !== 200) {
      state.violations.push(`tag ${tag} answers ${res.status}`);
      await res.body?.cancel();
      return false;
    }
    await checkBody(Buffer.from(await res.arrayBuffer()), `tag ${tag} -> ${res.headers.get('docker-content-digest')}`, 0);
    return true;
  }

  async function round(): Promise<void> {
    const tags = new Set([TAG]);
    const list = await atDest(`/v2/${REPO}/tags/list`);
    if (list.status === 200) for (const tag of ((await list.json()) as { tags?: string[] | null }).tags ?? []) tags.add(tag);
    else {
      // 404 until the first BerthReplicateBlob creates the repository.
      if (list.status !== 404) state.violations.push(`tags/list answers ${list.status}`);
      await list.body?.cancel();
    }
    for (const tag of tags) if ((await checkTag(tag)) && tag === TAG) state.taggedRounds++;
    state.rounds++;
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        await round();
      } catch (err) {
        // The destination is never stopped: it must answer every request.
        state.violations.push(`poll failed: ${(err as Error).message}`);
      }
      await sleep(50);
    }
  })();
  state.stop = async () => {
    stopped = true;
    await loop;
  };
  return state;
}

/** Upload files at the destination with bytes in them: a blob being fetched (FilesystemBlobStore's `content/uploads/<id>`). */
function uploadsInProgress(): { file: string; size: number }[] {
  const dir = join(destData(), 'content', 'uploads');
  const found: { file: string; size: number }[] = [];
  for (const file of readdirSync(dir)) {
    try {
      const { size } = statSync(join(dir, file));
      found.push({ file, size });
    } catch {
      // Committed or discarded between the listing and the stat.
    }
  }
  return found;
}

/** The servers' logs, for a failure's message. */
const logs = () => `\n--- source stderr ---\n${source?.stderr().slice(-6000)}\n--- destination stderr ---\n${dest?.stderr().slice(-6000)}`;

async function until<T>(what: string, timeoutMs: number, everyMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${logs()}`);
    await sleep(everyMs);
  }
}

beforeAll(async () => {
  work = scratchDir('replication-crash');
  const destConfig = writeConfig('dest', {
    registry: { account: DEST.account, regions: [DEST.region] },
    identities: [
      { name: 'admin', ...DEST_ADMIN, arn: `arn:aws:iam::${DEST.account}:user/admin`, policy: allowAll },
      { name: 'replicator', ...REPLICATOR, arn: `arn:aws:iam::${DEST.account}:user/replicator`, policy: allowReplication },
    ],
  });
  dest = await startRegistryProcess(destData(), 0, ['--config', destConfig]);
  sourceConfig = writeConfig('source', {
    registry: { account: SOURCE.account, regions: [SOURCE.region] },
    identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: allowAll }],
    replicationDestinations: [{ region: DEST.region, registryId: DEST.account, endpoint: dest.url, ...REPLICATOR }],
  });
  source = await startRegistryProcess(sourceData(), 0, ['--config', sourceConfig]);
  for (const [name, proc, region, credentials] of [
    ['source', source, SOURCE.region, SOURCE_ADMIN],
    ['dest', dest, DEST.region, DEST_ADMIN],
  ] as const) {
    const token = await client(proc, region, credentials).send(new GetAuthorizationTokenCommand({}));
    basic[name] = `Basic ${token.authorizationData![0].authorizationToken}`;
  }
  await client(source, SOURCE.region, SOURCE_ADMIN).send(
    new PutReplicationConfigurationCommand({
      replicationConfiguration: { rules: [{ destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'prod/', filterType: 'PREFIX_MATCH' }] }] },
    }),
  );
}, 90_000);

afterAll(async () => {
  await poller?.stop();
  await source?.stop();
  await dest?.stop();
  work?.remove();
});

test('GIVEN the source killed with SIGKILL while the destination fetches a layer WHEN it restarts THEN no tag at the destination ever names an incomplete image, and the replication completes by itself', async () => {
  // Pseudo-random, uncompressed layers: each takes the destination a while to fetch, hash and write.
  const image = makeImage({ layers: [20 * MIB, 24 * MIB, 20 * MIB, 24 * MIB], seed: 'replication-crash', gzip: false });
  const blobs = imageBlobs(image); // config first, then the layers: the order the replicator copies them in (the manifest's)
  poller = startPoller();
  await push(REPO, image, TAG);

  // The trigger. The replicator copies the blobs one at a time, in the manifest's order, and the
  // image with its tag only after the last (core/replication/replicate-push.ts). Once the first layer
  // is linked at the destination, an upload file there that holds bytes can only be a later layer
  // being fetched from the source: the kill lands in the middle of a copy, with at least one more
  // layer and the manifest still to come. The upload is watched every 2 ms on the file system, and a
  // layer of 20+ MiB takes far longer than that to fetch, hash and write, so the window is not missed.
  await until('the first layer at the destination', 90_000, 10, async () => ((await headBlob(blobs[1])).status === 200 ? true : undefined));
  const inFlight = await until('a later layer being fetched by the destination', 30_000, 2, () => {
    const partial = uploadsInProgress().find((u) => u.size > 0);
    if (partial) {
      // Synchronous: the signal is sent before anything else runs.
      source.child.kill('SIGKILL');
      return partial;
    }
    return undefined;
  });
  await source.kill('SIGKILL');
  const oldPort = Number(new URL(source.url).port);
  expect(source.child.signalCode).toBe('SIGKILL');
  // Bytes had arrived, but not a whole layer.
  expect(inFlight.size).toBeGreaterThan(0);
  expect(inFlight.size).toBeLessThan(Math.max(...image.layers.map((l) => l.size)));
  expect(image.layers.map((l) => l.size)).not.toContain(inFlight.size);

  // The image was incomplete at the destination when the source died, and nothing can add to it now.
  expect((await atDest(`/v2/${REPO}/manifests/${TAG}`)).status).toBe(404);
  expect((await atDest(`/v2/${REPO}/manifests/${image.manifest.digest}`)).status).toBe(404);
  const afterKill = await Promise.all(blobs.map(headBlob));
  expect(afterKill.slice(0, 2).map((h) => h.status)).toEqual([200, 200]);
  expect(afterKill.filter((h) => h.status === 404).length).toBeGreaterThanOrEqual(1);
  // The job survived the kill: still a file in the source's queue.
  const queued = readdirSync(join(sourceData(), 'replication', 'queue'))
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(sourceData(), 'replication', 'queue', name), 'utf8')) as { job: { repository: string; digest: string } });
  expect(queued.map((q) => q.job)).toEqual([expect.objectContaining({ repository: REPO, digest: image.manifest.digest })]);

  // The half-fetched layer is discarded at the destination (its fetch fails: the connection was cut)...
  await until('the interrupted upload discarded at the destination', 30_000, 50, () => (uploadsInProgress().length === 0 ? true : undefined));
  // ...and still no tag: the tag list is empty, the image absent; every blob served is whole.
  const tags = await atDest(`/v2/${REPO}/tags/list`);
  expect(tags.status).toBe(200);
  expect(((await tags.json()) as { tags?: string[] | null }).tags ?? []).toEqual([]);
  expect((await atDest(`/v2/${REPO}/manifests/${TAG}`)).status).toBe(404);
  let whole = 0;
  for (const blob of blobs) {
    const res = await atDest(`/v2/${REPO}/blobs/${blob.digest}`);
    if (res.status === 404) {
      await res.body?.cancel();
      continue;
    }
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect({ digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length }).toEqual({ digest: blob.digest, size: blob.size });
    whole++;
  }
  expect(whole).toBeGreaterThanOrEqual(2);
  expect(whole).toBeLessThan(blobs.length);

  // Restarted on the same data directory, on another port: the job's next attempt mints its URLs anew.
  source = await startRegistryProcess(sourceData(), 0, ['--config', sourceConfig]);
  expect(Number(new URL(source.url).port)).not.toBe(oldPort);
  const tagged = await until('the tag at the destination', 90_000, 100, async () => {
    const res = await atDest(`/v2/${REPO}/manifests/${TAG}`);
    if (res.status === 200) return res;
    await res.body?.cancel();
    return undefined;
  });
  expect(tagged.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  expect(Buffer.from(await tagged.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
  for (const blob of blobs) {
    const res = await atDest(`/v2/${REPO}/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(blob.bytes)).toBe(true);
  }
  expect(source.stderr()).toContain('image replicated');

  // The poller must have seen the finished replica too (so its checks ran against a tagged image), and nothing wrong ever.
  await until('the poller to see the tag', 30_000, 50, () => (poller!.taggedRounds > 0 ? true : undefined));
  await poller.stop();
  expect(poller.violations).toEqual([]);
  expect(poller.rounds).toBeGreaterThan(10);

  const statuses = await until('a settled replication status at the source', 30_000, 200, async () => {
    const answer = await client(source, SOURCE.region, SOURCE_ADMIN).send(new DescribeImageReplicationStatusCommand({ repositoryName: REPO, imageId: { imageTag: TAG } }));
    const list: ImageReplicationStatus[] = answer.replicationStatuses ?? [];
    return list.length > 0 && list.every((s) => s.status !== 'IN_PROGRESS') ? list : undefined;
  });
  expect(statuses).toEqual([{ region: DEST.region, registryId: DEST.account, status: 'COMPLETE' }]);
}, 180_000);
