/**
 * The registry's rules, independent of transport and storage technology: what may be
 * uploaded, linked, stored, listed and deleted, and in which order, so that nothing is
 * visible before it is complete and nothing referenced is ever removed.
 */
import { randomUUID, type Hash } from 'node:crypto';
import type { ByteStream, RepositorySettings, StoredManifest, UploadState } from './model';
import type { BlobStore, MetadataStore, RepositoryStore } from '../storage/ports';
import { ContentNotFoundError, StorageLimitError } from '../storage/errors';
import { RegistryError } from './errors';
import { createDigester, parseDigest, tryParseDigest, type Digest, type DigestAlgorithm } from './digest';
import { validateRepositoryName, parseReference, isValidRepositoryName, type Reference } from './names';
import { MAX_MANIFEST_BYTES, parseManifest } from './manifest';
import { MediaTypes } from './media-types';
import { parseContentRange, parseRequestedRange, uploadRangeHeader, type InclusiveRange } from './ranges';
import { UploadHashes } from './upload-hashes';
import { isStateFor, openSharedHash, type SharedHash } from './shared-hash';
import { KeyedLock } from './keyed-lock';
import { abortable } from './abortable-stream';
import { LargeManifestBodies } from './large-manifest-bodies';
import { DEFAULT_REFERRERS_PAGE_BYTES, jsonBytes, readReferrerPage } from './referrer-pages';
import { silentLogger, type Logger } from './log';
import { Repositories, unknownRepository } from './repositories';
import { deleteImage } from './image-deletion';

/** Largest page a list answers with; a larger `n` is cut to this and the rest follows a `Link`. */
export const MAX_PAGE_SIZE = 1000;

/**
 * What a push to a repository that does not exist may do: `false` refuses it (NAME_UNKNOWN),
 * `true` creates the repository with the default settings (by its first link, as always), and
 * `{ settings, policy }` creates it with those (a repository creation template's).
 */
export type CreateOnPushDecision = boolean | { settings: RepositorySettings; policy?: string };

/** How often at most a pull of one image is recorded (ECR's `lastRecordedPullTime` granularity). */
export const PULL_RECORD_INTERVAL_MS = 60 * 60 * 1000;

