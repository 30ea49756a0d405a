/**
 * Image events end to end, as a suite run against each deployment on this machine (local mode with
 * its events file; the emulated AWS mode with the EventBridge stand-in's events.jsonl): real clients
 * (skopeo, @aws-sdk/client-ecr, plain OCI requests) change images, and the suite reads what a consumer
 * receives. Every scenario checks exactly the events it caused, in order, with ECR's keys; refused
 * changes are followed by a marker push so that "nothing arrived" is a fact, not a timeout.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  BatchDeleteImageCommand,
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  type ECRClient,
  ImageTagAlreadyExistsException,
  PutImageCommand,
} from '@aws-sdk/client-ecr';
import type { ImageActionEvent } from '../../lambdas/contracts/events';
import { run } from './clients';
import { imageBlobs, makeImage, makeIndex, writeLayout, type Blob, type Image } from './oci-fixtures';

export interface EventedRegistry {
  /** The registry's base URL. */
  url: string;
  host: string;
  /** An ECR client with an admin identity. */
  ecr: ECRClient;
  /** `Basic ...` for OCI requests. */
  basic: string;
  /** skopeo's `--creds` value. */
  skopeoCreds: string;
  /** Every event a consumer received so far, in arrival order. */
  events(): ImageActionEvent[];
  account: string;
  region: string;
  source: string;
  /** A scratch directory for OCI layouts. */
  work: string;
}

/** Reads a JSON-lines file of events (absent: none yet). */
export function readEventLines(file: string): ImageActionEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ImageActionEvent);
}

