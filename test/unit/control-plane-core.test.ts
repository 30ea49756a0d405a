/**
 * The core's repository and image operations (issue 10, point 2), shared by the OCI and ECR ways
 * in: each rule once, refusals as RegistryError kinds or DomainErrors, over LMDB (the adapters'
 * own behaviour is the contract suites'). The settings cache is a decorator over the repository role.
 */
import { join } from 'node:path';
import { CachedRepositorySettings } from '../../lambdas/core/cached-repository-settings';
import { controlPlaneOperations, type ControlPlaneOperations } from '../../lambdas/core/control-plane';
import { tryParseDigest } from '../../lambdas/core/digest';
import { DomainError } from '../../lambdas/core/domain-errors';
import { RegistryError } from '../../lambdas/core/errors';
import { DEFAULT_REPOSITORY_SETTINGS, type RepositorySettings, type RepositorySettingsRecord } from '../../lambdas/core/model';
import { Registry } from '../../lambdas/core/registry';
import { MAX_RESOURCE_TAGS } from '../../lambdas/core/repositories';
import { tagImmutabilityFromSettings } from '../../lambdas/core/tag-immutability';
import { FilesystemBlobStore } from '../../lambdas/storage/local/filesystem-blob-store';
import { LmdbMetadataStore } from '../../lambdas/storage/local/lmdb-metadata-store';
import type { RepositoryStore } from '../../lambdas/storage/ports';
import { EMPTY_CONFIG, imageBlobs, makeArtifact, makeImage, type Blob, type Image } from '../support/oci-fixtures';
import { scratchDir } from '../support/registry-harness';

async function* bytesOf(bytes: Uint8Array) {
  yield bytes;
}

