/**
 * ECR's layer actions and PutImage, through the core's Pushes (core/pushes.ts: the Registry's upload
 * and manifest rules, as for an OCI push), plus BatchCheckLayerAvailability and ListImageReferrers
 * over the core's Images.
 *
 * - InitiateLayerUpload starts an upload session (uploadId is the OCI upload's id, so either API
 *   could continue it); partSize is ECR's 20,971,520 bytes, also the largest part taken.
 * - UploadLayerPart: `layerPartBlob` is base64 in the JSON body; partFirstByte must be the number of
 *   bytes received so far and partLastByte - partFirstByte + 1 the part's length, otherwise
 *   InvalidLayerPartException carrying lastValidByteReceived (ECR's shape; ecr-errors.ts translates the core's refusal).
 * - CompleteLayerUpload takes one digest in `layerDigests` (ECR's list holds one in practice):
 *   EmptyUploadException for an upload without bytes, LayerAlreadyExistsException when the
 *   repository has the layer already (the session is discarded), InvalidLayerException when the
 *   bytes have another digest (the session is discarded, as an OCI upload is).
 * - GetDownloadUrlForLayer: the blob store's presigned URL where it has one (S3); otherwise the data
 *   plane's blob URL, which the caller fetches with its registry credentials (EcrApiOptions.layerDownloadUrl).
 */
import { tryParseDigest } from '../../core/digest';
import { isValidTag } from '../../core/names';
import { MAX_LAYER_PART_BYTES, type Pushes } from '../../core/pushes';
import { jsonBytes } from '../../core/referrer-pages';
import type { EcrActionContext, EcrActionDefinition } from './types';
import { ecrError } from '../ecr-errors';
import {
  checkRegistryId,
  constraints,
  decodeToken,
  encodeToken,
  invalidParameter,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNameOf,
  requiredString,
  serializationError,
  validationError,
  existingRepository,
  type Input,
} from './common';

export { MAX_LAYER_PART_BYTES } from '../../core/pushes';

const DIGEST_PATTERN = '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+';

/** ListImageReferrers' answer around its referrers, with the token of the longest digest a manifest has here (sha512). */
const LIST_REFERRERS_ENVELOPE_BYTES = jsonBytes({ referrers: [], nextToken: encodeToken({ after: `sha512:${'0'.repeat(128)}` }) });

function pushesOf(context: EcrActionContext): Pushes {
  const pushes = context.options.operations.pushes;
  if (!pushes) throw ecrError('ServerException', { detail: 'this endpoint is not connected to a registry: layer actions and PutImage are not available here' });
  return pushes;
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
    if (typeof d !== 'string') throw serializationError(`${member}.${i + 1} must be a string`);
    return d;
  });
}

function integerOf(input: Input, member: string): number {
  const value = input[member];
  if (value === undefined || value === null) throw validationError(member, null, 'Member must not be null');
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw serializationError(`${member} must be an integer`);
  if (value < 0) throw validationError(member, value, 'Member must have value greater than or equal to 0');
  return value;
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
      for (const layer of await options.operations.images.layerAvailability(repository, digests)) {
        if (layer.ok) layers.push({ layerDigest: layer.digest, layerAvailability: 'AVAILABLE', layerSize: layer.size, mediaType: LAYER_MEDIA_TYPE });
        else if (layer.reason === 'invalid-digest') failures.push({ layerDigest: layer.given, failureCode: 'InvalidLayerDigest', failureReason: `Invalid layer digest: ${DIGEST_PATTERN} expected` });
        else failures.push({ layerDigest: layer.given, failureCode: 'MissingLayerDigest', failureReason: 'Layer not found in the repository' });
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
      const url = await pushesOf(context).layerUrl(repository, digest.value);
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
      const uploadId = await pushesOf(context).startLayerUpload(repository);
      return { uploadId, partSize: Math.min(options.layerPartSize ?? MAX_LAYER_PART_BYTES, MAX_LAYER_PART_BYTES) };
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
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(blobText)) throw serializationError('layerPartBlob must be base64');
      const bytes = Buffer.from(blobText, 'base64');
      const size = await pushesOf(context).uploadLayerPart(repository, uploadId, { first, last, bytes });
      return { registryId: options.registryAccount, repositoryName: repository, uploadId, lastByteReceived: size - 1 };
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
      if (!digest) throw ecrError('InvalidLayerException', { detail: `'${digests[0].slice(0, 200)}' is not a digest (${DIGEST_PATTERN})` });
      const done = await pushesOf(context).completeLayerUpload(repository, uploadId, digest.value);
      return { registryId: options.registryAccount, repositoryName: repository, uploadId, layerDigest: done.digest };
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
      const given = imageDigest !== undefined ? tryParseDigest(imageDigest) : undefined;
      if (imageDigest !== undefined && !given) throw invalidParameter('imageDigest', `${DIGEST_PATTERN} expected`);
      const body = Buffer.from(manifestText, 'utf8');
      const stored = await pushesOf(context).putImage(repository, body, { tag: imageTag, digest: given, mediaType });
      return {
        image: {
          registryId: options.registryAccount,
          repositoryName: repository,
          imageId: { imageDigest: stored.digest, ...(imageTag !== undefined ? { imageTag } : {}) },
          imageManifest: manifestText,
          imageManifestMediaType: stored.mediaType,
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
      if (artifactTypes?.some((t) => typeof t !== 'string')) throw serializationError('filter.artifactTypes must be a list of strings');
      const status = filter ? optionalString(filter, 'artifactStatus') : undefined;
      if (status !== undefined && !['ACTIVE', 'ARCHIVED', 'ACTIVATING', 'ANY'].includes(status)) {
        throw validationError('filter.artifactStatus', status, 'Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]');
      }
      const value = input.maxResults;
      let max = 20;
      if (value !== undefined && value !== null) {
        if (typeof value !== 'number' || !Number.isInteger(value)) throw serializationError('maxResults must be an integer');
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
      const page = await options.operations.images.referrers(repository, parsed.value, {
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
        envelopeBytes: LIST_REFERRERS_ENVELOPE_BYTES,
      });
      return { referrers: page.items, ...(page.nextAfter !== undefined ? { nextToken: encodeToken({ after: page.nextAfter }) } : {}) };
    },
  },
};
