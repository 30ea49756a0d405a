/**
 * The ScanContentStore contract (lambdas/storage/image-management-ports.ts), run against every
 * adapter: local mode's files under `<data-dir>/scans/` (scan-content-local.test.ts) and the bucket
 * of the AWS deployment under `scans/`, on the S3 stand-in (scan-content-aws.test.ts). What it holds
 * them to: content reads back as stored, whole; the same scan's content replaces itself and two scans
 * of an image stay apart; a delete takes the image's content but what it keeps, and nothing of any
 * other image (repository names hold `/`s); names, digests, scan ids and references that could reach
 * outside `scans/` are refused before anything is read or written; both adapters lay the content out
 * the same way; and the deployment's garbage collector never lists nor deletes any of it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeFindings, decodeInventory, encodeScanContent, type FindingsDocument, type InventoryDocument } from '../../lambdas/core/scanning/scan-content';
import type { ScanContentStore } from '../../lambdas/storage/image-management-ports';

export interface ScanContentUnderTest {
  store: ScanContentStore;
  /** Everything stored under `scans/` (temporary files too), as keys relative to the data directory or the registry's key prefix, sorted. */
  files(): Promise<string[]>;
  /** Stores bytes at a key relative to the data directory or the registry's key prefix, outside `scans/`: what a refused reference must not read. */
  plant(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Runs the deployment's garbage collector over the same storage (its data directory, its bucket and
   * prefix), after storing content no image links, old enough to go: answers that content's digest and
   * the digests the collector deleted.
   */
  collectGarbage(): Promise<{ orphan: string; deleted: string[] }>;
}

