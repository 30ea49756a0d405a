/**
 * ECR's layer actions and PutImage, through the Registry's upload and manifest functions so that
 * the same rules apply as to an OCI push (digest checks, tag immutability, blobs that must be in
 * the repository, create-on-push), plus ListImageReferrers over the metadata store.
 *
 * - InitiateLayerUpload starts an upload session (uploadId is the OCI upload's id, so either API
 *   could continue it); partSize is ECR's 20,971,520 bytes, also the largest part taken.
 * - UploadLayerPart: `layerPartBlob` is base64 in the JSON body; partFirstByte must be the number of
 *   bytes received so far and partLastByte - partFirstByte + 1 the part's length, otherwise
 *   InvalidLayerPartException carrying lastValidByteReceived (ECR's shape).
 * - CompleteLayerUpload takes one digest in `layerDigests` (ECR's list holds one in practice):
 *   EmptyUploadException for an upload without bytes, LayerAlreadyExistsException when the
 *   repository has the layer already (the session is discarded), InvalidLayerException when the
 *   bytes have another digest (the session is discarded, as an OCI upload is).
 * - GetDownloadUrlForLayer: the blob store's presigned URL where it has one (S3); otherwise the data
 *   plane's blob URL, which the caller fetches with its registry credentials (EcrApiOptions.layerDownloadUrl).
 */
import { bodyFromBytes } from '../body';
import { createHash } from 'node:crypto';
import { RegistryError } from '../../core/errors';
import { tryParseDigest } from '../../core/digest';
import { isValidTag } from '../../core/names';
import { MediaTypes } from '../../core/media-types';
import type { Registry } from '../../core/registry';
import { DEFAULT_REFERRERS_PAGE_BYTES, jsonBytes, readReferrerPage } from '../../core/referrer-pages';
import type { EcrActionContext, EcrActionDefinition } from '../ecr-api';
import {
  checkRegistryId,
  constraints,
  decodeToken,
  EcrApiError,
  encodeToken,
  invalidParameter,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNameOf,
  repositoryNotFound,
  requiredString,
  validationError,
  existingRepository,
  type Input,
} from './common';

/** ECR's part size: what InitiateLayerUpload advertises and the largest part UploadLayerPart takes. */
export const MAX_LAYER_PART_BYTES = 20_971_520;

const DIGEST_PATTERN = '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+';

/** ListImageReferrers' answer around its referrers, with the token of the longest digest a manifest has here (sha512). */
const LIST_REFERRERS_ENVELOPE_BYTES = jsonBytes({ referrers: [], nextToken: encodeToken({ after: `sha512:${'0'.repeat(128)}` }) });

function registryOf(context: EcrActionContext): Registry {
  const registry = context.options.registry;
  if (!registry) throw new EcrApiError('ServerException', 'this endpoint is not connected to a registry: layer actions and PutImage are not available here', 500);
  return registry;
}

function uploadIdOf(input: Input): string {
  const id = requiredString(input, 'uploadId');
  if (!/^[a-f0-9-]{1,128}$/i.test(id)) throw validationError('uploadId', id, 'Member must satisfy regular expression pattern: [a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}');
  return id;
}

function digestListOf(input: Input, member: string): string[] {
  const list = optionalList(input, member, 1, 100);
  if (!list) throw validationError(member, null, 'Member must not be null');
  return list.map((d, i) => {
    if (typeof d !== 'string') throw new EcrApiError('SerializationException', `${member}.${i + 1} must be a string`);
    return d;
  });
}

function integerOf(input: Input, member: string): number {
  const value = input[member];
  if (value === undefined || value === null) throw validationError(member, null, 'Member must not be null');
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new EcrApiError('SerializationException', `${member} must be an integer`);
  if (value < 0) throw validationError(member, value, 'Member must have value greater than or equal to 0');
  return value;
}

const uploadNotFound = (id: string, repository: string, account: string) =>
  new EcrApiError('UploadNotFoundException', `The upload with id '${id.slice(0, 128)}' does not exist in the repository with name '${repository}' in the registry with id '${account}'`);

/** A RegistryError from the core as the ECR exception that means the same, for the upload actions. */
function uploadError(err: unknown, context: EcrActionContext, repository: string, uploadId?: string): unknown {
  if (!(err instanceof RegistryError)) return err;
  const { registryAccount } = context.options;
  switch (err.kind) {
    case 'NAME_UNKNOWN':
      return new EcrApiError('RepositoryNotFoundException', `The repository with name '${repository}' does not exist in the registry with id '${registryAccount}': ${err.message}`);
    case 'BLOB_UPLOAD_UNKNOWN':
      return uploadNotFound(uploadId ?? '', repository, registryAccount);
    case 'DIGEST_INVALID':
      return new EcrApiError('InvalidLayerException', err.message);
    case 'BLOB_TOO_LARGE':
    case 'SIZE_INVALID':
    case 'BLOB_UPLOAD_INVALID':
      return new EcrApiError('InvalidLayerPartException', err.message, 400, { registryId: registryAccount, repositoryName: repository, uploadId });
    case 'NAME_INVALID':
      return invalidParameter('repositoryName', err.message);
    default:
      return err;
  }
}

