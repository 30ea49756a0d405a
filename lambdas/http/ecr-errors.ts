/**
 * The one catalogue of ECR API exceptions, as core/errors.ts is for the OCI errors: each name with
 * its HTTP status, the members its shape has besides `message`, and its message template (ECR's own
 * wording where its users quote it). Answered as AWS JSON protocol errors by ecr-api.ts: the status,
 * body `{"__type": "<Name>", "message": "...", ...fields}` and the name in `x-amzn-ErrorType`.
 *
 * Names ECR's model lists become the SDK's typed exceptions; the others are AWS's common errors
 * (AccessDeniedException, UnknownOperationException, the SigV4 codes), which the SDK raises as an
 * ECRServiceException named by the code.
 * - AccessDeniedException "User: <arn> is not authorized to perform: ecr:<Action> on resource: <arn>"
 *   is ECR's own wording (Troubleshooting Amazon ECR error messages, "HTTP 403: User [arn] is not
 *   authorized to perform [operation]"); AWS's common-errors table gives it HTTP 400 for JSON services.
 * - UnknownOperationException: an unknown X-Amz-Target. Real AWS JSON services answer
 *   `{"__type":"UnknownOperationException"}` with 400 (aws/aws-sdk-net#1536, CloudWatch Logs); some
 *   emulators use 404. 400 here.
 *
 * ecrExceptionOf is the one translation of the core's refusals (RegistryError kinds, DomainErrors)
 * into these names.
 */
import { DomainError } from '../core/domain-errors';
import { ERROR_CATALOGUE, RegistryError } from '../core/errors';

/** An AWS JSON protocol error: the name is what the SDK turns into an exception class. */
export class EcrApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    /** Members of the exception's shape besides `message` (InvalidLayerPartException's lastValidByteReceived, ...). */
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

interface Entry<A, F extends string = never> {
  status: number;
  /** Members of the shape besides `message`. */
  fields?: readonly F[];
  message(args: A): string;
}

const entry = <A, F extends string = never>(status: number, message: (args: A) => string, fields?: readonly F[]): Entry<A, F> => ({ status, message, ...(fields ? { fields } : {}) });

interface Detail {
  detail: string;
}
const said = ({ detail }: Detail) => detail;
interface InRepository {
  name: string;
  account: string;
}

