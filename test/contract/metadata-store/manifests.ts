/** The MetadataStore contract (test/contract/metadata-store.contract.ts): manifests and tags, and the pulls recorded on them. */
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { sha256, blob, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';

export function describeManifests(current: () => OpenedMetadataStore): void {
  describe('manifests', () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;
    beforeEach(() => {
      opened = current();
      store = opened.store;
    });
    const { push, allReferrers } = storeHelpers(() => store);

    test('GIVEN every blob linked WHEN a manifest is put THEN it reads back whole, body included', async () => {
      const m = manifest('full', { blobs: [blob('config'), blob('l1'), blob('l2')], artifactType: 'application/vnd.example+json', annotations: { 'org.example': 'yes' } });
      await push('team/app', m);
      const got = await store.getManifest('team/app', m.digest);
      expect(got).not.toBeNull();
      const { body, ...rest } = got!;
      const { body: sent, ...expected } = m;
      expect(rest).toEqual(expected);
      if (m.size <= store.inlineManifestLimit) expect(Buffer.from(body!).equals(sent!)).toBe(true);
      expect(await store.getManifest('team/other', m.digest)).toBeNull();
    });

    test('GIVEN a manifest larger than the inline limit WHEN put without a body THEN its record reads back without one', async () => {
      const { body: _omitted, ...m } = manifest('external', { blobs: [blob('c')] });
      await push('team/app', m);
      const got = await store.getManifest('team/app', m.digest);
      expect(got?.digest).toBe(m.digest);
      expect(got?.body).toBeUndefined();
    });

    test('GIVEN a repository with no links WHEN a manifest needing no blobs is put THEN the repository is created', async () => {
      const m = manifest('empty-index', { children: [] });
      expect(await store.putManifest('team/fresh', m, 'v1')).toEqual({ ok: true });
      expect((await store.getRepository('team/fresh'))?.name).toBe('team/fresh');
      expect(await store.resolveTag('team/fresh', 'v1')).toBe(m.digest);
    });

    test('GIVEN missing blobs and children WHEN a manifest is put THEN it names exactly what is missing and writes nothing', async () => {
      await store.linkBlob('team/app', blob('present'), { size: 1 });
      const old = manifest('old', { blobs: [blob('present')] });
      await push('team/app', old, 'latest');
      const child = manifest('child', { blobs: [blob('present')] });
      await push('team/app', child);

      const bad = manifest('bad', { blobs: [blob('present'), blob('gone-1'), blob('gone-2')], subject: old.digest, artifactType: 'application/x' });
      const result = await store.putManifest('team/app', bad, 'latest');
      expect(result.ok).toBe(false);
      if (result.ok || !('missingBlobs' in result)) throw new Error(`expected missing references, got ${JSON.stringify(result)}`);
      expect([...result.missingBlobs].sort()).toEqual([blob('gone-1'), blob('gone-2')].sort());
      expect(result.missingManifests).toEqual([]);

      const badIndex = manifest('bad-index', { children: [child.digest, sha256('no such child')] });
      const indexResult = await store.putManifest('team/app', badIndex, 'latest');
      expect(indexResult).toEqual({ ok: false, missingBlobs: [], missingManifests: [sha256('no such child')] });

      expect(await store.getManifest('team/app', bad.digest)).toBeNull();
      expect(await store.getManifest('team/app', badIndex.digest)).toBeNull();
      expect(await store.resolveTag('team/app', 'latest')).toBe(old.digest);
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['latest'], more: false });
      expect(await allReferrers('team/app', old.digest)).toEqual([]);
      // No usage was recorded for the present blob nor a parent for the child: both can go.
      expect(await store.deleteManifest('team/app', child.digest)).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', old.digest)).toEqual({ ok: true });
      expect(await store.unlinkBlob('team/app', blob('present'))).toEqual({ ok: true });
    });

    test('GIVEN a repository that does not exist WHEN a manifest with missing blobs is put THEN the repository is still absent', async () => {
      const result = await store.putManifest('team/ghost', manifest('ghost', { blobs: [blob('x')] }), 'v1');
      expect(result).toEqual({ ok: false, missingBlobs: [blob('x')], missingManifests: [] });
      expect(await store.getRepository('team/ghost')).toBeNull();
      expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
    });

    test('GIVEN blobs linked in another repository only WHEN a manifest needing them is put here THEN they count as missing', async () => {
      await store.linkBlob('team/other', blob('c'), { size: 1 });
      expect(await store.putManifest('team/app', manifest('cross', { blobs: [blob('c')] }))).toEqual({ ok: false, missingBlobs: [blob('c')], missingManifests: [] });
    });

    test('GIVEN a stored manifest WHEN the same manifest is put again THEN it succeeds and stays single', async () => {
      const m = manifest('again', { blobs: [blob('c')] });
      await push('team/app', m, 'a');
      await push('team/app', m, 'b');
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['a', 'b'], more: false });
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.unlinkBlob('team/app', blob('c'))).toEqual({ ok: true });
    });

    test('GIVEN a tag on one manifest WHEN another manifest is put with that tag THEN the tag moves and the first manifest stays', async () => {
      const v1 = manifest('v1', { blobs: [blob('c1')] });
      const v2 = manifest('v2', { blobs: [blob('c2')] });
      await push('team/app', v1, 'latest');
      await push('team/app', v2, 'latest');
      expect(await store.resolveTag('team/app', 'latest')).toBe(v2.digest);
      expect(await store.getManifest('team/app', v1.digest)).not.toBeNull();
      // The old manifest no longer owns the tag: deleting it must leave the tag on v2.
      expect(await store.deleteManifest('team/app', v1.digest)).toEqual({ ok: true });
      expect(await store.resolveTag('team/app', 'latest')).toBe(v2.digest);
    });

    test('GIVEN a tagged manifest WHEN it is read by tag THEN the whole record comes back, body equal to the manifest\'s own', async () => {
      const m = manifest('by-tag', { blobs: [blob('c'), blob('l')], artifactType: 'application/vnd.example+json', annotations: { 'org.example': 'yes' } });
      await push('team/app', m, 'v1');
      const byTag = await store.getTaggedManifest('team/app', 'v1');
      const byDigest = await store.getManifest('team/app', m.digest);
      expect(byTag).not.toBeNull();
      const { body, ...rest } = byTag!;
      const { body: sent, ...expected } = m;
      expect(rest).toEqual(expected);
      expect(Buffer.from(body!).equals(sent!)).toBe(true);
      expect(Buffer.from(body!).equals(Buffer.from(byDigest!.body!))).toBe(true);
      expect(await store.getTaggedManifest('team/app', 'v2')).toBeNull();
      expect(await store.getTaggedManifest('team/other', 'v1')).toBeNull();
    });

    test('GIVEN a manifest stored without a body WHEN it is read by tag THEN its record comes back without one', async () => {
      const { body: _omitted, ...m } = manifest('by-tag-external', { blobs: [blob('c')] });
      await push('team/app', m, 'big');
      const got = await store.getTaggedManifest('team/app', 'big');
      expect(got).toEqual(await store.getManifest('team/app', m.digest));
      expect(got?.digest).toBe(m.digest);
      expect(got?.body).toBeUndefined();
    });

    test('GIVEN a tag WHEN it moves to a new manifest, and then onto a manifest stored earlier THEN a read by tag follows it each time', async () => {
      const v1 = manifest('move-1', { blobs: [blob('c1')] });
      const v2 = manifest('move-2', { blobs: [blob('c2')], annotations: { 'org.example.v': '2' } });
      await push('team/app', v1, 'latest');
      expect((await store.getTaggedManifest('team/app', 'latest'))?.digest).toBe(v1.digest);
      await push('team/app', v2, 'latest');
      expect(await store.getTaggedManifest('team/app', 'latest')).toEqual(await store.getManifest('team/app', v2.digest));
      // Back onto v1, which is stored already (tagging an existing manifest).
      await push('team/app', v1, 'latest');
      const back = await store.getTaggedManifest('team/app', 'latest');
      expect(back).toEqual(await store.getManifest('team/app', v1.digest));
      expect(Buffer.from(back!.body!).equals(v1.body!)).toBe(true);
      // A second tag onto a stored manifest carries its record too.
      await push('team/app', v2, 'stable');
      expect(await store.getTaggedManifest('team/app', 'stable')).toEqual(await store.getManifest('team/app', v2.digest));
    });

    test('GIVEN a tagged manifest WHEN the manifest is deleted, or the tag is THEN a read by tag finds nothing', async () => {
      const m = manifest('gone-by-tag', { blobs: [blob('c')] });
      await push('team/app', m, 'one');
      await push('team/app', m, 'two');
      expect(await store.deleteTag('team/app', 'two')).toBe(true);
      expect(await store.getTaggedManifest('team/app', 'two')).toBeNull();
      expect((await store.getTaggedManifest('team/app', 'one'))?.digest).toBe(m.digest);
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.getTaggedManifest('team/app', 'one')).toBeNull();
      // Pushed again, it is found by tag again.
      await push('team/app', m, 'one');
      expect((await store.getTaggedManifest('team/app', 'one'))?.digest).toBe(m.digest);
    });

    test('GIVEN a tagged manifest WHEN the store is reopened THEN a read by tag still finds it', async () => {
      if (!opened.reopen) return;
      const m = manifest('durable-by-tag', { blobs: [blob('c')] });
      await push('team/app', m, 'v1');
      store = await opened.reopen();
      expect(await store.getTaggedManifest('team/app', 'v1')).toEqual(await store.getManifest('team/app', m.digest));
    });

    test('GIVEN a tagged manifest WHEN the tag is deleted THEN the tag is gone, the manifest stays, and a second delete answers false', async () => {
      const m = manifest('tagged', { blobs: [blob('c')] });
      await push('team/app', m, 'v1');
      expect(await store.deleteTag('team/app', 'v1')).toBe(true);
      expect(await store.resolveTag('team/app', 'v1')).toBeNull();
      expect(await store.getManifest('team/app', m.digest)).not.toBeNull();
      expect(await store.deleteTag('team/app', 'v1')).toBe(false);
      expect(await store.deleteTag('team/none', 'v1')).toBe(false);
    });

    test('GIVEN a deleted tag WHEN its former manifest is deleted THEN it succeeds and no other tag is touched', async () => {
      const m = manifest('retag', { blobs: [blob('c')] });
      await push('team/app', m, 'v1');
      await push('team/app', m, 'v2');
      await store.deleteTag('team/app', 'v1');
      await push('team/app', manifest('other', { blobs: [blob('c')] }), 'v1');
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['v1'], more: false });
    });

    test('GIVEN a manifest with tags, blob usage and a subject WHEN deleted THEN its tags, usage and referrer entry go with it', async () => {
      const subject = manifest('subject', { blobs: [blob('c')] });
      await push('team/app', subject, 'keep');
      const m = manifest('sig', { blobs: [blob('sig-config'), blob('sig-layer')], subject: subject.digest, artifactType: 'application/vnd.example.sig' });
      await push('team/app', m, 'one');
      await push('team/app', m, 'two');

      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: true });
      expect(await store.getManifest('team/app', m.digest)).toBeNull();
      expect(await store.resolveTag('team/app', 'one')).toBeNull();
      expect(await store.resolveTag('team/app', 'two')).toBeNull();
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['keep'], more: false });
      expect(await allReferrers('team/app', subject.digest)).toEqual([]);
      expect(await store.unlinkBlob('team/app', blob('sig-layer'))).toEqual({ ok: true });
      expect(await store.unlinkBlob('team/app', blob('sig-config'))).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', m.digest)).toEqual({ ok: false, reason: 'unknown', by: [] });
    });

    test('GIVEN onlyIfTags WHEN the manifest carries exactly those tags THEN it is deleted; other tags, none or more THEN `tagged` and nothing changes', async () => {
      const m = manifest('only-if', { blobs: [blob('c')] });
      await push('team/app', m, 'a');
      await push('team/app', m, 'b');
      expect(await store.deleteManifest('team/app', m.digest, { onlyIfTags: ['a'] })).toEqual({ ok: false, reason: 'tagged', by: ['a', 'b'] });
      expect(await store.deleteManifest('team/app', m.digest, { onlyIfTags: [] })).toEqual({ ok: false, reason: 'tagged', by: ['a', 'b'] });
      expect(await store.deleteManifest('team/app', m.digest, { onlyIfTags: ['a', 'b', 'c'] })).toEqual({ ok: false, reason: 'tagged', by: ['a', 'b'] });
      expect(await store.getManifestTags('team/app', m.digest)).toEqual(['a', 'b']);
      expect(await store.deleteManifest('team/app', m.digest, { onlyIfTags: ['b', 'a'] })).toEqual({ ok: true });
      expect(await store.getManifest('team/app', m.digest)).toBeNull();
      expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });

      const untagged = manifest('only-if-untagged', { blobs: [blob('c')] });
      await push('team/app', untagged);
      expect(await store.deleteManifest('team/app', untagged.digest, { onlyIfTags: ['a'] })).toEqual({ ok: false, reason: 'tagged', by: [] });
      expect(await store.deleteManifest('team/app', untagged.digest, { onlyIfTags: [] })).toEqual({ ok: true });
    });

    test('GIVEN an index using the manifest WHEN deleted with onlyIfTags THEN other tags answer tagged (tags come first), the exact tags answer in-use, and nothing changes', async () => {
      const child = manifest('only-if-child', { blobs: [blob('c')] });
      await push('team/app', child, 'c1');
      await push('team/app', child, 'c2');
      await push('team/app', manifest('only-if-index', { children: [child.digest] }), 'idx');
      expect(await store.deleteManifest('team/app', child.digest, { onlyIfTags: ['c1'] })).toEqual({ ok: false, reason: 'tagged', by: ['c1', 'c2'] });
      expect(await store.deleteManifest('team/app', child.digest, { onlyIfTags: ['c1', 'c2'] })).toMatchObject({ ok: false, reason: 'in-use' });
      expect(await store.getManifestTags('team/app', child.digest)).toEqual(['c1', 'c2']);
    });

    test('GIVEN deleteTag with ifDigest WHEN the tag names another manifest THEN nothing is removed; when it names that one THEN the tag goes', async () => {
      const first = manifest('if-digest-1', { blobs: [blob('c')] });
      const second = manifest('if-digest-2', { blobs: [blob('c')] });
      await push('team/app', first, 'moving');
      await push('team/app', second, 'moving');
      expect(await store.deleteTag('team/app', 'moving', { ifDigest: first.digest })).toBe(false);
      expect(await store.resolveTag('team/app', 'moving')).toBe(second.digest);
      expect(await store.deleteTag('team/app', 'moving', { ifDigest: second.digest })).toBe(true);
      expect(await store.resolveTag('team/app', 'moving')).toBeNull();
    });

    test('GIVEN an unknown digest or repository WHEN a manifest is deleted THEN the answer is unknown', async () => {
      await push('team/app', manifest('x', { blobs: [blob('c')] }));
      expect(await store.deleteManifest('team/app', sha256('none'))).toEqual({ ok: false, reason: 'unknown', by: [] });
      expect(await store.deleteManifest('team/none', sha256('none'))).toEqual({ ok: false, reason: 'unknown', by: [] });
    });

    test('GIVEN an index over two manifests WHEN a child is deleted THEN it is refused as in-use until the index is deleted', async () => {
      const amd = manifest('amd64', { blobs: [blob('amd')] });
      const arm = manifest('arm64', { blobs: [blob('arm')] });
      await push('team/app', amd);
      await push('team/app', arm);
      const index = manifest('index', { children: [amd.digest, arm.digest] });
      await push('team/app', index, 'multi');

      expect(await store.deleteManifest('team/app', amd.digest)).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });
      expect(await store.getManifest('team/app', amd.digest)).not.toBeNull();
      expect(await store.deleteManifest('team/app', index.digest)).toEqual({ ok: true });
      expect(await store.resolveTag('team/app', 'multi')).toBeNull();
      expect(await store.deleteManifest('team/app', amd.digest)).toEqual({ ok: true });
      expect(await store.deleteManifest('team/app', arm.digest)).toEqual({ ok: true });
    });

    test('GIVEN a child used by two indexes WHEN one index is deleted THEN the child is still in use by the other', async () => {
      const child = manifest('child', { blobs: [blob('c')] });
      await push('team/app', child);
      const i1 = manifest('i1', { children: [child.digest] });
      const i2 = manifest('i2', { children: [child.digest] });
      await push('team/app', i1);
      await push('team/app', i2);
      await store.deleteManifest('team/app', i1.digest);
      expect(await store.deleteManifest('team/app', child.digest)).toEqual({ ok: false, reason: 'in-use', by: [i2.digest] });
    });

    test('GIVEN 20 concurrent puts of different manifests with the same tag WHEN they finish THEN exactly one consistent winner holds the tag', async () => {
      await store.linkBlob('team/race', blob('c'), { size: 1 });
      const contenders = Array.from({ length: 20 }, (_, i) => manifest(`contender-${i}`, { blobs: [blob('c')] }));
      const results = await Promise.all(contenders.map((m) => store.putManifest('team/race', m, 'latest')));
      for (const r of results) expect(r).toEqual({ ok: true });

      const winner = await store.resolveTag('team/race', 'latest');
      expect(contenders.map((m) => m.digest)).toContain(winner);
      expect((await store.getTaggedManifest('team/race', 'latest'))?.digest).toBe(winner);
      expect((await store.getManifest('team/race', winner!))?.digest).toBe(winner);
      expect(await store.listTags('team/race', { limit: 100 })).toEqual({ items: ['latest'], more: false });
      // Only the winner owns the tag: deleting every loser leaves it, deleting the winner removes it.
      for (const m of contenders) if (m.digest !== winner) expect(await store.deleteManifest('team/race', m.digest)).toEqual({ ok: true });
      expect(await store.resolveTag('team/race', 'latest')).toBe(winner);
      expect(await store.deleteManifest('team/race', winner!)).toEqual({ ok: true });
      expect(await store.resolveTag('team/race', 'latest')).toBeNull();
    });

    test('GIVEN an immutable tag WHEN it is set, re-pushed with the same manifest, and pushed with another THEN the first two succeed and the third is refused naming the holder, writing nothing', async () => {
      await store.linkBlob('team/frozen', blob('f'), { size: 1 });
      const first = manifest('frozen-1', { blobs: [blob('f')] });
      const second = manifest('frozen-2', { blobs: [blob('f')] });
      expect(await store.putManifest('team/frozen', first, 'v1', { immutableTag: true })).toEqual({ ok: true });
      expect(await store.putManifest('team/frozen', first, 'v1', { immutableTag: true })).toEqual({ ok: true });
      expect(await store.putManifest('team/frozen', second, 'v1', { immutableTag: true })).toEqual({ ok: false, tagHeldBy: first.digest });
      expect(await store.getManifest('team/frozen', second.digest)).toBeNull();
      expect(await store.resolveTag('team/frozen', 'v1')).toBe(first.digest);
      // A mutable put may still move it: immutability is the caller's per-push decision.
      expect(await store.putManifest('team/frozen', second, 'v1')).toEqual({ ok: true });
      expect(await store.resolveTag('team/frozen', 'v1')).toBe(second.digest);
    });

    test('GIVEN 20 concurrent pushes of different manifests to one immutable tag WHEN they finish THEN exactly one wins and every other is refused naming it', async () => {
      await store.linkBlob('team/frozen-race', blob('c'), { size: 1 });
      const contenders = Array.from({ length: 20 }, (_, i) => manifest(`frozen-contender-${i}`, { blobs: [blob('c')] }));
      const results = await Promise.all(contenders.map((m) => store.putManifest('team/frozen-race', m, 'release', { immutableTag: true })));
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const winner = contenders[results.findIndex((r) => r.ok)].digest;
      for (const r of results) if (!r.ok) expect(r).toEqual({ ok: false, tagHeldBy: winner });
      expect(await store.resolveTag('team/frozen-race', 'release')).toBe(winner);
      for (const m of contenders) if (m.digest !== winner) expect(await store.getManifest('team/frozen-race', m.digest)).toBeNull();
    });

    test('GIVEN a put racing a delete of the blob it needs WHEN both finish THEN either the manifest stands with its blob or it was refused', async () => {
      for (let i = 0; i < 10; i++) {
        const repo = `team/race-${i}`;
        await store.linkBlob(repo, blob('c'), { size: 1 });
        const m = manifest(`racer-${i}`, { blobs: [blob('c')] });
        const [put, unlink] = await Promise.all([store.putManifest(repo, m, 'v'), store.unlinkBlob(repo, blob('c'))]);
        if (put.ok) {
          expect(unlink).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });
          expect(await store.statBlobLink(repo, blob('c'))).not.toBeNull();
        } else {
          expect(unlink).toEqual({ ok: true });
          expect(await store.getManifest(repo, m.digest)).toBeNull();
          expect(await store.resolveTag(repo, 'v')).toBeNull();
        }
      }
    });
  });
}

