/**
 * Image operations over the metadata store: what an image id names, an image's record and tags,
 * pages of images, sizes, manifest bodies, deletion (image-deletion.ts, the rule the OCI DELETE
 * shares), referrers and which layers a repository holds. The caller has checked that the
 * repository exists (Repositories.require), before or after its own input checks as its protocol orders them.
 *
 * - An image's size (ECR's imageSizeInBytes): an image manifest's config and layer sizes (from the
 *   repository's blob links: what was pushed, compressed), summed; an index: the largest of its
 *   children's sizes ("If the image is a manifest list, this will be the max size of all manifests
 *   in the list"). The manifest body itself is not counted, as in ECR.
 */
import type { BlobLinkStore, ImagePage, ImageStorageClassStore, ManifestStore, PageRequest, TagStore } from '../storage/ports';
import { tryParseDigest } from './digest';
import { deleteImage, deleteImageTag, type ImageDeletion } from './image-deletion';
import type { ImageRecord, ImageStorageClass, ManifestRecord, StoredManifest } from './model';
import { isValidTag } from './names';
import { DEFAULT_REFERRERS_PAGE_BYTES, readReferrerPage, type ReferrerPageRequest, type ReferrerPageResult } from './referrer-pages';

export type ImageStore = ManifestStore & TagStore & Pick<BlobLinkStore, 'statBlobLink'> & ImageStorageClassStore;

/** An image named by digest, tag or both (the tag must then name the digest). */
export interface ImageReference {
  digest?: string;
  tag?: string;
}

export type ResolvedImage =
  | { ok: true; digest: string }
  | { ok: false; reason: 'no-reference' | 'invalid-digest' | 'invalid-tag' | 'not-found' }
  /** The tag names another manifest, `tagged`. */
  | { ok: false; reason: 'tag-mismatch'; tagged: string };

export type LayerAvailability =
  /** `digest`: the layer's digest as the registry spells it. */
  | { given: string; ok: true; digest: string; size: number }
  | { given: string; ok: false; reason: 'invalid-digest' | 'missing' };

export interface ImagesOptions {
  store: ImageStore;
  /** Reads a manifest body the metadata store does not keep inline (Registry.readManifestBody). Without it such a body is unavailable. */
  readManifestBody?: (digest: string) => Promise<Uint8Array>;
  /** Most bytes of JSON in one referrers answer. @default 4 MiB */
  referrersPageBytes?: number;
}

export class Images {
  private readonly store: ImageStore;
  private readonly readManifestBody?: (digest: string) => Promise<Uint8Array>;
  readonly referrersPageBytes: number;

  constructor(options: ImagesOptions) {
    this.store = options.store;
    this.readManifestBody = options.readManifestBody;
    this.referrersPageBytes = options.referrersPageBytes ?? DEFAULT_REFERRERS_PAGE_BYTES;
  }

  /** What a reference names now. A tag is checked against the OCI grammar: one no OCI client could address is invalid here. */
  async resolve(repository: string, ref: ImageReference): Promise<ResolvedImage> {
    if (ref.digest === undefined && ref.tag === undefined) return { ok: false, reason: 'no-reference' };
    if (ref.digest !== undefined && !tryParseDigest(ref.digest)) return { ok: false, reason: 'invalid-digest' };
    if (ref.tag !== undefined && !isValidTag(ref.tag)) return { ok: false, reason: 'invalid-tag' };
    if (ref.tag !== undefined) {
      const digest = await this.store.resolveTag(repository, ref.tag);
      if (digest === null) return { ok: false, reason: 'not-found' };
      if (ref.digest !== undefined && digest !== ref.digest) return { ok: false, reason: 'tag-mismatch', tagged: digest };
      return { ok: true, digest };
    }
    if (!(await this.store.getManifest(repository, ref.digest!))) return { ok: false, reason: 'not-found' };
    return { ok: true, digest: ref.digest! };
  }

  /** An image's record with the tags naming it, or null. */
  async image(repository: string, digest: string): Promise<ImageRecord | null> {
    const manifest = await this.store.getManifest(repository, digest);
    if (!manifest) return null;
    const { body: _body, ...record } = manifest;
    return { ...record, tags: await this.store.getManifestTags(repository, digest) };
  }

  /** Images (with their tags) in digest byte order; `last` is a digest (exclusive). */
  list(repository: string, page: PageRequest): Promise<ImagePage> {
    return this.store.listManifests(repository, page);
  }

  /** The tags naming an image now. */
  tags(repository: string, digest: string): Promise<string[]> {
    return this.store.getManifestTags(repository, digest);
  }

  /** Sizes for one request (memoised: an index and its children share blobs). */
  sizes(repository: string): ImageSizes {
    return new ImageSizes(this.store, repository);
  }

