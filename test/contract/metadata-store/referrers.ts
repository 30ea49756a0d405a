/** The MetadataStore contract (test/contract/metadata-store.contract.ts): referrers of a subject and their pages. */
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { sha256, blob, IMAGE, manifest, byteOrder, shuffled, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeReferrers(current: () => OpenedMetadataStore): void {
  describe('referrers', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push, allReferrers } = storeHelpers(() => store);

    test('GIVEN manifests with a subject WHEN referrers are listed THEN each is described by digest, type, size, artifactType and annotations', async () => {
      const subject = manifest('image', { blobs: [blob('c')] });
      await push('team/app', subject, 'v1');
      const sig = manifest('sig', { blobs: [blob('empty')], subject: subject.digest, artifactType: 'application/vnd.example.sig', annotations: { 'org.example.signer': 'ci' } });
      const sbom = manifest('sbom', { blobs: [blob('empty')], subject: subject.digest, artifactType: 'application/spdx+json' });
      const plain = manifest('plain', { blobs: [blob('empty')], subject: subject.digest });
      for (const m of [sig, sbom, plain]) await push('team/app', m);
      await push('team/app', manifest('unrelated', { blobs: [blob('empty')] }));

      const list = await allReferrers('team/app', subject.digest);
      const byDigest = Object.fromEntries(list.map((r) => [r.digest, r]));
      expect(Object.keys(byDigest).sort()).toEqual([sig.digest, sbom.digest, plain.digest].sort());
      expect(byDigest[sig.digest]).toEqual({ digest: sig.digest, mediaType: IMAGE, size: sig.size, artifactType: 'application/vnd.example.sig', annotations: { 'org.example.signer': 'ci' } });
      expect(byDigest[sbom.digest]).toEqual({ digest: sbom.digest, mediaType: IMAGE, size: sbom.size, artifactType: 'application/spdx+json' });
      expect(byDigest[plain.digest]).toEqual({ digest: plain.digest, mediaType: IMAGE, size: plain.size });
    });

    test('GIVEN a subject that was never pushed WHEN a manifest refers to it THEN it is stored and listed as a referrer', async () => {
      const absent = sha256('not pushed yet');
      const sig = manifest('early-sig', { blobs: [blob('e')], subject: absent, artifactType: 'application/vnd.example.sig' });
      await push('team/app', sig);
      expect((await allReferrers('team/app', absent)).map((r) => r.digest)).toEqual([sig.digest]);
    });

    test('GIVEN referrers in one repository WHEN another repository or subject is asked THEN none are listed', async () => {
      const subject = sha256('subject');
      await push('team/app', manifest('ref', { blobs: [blob('e')], subject }));
      expect(await allReferrers('team/other', subject)).toEqual([]);
      expect(await allReferrers('team/app', sha256('other subject'))).toEqual([]);
    });

    /** `count` referrers of one subject pushed in random order (plus one of another subject); their digests in byte order. */
    async function pushReferrers(subject: string, count: number, annotationBytes = 0): Promise<string[]> {
      const refs = Array.from({ length: count }, (_, i) =>
        manifest(`paged-${i}`, { blobs: [blob('e')], subject, artifactType: 'application/vnd.example.sig', annotations: { n: String(i), pad: 'x'.repeat(annotationBytes) } }),
      );
      for (const m of shuffled(refs)) {
        // As the core does: a body over the adapter's inline limit lives in the blob store.
        const { body, ...record } = m;
        await push('team/app', m.size <= store.inlineManifestLimit ? { ...record, body } : record);
      }
      await push('team/app', manifest('paged-elsewhere', { blobs: [blob('e')], subject: sha256('another subject') }));
      return byteOrder(refs.map((m) => m.digest));
    }

    test('GIVEN referrers pushed in random order WHEN listed a few at a time after each last THEN byte order, each once, more true exactly while some follow', async () => {
      const digests = await pushReferrers(sha256('paged subject'), 7);
      const pages = [];
      let last: string | undefined;
      for (;;) {
        const page = await store.listReferrers('team/app', sha256('paged subject'), { last, limit: 3 });
        pages.push(page);
        if (!page.more) break;
        last = page.items[page.items.length - 1].digest;
      }
      expect(pages.map((p) => [p.items.map((r) => r.digest), p.more])).toEqual([
        [digests.slice(0, 3), true],
        [digests.slice(3, 6), true],
        [digests.slice(6), false],
      ]);
      expect(pages[0].items[0]).toMatchObject({ mediaType: IMAGE, artifactType: 'application/vnd.example.sig', annotations: { pad: '' } });
      // A page that ends exactly at the last referrer says so.
      expect(await store.listReferrers('team/app', sha256('paged subject'), { last: digests[3], limit: 3 })).toMatchObject({ more: false });
      expect((await store.listReferrers('team/app', sha256('paged subject'), { limit: 7 })).more).toBe(false);
      expect((await store.listReferrers('team/app', sha256('paged subject'), { limit: 6 })).more).toBe(true);
    });

    test('GIVEN a last bound that is no referrer, empty, past the end or longer than a key may be WHEN listed THEN what sorts after it in bytes, nothing of other subjects', async () => {
      const subject = sha256('bounded subject');
      const digests = await pushReferrers(subject, 5);
      const after = async (last: string, limit = 100) => (await store.listReferrers('team/app', subject, { last, limit })).items.map((r) => r.digest);
      expect(await after(digests[1])).toEqual(digests.slice(2));
      expect(await after(`${digests[1]}0`)).toEqual(digests.slice(2));
      expect(await after(`${digests[1]}${'z'.repeat(3000)}`)).toEqual(digests.slice(2));
      expect(await after('')).toEqual(digests);
      expect(await after('sha256:')).toEqual(digests);
      expect(await after(digests[4])).toEqual([]);
      expect(await after('z'.repeat(3000))).toEqual([]);
      expect(await store.listReferrers('team/app', subject, { last: digests[4], limit: 100 })).toEqual({ items: [], more: false });
    });

    test('GIVEN referrers with hundreds of KB of annotations each WHEN listed with a large limit THEN a page stops after about a megabyte but holds at least one, and the pages give each once', async () => {
      const subject = sha256('heavy subject');
      const digests = await pushReferrers(subject, 6, 300 * 1024);
      const seen: string[] = [];
      let last: string | undefined;
      for (let reads = 0; ; reads++) {
        expect(reads).toBeLessThan(20);
        const page = await store.listReferrers('team/app', subject, { last, limit: 1000 });
        expect(page.items.length).toBeGreaterThanOrEqual(page.more ? 1 : 0);
        // At most about a megabyte, plus the one referrer that crossed it.
        expect(page.items.length).toBeLessThanOrEqual(4);
        seen.push(...page.items.map((r) => r.digest));
        if (!page.more) break;
        last = seen[seen.length - 1];
      }
      expect(seen).toEqual(digests);
    });
  });
}
