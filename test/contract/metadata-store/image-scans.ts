/**
 * The MetadataStore contract (test/contract/metadata-store.contract.ts): image scan records
 * (ImageScanStore): a scan started (by a push's own transaction, or by a start) and finished, a finish
 * of a scan that is no longer the image's refused, StartImageScan's 24 hours, the records deleted with
 * their image and repository, read in batches, listed for the rematch in pages, and findings updated
 * only over the generation they were computed from. Bad input is thrown and changes nothing. Every
 * finish and findings update that lands records one SCAN change (ECR's `ECR Image Scan`) in the outbox,
 * with the image's tags at that write; a refused one records nothing.
 */
import type { StoredManifest } from '../../../lambdas/core/model';
import type { ImageScanRecord, ImageScanResult, ListedImageScan, SeverityCounts } from '../../../lambdas/core/scanning/scan-records';
import type { ImageChange } from '../../../lambdas/contracts/events';
import { scanEventId } from '../../../lambdas/storage/image-changes';
import type { MetadataStore, PutManifestOptions } from '../../../lambdas/storage/ports';
import { blob, byteOrder, manifest, sha256, shuffled, storeHelpers, type OpenedMetadataStore } from './fixtures';
import { allEntries } from './outbox';

const T0 = '2024-06-01T00:00:00.000Z';
/** T0 plus `n` hours, as the store writes times. */
const h = (n: number) => new Date(Date.parse(T0) + n * 3_600_000).toISOString();
const NONE: SeverityCounts = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 };
const COUNTS: SeverityCounts = { CRITICAL: 1, HIGH: 2, MEDIUM: 0, LOW: 3, INFORMATIONAL: 0, UNDEFINED: 1 };
const MORE: SeverityCounts = { CRITICAL: 2, HIGH: 2, MEDIUM: 5, LOW: 3, INFORMATIONAL: 1, UNDEFINED: 0 };

/** A completed scan with an inventory, as the scanner reports it. */
const complete = (at: string, extra: Partial<ImageScanResult> = {}): ImageScanResult => ({
  status: 'COMPLETE',
  completedAt: at,
  vulnerabilitySourceUpdatedAt: h(-24),
  severityCounts: COUNTS,
  findingsRef: `findings ${at}`,
  inventoryRef: `inventory ${at}`,
  sbomDigest: sha256(`sbom ${at}`),
  ...extra,
});

