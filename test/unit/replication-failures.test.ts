/**
 * How a replicator reads a failed call to a destination (lambdas/aws/replication-failures.ts): refusals
 * retrying cannot change go FAILED at once with the destination's exception name; throttling, the
 * source's URL failing and the destination's own moving state are retried; network failures are
 * DESTINATION_UNREACHABLE, anything else INTERNAL_ERROR, both retried.
 */
import { EcrJsonCallError } from '../../lambdas/aws/ecr-json-call';
import { DESTINATION_UNREACHABLE, INTERNAL_ERROR, replicationFailureOf } from '../../lambdas/aws/replication-failures';
import { BlobUploadError } from '../../lambdas/aws/replication-upload';

const refusal = (type: string, status = 400) => new EcrJsonCallError(type, 'refused', status);

test.each(['AccessDeniedException', 'InvalidParameterException', 'UnknownOperationException', 'ImageDigestDoesNotMatchException', 'HTTP404'])(
  'GIVEN the destination answers %s (4xx) THEN permanent, with that name as the code',
  (type) => {
    expect(replicationFailureOf(refusal(type))).toEqual({ code: type, permanent: true });
  },
);

test.each([
  ['ThrottlingException', 400],
  ['TooManyRequestsException', 429],
  ['HTTP429', 429],
  ['HTTP408', 408],
  ['BerthBlobSourceUnavailableException', 400],
  ['LayersNotFoundException', 400],
  ['ReferencedImagesNotFoundException', 400],
  ['BerthImageReferencedByManifestListException', 400],
  ['ServerException', 500],
  ['HTTP502', 502],
])('GIVEN the destination answers %s (%i) THEN retried, with that name as the code once the attempts run out', (type, status) => {
  expect(replicationFailureOf(refusal(type, status))).toEqual({ code: type, permanent: false });
});

test('GIVEN a network failure (fetch failed, a socket code, an abort) THEN DESTINATION_UNREACHABLE, retried', () => {
  const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5101'), { code: 'ECONNREFUSED' }) });
  expect(replicationFailureOf(refused)).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });
  const reset = new TypeError('terminated', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
  expect(replicationFailureOf(reset)).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });
  expect(replicationFailureOf(new DOMException('The operation was aborted', 'AbortError'))).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });
});

test('GIVEN a failure of the replicator’s own side THEN INTERNAL_ERROR, retried', () => {
  expect(replicationFailureOf(new Error('the source no longer links blob sha256:… of prod/app@sha256:…'))).toEqual({ code: INTERNAL_ERROR, permanent: false });
  expect(replicationFailureOf('a string')).toEqual({ code: INTERNAL_ERROR, permanent: false });
});

test('GIVEN a file error at the source (ENOENT) THEN INTERNAL_ERROR, not the destination’s', () => {
  expect(replicationFailureOf(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }))).toEqual({ code: INTERNAL_ERROR, permanent: false });
});

test('GIVEN a large blob’s upload to the destination’s ingest service failing THEN retried whatever the side: its OCI code or status, DESTINATION_UNREACHABLE, or INTERNAL_ERROR for the source', () => {
  const fetchFailed = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  expect(replicationFailureOf(new BlobUploadError('destination', 'refused', { answer: { status: 400, code: 'DIGEST_INVALID' } }))).toEqual({ code: 'DIGEST_INVALID', permanent: false });
  expect(replicationFailureOf(new BlobUploadError('destination', 'refused', { answer: { status: 502 } }))).toEqual({ code: 'HTTP502', permanent: false });
  expect(replicationFailureOf(new BlobUploadError('destination', 'failed', { cause: fetchFailed }))).toEqual({ code: DESTINATION_UNREACHABLE, permanent: false });
  // The same TypeError, but the source's stream broke: not the destination's fault.
  expect(replicationFailureOf(new BlobUploadError('source', 'broke off', { cause: fetchFailed }))).toEqual({ code: INTERNAL_ERROR, permanent: false });
  expect(replicationFailureOf(new BlobUploadError('destination', 'the destination answered UPLOAD without an uploadUrl'))).toEqual({ code: INTERNAL_ERROR, permanent: false });
});
