/**
 * ECR's exceptions in one catalogue (issue 10, point 2): name, status, extra members, message; and
 * the one translation of the core's refusals into them.
 */
import { DomainError } from '../../lambdas/core/domain-errors';
import { RegistryError } from '../../lambdas/core/errors';
import { unknownRepository } from '../../lambdas/core/repositories';
import { authenticationError, ECR_EXCEPTIONS, EcrApiError, ecrError, ecrExceptionOf, type EcrErrorContext } from '../../lambdas/http/ecr-errors';

const ACCOUNT = '111122223333';
const at = (action: string, input: Record<string, unknown> = {}): EcrErrorContext => ({ action, input: { repositoryName: 'team/app', ...input }, account: ACCOUNT });
const shape = (err: unknown) => {
  expect(err).toBeInstanceOf(EcrApiError);
  const e = err as EcrApiError;
  return { type: e.type, status: e.status, message: e.message, fields: e.fields };
};

describe('the ECR exception catalogue', () => {
  test('GIVEN every entry THEN 400, except ServerException (500) and the SigV4 codes AWS answers with 403', () => {
    const statuses = Object.fromEntries(Object.entries(ECR_EXCEPTIONS).filter(([, e]) => e.status !== 400).map(([name, e]) => [name, e.status]));
    expect(statuses).toEqual({ ServerException: 500, MissingAuthenticationTokenException: 403, ExpiredTokenException: 403 });
  });

  test('GIVEN a name and its arguments THEN the message is the template’s and the extra members are kept', () => {
    expect(shape(ecrError('RepositoryNotFoundException', { name: 'team/app', account: ACCOUNT }))).toEqual({
      type: 'RepositoryNotFoundException',
      status: 400,
      message: `The repository with name 'team/app' does not exist in the registry with id '${ACCOUNT}'`,
      fields: {},
    });
    expect(ecrError('ValidationException', { member: 'imageIds', value: null, constraint: 'Member must not be null' }).message).toBe(
      "1 validation error detected: Value null at 'imageIds' failed to satisfy constraint: Member must not be null",
    );
    expect(ecrError('InvalidLayerPartException', { detail: 'late' }, { uploadId: 'u', lastValidByteReceived: 9 }).fields).toEqual({ uploadId: 'u', lastValidByteReceived: 9 });
    expect(ecrError('ServerException', {}).message).toBe('An internal error occurred.');
  });

  test('GIVEN an authenticator’s refusal THEN its code and status, with the catalogue’s message where the code is catalogued', () => {
    expect(shape(authenticationError({ code: 'InvalidSignatureException', message: 'bad', status: 400 }))).toMatchObject({ type: 'InvalidSignatureException', status: 400, message: 'bad' });
    expect(shape(authenticationError({ code: 'SomethingElse', message: 'no', status: 403 }))).toMatchObject({ type: 'SomethingElse', status: 403 });
  });
});