export function describeImageScans(current: () => OpenedMetadataStore): void {
  describe('image scan records', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push } = storeHelpers(() => store);

    /** Links the blobs, then puts the manifest as a push to a scanned repository does. */
    async function pushScanned(repo: string, m: StoredManifest, startedAt: string, tag?: string, options: PutManifestOptions = {}): Promise<void> {
      for (const b of m.blobs) await store.linkBlob(repo, b, { size: 10 });
      expect(await store.putManifest(repo, m, tag, { ...options, scan: { startedAt } })).toEqual({ ok: true });
    }

    /** Empties the outbox, so that a test looks only at what its next steps record. */
    async function drain(): Promise<void> {
      await store.acknowledgeOutbox((await allEntries(store)).map((e) => e.id));
    }

    /** The SCAN changes in the outbox, in order, each alone in its entry. */
    async function scanChanges(): Promise<ImageChange[]> {
      const entries = (await allEntries(store)).filter((entry) => entry.changes.some((c) => c.action === 'SCAN'));
      for (const entry of entries) expect(entry.changes).toHaveLength(1);
      return entries.flatMap((e) => e.changes);
    }

    /** Every page of listScansSince with `limit`, each page checked against it. */
    async function listAll(since: Date, limit: number): Promise<ListedImageScan[]> {
      const out: ListedImageScan[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await store.listScansSince(since, cursor, limit);
        expect(page.items.length).toBeLessThanOrEqual(limit);
        out.push(...page.items);
        if (page.cursor === undefined) return out;
        cursor = page.cursor;
      }
      throw new Error('listScansSince never ended');
    }

    test('GIVEN an image WHEN a scan starts and finishes THEN each reads back as written, the generation raised by each write', async () => {
      const m = manifest('scanned', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      expect(await store.getScan('team/app', m.digest)).toBeNull();

      const started: ImageScanRecord = { digest: m.digest, status: 'IN_PROGRESS', startedAt: T0, severityCounts: NONE, generation: 1 };
      // Times in another ISO form are stored in one.
      expect(await store.startScan('team/app', m.digest, '2024-06-01T00:00:00Z')).toEqual({ ok: true, scan: started });
      expect(await store.getScan('team/app', m.digest)).toEqual(started);

      const finished: ImageScanRecord = { digest: m.digest, startedAt: T0, generation: 2, ...complete(h(1)), severityCounts: COUNTS };
      expect(await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: '2024-06-01T02:00:00+02:00' })).toEqual({ ok: true, scan: finished });
      expect(await store.getScan('team/app', m.digest)).toEqual(finished);
      // Another image, and the same digest in another repository, have none.
      await push('team/lib', m);
      expect(await store.getScan('team/lib', m.digest)).toBeNull();
      if (opened.reopen) {
        store = await opened.reopen();
        expect(await store.getScan('team/app', m.digest)).toEqual(finished);
      }
    });

    test('GIVEN a newer start WHEN the older scan finishes THEN refused (superseded) and the newer stays; a finish lands once; an older or equal start is refused', async () => {
      const m = manifest('restarted', { blobs: [blob('a')] });
      await push('team/app', m);
      await store.startScan('team/app', m.digest, T0);
      expect(await store.startScan('team/app', m.digest, h(1))).toMatchObject({ ok: true, scan: { startedAt: h(1), generation: 2 } });
      expect(await store.finishScan('team/app', m.digest, complete(h(2)), { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'superseded' });
      expect(await store.getScan('team/app', m.digest)).toEqual({ digest: m.digest, status: 'IN_PROGRESS', startedAt: h(1), severityCounts: NONE, generation: 2 });

      const failed = { status: 'FAILED' as const, description: 'no vulnerability data imported', completedAt: h(2), inventoryRef: 'inventory' };
      expect(await store.finishScan('team/app', m.digest, failed, { expectedStartedAt: h(1) })).toMatchObject({ ok: true, scan: { ...failed, severityCounts: NONE, generation: 3 } });
      expect(await store.finishScan('team/app', m.digest, complete(h(3)), { expectedStartedAt: h(1) })).toEqual({ ok: false, reason: 'finished' });
      expect(await store.startScan('team/app', m.digest, T0)).toEqual({ ok: false, reason: 'superseded', startedAt: h(1) });
      expect(await store.startScan('team/app', m.digest, h(1))).toEqual({ ok: false, reason: 'superseded', startedAt: h(1) });
      expect(await store.getScan('team/app', m.digest)).toEqual({ digest: m.digest, startedAt: h(1), generation: 3, severityCounts: NONE, ...failed });
    });

    test('GIVEN a scan on push WHEN StartImageScan comes within 24 hours THEN limit-exceeded and nothing changes; after 24 hours it starts and renews the window; a findings update does not', async () => {
      const m = manifest('manual', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      const before = await store.getScan('team/app', m.digest);
      expect(await store.startScan('team/app', m.digest, h(23.99), { manual: true })).toEqual({ ok: false, reason: 'limit-exceeded', startedAt: T0 });
      expect(await store.getScan('team/app', m.digest)).toEqual(before);

      expect(await store.startScan('team/app', m.digest, h(24), { manual: true })).toEqual({
        ok: true,
        scan: { digest: m.digest, status: 'IN_PROGRESS', startedAt: h(24), manualScanAt: h(24), severityCounts: NONE, generation: 3 },
      });
      const done = await store.finishScan('team/app', m.digest, complete(h(25)), { expectedStartedAt: h(24) });
      expect(done).toMatchObject({ ok: true, scan: { manualScanAt: h(24), startedAt: h(24), generation: 4 } });
      const rematched = await store.updateFindings('team/app', m.digest, { findingsRef: 'again', severityCounts: MORE, vulnerabilitySourceUpdatedAt: h(30), completedAt: h(30) }, { expectedGeneration: 4 });
      expect(rematched).toMatchObject({ ok: true, scan: { startedAt: h(24), generation: 5 } });
      expect(await store.startScan('team/app', m.digest, h(47), { manual: true })).toEqual({ ok: false, reason: 'limit-exceeded', startedAt: h(24) });
      // A start not made by StartImageScan keeps the last manual one.
      expect(await store.startScan('team/app', m.digest, h(47))).toMatchObject({ ok: true, scan: { startedAt: h(47), manualScanAt: h(24) } });

      // An image never scanned may be scanned at once.
      const never = manifest('never scanned', { blobs: [blob('a')] });
      await push('team/app', never);
      expect(await store.startScan('team/app', never.digest, T0, { manual: true })).toMatchObject({ ok: true, scan: { startedAt: T0, manualScanAt: T0, generation: 1 } });
    });

    test('GIVEN the scan option WHEN putManifest stores a new image, by one or two transactions, THEN its scan is IN_PROGRESS with it; without the option, or refused, nothing', async () => {
      const m = manifest('on push', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      expect(await store.getScan('team/app', m.digest)).toEqual({ digest: m.digest, status: 'IN_PROGRESS', startedAt: T0, severityCounts: NONE, generation: 1 });

      const unscanned = manifest('not scanned', { blobs: [blob('a')] });
      await push('team/app', unscanned, 'v2');
      expect(await store.getScan('team/app', unscanned.digest)).toBeNull();

      const missing = manifest('missing blob', { blobs: [blob('nowhere')] });
      expect(await store.putManifest('team/app', missing, 'v3', { scan: { startedAt: T0 } })).toEqual({ ok: false, missingBlobs: [blob('nowhere')], missingManifests: [] });
      expect(await store.getScan('team/app', missing.digest)).toBeNull();

      // Too many blobs for one DynamoDB transaction: the record comes with the manifest in its second phase.
      const large = manifest('large', { blobs: Array.from({ length: 60 }, (_, i) => blob(`layer ${i}`)) });
      await pushScanned('team/app', large, h(1), 'large');
      expect(await store.getScan('team/app', large.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: h(1), generation: 1 });
      // An index is recorded as any manifest (what the scanner makes of it is the core's).
      const index = manifest('index', { children: [m.digest] });
      await pushScanned('team/app', index, h(2));
      expect(await store.getScan('team/app', index.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: h(2) });
    });

    test('GIVEN a stored image WHEN pushed again with the scan option THEN a scanned one keeps its record; one without a record starts its scan (repeated put, tag moved onto it)', async () => {
      const scanned = manifest('scanned before', { blobs: [blob('a')] });
      await pushScanned('team/app', scanned, T0, 'v1');
      const finished = await store.finishScan('team/app', scanned.digest, complete(h(1)), { expectedStartedAt: T0 });
      await pushScanned('team/app', scanned, h(2), 'v1');
      await pushScanned('team/app', scanned, h(3), 'v2');
      await pushScanned('team/app', scanned, h(4));
      expect(finished.ok && (await store.getScan('team/app', scanned.digest))).toEqual(finished.ok && finished.scan);

      const repeated = manifest('repeated', { blobs: [blob('a')] });
      await push('team/app', repeated, 'r1');
      await pushScanned('team/app', repeated, h(5), 'r1');
      expect(await store.getScan('team/app', repeated.digest)).toEqual({ digest: repeated.digest, status: 'IN_PROGRESS', startedAt: h(5), severityCounts: NONE, generation: 1 });

      const moved = manifest('moved onto', { blobs: [blob('a')] });
      await push('team/app', moved);
      await pushScanned('team/app', moved, h(6), 'v1');
      expect(await store.resolveTag('team/app', 'v1')).toBe(moved.digest);
      expect(await store.getScan('team/app', moved.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: h(6), generation: 1 });
    });

    test('GIVEN a scanned image WHEN it is deleted THEN its record goes with it: reads answer null, writes unknown, and the image pushed again has none', async () => {
      const m = manifest('deleted', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.getScan('team/app', m.digest)).toBeNull();
      expect(await store.getScans('team/app', [m.digest])).toEqual(new Map());
      expect(await store.startScan('team/app', m.digest, h(2))).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.startScan('team/app', m.digest, h(48), { manual: true })).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.finishScan('team/app', m.digest, complete(h(2)), { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'unknown' });
      const update = { findingsRef: 'f', severityCounts: NONE, vulnerabilitySourceUpdatedAt: h(3), completedAt: h(3) };
      expect(await store.updateFindings('team/app', m.digest, update, { expectedGeneration: 2 })).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.startScan('team/none', m.digest, h(2))).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.getScan('team/none', m.digest)).toBeNull();

      await push('team/app', m, 'v1');
      expect(await store.getScan('team/app', m.digest)).toBeNull();
      expect((await store.listScansSince(new Date(0))).items).toEqual([]);
    });

    test('GIVEN scanned images WHEN the repository is deleted (force) THEN every record goes; the same image pushed again starts afresh', async () => {
      const a = manifest('repo a', { blobs: [blob('a')] });
      const index = manifest('repo index', { children: [a.digest] });
      await pushScanned('team/app', a, T0, 'v1');
      await pushScanned('team/app', index, T0, 'multi');
      await store.finishScan('team/app', a.digest, complete(h(1)), { expectedStartedAt: T0 });
      expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });
      expect(await store.getScans('team/app', [a.digest, index.digest])).toEqual(new Map());
      expect((await store.listScansSince(new Date(0))).items).toEqual([]);
      await pushScanned('team/app', a, h(2), 'v1');
      expect(await store.getScan('team/app', a.digest)).toEqual({ digest: a.digest, status: 'IN_PROGRESS', startedAt: h(2), severityCounts: NONE, generation: 1 });
    });

    test('GIVEN images with and without records WHEN read in one batch THEN those with one, by digest, for that repository only; more than 100 at once', async () => {
      const a = manifest('batch a', { blobs: [blob('a')] });
      const b = manifest('batch b', { blobs: [blob('a')] });
      const c = manifest('batch c', { blobs: [blob('a')] });
      await pushScanned('team/app', a, T0);
      await pushScanned('team/app', b, T0);
      await push('team/app', c);
      await pushScanned('team/lib', c, T0);
      const done = await store.finishScan('team/app', b.digest, complete(h(1)), { expectedStartedAt: T0 });
      const got = await store.getScans('team/app', [c.digest, b.digest, sha256('nothing'), a.digest, b.digest, `sha256:${'x'.repeat(3000)}`]);
      expect([...got.keys()].sort()).toEqual([a.digest, b.digest].sort());
      expect(got.get(a.digest)).toEqual(await store.getScan('team/app', a.digest));
      expect(got.get(b.digest)).toEqual(done.ok && done.scan);
      expect(await store.getScans('team/app', [])).toEqual(new Map());

      const many = Array.from({ length: 105 }, (_, i) => manifest(`many ${i}`));
      for (const m of many) await pushScanned('team/many', m, h(2));
      const all = await store.getScans('team/many', many.map((m) => m.digest));
      expect(all.size).toBe(105);
      for (const m of many) expect(all.get(m.digest)).toMatchObject({ digest: m.digest, status: 'IN_PROGRESS', startedAt: h(2) });
    });

    test('GIVEN scans in several repositories WHEN listed since a time THEN finished ones with an inventory started since, by repository then digest, over pages', async () => {
      const listed: Array<{ repository: string; digest: string }> = [];
      const failedOnes = new Set<string>();
      const scan = async (repo: string, seed: string, startedAt: string, result?: ImageScanResult) => {
        const m = manifest(seed, { blobs: [blob('a')] });
        await pushScanned(repo, m, startedAt);
        if (result) expect(await store.finishScan(repo, m.digest, result, { expectedStartedAt: startedAt })).toMatchObject({ ok: true });
        return m.digest;
      };
      for (const repo of ['team/app', 'team/app-b', 'other', 'team/lib']) {
        listed.push({ repository: repo, digest: await scan(repo, `${repo} complete`, h(1), complete(h(2))) });
        // Failed after storing its inventory (no vulnerability data): matched again when data comes.
        const failed = await scan(repo, `${repo} failed`, h(3), { status: 'FAILED', description: 'no vulnerability data imported', completedAt: h(3), inventoryRef: 'inv' });
        listed.push({ repository: repo, digest: failed });
        failedOnes.add(failed);
        await scan(repo, `${repo} no inventory`, h(1), { status: 'UNSUPPORTED_IMAGE', description: 'no package database', completedAt: h(2) });
        await scan(repo, `${repo} in progress`, h(1));
        await scan(repo, `${repo} too old`, h(-1), complete(h(-1)));
      }
      await push('team/none', manifest('never scanned', { blobs: [blob('a')] }));
      const expected = [...listed].sort((x, y) => Buffer.compare(Buffer.from(`${x.repository}\u0000${x.digest}`), Buffer.from(`${y.repository}\u0000${y.digest}`)));
      expect(byteOrder(expected.map((e) => e.repository))).toEqual(expected.map((e) => e.repository));

      for (const limit of [1, 2, 3, 100]) {
        const got = await listAll(new Date(T0), limit);
        expect(got.map(({ repository, digest }) => ({ repository, digest }))).toEqual(expected);
        for (const item of got) expect(item).toEqual({ repository: item.repository, ...(await store.getScan(item.repository, item.digest)) });
      }
      // `since` is inclusive; after every start nothing is listed.
      expect((await listAll(new Date(h(3)), 2)).map((i) => i.digest)).toEqual(expected.map((e) => e.digest).filter((d) => failedOnes.has(d)));
      expect(await store.listScansSince(new Date(h(4)))).toEqual({ items: [] });
      await expect(store.listScansSince(new Date(T0), 'not a cursor')).rejects.toThrow(RangeError);
      await expect(store.listScansSince(new Date('not a time'))).rejects.toThrow(RangeError);
      await expect(store.listScansSince(new Date(T0), undefined, 0)).rejects.toThrow(RangeError);
    });

    test('GIVEN concurrent starts WHEN they race THEN the latest wins and no start is lost; of manual ones one alone; of finishes of one scan one alone', async () => {
      const m = manifest('raced', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0);
      const times = shuffled([1, 2, 3, 4, 5, 6].map(h));
      const results = await Promise.all(times.map((at) => store.startScan('team/app', m.digest, at)));
      for (const r of results) if (!r.ok) expect(r.reason).toBe('superseded');
      const accepted = results.filter((r) => r.ok).length;
      expect(await store.getScan('team/app', m.digest)).toMatchObject({ status: 'IN_PROGRESS', startedAt: h(6), generation: 1 + accepted });

      const manual = await Promise.all([0, 1, 2, 3, 4].map((i) => store.startScan('team/app', m.digest, h(30 + i / 100), { manual: true })));
      expect(manual.filter((r) => r.ok)).toHaveLength(1);
      for (const r of manual) if (!r.ok) expect(r.reason).toBe('limit-exceeded');
      const winner = manual.find((r) => r.ok);
      const startedAt = winner?.ok ? winner.scan.startedAt : '';

      const finishes = await Promise.all([complete(h(31)), complete(h(32), { findingsRef: 'other' })].map((result) => store.finishScan('team/app', m.digest, result, { expectedStartedAt: startedAt })));
      expect(finishes.filter((r) => r.ok)).toHaveLength(1);
      expect(finishes.find((r) => !r.ok)).toEqual({ ok: false, reason: 'finished' });
      const kept = finishes.find((r) => r.ok);
      expect(await store.getScan('team/app', m.digest)).toEqual(kept?.ok && kept.scan);
    });

    test('GIVEN a finished scan with an inventory WHEN its findings are updated THEN only over the generation read and never with older data; a FAILED one becomes COMPLETE; none without an inventory', async () => {
      const m = manifest('rematched', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0);
      await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      const update = { findingsRef: 'rematch 1', severityCounts: MORE, vulnerabilitySourceUpdatedAt: h(10), completedAt: h(11) };
      const first = await store.updateFindings('team/app', m.digest, update, { expectedGeneration: 2 });
      expect(first).toEqual({ ok: true, scan: { ...complete(h(1)), digest: m.digest, startedAt: T0, ...update, generation: 3 } });
      expect(await store.updateFindings('team/app', m.digest, { ...update, findingsRef: 'stale' }, { expectedGeneration: 2 })).toEqual({ ok: false, reason: 'stale' });
      expect(await store.updateFindings('team/app', m.digest, { ...update, findingsRef: 'older data', vulnerabilitySourceUpdatedAt: h(5) }, { expectedGeneration: 3 })).toEqual({ ok: false, reason: 'stale' });
      expect(await store.getScan('team/app', m.digest)).toEqual(first.ok && first.scan);
      const raced = await Promise.all(['x', 'y', 'z'].map((ref) => store.updateFindings('team/app', m.digest, { ...update, findingsRef: ref }, { expectedGeneration: 3 })));
      expect(raced.filter((r) => r.ok)).toHaveLength(1);
      for (const r of raced) if (!r.ok) expect(r.reason).toBe('stale');

      const failed = manifest('failed without data', { blobs: [blob('a')] });
      await pushScanned('team/app', failed, T0);
      await store.finishScan('team/app', failed.digest, { status: 'FAILED', description: 'no vulnerability data imported', completedAt: h(1), inventoryRef: 'inv' }, { expectedStartedAt: T0 });
      expect(await store.updateFindings('team/app', failed.digest, update, { expectedGeneration: 2 })).toEqual({
        ok: true,
        scan: { digest: failed.digest, status: 'COMPLETE', startedAt: T0, inventoryRef: 'inv', ...update, generation: 3 },
      });

      const pending = manifest('in progress', { blobs: [blob('a')] });
      await pushScanned('team/app', pending, T0);
      expect(await store.updateFindings('team/app', pending.digest, update, { expectedGeneration: 1 })).toEqual({ ok: false, reason: 'no-inventory' });
      const unsupported = manifest('unsupported', { blobs: [blob('a')] });
      await pushScanned('team/app', unsupported, T0);
      await store.finishScan('team/app', unsupported.digest, { status: 'UNSUPPORTED_IMAGE', completedAt: h(1) }, { expectedStartedAt: T0 });
      expect(await store.updateFindings('team/app', unsupported.digest, update, { expectedGeneration: 2 })).toEqual({ ok: false, reason: 'no-inventory' });
      expect(await store.getScan('team/app', pending.digest)).toMatchObject({ status: 'IN_PROGRESS', generation: 1 });
    });

    test('GIVEN a scan WHEN it finishes THEN the outbox holds exactly one SCAN, alone in its entry: the status, the counts, the image’s tags at the finish, an id derived from the record; a start records nothing', async () => {
      const m = manifest('scan event', { blobs: [blob('a')] });
      const other = manifest('scan event other', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      await push('team/app', m, 'latest');
      await push('team/app', m, 'moved');
      // Tags that left the image before the finish are not its tags.
      await push('team/app', other, 'moved');
      await drain();
      const before = Date.now();
      const done = await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      expect(done).toMatchObject({ ok: true, scan: { generation: 2 } });
      const [change, ...more] = await scanChanges();
      expect(more).toEqual([]);
      expect(change).toEqual({
        action: 'SCAN',
        repository: 'team/app',
        digest: m.digest,
        eventId: scanEventId('team/app', m.digest, T0, 2),
        time: change.time,
        scanStatus: 'COMPLETE',
        severityCounts: COUNTS,
        tags: ['latest', 'v1'],
      });
      expect(Date.parse(change.time)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(change.time)).toBeLessThanOrEqual(Date.now() + 1000);

      // A manual start records nothing; a scan on push and a push of a scanned image only their PUSH.
      await drain();
      expect(await store.startScan('team/app', m.digest, h(24), { manual: true })).toMatchObject({ ok: true });
      expect(await allEntries(store)).toEqual([]);
      await pushScanned('team/app', other, h(24));
      await pushScanned('team/app', m, h(25), 'v2');
      expect(await scanChanges()).toEqual([]);

      // A scan that FAILED is recorded too, without counts; an untagged image's tags are none.
      expect(await store.finishScan('team/app', m.digest, { status: 'FAILED', description: 'no vulnerability data imported', completedAt: h(25) }, { expectedStartedAt: h(24) })).toMatchObject({ ok: true });
      const untagged = manifest('scan event untagged', { blobs: [blob('a')] });
      await pushScanned('team/app', untagged, h(24));
      expect(await store.finishScan('team/app', untagged.digest, { status: 'UNSUPPORTED_IMAGE', description: 'no package database', completedAt: h(25) }, { expectedStartedAt: h(24) })).toMatchObject({ ok: true });
      expect(await scanChanges()).toEqual([
        { action: 'SCAN', repository: 'team/app', digest: m.digest, eventId: scanEventId('team/app', m.digest, h(24), 4), time: expect.any(String), scanStatus: 'FAILED', tags: ['latest', 'v1', 'v2'] },
        { action: 'SCAN', repository: 'team/app', digest: untagged.digest, eventId: scanEventId('team/app', untagged.digest, h(24), 2), time: expect.any(String), scanStatus: 'UNSUPPORTED_IMAGE', tags: [] },
      ]);
      if (opened.reopen) {
        store = await opened.reopen();
        expect(await scanChanges()).toHaveLength(2);
      }
    });

    test('GIVEN finishes that are refused (finished, superseded, unknown, bad input) or that lose a race THEN the outbox holds no SCAN for them: one per scan that ended', async () => {
      const m = manifest('refused finishes', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      await drain();
      // The same finish tried again, and another for the same scan.
      expect(await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'finished' });
      expect(await store.finishScan('team/app', m.digest, complete(h(2), { findingsRef: 'other' }), { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'finished' });
      expect(await store.startScan('team/app', m.digest, h(3))).toMatchObject({ ok: true });
      expect(await store.finishScan('team/app', m.digest, complete(h(4)), { expectedStartedAt: T0 })).toEqual({ ok: false, reason: 'superseded' });
      expect(await store.finishScan('team/app', sha256('no such image'), complete(h(4)), { expectedStartedAt: h(3) })).toEqual({ ok: false, reason: 'unknown' });
      expect(await store.finishScan('team/none', m.digest, complete(h(4)), { expectedStartedAt: h(3) })).toEqual({ ok: false, reason: 'unknown' });
      await expect(store.finishScan('team/app', m.digest, { status: 'COMPLETE', completedAt: 'soon' }, { expectedStartedAt: h(3) })).rejects.toThrow(RangeError);
      expect(await scanChanges()).toEqual([]);

      // Finishes of one scan racing: one lands, one SCAN.
      const finishes = await Promise.all([complete(h(5)), complete(h(6), { findingsRef: 'raced' }), complete(h(7), { findingsRef: 'raced again' })].map((result) => store.finishScan('team/app', m.digest, result, { expectedStartedAt: h(3) })));
      expect(finishes.filter((r) => r.ok)).toHaveLength(1);
      expect(await scanChanges()).toEqual([expect.objectContaining({ action: 'SCAN', digest: m.digest, eventId: scanEventId('team/app', m.digest, h(3), 4), tags: ['v1'] })]);

      // The image deleted: its DELETE, and a finish of its scan afterwards records nothing.
      await drain();
      expect(await store.startScan('team/app', m.digest, h(30))).toMatchObject({ ok: true });
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      await drain();
      expect(await store.finishScan('team/app', m.digest, complete(h(31)), { expectedStartedAt: h(30) })).toEqual({ ok: false, reason: 'unknown' });
      expect(await allEntries(store)).toEqual([]);
    });

    test('GIVEN a finished scan WHEN its findings are updated THEN one SCAN (COMPLETE, the new counts, the tags then) per update that lands, each its own id; none for a refused or losing update', async () => {
      const m = manifest('rematch events', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      await store.finishScan('team/app', m.digest, { status: 'FAILED', description: 'no vulnerability data imported', completedAt: h(1), inventoryRef: 'inv' }, { expectedStartedAt: T0 });
      await drain();
      const update = { findingsRef: 'rematch 1', severityCounts: MORE, vulnerabilitySourceUpdatedAt: h(10), completedAt: h(11) };
      expect(await store.updateFindings('team/app', m.digest, update, { expectedGeneration: 2 })).toMatchObject({ ok: true, scan: { status: 'COMPLETE', generation: 3 } });
      await push('team/app', m, 'v2');
      expect(await store.updateFindings('team/app', m.digest, { ...update, findingsRef: 'rematch 2', severityCounts: NONE, vulnerabilitySourceUpdatedAt: h(20) }, { expectedGeneration: 3 })).toMatchObject({ ok: true, scan: { generation: 4 } });
      // Refused: stale generation, older data, no inventory, unknown image.
      expect(await store.updateFindings('team/app', m.digest, update, { expectedGeneration: 3 })).toEqual({ ok: false, reason: 'stale' });
      expect(await store.updateFindings('team/app', m.digest, { ...update, vulnerabilitySourceUpdatedAt: h(15) }, { expectedGeneration: 4 })).toEqual({ ok: false, reason: 'stale' });
      const pending = manifest('rematch events pending', { blobs: [blob('a')] });
      await pushScanned('team/app', pending, T0);
      expect(await store.updateFindings('team/app', pending.digest, update, { expectedGeneration: 1 })).toEqual({ ok: false, reason: 'no-inventory' });
      expect(await store.updateFindings('team/app', sha256('no such image'), update, { expectedGeneration: 1 })).toEqual({ ok: false, reason: 'unknown' });
      const changes = await scanChanges();
      expect(changes).toEqual([
        { action: 'SCAN', repository: 'team/app', digest: m.digest, eventId: scanEventId('team/app', m.digest, T0, 3), time: expect.any(String), scanStatus: 'COMPLETE', severityCounts: MORE, tags: ['v1'] },
        { action: 'SCAN', repository: 'team/app', digest: m.digest, eventId: scanEventId('team/app', m.digest, T0, 4), time: expect.any(String), scanStatus: 'COMPLETE', severityCounts: NONE, tags: ['v1', 'v2'] },
      ]);
      expect(new Set(changes.map((c) => c.eventId)).size).toBe(2);

      // Updates racing over one generation: one lands, one SCAN.
      await drain();
      const raced = await Promise.all(['x', 'y', 'z'].map((ref) => store.updateFindings('team/app', m.digest, { ...update, findingsRef: ref, vulnerabilitySourceUpdatedAt: h(30) }, { expectedGeneration: 4 })));
      expect(raced.filter((r) => r.ok)).toHaveLength(1);
      expect(await scanChanges()).toEqual([expect.objectContaining({ eventId: scanEventId('team/app', m.digest, T0, 5), scanStatus: 'COMPLETE' })]);
    });

    test('GIVEN bad input WHEN written THEN thrown and nothing changes', async () => {
      const m = manifest('bad input', { blobs: [blob('a')] });
      await pushScanned('team/app', m, T0, 'v1');
      const before = await store.getScan('team/app', m.digest);
      await expect(store.startScan('team/app', m.digest, 'yesterday')).rejects.toThrow(RangeError);
      const bad: ImageScanResult[] = [
        { status: 'IN_PROGRESS' as ImageScanResult['status'], completedAt: h(1) },
        { status: 'COMPLETE', completedAt: 'soon' },
        { status: 'COMPLETE', completedAt: h(1), vulnerabilitySourceUpdatedAt: 'old' },
        { status: 'COMPLETE', completedAt: h(1), severityCounts: { ...COUNTS, HIGH: -1 } },
        { status: 'COMPLETE', completedAt: h(1), severityCounts: { ...COUNTS, LOW: 1.5 } },
        { status: 'COMPLETE', completedAt: h(1), severityCounts: { ...COUNTS, SEVERE: 1 } as SeverityCounts },
        { status: 'COMPLETE', completedAt: h(1), findingsRef: '' },
      ];
      for (const result of bad) await expect(store.finishScan('team/app', m.digest, result, { expectedStartedAt: T0 })).rejects.toThrow(RangeError);
      await expect(store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: 'then' })).rejects.toThrow(RangeError);
      expect(await store.getScan('team/app', m.digest)).toEqual(before);

      await store.finishScan('team/app', m.digest, complete(h(1)), { expectedStartedAt: T0 });
      const finished = await store.getScan('team/app', m.digest);
      const update = { findingsRef: 'f', severityCounts: MORE, vulnerabilitySourceUpdatedAt: h(10), completedAt: h(10) };
      await expect(store.updateFindings('team/app', m.digest, update, { expectedGeneration: 0 })).rejects.toThrow(RangeError);
      await expect(store.updateFindings('team/app', m.digest, { ...update, completedAt: 'later' }, { expectedGeneration: 2 })).rejects.toThrow(RangeError);
      await expect(store.updateFindings('team/app', m.digest, { ...update, findingsRef: '' }, { expectedGeneration: 2 })).rejects.toThrow(RangeError);
      expect(await store.getScan('team/app', m.digest)).toEqual(finished);

      const other = manifest('bad push', { blobs: [blob('a')] });
      await expect(store.putManifest('team/app', other, 'v2', { scan: { startedAt: 'now' } })).rejects.toThrow(RangeError);
      expect(await store.getManifest('team/app', other.digest)).toBeNull();
      expect(await store.resolveTag('team/app', 'v2')).toBeNull();
      expect(await store.getScan('team/app', other.digest)).toBeNull();
    });
  });
}