export interface RegistryOptions {
  blobs: BlobStore;
  metadata: MetadataStore;
  /**
   * The repository role the Registry and whoever shares its `repositories` go through: a
   * CachedRepositorySettings over `metadata` in the composition roots. @default metadata
   */
  repositories?: RepositoryStore;
  /** Smallest chunk a chunked upload may send (except its last), advertised as `OCI-Chunk-Min-Length`. @default 0 */
  chunkMinLength?: number;
  /** Largest manifest accepted, in bytes. @default 4 MiB */
  maxManifestBytes?: number;
  /** Largest blob accepted, in bytes. @default 52,000 MiB (ECR's layer quota) */
  maxBlobBytes?: number;
  /** How long an unfinished upload is kept before purgeStaleUploads discards it. @default 24 hours */
  uploadLifetimeMs?: number;
  /**
   * Keep the running hash of an upload in the metadata store (exportable state) instead of
   * this process's memory: for deployments where an upload's requests land on different
   * processes (Lambda). Otherwise a commit whose hash was lost re-reads the bytes. @default false
   */
  shareHashState?: boolean;
  /** Whether a tag may never move once set (ECR's tag immutability). @default () => false */
  isTagImmutable?: (repository: string, tag: string) => boolean | Promise<boolean>;
  /** Most referrers in one answer; more follow a `Link`. @default 1000 */
  referrersPageSize?: number;
  /**
   * Most bytes of JSON in one referrers answer (at least one descriptor is always listed); more
   * follow a `Link`. Lower it where a transport cannot carry 4 MiB. @default 4 MiB
   */
  referrersPageBytes?: number;
  log?: Logger;
  /**
   * Consulted when a push (upload start, mount, manifest) names a repository that does not
   * exist. @default () => true (create on push, with the defaults)
   */
  mayCreateOnPush?: (repository: string) => CreateOnPushDecision | Promise<CreateOnPushDecision>;
  /**
   * Record manifest pulls (GET) for `lastRecordedPullTime`, at most once per image per
   * PULL_RECORD_INTERVAL_MS. @default true
   */
  recordPulls?: boolean;
  /** The clock (tests). @default Date.now */
  now?: () => number;
  /**
   * Whether the caller may read a repository, consulted before a cross-repository mount.
   * Until identities exist, everyone may read everything. @default () => true
   */
  canPull?: (repository: string) => boolean | Promise<boolean>;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export type BlobContent =
  | { kind: 'redirect'; digest: string; size: number; url: string }
  | { kind: 'bytes'; digest: string; size: number; range?: InclusiveRange; stream: ByteStream };

export interface ManifestContent {
  digest: string;
  mediaType: string;
  size: number;
  body: Uint8Array;
}

export interface ListPage {
  items: string[];
  /** Present when more items follow: the `n` and `last` of the next page. */
  next?: { n: number; last: string };
}

export interface ReferrersPage {
  index: { schemaVersion: 2; mediaType: string; manifests: object[] };
  filtered: boolean;
  /** Present when more referrers follow: the `last` of the next page. */
  nextLast?: string;
}

export interface ChunkRequest {
  body: ByteStream | null;
  contentRange?: string;
  contentLength?: number;
}

export class Registry {
  readonly chunkMinLength: number;
  readonly maxManifestBytes: number;
  readonly referrersPageSize: number;
  readonly referrersPageBytes: number;
  readonly maxBlobBytes: number;
  readonly uploadLifetimeMs: number;
  /** "The repository must exist", creation and settings: the rules the ECR control plane shares. */
  readonly repositories: Repositories;
  private readonly shareHashState: boolean;
  private readonly isTagImmutable: (repository: string, tag: string) => boolean | Promise<boolean>;
  private readonly blobs: BlobStore;
  private readonly largeBodies: LargeManifestBodies;
  private readonly metadata: MetadataStore;
  private readonly log: Logger;
  private readonly canPull: (repository: string) => boolean | Promise<boolean>;
  private readonly mayCreateOnPush?: (repository: string) => CreateOnPushDecision | Promise<CreateOnPushDecision>;
  private readonly recordPulls: boolean;
  private readonly now: () => number;
  /** Pulls recorded (or found recorded) by this process: `<repo>\0<digest>` -> epoch ms. */
  private readonly pullsNoted = new Map<string, number>();
  private readonly hashes = new UploadHashes();
  /** A request on an upload takes over from the one before it, whose body may have stalled: the client gave up on it. */
  private readonly uploadLocks = new KeyedLock(
    (id) =>
      new RegistryError('BLOB_UPLOAD_INVALID', 'another request on this upload took over before this one had its whole body; ask for the upload status and resume from its Range', {
        upload: id.slice(0, 64),
      }),
  );

  constructor(options: RegistryOptions) {
    this.blobs = options.blobs;
    this.metadata = options.metadata;
    this.repositories = new Repositories(options.repositories ?? options.metadata);
    this.chunkMinLength = options.chunkMinLength ?? 0;
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.referrersPageSize = options.referrersPageSize ?? MAX_PAGE_SIZE;
    this.referrersPageBytes = options.referrersPageBytes ?? DEFAULT_REFERRERS_PAGE_BYTES;
    this.maxBlobBytes = options.maxBlobBytes ?? 52_000 * 1024 * 1024;
    this.uploadLifetimeMs = options.uploadLifetimeMs ?? 24 * 60 * 60 * 1000;
    this.shareHashState = options.shareHashState ?? false;
    this.isTagImmutable = options.isTagImmutable ?? (() => false);
    this.log = options.log ?? silentLogger;
    this.largeBodies = new LargeManifestBodies(this.blobs, this.log);
    this.canPull = options.canPull ?? (() => true);
    this.mayCreateOnPush = options.mayCreateOnPush;
    this.recordPulls = options.recordPulls ?? true;
    this.now = options.now ?? Date.now;
  }

