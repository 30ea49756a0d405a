/**
 * Test images, made by the project's own code: layers as real tar archives (gzip or plain)
 * of reproducible pseudo-random bytes, configs, manifests, indexes and artifacts, either in
 * memory (for HTTP tests) or written as an OCI image layout (for skopeo, podman, docker).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
  mediaType: string;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blobOf(bytes: Buffer, mediaType = 'application/octet-stream'): Blob {
  return { digest: sha256(bytes), size: bytes.length, bytes, mediaType };
}

/** Reproducible bytes: AES-256-CTR keystream keyed by `seed`, fast enough for gigabytes. */
export function pseudoRandomBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

/** A minimal ustar archive holding one regular file. */
export function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number) => header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(content.length, 12), 124, 12);
  field(octal(1577836800, 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(octal(sum, 7) + ' ', 148, 8);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

export interface ImageSpec {
  /** Payload size of each layer, in bytes. */
  layers: number[];
  seed?: string;
  architecture?: string;
  os?: string;
  /** gzip layers (the default) or leave them as plain tar. */
  gzip?: boolean;
  /** Docker schema 2 media types instead of OCI. */
  docker?: boolean;
}

export interface Image {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
  platform: { architecture: string; os: string };
}

export function makeImage(spec: ImageSpec): Image {
  const seed = spec.seed ?? `image-${Math.random()}`;
  const gzip = spec.gzip ?? true;
  const architecture = spec.architecture ?? 'amd64';
  const os = spec.os ?? 'linux';
  const layerType = spec.docker
    ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
    : gzip
      ? 'application/vnd.oci.image.layer.v1.tar+gzip'
      : 'application/vnd.oci.image.layer.v1.tar';
  const diffIds: string[] = [];
  const layers = spec.layers.map((size, i) => {
    const tar = tarWithFile(`layer${i}.bin`, pseudoRandomBytes(size, `${seed}/${i}`));
    diffIds.push(sha256(tar));
    return blobOf(gzip || spec.docker ? gzipSync(tar, { level: 1 }) : tar, layerType);
  });
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        created: '2020-01-01T00:00:00Z',
        architecture,
        os,
        config: { Cmd: ['/bin/sh'], Labels: { seed } },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: layers.map((_, i) => ({ created: '2020-01-01T00:00:00Z', created_by: `berth fixture layer ${i}` })),
      }),
    ),
    spec.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json',
  );
  const manifestType = spec.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: manifestType,
        config: descriptor(config),
        layers: layers.map(descriptor),
      }),
    ),
    manifestType,
  );
  return { manifest, config, layers, platform: { architecture, os } };
}

export function descriptor(blob: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
}

export function makeIndex(images: Image[], docker = false): Blob {
  const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
  return blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: images.map((img) => ({ ...descriptor(img.manifest), platform: img.platform })),
      }),
    ),
    mediaType,
  );
}

/** The OCI empty descriptor's content: `{}`. */
export const EMPTY_CONFIG = blobOf(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');

/** An OCI 1.1 artifact (empty config, `artifactType`) whose `subject` is another manifest. */
export function makeArtifact(options: { artifactType: string; subject?: Blob; payload?: Buffer; annotations?: Record<string, string> }): { manifest: Blob; layer: Blob } {
  const layer = blobOf(options.payload ?? Buffer.from(`artifact ${Math.random()}`), 'application/vnd.example.payload');
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: options.artifactType,
    config: descriptor(EMPTY_CONFIG),
    layers: [descriptor(layer)],
  };
  if (options.subject) body.subject = descriptor(options.subject);
  if (options.annotations) body.annotations = options.annotations;
  return { manifest: blobOf(Buffer.from(JSON.stringify(body)), 'application/vnd.oci.image.manifest.v1+json'), layer };
}

/** Writes images (and optionally an index over them) as an OCI image layout usable as `oci:DIR:TAG`. */
export function writeLayout(dir: string, entries: { tag: string; manifest: Blob; blobs: Blob[] }[]): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexPath = join(dir, 'index.json');
  const index = existsSync(indexPath) ? JSON.parse(readFileSync(indexPath, 'utf8')) : { schemaVersion: 2, manifests: [] };
  for (const entry of entries) {
    for (const blob of [...entry.blobs, entry.manifest]) {
      writeFileSync(join(dir, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)), blob.bytes);
    }
    index.manifests = index.manifests.filter((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] !== entry.tag);
    index.manifests.push({ ...descriptor(entry.manifest), annotations: { 'org.opencontainers.image.ref.name': entry.tag } });
  }
  writeFileSync(indexPath, JSON.stringify(index));
}

export function imageBlobs(image: Image): Blob[] {
  return [image.config, ...image.layers];
}
