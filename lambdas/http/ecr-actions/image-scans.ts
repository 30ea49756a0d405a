/**
 * ECR's scan actions over the core's ImageScanOperations (core/scanning/scan-operations.ts):
 * StartImageScan and DescribeImageScanFindings; and the scan members of DescribeImages' image details
 * (imageScanStatus, imageScanFindingsSummary), shaped here for images.ts. docs/scanning.md, "The scan
 * actions", says what each answers.
 *
 * - An image with no scan record: ScanNotFoundException in ECR's words (the id as given). A record
 *   IN_PROGRESS: `imageScanStatus` only, as ECR answers, so `aws ecr wait image-scan-complete` polls
 *   on. COMPLETE: `imageScanFindings` with the findings paged (maxResults 1..1000, default 100) and
 *   `findingSeverityCounts` without the levels at 0 (ECR shows `{}` for none). FAILED and
 *   UNSUPPORTED_IMAGE: the status and its description, no findings.
 * - `nextToken` names the image and the record's generation: a token used after the findings changed
 *   (a new scan, a match against new vulnerability data) is refused (InvalidParameterException) rather
 *   than continued in another document.
 * - StartImageScan: an index or an artifact is UnsupportedImageTypeException, an archived image
 *   ImageArchivedException, a second start within 24 hours of the last (the scan on push included)
 *   LimitExceededException, each in ECR's words and with nothing written.
 * - Times are epoch seconds (JSON numbers), as every action renders them (common.ts `epochSeconds`).
 */
import type { ScanFinding } from '../../core/scanning/model';
import { ECR_SEVERITIES, type ImageScanRecord } from '../../core/scanning/scan-records';
import { ecrError } from '../ecr-errors';
import type { EcrActionContext, EcrActionDefinition } from './types';
import { decodeToken, encodeToken, epochSeconds, existingRepository, imageIdOf, invalidParameter, maxResultsOf, missingMember, repositoryNameOf } from './common';

/** ECR's description of a scan that completed (its console and CLI show it). */
export const SCAN_COMPLETE_DESCRIPTION = 'The scan was completed successfully.';

/** ECR's limits on DescribeImageScanFindings' maxResults. */
export const MAX_FINDINGS_PER_PAGE = 1000;
export const DEFAULT_FINDINGS_PER_PAGE = 100;

/** `imageScanStatus` (DescribeImages, DescribeImageScanFindings, StartImageScan). */
export function imageScanStatusObject(record: ImageScanRecord): Record<string, unknown> {
  const description = record.description ?? (record.status === 'COMPLETE' ? SCAN_COMPLETE_DESCRIPTION : undefined);
  return { status: record.status, ...(description !== undefined ? { description } : {}) };
}

/** `findingSeverityCounts`: the levels with findings only, in ECR's order (ECR leaves the zeros out; `{}` for none). */
export function findingSeverityCounts(record: ImageScanRecord): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const level of ECR_SEVERITIES) if ((record.severityCounts[level] ?? 0) > 0) counts[level] = record.severityCounts[level];
  return counts;
}

/** The times and counts of a completed scan: DescribeImages' `imageScanFindingsSummary`, and the head of `imageScanFindings`. */
export function imageScanFindingsSummary(record: ImageScanRecord): Record<string, unknown> | undefined {
  if (record.status !== 'COMPLETE') return undefined;
  return {
    ...(record.completedAt !== undefined ? { imageScanCompletedAt: epochSeconds(record.completedAt) } : {}),
    ...(record.vulnerabilitySourceUpdatedAt !== undefined ? { vulnerabilitySourceUpdatedAt: epochSeconds(record.vulnerabilitySourceUpdatedAt) } : {}),
    findingSeverityCounts: findingSeverityCounts(record),
  };
}

/** The scan members of one DescribeImages image detail (none for an image never scanned, as ECR). */
export function imageDetailScanMembers(record: ImageScanRecord | undefined): Record<string, unknown> {
  if (record === undefined) return {};
  const summary = imageScanFindingsSummary(record);
  return { imageScanStatus: imageScanStatusObject(record), ...(summary !== undefined ? { imageScanFindingsSummary: summary } : {}) };
}

/** One finding as ECR's ImageScanFinding. */
function findingObject(finding: ScanFinding): Record<string, unknown> {
  return {
    name: finding.name,
    ...(finding.description !== undefined ? { description: finding.description } : {}),
    ...(finding.uri !== undefined ? { uri: finding.uri } : {}),
    severity: finding.severity,
    attributes: finding.attributes.map(({ key, value }) => ({ key, value })),
  };
}

/** The image the request's `imageId` names now: its digest, and the id to answer (the digest resolved, the tag as given). */
async function requestedImage(context: EcrActionContext, repository: string): Promise<{ digest: string; id: { imageDigest?: string; imageTag?: string }; answer: Record<string, unknown> }> {
  const { input, options } = context;
  if (input.imageId === undefined || input.imageId === null) throw missingMember('imageId');
  const id = imageIdOf(input.imageId, 'imageId');
  const resolved = await options.operations.images.resolve(repository, { digest: id.imageDigest, tag: id.imageTag });
  if (!resolved.ok) {
    if (resolved.reason === 'invalid-digest') throw invalidParameter('imageId', `imageDigest '${String(id.imageDigest).slice(0, 200)}' is not a digest (<algorithm>:<hex>, such as sha256: and 64 hex digits)`);
    if (resolved.reason === 'invalid-tag') {
      throw invalidParameter('imageId', `imageTag '${String(id.imageTag).slice(0, 200)}' is not a tag (letters, digits, _ . - starting with a letter, digit or _, at most 128 characters)`);
    }
    throw ecrError('ImageNotFoundException', { name: repository, account: options.registryAccount, digest: id.imageDigest, tag: id.imageTag });
  }
  return { digest: resolved.digest, id, answer: { imageDigest: resolved.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) } };
}

