/**
 * The destination's side of replication: Berth's actions BerthReplicateBlob, BerthReplicateImage and
 * BerthReplicateDelete (shapes in contracts/replication-actions.ts), which a source's replicator calls
 * with its own identity, over the core's Replicas (core/replication/replicas.ts).
 *
 * Authorized as `ecr:ReplicateImage` on the destination repository's ARN rather than as actions of
 * their own: policies can name only ECR's actions, and this one says exactly what is granted, so the
 * policy engine gives ECR's rule unchanged (another account's principal needs this registry's policy
 * to allow it; this account's needs its identity policies). A call that must create the repository
 * also needs `ecr:CreateRepository` on it (ECR asks the same of cross-account replication).
 *
 * `source-account` in the replication event is the authenticated caller's account, never a member of
 * the request; `sourceRegion` is the caller's word (ECR's events carry it for information only).
 *
 * BerthReplicateBlob fetches the URL it is given (a presigned S3 URL or the source's download-token
 * URL) without credentials of its own, so it can reach what this deployment can reach: the answer
 * never carries the source's bytes or body, only its status, and nothing is stored unless the bytes
 * have the digest and size the caller named. A blob above the deployment's fetch limit would not fit
 * in one request's time (API Gateway's 29 s): it gets an upload session on the ingest service instead
 * (UPLOAD), which the caller fills as a push would, so that no work outlives the request here and the
 * ingest service checks the digest.
 */
import { REPLICATION_REGION_PATTERN } from '../../contracts/replication';
import {
  BERTH_REPLICATE_BLOB,
  BERTH_REPLICATE_DELETE,
  BERTH_REPLICATE_IMAGE,
  IMAGE_TAG_ALREADY_EXISTS,
  REPLICATION_CREATE_IAM_ACTION,
  REPLICATION_IAM_ACTION,
  type ReplicateBlobOutput,
  type ReplicateDeleteOutput,
  type ReplicateImageOutput,
} from '../../contracts/replication-actions';
import { tryParseDigest, type Digest } from '../../core/digest';
import { RegistryError } from '../../core/errors';
import type { ByteStream } from '../../core/model';
import { isValidTag } from '../../core/names';
import type { Replicas } from '../../core/replication/replicas';
import { ecrError, type EcrApiError } from '../ecr-errors';
import { checkRegistryId, constraints, invalidParameter, optionalString, repositoryNameOf, requiredString, serializationError, validationError, type Input } from './common';
import type { EcrActionContext, EcrActionDefinition } from './types';

/** How long the source may take to answer with its headers, and at most between two chunks of its body. */
const SOURCE_HEADERS_TIMEOUT_MS = 30_000;
const SOURCE_IDLE_TIMEOUT_MS = 60_000;
const MAX_URL_LENGTH = 16_384;
const MAX_MANIFEST_CHARACTERS = 4_194_304;

function replicasOf(context: EcrActionContext): Replicas {
  const replicas = context.options.operations.replicas;
  if (!replicas) throw ecrError('ServerException', { detail: 'this endpoint is not connected to a registry: replication actions are not available here' });
  return replicas;
}

function sourceRegionOf(input: Input): string {
  const region = requiredString(input, 'sourceRegion');
  if (!REPLICATION_REGION_PATTERN.test(region)) throw validationError('sourceRegion', region, constraints.pattern('[0-9a-z-]{2,25}'));
  return region;
}

function digestOf(input: Input, member: string): Digest {
  const text = requiredString(input, member);
  const digest = tryParseDigest(text);
  if (!digest) throw invalidParameter(member, 'a digest such as sha256:<64 hex digits> expected');
  return digest;
}

function sizeOf(input: Input): number {
  const value = input.size;
  if (value === undefined || value === null) throw validationError('size', null, 'Member must not be null');
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw serializationError('size must be an integer');
  if (value < 0) throw validationError('size', value, constraints.minValue(0));
  return value;
}