export const ECR_EXCEPTIONS = {
  // ---- the protocol and its common errors ----
  SerializationException: entry<Detail>(400, said),
  /** `value`: the member's value as shown (null: absent). */
  ValidationException: entry<{ member: string; value: string | null; constraint: string }>(
    400,
    (a) => `1 validation error detected: Value ${a.value === null ? 'null' : `'${a.value}'`} at '${a.member}' failed to satisfy constraint: ${a.constraint}`,
  ),
  InvalidParameterException: entry<{ member: string; constraint: string }>(400, (a) => `Invalid parameter at '${a.member}' failed to satisfy constraint: '${a.constraint}'`),
  UnknownOperationException: entry<{ target: string }>(400, (a) => `Unknown operation ${a.target}`),
  /** `why`: the decision's reason as IAM phrases it (" because no identity-based policy allows ..."). */
  AccessDeniedException: entry<{ arn: string; action: string; resource: string; why: string }>(
    400,
    (a) => `User: ${a.arn} is not authorized to perform: ${a.action} on resource: ${a.resource}${a.why}`,
  ),
  ServerException: entry<Partial<Detail>>(500, (a) => a.detail ?? 'An internal error occurred.'),
  // SigV4 (local mode checks signatures itself; on AWS API Gateway does).
  MissingAuthenticationTokenException: entry<Detail>(403, said),
  IncompleteSignatureException: entry<Detail>(400, said),
  InvalidSignatureException: entry<Detail>(400, said),
  UnrecognizedClientException: entry<Detail>(400, said),
  ExpiredTokenException: entry<Detail>(403, said),

  // ---- repositories and policies ----
  /** `why`: what the registry adds (a push refused by create-on-push). */
  RepositoryNotFoundException: entry<InRepository & { why?: string }>(
    400,
    (a) => `The repository with name '${a.name}' does not exist in the registry with id '${a.account}'${a.why !== undefined ? `: ${a.why}` : ''}`,
  ),
  RepositoryAlreadyExistsException: entry<InRepository>(400, (a) => `The repository with name '${a.name}' already exists in the registry with id '${a.account}'`),
  RepositoryNotEmptyException: entry<InRepository>(
    400,
    (a) => `The repository with name '${a.name}' in registry with id '${a.account}' cannot be deleted because it still contains images; delete them first or pass force`,
  ),
  RepositoryPolicyNotFoundException: entry<InRepository>(
    400,
    (a) => `Repository policy does not exist for the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  RegistryPolicyNotFoundException: entry<{ account: string }>(400, (a) => `Registry policy does not exist in the registry with id '${a.account}'`),
  InvalidTagParameterException: entry<Detail>(400, said),
  TooManyTagsException: entry<{ max: number; count: number }>(400, (a) => `A repository may have at most ${a.max} tags; this request would leave it with ${a.count}`),
  TemplateNotFoundException: entry<{ prefix: string; account: string }>(
    400,
    (a) => `The repository creation template with prefix '${a.prefix}' does not exist in the registry with id '${a.account}'`,
  ),
  TemplateAlreadyExistsException: entry<{ prefix: string; account: string }>(
    400,
    (a) => `A repository creation template with prefix '${a.prefix}' already exists in the registry with id '${a.account}'`,
  ),

  // ---- lifecycle policies, the archive, pull time exclusions ----
  LifecyclePolicyNotFoundException: entry<InRepository>(
    400,
    (a) => `Lifecycle policy does not exist for the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  LifecyclePolicyPreviewNotFoundException: entry<InRepository>(
    400,
    (a) => `There is no lifecycle policy preview for the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  LifecyclePolicyPreviewInProgressException: entry<InRepository>(
    400,
    (a) => `A lifecycle policy preview is already in progress for the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  ExclusionAlreadyExistsException: entry<{ principalArn: string }>(400, (a) => `The principal '${a.principalArn}' is already excluded from pull time updates`),
  ExclusionNotFoundException: entry<{ principalArn: string }>(400, (a) => `The principal '${a.principalArn}' is not excluded from pull time updates`),
  LimitExceededException: entry<Detail>(400, said),
  ImageStorageClassUpdateNotSupportedException: entry<Detail>(400, said),

  // ---- images and layers ----
  ImageNotFoundException: entry<InRepository & { digest?: string; tag?: string }>(
    400,
    (a) => `The image with imageId {imageDigest:'${a.digest ?? 'null'}', imageTag:'${a.tag ?? 'null'}'} does not exist within the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  ImageAlreadyExistsException: entry<InRepository & { digest: string; tag?: string }>(
    400,
    (a) => `Image with digest '${a.digest}'${a.tag !== undefined ? ` and tag '${a.tag}'` : ''} already exists in the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  ImageTagAlreadyExistsException: entry<Detail>(400, said),
  ImageDigestDoesNotMatchException: entry<Detail>(400, said),
  /** One layer the repository does not hold (GetDownloadUrlForLayer), or those a manifest needs (PutImage). */
  LayersNotFoundException: entry<(InRepository & { digest: string }) | { name: string; missing: string[] }>(400, (a) =>
    'missing' in a
      ? `The following layers are not in repository '${a.name}': ${a.missing.slice(0, 10).join(', ')}; upload them first`
      : `The layer '${a.digest}' does not exist in the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  ReferencedImagesNotFoundException: entry<{ name: string; missing: string[] }>(
    400,
    (a) => `The following images referenced by the index are not in repository '${a.name}': ${a.missing.slice(0, 10).join(', ')}`,
  ),
  LayerAlreadyExistsException: entry<InRepository & { digest: string }>(
    400,
    (a) => `The layer '${a.digest}' already exists in the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  UploadNotFoundException: entry<InRepository & { upload: string }>(
    400,
    (a) => `The upload with id '${a.upload.slice(0, 128)}' does not exist in the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  EmptyUploadException: entry<{ upload: string }>(400, (a) => `The upload with id '${a.upload}' holds no bytes: upload the layer with UploadLayerPart first`),
  InvalidLayerException: entry<Detail>(400, said),
  /** `lastValidByteReceived`: the upload's size less one, when the part was refused for where it starts or ends. */
  InvalidLayerPartException: entry<Detail, 'registryId' | 'repositoryName' | 'uploadId' | 'lastValidByteReceived'>(400, said, [
    'registryId',
    'repositoryName',
    'uploadId',
    'lastValidByteReceived',
  ]),

  // ---- image scans (ecr-actions/image-scans.ts) ----
  /** The image has no scan record (never scanned); the id as the request gave it, as ECR words it. */
  ScanNotFoundException: entry<InRepository & { digest?: string; tag?: string }>(
    400,
    (a) => `Image scan does not exist for the image with '{imageDigest:'${a.digest ?? 'null'}', imageTag:'${a.tag ?? 'null'}'}' in the repository with name '${a.name}' in the registry with id '${a.account}'`,
  ),
  /** StartImageScan of what is not a container image (an index, an artifact): ECR's first sentence, then what to do. */
  UnsupportedImageTypeException: entry<{ mediaType: string; hint: string }>(400, (a) => `An artifact with media type '${a.mediaType}' cannot be scanned. ${a.hint}`),
  ImageArchivedException: entry<InRepository & { digest: string }>(
    400,
    (a) => `The specified image is archived and cannot be scanned: restore the image ${a.digest} in the repository with name '${a.name}' with UpdateImageStorageClass (STANDARD) first`,
  ),

  // ---- Berth's replication actions (contracts/replication-actions.ts) ----
  /**
   * BerthReplicateBlob could not fetch the blob from the URL it was given; nothing was stored. 400 as the
   * catalogue's other refusals (the AWS JSON protocol answers by name): the replicator tells it by `__type`.
   */
  BerthBlobSourceUnavailableException: entry<{ digest: string; host: string; why: string }>(
    400,
    (a) => `Could not fetch blob ${a.digest} from the replication source at ${a.host}: ${a.why}; nothing was stored, retry with a fresh URL`,
  ),
  /** BerthReplicateDelete of an image an index of the repository still names (BatchDeleteImage's ImageReferencedByManifestList); nothing changed. */
  BerthImageReferencedByManifestListException: entry<{ name: string; digest: string; by: string[] }>(
    400,
    (a) => `The image ${a.digest} in repository '${a.name}' is still referenced by image index(es) ${a.by.slice(0, 5).join(', ')}: delete the index first`,
  ),
} as const;

export type EcrExceptionName = keyof typeof ECR_EXCEPTIONS;
type ArgsOf<N extends EcrExceptionName> = Parameters<(typeof ECR_EXCEPTIONS)[N]['message']>[0];
type FieldsOf<N extends EcrExceptionName> = (typeof ECR_EXCEPTIONS)[N] extends Entry<never, infer F> ? Partial<Record<F, unknown>> : never;

/** The exception `name` with its catalogued status and message. */
export function ecrError<N extends EcrExceptionName>(name: N, args: ArgsOf<N>, fields?: FieldsOf<N>): EcrApiError {
  const { status, message } = ECR_EXCEPTIONS[name] as Entry<ArgsOf<N>, string>;
  return new EcrApiError(name, message(args), status, fields ?? {});
}

/** An authenticator's refusal (a SigV4 code, or what the transport answers), with the status it gave. */
export function authenticationError(failure: { code: string; message: string; status: number }): EcrApiError {
  if (Object.hasOwn(ECR_EXCEPTIONS, failure.code)) {
    const name = failure.code as EcrExceptionName;
    // The authenticator's own message (SigV4's wording), under the catalogue's name.
    return new EcrApiError(name, failure.message, failure.status);
  }
  return new EcrApiError(failure.code, failure.message, failure.status);
}

/** Where a core refusal happened: the action, its input (validated already) and the registry's account. */
export interface EcrErrorContext {
  action: string | undefined;
  input: Record<string, unknown>;
  account: string;
}

const defaultMessage = (err: RegistryError) => err.message === ERROR_CATALOGUE[err.kind].message;
const stringOf = (value: unknown) => (typeof value === 'string' ? value : undefined);

/**
 * The ECR exception that means what a core refusal means; anything else (a RegistryError with no
 * ECR meaning, a failure) is answered unchanged (ServerException for what is not an EcrApiError).
 */
export function ecrExceptionOf(err: unknown, context: EcrErrorContext): unknown {
  const { action, input, account } = context;
  const repository = stringOf(input.repositoryName) ?? '';
  const uploadId = stringOf(input.uploadId);
  if (err instanceof DomainError) {
    const e = err as DomainError;
    switch (e.kind) {
      case 'REPOSITORY_EXISTS':
        return ecrError('RepositoryAlreadyExistsException', { name: (e as DomainError<'REPOSITORY_EXISTS'>).detail.name, account });
      case 'REPOSITORY_NOT_EMPTY':
        return ecrError('RepositoryNotEmptyException', { name: (e as DomainError<'REPOSITORY_NOT_EMPTY'>).detail.name, account });
      case 'REPOSITORY_POLICY_UNKNOWN':
        return ecrError('RepositoryPolicyNotFoundException', { name: (e as DomainError<'REPOSITORY_POLICY_UNKNOWN'>).detail.name, account });
      case 'REGISTRY_POLICY_UNKNOWN':
        return ecrError('RegistryPolicyNotFoundException', { account });
      case 'TEMPLATE_EXISTS':
        return ecrError('TemplateAlreadyExistsException', { prefix: (e as DomainError<'TEMPLATE_EXISTS'>).detail.prefix, account });
      case 'TEMPLATE_UNKNOWN':
        return ecrError('TemplateNotFoundException', { prefix: (e as DomainError<'TEMPLATE_UNKNOWN'>).detail.prefix, account });
      case 'TOO_MANY_TAGS':
        return ecrError('TooManyTagsException', (e as DomainError<'TOO_MANY_TAGS'>).detail);
      case 'IMAGE_EXISTS': {
        const { name, digest, tag } = (e as DomainError<'IMAGE_EXISTS'>).detail;
        return ecrError('ImageAlreadyExistsException', { name, account, digest, ...(tag !== undefined ? { tag } : {}) });
      }
      case 'LAYER_EXISTS': {
        const { name, digest } = (e as DomainError<'LAYER_EXISTS'>).detail;
        return ecrError('LayerAlreadyExistsException', { name, account, digest });
      }
      case 'UPLOAD_EMPTY':
        return ecrError('EmptyUploadException', { upload: (e as DomainError<'UPLOAD_EMPTY'>).detail.upload });
      case 'LIFECYCLE_POLICY_UNKNOWN':
        return ecrError('LifecyclePolicyNotFoundException', { name: (e as DomainError<'LIFECYCLE_POLICY_UNKNOWN'>).detail.name, account });
      case 'LIFECYCLE_PREVIEW_UNKNOWN':
        return ecrError('LifecyclePolicyPreviewNotFoundException', { name: (e as DomainError<'LIFECYCLE_PREVIEW_UNKNOWN'>).detail.name, account });
      case 'LIFECYCLE_PREVIEW_IN_PROGRESS':
        return ecrError('LifecyclePolicyPreviewInProgressException', { name: (e as DomainError<'LIFECYCLE_PREVIEW_IN_PROGRESS'>).detail.name, account });
      case 'EXCLUSION_EXISTS':
        return ecrError('ExclusionAlreadyExistsException', (e as DomainError<'EXCLUSION_EXISTS'>).detail);
      case 'EXCLUSION_UNKNOWN':
        return ecrError('ExclusionNotFoundException', (e as DomainError<'EXCLUSION_UNKNOWN'>).detail);
      case 'EXCLUSION_LIMIT':
        return ecrError('LimitExceededException', {
          detail: `The registry may exclude at most ${(e as DomainError<'EXCLUSION_LIMIT'>).detail.max} principals from pull time updates`,
        });
      case 'LAYER_PART_INVALID':
        return ecrError(
          'InvalidLayerPartException',
          { detail: e.message },
          { registryId: account, repositoryName: repository, uploadId, lastValidByteReceived: (e as DomainError<'LAYER_PART_INVALID'>).detail.offset - 1 },
        );
    }
  }
  if (!(err instanceof RegistryError)) return err;
  const detail = (err.detail ?? {}) as Record<string, unknown>;
  switch (err.kind) {
    case 'NAME_UNKNOWN':
      return ecrError('RepositoryNotFoundException', {
        name: stringOf(detail.name) ?? repository,
        account,
        // InitiateLayerUpload's refusal says why (create-on-push is off), as it did before the
        // catalogue; other actions keep ECR's plain message whatever the core said.
        ...(action === 'InitiateLayerUpload' && !defaultMessage(err) ? { why: err.message } : {}),
      });
    case 'NAME_INVALID':
      return ecrError('InvalidParameterException', { member: 'repositoryName', constraint: err.message });
    case 'BLOB_UNKNOWN':
      return ecrError('LayersNotFoundException', { name: repository, account, digest: stringOf(detail.digest) ?? '' });
    case 'BLOB_UPLOAD_UNKNOWN':
      return ecrError('UploadNotFoundException', { name: repository, account, upload: uploadId ?? '' });
    case 'DIGEST_INVALID':
      // The manifest PutImage was given, or the layer an upload holds.
      return action === 'PutImage' ? ecrError('ImageDigestDoesNotMatchException', { detail: err.message }) : ecrError('InvalidLayerException', { detail: err.message });
    case 'BLOB_TOO_LARGE':
    case 'SIZE_INVALID':
    case 'BLOB_UPLOAD_INVALID':
      return ecrError('InvalidLayerPartException', { detail: err.message }, { registryId: account, repositoryName: repository, uploadId });
    case 'TAG_IMMUTABLE':
      return ecrError('ImageTagAlreadyExistsException', { detail: err.message });
    case 'MANIFEST_BLOB_UNKNOWN': {
      const blobs = (detail.blobs as string[] | undefined) ?? [];
      if (blobs.length > 0) return ecrError('LayersNotFoundException', { name: repository, missing: blobs });
      return ecrError('ReferencedImagesNotFoundException', { name: repository, missing: (detail.manifests as string[] | undefined) ?? [] });
    }
    case 'MANIFEST_INVALID':
    case 'MANIFEST_TOO_LARGE':
    case 'TAG_INVALID':
    case 'UNSUPPORTED':
      return ecrError('InvalidParameterException', { member: 'imageManifest', constraint: err.message });
    default:
      return err;
  }
}
