/**
 * The analyzer's layer reader (issue 15): layers streamed once each (gzip, zstd, plain tar, told
 * by their bytes), whiteouts applied in layer order as OCI layer.md specifies, symlinks and hard
 * links resolved, limits and errors. The zstd layer is a committed fixture (fzstd only
 * decompresses): test/fixtures/scanning/layers/README.md says how it was made.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { LayerReadError, normalizeEntryPath, readImageFiles, resolvePath, type ImageLayer } from '../../lambdas/core/scanning/layers';
import { zstdDecompress } from '../../lambdas/core/scanning/layers/zstd';
import type { ByteStream } from '../../lambdas/core/model';

const FIXTURES = join(__dirname, '..', 'fixtures', 'scanning', 'layers');
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

type Entry = { name: string; content?: string | Uint8Array; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string };

/** A tar archive of `entries`, in that order, as tar-stream's pack writes it (ustar, PAX for long names). */
async function tarOf(entries: Entry[]): Promise<Buffer> {
  const archive = pack();
  for (const e of entries) {
    const body = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    const header = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.type === 'directory' ? 0o755 : 0o644, mtime: new Date(0) };
    if (body !== undefined) archive.entry(header, body);
    else archive.entry(header);
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Yields `bytes` in `size`-byte chunks, so every parser boundary lands mid-chunk somewhere. */
async function* chunked(bytes: Uint8Array, size = 97): ByteStream {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** A layer over `bytes`, counting how often it is opened. */
function layer(digest: string, mediaType: string, bytes: Uint8Array, opens = { count: 0 }): ImageLayer {
  return {
    digest,
    mediaType,
    size: bytes.length,
    open: async () => {
      opens.count++;
      return chunked(bytes);
    },
  };
}

const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : Buffer.from(data).toString('utf8'));
const all = () => true;

describe('readImageFiles across layers', () => {
  it('applies whiteouts, opaque directories, re-additions, symlinks and hard links in layer order', async () => {
    const layer1 = gzipSync(
      await tarOf([
        { name: './', type: 'directory' },
        { name: './etc/', type: 'directory' },
        { name: './etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
        { name: './usr/lib/os-release', content: 'ID=debian\nVERSION_ID=12\n' },
        { name: './var/lib/dpkg/status', content: 'Package: a\n' },
        { name: './app/config.json', content: 'v1' },
        { name: './app/old.txt', content: 'old' },
        { name: './data/a.txt', content: 'a1' },
        { name: './data/sub/b.txt', content: 'b1' },
        { name: './opt/x/one.txt', content: 'one' },
        { name: './opt/y.txt', content: 'beside the opaque directory' },
        { name: './srv/www/index.html', content: 'under a directory an upper layer replaces with a file' },
      ]),
    );
    // Layer 2 (zstd, two frames): app/.wh.old.txt, .wh.data, opt/x/three.txt then opt/x/.wh..wh..opq
    // (the opaque marker after its sibling), app/config.json = v2, var/lib/dpkg/status = Package: b.
    const layer2 = readFileSync(join(FIXTURES, 'layer2.tar.zst'));
    // Layer 3 is a plain tar labelled gzip (sniffing wins), re-adding data/a.txt after layer 2 deleted data/.
    const layer3 = await tarOf([
      { name: 'data/a.txt', content: 'a3' },
      { name: 'app/status-link', type: 'link', linkname: 'var/lib/dpkg/status' },
      { name: 'srv/www', content: 'now a file' },
    ]);
    const opens = { count: 0 };
    const result = await readImageFiles(
      [layer('sha256:l1', GZIP, layer1, opens), layer('sha256:l2', ZSTD, layer2, opens), layer('sha256:l3', DOCKER_GZIP, layer3, opens)],
      (p) => !p.startsWith('srv/www') || p === 'srv/www/index.html',
    );

    const files = Object.fromEntries([...result.files].map(([path, data]) => [path, text(data)]));
    expect(files).toEqual({
      'etc/os-release': 'ID=debian\nVERSION_ID=12\n',
      'usr/lib/os-release': 'ID=debian\nVERSION_ID=12\n',
      'var/lib/dpkg/status': 'Package: b\n',
      'app/config.json': 'v2\n',
      'data/a.txt': 'a3',
      'opt/x/three.txt': 'three\n',
      'opt/y.txt': 'beside the opaque directory',
      'app/status-link': 'Package: b\n',
    });
    expect(result.symlinks).toEqual(new Map([['etc/os-release', '../usr/lib/os-release']]));
    expect(opens.count).toBe(3);
    expect(result.layersRead).toBe(3);
    expect(result.bytesRead).toBe(layer1.length + layer2.length + layer3.length);
    expect(result.entriesSeen).toBe(12 + 6 + 3);
    expect(result.warnings).toEqual([expect.stringContaining('layer sha256:l3 is labelled application/vnd.docker.image.rootfs.diff.tar.gzip but is not compressed')]);
  });

  it('resolves etc/os-release -> ../usr/lib/os-release when only the link is wanted', async () => {
    const base = gzipSync(
      await tarOf([
        { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
        { name: 'usr/lib/os-release', content: 'ID=ubuntu\n' },
      ]),
    );
    const result = await readImageFiles([layer('sha256:base', GZIP, base)], (p) => p === 'etc/os-release');
    expect([...result.files.keys()]).toEqual(['etc/os-release']);
    expect(text(result.files.get('etc/os-release'))).toBe('ID=ubuntu\n');
    expect(result.warnings).toEqual([]);
  });

  it('resolves an absolute link through a directory symlink of a lower layer', async () => {
    const base = await tarOf([
      { name: 'usr/lib/os-release', content: 'ID=debian\n' },
      { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    ]);
    const upper = await tarOf([{ name: 'etc/os-release', type: 'symlink', linkname: '/lib/os-release' }]);
    const wanted = (p: string) => p === 'etc/os-release' || p === 'usr/lib/os-release';
    const result = await readImageFiles([layer('sha256:a', TAR, base), layer('sha256:b', TAR, upper)], wanted);
    expect(text(result.files.get('etc/os-release'))).toBe('ID=debian\n');
  });

  it('warns about a wanted link whose target was read before the link and not kept', async () => {
    const base = await tarOf([{ name: 'usr/lib/os-release', content: 'ID=debian\n' }]);
    const upper = await tarOf([{ name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' }]);
    const result = await readImageFiles([layer('sha256:a', TAR, base), layer('sha256:b', TAR, upper)], (p) => p === 'etc/os-release');
    expect(result.files.size).toBe(0);
    expect(result.symlinks.get('etc/os-release')).toBe('../usr/lib/os-release');
    expect(result.warnings).toEqual([expect.stringContaining('symlink etc/os-release -> ../usr/lib/os-release: usr/lib/os-release is not a kept file')]);
  });

  it('applies whiteouts only to lower layers, whatever their place in the archive', async () => {
    const base = await tarOf([{ name: 'a/b/c/bar', content: 'bar' }, { name: 'k/keep', content: 'k' }]);
    // layer.md's example: the opaque marker after the directory it re-creates; and a same-layer file with its own whiteout.
    const upper = await tarOf([
      { name: 'a/b/c/foo', content: 'foo' },
      { name: 'a/.wh..wh..opq', content: '' },
      { name: 'k/new', content: 'new' },
      { name: 'k/.wh.new', content: '' },
    ]);
    const result = await readImageFiles([layer('sha256:a', TAR, base), layer('sha256:b', TAR, upper)], all);
    expect([...result.files.keys()].sort()).toEqual(['a/b/c/foo', 'k/keep', 'k/new']);
  });

  it('lets a directory entry replace a lower symlink, and ignores AUFS metadata', async () => {
    const base = await tarOf([{ name: 'conf', type: 'symlink', linkname: '/elsewhere' }]);
    const upper = await tarOf([
      { name: 'conf/', type: 'directory' },
      { name: 'conf/app.ini', content: 'x=1' },
      { name: '.wh..wh.plnk/123.456', content: 'aufs hard-link store' },
      { name: '.wh..wh.aufs', content: '' },
    ]);
    const result = await readImageFiles([layer('sha256:a', TAR, base), layer('sha256:b', TAR, upper)], all);
    expect([...result.files.keys()]).toEqual(['conf/app.ini']);
    expect(result.symlinks.size).toBe(0);
  });

  it('skips entries whose .. climbs above the root, and keeps those that stay inside', async () => {
    const tar = await tarOf([
      { name: '../escape.txt', content: 'outside' },
      { name: 'a/../../escape2.txt', content: 'outside' },
      { name: '/etc/./passwd', content: 'root:x:0:0' },
      { name: 'usr/share/../lib/x', content: 'inside' },
    ]);
    const result = await readImageFiles([layer('sha256:dots', TAR, tar)], all);
    expect(Object.fromEntries([...result.files].map(([p, d]) => [p, text(d)]))).toEqual({ 'etc/passwd': 'root:x:0:0', 'usr/lib/x': 'inside' });
    expect(result.warnings).toEqual([expect.stringContaining('entry ../escape.txt climbs above the root'), expect.stringContaining('entry a/../../escape2.txt climbs above the root')]);
  });

  it('skips a wanted file over maxFileBytes with a warning, hiding the lower version too', async () => {
    const base = await tarOf([{ name: 'big.bin', content: 'small' }]);
    const upper = await tarOf([{ name: 'big.bin', content: new Uint8Array(2048) }, { name: 'ok.txt', content: 'ok' }]);
    const result = await readImageFiles([layer('sha256:a', TAR, base), layer('sha256:b', TAR, upper)], all, { maxFileBytes: 1024 });
    expect([...result.files.keys()]).toEqual(['ok.txt']);
    expect(result.warnings).toEqual(['layer sha256:b: big.bin holds 2048 bytes, over maxFileBytes (1024): skipped']);
  });

  it('stops keeping files past maxTotalBytes, and refuses an image past maxEntries', async () => {
    const tar = await tarOf([1, 2, 3, 4].map((n) => ({ name: `f${n}`, content: new Uint8Array(400) })));
    const capped = await readImageFiles([layer('sha256:a', TAR, tar)], all, { maxTotalBytes: 1000 });
    expect([...capped.files.keys()]).toEqual(['f1', 'f2']);
    expect(capped.warnings).toHaveLength(2);
    expect(capped.warnings[0]).toContain('maxTotalBytes (1000)');
    await expect(readImageFiles([layer('sha256:a', TAR, tar)], all, { maxEntries: 3 })).rejects.toMatchObject({
      name: 'LayerReadError',
      code: 'too-many-entries',
      digest: 'sha256:a',
    });
  });

  it('decodes zstd in bounded steps and refuses a window over the limit', async () => {
    const zeros = readFileSync(join(FIXTURES, 'zeros-8MiB.zst'));
    let total = 0;
    let largest = 0;
    for await (const chunk of zstdDecompress(chunked(zeros, 4096))) {
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
    }
    // 274 bytes of run-length blocks: one push of them all would hand back 8 MiB at once.
    expect(total).toBe(8 * 1024 * 1024);
    expect(largest).toBeLessThanOrEqual(128 * 1024);
    const tar = gzipSync(await tarOf([{ name: 'x', content: 'x' }]));
    await expect(
      readImageFiles([layer('sha256:z', ZSTD, zeros), layer('sha256:never', GZIP, tar)], all, { maxZstdWindow: 1024 * 1024 }),
    ).rejects.toMatchObject({ code: 'unsupported', digest: 'sha256:z' });
  });
});

describe('readImageFiles failures', () => {
  const rejection = async (layers: ImageLayer[]) => {
    const err = await readImageFiles(layers, all).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LayerReadError);
    return err as LayerReadError;
  };

  it('rejects a corrupt or truncated gzip, tar or zstd with LayerReadError naming the layer', async () => {
    const tar = await tarOf([{ name: 'etc/os-release', content: 'ID=alpine\n'.repeat(200) }]);
    const gz = gzipSync(tar);
    const garbled = Buffer.concat([gz.subarray(0, 12), Buffer.alloc(200, 0xa5)]);
    const good = layer('sha256:good', GZIP, gz);
    const cases: Array<[string, ImageLayer]> = [
      ['sha256:garbled', layer('sha256:garbled', GZIP, garbled)],
      ['sha256:cut-gzip', layer('sha256:cut-gzip', GZIP, gz.subarray(0, gz.length - 30))],
      ['sha256:cut-tar', layer('sha256:cut-tar', TAR, tar.subarray(0, 1000))],
      ['sha256:not-tar', layer('sha256:not-tar', TAR, Buffer.alloc(1024, 0x41))],
      ['sha256:cut-zstd', layer('sha256:cut-zstd', ZSTD, readFileSync(join(FIXTURES, 'layer2.tar.zst')).subarray(0, 200))],
    ];
    for (const [digest, bad] of cases) {
      const err = await rejection([good, bad]);
      expect({ digest: err.digest, code: err.code }).toEqual({ digest, code: 'corrupt' });
      expect(err.message).toContain(`layer ${digest}: `);
    }
  });

  it('tells a failing blob read and a size that disagrees with the descriptor from corruption', async () => {
    const tar = await tarOf([{ name: 'a', content: 'a'.repeat(5000) }]);
    // Through the plain tar path and through gunzip: the storage's error is not mistaken for corruption.
    for (const [mediaType, bytes] of [
      [TAR, tar],
      [GZIP, gzipSync(tar, { level: 0 })],
    ] as const) {
      const failing: ImageLayer = {
        digest: 'sha256:broken-store',
        mediaType,
        open: async () =>
          (async function* () {
            yield bytes.subarray(0, 700);
            throw new Error('connection reset');
          })(),
      };
      const err = await rejection([failing]);
      expect(err.code).toBe('unreadable');
      expect(err.message).toBe('layer sha256:broken-store: reading the blob failed: connection reset');
    }
    const short = { ...layer('sha256:short', TAR, tar), size: tar.length + 1 };
    expect((await rejection([short])).code).toBe('size-mismatch');
  });

  it('stops promptly on abort while a blob read is waiting', async () => {
    const gz = gzipSync(await tarOf([{ name: 'a', content: 'x'.repeat(100_000) }]));
    const stalled: ImageLayer = {
      digest: 'sha256:stalled',
      mediaType: GZIP,
      open: async () =>
        (async function* () {
          yield gz.subarray(0, 100);
          await new Promise(() => undefined);
        })(),
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('deadline')), 50);
    const started = Date.now();
    await expect(readImageFiles([stalled], all, { signal: controller.signal })).rejects.toThrow('deadline');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('readImageFiles memory', () => {
  /** A ustar header for a regular file. */
  function fileHeader(name: string, size: number): Buffer {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  }

  /** 200 files of 1 MiB, then a small wanted one: a 200 MiB tar made as it is read, never whole. */
  async function* bigTar(): ByteStream {
    const MiB = 1024 * 1024;
    for (let i = 0; i < 200; i++) {
      yield fileHeader(`blob/${i}.bin`, MiB);
      for (let part = 0; part < 4; part++) yield Buffer.alloc(MiB / 4, (i * 7 + part) & 0xff);
    }
    const last = Buffer.from('ID=alpine\n');
    yield fileHeader('etc/os-release', last.length);
    yield Buffer.concat([last, Buffer.alloc(512 - last.length)]);
    yield Buffer.alloc(1024);
  }

  it('reads a 200 MiB gzip layer with memory far below its size', async () => {
    const big: ImageLayer = {
      digest: 'sha256:big',
      mediaType: GZIP,
      open: async () => Readable.from(bigTar()).pipe(createGzip({ level: 1 })),
    };
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = used();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, used())), 5);
    try {
      const result = await readImageFiles([big], (p) => p === 'etc/os-release');
      peak = Math.max(peak, used());
      expect(text(result.files.get('etc/os-release'))).toBe('ID=alpine\n');
      expect(result.bytesUnpacked).toBeGreaterThan(200 * 1024 * 1024);
      expect(result.entriesSeen).toBe(201);
    } finally {
      clearInterval(sampler);
    }
    // Buffering the layer would add 200 MiB; garbage not yet collected accounts for what is measured.
    expect(peak - before).toBeLessThan(80 * 1024 * 1024);
  });
});

describe('layer paths', () => {
  it('normalizes entry names and refuses those that leave the root', () => {
    expect(['./etc/os-release', '/etc//os-release', 'etc/./os-release/', './', 'a/b/../c', '..', 'a/../..'].map(normalizeEntryPath)).toEqual([
      'etc/os-release',
      'etc/os-release',
      'etc/os-release',
      '',
      'a/c',
      undefined,
      undefined,
    ]);
  });

  it('follows links as a container would, .. stopping at the root, and gives up on loops', () => {
    const links = new Map([
      ['etc/os-release', '../usr/lib/os-release'],
      ['lib', 'usr/lib'],
      ['etc/abs', '/../../lib/os-release'],
      ['loop/a', 'b'],
      ['loop/b', 'a'],
    ]);
    const at = (p: string) => links.get(p);
    expect(resolvePath('etc/os-release', at)).toBe('usr/lib/os-release');
    expect(resolvePath('etc/abs', at)).toBe('usr/lib/os-release');
    expect(resolvePath('lib/apk/db/installed', at)).toBe('usr/lib/apk/db/installed');
    expect(resolvePath('loop/a', at)).toBeUndefined();
  });
});
