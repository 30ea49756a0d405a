// Replicating one push (core/replication/replicate-push.ts) against an in-memory destination that
// refuses, as the real one does, a manifest whose blobs or children it lacks: the order of the calls,
// idempotent retries after a failure half-way, and what a gone image does.
import { createHash } from 'node:crypto';
import { replicatePush, type ReplicationSource, type ReplicationTarget } from '../../lambdas/core/replication/replicate-push';
import type { StoredManifest } from '../../lambdas/core/model';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

function manifest(name: string, blobs: string[], children: string[] = []): StoredManifest {
  const body = new Uint8Array(Buffer.from(JSON.stringify({ name, blobs, children })));
  return {
    digest: sha(Buffer.from(body).toString()),
    mediaType: children.length > 0 ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
    size: body.length,
    blobs,
    children,
    pushedAt: '2026-12-03T00:00:00.000Z',
    body,
  };
}

function source(manifests: StoredManifest[]): ReplicationSource {
  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  return {
    getManifest: async (_repo, digest) => byDigest.get(digest) ?? null,
    readManifestBody: async () => {
      throw new Error('bodies are inline here');
    },
    blobSize: async () => 10,
    blobUrl: async (repo, digest) => `https://source.example/${repo}/${digest}`,
  };
}

/** A destination that checks what the real one checks, records its calls, and fails the call numbered `failAt`. */
function destination(failAt = -1) {
  const blobs = new Set<string>();
  const manifests = new Map<string, StoredManifest>();
  const tags = new Map<string, string>();
  const calls: string[] = [];
  const step = (what: string) => {
    calls.push(what);
    if (calls.length - 1 === failAt) throw new Error(`injected failure at ${what}`);
  };
  const target: ReplicationTarget = {
    async replicateBlob({ digest }) {
      step(`blob ${digest.slice(7, 11)}`);
      if (blobs.has(digest)) return 'PRESENT';
      blobs.add(digest);
      return 'COPIED';
    },
    async replicateImage({ manifest: body, tag }) {
      const parsed = JSON.parse(Buffer.from(body).toString()) as { blobs: string[]; children: string[] };
      const digest = sha(Buffer.from(body).toString());
      step(`manifest ${digest.slice(7, 11)}${tag ? `:${tag}` : ''}`);
      if (parsed.blobs.some((b) => !blobs.has(b)) || parsed.children.some((c) => !manifests.has(c))) throw new Error('missing content');
      manifests.set(digest, { digest } as StoredManifest);
      if (tag) tags.set(tag, digest);
      return { digest, tagged: tag !== undefined };
    },
    async replicateDelete() {
      return 'ABSENT';
    },
  };
  return { target, calls, blobs, manifests, tags };
}

const layers = ['config-a', 'layer-a', 'config-b', 'layer-b', 'shared'].map(sha);
const childA = manifest('a', [layers[0], layers[1], layers[4]]);
const childB = manifest('b', [layers[2], layers[3], layers[4]]);
const index = manifest('index', [], [childA.digest, childB.digest]);

test('GIVEN a multi-arch index WHEN replicated THEN every blob first (a shared one once), then each child, then the index with its tag', async () => {
  const d = destination();
  const result = await replicatePush(source([childA, childB, index]), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
  expect(result).toEqual({ ok: true, digest: index.digest, tagged: true, blobsCopied: 5 });
  const short = (digest: string) => digest.slice(7, 11);
  expect(d.calls).toEqual([
    ...[layers[0], layers[1], layers[4]].map((b) => `blob ${short(b)}`),
    `manifest ${short(childA.digest)}`,
    ...[layers[2], layers[3]].map((b) => `blob ${short(b)}`),
    `manifest ${short(childB.digest)}`,
    `manifest ${short(index.digest)}:v1`,
  ]);
  expect(d.tags.get('v1')).toBe(index.digest);
});

test('GIVEN a failure at every step in turn WHEN the replication is retried THEN it completes, and no tag ever named an incomplete image', async () => {
  const steps = 8; // five blob calls, two children, the index
  for (let failAt = 0; failAt < steps; failAt++) {
    const d = destination(failAt);
    await expect(replicatePush(source([childA, childB, index]), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1')).rejects.toThrow('injected');
    expect(d.tags.has('v1')).toBe(false);
    const retry = await replicatePush(source([childA, childB, index]), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
    expect(retry).toMatchObject({ ok: true, tagged: true });
    expect(d.manifests.size).toBe(3);
  }
});

test('GIVEN an image deleted at the source since its push WHEN replicated THEN gone, and the destination is not called', async () => {
  const d = destination();
  expect(await replicatePush(source([]), d.target, { repository: 'team/app', digest: index.digest }, 'eu-west-1')).toEqual({ ok: false, reason: 'gone' });
  expect(d.calls).toEqual([]);
});