describe('the core’s refusals as ECR exceptions', () => {
  test('GIVEN NAME_UNKNOWN THEN RepositoryNotFoundException, keeping a reason beyond "unknown" (create-on-push off)', () => {
    expect(shape(ecrExceptionOf(unknownRepository('team/app'), at('ListImages'))).message).toBe(`The repository with name 'team/app' does not exist in the registry with id '${ACCOUNT}'`);
    expect(shape(ecrExceptionOf(unknownRepository('team/app', 'no create on push'), at('InitiateLayerUpload'))).message).toBe(
      `The repository with name 'team/app' does not exist in the registry with id '${ACCOUNT}': no create on push`,
    );
  });

  test('GIVEN DIGEST_INVALID THEN ImageDigestDoesNotMatchException for PutImage, InvalidLayerException for an upload', () => {
    const err = new RegistryError('DIGEST_INVALID', 'mismatch');
    expect(shape(ecrExceptionOf(err, at('PutImage'))).type).toBe('ImageDigestDoesNotMatchException');
    expect(shape(ecrExceptionOf(err, at('CompleteLayerUpload'))).type).toBe('InvalidLayerException');
  });

  test('GIVEN a part that does not continue the upload THEN InvalidLayerPartException with lastValidByteReceived', () => {
    const err = new DomainError('LAYER_PART_INVALID', { offset: 10 }, 'starts at 5');
    expect(shape(ecrExceptionOf(err, at('UploadLayerPart', { uploadId: 'u-1' })))).toEqual({
      type: 'InvalidLayerPartException',
      status: 400,
      message: 'starts at 5',
      fields: { registryId: ACCOUNT, repositoryName: 'team/app', uploadId: 'u-1', lastValidByteReceived: 9 },
    });
  });

  test.each([
    [new DomainError('REPOSITORY_EXISTS', { name: 'team/app' }), 'RepositoryAlreadyExistsException'],
    [new DomainError('REPOSITORY_NOT_EMPTY', { name: 'team/app' }), 'RepositoryNotEmptyException'],
    [new DomainError('REPOSITORY_POLICY_UNKNOWN', { name: 'team/app' }), 'RepositoryPolicyNotFoundException'],
    [new DomainError('REGISTRY_POLICY_UNKNOWN', {}), 'RegistryPolicyNotFoundException'],
    [new DomainError('TEMPLATE_EXISTS', { prefix: 'p' }), 'TemplateAlreadyExistsException'],
    [new DomainError('TEMPLATE_UNKNOWN', { prefix: 'p' }), 'TemplateNotFoundException'],
    [new DomainError('TOO_MANY_TAGS', { count: 51, max: 50 }), 'TooManyTagsException'],
    [new DomainError('IMAGE_EXISTS', { name: 'team/app', digest: 'sha256:x', tag: 'v1' }), 'ImageAlreadyExistsException'],
    [new DomainError('LAYER_EXISTS', { name: 'team/app', digest: 'sha256:x' }), 'LayerAlreadyExistsException'],
    [new DomainError('UPLOAD_EMPTY', { upload: 'u' }), 'EmptyUploadException'],
    [new DomainError('LIFECYCLE_POLICY_UNKNOWN', { name: 'team/app' }), 'LifecyclePolicyNotFoundException'],
    [new DomainError('LIFECYCLE_PREVIEW_UNKNOWN', { name: 'team/app' }), 'LifecyclePolicyPreviewNotFoundException'],
    [new DomainError('LIFECYCLE_PREVIEW_IN_PROGRESS', { name: 'team/app' }), 'LifecyclePolicyPreviewInProgressException'],
    [new DomainError('EXCLUSION_EXISTS', { principalArn: 'arn:aws:iam::111122223333:role/r' }), 'ExclusionAlreadyExistsException'],
    [new DomainError('EXCLUSION_UNKNOWN', { principalArn: 'arn:aws:iam::111122223333:role/r' }), 'ExclusionNotFoundException'],
    [new DomainError('EXCLUSION_LIMIT', { max: 100 }), 'LimitExceededException'],
    [new RegistryError('BLOB_UPLOAD_UNKNOWN'), 'UploadNotFoundException'],
    [new RegistryError('BLOB_UNKNOWN', undefined, { digest: 'sha256:x' }), 'LayersNotFoundException'],
    [new RegistryError('TAG_IMMUTABLE', 'held'), 'ImageTagAlreadyExistsException'],
    [new RegistryError('MANIFEST_BLOB_UNKNOWN', 'missing', { blobs: ['sha256:x'], manifests: [] }), 'LayersNotFoundException'],
    [new RegistryError('MANIFEST_BLOB_UNKNOWN', 'missing', { blobs: [], manifests: ['sha256:y'] }), 'ReferencedImagesNotFoundException'],
    [new RegistryError('MANIFEST_INVALID', 'bad'), 'InvalidParameterException'],
  ])('GIVEN %p THEN %s', (err, type) => {
    expect(shape(ecrExceptionOf(err, at('PutImage'))).type).toBe(type);
  });

  test('GIVEN a failure that is no refusal, or a RegistryError with no ECR meaning THEN it is left as it is (a ServerException)', () => {
    const failure = new Error('disk on fire');
    expect(ecrExceptionOf(failure, at('ListImages'))).toBe(failure);
    const internal = new RegistryError('INTERNAL');
    expect(ecrExceptionOf(internal, at('ListImages'))).toBe(internal);
  });
});