/** A RegistryError from Registry.putManifest as PutImage's exceptions. */
function putImageError(err: unknown, context: EcrActionContext, repository: string): unknown {
  if (!(err instanceof RegistryError)) return err;
  const { registryAccount } = context.options;
  switch (err.kind) {
    case 'TAG_IMMUTABLE':
      return new EcrApiError('ImageTagAlreadyExistsException', err.message);
    case 'MANIFEST_BLOB_UNKNOWN': {
      const detail = (err.detail ?? {}) as { blobs?: string[]; manifests?: string[] };
      if ((detail.blobs?.length ?? 0) > 0) {
        return new EcrApiError('LayersNotFoundException', `The following layers are not in repository '${repository}': ${detail.blobs!.slice(0, 10).join(', ')}; upload them first`);
      }
      return new EcrApiError('ReferencedImagesNotFoundException', `The following images referenced by the index are not in repository '${repository}': ${(detail.manifests ?? []).slice(0, 10).join(', ')}`);
    }
    case 'DIGEST_INVALID':
      return new EcrApiError('ImageDigestDoesNotMatchException', err.message);
    case 'MANIFEST_INVALID':
    case 'MANIFEST_TOO_LARGE':
    case 'TAG_INVALID':
    case 'NAME_INVALID':
    case 'UNSUPPORTED':
      return invalidParameter('imageManifest', err.message);
    case 'NAME_UNKNOWN':
      return repositoryNotFound(repository, registryAccount);
    default:
      return err;
  }
}

