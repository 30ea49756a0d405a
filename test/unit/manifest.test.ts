import { createHash } from 'node:crypto';
import { RegistryError } from '../../lambdas/core/errors';
import { parseDescriptor, parseManifest, type ParsedManifest } from '../../lambdas/core/manifest';
import { MediaTypes } from '../../lambdas/core/media-types';

const d = (seed: string) => `sha256:${createHash('sha256').update(seed).digest('hex')}`;
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const NONDIST_LAYER = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

const desc = (seed: string, mediaType = OCI_LAYER, extra: Record<string, unknown> = {}) => ({ mediaType, digest: d(seed), size: 100, ...extra });

function image(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: desc('config', OCI_CONFIG),
    layers: [desc('l1'), desc('l2')],
    ...over,
  };
}

function index(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [desc('m1', MediaTypes.ociManifest, { platform: { os: 'linux', architecture: 'amd64' } }), desc('m2', MediaTypes.ociManifest)],
    ...over,
  };
}

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const parse = (value: unknown, contentType?: string): ParsedManifest => parseManifest(bytes(value), contentType);

function refusal(value: unknown, contentType?: string): RegistryError {
  try {
    parse(value, contentType);
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('expected the manifest to be refused');
}

describe('parseManifest: image manifests', () => {
  test('GIVEN an OCI image manifest THEN config and layers are the blobs, in order, and artifactType falls back to the config type', () => {
    expect(parse(image())).toEqual({
      mediaType: MediaTypes.ociManifest,
      kind: 'image',
      blobs: [d('config'), d('l1'), d('l2')],
      children: [],
      subject: undefined,
      artifactType: OCI_CONFIG,
      annotations: undefined,
    });
  });

  test('GIVEN a Docker schema 2 manifest THEN it is an image with its Docker media type', () => {
    const parsed = parse(image({ mediaType: MediaTypes.dockerManifest, config: desc('c', 'application/vnd.docker.container.image.v1+json') }));
    expect(parsed).toMatchObject({ mediaType: MediaTypes.dockerManifest, kind: 'image', artifactType: 'application/vnd.docker.container.image.v1+json' });
  });

  test.each([
    ['a Docker foreign layer', MediaTypes.dockerForeignLayer, {}],
    ['an OCI non-distributable layer', NONDIST_LAYER, {}],
    ['a layer with urls', OCI_LAYER, { urls: ['https://example.com/layer'] }],
  ])('GIVEN %s THEN it is not required in the repository', (_what, mediaType, extra) => {
    const parsed = parse(image({ layers: [desc('l1'), desc('foreign', mediaType, extra), desc('l2')] }));
    expect(parsed.blobs).toEqual([d('config'), d('l1'), d('l2')]);
  });

  test('GIVEN a layer with an empty urls list THEN it is still required', () => {
    expect(parse(image({ layers: [desc('l1', OCI_LAYER, { urls: [] })] })).blobs).toEqual([d('config'), d('l1')]);
  });

  test('GIVEN the same blob twice (config reused as layer, repeated layer) THEN it is required once', () => {
    const parsed = parse(image({ config: desc('x', OCI_CONFIG), layers: [desc('x'), desc('l1'), desc('l1')] }));
    expect(parsed.blobs).toEqual([d('x'), d('l1')]);
  });

  test('GIVEN no layers field, or an empty layers array THEN only the config is required', () => {
    const { layers: _omitted, ...noLayers } = image();
    expect(parse(noLayers).blobs).toEqual([d('config')]);
    expect(parse(image({ layers: [] })).blobs).toEqual([d('config')]);
  });

  test('GIVEN an artifact with artifactType, a subject and annotations THEN all three are reported', () => {
    const parsed = parse(
      image({
        artifactType: 'application/vnd.example.sbom',
        config: desc('empty', MediaTypes.ociEmpty),
        subject: desc('subject', MediaTypes.ociManifest),
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      }),
    );
    expect(parsed.artifactType).toBe('application/vnd.example.sbom');
    expect(parsed.subject).toEqual({ mediaType: MediaTypes.ociManifest, digest: d('subject'), size: 100 });
    expect(parsed.annotations).toEqual({ 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  });

  test('GIVEN an artifact with the empty config and no artifactType THEN artifactType falls back to the empty config type', () => {
    expect(parse(image({ config: desc('empty', MediaTypes.ociEmpty) })).artifactType).toBe(MediaTypes.ociEmpty);
  });

  test('GIVEN sha512 descriptors THEN they are accepted', () => {
    const sha512 = `sha512:${createHash('sha512').update('x').digest('hex')}`;
    expect(parse(image({ layers: [{ mediaType: OCI_LAYER, digest: sha512, size: 1 }] })).blobs).toEqual([d('config'), sha512]);
  });
});

describe('parseManifest: indexes', () => {
  test('GIVEN an OCI index THEN its manifests are the children and no blobs are required', () => {
    expect(parse(index())).toEqual({
      mediaType: MediaTypes.ociIndex,
      kind: 'index',
      blobs: [],
      children: [d('m1'), d('m2')],
      subject: undefined,
      artifactType: undefined,
      annotations: undefined,
    });
  });

  test('GIVEN a Docker manifest list with a repeated child THEN the child is required once', () => {
    const parsed = parse(index({ mediaType: MediaTypes.dockerManifestList, manifests: [desc('m1', MediaTypes.dockerManifest), desc('m1', MediaTypes.dockerManifest)] }));
    expect(parsed).toMatchObject({ mediaType: MediaTypes.dockerManifestList, kind: 'index', children: [d('m1')] });
  });

  test('GIVEN an empty index THEN it has no children', () => {
    expect(parse(index({ manifests: [] })).children).toEqual([]);
  });

  test('GIVEN an index with artifactType THEN it is reported; without one THEN there is none', () => {
    expect(parse(index({ artifactType: 'application/x' })).artifactType).toBe('application/x');
    expect(parse(index()).artifactType).toBeUndefined();
  });
});

describe('parseManifest: media type resolution', () => {
  const { mediaType: _m, ...untypedImage } = image();
  const { mediaType: _i, ...untypedIndex } = index();

  test.each([
    ['mediaType and matching Content-Type', image(), MediaTypes.ociManifest, MediaTypes.ociManifest],
    ['mediaType and Content-Type with parameters', image(), `${MediaTypes.ociManifest}; charset=utf-8`, MediaTypes.ociManifest],
    ['mediaType and uppercase Content-Type', image(), MediaTypes.ociManifest.toUpperCase(), MediaTypes.ociManifest],
    ['mediaType and a non-manifest Content-Type', image(), 'application/json', MediaTypes.ociManifest],
    ['mediaType and no Content-Type', image(), undefined, MediaTypes.ociManifest],
    ['no mediaType, a Docker Content-Type', untypedImage, MediaTypes.dockerManifest, MediaTypes.dockerManifest],
    ['no mediaType, an index Content-Type', untypedIndex, MediaTypes.ociIndex, MediaTypes.ociIndex],
    ['no mediaType, no Content-Type, a config', untypedImage, undefined, MediaTypes.ociManifest],
    ['no mediaType, no Content-Type, a manifests array', untypedIndex, undefined, MediaTypes.ociIndex],
    ['no mediaType, a generic Content-Type, a config', untypedImage, 'application/json', MediaTypes.ociManifest],
  ])('GIVEN %s THEN the stored media type is right', (_what, body, contentType, expected) => {
    expect(parse(body, contentType).mediaType).toBe(expected);
  });

  test.each([
    ['an OCI manifest sent as an OCI index', image(), MediaTypes.ociIndex],
    ['an OCI manifest sent as a Docker manifest', image(), MediaTypes.dockerManifest],
    ['an OCI index sent as an OCI manifest', index(), MediaTypes.ociManifest],
    ['a Docker list sent as an OCI index', index({ mediaType: MediaTypes.dockerManifestList }), MediaTypes.ociIndex],
  ])('GIVEN %s THEN it is refused, naming both types', (_what, body, contentType) => {
    const err = refusal(body, contentType);
    expect(err).toMatchObject({ kind: 'MANIFEST_INVALID', code: 'MANIFEST_INVALID', status: 400 });
    expect(err.message).toContain(contentType);
    expect(err.message).toContain(String(body.mediaType));
    expect(err.message).toMatch(/does not match/);
  });

  test('GIVEN no mediaType, no manifest Content-Type and no telling shape THEN it is refused with advice', () => {
    expect(refusal({ schemaVersion: 2, layers: [] }).message).toMatch(/Content-Type|mediaType/);
  });

  test.each([
    ['a non-manifest mediaType', { ...image(), mediaType: 'application/json' }],
    ['a config mediaType', { ...image(), mediaType: OCI_CONFIG }],
    ['a non-string mediaType', { ...image(), mediaType: 42 }],
  ])('GIVEN %s THEN it is refused as MANIFEST_INVALID', (_what, body) => {
    expect(refusal(body)).toMatchObject({ code: 'MANIFEST_INVALID', status: 400 });
  });
});

describe('parseManifest: schema 1', () => {
  const schema1 = { schemaVersion: 1, name: 'library/alpine', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] };

  test.each([
    ['a schemaVersion 1 body', schema1, undefined],
    ['a signed schema 1 Content-Type', schema1, MediaTypes.dockerSchema1Signed],
    ['a schema 1 Content-Type on a schema 2 body', image({ mediaType: undefined }), MediaTypes.dockerSchema1],
    ['a schema 1 mediaType on a schema 2 body', image({ mediaType: MediaTypes.dockerSchema1Signed }), undefined],
  ])('GIVEN %s THEN it is refused with a message saying schema 1 is not supported and what to do', (_what, body, contentType) => {
    const err = refusal(body, contentType);
    expect(err).toMatchObject({ code: 'MANIFEST_INVALID', status: 400 });
    expect(err.message).toMatch(/schema 1/);
    expect(err.message).toMatch(/not supported/);
    expect(err.message).toMatch(/schema 2 or OCI/);
  });
});

describe('parseManifest: malformed bodies', () => {
  test.each([
    ['not JSON', 'not json'],
    ['truncated JSON', JSON.stringify(image()).slice(0, 40)],
    ['an empty body', ''],
    ['a JSON array', [image()]],
    ['a JSON string', '"manifest"'],
    ['JSON null', 'null'],
    ['a JSON number', '2'],
    ['no schemaVersion', { ...image(), schemaVersion: undefined }],
    ['schemaVersion 3', image({ schemaVersion: 3 })],
    ['schemaVersion "2"', image({ schemaVersion: '2' })],
    ['an image without config', image({ config: undefined })],
    ['a config that is not an object', image({ config: 'sha256:abc' })],
    ['layers that are not an array', image({ layers: { 0: desc('l1') } })],
    ['a layer that is null', image({ layers: [null] })],
    ['a layer without digest', image({ layers: [{ mediaType: OCI_LAYER, size: 1 }] })],
    ['a layer with an uppercase digest', image({ layers: [{ mediaType: OCI_LAYER, size: 1, digest: d('x').toUpperCase() }] })],
    ['a layer with a short digest', image({ layers: [{ mediaType: OCI_LAYER, size: 1, digest: 'sha256:abc' }] })],
    ['a layer with a negative size', image({ layers: [desc('l', OCI_LAYER, { size: -1 })] })],
    ['a layer with a fractional size', image({ layers: [desc('l', OCI_LAYER, { size: 1.5 })] })],
    ['a layer with a string size', image({ layers: [desc('l', OCI_LAYER, { size: '100' })] })],
    ['a layer with an unsafe integer size', image({ layers: [desc('l', OCI_LAYER, { size: 2 ** 60 })] })],
    ['a layer without mediaType', image({ layers: [{ digest: d('l'), size: 1 }] })],
    ['a layer with an empty mediaType', image({ layers: [desc('l', '')] })],
    ['a layer whose urls is a string', image({ layers: [desc('l', OCI_LAYER, { urls: 'https://x' })] })],
    ['a layer whose urls hold a number', image({ layers: [desc('l', OCI_LAYER, { urls: [1] })] })],
    ['a descriptor artifactType that is not a string', image({ layers: [desc('l', OCI_LAYER, { artifactType: 1 })] })],
    ['annotations that are not strings', image({ annotations: { a: 1 } })],
    ['annotations that are an array', image({ annotations: ['a'] })],
    ['descriptor annotations that are not strings', image({ layers: [desc('l', OCI_LAYER, { annotations: { a: null } })] })],
    ['an artifactType that is not a string', image({ artifactType: ['x'] })],
    ['a subject that is not a descriptor', image({ subject: d('s') })],
    ['a subject with a bad digest', image({ subject: { mediaType: MediaTypes.ociManifest, digest: 'sha256:zz', size: 1 } })],
    ['an index without manifests', index({ manifests: undefined })],
    ['an index whose manifests is an object', index({ manifests: {} })],
    ['an index child with a bad digest', index({ manifests: [{ mediaType: MediaTypes.ociManifest, digest: 'md5:abc', size: 1 }] })],
  ])('GIVEN %s THEN it is refused as MANIFEST_INVALID (400)', (_what, body) => {
    const err = refusal(body);
    expect(err).toMatchObject({ kind: 'MANIFEST_INVALID', code: 'MANIFEST_INVALID', status: 400 });
    expect(err.message.length).toBeGreaterThan(0);
  });

  test('GIVEN annotations holding bytes that are not UTF-8 THEN MANIFEST_INVALID (a lenient decode would triple their size)', () => {
    const text = JSON.stringify(image({ annotations: { note: 'XXXX' } }));
    const bytes = Buffer.from(text);
    bytes.fill(0xff, text.indexOf('XXXX'), text.indexOf('XXXX') + 4);
    expect(() => parseManifest(bytes, MediaTypes.ociManifest)).toThrow(expect.objectContaining({ kind: 'MANIFEST_INVALID', message: expect.stringContaining('UTF-8') }));
    expect(parseManifest(Buffer.from(text), MediaTypes.ociManifest).mediaType).toBe(MediaTypes.ociManifest);
  });

  test('GIVEN a descriptor error THEN the message says where it is', () => {
    expect(refusal(image({ layers: [desc('l1'), { mediaType: OCI_LAYER, size: 1 }] })).message).toContain('layers[1]');
    expect(refusal(index({ manifests: [{}] })).message).toContain('manifests[0]');
  });
});

describe('parseDescriptor', () => {
  test('GIVEN every optional field THEN each is kept', () => {
    const value = desc('x', OCI_LAYER, { artifactType: 'a/b', annotations: { k: 'v' }, urls: ['https://x'], platform: { os: 'linux' } });
    expect(parseDescriptor(value, 'here')).toEqual(value);
  });

  test('GIVEN only the required fields THEN no optional field is invented', () => {
    expect(Object.keys(parseDescriptor(desc('x'), 'here')).sort()).toEqual(['digest', 'mediaType', 'size']);
  });
});
