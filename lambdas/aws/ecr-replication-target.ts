/**
 * The ReplicationTarget port (core/replication/replicate-push.ts) over a destination deployment's ECR
 * JSON endpoint: Berth's replication actions, signed with the replicator's own credentials, which the
 * destination authorizes as `ecr:ReplicateImage` (docs/replication.md, "Who may replicate"). A blob
 * the destination answers UPLOAD for is streamed to its ingest service by replication-upload.ts.
 */
import type { ReplicationTarget } from '../core/replication/replicate-push';
import { callEcrJson, type EcrJsonEndpoint } from './ecr-json-call';
import { BlobUploadError, uploadBlob, type BlobUploadTimeouts } from './replication-upload';

export class EcrReplicationTarget implements ReplicationTarget {
  constructor(
    private readonly endpoint: EcrJsonEndpoint,
    private readonly uploadTimeouts: BlobUploadTimeouts = {},
  ) {}

  async replicateBlob(request: Parameters<ReplicationTarget['replicateBlob']>[0]): ReturnType<ReplicationTarget['replicateBlob']> {
    const answer = await callEcrJson(this.endpoint, 'BerthReplicateBlob', {
      repositoryName: request.repository,
      sourceRegion: request.sourceRegion,
      digest: request.digest,
      size: request.size,
      url: request.url,
    });
    if (answer.result === 'UPLOAD') {
      if (typeof answer.uploadUrl !== 'string') throw new BlobUploadError('destination', 'the destination answered UPLOAD without an uploadUrl');
      return { upload: answer.uploadUrl };
    }
    return answer.result === 'PRESENT' ? 'PRESENT' : 'COPIED';
  }

  uploadBlob(request: Parameters<ReplicationTarget['uploadBlob']>[0]): Promise<void> {
    return uploadBlob(request, this.uploadTimeouts);
  }

  async replicateImage(request: Parameters<ReplicationTarget['replicateImage']>[0]): Promise<{ digest: string; tagged: boolean; reason?: string }> {
    const answer = await callEcrJson(this.endpoint, 'BerthReplicateImage', {
      repositoryName: request.repository,
      sourceRegion: request.sourceRegion,
      imageManifest: Buffer.from(request.manifest).toString('utf8'),
      imageManifestMediaType: request.mediaType,
      ...(request.tag !== undefined ? { imageTag: request.tag } : {}),
    });
    const imageId = (answer.imageId ?? {}) as { imageDigest?: string };
    return {
      digest: String(imageId.imageDigest ?? ''),
      tagged: answer.tagged === true,
      ...(typeof answer.reason === 'string' ? { reason: answer.reason } : {}),
    };
  }

  async replicateDelete(request: Parameters<ReplicationTarget['replicateDelete']>[0]): Promise<'DELETED' | 'ABSENT'> {
    const answer = await callEcrJson(this.endpoint, 'BerthReplicateDelete', {
      repositoryName: request.repository,
      sourceRegion: request.sourceRegion,
      imageDigest: request.digest,
      ...(request.tag !== undefined ? { imageTag: request.tag } : {}),
    });
    return answer.result === 'DELETED' ? 'DELETED' : 'ABSENT';
  }
}
