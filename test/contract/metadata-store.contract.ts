/**
 * The MetadataStore contract: one suite, run against every adapter (LMDB now, DynamoDB
 * next), in the manner of distribution/distribution's shared storage-driver test suite.
 *
 * It speaks only through the port. `open` gives a fresh, empty store; `reopen` (when the
 * adapter has durable state) closes the current instance and gives a new one over the same
 * data, as after a restart; `cleanup` releases whatever is open.
 */
import { createHash, randomUUID } from 'node:crypto';
import { DEFAULT_REPOSITORY_SETTINGS, type MetadataStore, type ReferrerRecord, type RepositoryCreationTemplate, type RepositorySettings, type StoredManifest, type UploadState } from '../../lambdas/storage/ports';

export interface OpenedMetadataStore {
  store: MetadataStore;
  reopen?: () => Promise<MetadataStore>;
  cleanup: () => Promise<void>;
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const sha512 = (text: string) => `sha512:${createHash('sha512').update(text).digest('hex')}`;
/** A blob digest (the metadata store never sees the bytes, only their name). */
const blob = (seed: string) => sha256(`blob ${seed}`);

const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

interface ManifestSpec {
  blobs?: string[];
  children?: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  mediaType?: string;
}

/** A manifest record whose body and digest agree, as the registry would store it. */
function manifest(seed: string, spec: ManifestSpec = {}): StoredManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, ...spec }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: spec.mediaType ?? (spec.children ? INDEX : IMAGE),
    size: body.length,
    blobs: spec.blobs ?? [],
    children: spec.children ?? [],
    pushedAt: '2024-05-01T12:00:00.000Z',
    ...(spec.subject !== undefined ? { subject: spec.subject } : {}),
    ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
    body,
  };
}

/** Byte order, as the port promises for lists (not the locale order of `Array.prototype.sort` with a collator). */
const byteOrder = (values: string[]) => [...values].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