/** Where the next page of findings starts: the offset in the findings of the record at `generation` of the image `digest`. */
function findingsOffset(context: EcrActionContext, digest: string, record: ImageScanRecord): number {
  const token = decodeToken(context.input);
  if (token === undefined) return 0;
  const { skip, generation, digest: tokenDigest } = token;
  if (!Number.isSafeInteger(skip) || (skip as number) < 0 || !Number.isSafeInteger(generation) || typeof tokenDigest !== 'string') {
    throw invalidParameter('nextToken', 'the token is not one this registry issued');
  }
  if (tokenDigest !== digest) throw invalidParameter('nextToken', 'the token was issued for the findings of another image');
  if (generation !== record.generation) {
    throw invalidParameter('nextToken', "the image's findings changed since the token was issued (a new scan, or a match against new vulnerability data): start again without nextToken");
  }
  return skip as number;
}

/** The findings of a completed record, read again once if the content was replaced meanwhile (a rematch). */
async function completedFindings(context: EcrActionContext, repository: string, digest: string, first: ImageScanRecord): Promise<{ record: ImageScanRecord; findings: ScanFinding[] }> {
  const scans = context.options.operations.scans;
  let record = first;
  for (let attempt = 0; ; attempt++) {
    const read = await scans.findings(record);
    if (read.ok) return { record, findings: read.findings };
    const again = read.reason === 'gone' && attempt === 0 ? await scans.record(repository, digest) : null;
    if (again === null || again.status !== 'COMPLETE' || again.findingsRef === record.findingsRef) {
      // Content the record names and the store no longer has (or no content store configured): the registry's fault, not the caller's.
      throw ecrError('ServerException', {
        detail: `The findings of the scan of ${digest} in the repository '${repository}' could not be read${read.reason === 'no-content-store' ? ' (no scan content store is configured)' : ''}; try again later`,
      });
    }
    record = again;
  }
}

export const IMAGE_SCAN_ACTIONS: Record<string, EcrActionDefinition> = {
  StartImageScan: {
    iamAction: 'ecr:StartImageScan',
    repository: repositoryNameOf,
    async run(context) {
      const { options } = context;
      const repository = await existingRepository(context);
      const image = await requestedImage(context, repository);
      const started = await options.operations.scans.start(repository, image.digest);
      if (!started.ok) {
        switch (started.reason) {
          case 'unknown':
            throw ecrError('ImageNotFoundException', { name: repository, account: options.registryAccount, digest: image.id.imageDigest, tag: image.id.imageTag });
          case 'unsupported':
            throw ecrError('UnsupportedImageTypeException', {
              mediaType: started.mediaType,
              hint:
                started.kind === 'index'
                  ? 'An image index is not scanned itself: start the scan of each of its platform images by its digest (docs/scanning.md).'
                  : 'Only container images are scanned: this manifest is an artifact (its artifactType or config media type says so).',
            });
          case 'archived':
            throw ecrError('ImageArchivedException', { name: repository, account: options.registryAccount, digest: image.digest });
          case 'limit-exceeded':
            throw ecrError('LimitExceededException', { detail: 'The scan quota per image has been exceeded. Wait and try again.' });
        }
      }
      return { registryId: options.registryAccount, repositoryName: repository, imageId: image.answer, imageScanStatus: imageScanStatusObject(started.scan) };
    },
  },

  DescribeImageScanFindings: {
    iamAction: 'ecr:DescribeImageScanFindings',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      const repository = await existingRepository(context);
      const max = maxResultsOf(input, MAX_FINDINGS_PER_PAGE, DEFAULT_FINDINGS_PER_PAGE);
      const image = await requestedImage(context, repository);
      const found = await options.operations.scans.record(repository, image.digest);
      if (found === null) throw ecrError('ScanNotFoundException', { name: repository, account: options.registryAccount, digest: image.id.imageDigest, tag: image.id.imageTag });
      const head = { registryId: options.registryAccount, repositoryName: repository, imageId: image.answer };
      if (found.status !== 'COMPLETE') {
        if (input.nextToken !== undefined && input.nextToken !== null) findingsOffset(context, image.digest, found);
        return { ...head, imageScanStatus: imageScanStatusObject(found) };
      }
      const { record, findings } = await completedFindings(context, repository, image.digest, found);
      const offset = findingsOffset(context, image.digest, record);
      const page = findings.slice(offset, offset + max);
      const next = offset + page.length < findings.length ? encodeToken({ digest: image.digest, generation: record.generation, skip: offset + page.length }) : undefined;
      return {
        ...head,
        imageScanStatus: imageScanStatusObject(record),
        imageScanFindings: { ...imageScanFindingsSummary(record), findings: page.map(findingObject) },
        ...(next !== undefined ? { nextToken: next } : {}),
      };
    },
  },
};