const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export const LAYER_ACTIONS: Record<string, EcrActionDefinition> = {
  BatchCheckLayerAvailability: {
    iamAction: 'ecr:BatchCheckLayerAvailability',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const digests = digestListOf(input, 'layerDigests');
      const layers: Record<string, unknown>[] = [];
      const failures: Record<string, unknown>[] = [];
      for (const layerDigest of [...new Set(digests)]) {
        const digest = tryParseDigest(layerDigest);
        if (!digest) {
          failures.push({ layerDigest, failureCode: 'InvalidLayerDigest', failureReason: `Invalid layer digest: ${DIGEST_PATTERN} expected` });
          continue;
        }
        const link = await options.store.statBlobLink(repository, digest.value);
        if (!link) failures.push({ layerDigest, failureCode: 'MissingLayerDigest', failureReason: 'Layer not found in the repository' });
        else layers.push({ layerDigest: digest.value, layerAvailability: 'AVAILABLE', layerSize: link.size, mediaType: LAYER_MEDIA_TYPE });
      }
      return { layers, failures };
    },
  },

  GetDownloadUrlForLayer: {
    iamAction: 'ecr:GetDownloadUrlForLayer',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options, request } = context;
      const repository = await existingRepository(context);
      const layerDigest = requiredString(input, 'layerDigest');
      const digest = tryParseDigest(layerDigest);
      if (!digest) throw invalidParameter('layerDigest', `${DIGEST_PATTERN} expected`);
      let url: string | null;
      try {
        url = (await registryOf(context).blobDownloadUrl(repository, digest.value)).url;
      } catch (err) {
        if (err instanceof RegistryError && err.kind === 'BLOB_UNKNOWN') {
          throw new EcrApiError('LayersNotFoundException', `The layer '${digest.value}' does not exist in the repository with name '${repository}' in the registry with id '${options.registryAccount}'`);
        }
        throw err;
      }
      const downloadUrl = url ?? (options.layerDownloadUrl ? await options.layerDownloadUrl(request, repository, digest.value) : `${options.proxyEndpoint(request)}/v2/${repository}/blobs/${digest.value}`);
      return { downloadUrl, layerDigest: digest.value };
    },
  },

  InitiateLayerUpload: {
    iamAction: 'ecr:InitiateLayerUpload',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repository = repositoryNameOf(input);
      const registry = registryOf(context);
      try {
        // As an OCI push: a repository that does not exist is created if create-on-push (or a template) allows.
        const upload = await registry.startUpload(repository);
        return { uploadId: upload.id, partSize: Math.min(options.layerPartSize ?? MAX_LAYER_PART_BYTES, MAX_LAYER_PART_BYTES) };
      } catch (err) {
        throw uploadError(err, context, repository);
      }
    },
  },

  UploadLayerPart: {
    iamAction: 'ecr:UploadLayerPart',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repository = repositoryNameOf(input);
      const uploadId = uploadIdOf(input);
      const first = integerOf(input, 'partFirstByte');
      const last = integerOf(input, 'partLastByte');
      const blobText = requiredString(input, 'layerPartBlob');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(blobText)) throw new EcrApiError('SerializationException', 'layerPartBlob must be base64');
      const bytes = Buffer.from(blobText, 'base64');
      const registry = registryOf(context);
      const fields = (offset: number) => ({ registryId: options.registryAccount, repositoryName: repository, uploadId, lastValidByteReceived: offset - 1 });
      let state;
      try {
        state = await registry.getUpload(repository, uploadId);
      } catch (err) {
        throw uploadError(err, context, repository, uploadId);
      }
      if (bytes.length === 0) throw new EcrApiError('InvalidLayerPartException', 'The layer part is empty', 400, fields(state.offset));
      if (bytes.length > MAX_LAYER_PART_BYTES) {
        throw new EcrApiError('InvalidLayerPartException', `A layer part holds at most ${MAX_LAYER_PART_BYTES} bytes; this one has ${bytes.length}`, 400, fields(state.offset));
      }
      if (first !== state.offset) {
        throw new EcrApiError(
          'InvalidLayerPartException',
          `The part starts at byte ${first} but the upload holds ${state.offset} bytes: send the part that starts at byte ${state.offset}`,
          400,
          fields(state.offset),
        );
      }
      if (last - first + 1 !== bytes.length) {
        throw new EcrApiError('InvalidLayerPartException', `partFirstByte..partLastByte cover ${last - first + 1} bytes but the part has ${bytes.length}`, 400, fields(state.offset));
      }
      try {
        const next = await registry.appendUpload(repository, uploadId, { body: bodyFromBytes(bytes), contentRange: `${first}-${last}`, contentLength: bytes.length });
        return { registryId: options.registryAccount, repositoryName: repository, uploadId, lastByteReceived: next.offset - 1 };
      } catch (err) {
        if (err instanceof RegistryError && err.kind === 'CHUNK_OUT_OF_ORDER') {
          const offset = (err.detail as { offset?: number } | undefined)?.offset ?? 0;
          throw new EcrApiError('InvalidLayerPartException', err.message, 400, fields(offset));
        }
        throw uploadError(err, context, repository, uploadId);
      }
    },
  },

  CompleteLayerUpload: {
    iamAction: 'ecr:CompleteLayerUpload',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repository = repositoryNameOf(input);
      const uploadId = uploadIdOf(input);
      const digests = digestListOf(input, 'layerDigests');
      if (digests.length !== 1) throw invalidParameter('layerDigests', 'give exactly one digest, that of the uploaded layer');
      const digest = tryParseDigest(digests[0]);
      if (!digest) throw new EcrApiError('InvalidLayerException', `'${digests[0].slice(0, 200)}' is not a digest (${DIGEST_PATTERN})`);
      const registry = registryOf(context);
      try {
        const state = await registry.getUpload(repository, uploadId);
        if (state.offset === 0) throw new EcrApiError('EmptyUploadException', `The upload with id '${uploadId}' holds no bytes: upload the layer with UploadLayerPart first`);
        if (await options.store.statBlobLink(repository, digest.value)) {
          await registry.cancelUpload(repository, uploadId);
          throw new EcrApiError('LayerAlreadyExistsException', `The layer '${digest.value}' already exists in the repository with name '${repository}' in the registry with id '${options.registryAccount}'`);
        }
        const done = await registry.completeUpload(repository, uploadId, digest.value, { body: null });
        return { registryId: options.registryAccount, repositoryName: repository, uploadId, layerDigest: done.digest };
      } catch (err) {
        throw uploadError(err, context, repository, uploadId);
      }
    },
  },

  PutImage: {
    iamAction: 'ecr:PutImage',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const manifestText = requiredString(input, 'imageManifest');
      if (manifestText.length < 1) throw validationError('imageManifest', manifestText, constraints.minLength(1));
      if (manifestText.length > 4_194_304) throw validationError('imageManifest', manifestText.slice(0, 100), constraints.maxLength(4_194_304));
      const mediaType = optionalString(input, 'imageManifestMediaType');
      const imageTag = optionalString(input, 'imageTag');
      const imageDigest = optionalString(input, 'imageDigest');
      if (imageTag !== undefined && !isValidTag(imageTag)) {
        throw invalidParameter('imageTag', 'a tag is 1 to 128 letters, digits, _ . - starting with a letter, digit or _ (the OCI grammar)');
      }
      const body = Buffer.from(manifestText, 'utf8');
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (imageDigest !== undefined) {
        const given = tryParseDigest(imageDigest);
        if (!given) throw invalidParameter('imageDigest', `${DIGEST_PATTERN} expected`);
        const actual = given.algorithm === 'sha256' ? digest : `${given.algorithm}:${createHash(given.algorithm).update(body).digest('hex')}`;
        if (actual !== given.value) throw new EcrApiError('ImageDigestDoesNotMatchException', `The manifest has digest ${actual}, not ${given.value}`);
      }
      const finalDigest = imageDigest ?? digest;
      // Nothing would change: ECR's ImageAlreadyExistsException.
      const stored = await options.store.getManifest(repository, finalDigest);
      if (stored && (imageTag === undefined || (await options.store.resolveTag(repository, imageTag)) === finalDigest)) {
        throw new EcrApiError(
          'ImageAlreadyExistsException',
          `Image with digest '${finalDigest}'${imageTag !== undefined ? ` and tag '${imageTag}'` : ''} already exists in the repository with name '${repository}' in the registry with id '${options.registryAccount}'`,
        );
      }
      const registry = registryOf(context);
      let result;
      try {
        result = await registry.putManifest(repository, imageTag ?? finalDigest, body, mediaType);
      } catch (err) {
        throw putImageError(err, context, repository);
      }
      const record = await options.store.getManifest(repository, result.digest);
      return {
        image: {
          registryId: options.registryAccount,
          repositoryName: repository,
          imageId: { imageDigest: result.digest, ...(imageTag !== undefined ? { imageTag } : {}) },
          imageManifest: manifestText,
          imageManifestMediaType: record?.mediaType ?? mediaType ?? MediaTypes.ociManifest,
        },
      };
    },
  },

  ListImageReferrers: {
    iamAction: 'ecr:ListImageReferrers',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const subjectId = optionalObject(input, 'subjectId');
      if (!subjectId) throw validationError('subjectId', null, 'Member must not be null');
      const subject = requiredString(subjectId, 'imageDigest');
      const parsed = tryParseDigest(subject);
      if (!parsed) throw invalidParameter('subjectId.imageDigest', `${DIGEST_PATTERN} expected`);
      const filter = optionalObject(input, 'filter');
      const artifactTypes = filter ? optionalList(filter, 'artifactTypes', 1, 5) : undefined;
      if (artifactTypes?.some((t) => typeof t !== 'string')) throw new EcrApiError('SerializationException', 'filter.artifactTypes must be a list of strings');
      const status = filter ? optionalString(filter, 'artifactStatus') : undefined;
      if (status !== undefined && !['ACTIVE', 'ARCHIVED', 'ACTIVATING', 'ANY'].includes(status)) {
        throw validationError('filter.artifactStatus', status, 'Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]');
      }
      const value = input.maxResults;
      let max = 20;
      if (value !== undefined && value !== null) {
        if (typeof value !== 'number' || !Number.isInteger(value)) throw new EcrApiError('SerializationException', 'maxResults must be an integer');
        if (value < 1 || value > 50) throw validationError('maxResults', value, 'Member must have value less than or equal to 50 and greater than or equal to 1');
        max = value;
      }
      const token = decodeToken(input);
      const after = token === undefined ? undefined : typeof token.after === 'string' ? token.after : undefined;
      if (token !== undefined && after === undefined) throw invalidParameter('nextToken', 'the token is not one this registry issued');
      // Berth has no archive: every referrer is ACTIVE, and ARCHIVED / ACTIVATING select none.
      if (status === 'ARCHIVED' || status === 'ACTIVATING') return { referrers: [] };
      // Fifty referrers may carry megabytes of annotations each: the answer has the OCI listing's
      // byte budget too (on AWS what fits a Lambda response), and a shorter page has a nextToken.
      const budget = options.registry?.referrersPageBytes ?? DEFAULT_REFERRERS_PAGE_BYTES;
      const page = await readReferrerPage(options.store, repository, parsed.value, {
        after,
        matches: artifactTypes ? (r) => r.artifactType !== undefined && artifactTypes.includes(r.artifactType) : undefined,
        describe: (r) => ({
          digest: r.digest,
          mediaType: r.mediaType,
          ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
          size: r.size,
          ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
          artifactStatus: 'ACTIVE',
        }),
        maxItems: max,
        maxBytes: budget - LIST_REFERRERS_ENVELOPE_BYTES,
      });
      return { referrers: page.items, ...(page.nextAfter !== undefined ? { nextToken: encodeToken({ after: page.nextAfter }) } : {}) };
    },
  },
};