type Expected = { action: ImageActionEvent['detail']['action-type']; repo: string; digest: string; tag?: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What an event says, in the suite's terms. */
const said = (e: ImageActionEvent): Expected => ({
  action: e.detail['action-type'],
  repo: e.detail['repository-name'],
  digest: e.detail['image-digest'],
  ...(e.detail['image-tag'] !== undefined ? { tag: e.detail['image-tag'] } : {}),
});

export function describeImageEventPaths(title: string, registry: () => EventedRegistry): void {
  describe(title, () => {
    let seen = 0;
    let r: EventedRegistry;
    let marker = 0;
    beforeAll(() => {
      r = registry();
      seen = r.events().length;
    });

    /** Waits for `count` new events and answers them; fails after 20 s with what did arrive. */
    async function next(count: number): Promise<ImageActionEvent[]> {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const all = r.events();
        if (all.length >= seen + count || Date.now() > deadline) {
          const got = all.slice(seen, seen + count);
          seen += got.length;
          if (got.length < count) throw new Error(`expected ${count} new events, got ${got.length}: ${JSON.stringify(got.map(said))}`);
          return got;
        }
        await sleep(100);
      }
    }

    /** Checks the next events are exactly `expected`, in order, each in ECR's shape. */
    async function expectEvents(expected: Expected[]): Promise<ImageActionEvent[]> {
      const got = await next(expected.length);
      expect(got.map(said)).toEqual(expected);
      for (const event of got) expectEcrShape(event);
      return got;
    }

    function expectEcrShape(event: ImageActionEvent): void {
      expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
      expect(event).toMatchObject({ version: '0', 'detail-type': 'ECR Image Action', source: r.source, account: r.account, region: r.region, resources: [] });
      expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Math.abs(Date.parse(event.time) - Date.now())).toBeLessThan(5 * 60_000);
      const keys = ['result', 'repository-name', 'image-digest', 'action-type', ...('image-tag' in event.detail ? ['image-tag'] : []), 'berth-event-id'];
      expect(Object.keys(event.detail)).toEqual(keys);
      expect(event.detail.result).toBe('SUCCESS');
      expect(event.detail['berth-event-id']).toMatch(/^[0-9a-f-]{36}$/);
    }

    /** Pushes a tag nobody else pushes and waits for its event: every event caused before it has arrived by then. */
    async function expectNothingBeforeMarker(): Promise<void> {
      const image = makeImage({ layers: [64], seed: `marker-${++marker}-${Date.now()}` });
      await ociPush('ev/marker', image, `m${marker}`);
      await expectEvents([{ action: 'PUSH', repo: 'ev/marker', digest: image.manifest.digest, tag: `m${marker}` }]);
    }

    const skopeo = (...args: string[]) => run('skopeo', args);
    const dest = (ref: string) => `docker://${r.host}/${ref}`;

    function layout(name: string, entries: { tag: string; manifest: Blob; blobs: Blob[] }[]): string {
      const dir = `${r.work}/${name}-${Date.now()}`;
      writeLayout(dir, entries);
      return dir;
    }

    async function ociPush(repo: string, image: Image, reference: string): Promise<Response> {
      for (const blob of imageBlobs(image)) {
        const res = await fetch(`${r.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: r.basic } });
        if (res.status === 202) {
          // A monolithic POST the registry declined (the emulated mode uploads through the ingest service).
          const location = new URL(res.headers.get('location')!, r.url);
          location.searchParams.set('digest', blob.digest);
          const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: r.basic } });
          expect(put.status).toBe(201);
        } else expect(res.status).toBe(201);
      }
      return putManifest(repo, reference, image.manifest);
    }

    const putManifest = (repo: string, reference: string, manifest: Blob) =>
      fetch(`${r.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: r.basic } });

    test('GIVEN skopeo copies a tagged image THEN one PUSH with the tag; copied again by digest THEN one PUSH without a tag', async () => {
      const image = makeImage({ layers: [1024, 2048], seed: 'events-skopeo' });
      const dir = layout('tagged', [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
      skopeo('copy', '--dest-tls-verify=false', '--dest-creds', r.skopeoCreds, `oci:${dir}:v1`, dest('ev/app:v1'));
      await expectEvents([{ action: 'PUSH', repo: 'ev/app', digest: image.manifest.digest, tag: 'v1' }]);
      expect((await putManifest('ev/app', image.manifest.digest, image.manifest)).status).toBe(201);
      await expectEvents([{ action: 'PUSH', repo: 'ev/app', digest: image.manifest.digest }]);
    });

    test('GIVEN a multi-arch index copied with skopeo --all THEN a PUSH without a tag per child, then the PUSH of the index with its tag', async () => {
      const amd = makeImage({ layers: [512], architecture: 'amd64', seed: 'events-amd' });
      const arm = makeImage({ layers: [768], architecture: 'arm64', seed: 'events-arm' });
      const index = makeIndex([amd, arm]);
      const dir = layout('multi', [{ tag: 'multi', manifest: index, blobs: [...imageBlobs(amd), amd.manifest, ...imageBlobs(arm), arm.manifest] }]);
      skopeo('copy', '--all', '--dest-tls-verify=false', '--dest-creds', r.skopeoCreds, `oci:${dir}:multi`, dest('ev/multi:latest'));
      const got = await next(3);
      const children = got.slice(0, 2).map(said);
      expect(children).toEqual(
        expect.arrayContaining([
          { action: 'PUSH', repo: 'ev/multi', digest: amd.manifest.digest },
          { action: 'PUSH', repo: 'ev/multi', digest: arm.manifest.digest },
        ]),
      );
      expect(said(got[2])).toEqual({ action: 'PUSH', repo: 'ev/multi', digest: index.digest, tag: 'latest' });
      for (const event of got) expectEcrShape(event);
    });

    test('GIVEN an image with two tags WHEN skopeo deletes it THEN one DELETE per tag it had; an OCI DELETE of a tag THEN one DELETE with that tag', async () => {
      const image = makeImage({ layers: [300], seed: 'events-delete' });
      expect((await ociPush('ev/del', image, 'a')).status).toBe(201);
      expect((await putManifest('ev/del', 'b', image.manifest)).status).toBe(201);
      await next(2);
      skopeo('delete', '--tls-verify=false', '--creds', r.skopeoCreds, dest('ev/del:a'));
      const got = await next(2);
      expect(got.map(said).sort((x, y) => (x.tag ?? '').localeCompare(y.tag ?? ''))).toEqual([
        { action: 'DELETE', repo: 'ev/del', digest: image.manifest.digest, tag: 'a' },
        { action: 'DELETE', repo: 'ev/del', digest: image.manifest.digest, tag: 'b' },
      ]);
      for (const event of got) expectEcrShape(event);

      const other = makeImage({ layers: [301], seed: 'events-delete-tag' });
      expect((await ociPush('ev/del', other, 'x')).status).toBe(201);
      expect((await putManifest('ev/del', 'y', other.manifest)).status).toBe(201);
      await next(2);
      expect((await fetch(`${r.url}/v2/ev/del/manifests/x`, { method: 'DELETE', headers: { Authorization: r.basic } })).status).toBe(202);
      await expectEvents([{ action: 'DELETE', repo: 'ev/del', digest: other.manifest.digest, tag: 'x' }]);
    });

    test('GIVEN BatchDeleteImage by tag (other tags kept, then the last) and by digest (tagged and untagged) THEN a DELETE per tag removed, one without a tag for the untagged image', async () => {
      const image = makeImage({ layers: [400], seed: 'events-batch' });
      const loose = makeImage({ layers: [401], seed: 'events-batch-loose' });
      expect((await ociPush('ev/batch', image, 'a')).status).toBe(201);
      expect((await putManifest('ev/batch', 'b', image.manifest)).status).toBe(201);
      expect((await putManifest('ev/batch', 'c', image.manifest)).status).toBe(201);
      expect((await ociPush('ev/batch', loose, loose.manifest.digest)).status).toBe(201);
      await next(4);
      const batch = (imageIds: { imageTag?: string; imageDigest?: string }[]) => r.ecr.send(new BatchDeleteImageCommand({ repositoryName: 'ev/batch', imageIds }));
      expect((await batch([{ imageTag: 'a' }])).failures).toEqual([]);
      await expectEvents([{ action: 'DELETE', repo: 'ev/batch', digest: image.manifest.digest, tag: 'a' }]);
      expect((await batch([{ imageDigest: image.manifest.digest }, { imageDigest: loose.manifest.digest }])).failures).toEqual([]);
      const got = await next(3);
      expect(got.map(said)).toEqual(
        expect.arrayContaining([
          { action: 'DELETE', repo: 'ev/batch', digest: image.manifest.digest, tag: 'b' },
          { action: 'DELETE', repo: 'ev/batch', digest: image.manifest.digest, tag: 'c' },
          { action: 'DELETE', repo: 'ev/batch', digest: loose.manifest.digest },
        ]),
      );
      for (const event of got) expectEcrShape(event);
    });

    test('GIVEN PutImage THEN one PUSH with its tag; refused changes (an immutable tag held, blobs missing, a delete of nothing) THEN no event', async () => {
      await r.ecr.send(new CreateRepositoryCommand({ repositoryName: 'ev/immutable', imageTagMutability: 'IMMUTABLE' }));
      const image = makeImage({ layers: [500], seed: 'events-put-image' });
      expect((await ociPush('ev/immutable', image, image.manifest.digest)).status).toBe(201);
      await next(1);
      await r.ecr.send(new PutImageCommand({ repositoryName: 'ev/immutable', imageManifest: image.manifest.bytes.toString(), imageManifestMediaType: image.manifest.mediaType, imageTag: 'v1' }));
      await expectEvents([{ action: 'PUSH', repo: 'ev/immutable', digest: image.manifest.digest, tag: 'v1' }]);

      const other = makeImage({ layers: [501], seed: 'events-put-image-other' });
      expect((await ociPush('ev/immutable', other, other.manifest.digest)).status).toBe(201);
      await next(1);
      await expect(
        r.ecr.send(new PutImageCommand({ repositoryName: 'ev/immutable', imageManifest: other.manifest.bytes.toString(), imageManifestMediaType: other.manifest.mediaType, imageTag: 'v1' })),
      ).rejects.toBeInstanceOf(ImageTagAlreadyExistsException);
      expect((await putManifest('ev/immutable', 'v1', other.manifest)).status).toBe(400);
      const orphan = makeImage({ layers: [502], seed: 'events-missing-blobs' });
      const missing = await putManifest('ev/immutable', 'v2', orphan.manifest);
      expect(missing.status).toBe(400);
      expect((await fetch(`${r.url}/v2/ev/immutable/manifests/nope`, { method: 'DELETE', headers: { Authorization: r.basic } })).status).toBe(404);
      await expectNothingBeforeMarker();
    });

    test('GIVEN a repository with an index, its untagged children and a tagged image WHEN DeleteRepository with force THEN a DELETE for each, the index before its children', async () => {
      const amd = makeImage({ layers: [600], architecture: 'amd64', seed: 'events-repo-amd' });
      const arm = makeImage({ layers: [601], architecture: 'arm64', seed: 'events-repo-arm' });
      const index = makeIndex([amd, arm]);
      const solo = makeImage({ layers: [602], seed: 'events-repo-solo' });
      expect((await ociPush('ev/gone', amd, amd.manifest.digest)).status).toBe(201);
      expect((await ociPush('ev/gone', arm, arm.manifest.digest)).status).toBe(201);
      expect((await putManifest('ev/gone', 'multi', index)).status).toBe(201);
      expect((await ociPush('ev/gone', solo, 's1')).status).toBe(201);
      await next(4);
      await r.ecr.send(new DeleteRepositoryCommand({ repositoryName: 'ev/gone', force: true }));
      const got = await next(4);
      expect(got.map(said)).toEqual(
        expect.arrayContaining([
          { action: 'DELETE', repo: 'ev/gone', digest: index.digest, tag: 'multi' },
          { action: 'DELETE', repo: 'ev/gone', digest: amd.manifest.digest },
          { action: 'DELETE', repo: 'ev/gone', digest: arm.manifest.digest },
          { action: 'DELETE', repo: 'ev/gone', digest: solo.manifest.digest, tag: 's1' },
        ]),
      );
      const at = (digest: string) => got.findIndex((e) => e.detail['image-digest'] === digest);
      expect(at(index.digest)).toBeLessThan(at(amd.manifest.digest));
      expect(at(index.digest)).toBeLessThan(at(arm.manifest.digest));
      for (const event of got) expectEcrShape(event);
      await expectNothingBeforeMarker();
    });

    test('THEN every event has its own berth-event-id', () => {
      const ids = r.events().map((e) => e.detail['berth-event-id']);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });
}