function urlOf(input: Input): URL {
  const text = requiredString(input, 'url');
  if (text.length > MAX_URL_LENGTH) throw validationError('url', text.slice(0, 100), constraints.maxLength(MAX_URL_LENGTH));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidParameter('url', 'an absolute http or https URL expected');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidParameter('url', 'an absolute http or https URL expected');
  return url;
}

function tagOf(input: Input): string | undefined {
  const tag = optionalString(input, 'imageTag');
  if (tag !== undefined && !isValidTag(tag)) throw invalidParameter('imageTag', 'a tag is 1 to 128 letters, digits, _ . - starting with a letter, digit or _ (the OCI grammar)');
  return tag;
}

/** The repository the call writes to; created (with ecr:CreateRepository checked too) when it does not exist yet. */
async function writableRepository(context: EcrActionContext, replicas: Replicas, name: string): Promise<string> {
  if (await replicas.exists(name)) return name;
  await context.authorize(REPLICATION_CREATE_IAM_ACTION, name);
  await replicas.createRepository(name);
  return name;
}

function unavailable(digest: string, url: URL, why: string): EcrApiError {
  // The host only: a presigned URL's query is a credential, and its path says nothing the caller does not know.
  return ecrError('BerthBlobSourceUnavailableException', { digest, host: url.host, why });
}

function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (err instanceof Error && err.name === 'AbortError') return 'no answer in time';
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/**
 * The source's bytes as a stream: the answer must be a 200 (an expired presigned URL is a 403), with
 * no Content-Length other than `size` (a mismatch is the caller's: InvalidParameterException).
 */
