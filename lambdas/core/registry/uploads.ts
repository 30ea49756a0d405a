/**
 * The Registry's uploads: starting, mounting, appending chunks under the upload's lock with a
 * running hash, committing on a matching digest, and purging the abandoned.
 */
import { randomUUID, type Hash } from 'node:crypto';
import type { ByteStream, UploadState } from '../model';
import { ContentBeingDeletedError, type BlobStore, type MetadataStore } from '../../storage/ports';
import { claimContent, claimForWriting, contentBusy } from '../content-claims';
import { ContentNotFoundError } from '../../storage/errors';
import { RegistryError } from '../errors';
import { createDigester, parseDigest, tryParseDigest, type DigestAlgorithm } from '../digest';
import { validateRepositoryName, isValidRepositoryName } from '../names';
import { parseContentRange, uploadRangeHeader } from '../ranges';
import { UploadHashes } from '../upload-hashes';
import { isStateFor, openSharedHash, type SharedHash } from '../shared-hash';
import { KeyedLock } from '../keyed-lock';
import { abortable } from '../abortable-stream';
import type { BlobInfo, ChunkRequest, EnsurePushTarget } from './types';

export interface RegistryUploadsOptions {
  blobs: BlobStore;
  metadata: MetadataStore;
  ensurePushTarget: EnsurePushTarget;
  maxBlobBytes: number;
  uploadLifetimeMs: number;
  shareHashState: boolean;
  canPull: (repository: string) => boolean | Promise<boolean>;
}

export class RegistryUploads {
  private readonly blobs: BlobStore;
  private readonly metadata: MetadataStore;
  private readonly ensurePushTarget: EnsurePushTarget;
  private readonly maxBlobBytes: number;
  private readonly uploadLifetimeMs: number;
  private readonly shareHashState: boolean;
  private readonly canPull: (repository: string) => boolean | Promise<boolean>;
  private readonly hashes = new UploadHashes();
  /** A request on an upload takes over from the one before it, whose body may have stalled: the client gave up on it. */
  private readonly uploadLocks = new KeyedLock(
    (id) =>
      new RegistryError('BLOB_UPLOAD_INVALID', 'another request on this upload took over before this one had its whole body; ask for the upload status and resume from its Range', {
        upload: id.slice(0, 64),
      }),
  );

  constructor(options: RegistryUploadsOptions) {
    this.blobs = options.blobs;
    this.metadata = options.metadata;
    this.ensurePushTarget = options.ensurePushTarget;
    this.maxBlobBytes = options.maxBlobBytes;
    this.uploadLifetimeMs = options.uploadLifetimeMs;
    this.shareHashState = options.shareHashState;
    this.canPull = options.canPull;
  }

  async startUpload(repository: string): Promise<UploadState> {
    validateRepositoryName(repository);
    await this.ensurePushTarget(repository);
    const state: UploadState = { id: randomUUID(), repository, offset: 0, startedAt: new Date().toISOString() };
    // Record first: bytes without a record could never be found again to be cleaned up.
    await this.metadata.createUpload(state);
    await this.blobs.startUpload(state.id);
    return state;
  }

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
      // Content the collector is deleting cannot be mounted: the client uploads it instead.
      if (!(await claimContent(this.metadata, digest.value))) return undefined;
      try {
        await this.metadata.linkBlob(repository, digest.value, link);
      } catch (err) {
        if (err instanceof ContentBeingDeletedError) return undefined;
        throw err;
      }
      return { digest: digest.value, size: link.size };
    }
    return undefined;
  }

  /**
   * Renews the repository's link to a blob it holds, as a mount of it would: a replication about to
   * name the blob in a manifest keeps it from the collector for a grace period. False when the
   * repository holds no such link (or the collector took the content meanwhile): the caller copies it.
   */
  async renewBlobLink(repository: string, digestText: string): Promise<boolean> {
    validateRepositoryName(repository);
    const digest = parseDigest(digestText);
    const link = await this.metadata.statBlobLink(repository, digest.value);
    if (!link || !(await claimContent(this.metadata, digest.value))) return false;
    try {
      await this.metadata.linkBlob(repository, digest.value, { size: link.size });
    } catch (err) {
      if (err instanceof ContentBeingDeletedError) return false;
      throw err;
    }
    return true;
  }

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
      // Claimed before the bytes go into place: the collector then leaves the content alone for its grace period.
      await claimForWriting(this.metadata, digest.value);
      await this.blobs.commitUpload(id, digest.value, state.offset);
      try {
        await this.metadata.linkBlob(repository, digest.value, { size: state.offset });
      } catch (err) {
        if (err instanceof ContentBeingDeletedError) throw contentBusy(digest.value);
        throw err;
      }
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

  async purgeStaleUploads(now: number): Promise<number> {
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
}

async function* tap(source: ByteStream, onChunk: (chunk: Uint8Array) => void): ByteStream {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}