  /** A stored manifest (record and, when kept inline, body), or null. */
  manifest(repository: string, digest: string): Promise<StoredManifest | null> {
    return this.store.getManifest(repository, digest);
  }

  /** A manifest's body, wherever it is kept; undefined when this deployment cannot read it. */
  async bodyOf(manifest: StoredManifest): Promise<Uint8Array | undefined> {
    return manifest.body ?? (this.readManifestBody ? await this.readManifestBody(manifest.digest) : undefined);
  }

  /**
   * Archives an image or restores it (ECR's UpdateImageStorageClass); the bytes stay where they are.
   * Archiving a referrer (a signature, an SBOM) is refused (`unsupported`): lifecycle never archives
   * one, and it stays pullable beside its archived subject (docs/lifecycle.md, "The archive state").
   */
  async setStorageClass(
    repository: string,
    digest: string,
    target: ImageStorageClass,
  ): Promise<{ ok: true } | { ok: false; reason: 'unknown' } | { ok: false; reason: 'unsupported'; why: string }> {
    const manifest = await this.store.getManifest(repository, digest);
    if (!manifest) return { ok: false, reason: 'unknown' };
    if (target === 'ARCHIVE' && manifest.subject !== undefined) {
      return { ok: false, reason: 'unsupported', why: `the image ${digest} is a referrer of ${manifest.subject}: archive its subject instead` };
    }
    const result = await this.store.setImageStorageClass(repository, digest, target, new Date().toISOString());
    return result.ok ? { ok: true } : result;
  }

  /** Deletes an image by digest with every tag naming it, and its untagged referrers. */
  delete(repository: string, digest: string): Promise<ImageDeletion> {
    return deleteImage(this.store, repository, digest);
  }

  /** Removes `tag` (which named `digest`); the image goes with its last tag. */
  deleteTag(repository: string, tag: string, digest: string): Promise<ImageDeletion> {
    return deleteImageTag(this.store, repository, tag, digest);
  }

  /** One page of a subject's referrers, within `referrersPageBytes` less what the answer adds around them (`envelopeBytes`). */
  referrers<T>(repository: string, subject: string, request: Omit<ReferrerPageRequest<T>, 'maxBytes'> & { envelopeBytes: number }): Promise<ReferrerPageResult<T>> {
    const { envelopeBytes, ...rest } = request;
    return readReferrerPage(this.store, repository, subject, { ...rest, maxBytes: this.referrersPageBytes - envelopeBytes });
  }

  /** Which of `digests` (duplicates once) the repository holds, with their sizes. */
  async layerAvailability(repository: string, digests: readonly string[]): Promise<LayerAvailability[]> {
    const answers: LayerAvailability[] = [];
    for (const given of new Set(digests)) {
      const digest = tryParseDigest(given);
      if (!digest) {
        answers.push({ given, ok: false, reason: 'invalid-digest' });
        continue;
      }
      const link = await this.store.statBlobLink(repository, digest.value);
      answers.push(link ? { given, ok: true, digest: digest.value, size: link.size } : { given, ok: false, reason: 'missing' });
    }
    return answers;
  }
}

/** Sizes as ECR reports them, memoised for one request. */
export class ImageSizes {
  private readonly blobSizes = new Map<string, Promise<number>>();
  private readonly manifestSizes = new Map<string, Promise<number>>();
  constructor(
    private readonly store: Pick<ManifestStore, 'getManifest'> & Pick<BlobLinkStore, 'statBlobLink'>,
    private readonly repository: string,
  ) {}

  of(record: Pick<ManifestRecord, 'digest' | 'blobs' | 'children'>, depth = 0): Promise<number> {
    let size = this.manifestSizes.get(record.digest);
    if (!size) {
      size = this.compute(record, depth);
      this.manifestSizes.set(record.digest, size);
    }
    return size;
  }

  private async compute(record: Pick<ManifestRecord, 'blobs' | 'children'>, depth: number): Promise<number> {
    if (record.children.length > 0) {
      if (depth > 2) return 0;
      let max = 0;
      for (const child of record.children) {
        const manifest = await this.store.getManifest(this.repository, child);
        if (manifest) max = Math.max(max, await this.of(manifest, depth + 1));
      }
      return max;
    }
    const sizes = await Promise.all(record.blobs.map((b) => this.blob(b)));
    return sizes.reduce((a, b) => a + b, 0);
  }

  private blob(digest: string): Promise<number> {
    let size = this.blobSizes.get(digest);
    if (!size) {
      size = this.store.statBlobLink(this.repository, digest).then((link) => link?.size ?? 0);
      this.blobSizes.set(digest, size);
    }
    return size;
  }
}
