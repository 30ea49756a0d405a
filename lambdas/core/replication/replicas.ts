/**
 * The destination's side of replication (contracts/replication-actions.ts): what the destination does
 * with what a source replicates to it, through the same Registry rules a push goes through, so that a
 * replica is stored exactly as a push would store it (digest checked before anything is visible,
 * content claimed before it is written, a manifest refused while its blobs or children are missing).
 *
 * - A repository replication creates takes the destination's creation template applied for REPLICATION
 *   (longest prefix) or the defaults, whatever the registry's create-on-push setting says: that setting
 *   governs pushes, and ECR creates replicated repositories regardless (the caller's permission to
 *   create is the transport's to check, before it asks).
 * - A manifest put records that it stored a replica (PutManifestOptions.replicatedFrom): its PUSH is
 *   marked, and ECR's REPLICATE is recorded with it, in one transaction. A replicated delete's DELETEs
 *   are marked the same way (DeleteManifestOptions/DeleteTagOptions.replicatedFrom).
 * - An immutable tag that names another image at the destination leaves the replica untagged (ECR's
 *   rule), where a push would be refused.
 * - Storing the same replica again is a put like any other (no IMAGE_EXISTS): a retry is harmless.
 */
import { createHash } from 'node:crypto';
import type { ReplicatedFrom } from '../../contracts/events';
import type { BlobLinkStore, ManifestStore, PolicyStore, TagStore, TemplateStore } from '../../storage/ports';
import { creationFromTemplate } from '../create-on-push';
import { createDigester, type Digest } from '../digest';
import { RegistryError } from '../errors';
import { deleteImage, deleteImageTag, type ImageDeletion } from '../image-deletion';
import type { ByteStream, RepositorySettings } from '../model';
import type { BlobInfo, Registry } from '../registry';
import { templateFor } from '../templates';

export type ReplicaStore = Pick<BlobLinkStore, 'statBlobLink'> &
  Pick<TemplateStore, 'listRepositoryCreationTemplates'> &
  Pick<PolicyStore, 'setRepositoryPolicy'> &
  Pick<TagStore, 'resolveTag' | 'deleteTag'> &
  Pick<ManifestStore, 'deleteManifest' | 'listReferrers'>;

export type StoredReplica =
  | { digest: string; tagged: boolean }
  /** A tag was asked for, but an immutable tag of that name names another image here: stored untagged. */
  | { digest: string; tagged: false; tagHeldBy: string };

export type ReplicaDeletion = ImageDeletion;

export class Replicas {
  constructor(
    private readonly registry: Registry,
    private readonly store: ReplicaStore,
  ) {}

  /** Whether the repository exists now (read afresh: another process may have created it). */
  exists(repository: string): Promise<boolean> {
    return this.registry.repositories.uncached().exists(repository);
  }

  /** Creates the repository with the REPLICATION template's settings and policy, or the defaults; false when it existed already. */
  async createRepository(repository: string): Promise<boolean> {
    const template = templateFor(await this.store.listRepositoryCreationTemplates(), repository, 'REPLICATION');
    const creation: { settings: Partial<RepositorySettings>; policy?: string } = template ? creationFromTemplate(template) : { settings: {} };
    const created = await this.registry.repositories.createIfAbsent(repository, creation.settings);
    if (created && creation.policy !== undefined) await this.store.setRepositoryPolicy(repository, creation.policy);
    return created !== null;
  }

  /** True when the repository links the blob already: the link is renewed, so the collector leaves it until the manifest that needs it arrives. */
  hasBlob(repository: string, digest: string): Promise<boolean> {
    return this.registry.renewBlobLink(repository, digest);
  }

  /**
   * Stores a blob from `body` through the registry's single-request upload (claim, write, digest,
   * commit, link). Exactly `size` bytes must arrive (SIZE_INVALID otherwise) and they must have
   * `digest` (DIGEST_INVALID); either way the upload is discarded and nothing is linked.
   */
  storeBlob(repository: string, digest: string, size: number, body: ByteStream): Promise<BlobInfo> {
    return this.registry.uploadWhole(repository, digest, { body: exactly(body, size), contentLength: size });
  }

  /**
   * Stores a manifest as a replica from `from`, then its tag. `expected`, when given, must be the
   * body's digest (DIGEST_INVALID). Missing blobs or children: MANIFEST_BLOB_UNKNOWN, nothing stored.
   */
  async storeImage(
    repository: string,
    body: Uint8Array,
    mediaType: string,
    options: { tag?: string; expected?: Digest; from: ReplicatedFrom },
  ): Promise<StoredReplica> {
    const { tag, expected, from } = options;
    let digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (expected !== undefined) {
      const actual = expected.algorithm === 'sha256' ? digest : `${expected.algorithm}:${createDigester(expected.algorithm).update(body).digest('hex')}`;
      if (actual !== expected.value) throw new RegistryError('DIGEST_INVALID', `the manifest has digest ${actual}, not ${expected.value}`, { expected: expected.value, actual });
      digest = expected.value;
    }
    if (tag === undefined) return { digest: (await this.registry.putManifest(repository, digest, body, mediaType, { replicatedFrom: from })).digest, tagged: false };
    try {
      return { digest: (await this.registry.putManifest(repository, tag, body, mediaType, { replicatedFrom: from })).digest, tagged: true };
    } catch (err) {
      if (!(err instanceof RegistryError && err.kind === 'TAG_IMMUTABLE')) throw err;
      // ECR replicates the image without the tag; the PUSH and REPLICATE recorded say no tag either.
      const tagHeldBy = String((err.detail as { digest?: string } | undefined)?.digest ?? '');
      const stored = await this.registry.putManifest(repository, digest, body, mediaType, { replicatedFrom: from });
      return { digest: stored.digest, tagged: false, tagHeldBy };
    }
  }

  /**
   * With `tag`: removes it while it names `digest` (the image goes with its last tag, as
   * BatchDeleteImage by tag); a tag that is absent or names another image is `unknown`. Without:
   * deletes the image by digest with its tags and untagged referrers. Every DELETE recorded carries
   * `from`, so that a destination which replicates deletes itself skips them, as it skips a replica's
   * PUSH: no chain, and no loop between two registries replicating to each other.
   */
  async deleteReplica(repository: string, digest: string, options: { tag?: string; from: ReplicatedFrom }): Promise<ReplicaDeletion> {
    const { tag, from } = options;
    if (tag === undefined) return deleteImage(this.store, repository, digest, { replicatedFrom: from });
    if ((await this.store.resolveTag(repository, tag)) !== digest) return { ok: false, reason: 'unknown' };
    return deleteImageTag(this.store, repository, tag, digest, { replicatedFrom: from });
  }
}

/** `body`, refused (SIZE_INVALID) as soon as it has more than `size` bytes, or at its end with fewer. */
async function* exactly(body: ByteStream, size: number): ByteStream {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.length;
    if (received > size) throw new RegistryError('SIZE_INVALID', `the blob has more than the ${size} bytes it was announced with`, { expected: size });
    yield chunk;
  }
  if (received !== size) throw new RegistryError('SIZE_INVALID', `the blob has ${received} bytes, not the ${size} it was announced with`, { expected: size, actual: received });
}
