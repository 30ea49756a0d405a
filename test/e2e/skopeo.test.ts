/**
 * skopeo (containers/image: one PATCH with Content-Length, then PUT ?digest=) against a
 * real `berth serve` process.
 */
import { join } from 'node:path';
import { describeWithBinaries, run } from '../support/clients';
import { startRegistryProcess, scratchDir, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, makeIndex, writeLayout, sha256 } from '../support/oci-fixtures';

describeWithBinaries(['skopeo'], 'skopeo against berth serve', () => {
  let work: ReturnType<typeof scratchDir>;
  let registry: RegistryProcess;
  const skopeo = (...args: string[]) => run('skopeo', args);

  beforeAll(async () => {
    work = scratchDir('skopeo');
    registry = await startRegistryProcess(join(work.path, 'data'));
  });
  afterAll(async () => {
    await registry?.stop();
    work?.remove();
  });

  test('GIVEN an image with several layers WHEN skopeo pushes and pulls it THEN every byte and the manifest digest survive', () => {
    const image = makeImage({ layers: [1024, 3 * 1024 * 1024, 200 * 1024] });
    const layout = join(work.path, 'src');
    writeLayout(layout, [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);

    skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/team/app:v1`);
    const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/app:v1`);
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);

    const back = join(work.path, 'back');
    skopeo('copy', '--src-tls-verify=false', `docker://${registry.host}/team/app@${image.manifest.digest}`, `oci:${back}:v1`);
    for (const blob of imageBlobs(image)) {
      const copied = require('node:fs').readFileSync(join(back, 'blobs', 'sha256', blob.digest.slice(7)));
      expect(sha256(copied)).toBe(blob.digest);
    }
  });

  test('GIVEN a two-platform index WHEN skopeo copies it with --all THEN the index and both images come back', () => {
    const amd = makeImage({ layers: [2048], architecture: 'amd64' });
    const arm = makeImage({ layers: [4096], architecture: 'arm64' });
    const index = makeIndex([amd, arm]);
    const layout = join(work.path, 'multi');
    writeLayout(layout, [{ tag: 'multi', manifest: index, blobs: [...imageBlobs(amd), amd.manifest, ...imageBlobs(arm), arm.manifest] }]);

    skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${registry.host}/team/multi:latest`);
    const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/multi:latest`);
    expect(sha256(Buffer.from(raw))).toBe(index.digest);
    const armRaw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/multi@${arm.manifest.digest}`);
    expect(sha256(Buffer.from(armRaw))).toBe(arm.manifest.digest);

    const back = join(work.path, 'multi-back');
    skopeo('copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/team/multi:latest`, `oci:${back}:multi`);
    expect(sha256(require('node:fs').readFileSync(join(back, 'blobs', 'sha256', amd.layers[0].digest.slice(7))))).toBe(amd.layers[0].digest);
  });

  test('GIVEN pushed tags WHEN skopeo lists, inspects and deletes THEN it sees the tags and the deleted tag is gone', () => {
    const image = makeImage({ layers: [512] });
    const layout = join(work.path, 'tags');
    writeLayout(layout, [{ tag: 'a', manifest: image.manifest, blobs: imageBlobs(image) }]);
    for (const tag of ['b', 'a', 'c']) skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:a`, `docker://${registry.host}/team/tags:${tag}`);

    const listed = JSON.parse(skopeo('list-tags', '--tls-verify=false', `docker://${registry.host}/team/tags`));
    expect(listed.Tags).toEqual(['a', 'b', 'c']);
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/team/tags:b`));
    expect(inspected.Digest).toBe(image.manifest.digest);
    expect(inspected.Architecture).toBe('amd64');

    skopeo('delete', '--tls-verify=false', `docker://${registry.host}/team/tags@${image.manifest.digest}`);
    expect(() => skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/tags:a`)).toThrow(/manifest unknown/i);
    expect(JSON.parse(skopeo('list-tags', '--tls-verify=false', `docker://${registry.host}/team/tags`)).Tags).toEqual([]);
  });
});
