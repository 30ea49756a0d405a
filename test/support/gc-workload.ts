/**
 * A workload for online garbage collection: many clients pushing overlapping images (shared layers,
 * multi-arch indexes with untagged children, referrers, mounts across repositories) and deleting
 * some, over the OCI API, while the registry collects with a short grace period. Each client keeps a
 * ledger of what it pushed and did not delete; `verifyLedger` then pulls every entry and checks every
 * digest. Clients behave as docker does: a blob the repository has (HEAD 200) is not uploaded again,
 * and a push refused for a missing blob (the collector unlinked it between the HEAD and the PUT) is
 * pushed again in full; a 429 is retried.
 */
import { blobOf, descriptor, pseudoRandomBytes, sha256, type Blob } from './oci-fixtures';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface LedgerEntry {
  repository: string;
  /** The manifest's digest; `tag` when it was pushed by tag. */
  digest: string;
  tag?: string;
  manifest: Blob;
  /** Blobs the manifest references (config and layers). */
  blobs: Blob[];
}

export interface WorkloadResult {
  /** What exists and must stay pullable. */
  alive: LedgerEntry[];
  pushes: number;
  deletes: number;
  /** Manifest PUTs refused for a missing blob and then pushed again in full. */
  repushes: number;
  /** 429 answers retried (content being collected). */
  retried: number;
}

export interface WorkloadOptions {
  url: string;
  clients: number;
  durationMs: number;
  /** Repositories the clients share (mounts go between them). @default 8 */
  repositories?: number;
  authorization?: string;
  /** Each client's pause between two steps, as a CI pipeline's pushes have. @default 100 */
  pauseMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runGcWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const repositories = Array.from({ length: options.repositories ?? 8 }, (_, i) => `gc/repo-${i}`);
  // Layers many images share: each is in several repositories, so the collector meets shared content everywhere.
  const shared = Array.from({ length: 12 }, (_, i) => blobOf(pseudoRandomBytes(2048 + i, `shared-${i}`), 'application/vnd.oci.image.layer.v1.tar'));
  const result: WorkloadResult = { alive: [], pushes: 0, deletes: 0, repushes: 0, retried: 0 };
  const deadline = Date.now() + options.durationMs;
  const headers = (extra: Record<string, string> = {}) => ({ ...(options.authorization ? { Authorization: options.authorization } : {}), ...extra });