async function fetchSource(url: URL, digest: string, size: number): Promise<ByteStream> {
  const controller = new AbortController();
  const headersTimer = setTimeout(() => controller.abort(), SOURCE_HEADERS_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { signal: controller.signal, headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    throw unavailable(digest, url, reasonOf(err));
  } finally {
    clearTimeout(headersTimer);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw unavailable(digest, url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  const length = res.headers.get('content-length');
  if (length !== null && Number(length) !== size) {
    await res.body?.cancel().catch(() => undefined);
    throw invalidParameter('size', `the source has ${length} bytes for ${digest}, not ${size}`);
  }
  return sourceBody(res.body, controller, () => unavailable(digest, url, `no bytes came for ${SOURCE_IDLE_TIMEOUT_MS / 1000} s`), (err) => unavailable(digest, url, reasonOf(err)));
}

async function* sourceBody(
  body: ReadableStream<Uint8Array> | null,
  controller: AbortController,
  stalled: () => EcrApiError,
  failed: (err: unknown) => EcrApiError,
): ByteStream {
  if (!body) return;
  let idle = setTimeout(() => controller.abort(), SOURCE_IDLE_TIMEOUT_MS);
  try {
    for await (const chunk of body) {
      clearTimeout(idle);
      yield chunk;
      idle = setTimeout(() => controller.abort(), SOURCE_IDLE_TIMEOUT_MS);
    }
  } catch (err) {
    throw controller.signal.aborted ? stalled() : failed(err);
  } finally {
    clearTimeout(idle);
  }
}

/** The core's refusal of the bytes, as the caller's mistake: what it named is not what the URL serves. */
function blobRefusal(err: unknown): unknown {
  if (!(err instanceof RegistryError)) return err;
  if (err.kind === 'DIGEST_INVALID') return invalidParameter('digest', err.message);
  if (err.kind === 'SIZE_INVALID' || err.kind === 'BLOB_TOO_LARGE') return invalidParameter('size', err.message);
  return err;
}

export const REPLICATE_ACTIONS: Record<string, EcrActionDefinition> = {
  [BERTH_REPLICATE_BLOB]: {
    iamAction: REPLICATION_IAM_ACTION,
    repository: repositoryNameOf,
    validation: 'modern',
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const replicas = replicasOf(context);
      const name = repositoryNameOf(input);
      sourceRegionOf(input);
      const digest = digestOf(input, 'digest');
      const size = sizeOf(input);
      const url = urlOf(input);
      const answer = (result: ReplicateBlobOutput['result']): ReplicateBlobOutput => ({ registryId: options.registryAccount, repositoryName: name, digest: digest.value, result });
      if (await replicas.hasBlob(name, digest.value)) return { ...answer('PRESENT') };
      const repository = await writableRepository(context, replicas, name);
      const uploads = options.replicationUploads;
      if (uploads && size > uploads.fetchLimitBytes) {
        const output: ReplicateBlobOutput = { ...answer('UPLOAD'), uploadUrl: await uploads.open(repository) };
        return { ...output };
      }
      try {
        await replicas.storeBlob(repository, digest.value, size, await fetchSource(url, digest.value, size));
      } catch (err) {
        throw blobRefusal(err);
      }
      return { ...answer('COPIED') };
    },
  },

  [BERTH_REPLICATE_IMAGE]: {
    iamAction: REPLICATION_IAM_ACTION,
    repository: repositoryNameOf,
    validation: 'modern',
    async run(context) {
      const { input, options, caller } = context;
      checkRegistryId(input, options.registryAccount);
      const replicas = replicasOf(context);
      const name = repositoryNameOf(input);
      const sourceRegion = sourceRegionOf(input);
      const manifestText = requiredString(input, 'imageManifest');
      if (manifestText.length < 1) throw validationError('imageManifest', manifestText, constraints.minLength(1));
      if (manifestText.length > MAX_MANIFEST_CHARACTERS) throw validationError('imageManifest', manifestText.slice(0, 100), constraints.maxLength(MAX_MANIFEST_CHARACTERS));
      const mediaType = requiredString(input, 'imageManifestMediaType');
      const tag = tagOf(input);
      const expected = optionalString(input, 'imageDigest') === undefined ? undefined : digestOf(input, 'imageDigest');
      const repository = await writableRepository(context, replicas, name);
      let stored;
      try {
        stored = await replicas.storeImage(repository, Buffer.from(manifestText, 'utf8'), mediaType, {
          ...(tag !== undefined ? { tag } : {}),
          ...(expected !== undefined ? { expected } : {}),
          from: { account: caller.principal.account, region: sourceRegion },
        });
      } catch (err) {
        if (err instanceof RegistryError && err.kind === 'DIGEST_INVALID') throw ecrError('ImageDigestDoesNotMatchException', { detail: err.message });
        throw err;
      }
      const output: ReplicateImageOutput = {
        registryId: options.registryAccount,
        repositoryName: repository,
        imageId: { imageDigest: stored.digest, ...(stored.tagged && tag !== undefined ? { imageTag: tag } : {}) },
        tagged: stored.tagged,
        ...('tagHeldBy' in stored ? { reason: IMAGE_TAG_ALREADY_EXISTS } : {}),
      };
      return { ...output };
    },
  },

  [BERTH_REPLICATE_DELETE]: {
    iamAction: REPLICATION_IAM_ACTION,
    repository: repositoryNameOf,
    validation: 'modern',
    async run(context) {
      const { input, options, caller } = context;
      checkRegistryId(input, options.registryAccount);
      const replicas = replicasOf(context);
      const repository = repositoryNameOf(input);
      const sourceRegion = sourceRegionOf(input);
      const digest = digestOf(input, 'imageDigest');
      const tag = tagOf(input);
      // The source as BerthReplicateImage names it: the signed caller's account, never one the request claims.
      const deleted = await replicas.deleteReplica(repository, digest.value, {
        ...(tag !== undefined ? { tag } : {}),
        from: { account: caller.principal.account, region: sourceRegion },
      });
      if (!deleted.ok && deleted.reason === 'in-use') {
        throw ecrError('BerthImageReferencedByManifestListException', { name: repository, digest: digest.value, by: deleted.by });
      }
      // `tagged` cannot come back (no onlyIfTags asked for): like `unknown`, nothing of what was named is there to delete.
      const output: ReplicateDeleteOutput = { registryId: options.registryAccount, repositoryName: repository, result: deleted.ok ? 'DELETED' : 'ABSENT' };
      return { ...output };
    },
  },
};