/** What a promise was refused with (the test fails if it was not). */
async function refusal(promise: Promise<unknown>): Promise<RegistryError | DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RegistryError || err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('the control plane core over LMDB', () => {
  let work: { path: string; remove: () => void };
  let metadata: LmdbMetadataStore;
  let registry: Registry;
  let core: ControlPlaneOperations;

  beforeEach(async () => {
    work = scratchDir('control-plane-core');
    const blobs = FilesystemBlobStore.open({ root: join(work.path, 'content') });
    metadata = await LmdbMetadataStore.open({ path: join(work.path, 'metadata') });
    const repositories = new CachedRepositorySettings(metadata);
    registry = new Registry({ blobs, metadata, repositories, isTagImmutable: tagImmutabilityFromSettings(repositories) });
    core = controlPlaneOperations({ store: metadata, registry });
  });
  afterEach(async () => {
    await metadata.close();
    work.remove();
  });

  async function pushBlob(repository: string, blob: Blob): Promise<void> {
    const upload = await registry.startUpload(repository);
    await registry.completeUpload(repository, upload.id, blob.digest, { body: bytesOf(blob.bytes) });
  }

  async function pushImage(repository: string, image: Image, tag?: string): Promise<void> {
    for (const blob of imageBlobs(image)) await pushBlob(repository, blob);
    await registry.putManifest(repository, tag ?? image.manifest.digest, image.manifest.bytes, image.manifest.mediaType);
  }

  async function pushReferrer(repository: string, subject: Blob, artifactType: string): Promise<Blob> {
    const artifact = makeArtifact({ artifactType, subject });
    for (const blob of [EMPTY_CONFIG, artifact.layer]) await pushBlob(repository, blob);
    await registry.putManifest(repository, artifact.manifest.digest, artifact.manifest.bytes, artifact.manifest.mediaType);
    return artifact.manifest;
  }

  describe('repositories', () => {
    test('GIVEN the control plane WHEN built over a Registry THEN it writes through the Registry’s settings cache (a push sees the change at once) and reads fresh', async () => {
      await core.repositories.create('team/shared');
      await registry.repositories.settings('team/shared');
      await core.repositories.setTagMutability('team/shared', { imageTagMutability: 'IMMUTABLE', imageTagMutabilityExclusionFilters: [] });
      expect((await registry.repositories.settings('team/shared')).imageTagMutability).toBe('IMMUTABLE');
    });

    test('GIVEN no repository WHEN required, read or updated THEN NAME_UNKNOWN naming it, from both ways in', async () => {
      const attempts = [
        () => core.repositories.require('team/none'),
        () => core.repositories.settings('team/none'),
        () => core.repositories.tag('team/none', []),
        () => registry.listTags('team/none', undefined, undefined),
        () => registry.statManifest('team/none', 'v1'),
      ];
      for (const attempt of attempts) expect(await refusal(attempt())).toMatchObject({ kind: 'NAME_UNKNOWN', detail: { name: 'team/none' } });
      expect(await core.repositories.find('team/none')).toBeNull();
    });

    test('GIVEN a repository created with some settings WHEN created again THEN the rest are the defaults, and REPOSITORY_EXISTS', async () => {
      const created = await core.repositories.create('team/app', { imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: undefined, tags: [{ Key: 'a', Value: '1' }] });
      expect(created).toMatchObject({ ...DEFAULT_REPOSITORY_SETTINGS, imageTagMutability: 'IMMUTABLE', tags: [{ Key: 'a', Value: '1' }] });
      expect(await refusal(core.repositories.create('team/app'))).toMatchObject({ kind: 'REPOSITORY_EXISTS', detail: { name: 'team/app' } });
      expect(await core.repositories.createIfAbsent('team/app')).toBeNull();
    });

    test('GIVEN tags up to the quota WHEN one more is added THEN TOO_MANY_TAGS and nothing is written; a known key replaces, untag removes', async () => {
      await core.repositories.create('team/tags');
      const full = Array.from({ length: MAX_RESOURCE_TAGS }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
      await core.repositories.tag('team/tags', full);
      expect(await refusal(core.repositories.tag('team/tags', [{ Key: 'extra', Value: 'v' }]))).toMatchObject({ kind: 'TOO_MANY_TAGS', detail: { count: 51, max: 50 } });
      expect((await core.repositories.settings('team/tags')).tags).toEqual(full);
      await core.repositories.tag('team/tags', [{ Key: 'k0', Value: 'changed' }]);
      const untagged = await core.repositories.untag('team/tags', ['k1', 'absent']);
      expect(untagged.tags[0]).toEqual({ Key: 'k0', Value: 'changed' });
      expect(untagged.tags).toHaveLength(MAX_RESOURCE_TAGS - 1);
    });

    test('GIVEN a repository holding an image WHEN deleted without force THEN REPOSITORY_NOT_EMPTY; with force THEN it answers the settings it had and is gone', async () => {
      await core.repositories.create('team/full', { imageTagMutability: 'IMMUTABLE' });
      await pushImage('team/full', makeImage({ layers: [10], seed: 'core-full' }), 'v1');
      expect(await refusal(core.repositories.delete('team/full', false))).toMatchObject({ kind: 'REPOSITORY_NOT_EMPTY' });
      expect(await core.repositories.delete('team/full', true)).toMatchObject({ imageTagMutability: 'IMMUTABLE' });
      expect(await core.repositories.exists('team/full')).toBe(false);
      expect(await refusal(core.repositories.delete('team/full', true))).toMatchObject({ kind: 'NAME_UNKNOWN' });
    });

    test('GIVEN a mutable tag that a push has read WHEN the control plane makes it immutable THEN the next push is refused at once (the cache is invalidated on write)', async () => {
      const first = makeImage({ layers: [10], seed: 'core-imm-1' });
      const second = makeImage({ layers: [10], seed: 'core-imm-2' });
      await pushImage('team/imm', first, 'v1');
      await pushImage('team/imm', second, 'v1');
      await core.repositories.setTagMutability('team/imm', { imageTagMutability: 'IMMUTABLE', imageTagMutabilityExclusionFilters: [] });
      expect(await refusal(registry.putManifest('team/imm', 'v1', first.manifest.bytes, first.manifest.mediaType))).toMatchObject({ kind: 'TAG_IMMUTABLE' });
    });
  });

  describe('policies', () => {
    test('GIVEN a repository without a policy WHEN its policy is read or deleted THEN REPOSITORY_POLICY_UNKNOWN; an unknown repository is NAME_UNKNOWN', async () => {
      await core.repositories.create('team/pol');
      expect(await refusal(core.policies.repositoryPolicy('team/pol'))).toMatchObject({ kind: 'REPOSITORY_POLICY_UNKNOWN', detail: { name: 'team/pol' } });
      expect(await refusal(core.policies.deleteRepositoryPolicy('team/pol'))).toMatchObject({ kind: 'REPOSITORY_POLICY_UNKNOWN' });
      expect(await refusal(core.policies.repositoryPolicy('team/none'))).toMatchObject({ kind: 'NAME_UNKNOWN' });
      expect(await refusal(core.policies.setRepositoryPolicy('team/none', '{}'))).toMatchObject({ kind: 'NAME_UNKNOWN' });
    });

    test('GIVEN policies set WHEN deleted THEN the delete answers what they were, and they are gone', async () => {
      await core.repositories.create('team/pol');
      await core.policies.setRepositoryPolicy('team/pol', '{"Version":"2012-10-17","Statement":[]}');
      expect(await core.policies.findRepositoryPolicy('team/pol')).toBe('{"Version":"2012-10-17","Statement":[]}');
      expect(await core.policies.deleteRepositoryPolicy('team/pol')).toBe('{"Version":"2012-10-17","Statement":[]}');
      expect(await core.policies.findRepositoryPolicy('team/pol')).toBeNull();

      expect(await refusal(core.policies.registryPolicy())).toMatchObject({ kind: 'REGISTRY_POLICY_UNKNOWN' });
      await core.policies.setRegistryPolicy('{"Statement":[]}');
      expect(await core.policies.deleteRegistryPolicy()).toBe('{"Statement":[]}');
      expect(await core.policies.findRegistryPolicy()).toBeNull();
    });
  });

  describe('templates and registry settings', () => {
    const base = { appliedFor: ['CREATE_ON_PUSH' as const], encryptionConfiguration: { encryptionType: 'AES256' as const } };

    test('GIVEN a template WHEN created twice, updated with a new mode, deleted twice THEN defaults, TEMPLATE_EXISTS, filters cleared, TEMPLATE_UNKNOWN', async () => {
      const created = await core.templates.create({ ...base, prefix: 'team', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'dev-*' }] });
      expect(created).toMatchObject({ prefix: 'team', resourceTags: [], imageTagMutabilityExclusionFilters: [{ filter: 'dev-*' }] });
      expect(await refusal(core.templates.create({ ...base, prefix: 'team' }))).toMatchObject({ kind: 'TEMPLATE_EXISTS', detail: { prefix: 'team' } });
      const updated = await core.templates.update('team', { imageTagMutability: 'MUTABLE' });
      expect(updated).toMatchObject({ imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [] });
      expect((await core.templates.delete('team')).prefix).toBe('team');
      expect(await refusal(core.templates.delete('team'))).toMatchObject({ kind: 'TEMPLATE_UNKNOWN' });
      expect(await refusal(core.templates.update('team', {}))).toMatchObject({ kind: 'TEMPLATE_UNKNOWN' });
    });

    test('GIVEN three templates WHEN listed a page at a time or by prefix THEN byte order, `more` while some follow', async () => {
      for (const prefix of ['b', 'ROOT', 'a']) await core.templates.create({ ...base, prefix });
      const first = await core.templates.list({ limit: 2 });
      expect({ prefixes: first.items.map((t) => t.prefix), more: first.more }).toEqual({ prefixes: ['ROOT', 'a'], more: true });
      const rest = await core.templates.list({ after: 'a', limit: 2 });
      expect({ prefixes: rest.items.map((t) => t.prefix), more: rest.more }).toEqual({ prefixes: ['b'], more: false });
      expect((await core.templates.list({ prefixes: ['b'], limit: 10 })).items.map((t) => t.prefix)).toEqual(['b']);
    });

    test('GIVEN the default registry settings WHEN create-on-push is turned off THEN it reads back off', async () => {
      expect(await core.registrySettings.createOnPush()).toBe(true);
      await core.registrySettings.setCreateOnPush(false);
      expect(await core.registrySettings.createOnPush()).toBe(false);
    });
  });

  describe('images', () => {
    test('GIVEN references WHEN resolved THEN the digest, or why not', async () => {
      const image = makeImage({ layers: [10], seed: 'core-resolve' });
      await pushImage('team/img', image, 'v1');
      const { images } = core;
      expect(await images.resolve('team/img', { tag: 'v1' })).toEqual({ ok: true, digest: image.manifest.digest });
      expect(await images.resolve('team/img', { digest: image.manifest.digest })).toEqual({ ok: true, digest: image.manifest.digest });
      expect(await images.resolve('team/img', {})).toEqual({ ok: false, reason: 'no-reference' });
      expect(await images.resolve('team/img', { digest: 'sha256:nothex' })).toEqual({ ok: false, reason: 'invalid-digest' });
      expect(await images.resolve('team/img', { tag: '-bad' })).toEqual({ ok: false, reason: 'invalid-tag' });
      expect(await images.resolve('team/img', { tag: 'v2' })).toEqual({ ok: false, reason: 'not-found' });
      expect(await images.resolve('team/img', { tag: 'v1', digest: `sha256:${'0'.repeat(64)}` })).toEqual({ ok: false, reason: 'tag-mismatch', tagged: image.manifest.digest });
      const record = await images.image('team/img', image.manifest.digest);
      expect(record).toMatchObject({ digest: image.manifest.digest, tags: ['v1'] });
      expect(await images.sizes('team/img').of(record!)).toBe(imageBlobs(image).reduce((sum, blob) => sum + blob.size, 0));
    });

    test('GIVEN an image with a referrer WHEN the OCI DELETE by digest removes it THEN the referrer stays; WHEN the ECR delete removes it THEN the referrer goes', async () => {
      const kept = makeImage({ layers: [10], seed: 'core-del-oci' });
      await pushImage('team/del', kept);
      const keptReferrer = await pushReferrer('team/del', kept.manifest, 'application/vnd.example.sig');
      await registry.deleteManifest('team/del', kept.manifest.digest);
      expect(await core.images.image('team/del', keptReferrer.digest)).not.toBeNull();

      const gone = makeImage({ layers: [10], seed: 'core-del-ecr' });
      await pushImage('team/del', gone, 'v1');
      const goneReferrer = await pushReferrer('team/del', gone.manifest, 'application/vnd.example.sig');
      expect(await core.images.deleteTag('team/del', 'v1', gone.manifest.digest)).toEqual({ ok: true, imageDeleted: true });
      expect(await core.images.image('team/del', goneReferrer.digest)).toBeNull();
    });

    test('GIVEN layers WHEN their availability is asked THEN each digest once: available with its size, missing, or not a digest', async () => {
      const image = makeImage({ layers: [10], seed: 'core-layers' });
      await pushImage('team/layers', image, 'v1');
      const layer = image.layers[0];
      expect(await core.images.layerAvailability('team/layers', [layer.digest, layer.digest, `sha256:${'1'.repeat(64)}`, 'nope'])).toEqual([
        { given: layer.digest, ok: true, digest: layer.digest, size: layer.size },
        { given: `sha256:${'1'.repeat(64)}`, ok: false, reason: 'missing' },
        { given: 'nope', ok: false, reason: 'invalid-digest' },
      ]);
    });
  });

  describe('pushes by parts and whole manifests', () => {
    test('GIVEN an upload WHEN a part does not start where it ends, or it is completed empty THEN LAYER_PART_INVALID with the size, UPLOAD_EMPTY', async () => {
      const pushes = core.pushes!;
      const id = await pushes.startLayerUpload('team/parts');
      expect(await refusal(pushes.uploadLayerPart('team/parts', id, { first: 5, last: 6, bytes: Buffer.from('ab') }))).toMatchObject({ kind: 'LAYER_PART_INVALID', detail: { offset: 0 } });
      expect(await refusal(pushes.completeLayerUpload('team/parts', id, `sha256:${'0'.repeat(64)}`))).toMatchObject({ kind: 'UPLOAD_EMPTY', detail: { upload: id } });
      expect(await pushes.uploadLayerPart('team/parts', id, { first: 0, last: 1, bytes: Buffer.from('ab') })).toBe(2);
      expect(await refusal(pushes.uploadLayerPart('team/parts', id, { first: 2, last: 9, bytes: Buffer.from('cd') }))).toMatchObject({ kind: 'LAYER_PART_INVALID', detail: { offset: 2 } });
    });

    test('GIVEN a layer the repository holds WHEN an upload of it completes THEN LAYER_EXISTS and the upload is discarded', async () => {
      const image = makeImage({ layers: [10], seed: 'core-exists' });
      await pushImage('team/exists', image, 'v1');
      const layer = image.layers[0];
      const pushes = core.pushes!;
      const id = await pushes.startLayerUpload('team/exists');
      await pushes.uploadLayerPart('team/exists', id, { first: 0, last: layer.size - 1, bytes: layer.bytes });
      expect(await refusal(pushes.completeLayerUpload('team/exists', id, layer.digest))).toMatchObject({ kind: 'LAYER_EXISTS', detail: { digest: layer.digest } });
      expect(await refusal(registry.getUpload('team/exists', id))).toMatchObject({ kind: 'BLOB_UPLOAD_UNKNOWN' });
    });

    test('GIVEN a manifest WHEN put with another digest, then twice THEN DIGEST_INVALID, stored, IMAGE_EXISTS', async () => {
      const image = makeImage({ layers: [10], seed: 'core-put' });
      for (const blob of imageBlobs(image)) await pushBlob('team/put', blob);
      const pushes = core.pushes!;
      const other = tryParseDigest(`sha256:${'0'.repeat(64)}`)!;
      expect(await refusal(pushes.putImage('team/put', image.manifest.bytes, { tag: 'v1', digest: other }))).toMatchObject({ kind: 'DIGEST_INVALID' });
      expect(await pushes.putImage('team/put', image.manifest.bytes, { tag: 'v1', mediaType: image.manifest.mediaType })).toEqual({
        digest: image.manifest.digest,
        mediaType: image.manifest.mediaType,
      });
      expect(await refusal(pushes.putImage('team/put', image.manifest.bytes, { tag: 'v1' }))).toMatchObject({ kind: 'IMAGE_EXISTS', detail: { digest: image.manifest.digest, tag: 'v1' } });
    });
  });
});

