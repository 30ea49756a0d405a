/**
 * ECR's image actions over the core's Images (core/images.ts): ListImages, DescribeImages,
 * BatchGetImage, BatchDeleteImage. An image is a stored manifest; its ids are `{imageDigest}` and one
 * `{imageDigest, imageTag}` per tag naming it; imageSizeInBytes is the core's image size.
 *
 * - Pagination (`nextToken`) follows the manifests in digest order; a token may point inside the
 *   ids of one image (ListImages, an image with more tags than the page has room for).
 * - BatchDeleteImage by tag removes the tag, and the image with its last tag; by digest the image and
 *   every tag naming it. A deleted image's untagged referrers go with it (core/image-deletion.ts).
 * - DescribeImages' `imageScanStatus` and `imageScanFindingsSummary` come from the images' scan records,
 *   read in one batch per page (shaped in image-scans.ts).
 */
import type { ImageSizes, ResolvedImage } from '../../core/images';
import type { ImageRecord } from '../../core/model';
import type { ImageScanRecord } from '../../core/scanning/scan-records';
import type { EcrActionContext, EcrActionDefinition } from './types';
import { ecrError } from '../ecr-errors';
import { imageDetailScanMembers } from './image-scans';
import {
  decodeToken,
  encodeToken,
  epochSeconds,
  invalidParameter,
  maxResultsOf,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNameOf,
  requiredEnum,
  existingRepository,
  missingMember,
  serializationError,
  type Input,
} from './common';

type TagStatus = 'TAGGED' | 'UNTAGGED' | 'ANY';
interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

// ---- helpers -----------------------------------------------------------------------------------

function tagStatusOf(input: Input): TagStatus {
  const filter = optionalObject(input, 'filter');
  if (!filter || filter.tagStatus === undefined || filter.tagStatus === null) return 'ANY';
  return requiredEnum(filter, 'tagStatus', ['TAGGED', 'UNTAGGED', 'ANY'] as const);
}

type ImageStatusFilter = 'ACTIVE' | 'ARCHIVED' | 'ACTIVATING' | 'ANY';

/** ECR: "If not specified, only images with ACTIVE status are returned." (Berth restores at once: nothing is ever ACTIVATING.) */
function imageStatusOf(input: Input): ImageStatusFilter {
  const filter = optionalObject(input, 'filter');
  if (!filter || filter.imageStatus === undefined || filter.imageStatus === null) return 'ACTIVE';
  return requiredEnum(filter, 'imageStatus', ['ACTIVE', 'ARCHIVED', 'ACTIVATING', 'ANY'] as const);
}

const statusOf = (image: ImageRecord): 'ACTIVE' | 'ARCHIVED' => (image.storageClass === 'ARCHIVE' ? 'ARCHIVED' : 'ACTIVE');

function imageIdsOf(input: Input, required: boolean): ImageId[] | undefined {
  const list = optionalList(input, 'imageIds', 1, 100);
  if (!list) {
    if (required) throw missingMember('imageIds');
    return undefined;
  }
  return list.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw serializationError(`imageIds.${i + 1} must be an object`);
    const imageDigest = optionalString(entry as Input, 'imageDigest');
    const imageTag = optionalString(entry as Input, 'imageTag');
    return { ...(imageDigest !== undefined ? { imageDigest } : {}), ...(imageTag !== undefined ? { imageTag } : {}) };
  });
}

type Failure = { failureCode: string; failureReason: string };

/** What an image id names now, or ECR's failure code for it. */
async function resolve(context: EcrActionContext, repository: string, id: ImageId): Promise<{ ok: true; digest: string } | ({ ok: false } & Failure)> {
  const resolved = await context.options.operations.images.resolve(repository, { digest: id.imageDigest, tag: id.imageTag });
  return resolved.ok ? resolved : { ok: false, ...failureOf(resolved, id) };
}

function failureOf(resolved: Extract<ResolvedImage, { ok: false }>, id: ImageId): Failure {
  switch (resolved.reason) {
    case 'no-reference':
      return { failureCode: 'MissingDigestAndTag', failureReason: 'Missing image digest and tag' };
    case 'invalid-digest':
      return { failureCode: 'InvalidImageDigest', failureReason: 'Invalid image digest' };
    case 'invalid-tag':
      // The OCI grammar: a tag ECR's API would take (up to 300 characters) but no OCI client could address.
      return { failureCode: 'InvalidImageTag', failureReason: 'Invalid image tag: letters, digits, _ . - starting with a letter, digit or _, at most 128 characters' };
    case 'tag-mismatch':
      return { failureCode: 'ImageTagDoesNotMatchDigest', failureReason: `Invalid tag: tag ${id.imageTag} names ${resolved.tagged}, not ${id.imageDigest}` };
    case 'not-found':
      return notFound;
  }
}