export interface ScanContentDeployment {
  /** A store on fresh, empty storage. */
  fresh(): Promise<ScanContentUnderTest>;
  cleanup(): Promise<void>;
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const IMAGE = sha256('image');
const OTHER_IMAGE = sha256('other image');
const SHA512_IMAGE = `sha512:${createHash('sha512').update('image').digest('hex')}`;
const STARTED = '2026-01-05T10:00:00.000Z';
const LATER = '2026-01-06T10:00:00.000Z';

const findings = (name: string): FindingsDocument => ({
  format: 1,
  findings: [{ name, severity: 'HIGH', attributes: [{ key: 'package_name', value: 'openssl' }] }],
});
const inventory = (version: string): InventoryDocument => ({
  format: 1,
  ecosystem: 'Debian:12',
  packages: [{ ecosystem: 'Debian:12', name: 'libssl3', version, sourceName: 'openssl', path: 'var/lib/dpkg/status' }],
});
const bytesOf = (text: string) => encodeScanContent(findings(text));
const same = (a: Uint8Array | null, b: Uint8Array) => expect(a === null ? null : Buffer.from(a)).toEqual(Buffer.from(b));
const keyOf = (repository: string, digest: string, file: string) => `scans/${repository}/${digest}/${file}`;

export function describeScanContent(name: string, open: () => Promise<ScanContentDeployment>): void {
  describe(`scan content store: ${name}`, () => {
    let deployment: ScanContentDeployment;
    beforeAll(async () => {
      deployment = await open();
    });
    afterAll(async () => {
      await deployment?.cleanup();
    });

    it('reads back what it stored, whole, and lays it out as scans/<repository>/<digest>/<kind>-<scanId>.json.gz', async () => {
      const { store, files } = await deployment.fresh();
      const found = encodeScanContent(findings('CVE-2024-0727'));
      const installed = encodeScanContent(inventory('3.0.11-1~deb12u2'));
      const findingsRef = await store.putScanContent('team/app', IMAGE, 'findings', STARTED, found);
      const inventoryRef = await store.putScanContent('team/app', IMAGE, 'inventory', STARTED, installed);
      expect(typeof findingsRef).toBe('string');
      expect(findingsRef).not.toBe(inventoryRef);
      same(await store.readScanContent(findingsRef), found);
      same(await store.readScanContent(inventoryRef), installed);
      expect(decodeFindings((await store.readScanContent(findingsRef))!)).toEqual(findings('CVE-2024-0727'));
      expect(decodeInventory((await store.readScanContent(inventoryRef))!)).toEqual(inventory('3.0.11-1~deb12u2'));
      // The layout both adapters share (a data directory copied into a bucket reads the same); no temporary file left.
      expect(await files()).toEqual([keyOf('team/app', IMAGE, `findings-${STARTED}.json.gz`), keyOf('team/app', IMAGE, `inventory-${STARTED}.json.gz`)]);
    });

    it('stores empty content and sha512 images too', async () => {
      const { store } = await deployment.fresh();
      const ref = await store.putScanContent('app', SHA512_IMAGE, 'inventory', '1', new Uint8Array(0));
      same(await store.readScanContent(ref), new Uint8Array(0));
    });

    it('replaces the content of the same scan, and keeps two scans of one image apart', async () => {
      const { store, files } = await deployment.fresh();
      const first = await store.putScanContent('app', IMAGE, 'findings', STARTED, bytesOf('first'));
      const again = await store.putScanContent('app', IMAGE, 'findings', STARTED, bytesOf('first, stored again'));
      expect(again).toBe(first);
      same(await store.readScanContent(first), bytesOf('first, stored again'));
      const later = await store.putScanContent('app', IMAGE, 'findings', LATER, bytesOf('later'));
      const rematch = await store.putScanContent('app', IMAGE, 'findings', '7', bytesOf('rematch, generation 7'));
      expect(new Set([first, later, rematch]).size).toBe(3);
      same(await store.readScanContent(first), bytesOf('first, stored again'));
      same(await store.readScanContent(later), bytesOf('later'));
      same(await store.readScanContent(rematch), bytesOf('rematch, generation 7'));
      expect(await files()).toHaveLength(3);
    });

    it('shows readers the previous content of a scan or the next, whole, while it is replaced', async () => {
      const { store } = await deployment.fresh();
      const versions = [0, 1, 2, 3].map(() => randomBytes(256 * 1024));
      const hash = (bytes: Uint8Array | null) => (bytes === null ? 'absent' : createHash('sha256').update(bytes).digest('hex'));
      const ref = await store.putScanContent('app', IMAGE, 'inventory', STARTED, versions[0]);
      const seen = new Set<string>();
      let reads = 0;
      let done = false;
      const reading = (async () => {
        while (!done) {
          seen.add(hash(await store.readScanContent(ref)));
          reads++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      for (const version of versions.slice(1)) await store.putScanContent('app', IMAGE, 'inventory', STARTED, version);
      done = true;
      await reading;
      expect(reads).toBeGreaterThan(0);
      const allowed = new Set(versions.map(hash));
      for (const seenHash of seen) expect(allowed).toContain(seenHash);
      same(await store.readScanContent(ref), versions[3]);
    });

    it('deletes the content of an image but what it keeps, and nothing of another image or repository', async () => {
      const { store, files } = await deployment.fresh();
      const put = (repository: string, digest: string, kind: 'findings' | 'inventory', scanId: string) =>
        store.putScanContent(repository, digest, kind, scanId, bytesOf(`${repository} ${digest} ${kind} ${scanId}`));
      await put('team/app', IMAGE, 'findings', STARTED);
      await put('team/app', IMAGE, 'inventory', STARTED);
      const keptFindings = await put('team/app', IMAGE, 'findings', LATER);
      const keptInventory = await put('team/app', IMAGE, 'inventory', LATER);
      const otherImage = await put('team/app', OTHER_IMAGE, 'findings', STARTED);
      const otherRepository = await put('team/app2', IMAGE, 'findings', STARTED);
      const elsewhere = await store.putScanContent('team', IMAGE, 'findings', STARTED, bytesOf('elsewhere'));

      // A kept reference of another image keeps nothing here, and deletes nothing there.
      await store.deleteScanContent('team/app', IMAGE, [keptFindings, keptInventory, otherImage]);
      expect(await files()).toEqual(
        [
          keyOf('team/app', IMAGE, `findings-${LATER}.json.gz`),
          keyOf('team/app', IMAGE, `inventory-${LATER}.json.gz`),
          keyOf('team/app', OTHER_IMAGE, `findings-${STARTED}.json.gz`),
          keyOf('team/app2', IMAGE, `findings-${STARTED}.json.gz`),
          keyOf('team', IMAGE, `findings-${STARTED}.json.gz`),
        ].sort(),
      );
      same(await store.readScanContent(keptFindings), bytesOf(`team/app ${IMAGE} findings ${LATER}`));
      same(await store.readScanContent(keptInventory), bytesOf(`team/app ${IMAGE} inventory ${LATER}`));

      // Without keep: all of the image goes; a reference to it then reads as gone.
      await store.deleteScanContent('team/app', IMAGE);
      expect(await store.readScanContent(keptFindings)).toBeNull();
      expect(await store.readScanContent(keptInventory)).toBeNull();
      same(await store.readScanContent(otherImage), bytesOf(`team/app ${OTHER_IMAGE} findings ${STARTED}`));
      same(await store.readScanContent(otherRepository), bytesOf(`team/app2 ${IMAGE} findings ${STARTED}`));
      same(await store.readScanContent(elsewhere), bytesOf('elsewhere'));
      expect(await files()).toHaveLength(3);

      // And the image takes content again after its delete.
      const back = await put('team/app', IMAGE, 'findings', '2');
      same(await store.readScanContent(back), bytesOf(`team/app ${IMAGE} findings 2`));
    });

    it('deletes nothing, without error, for an image with nothing stored', async () => {
      const empty = await deployment.fresh();
      await empty.store.deleteScanContent('team/app', IMAGE);
      await empty.store.deleteScanContent('team/app', IMAGE, []);
      expect(await empty.files()).toEqual([]);

      const { store, files } = await deployment.fresh();
      const ref = await store.putScanContent('team/app', IMAGE, 'findings', STARTED, bytesOf('stays'));
      await store.deleteScanContent('team/app', OTHER_IMAGE);
      await store.deleteScanContent('team', IMAGE);
      await store.deleteScanContent('team/app/sub', IMAGE);
      expect(await files()).toEqual([keyOf('team/app', IMAGE, `findings-${STARTED}.json.gz`)]);
      same(await store.readScanContent(ref), bytesOf('stays'));
      // Deleted twice: the second finds nothing, and says nothing.
      await store.deleteScanContent('team/app', IMAGE);
      await store.deleteScanContent('team/app', IMAGE);
      expect(await files()).toEqual([]);
    });

    it('reads a reference to content never stored, or deleted, as gone', async () => {
      const { store } = await deployment.fresh();
      const ref = await store.putScanContent('team/app', IMAGE, 'findings', STARTED, bytesOf('x'));
      await store.deleteScanContent('team/app', IMAGE);
      expect(await store.readScanContent(ref)).toBeNull();
      expect(await store.readScanContent(keyOf('never/pushed', IMAGE, 'inventory-1.json.gz'))).toBeNull();
    });

    it('keeps repositories whose names nest apart (names hold /, and components that look like files or digests)', async () => {
      const { store, files } = await deployment.fresh();
      const hex = IMAGE.slice('sha256:'.length);
      const repositories = ['a', 'a/b', 'a/b/c', 'a/sha256', `a/sha256/${hex}`, 'a/findings-1.json.gz', 'a/b.c', 'a-b', 'a__b/c'];
      const refs = new Map<string, string>();
      for (const repository of repositories) refs.set(repository, await store.putScanContent(repository, IMAGE, 'findings', '1', bytesOf(repository)));
      expect(new Set(refs.values()).size).toBe(repositories.length);
      for (const repository of repositories) same(await store.readScanContent(refs.get(repository)!), bytesOf(repository));
      expect(await files()).toEqual(repositories.map((r) => keyOf(r, IMAGE, 'findings-1.json.gz')).sort());

      // Deleting the image of one repository leaves those it is a prefix of, and those that are a prefix of it.
      await store.deleteScanContent('a', IMAGE);
      await store.deleteScanContent('a/b', IMAGE);
      expect(await files()).toEqual(repositories.filter((r) => r !== 'a' && r !== 'a/b').map((r) => keyOf(r, IMAGE, 'findings-1.json.gz')).sort());
      for (const repository of repositories.filter((r) => r !== 'a' && r !== 'a/b')) same(await store.readScanContent(refs.get(repository)!), bytesOf(repository));
      // Put back into a repository whose image was deleted while the nested one still holds content.
      same(await store.readScanContent(await store.putScanContent('a', IMAGE, 'findings', '2', bytesOf('a again'))), bytesOf('a again'));
    });

    it('refuses repository names, digests, kinds and scan ids that could leave scans/, and writes nothing', async () => {
      const { store, files } = await deployment.fresh();
      const put = (repository: string, digest: string, kind: string, scanId: string) =>
        store.putScanContent(repository, digest, kind as 'findings', scanId, bytesOf('refused'));
      for (const repository of ['', '..', '../vulndb', 'a/../../vulndb', '/etc', 'a//b', 'a/', 'A', '.tmp', 'a/.tmp', 'a\\b', 'a b', 'a:b', 'x'.repeat(257)]) {
        await expect(put(repository, IMAGE, 'findings', '1')).rejects.toThrow(/not a repository name/);
        await expect(store.deleteScanContent(repository, IMAGE)).rejects.toThrow(/not a repository name/);
      }
      for (const digest of ['', 'sha256:..', `${IMAGE}/..`, `../${IMAGE}`, IMAGE.toUpperCase(), IMAGE.slice(0, -1), 'md5:0123456789abcdef0123456789abcdef', IMAGE.replace(':', '/')]) {
        await expect(put('app', digest, 'findings', '1')).rejects.toThrow(/not an image digest/);
        await expect(store.deleteScanContent('app', digest)).rejects.toThrow(/not an image digest/);
      }
      for (const kind of ['', 'sbom', '../findings', 'findings/..', 'Findings']) {
        await expect(put('app', IMAGE, kind, '1')).rejects.toThrow(/not a kind of scan content/);
      }
      for (const scanId of ['', '.', '..', '../../vulndb/current', 'a/b', 'a\\b', '.hidden', '-1', 'a b', 'x'.repeat(129), 'a\u0000b', 'é']) {
        await expect(put('app', IMAGE, 'findings', scanId)).rejects.toThrow(/not a scan id/);
      }
      expect(await files()).toEqual([]);
    });

    it('refuses references outside scans/ or not laid out as its content, and never reads them', async () => {
      const { store, files, plant } = await deployment.fresh();
      const ref = await store.putScanContent('team/app', IMAGE, 'findings', STARTED, bytesOf('stored'));
      // Content a reference that escaped would read.
      const secret = Buffer.from('not scan content');
      await plant('vulndb/current.json', secret);
      await plant(`content/blobs/sha256/${IMAGE.slice(7, 9)}/${IMAGE.slice(7)}`, secret);
      await plant(`other/scans/team/app/${IMAGE}/findings-1.json.gz`, secret);
      const refused = [
        '',
        'vulndb/current.json',
        '../vulndb/current.json',
        'scans/../vulndb/current.json',
        `scans/team/app/${IMAGE}/../../../../vulndb/current.json`,
        `scans/team/app/${IMAGE}/findings-1.json.gz/../../../../../vulndb/current.json`,
        `content/blobs/sha256/${IMAGE.slice(7, 9)}/${IMAGE.slice(7)}`,
        `other/scans/team/app/${IMAGE}/findings-1.json.gz`,
        `/scans/team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        `./scans/team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans//team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans/team//app/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans/team\\app/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans/Team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans/${IMAGE}/findings-${STARTED}.json.gz`,
        `scans/team/app/${IMAGE.toUpperCase()}/findings-${STARTED}.json.gz`,
        `scans/team/app/${IMAGE}/sbom-${STARTED}.json.gz`,
        `scans/team/app/${IMAGE}/findings-${STARTED}.json`,
        `scans/team/app/${IMAGE}/findings-${STARTED}.json.gz/`,
        `scans/team/app/${IMAGE}/findings-${STARTED}.json.gz?versionId=1`,
        `scans/team/app/${IMAGE}/findings-${STARTED}.json.gz\u0000`,
        `scans/team/app/${IMAGE}/findings-..json.gz`,
        'scans/.tmp/00000000-0000-0000-0000-000000000000',
        `s3://bucket/scans/team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        `%2e%2e/scans/team/app/${IMAGE}/findings-${STARTED}.json.gz`,
        '/etc/passwd',
      ];
      for (const bad of refused) {
        await expect(store.readScanContent(bad)).rejects.toThrow(/not a scan content reference/);
        // In keep too, before anything goes: a malformed reference is a mistake, not "keep nothing".
        await expect(store.deleteScanContent('team/app', IMAGE, [ref, bad])).rejects.toThrow(/not a scan content reference/);
      }
      expect(await files()).toEqual([keyOf('team/app', IMAGE, `findings-${STARTED}.json.gz`)]);
      same(await store.readScanContent(ref), bytesOf('stored'));
    });

    it('loses no content a put answered while deletes of the same image run', async () => {
      const { store, files } = await deployment.fresh();
      for (let i = 0; i < 20; i++) {
        // The put may land before the delete lists (and go with it) or after (and stay), but it always lands whole.
        const [ref] = await Promise.all([
          store.putScanContent('team/app', IMAGE, 'findings', String(i), bytesOf(`scan ${i}`)),
          store.deleteScanContent('team/app', IMAGE),
          store.deleteScanContent('team/app', OTHER_IMAGE),
        ]);
        const read = await store.readScanContent(ref);
        if (read !== null) same(read, bytesOf(`scan ${i}`));
        // A put after the delete is settled stays.
        const next = await store.putScanContent('team/app', IMAGE, 'inventory', String(i), bytesOf(`inventory ${i}`));
        same(await store.readScanContent(next), bytesOf(`inventory ${i}`));
        await store.deleteScanContent('team/app', IMAGE, [next]);
        expect(await files()).toEqual([keyOf('team/app', IMAGE, `inventory-${i}.json.gz`)]);
        await store.deleteScanContent('team/app', IMAGE);
      }
      expect(await files()).toEqual([]);
    });

    it("is none of the garbage collector's business: it neither lists nor deletes scans/", async () => {
      const { store, files, collectGarbage } = await deployment.fresh();
      const stored = new Map<string, Uint8Array>();
      for (const [repository, digest, kind, scanId] of [
        ['team/app', IMAGE, 'findings', STARTED],
        ['team/app', IMAGE, 'inventory', STARTED],
        ['app', OTHER_IMAGE, 'findings', '3'],
      ] as const) {
        const bytes = bytesOf(`${repository} ${kind}`);
        stored.set(await store.putScanContent(repository, digest, kind, scanId, bytes), bytes);
      }
      const before = await files();
      expect(before).toHaveLength(3);
      const { orphan, deleted } = await collectGarbage();
      // The collector ran, and took what it lists: content no image links.
      expect(deleted).toEqual([orphan]);
      expect(await files()).toEqual(before);
      for (const [ref, bytes] of stored) same(await store.readScanContent(ref), bytes);
    });
  });
}
