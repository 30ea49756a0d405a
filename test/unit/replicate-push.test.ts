// Replicating one push (core/replication/replicate-push.ts) against an in-memory destination that
// refuses, as the real one does, a manifest whose blobs or children it lacks: the order of the calls,
// idempotent retries after a failure half-way, what a gone image does, and blobs above the
// destination's fetch limit, whose bytes go through the replicator into an upload session.
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

function source(manifests: StoredManifest[], tags: Map<string, string> = new Map()): ReplicationSource {
  const byDigest = new Map(manifests.map((m) => [m.digest, m]));
  return {
    getManifest: async (_repo, digest) => byDigest.get(digest) ?? null,
    readManifestBody: async () => {
      throw new Error('bodies are inline here');
    },
    blobSize: async () => 10,
    blobUrl: async (repo, digest) => `https://source.example/${repo}/${digest}`,
    resolveTag: async (_repo, tag) => tags.get(tag) ?? null,
  };
}

/**
 * A destination that checks what the real one checks, records its calls, and fails the call numbered
 * `failAt`. A blob larger than `fetchLimit` gets a fresh upload session (UPLOAD) instead of a fetch;
 * `linksUploads: false` is a destination that still lacks the blob after its upload.
 */
function destination(failAt = -1, large: { fetchLimit: number; linksUploads?: boolean } = { fetchLimit: Infinity }) {
  const blobs = new Set<string>();
  const sessions = new Map<string, string>();
  const uploads: Array<{ uploadUrl: string; sourceUrl: string; digest: string; size: number }> = [];
  const manifests = new Map<string, StoredManifest>();
  const tags = new Map<string, string>();
  const calls: string[] = [];
  const step = (what: string) => {
    calls.push(what);
    if (calls.length - 1 === failAt) throw new Error(`injected failure at ${what}`);
  };
  const target: ReplicationTarget = {
    async replicateBlob({ digest, size }) {
      step(`blob ${digest.slice(7, 11)}`);
      if (blobs.has(digest)) return 'PRESENT';
      if (size > large.fetchLimit) {
        const upload = `https://ingest.example/v2/team/app/blobs/uploads/${sessions.size}?token=t`;
        sessions.set(upload, digest);
        return { upload };
      }
      blobs.add(digest);
      return 'COPIED';
    },
    async uploadBlob(request) {
      step(`upload ${request.digest.slice(7, 11)}`);
      // A session serves one upload of the blob it was opened for.
      if (sessions.get(request.uploadUrl) !== request.digest) throw new Error('BLOB_UPLOAD_UNKNOWN');
      sessions.delete(request.uploadUrl);
      uploads.push(request);
      if (large.linksUploads !== false) blobs.add(request.digest);
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
  return { target, calls, blobs, manifests, tags, uploads };
}

const layers = ['config-a', 'layer-a', 'config-b', 'layer-b', 'shared'].map(sha);
const childA = manifest('a', [layers[0], layers[1], layers[4]]);
const childB = manifest('b', [layers[2], layers[3], layers[4]]);
const index = manifest('index', [], [childA.digest, childB.digest]);
const v1 = new Map([['v1', index.digest]]);

test('GIVEN a multi-arch index WHEN replicated THEN every blob first (a shared one once), then each child, then the index with its tag', async () => {
  const d = destination();
  const result = await replicatePush(source([childA, childB, index], v1), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
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
    await expect(replicatePush(source([childA, childB, index], v1), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1')).rejects.toThrow('injected');
    expect(d.tags.has('v1')).toBe(false);
    const retry = await replicatePush(source([childA, childB, index], v1), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
    expect(retry).toMatchObject({ ok: true, tagged: true });
    expect(d.manifests.size).toBe(3);
  }
});

test('GIVEN an image deleted at the source since its push WHEN replicated THEN gone, and the destination is not called', async () => {
  const d = destination();
  expect(await replicatePush(source([]), d.target, { repository: 'team/app', digest: index.digest }, 'eu-west-1')).toEqual({ ok: false, reason: 'gone' });
  expect(d.calls).toEqual([]);
});

test('GIVEN a tag moved to another image at the source since the push WHEN the push is replicated late THEN the image goes untagged, so the tag is not put back', async () => {
  const d = destination();
  const moved = new Map([['v1', childA.digest]]);
  const result = await replicatePush(source([childA, childB, index], moved), d.target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
  expect(result).toEqual({ ok: true, digest: index.digest, tagged: false, tagMoved: true, blobsCopied: 5 });
  expect(d.manifests.has(index.digest)).toBe(true);
  expect(d.tags.has('v1')).toBe(false);
  // Removed at the source altogether: the same.
  const removed = await replicatePush(source([childA, childB, index]), destination().target, { repository: 'team/app', digest: index.digest, tag: 'v1' }, 'eu-west-1');
  expect(removed).toMatchObject({ ok: true, tagged: false, tagMoved: true });
});

describe('blobs above the destination’s fetch limit', () => {
  const big = layers[1];
  const sized = (tags: Map<string, string>): ReplicationSource => ({ ...source([childA], tags), blobSize: async (_repo, digest) => (digest === big ? 6_000 : 10) });
  const short = (digest: string) => digest.slice(7, 11);
  const v1 = new Map([['v1', childA.digest]]);

  test('GIVEN a blob above the limit WHEN replicated THEN its bytes go through the replicator into the session the destination opened, it is asked for again and PRESENT, then the manifest', async () => {
    const d = destination(-1, { fetchLimit: 1_000 });
    const result = await replicatePush(sized(v1), d.target, { repository: 'team/app', digest: childA.digest, tag: 'v1' }, 'eu-west-1');
    expect(result).toEqual({ ok: true, digest: childA.digest, tagged: true, blobsCopied: 3 });
    expect(d.calls).toEqual([`blob ${short(layers[0])}`, `blob ${short(big)}`, `upload ${short(big)}`, `blob ${short(big)}`, `blob ${short(layers[4])}`, `manifest ${short(childA.digest)}:v1`]);
    // Only the large one, from the source's own URL, with its size.
    expect(d.uploads).toEqual([{ uploadUrl: 'https://ingest.example/v2/team/app/blobs/uploads/0?token=t', sourceUrl: `https://source.example/team/app/${big}`, digest: big, size: 6_000 }]);
    expect(d.tags.get('v1')).toBe(childA.digest);
  });

  test('GIVEN the upload fails WHEN the replication is retried THEN the retry gets a fresh session and completes', async () => {
    const d = destination(2, { fetchLimit: 1_000 });
    await expect(replicatePush(sized(v1), d.target, { repository: 'team/app', digest: childA.digest, tag: 'v1' }, 'eu-west-1')).rejects.toThrow(`injected failure at upload ${short(big)}`);
    expect(d.manifests.size).toBe(0);
    expect(await replicatePush(sized(v1), d.target, { repository: 'team/app', digest: childA.digest, tag: 'v1' }, 'eu-west-1')).toMatchObject({ ok: true, tagged: true });
    expect(d.uploads.map((u) => u.uploadUrl)).toEqual(['https://ingest.example/v2/team/app/blobs/uploads/1?token=t']);
  });

  test('GIVEN a destination that answers anything but PRESENT after the upload WHEN replicated THEN the attempt fails and no manifest is sent', async () => {
    const d = destination(-1, { fetchLimit: 1_000, linksUploads: false });
    await expect(replicatePush(sized(v1), d.target, { repository: 'team/app', digest: childA.digest, tag: 'v1' }, 'eu-west-1')).rejects.toThrow(
      `the destination does not link team/app@${big} after its upload: it answered UPLOAD`,
    );
    expect(d.calls.filter((c) => c.startsWith('manifest'))).toEqual([]);
    expect(d.manifests.size).toBe(0);
  });
});