const notFound: Failure = { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' };

const failure = (imageId: ImageId, r: { failureCode: string; failureReason: string }) => ({ imageId, failureCode: r.failureCode, failureReason: r.failureReason });

const referencedByIndex = (by: string[]) => ({
  failureCode: 'ImageReferencedByManifestList',
  failureReason: `Requested image is referenced by an image index (${by.slice(0, 5).join(', ')}): delete the index first`,
});

/** One image as ECR's ImageDetail; `scan` is its scan record (imageScanStatus, imageScanFindingsSummary), if it has one. */
async function imageDetail(context: EcrActionContext, repository: string, image: ImageRecord, sizes: ImageSizes, scan: ImageScanRecord | undefined): Promise<Record<string, unknown>> {
  return {
    registryId: context.options.registryAccount,
    repositoryName: repository,
    imageDigest: image.digest,
    ...(image.tags.length > 0 ? { imageTags: image.tags } : {}),
    imageSizeInBytes: await sizes.of(image),
    imagePushedAt: epochSeconds(image.pushedAt),
    ...imageDetailScanMembers(scan),
    imageManifestMediaType: image.mediaType,
    ...(image.artifactType !== undefined ? { artifactMediaType: image.artifactType } : {}),
    ...(image.lastPulledAt !== undefined ? { lastRecordedPullTime: epochSeconds(image.lastPulledAt) } : {}),
    ...(image.subject !== undefined ? { subjectManifestDigest: image.subject } : {}),
    imageStatus: statusOf(image),
    ...(image.lastArchivedAt !== undefined ? { lastArchivedAt: epochSeconds(image.lastArchivedAt) } : {}),
    ...(image.lastActivatedAt !== undefined ? { lastActivatedAt: epochSeconds(image.lastActivatedAt) } : {}),
  };
}

/** The details of a page of images, with their scan records read in one batch. */
async function imageDetails(context: EcrActionContext, repository: string, images: ImageRecord[], sizes: ImageSizes): Promise<Record<string, unknown>[]> {
  const scans = await context.options.operations.scans.records(
    repository,
    images.map((image) => image.digest),
  );
  const details: Record<string, unknown>[] = [];
  for (const image of images) details.push(await imageDetail(context, repository, image, sizes, scans.get(image.digest)));
  return details;
}

/**
 * One page of entries (`emit` turns an image into zero or more), following manifests in digest
 * order. The token is `{ after }` (continue after that digest) or `{ at, skip }` (inside that image's entries).
 */
async function pageOfImages<T>(
  context: EcrActionContext,
  repository: string,
  max: number,
  emit: (image: ImageRecord) => Promise<T[]> | T[],
): Promise<{ entries: T[]; nextToken?: string }> {
  const token = decodeToken(context.input);
  const entries: T[] = [];
  let cursor: string | undefined;
  if (token !== undefined) {
    const valid = (typeof token.after === 'string' && token.at === undefined) || (typeof token.at === 'string' && Number.isInteger(token.skip) && (token.skip as number) >= 0);
    if (!valid) throw invalidParameter('nextToken', 'the token is not one this registry issued');
    if (typeof token.after === 'string') cursor = token.after;
    else {
      const at = token.at as string;
      const image = await context.options.operations.images.image(repository, at);
      if (image) {
        const own = (await emit(image)).slice(token.skip as number);
        for (const [i, entry] of own.entries()) {
          if (entries.length === max) return { entries, nextToken: encodeToken({ at, skip: (token.skip as number) + i }) };
          entries.push(entry);
        }
      }
      cursor = at;
    }
  }
  for (;;) {
    const page = await context.options.operations.images.list(repository, { last: cursor, limit: Math.max(max, 10) });
    for (const image of page.items) {
      const own = await emit(image);
      for (const [i, entry] of own.entries()) {
        if (entries.length === max) return { entries, nextToken: encodeToken({ at: image.digest, skip: i }) };
        entries.push(entry);
      }
      cursor = image.digest;
    }
    if (!page.more) return { entries };
  }
}

const wanted = (status: TagStatus, imageStatus: ImageStatusFilter, image: ImageRecord) =>
  (status === 'ANY' || (status === 'TAGGED') === image.tags.length > 0) && (imageStatus === 'ANY' || imageStatus === statusOf(image));

// ---- the actions -------------------------------------------------------------------------------

export const IMAGE_ACTIONS: Record<string, EcrActionDefinition> = {
  ListImages: {
    iamAction: 'ecr:ListImages',
    repository: repositoryNameOf,
    async run(context) {
      const repository = await existingRepository(context);
      const status = tagStatusOf(context.input);
      const imageStatus = imageStatusOf(context.input);
      const max = maxResultsOf(context.input, 1000, 100);
      const { entries, nextToken } = await pageOfImages(context, repository, max, (image) => {
        if (!wanted(status, imageStatus, image)) return [];
        if (image.tags.length === 0) return [{ imageDigest: image.digest }];
        return image.tags.map((imageTag) => ({ imageDigest: image.digest, imageTag }));
      });
      return { imageIds: entries, ...(nextToken ? { nextToken } : {}) };
    },
  },

  DescribeImages: {
    iamAction: 'ecr:DescribeImages',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const sizes = options.operations.images.sizes(repository);
      const ids = imageIdsOf(input, false);
      if (ids) {
        if (input.nextToken !== undefined || input.maxResults !== undefined || input.filter !== undefined) {
          throw invalidParameter('imageIds', 'maxResults, nextToken and filter cannot be used together with imageIds');
        }
        const images = new Map<string, ImageRecord>();
        for (const id of ids) {
          const resolved = await resolve(context, repository, id);
          if (!resolved.ok && resolved.failureCode !== 'ImageNotFound' && resolved.failureCode !== 'ImageTagDoesNotMatchDigest') {
            throw invalidParameter('imageIds', resolved.failureReason);
          }
          const image = resolved.ok ? await options.operations.images.image(repository, resolved.digest) : null;
          if (!image) throw ecrError('ImageNotFoundException', { name: repository, account: options.registryAccount, digest: id.imageDigest, tag: id.imageTag });
          if (!images.has(image.digest)) images.set(image.digest, image);
        }
        return { imageDetails: await imageDetails(context, repository, [...images.values()], sizes) };
      }
      const status = tagStatusOf(input);
      const imageStatus = imageStatusOf(input);
      const max = maxResultsOf(input, 1000, 100);
      const { entries, nextToken } = await pageOfImages(context, repository, max, (image) => (wanted(status, imageStatus, image) ? [image] : []));
      return { imageDetails: await imageDetails(context, repository, entries, sizes), ...(nextToken ? { nextToken } : {}) };
    },
  },

  BatchGetImage: {
    iamAction: 'ecr:BatchGetImage',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const ids = imageIdsOf(input, true)!;
      const accepted = optionalList(input, 'acceptedMediaTypes', 1, 100);
      if (accepted && accepted.some((t) => typeof t !== 'string' || t.length < 1 || t.length > 255)) {
        throw invalidParameter('acceptedMediaTypes', 'each media type is a string of 1 to 255 characters');
      }
      const images: Record<string, unknown>[] = [];
      const failures: Record<string, unknown>[] = [];
      const seen = new Set<string>();
      for (const id of ids) {
        const key = `${id.imageDigest ?? ''} ${id.imageTag ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const resolved = await resolve(context, repository, id);
        if (!resolved.ok) {
          failures.push(failure(id, resolved));
          continue;
        }
        const manifest = await options.operations.images.manifest(repository, resolved.digest);
        if (!manifest) {
          failures.push(failure(id, notFound));
          continue;
        }
        if (manifest.storageClass === 'ARCHIVE') {
          failures.push(failure(id, { failureCode: 'ImageNotFound', failureReason: 'Requested image is archived: restore it with UpdateImageStorageClass first' }));
          continue;
        }
        if (accepted && !accepted.includes(manifest.mediaType)) {
          // Berth does not convert manifests (ECR converts schema 2 to schema 1 on request).
          failures.push(
            failure(id, { failureCode: 'ImageNotFound', failureReason: `Requested image has media type ${manifest.mediaType}, which is not among acceptedMediaTypes` }),
          );
          continue;
        }
        const body = await options.operations.images.bodyOf(manifest);
        if (!body) {
          failures.push(failure(id, { failureCode: 'ImageInaccessible', failureReason: 'The manifest body is not available through this endpoint' }));
          continue;
        }
        images.push({
          registryId: options.registryAccount,
          repositoryName: repository,
          imageId: { imageDigest: manifest.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) },
          imageManifest: Buffer.from(body).toString('utf8'),
          imageManifestMediaType: manifest.mediaType,
        });
      }
      return { images, failures };
    },
  },

  BatchDeleteImage: {
    iamAction: 'ecr:BatchDeleteImage',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const ids = imageIdsOf(input, true)!;
      const imageIds: ImageId[] = [];
      const failures: Record<string, unknown>[] = [];
      for (const id of ids) {
        const resolved = await resolve(context, repository, id);
        if (!resolved.ok) {
          failures.push(failure(id, resolved));
          continue;
        }
        if (id.imageTag !== undefined) {
          // By tag (with or without the digest it must name): the tag, and the image with its last tag.
          const result = await options.operations.images.deleteTag(repository, id.imageTag, resolved.digest);
          if (result.ok) imageIds.push({ imageDigest: resolved.digest, imageTag: id.imageTag });
          else if (result.reason === 'in-use') failures.push(failure(id, referencedByIndex(result.by)));
          else failures.push(failure(id, notFound));
          continue;
        }
        const tags = await options.operations.images.tags(repository, resolved.digest);
        const result = await options.operations.images.delete(repository, resolved.digest);
        if (result.ok) {
          if (tags.length === 0) imageIds.push({ imageDigest: resolved.digest });
          for (const imageTag of tags) imageIds.push({ imageDigest: resolved.digest, imageTag });
        } else if (result.reason === 'in-use') {
          failures.push(failure(id, referencedByIndex(result.by)));
        } else {
          failures.push(failure(id, notFound));
        }
      }
      return { imageIds, failures };
    },
  },
};