  async function send(path: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(`${options.url}${path}`, { ...init, headers: headers(init.headers as Record<string, string>) });
      if (response.status !== 429 || attempt === 50) return response;
      await response.arrayBuffer();
      result.retried++;
      await sleep(100);
    }
  }

  async function putBlob(repository: string, blob: Blob, skipIfPresent: boolean, mountFrom?: string): Promise<void> {
    if (skipIfPresent) {
      const head = await send(`/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
      if (head.status === 200) return;
    }
    if (mountFrom) {
      const mount = await send(`/v2/${repository}/blobs/uploads/?mount=${blob.digest}&from=${mountFrom}`, { method: 'POST' });
      await mount.arrayBuffer();
      if (mount.status === 201) return;
      if (mount.status === 202) {
        const location = new URL(mount.headers.get('location')!, options.url);
        location.searchParams.set('digest', blob.digest);
        const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: headers({ 'Content-Type': 'application/octet-stream' }) });
        await put.arrayBuffer();
        if (put.status === 201) return;
        throw new Error(`upload after a declined mount answered ${put.status}`);
      }
    }
    const post = await send(`/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream' } });
    const text = await post.text();
    if (post.status === 202) {
      // A registry that takes bytes elsewhere (the ingest host of the AWS deployment): PUT them to the Location.
      const location = new URL(post.headers.get('location')!, options.url);
      location.searchParams.set('digest', blob.digest);
      for (let attempt = 0; ; attempt++) {
        const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: headers({ 'Content-Type': 'application/octet-stream' }) });
        const answer = await put.text();
        if (put.status === 201) return;
        if (put.status === 429 && attempt < 50) {
          result.retried++;
          await sleep(100);
          continue;
        }
        throw new Error(`upload of ${blob.digest} to ${repository} answered ${put.status}: ${answer}`);
      }
    }
    if (post.status !== 201) throw new Error(`monolithic upload of ${blob.digest} to ${repository} answered ${post.status}: ${text}`);
  }

  /** Pushes blobs then the manifest, again in full (no HEAD skipping) while the manifest is refused for a missing blob. */
  async function push(repository: string, manifest: Blob, blobs: Blob[], reference: string, mountFrom?: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      for (const blob of blobs) await putBlob(repository, blob, attempt === 0, attempt === 0 ? mountFrom : undefined);
      const put = await send(`/v2/${repository}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType } });
      const text = await put.text();
      if (put.status === 201) {
        result.pushes++;
        return;
      }
      if (put.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN') && attempt < 10) {
        result.repushes++;
        continue;
      }
      throw new Error(`PUT ${repository}/manifests/${reference} answered ${put.status}: ${text}`);
    }
  }

  function image(seed: string, layers: Blob[]): { manifest: Blob; blobs: Blob[] } {
    const config = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed })), 'application/vnd.oci.image.config.v1+json');
    const body = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(config), layers: layers.map(descriptor) };
    return { manifest: blobOf(Buffer.from(JSON.stringify(body)), OCI_MANIFEST), blobs: [config, ...layers] };
  }

  async function client(n: number): Promise<void> {
    const mine: LedgerEntry[] = [];
    let step = 0;
    while (Date.now() < deadline) {
      if (step > 0) await sleep(options.pauseMs ?? 100);
      step++;
      const seed = `c${n}-s${step}`;
      const repository = repositories[(n + step) % repositories.length];
      const unique = blobOf(pseudoRandomBytes(1024, seed), 'application/vnd.oci.image.layer.v1.tar');
      const layers = [shared[(n + step) % shared.length], shared[(n * 7 + step) % shared.length], unique];
      // Steps go round: an image, a delete, a referrer, a multi-arch index (a slow registry still sees each kind early).
      const choice = [2, 0, 4, 3][step % 4];
      if (choice === 4 && mine.length > 0) {
        // Delete one of this client's tagged images or indexes (by digest, as skopeo delete does).
        const index = mine.findIndex((e) => e.tag !== undefined);
        if (index >= 0) {
          const victim = mine[index];
          const res = await send(`/v2/${victim.repository}/manifests/${victim.digest}`, { method: 'DELETE' });
          await res.arrayBuffer();
          if (res.status !== 202) throw new Error(`DELETE ${victim.repository}@${victim.digest} answered ${res.status}`);
          mine.splice(index, 1);
          result.deletes++;
          continue;
        }
      }
      if (choice === 2) {
        // A multi-arch index: two untagged children by digest, then the index by tag.
        const children = [image(`${seed}-amd`, layers), image(`${seed}-arm`, [layers[0], blobOf(pseudoRandomBytes(512, `${seed}-arm`), 'application/vnd.oci.image.layer.v1.tar')])];
        for (const child of children) {
          await push(repository, child.manifest, child.blobs, child.manifest.digest);
          mine.push({ repository, digest: child.manifest.digest, manifest: child.manifest, blobs: child.blobs });
        }
        const index = blobOf(
          Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children.map((c, i) => ({ ...descriptor(c.manifest), platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' } })) })),
          OCI_INDEX,
        );
        await push(repository, index, [], `multi-${seed}`);
        mine.push({ repository, digest: index.digest, tag: `multi-${seed}`, manifest: index, blobs: [] });
        continue;
      }
      if (choice === 3 && mine.length > 0) {
        // A referrer (a signature) of one of this client's images, pushed by digest.
        const subject = mine[mine.length - 1];
        const payload = blobOf(Buffer.from(`signature ${seed}`), 'application/vnd.example.signature');
        const empty = blobOf(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
        const body = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.signature', config: descriptor(empty), layers: [descriptor(payload)], subject: descriptor(subject.manifest) };
        const manifest = blobOf(Buffer.from(JSON.stringify(body)), OCI_MANIFEST);
        await push(subject.repository, manifest, [empty, payload], manifest.digest);
        mine.push({ repository: subject.repository, digest: manifest.digest, manifest, blobs: [empty, payload] });
        continue;
      }
      // A plain image by tag, its layers mounted from another repository half of the time.
      const pushed = image(seed, layers);
      const from = step % 2 === 0 ? repositories[(n + step + 1) % repositories.length] : undefined;
      await push(repository, pushed.manifest, pushed.blobs, `t-${seed}`, from);
      mine.push({ repository, digest: pushed.manifest.digest, tag: `t-${seed}`, manifest: pushed.manifest, blobs: pushed.blobs });
    }
    result.alive.push(...mine);
  }

  await Promise.all(Array.from({ length: options.clients }, (_, n) => client(n)));
  return result;
}

/** Pulls every ledger entry (by tag when it has one, else by digest) and every blob it references, 16 at a time: the problems found. */
export async function verifyLedger(url: string, alive: LedgerEntry[], authorization?: string): Promise<string[]> {
  const problems: string[] = [];
  const headers = authorization ? { Authorization: authorization } : undefined;
  const checks: Array<() => Promise<void>> = [];
  const seen = new Set<string>();
  for (const entry of alive) {
    const reference = entry.tag ?? entry.digest;
    checks.push(async () => {
      const manifest = await fetch(`${url}/v2/${entry.repository}/manifests/${reference}`, { headers: { ...headers, Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
      const bytes = Buffer.from(await manifest.arrayBuffer());
      if (manifest.status !== 200 || sha256(bytes) !== entry.digest) problems.push(`manifest ${entry.repository}:${reference} answered ${manifest.status}`);
    });
    for (const blob of entry.blobs) {
      const key = `${entry.repository} ${blob.digest}`;
      if (seen.has(key)) continue;
      seen.add(key);
      checks.push(async () => {
        const response = await fetch(`${url}/v2/${entry.repository}/blobs/${blob.digest}`, { headers });
        const body = Buffer.from(await response.arrayBuffer());
        if (response.status !== 200 || sha256(body) !== blob.digest) problems.push(`blob ${key} answered ${response.status}`);
      });
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < checks.length) await checks[next++]();
    }),
  );
  return problems;
}
