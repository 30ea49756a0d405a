/**
 * The ReplicationTarget port (core/replication/replicate-push.ts) over a destination deployment's ECR
 * JSON endpoint: Berth's replication actions, signed with the replicator's own credentials, which the
 * destination authorizes as `ecr:ReplicateImage` (docs/replication.md, "Who may replicate").
 */
import type { ReplicationTarget } from '../core/replication/replicate-push';
import { callEcrJson, type EcrJsonEndpoint } from './ecr-json-call';

export class EcrReplicationTarget implements ReplicationTarget {
  constructor(private readonly endpoint: EcrJsonEndpoint) {}

  async replicateBlob(request: Parameters<ReplicationTarget['replicateBlob']>[0]): Promise<'PRESENT' | 'COPIED'> {
    const answer = await callEcrJson(this.endpoint, 'BerthReplicateBlob', {
      repositoryName: request.repository,
      sourceRegion: request.sourceRegion,
      digest: request.digest,
      size: request.size,
      url: request.url,
    });
    return answer.result === 'PRESENT' ? 'PRESENT' : 'COPIED';
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