export function describeRecordedPulls(current: () => OpenedMetadataStore): void {
  describe('recorded pulls (lastPulledAt)', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push } = storeHelpers(() => store);

    const HOUR = 60 * 60 * 1000;
    const at = (ms: number) => new Date(Date.parse('2024-06-01T00:00:00.000Z') + ms).toISOString();

    test('GIVEN a manifest WHEN pulls are recorded within the hour THEN only the first writes, and the time shows on the record and the listing', async () => {
      const m = manifest('pulled', { blobs: [blob('p')] });
      await push('team/app', m, 'v1');
      expect((await store.getManifest('team/app', m.digest))?.lastPulledAt).toBeUndefined();
      expect(await store.recordImagePull('team/app', m.digest, at(0), at(-HOUR))).toBe(true);
      expect(await store.recordImagePull('team/app', m.digest, at(10 * 60 * 1000), at(10 * 60 * 1000 - HOUR))).toBe(false);
      expect((await store.getManifest('team/app', m.digest))?.lastPulledAt).toBe(at(0));
      expect((await store.listManifests('team/app', { limit: 10 })).items[0].lastPulledAt).toBe(at(0));
      // An hour later it moves.
      expect(await store.recordImagePull('team/app', m.digest, at(HOUR + 1), at(1))).toBe(true);
      expect((await store.getManifest('team/app', m.digest))?.lastPulledAt).toBe(at(HOUR + 1));
      // Re-pushing the manifest (with another tag) keeps it.
      expect(await store.putManifest('team/app', m, 'v2')).toEqual({ ok: true });
      expect((await store.getManifest('team/app', m.digest))?.lastPulledAt).toBe(at(HOUR + 1));
    });

    test('GIVEN no such manifest WHEN a pull is recorded THEN nothing is written', async () => {
      expect(await store.recordImagePull('team/app', sha256('nothing'), at(0), at(-HOUR))).toBe(false);
      expect(await store.getRepository('team/app')).toBeNull();
      const m = manifest('gone');
      await push('team/app', m);
      expect((await store.deleteManifest('team/app', m.digest)).ok).toBe(true);
      expect(await store.recordImagePull('team/app', m.digest, at(0), at(-HOUR))).toBe(false);
      expect(await store.getManifest('team/app', m.digest)).toBeNull();
    });
  });
}