function shuffled<T>(values: T[], seed = 7): T[] {
  const out = [...values];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function describeMetadataStoreContract(adapterName: string, open: () => Promise<OpenedMetadataStore>): void {
  describe(`MetadataStore contract: ${adapterName}`, () => {
    let opened: OpenedMetadataStore;
    let store: MetadataStore;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.cleanup();
    });

    /** Every referrer of `subject`, following the port's pages. */
    async function allReferrers(repo: string, subject: string): Promise<ReferrerRecord[]> {
      const out: ReferrerRecord[] = [];
      for (let page = await store.listReferrers(repo, subject, { limit: 1000 }); ; ) {
        out.push(...page.items);
        if (!page.more) return out;
        page = await store.listReferrers(repo, subject, { last: out[out.length - 1].digest, limit: 1000 });
      }
    }

    /** Links every blob of `m` into `repo`, then stores `m`, failing the test if the store refuses. */
    async function push(repo: string, m: StoredManifest, tag?: string): Promise<void> {
      for (const b of m.blobs) await store.linkBlob(repo, b, { size: 10 });
      expect(await store.putManifest(repo, m, tag)).toEqual({ ok: true });
    }

    describe('repositories and blob links', () => {
      test('GIVEN an empty store WHEN repositories are looked up and listed THEN there are none', async () => {
        expect(await store.getRepository('library/alpine')).toBeNull();
        expect(await store.listRepositories({ limit: 100 })).toEqual({ items: [], more: false });
      });

      test('GIVEN no repository WHEN a blob is linked THEN the repository exists, with its name and creation time', async () => {
        const before = Date.now();
        await store.linkBlob('team/app', blob('a'), { size: 42 });
        const repo = await store.getRepository('team/app');
        expect(repo?.name).toBe('team/app');
        expect(Date.parse(repo!.createdAt)).toBeGreaterThanOrEqual(before - 1000);
        expect(Date.parse(repo!.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
      });

      test('GIVEN a repository WHEN more blobs are linked THEN its creation time does not change', async () => {
        await store.linkBlob('team/app', blob('a'), { size: 1 });
        const first = await store.getRepository('team/app');
        await new Promise((r) => setTimeout(r, 5));
        await store.linkBlob('team/app', blob('b'), { size: 1 });
        expect(await store.getRepository('team/app')).toEqual(first);
      });

      test('GIVEN a linked blob WHEN its link is statted THEN the size comes back in that repository only', async () => {
        await store.linkBlob('team/app', blob('a'), { size: 42 });
        expect(await store.statBlobLink('team/app', blob('a'))).toEqual({ size: 42 });
        expect(await store.statBlobLink('team/other', blob('a'))).toBeNull();
        expect(await store.statBlobLink('team/app', blob('b'))).toBeNull();
        expect(await store.statBlobLink('team/app', sha512('a'))).toBeNull();
      });

      test('GIVEN a blob linked in several repositories WHEN asked which repositories have it THEN all are named, at most `limit`', async () => {
        const repos = ['z/last', 'a/first', 'm/middle', 'a/first-b'];
        for (const r of repos) await store.linkBlob(r, blob('shared'), { size: 5 });
        await store.linkBlob('other', blob('unshared'), { size: 5 });
        expect(byteOrder(await store.repositoriesWithBlob(blob('shared'), 100))).toEqual(byteOrder(repos));
        const two = await store.repositoriesWithBlob(blob('shared'), 2);
        expect(two).toHaveLength(2);
        for (const r of two) expect(repos).toContain(r);
        expect(await store.repositoriesWithBlob(blob('nowhere'), 10)).toEqual([]);
      });

      test('GIVEN a linked blob no manifest uses WHEN unlinked THEN the link is gone from the repository and from the reverse lookup', async () => {
        await store.linkBlob('team/app', blob('a'), { size: 1 });
        await store.linkBlob('team/two', blob('a'), { size: 1 });
        expect(await store.unlinkBlob('team/app', blob('a'))).toEqual({ ok: true });
        expect(await store.statBlobLink('team/app', blob('a'))).toBeNull();
        expect(await store.statBlobLink('team/two', blob('a'))).toEqual({ size: 1 });
        expect(await store.repositoriesWithBlob(blob('a'), 10)).toEqual(['team/two']);
      });

      test('GIVEN a blob not linked WHEN unlinked THEN the answer is unknown', async () => {
        await store.linkBlob('team/app', blob('a'), { size: 1 });
        expect(await store.unlinkBlob('team/app', blob('b'))).toEqual({ ok: false, reason: 'unknown', by: [] });
        expect(await store.unlinkBlob('team/none', blob('a'))).toEqual({ ok: false, reason: 'unknown', by: [] });
      });

      test('GIVEN a blob a manifest uses WHEN unlinked THEN it is refused as in-use, naming the manifest, and the link stays', async () => {
        const m = manifest('uses-a', { blobs: [blob('config'), blob('a')] });
        await push('team/app', m);
        const result = await store.unlinkBlob('team/app', blob('a'));
        expect(result).toEqual({ ok: false, reason: 'in-use', by: [m.digest] });
        expect(await store.statBlobLink('team/app', blob('a'))).toEqual({ size: 10 });
      });

      test('GIVEN a blob used by a manifest in another repository only WHEN unlinked here THEN it succeeds', async () => {
        await push('team/other', manifest('elsewhere', { blobs: [blob('a')] }));
        await store.linkBlob('team/app', blob('a'), { size: 10 });
        expect(await store.unlinkBlob('team/app', blob('a'))).toEqual({ ok: true });
        expect(await store.statBlobLink('team/other', blob('a'))).toEqual({ size: 10 });
      });

      test('GIVEN 20 concurrent first links into one new repository WHEN they finish THEN the repository is listed once', async () => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.linkBlob('team/burst', blob(`burst-${i}`), { size: i })));
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/burst'], more: false });
        for (let i = 0; i < 20; i++) expect(await store.statBlobLink('team/burst', blob(`burst-${i}`))).toEqual({ size: i });
      });
    });

    describe('manifests', () => {
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

      test('GIVEN onlyIfTags and an index using the manifest WHEN deleted THEN in-use comes first and nothing changes', async () => {
        const child = manifest('only-if-child', { blobs: [blob('c')] });
        await push('team/app', child, 'c1');
        await push('team/app', manifest('only-if-index', { children: [child.digest] }), 'idx');
        expect(await store.deleteManifest('team/app', child.digest, { onlyIfTags: ['c1'] })).toMatchObject({ ok: false, reason: 'in-use' });
        expect(await store.resolveTag('team/app', 'c1')).toBe(child.digest);
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

    describe('referrers', () => {
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

    describe('listing order and paging', () => {
      // Byte order puts '-' < '.' < '/' < digits < uppercase < '_' < lowercase.
      const names = ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a0', 'a__b', 'a_b', 'ab', 'b', 'z9', 'zz/top'];
      const tags = ['1.0', '1.0.1', 'A', 'Latest', '_hidden', 'latest', 'v1', 'v1-rc', 'v10', 'v2', 'z'.repeat(128)];

      test('GIVEN repositories created in random order WHEN listed THEN they come back in byte order', async () => {
        for (const name of shuffled(names)) await store.linkBlob(name, blob('c'), { size: 1 });
        expect(await store.listRepositories({ limit: 1000 })).toEqual({ items: byteOrder(names), more: false });
      });

      test('GIVEN tags pushed in random order WHEN listed THEN they come back in byte order, only this repository’s', async () => {
        await push('a', manifest('m', { blobs: [blob('c')] }), 'not-mine');
        await push('a-b', manifest('m', { blobs: [blob('c')] }), 'not-mine-either');
        const m = manifest('m', { blobs: [blob('c')] });
        for (const tag of shuffled(tags)) await push('a/b', m, tag);
        expect(await store.listTags('a/b', { limit: 1000 })).toEqual({ items: byteOrder(tags), more: false });
        expect(await store.listTags('a/b/c', { limit: 1000 })).toEqual({ items: [], more: false });
      });

      test('GIVEN repositories WHEN paged with limit and last THEN pages join up to the whole list, `last` exclusive, `more` exact', async () => {
        for (const name of shuffled(names)) await store.linkBlob(name, blob('c'), { size: 1 });
        const sorted = byteOrder(names);
        for (const limit of [1, 2, 5, sorted.length - 1, sorted.length, sorted.length + 1]) {
          const seen: string[] = [];
          let last: string | undefined;
          for (;;) {
            const page = await store.listRepositories({ limit, ...(last !== undefined ? { last } : {}) });
            expect(page.items.length).toBeLessThanOrEqual(limit);
            seen.push(...page.items);
            expect(page.more).toBe(seen.length < sorted.length);
            if (!page.more) break;
            last = page.items[page.items.length - 1];
          }
          expect(seen).toEqual(sorted);
        }
      });

      test('GIVEN tags WHEN paged THEN pages join up to the whole list and `more` is false on an exactly full last page', async () => {
        const m = manifest('m', { blobs: [blob('c')] });
        for (const tag of shuffled(tags)) await push('team/app', m, tag);
        const sorted = byteOrder(tags);
        const first = await store.listTags('team/app', { limit: 4 });
        expect(first).toEqual({ items: sorted.slice(0, 4), more: true });
        const rest = await store.listTags('team/app', { limit: sorted.length - 4, last: sorted[3] });
        expect(rest).toEqual({ items: sorted.slice(4), more: false });
      });

      test.each([
        ['a stored name', 'a.b', (s: string[]) => s.slice(s.indexOf('a.b') + 1)],
        ['a value between two names', 'a/a', (s: string[]) => s.slice(s.indexOf('a/b'))],
        ['a value before every name', '0', (s: string[]) => s],
        ['the empty string', '', (s: string[]) => s],
        ['the last name', 'zz/top', () => []],
        ['a value after every name', 'zzz', () => []],
        ['a value with characters no name may hold', 'a\u00e9\u{1F600}', (s: string[]) => s.slice(s.indexOf('b'))],
        ['a value longer than any key', 'a/b'.padEnd(20_000, 'x'), (s: string[]) => s.slice(s.indexOf('a0'))],
      ])('GIVEN repositories WHEN listed after %s THEN only the names after it come back', async (_what, last, expected) => {
        for (const name of names) await store.linkBlob(name, blob('c'), { size: 1 });
        expect(await store.listRepositories({ limit: 1000, last })).toEqual({ items: expected(byteOrder(names)), more: false });
      });

      test('GIVEN tags WHEN listed after a value between tags or longer than any key THEN only the tags after it come back', async () => {
        const m = manifest('m', { blobs: [blob('c')] });
        for (const tag of tags) await push('team/app', m, tag);
        const sorted = byteOrder(tags);
        expect((await store.listTags('team/app', { limit: 100, last: 'v1-a' })).items).toEqual(sorted.slice(sorted.indexOf('v1-rc')));
        expect((await store.listTags('team/app', { limit: 100, last: 'v1'.padEnd(20_000, '0') })).items).toEqual(sorted.slice(sorted.indexOf('v2')));
        expect(await store.listTags('team/none', { limit: 100 })).toEqual({ items: [], more: false });
      });
    });

    describe('uploads', () => {
      const state = (over: Partial<UploadState> = {}): UploadState => ({
        id: randomUUID(),
        repository: 'team/app',
        offset: 0,
        startedAt: '2024-05-01T12:00:00.000Z',
        ...over,
      });

      test('GIVEN a created upload WHEN read back THEN every field is as created', async () => {
        const s = state({ hashState: 'opaque-state' });
        await store.createUpload(s);
        expect(await store.getUpload(s.id)).toEqual(s);
      });

      test('GIVEN an upload WHEN it is created THEN no repository is created with it', async () => {
        await store.createUpload(state({ repository: 'team/not-yet' }));
        expect(await store.getRepository('team/not-yet')).toBeNull();
        expect((await store.listRepositories({ limit: 10 })).items).toEqual([]);
      });

      test('GIVEN an unknown or absurdly long id WHEN an upload is read, advanced or deleted THEN it is absent, refused, and a no-op', async () => {
        for (const id of [randomUUID(), 'x'.repeat(20_000)]) {
          expect(await store.getUpload(id)).toBeNull();
          expect(await store.advanceUpload(id, 0, { offset: 10 })).toBe(false);
          await store.deleteUpload(id);
        }
      });

      test('GIVEN an upload at offset N WHEN advanced from N THEN it moves, keeping its other fields', async () => {
        const s = state();
        await store.createUpload(s);
        expect(await store.advanceUpload(s.id, 0, { offset: 100, hashState: 'h1' })).toBe(true);
        expect(await store.getUpload(s.id)).toEqual({ ...s, offset: 100, hashState: 'h1' });
        expect(await store.advanceUpload(s.id, 100, { offset: 250 })).toBe(true);
        expect((await store.getUpload(s.id))?.offset).toBe(250);
      });

      test('GIVEN an upload at offset N WHEN advanced from any other offset THEN it is refused and unchanged', async () => {
        const s = state({ offset: 100 });
        await store.createUpload(s);
        expect(await store.advanceUpload(s.id, 0, { offset: 50 })).toBe(false);
        expect(await store.advanceUpload(s.id, 101, { offset: 200 })).toBe(false);
        expect(await store.getUpload(s.id)).toEqual(s);
      });

      test('GIVEN 20 concurrent advances from the same offset WHEN they finish THEN exactly one succeeded', async () => {
        const s = state();
        await store.createUpload(s);
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.advanceUpload(s.id, 0, { offset: i + 1 })));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.getUpload(s.id))?.offset).toBe(results.indexOf(true) + 1);
      });

      test('GIVEN an upload WHEN deleted (twice) THEN it is gone and other uploads stay', async () => {
        const [a, b] = [state(), state()];
        await store.createUpload(a);
        await store.createUpload(b);
        await store.deleteUpload(a.id);
        await store.deleteUpload(a.id);
        expect(await store.getUpload(a.id)).toBeNull();
        expect(await store.getUpload(b.id)).toEqual(b);
        expect(await store.advanceUpload(a.id, 0, { offset: 1 })).toBe(false);
      });

      test('GIVEN uploads started at different times WHEN the ones started before a moment are listed THEN exactly those come back, up to the limit', async () => {
        const old = [state({ startedAt: '2024-05-01T00:00:00.000Z' }), state({ startedAt: '2024-05-01T10:59:59.999Z' }), state({ startedAt: '2024-04-30T23:00:00.000Z' })];
        const recent = [state({ startedAt: '2024-05-01T11:00:00.000Z' }), state({ startedAt: '2024-05-02T00:00:00.000Z' })];
        for (const s of shuffled([...old, ...recent])) await store.createUpload(s);
        const listed = await store.listUploadsStartedBefore('2024-05-01T11:00:00.000Z', 10);
        expect(listed.map((u) => u.id).sort()).toEqual(old.map((u) => u.id).sort());
        expect(listed.find((u) => u.id === old[0].id)).toEqual(old[0]);
        expect(await store.listUploadsStartedBefore('2024-05-01T11:00:00.000Z', 2)).toHaveLength(2);
        expect(await store.listUploadsStartedBefore('2024-01-01T00:00:00.000Z', 10)).toEqual([]);
      });
    });

    describe('repository settings and explicit repositories', () => {
      const settings: RepositorySettings = {
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest*' }],
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:us-east-1:111122223333:key/abc' },
        tags: [
          { Key: 'team', Value: 'payments' },
          { Key: 'env', Value: '' },
        ],
      };

      test('GIVEN no repository WHEN created with settings THEN it exists, is listed, and its settings read back with its creation time', async () => {
        const before = Date.now();
        const created = await store.createRepository('team/app', settings);
        expect(created).toEqual({ ...settings, createdAt: expect.any(String) });
        expect(Date.parse(created!.createdAt)).toBeGreaterThanOrEqual(before - 1000);
        expect(await store.getRepository('team/app')).toEqual({ name: 'team/app', createdAt: created!.createdAt });
        expect(await store.getRepositorySettings('team/app')).toEqual(created);
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
      });

      test('GIVEN a repository (explicit or created by a push) WHEN created again THEN null, and nothing changes', async () => {
        const first = await store.createRepository('team/app', settings);
        expect(await store.createRepository('team/app', DEFAULT_REPOSITORY_SETTINGS)).toBeNull();
        expect(await store.getRepositorySettings('team/app')).toEqual(first);
        await store.linkBlob('team/pushed', blob('a'), { size: 1 });
        expect(await store.createRepository('team/pushed', settings)).toBeNull();
        expect((await store.getRepositorySettings('team/pushed'))?.imageTagMutability).toBe('MUTABLE');
      });

      test('GIVEN 10 concurrent creations of one repository WHEN they finish THEN exactly one succeeded', async () => {
        const results = await Promise.all(Array.from({ length: 10 }, () => store.createRepository('team/race', settings)));
        expect(results.filter((r) => r !== null)).toHaveLength(1);
      });

      test('GIVEN a repository created by a push WHEN its settings are read THEN they are the defaults, with the repository creation time', async () => {
        await store.linkBlob('team/app', blob('a'), { size: 1 });
        const repo = await store.getRepository('team/app');
        expect(await store.getRepositorySettings('team/app')).toEqual({ ...DEFAULT_REPOSITORY_SETTINGS, createdAt: repo!.createdAt });
      });

      test('GIVEN no repository WHEN settings are read or updated THEN null, and no repository is created', async () => {
        expect(await store.getRepositorySettings('team/none')).toBeNull();
        expect(await store.updateRepositorySettings('team/none', (s) => ({ ...s, imageTagMutability: 'IMMUTABLE' }))).toBeNull();
        expect(await store.getRepository('team/none')).toBeNull();
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });

      test('GIVEN a repository WHEN its settings are updated THEN the new ones read back, also after a reopen, and other repositories are untouched', async () => {
        await store.createRepository('team/app', settings);
        await store.linkBlob('team/other', blob('a'), { size: 1 });
        const updated = await store.updateRepositorySettings('team/app', (s) => ({ ...s, imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [] }));
        expect(updated).toMatchObject({ imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [], tags: settings.tags });
        const pushed = await store.updateRepositorySettings('team/other', (s) => ({ ...s, imageScanningConfiguration: { scanOnPush: true } }));
        expect(pushed?.imageScanningConfiguration).toEqual({ scanOnPush: true });
        if (opened.reopen) store = await opened.reopen();
        expect(await store.getRepositorySettings('team/app')).toEqual(updated);
        expect(await store.getRepositorySettings('team/other')).toEqual(pushed);
      });

      test('GIVEN 10 concurrent updates each adding one tag WHEN they finish THEN no tag is lost', async () => {
        await store.createRepository('team/app', { ...settings, tags: [] });
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.updateRepositorySettings('team/app', (s) => ({ ...s, tags: [...s.tags, { Key: `k${i}`, Value: String(i) }] }))),
        );
        const tags = (await store.getRepositorySettings('team/app'))!.tags.map((t) => t.Key).sort();
        expect(tags).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
      });
    });

    describe('deleting repositories', () => {
      async function fill(repo: string): Promise<{ image: StoredManifest; sig: StoredManifest; index: StoredManifest }> {
        const image = manifest(`image ${repo}`, { blobs: [blob('c'), blob('l')] });
        const sig = manifest(`sig ${repo}`, { blobs: [blob('e')], subject: image.digest, artifactType: 'application/vnd.example.sig' });
        const index = manifest(`index ${repo}`, { children: [image.digest] });
        await push(repo, image, 'v1');
        await push(repo, sig);
        await push(repo, index, 'multi');
        await store.linkBlob(repo, blob('loose'), { size: 3 });
        await store.setRepositoryPolicy(repo, '{"Version":"2012-10-17","Statement":[]}');
        await store.updateRepositorySettings(repo, (s) => ({ ...s, imageTagMutability: 'IMMUTABLE' }));
        return { image, sig, index };
      }

      test('GIVEN no repository WHEN deleted THEN unknown', async () => {
        expect(await store.deleteRepository('team/none', false)).toEqual({ ok: false, reason: 'unknown' });
        expect(await store.deleteRepository('team/none', true)).toEqual({ ok: false, reason: 'unknown' });
      });

      test('GIVEN a repository holding images WHEN deleted without force THEN not-empty, and everything stays', async () => {
        const { image } = await fill('team/app');
        expect(await store.deleteRepository('team/app', false)).toEqual({ ok: false, reason: 'not-empty' });
        expect(await store.resolveTag('team/app', 'v1')).toBe(image.digest);
        expect(await store.statBlobLink('team/app', blob('loose'))).toEqual({ size: 3 });
        expect(await store.getRepositoryPolicy('team/app')).not.toBeNull();
      });

      test('GIVEN a repository with blob links, policy and settings but no manifest WHEN deleted without force THEN it is gone with all of them', async () => {
        await store.createRepository('team/app', { ...DEFAULT_REPOSITORY_SETTINGS, imageTagMutability: 'IMMUTABLE' });
        await store.linkBlob('team/app', blob('a'), { size: 1 });
        await store.setRepositoryPolicy('team/app', '{}');
        expect(await store.deleteRepository('team/app', false)).toEqual({ ok: true });
        expect(await store.getRepository('team/app')).toBeNull();
        expect(await store.statBlobLink('team/app', blob('a'))).toBeNull();
        expect(await store.repositoriesWithBlob(blob('a'), 10)).toEqual([]);
        expect(await store.getRepositoryPolicy('team/app')).toBeNull();
      });

      test('GIVEN a repository with an index, images, a referrer, tags, links, policy and settings WHEN force-deleted THEN all of it is gone and its neighbours are untouched', async () => {
        const { image, index } = await fill('team/app');
        const neighbours = ['team', 'team/app-b', 'team/app/sub'];
        for (const n of neighbours) await fill(n);

        expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });

        expect(await store.getRepository('team/app')).toBeNull();
        expect(await store.getRepositorySettings('team/app')).toBeNull();
        expect(await store.getRepositoryPolicy('team/app')).toBeNull();
        expect(await store.resolveTag('team/app', 'v1')).toBeNull();
        expect(await store.getTaggedManifest('team/app', 'multi')).toBeNull();
        expect(await store.getManifest('team/app', image.digest)).toBeNull();
        expect(await store.getManifest('team/app', index.digest)).toBeNull();
        expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });
        expect(await allReferrers('team/app', image.digest)).toEqual([]);
        expect(await store.statBlobLink('team/app', blob('l'))).toBeNull();
        expect(await store.listManifests('team/app', { limit: 10 })).toEqual({ items: [], more: false });
        expect((await store.repositoriesWithBlob(blob('l'), 10)).sort()).toEqual(byteOrder(neighbours));
        expect((await store.listRepositories({ limit: 10 })).items).toEqual(byteOrder(neighbours));
        for (const n of neighbours) {
          expect((await store.listManifests(n, { limit: 10 })).items).toHaveLength(3);
          expect((await store.getRepositorySettings(n))?.imageTagMutability).toBe('IMMUTABLE');
          expect(await store.getRepositoryPolicy(n)).not.toBeNull();
        }
      });

      test('GIVEN a force-deleted repository WHEN the name is pushed to or created again THEN it starts empty, with default settings', async () => {
        const { image } = await fill('team/app');
        await store.deleteRepository('team/app', true);
        await push('team/app', image);
        expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });
        expect((await store.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
        expect(await store.getRepositoryPolicy('team/app')).toBeNull();
        expect(await store.statBlobLink('team/app', blob('loose'))).toBeNull();
        await store.deleteRepository('team/app', true);
        expect(await store.createRepository('team/app', DEFAULT_REPOSITORY_SETTINGS)).not.toBeNull();
      });
    });

    describe('images (listManifests)', () => {
      test('GIVEN manifests, tagged and not WHEN listed THEN records without bodies come back in digest order, each with its tags', async () => {
        const ms = Array.from({ length: 5 }, (_, i) => manifest(`m${i}`, { blobs: [blob(`b${i}`)], artifactType: i === 0 ? 'application/vnd.example' : undefined }));
        for (const [i, m] of ms.entries()) await push('team/app', m, i < 3 ? `t${i}` : undefined);
        expect(await store.putManifest('team/app', ms[0], 'also')).toEqual({ ok: true });
        const index = manifest('idx', { children: [ms[1].digest, ms[2].digest] });
        await push('team/app', index);
        await push('team/other', manifest('elsewhere'), 'x');

        const page = await store.listManifests('team/app', { limit: 100 });
        expect(page.more).toBe(false);
        const all = [...ms, index];
        expect(page.items.map((i) => i.digest)).toEqual(byteOrder(all.map((m) => m.digest)));
        for (const item of page.items) {
          const m = all.find((x) => x.digest === item.digest)!;
          const { body: _body, ...record } = m;
          expect(item).toEqual({ ...record, tags: m === ms[0] ? ['also', 't0'] : m === ms[1] ? ['t1'] : m === ms[2] ? ['t2'] : [] });
          expect('body' in item).toBe(false);
        }
        expect(await store.getManifestTags('team/app', ms[0].digest)).toEqual(['also', 't0']);
        expect(await store.getManifestTags('team/app', ms[4].digest)).toEqual([]);
        expect(await store.listManifests('team/none', { limit: 10 })).toEqual({ items: [], more: false });
      });

      test('GIVEN manifests WHEN paged by digest THEN pages join up to the whole list, `last` exclusive, `more` exact', async () => {
        const ms = Array.from({ length: 7 }, (_, i) => manifest(`p${i}`));
        for (const [i, m] of ms.entries()) await push('team/app', m, `v${i}`);
        const seen: string[] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.listManifests('team/app', { limit: 3, last });
          seen.push(...page.items.map((i) => i.digest));
          for (const item of page.items) expect(item.tags).toEqual([`v${ms.findIndex((m) => m.digest === item.digest)}`]);
          if (!page.more) break;
          last = page.items[page.items.length - 1].digest;
        }
        expect(seen).toEqual(byteOrder(ms.map((m) => m.digest)));
        const sorted = byteOrder(ms.map((m) => m.digest));
        expect((await store.listManifests('team/app', { limit: 1, last: sorted[5] })).items.map((i) => i.digest)).toEqual([sorted[6]]);
        expect(await store.listManifests('team/app', { limit: 1, last: sorted[6] })).toEqual({ items: [], more: false });
        expect((await store.listManifests('team/app', { limit: 6 })).more).toBe(true);
        expect((await store.listManifests('team/app', { limit: 7 })).more).toBe(false);
      });
    });

    describe('recorded pulls (lastPulledAt)', () => {
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

    describe('registry settings and repository creation templates', () => {
      const template = (prefix: string, extra: Partial<RepositoryCreationTemplate> = {}): RepositoryCreationTemplate => ({
        prefix,
        appliedFor: ['CREATE_ON_PUSH'],
        imageTagMutability: 'IMMUTABLE',
        imageTagMutabilityExclusionFilters: [],
        encryptionConfiguration: { encryptionType: 'AES256' },
        resourceTags: [{ Key: 'team', Value: prefix }],
        ...extra,
      });

      test('GIVEN an empty store WHEN the registry settings are read THEN create-on-push is on; a change is kept', async () => {
        expect(await store.getRegistrySettings()).toEqual({ createOnPush: true });
        await store.setRegistrySettings({ createOnPush: false });
        expect(await store.getRegistrySettings()).toEqual({ createOnPush: false });
        await store.setRegistrySettings({ createOnPush: true });
        expect(await store.getRegistrySettings()).toEqual({ createOnPush: true });
      });

      test('GIVEN templates WHEN created, listed, updated and deleted THEN each prefix exists once, in byte order, with its times', async () => {
        const created = await store.createRepositoryCreationTemplate(template('team-b/', { repositoryPolicy: '{"Version":"2012-10-17","Statement":[]}' }));
        expect(created).toMatchObject({ prefix: 'team-b/', imageTagMutability: 'IMMUTABLE' });
        expect(Date.parse(created!.createdAt)).not.toBeNaN();
        expect(created!.updatedAt).toBe(created!.createdAt);
        expect(await store.createRepositoryCreationTemplate(template('team-b/'))).toBeNull();
        await store.createRepositoryCreationTemplate(template('ROOT'));
        await store.createRepositoryCreationTemplate(template('team-a/'));
        expect((await store.listRepositoryCreationTemplates()).map((t) => t.prefix)).toEqual(['ROOT', 'team-a/', 'team-b/']);

        const updated = await store.updateRepositoryCreationTemplate('team-a/', (t) => ({ ...t, imageTagMutability: 'MUTABLE', description: 'changed' }));
        expect(updated).toMatchObject({ prefix: 'team-a/', imageTagMutability: 'MUTABLE', description: 'changed', resourceTags: [{ Key: 'team', Value: 'team-a/' }] });
        expect(updated!.createdAt).toBe((await store.listRepositoryCreationTemplates()).find((t) => t.prefix === 'team-a/')!.createdAt);
        expect(await store.updateRepositoryCreationTemplate('nope/', (t) => t)).toBeNull();

        const deleted = await store.deleteRepositoryCreationTemplate('team-b/');
        expect(deleted).toMatchObject({ prefix: 'team-b/', repositoryPolicy: '{"Version":"2012-10-17","Statement":[]}' });
        expect(await store.deleteRepositoryCreationTemplate('team-b/')).toBeNull();
        expect((await store.listRepositoryCreationTemplates()).map((t) => t.prefix)).toEqual(['ROOT', 'team-a/']);
        // Templates are not repositories.
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: [], more: false });
      });

      test('GIVEN a template WHEN updated concurrently THEN no update is lost', async () => {
        await store.createRepositoryCreationTemplate(template('team/', { resourceTags: [] }));
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.updateRepositoryCreationTemplate('team/', (t) => ({ ...t, resourceTags: [...t.resourceTags, { Key: `k${i}`, Value: 'v' }] })),
          ),
        );
        const [stored] = await store.listRepositoryCreationTemplates();
        expect(stored.resourceTags.map((t) => t.Key).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `k${i}`).sort());
      });
    });

    describe('durability', () => {
      test('GIVEN repositories, links, manifests, tags, referrers and uploads WHEN the store is reopened THEN all of them read back', async () => {
        if (!opened.reopen) return;
        const image = manifest('image', { blobs: [blob('c'), blob('l')] });
        const sig = manifest('sig', { blobs: [blob('e')], subject: image.digest, artifactType: 'application/vnd.example.sig' });
        const index = manifest('index', { children: [image.digest] });
        await push('team/app', image, 'v1');
        await push('team/app', sig);
        await push('team/app', index, 'multi');
        const upload: UploadState = { id: randomUUID(), repository: 'team/app', offset: 0, startedAt: '2024-05-01T12:00:00.000Z' };
        await store.createUpload(upload);
        await store.advanceUpload(upload.id, 0, { offset: 77 });
        const repoBefore = await store.getRepository('team/app');

        store = await opened.reopen();

        expect(await store.getRepository('team/app')).toEqual(repoBefore);
        expect(await store.listRepositories({ limit: 10 })).toEqual({ items: ['team/app'], more: false });
        expect(await store.statBlobLink('team/app', blob('l'))).toEqual({ size: 10 });
        expect(await store.repositoriesWithBlob(blob('l'), 10)).toEqual(['team/app']);
        expect(await store.resolveTag('team/app', 'v1')).toBe(image.digest);
        expect(await store.listTags('team/app', { limit: 10 })).toEqual({ items: ['multi', 'v1'], more: false });
        const got = await store.getManifest('team/app', image.digest);
        expect(got?.blobs).toEqual(image.blobs);
        if (image.size <= store.inlineManifestLimit) expect(Buffer.from(got!.body!).equals(image.body!)).toBe(true);
        expect((await allReferrers('team/app', image.digest)).map((r) => r.digest)).toEqual([sig.digest]);
        expect(await store.getUpload(upload.id)).toEqual({ ...upload, offset: 77 });
        // The usage and parent records survived too.
        expect((await store.unlinkBlob('team/app', blob('l'))).ok).toBe(false);
        expect(await store.deleteManifest('team/app', image.digest)).toEqual({ ok: false, reason: 'in-use', by: [index.digest] });
      });
    });
  });
}
