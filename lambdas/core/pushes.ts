/**
 * Pushing by parts and by whole manifest, as ECR's layer actions and PutImage do, through the
 * Registry's upload and manifest rules (digest checks, tag immutability, blobs that must be in the
 * repository, create-on-push), so that they hold as for an OCI push. The upload is the OCI upload:
 * either API could continue it.
 *
 * - A part must start at the bytes the upload holds, and its first and last byte must cover it
 *   exactly (LAYER_PART_INVALID, carrying the upload's size); a part is at most MAX_LAYER_PART_BYTES.
 * - Completing an upload without bytes is UPLOAD_EMPTY; completing one whose layer the repository
 *   has already is LAYER_EXISTS (the upload is discarded); a digest mismatch discards it (DIGEST_INVALID).
 * - A manifest put that would change nothing (the digest is stored and the tag, if any, names it)
 *   is IMAGE_EXISTS.
 */
import { createHash } from 'node:crypto';
import type { ByteStream } from './model';
import { DomainError } from './domain-errors';
import { RegistryError } from './errors';
import { MediaTypes } from './media-types';
import type { Digest } from './digest';
import type { BlobInfo, Registry } from './registry';
import type { ImageStore } from './images';

/** ECR's part size: what InitiateLayerUpload advertises and the largest part UploadLayerPart takes. */
export const MAX_LAYER_PART_BYTES = 20_971_520;

async function* once(bytes: Uint8Array): ByteStream {
  yield bytes;
}

export class Pushes {
  constructor(
    private readonly registry: Registry,
    private readonly store: Pick<ImageStore, 'getManifest' | 'resolveTag' | 'statBlobLink'>,
  ) {}

  /** The blob store's direct URL for a layer (null: the registry serves it); BLOB_UNKNOWN when the repository does not hold it. */
  async layerUrl(repository: string, digest: string): Promise<string | null> {
    return (await this.registry.blobDownloadUrl(repository, digest)).url;
  }

  /** Starts an upload; a repository that does not exist is created if create-on-push (or a template) allows, as for an OCI push. */
  async startLayerUpload(repository: string): Promise<string> {
    return (await this.registry.startUpload(repository)).id;
  }

  /** Appends one part (`first`..`last`, inclusive) and answers the upload's size. */
  async uploadLayerPart(repository: string, uploadId: string, part: { first: number; last: number; bytes: Uint8Array }): Promise<number> {
    const { first, last, bytes } = part;
    const state = await this.registry.getUpload(repository, uploadId);
    const invalid = (message: string) => new DomainError('LAYER_PART_INVALID', { offset: state.offset }, message);
    if (bytes.length === 0) throw invalid('The layer part is empty');
    if (bytes.length > MAX_LAYER_PART_BYTES) throw invalid(`A layer part holds at most ${MAX_LAYER_PART_BYTES} bytes; this one has ${bytes.length}`);
    if (first !== state.offset) {
      throw invalid(`The part starts at byte ${first} but the upload holds ${state.offset} bytes: send the part that starts at byte ${state.offset}`);
    }
    if (last - first + 1 !== bytes.length) throw invalid(`partFirstByte..partLastByte cover ${last - first + 1} bytes but the part has ${bytes.length}`);
    try {
      const next = await this.registry.appendUpload(repository, uploadId, { body: once(bytes), contentRange: `${first}-${last}`, contentLength: bytes.length });
      return next.offset;
    } catch (err) {
      // Another part won the race: the same refusal, with the size the upload has now.
      if (err instanceof RegistryError && err.kind === 'CHUNK_OUT_OF_ORDER') {
        throw new DomainError('LAYER_PART_INVALID', { offset: (err.detail as { offset?: number } | undefined)?.offset ?? 0 }, err.message);
      }
      throw err;
    }
  }

  /** Commits the upload as the layer `digest`. */
  async completeLayerUpload(repository: string, uploadId: string, digest: string): Promise<BlobInfo> {
    const state = await this.registry.getUpload(repository, uploadId);
    if (state.offset === 0) throw new DomainError('UPLOAD_EMPTY', { upload: uploadId });
    if (await this.store.statBlobLink(repository, digest)) {
      await this.registry.cancelUpload(repository, uploadId);
      throw new DomainError('LAYER_EXISTS', { name: repository, digest });
    }
    return this.registry.completeUpload(repository, uploadId, digest, { body: null });
  }

  /**
   * Stores a manifest under `tag` (or by digest alone). `digest`, when given, must be the body's
   * (DIGEST_INVALID); the answer is the stored digest and media type.
   */
  async putImage(repository: string, body: Uint8Array, options: { tag?: string; digest?: Digest; mediaType?: string }): Promise<{ digest: string; mediaType: string }> {
    const { tag, mediaType } = options;
    let digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (options.digest !== undefined) {
      const given = options.digest;
      const actual = given.algorithm === 'sha256' ? digest : `${given.algorithm}:${createHash(given.algorithm).update(body).digest('hex')}`;
      if (actual !== given.value) throw new RegistryError('DIGEST_INVALID', `The manifest has digest ${actual}, not ${given.value}`, { expected: given.value, actual });
      digest = given.value;
    }
    const stored = await this.store.getManifest(repository, digest);
    if (stored && (tag === undefined || (await this.store.resolveTag(repository, tag)) === digest)) {
      throw new DomainError('IMAGE_EXISTS', { name: repository, digest, ...(tag !== undefined ? { tag } : {}) });
    }
    const result = await this.registry.putManifest(repository, tag ?? digest, body, mediaType);
    const record = await this.store.getManifest(repository, result.digest);
    return { digest: result.digest, mediaType: record?.mediaType ?? mediaType ?? MediaTypes.ociManifest };
  }
}