  /**
   * Makes sure a push may write to `repository`: it exists, or `mayCreateOnPush` lets the push
   * create it (with a template's settings, created here before anything is linked).
   */
  async ensurePushTarget(repository: string): Promise<void> {
    if (!this.mayCreateOnPush) return;
    if (await this.repositories.exists(repository)) return;
    const decision = await this.mayCreateOnPush(repository);
    if (decision === false) {
      throw unknownRepository(
        repository,
        `repository ${repository} does not exist and this registry does not create repositories on push: create it first (CreateRepository) or add a CREATE_ON_PUSH repository creation template matching it`,
      );
    }
    if (decision === true) return;
    // null: a racing push created it first, which is as good.
    const created = await this.repositories.createIfAbsent(repository, decision.settings);
    if (created && decision.policy !== undefined) await this.metadata.setRepositoryPolicy(repository, decision.policy);
  }

  // ---- blobs -------------------------------------------------------------------------

  async statBlob(repository: string, digestText: string): Promise<BlobInfo> {
    validateRepositoryName(repository);
    const digest = parseDigest(digestText);
    const link = await this.metadata.statBlobLink(repository, digest.value);
    if (!link) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest.value });
    return { digest: digest.value, size: link.size };
  }

  async readBlob(repository: string, digestText: string, rangeHeader?: string): Promise<BlobContent> {
    const { digest, size } = await this.statBlob(repository, digestText);
    const url = this.blobs.blobRedirectUrl ? await this.blobs.blobRedirectUrl(digest) : null;
    if (url) return { kind: 'redirect', digest, size, url };
    const range = parseRequestedRange(rangeHeader, size);
    try {
      const stream = await this.blobs.readBlob(digest, range);
      return { kind: 'bytes', digest, size, range, stream };
    } catch (err) {
      if (err instanceof ContentNotFoundError) {
        this.log.error('blob linked but its content is missing', { repository, digest });
        throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
      }
      throw err;
    }
  }

  /** The blob store's direct URL for a linked blob (a presigned S3 URL), or null when the registry serves it itself. */
  async blobDownloadUrl(repository: string, digestText: string): Promise<BlobInfo & { url: string | null }> {
    const info = await this.statBlob(repository, digestText);
    const url = this.blobs.blobRedirectUrl ? await this.blobs.blobRedirectUrl(info.digest) : null;
    return { ...info, url };
  }

  async deleteBlob(repository: string, digestText: string): Promise<void> {
    validateRepositoryName(repository);
    const digest = parseDigest(digestText);
    const result = await this.metadata.unlinkBlob(repository, digest.value);
    if (result.ok) return;
    if (result.reason === 'unknown') throw new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest.value });
    throw new RegistryError(
      'BLOB_IN_USE',
      `blob ${digest.value} is still used by manifest(s) ${result.by.join(', ')}: delete those manifests first`,
      { digest: digest.value, manifests: result.by },
    );
  }

  // ---- uploads -----------------------------------------------------------------------

  async startUpload(repository: string): Promise<UploadState> {
    validateRepositoryName(repository);
    await this.ensurePushTarget(repository);
    const state: UploadState = { id: randomUUID(), repository, offset: 0, startedAt: new Date().toISOString() };
    // Record first: bytes without a record could never be found again to be cleaned up.
    await this.metadata.createUpload(state);
    await this.blobs.startUpload(state.id);
    return state;
  }

  /**
   * Links a blob that already exists in `from` (or, without `from`, anywhere the caller
   * may read) into `repository` without copying bytes. Answers false when it cannot,
   * and the caller falls back to a normal upload.
   */
  async mountBlob(repository: string, digestText: string, from?: string): Promise<BlobInfo | undefined> {
    validateRepositoryName(repository);
    // A mount is a hint: one the registry cannot use, malformed digest included, becomes an upload (the spec's 202).
    const digest = tryParseDigest(digestText);
    if (!digest) return undefined;
    const candidates = from !== undefined ? (isValidRepositoryName(from) ? [from] : []) : await this.metadata.repositoriesWithBlob(digest.value, 16);
    for (const source of candidates) {
      const link = await this.metadata.statBlobLink(source, digest.value);
      if (!link || !(await this.canPull(source))) continue;
      await this.ensurePushTarget(repository);
      await this.metadata.linkBlob(repository, digest.value, link);
      return { digest: digest.value, size: link.size };
    }
    return undefined;
  }

  /** The single-request upload: `POST ?digest=` with the whole blob. */
  async uploadWhole(repository: string, digestText: string, request: ChunkRequest): Promise<BlobInfo> {
    validateRepositoryName(repository);
    parseDigest(digestText);
    const upload = await this.startUpload(repository);
    try {
      return await this.completeUpload(repository, upload.id, digestText, request);
    } catch (err) {
      await this.discardUpload(upload.id);
      throw err;
    }
  }

  async getUpload(repository: string, id: string): Promise<UploadState> {
    validateRepositoryName(repository);
    const state = await this.metadata.getUpload(id);
    if (!state || state.repository !== repository) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { upload: id.slice(0, 64) });
    return state;
  }

  async appendUpload(repository: string, id: string, request: ChunkRequest): Promise<UploadState> {
    return this.uploadLocks.run(id, async (signal) => {
      const state = await this.getUpload(repository, id);
      if (!request.body) return state;
      return this.writeChunk(state, { ...request, body: abortable(request.body, signal) }, 'sha256');
    });
  }

  async completeUpload(repository: string, id: string, digestText: string | undefined, request: ChunkRequest): Promise<BlobInfo> {
    if (digestText === undefined) throw new RegistryError('DIGEST_INVALID', 'the closing PUT must carry ?digest=<digest>');
    const digest = parseDigest(digestText);
    return this.uploadLocks.run(id, async (signal) => {
      let state = await this.getUpload(repository, id);
      if (request.body) state = await this.writeChunk(state, { ...request, body: abortable(request.body, signal) }, digest.algorithm);
      const actual = await this.digestUpload(state, digest.algorithm).catch(async (err) => {
        // A commit that stopped after moving the bytes into place (a crash, a failed link)
        // left the content stored under its digest: finish that commit instead of failing the retry.
        const stored = err instanceof RegistryError && err.kind === 'BLOB_UPLOAD_UNKNOWN' ? await this.blobs.statBlob(digest.value) : null;
        if (stored && stored.size === state.offset) return digest.value;
        throw err;
      });
      if (actual !== digest.value) {
        await this.discardUpload(id);
        throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${actual}, not ${digest.value}; the upload was discarded`, {
          expected: digest.value,
          actual,
        });
      }
      await this.blobs.commitUpload(id, digest.value, state.offset);
      await this.metadata.linkBlob(repository, digest.value, { size: state.offset });
      await this.metadata.deleteUpload(id);
      this.hashes.forget(id);
      return { digest: digest.value, size: state.offset };
    });
  }

  async cancelUpload(repository: string, id: string): Promise<void> {
    await this.uploadLocks.run(id, async () => {
      await this.getUpload(repository, id);
      await this.discardUpload(id);
    });
  }

  private async discardUpload(id: string): Promise<void> {
    this.hashes.forget(id);
    await this.blobs.abortUpload(id);
    await this.metadata.deleteUpload(id);
  }

  private async writeChunk(state: UploadState, request: ChunkRequest, algorithm: DigestAlgorithm): Promise<UploadState> {
    let expectedLength: number | undefined;
    if (request.contentRange !== undefined) {
      const range = parseContentRange(request.contentRange);
      if (range.start !== state.offset) {
        throw new RegistryError(
          'CHUNK_OUT_OF_ORDER',
          `chunk starts at byte ${range.start} but the upload holds ${state.offset} bytes: send the chunk that starts at ${state.offset}`,
          { offset: state.offset },
          { Range: uploadRangeHeader(state.offset) },
        );
      }
      expectedLength = range.end - range.start + 1;
      if (request.contentLength !== undefined && request.contentLength !== expectedLength) {
        throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range covers ${expectedLength} bytes but Content-Length is ${request.contentLength}`);
      }
    }
    const local: Hash | undefined = this.shareHashState
      ? undefined
      : (this.hashes.resume(state.id, algorithm, state.offset) ?? (state.offset === 0 ? createDigester(algorithm) : undefined));
    const shared: SharedHash | undefined = !this.shareHashState
      ? undefined
      : isStateFor(state.hashState, algorithm)
        ? await openSharedHash(algorithm, state.hashState)
        : state.offset === 0
          ? await openSharedHash(algorithm)
          : undefined;
    const hash = local ?? shared;
    if (request.contentLength !== undefined && state.offset + request.contentLength > this.maxBlobBytes) throw this.blobTooLarge();
    let received = 0;
    const counted = tap(request.body!, (chunk) => {
      received += chunk.length;
      if (state.offset + received > this.maxBlobBytes) throw this.blobTooLarge();
      hash?.update(chunk);
    });
    let size: number;
    try {
      size = await this.blobs.appendUpload(state.id, state.offset, counted);
    } catch (err) {
      if (err instanceof ContentNotFoundError) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { upload: state.id });
      throw err;
    }
    if (expectedLength !== undefined && received !== expectedLength) {
      throw new RegistryError('SIZE_INVALID', `Content-Range covers ${expectedLength} bytes but the body had ${received}`);
    }
    if (size !== state.offset + received) throw new Error(`upload ${state.id}: store reports ${size} bytes, expected ${state.offset + received}`);
    // The stored hash state always describes exactly `offset` bytes: both move in one write.
    const next = { offset: size, hashState: shared?.exportState() };
    const advanced = await this.metadata.advanceUpload(state.id, state.offset, next);
    if (!advanced) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload changed while this chunk was written; ask for its status and resume', { upload: state.id });
    if (local) this.hashes.save(state.id, algorithm, size, local);
    else this.hashes.forget(state.id);
    return { ...state, ...next };
  }

  private blobTooLarge(): RegistryError {
    return new RegistryError('BLOB_TOO_LARGE', `a blob may hold at most ${this.maxBlobBytes} bytes`);
  }

  /**
   * Discards uploads started more than `uploadLifetimeMs` ago: abandoned pushes would
   * otherwise hold their bytes forever (the spec asks registries to time them out). One that
   * a request is using is left for the next round: waiting on it (a body that may stall until
   * the server cuts it) would hold up the purge of every other.
   */
  async purgeStaleUploads(now = Date.now()): Promise<number> {
    const before = new Date(now - this.uploadLifetimeMs).toISOString();
    let purged = 0;
    const busy = new Set<string>();
    for (;;) {
      // The store has no cursor: ask for as many more as were skipped, so the busy ones cannot fill every page.
      const stale = (await this.metadata.listUploadsStartedBefore(before, 100 + busy.size)).filter((upload) => !busy.has(upload.id));
      if (stale.length === 0) return purged;
      for (const upload of stale) {
        if (await this.uploadLocks.runIfFree(upload.id, () => this.discardUpload(upload.id))) purged++;
        else busy.add(upload.id);
      }
    }
  }

  /** The digest of what an upload holds: from the running hash, or by reading the bytes again. */
  private async digestUpload(state: UploadState, algorithm: DigestAlgorithm): Promise<string> {
    const running = this.hashes.resume(state.id, algorithm, state.offset);
    if (running) return `${algorithm}:${running.digest('hex')}`;
    if (isStateFor(state.hashState, algorithm)) return `${algorithm}:${(await openSharedHash(algorithm, state.hashState)).digestHex()}`;
    const hash = createDigester(algorithm);
    try {
      for await (const chunk of await this.blobs.readUpload(state.id, state.offset)) hash.update(chunk);
    } catch (err) {
      if (err instanceof ContentNotFoundError || (err as NodeJS.ErrnoException)?.code === 'ENOENT') {
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { upload: state.id });
      }
      throw err;
    }
    return `${algorithm}:${hash.digest('hex')}`;
  }

  // ---- manifests ---------------------------------------------------------------------

  async putManifest(repository: string, reference: string, body: Uint8Array, contentType: string | undefined): Promise<{ digest: string; subject?: string }> {
    validateRepositoryName(repository);
    const ref = parseReference(reference);
    if (body.byteLength > this.maxManifestBytes) throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than ${this.maxManifestBytes} bytes`);
    const parsed = parseManifest(body, contentType);
    const algorithm = ref.kind === 'digest' ? ref.digest.algorithm : 'sha256';
    const digest = `${algorithm}:${createDigester(algorithm).update(body).digest('hex')}`;
    if (ref.kind === 'digest' && ref.digest.value !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest body has digest ${digest}, not ${ref.digest.value}`, { expected: ref.digest.value, actual: digest });
    }
    const inline = body.byteLength <= this.metadata.inlineManifestLimit;
    const record: StoredManifest = {
      digest,
      mediaType: parsed.mediaType,
      size: body.byteLength,
      blobs: parsed.blobs,
      children: parsed.children,
      pushedAt: new Date().toISOString(),
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(parsed.artifactType !== undefined ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.annotations !== undefined ? { annotations: parsed.annotations } : {}),
      ...(inline ? { body } : {}),
    };
    const tag = ref.kind === 'tag' ? ref.tag : undefined;
    // A manifest needing no blobs (an empty index, an artifact) could otherwise create the repository.
    if (parsed.blobs.length === 0 && parsed.children.length === 0) await this.ensurePushTarget(repository);
    const immutableTag = tag !== undefined && (await this.isTagImmutable(repository, tag));
    const commit = () => this.metadata.putManifest(repository, record, tag, { immutableTag });
    // A body kept in the blob store must be there before the commit, but only stays if the commit happens.
    const stored = inline ? commit() : this.largeBodies.storeAround(digest, body, commit, (result) => result.ok);
    const result = await stored.catch((err) => {
      if (err instanceof StorageLimitError) throw new RegistryError('MANIFEST_INVALID', `this registry cannot store the manifest: ${err.message}`);
      throw err;
    });
    if (!result.ok && 'tagHeldBy' in result) {
      throw new RegistryError('TAG_IMMUTABLE', `tag ${tag} is immutable in repository ${repository} and already names ${result.tagHeldBy}: push under a new tag`, {
        tag,
        digest: result.tagHeldBy,
      });
    }
    if (!result.ok) {
      const missing = [...result.missingBlobs.map((d) => `blob ${d}`), ...result.missingManifests.map((d) => `manifest ${d}`)];
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references content not in repository ${repository}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, {
        blobs: result.missingBlobs,
        manifests: result.missingManifests,
      });
    }
    return { digest, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  /** Manifest metadata without the body, for HEAD. */
  async statManifest(repository: string, reference: string): Promise<StoredManifest> {
    validateRepositoryName(repository);
    const ref = readableReference(reference);
    if (!ref) throw await this.unknownManifest(repository, reference);
    // One metadata read either way (a tag's record comes with the tag): the hot path of every pull.
    const manifest = ref.kind === 'digest' ? await this.metadata.getManifest(repository, ref.digest.value) : await this.metadata.getTaggedManifest(repository, ref.tag);
    if (manifest) return manifest;
    throw await this.unknownManifest(repository, reference);
  }

  async getManifest(repository: string, reference: string): Promise<ManifestContent> {
    const manifest = await this.statManifest(repository, reference);
    if (this.recordPulls) await this.notePull(repository, manifest);
    const body = manifest.body ?? (await this.readManifestBody(manifest.digest));
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size, body: body };
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    validateRepositoryName(repository);
    const ref = readableReference(reference);
    if (!ref) throw await this.unknownManifest(repository, reference);
    if (ref.kind === 'tag') {
      if (!(await this.metadata.deleteTag(repository, ref.tag))) throw await this.unknownManifest(repository, reference);
      return;
    }
    // The OCI DELETE by digest leaves the manifest's referrers (the spec's dangling subject).
    const result = await deleteImage(this.metadata, repository, ref.digest.value, { referrers: 'keep' });
    if (result.ok) return;
    if (result.reason === 'unknown') throw await this.unknownManifest(repository, reference);
    throw new RegistryError(
      'MANIFEST_IN_USE',
      `manifest ${ref.digest.value} is still referenced by image index(es) ${result.by.join(', ')}: delete the index first`,
      { digest: ref.digest.value, indexes: result.by },
    );
  }

  /**
   * Records a pull for `lastRecordedPullTime`, at most once per image per PULL_RECORD_INTERVAL_MS:
   * skipped when the record read for the pull (or this process's memory) shows a recent one, and
   * otherwise a conditional update that only writes when the stored time is older than that. A
   * failure is logged, never the pull's failure.
   */
  private async notePull(repository: string, manifest: StoredManifest): Promise<void> {
    const now = this.now();
    const since = now - PULL_RECORD_INTERVAL_MS;
    if (manifest.lastPulledAt !== undefined && Date.parse(manifest.lastPulledAt) > since) return;
    const key = `${repository}\u0000${manifest.digest}`;
    const noted = this.pullsNoted.get(key);
    if (noted !== undefined && noted > since) return;
    this.pullsNoted.delete(key);
    this.pullsNoted.set(key, now);
    if (this.pullsNoted.size > 10_000) this.pullsNoted.delete(this.pullsNoted.keys().next().value as string);
    try {
      await this.metadata.recordImagePull(repository, manifest.digest, new Date(now).toISOString(), new Date(since + 1).toISOString());
    } catch (error) {
      this.pullsNoted.delete(key);
      this.log.warn('recording a pull failed', { repository, digest: manifest.digest, error });
    }
  }

  private async unknownManifest(repository: string, reference: string): Promise<RegistryError> {
    if (!(await this.repositories.exists(repository))) return unknownRepository(repository);
    return new RegistryError('MANIFEST_UNKNOWN', undefined, { reference });
  }

  /** The body of a committed manifest that was too large to keep inline (ECR's BatchGetImage reads it too). */
  async readManifestBody(digest: string): Promise<Uint8Array> {
    return this.largeBodies.read(digest);
  }

  // ---- listings ----------------------------------------------------------------------

  async listTags(repository: string, n: string | undefined, last: string | undefined): Promise<ListPage> {
    validateRepositoryName(repository);
    await this.repositories.require(repository);
    const limit = pageSize(n);
    if (limit === 0) return { items: [] };
    return toListPage(await this.metadata.listTags(repository, { last, limit }), limit);
  }

  async listRepositories(n: string | undefined, last: string | undefined): Promise<ListPage> {
    const limit = pageSize(n);
    if (limit === 0) return { items: [] };
    return toListPage(await this.metadata.listRepositories({ last, limit }), limit);
  }

  /**
   * Manifests whose `subject` is `digestText`, as an image index's descriptors, one page at a
   * time (ordered by referrer digest; `last` is the previous page's last digest). A page ends at
   * `referrersPageSize` descriptors or `referrersPageBytes` of JSON, whichever comes first.
   */
  async listReferrers(repository: string, digestText: string, options: { artifactType?: string; last?: string } = {}): Promise<ReferrersPage> {
    validateRepositoryName(repository);
    const digest: Digest = parseDigest(digestText);
    const { artifactType, last } = options;
    const index = { schemaVersion: 2 as const, mediaType: MediaTypes.ociIndex, manifests: [] as object[] };
    const page = await readReferrerPage(this.metadata, repository, digest.value, {
      after: last,
      matches: artifactType === undefined ? undefined : (r) => r.artifactType === artifactType,
      describe: (r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
        ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
      }),
      maxItems: this.referrersPageSize,
      maxBytes: this.referrersPageBytes - jsonBytes(index),
    });
    return {
      index: { ...index, manifests: page.items },
      filtered: artifactType !== undefined,
      ...(page.nextAfter !== undefined ? { nextLast: page.nextAfter } : {}),
    };
  }
}

/**
 * A reference to look a manifest up by, or null when it cannot name one: no manifest can exist
 * under an invalid tag or a malformed digest, so a read or delete of it is "not found" (404, as
 * the spec asks for a manifest that is not there); only a PUT refuses the spelling with 400.
 */
function readableReference(reference: string): Reference | null {
  try {
    return parseReference(reference);
  } catch (err) {
    if (err instanceof RegistryError) return null;
    throw err;
  }
}

function pageSize(n: string | undefined): number {
  if (n === undefined || n === '') return MAX_PAGE_SIZE;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 32) });
  return Math.min(Number(n), MAX_PAGE_SIZE);
}

function toListPage(page: { items: string[]; more: boolean }, limit: number): ListPage {
  if (!page.more || page.items.length === 0) return { items: page.items };
  return { items: page.items, next: { n: limit, last: page.items[page.items.length - 1] } };
}

async function* tap(source: ByteStream, onChunk: (chunk: Uint8Array) => void): ByteStream {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}
