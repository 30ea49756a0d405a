/**
 * The garbage collector (core/garbage-collection.ts) over a deployment's real adapters, the suite
 * every pair of metadata and blob stores runs (local: LMDB + files; AWS: DynamoDB Local + the S3
 * stand-in): what goes, what stays, the writers' claims against a deletion under way, and a
 * collector that stops half-way and a later run that finishes its work.
 */
import { createHash } from 'node:crypto';
import { collectGarbage, DELETION_LEASE_MS, type CollectionOptions } from '../../lambdas/core/garbage-collection';
import { claimContent } from '../../lambdas/core/content-claims';
import type { StoredManifest } from '../../lambdas/core/model';
import type { BlobStore, MetadataStore } from '../../lambdas/storage/ports';

export interface CollectedDeployment {
  metadata: MetadataStore;
  blobs: BlobStore;
  cleanup(): Promise<void>;
}

const HOUR = 60 * 60 * 1000;
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export function describeGarbageCollector(name: string, open: () => Promise<CollectedDeployment>): void {
  describe(`garbage collector: ${name}`, () => {
    let d: CollectedDeployment;
    beforeEach(async () => {
      d = await open();
    });
    afterEach(async () => {
      await d?.cleanup();
    });

    /** Content as a writer stores it: claimed, written, linked. */
    async function upload(repository: string, seed: string): Promise<string> {
      const bytes = Buffer.from(`blob ${seed}`);
      const digest = sha256(bytes);
      expect(await claimContent(d.metadata, digest)).toBe(true);
      await d.blobs.putContent(digest, bytes);
      await d.metadata.linkBlob(repository, digest, { size: bytes.length });
      return digest;
    }

    async function pushManifest(repository: string, spec: { blobs?: string[]; children?: string[]; subject?: string }, tag?: string): Promise<StoredManifest> {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, ...spec, config: spec.blobs?.[0] ? { digest: spec.blobs[0] } : undefined, layers: (spec.blobs ?? []).slice(1).map((digest) => ({ digest })) }));
      const manifest: StoredManifest = {
        digest: sha256(body),
        mediaType: spec.children ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
        size: body.length,
        blobs: spec.blobs ?? [],
        children: spec.children ?? [],
        pushedAt: new Date().toISOString(),
        ...(spec.subject ? { subject: spec.subject } : {}),
        body,
      };
      expect(await d.metadata.putManifest(repository, manifest, tag)).toEqual({ ok: true });
      return manifest;
    }

    const run = (options: Partial<CollectionOptions> = {}) => collectGarbage(d.metadata, d.blobs, { graceMs: HOUR, ...options });
    /** A clock `hours` ahead: everything written so far is older than the grace period. */
    const inHours = (hours: number) => () => Date.now() + hours * HOUR;
    const stored = async (digest: string) => (await d.blobs.statBlob(digest)) !== null;

    test('GIVEN images, a deleted image, a shared layer, an untagged multi-arch child and a referrer WHEN collected after the grace period THEN only what nothing uses goes', async () => {
      const shared = await upload('team/a', 'shared');
      await upload('team/b', 'shared');
      const onlyA = await upload('team/a', 'only-a');
      const deletedLayer = await upload('team/a', 'deleted-layer');
      const childLayer = await upload('team/a', 'child-layer');
      const sigLayer = await upload('team/a', 'sig-layer');
      const stray = await upload('team/a', 'never-used');
      const image = await pushManifest('team/a', { blobs: [shared, onlyA] }, 'v1');
      const doomed = await pushManifest('team/a', { blobs: [deletedLayer, shared] }, 'old');
      const child = await pushManifest('team/a', { blobs: [childLayer] });
      await pushManifest('team/a', { children: [child.digest] }, 'multi');
      await pushManifest('team/a', { blobs: [sigLayer], subject: image.digest });
      expect(await d.metadata.deleteManifest('team/a', doomed.digest)).toEqual({ ok: true });
      expect(await d.metadata.deleteRepository('team/b', true)).toEqual({ ok: true });

      // Within the grace period nothing goes.
      const early = await run();
      expect(early.unlinked).toEqual([]);
      expect(early.deleted).toEqual([]);
      expect(early.keptYoung).toBeGreaterThan(0);

      const dry = await run({ now: inHours(2), dryRun: true });
      expect(dry.unlinked.map((u) => u.digest).sort()).toEqual([deletedLayer, stray].sort());
      expect(dry.deleted.map((x) => x.digest).sort()).toEqual([deletedLayer, stray].sort());
      expect(await stored(deletedLayer)).toBe(true);

      const report = await run({ now: inHours(2) });
      expect(report.unlinked.map((u) => `${u.repository} ${u.digest}`).sort()).toEqual([`team/a ${deletedLayer}`, `team/a ${stray}`].sort());
      expect(report.deleted.map((x) => x.digest).sort()).toEqual([deletedLayer, stray].sort());
      expect(report.bytesFreed).toBe(Buffer.from('blob deleted-layer').length + Buffer.from('blob never-used').length);
      for (const digest of [shared, onlyA, childLayer, sigLayer]) {
        expect(await stored(digest)).toBe(true);
        expect(await d.metadata.statBlobLink('team/a', digest)).not.toBeNull();
      }
      expect(await stored(deletedLayer)).toBe(false);
      expect(await d.metadata.getContentRecord(deletedLayer)).toBeNull();
      // A second run finds nothing more.
      const again = await run({ now: inHours(2) });
      expect([again.unlinked, again.deleted]).toEqual([[], []]);
    });

    test('GIVEN a deletion under way WHEN a writer claims the content THEN it waits until the deletion ended, then claims it anew and stores it again', async () => {
      const bytes = Buffer.from('blob contested');
      const digest = sha256(bytes);
      expect(await d.metadata.claimContent(digest)).toEqual({ ok: true });
      await d.blobs.putContent(digest, bytes);
      const cutoff = new Date(Date.now() + HOUR).toISOString();
      expect(await d.metadata.beginContentDeletion(digest, cutoff, new Date(Date.now() - DELETION_LEASE_MS).toISOString())).toBe(true);
      let claimed = false;
      const writer = claimContent(d.metadata, digest, { waitMs: 5000, pollMs: 10 }).then((ok) => (claimed = ok));
      await new Promise((r) => setTimeout(r, 100));
      expect(claimed).toBe(false);
      await d.blobs.deleteContent(digest);
      await d.metadata.finishContentDeletion(digest);
      await writer;
      expect(claimed).toBe(true);
      await d.blobs.putContent(digest, bytes);
      await d.metadata.linkBlob('team/a', digest, { size: bytes.length });
      expect(await stored(digest)).toBe(true);
      // The writer's claim renewed the content: even a collector with a short grace period leaves it.
      const report = await run({ graceMs: 60_000 });
      expect(report.deleted).toEqual([]);
    });

    test('GIVEN a collector that stopped after beginning a deletion WHEN another run comes after the lease THEN it finishes the deletion; before the lease it leaves it; nothing used is touched', async () => {
      const used = await upload('team/a', 'used');
      const garbage = await upload('team/a', 'garbage');
      await pushManifest('team/a', { blobs: [used] }, 'v1');
      // The first run stops as if killed while deleting bytes.
      const crashing: BlobStore = Object.create(d.blobs, { deleteContent: { value: async () => Promise.reject(new Error('killed')) } });
      await expect(collectGarbage(d.metadata, crashing, { graceMs: HOUR, now: inHours(2) })).rejects.toThrow('killed');
      expect((await d.metadata.getContentRecord(garbage))?.deletingSince).toEqual(expect.any(String));
      expect(await d.metadata.claimContent(garbage)).toMatchObject({ ok: false, reason: 'being-deleted' });

      // Begun a moment ago: that collector may still be at work.
      const tooSoon = await run();
      expect(tooSoon.deleted).toEqual([]);
      expect(await stored(garbage)).toBe(true);

      const later = await run({ now: () => Date.now() + 2 * HOUR + DELETION_LEASE_MS + 1000 });
      expect(later.deleted.map((x) => x.digest)).toEqual([garbage]);
      expect(await stored(garbage)).toBe(false);
      expect(await d.metadata.getContentRecord(garbage)).toBeNull();
      expect(await stored(used)).toBe(true);
      expect(await d.metadata.statBlobLink('team/a', used)).not.toBeNull();
    });

    test('GIVEN content stored without a record (before records were kept) WHEN collected THEN it goes once old, unless a repository links it', async () => {
      const bytes = Buffer.from('blob from an older version');
      const digest = sha256(bytes);
      await d.blobs.putContent(digest, bytes);
      expect((await run()).deleted).toEqual([]);
      const report = await run({ now: inHours(2) });
      expect(report.deleted.map((x) => x.digest)).toEqual([digest]);
      expect(await stored(digest)).toBe(false);
    });

    test('GIVEN a deadline already passed WHEN collected THEN it stops early, says so, and deletes nothing', async () => {
      await upload('team/a', 'late');
      const report = await run({ now: inHours(2), deadline: 0 });
      expect(report.complete).toBe(false);
      expect(report.deleted).toEqual([]);
    });
  });
}