describe('CachedRepositorySettings', () => {
  const settings: RepositorySettingsRecord = { ...DEFAULT_REPOSITORY_SETTINGS, createdAt: '2024-01-01T00:00:00.000Z' };

  /** A repository role in memory that counts its settings reads. */
  function countingStore(initial: Record<string, RepositorySettingsRecord> = { 'team/app': settings }) {
    const repositories = new Map(Object.entries(initial));
    const reads: string[] = [];
    let failNext = false;
    const store: RepositoryStore = {
      getRepository: async (name) => (repositories.has(name) ? { name, createdAt: settings.createdAt } : null),
      listRepositories: async () => ({ items: [...repositories.keys()], more: false }),
      createRepository: async (name, s: RepositorySettings) => {
        if (repositories.has(name)) return null;
        repositories.set(name, { ...s, createdAt: settings.createdAt });
        return repositories.get(name)!;
      },
      getRepositorySettings: async (name) => {
        reads.push(name);
        if (failNext) {
          failNext = false;
          throw new Error('throttled');
        }
        return repositories.get(name) ?? null;
      },
      updateRepositorySettings: async (name, update) => {
        const current = repositories.get(name);
        if (!current) return null;
        repositories.set(name, { ...update(current), createdAt: current.createdAt });
        return repositories.get(name)!;
      },
      deleteRepository: async (name) => (repositories.delete(name) ? { ok: true } : { ok: false, reason: 'unknown' }),
    };
    return { store, reads, failOnce: () => (failNext = true) };
  }

  test('GIVEN reads within the TTL THEN one store read (concurrent ones share it); after the TTL THEN read again', async () => {
    let clock = 0;
    const { store, reads } = countingStore();
    const cached = new CachedRepositorySettings(store, { ttlMs: 1000, now: () => clock });
    await Promise.all([cached.getRepositorySettings('team/app'), cached.getRepositorySettings('team/app')]);
    clock = 1000;
    await cached.getRepositorySettings('team/app');
    expect(reads).toHaveLength(1);
    clock = 1001;
    await cached.getRepositorySettings('team/app');
    expect(reads).toHaveLength(2);
  });

  test('GIVEN cached settings WHEN they are written through the decorator THEN the next read sees the write', async () => {
    const { store } = countingStore();
    const cached = new CachedRepositorySettings(store, { ttlMs: 60_000 });
    expect((await cached.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
    await cached.updateRepositorySettings('team/app', (current) => ({ ...current, imageTagMutability: 'IMMUTABLE' }));
    expect((await cached.getRepositorySettings('team/app'))?.imageTagMutability).toBe('IMMUTABLE');
    await cached.deleteRepository('team/app', true);
    expect(await cached.getRepositorySettings('team/app')).toBeNull();
    await cached.createRepository('team/app', { ...DEFAULT_REPOSITORY_SETTINGS, imageTagMutability: 'IMMUTABLE' });
    expect((await cached.getRepositorySettings('team/app'))?.imageTagMutability).toBe('IMMUTABLE');
  });

  test('GIVEN two containers over one store WHEN one changes a setting THEN the other control plane answers it at once (uncached view), and its own writes through that view still clear the cache', async () => {
    const { store } = countingStore();
    const containerA = new CachedRepositorySettings(store, { ttlMs: 60_000 });
    const containerB = new CachedRepositorySettings(store, { ttlMs: 60_000 });
    expect((await containerA.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
    await containerB.updateRepositorySettings('team/app', (current) => ({ ...current, imageTagMutability: 'IMMUTABLE' }));
    // The push path of A may lag by the TTL; its control plane may not.
    expect((await containerA.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
    const controlPlaneA = containerA.uncached();
    expect((await controlPlaneA.getRepositorySettings('team/app'))?.imageTagMutability).toBe('IMMUTABLE');
    expect((await containerA.getRepositorySettings('team/app'))?.imageTagMutability).toBe('IMMUTABLE');
    await controlPlaneA.updateRepositorySettings('team/app', (current) => ({ ...current, imageTagMutability: 'MUTABLE' }));
    expect((await containerA.getRepositorySettings('team/app'))?.imageTagMutability).toBe('MUTABLE');
  });

  test('GIVEN a repository that does not exist, or a failed read THEN neither is kept: the next read asks the store', async () => {
    const { store, reads, failOnce } = countingStore();
    const cached = new CachedRepositorySettings(store, { ttlMs: 60_000 });
    expect(await cached.getRepositorySettings('team/later')).toBeNull();
    expect(await cached.getRepositorySettings('team/later')).toBeNull();
    failOnce();
    await expect(cached.getRepositorySettings('team/app')).rejects.toThrow('throttled');
    expect(await cached.getRepositorySettings('team/app')).not.toBeNull();
    expect(reads).toEqual(['team/later', 'team/later', 'team/app', 'team/app']);
  });
});
