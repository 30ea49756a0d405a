/**
 * The Registry's manifests: a push stored only once everything it references is linked (its
 * body beside the transaction when too large to keep inline), reads that record pulls, and
 * deletes that leave nothing an index still uses.
 */
import type { PullTimeUpdateExclusion, StoredManifest } from '../model';
import { isExcludedFromPullTime } from '../pull-time-exclusions';
import { ContentBeingDeletedError, type MetadataStore, type PutManifestOptions } from '../../storage/ports';
import { claimForWriting, contentBusy } from '../content-claims';
import { StorageLimitError } from '../../storage/errors';
import { RegistryError } from '../errors';
import { createDigester } from '../digest';
import { validateRepositoryName, parseReference, type Reference } from '../names';
import { parseManifest } from '../manifest';
import type { LargeManifestBodies } from '../large-manifest-bodies';
import type { Logger } from '../log';
import { unknownRepository, type Repositories } from '../repositories';
import { deleteImage } from '../image-deletion';
import type { EnsurePushTarget, ManifestContent } from './types';

/** How often at most a pull of one image is recorded (ECR's `lastRecordedPullTime` granularity). */
export const PULL_RECORD_INTERVAL_MS = 60 * 60 * 1000;
const EXCLUSIONS_CACHE_MS = 60_000;

export interface RegistryManifestsOptions {
  metadata: MetadataStore;
  repositories: Repositories;
  largeBodies: LargeManifestBodies;
  ensurePushTarget: EnsurePushTarget;
  maxManifestBytes: number;
  isTagImmutable: (repository: string, tag: string) => boolean | Promise<boolean>;
  scansPushes: (repository: string) => Promise<boolean>;
  recordPulls: boolean;
  now: () => number;
  log: Logger;
}

export class RegistryManifests {
  private readonly metadata: MetadataStore;
  private readonly repositories: Repositories;
  private readonly largeBodies: LargeManifestBodies;
  private readonly ensurePushTarget: EnsurePushTarget;
  private readonly maxManifestBytes: number;
  private readonly isTagImmutable: (repository: string, tag: string) => boolean | Promise<boolean>;
  private readonly scansPushes: (repository: string) => Promise<boolean>;
  private readonly recordPulls: boolean;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Pulls recorded (or found recorded) by this process: `<repo>\0<digest>` -> epoch ms. */
  private readonly pullsNoted = new Map<string, number>();
  private exclusions?: { readAt: number; list: PullTimeUpdateExclusion[] };

  constructor(options: RegistryManifestsOptions) {
    this.metadata = options.metadata;
    this.repositories = options.repositories;
    this.largeBodies = options.largeBodies;
    this.ensurePushTarget = options.ensurePushTarget;
    this.maxManifestBytes = options.maxManifestBytes;
    this.isTagImmutable = options.isTagImmutable;
    this.scansPushes = options.scansPushes;
    this.recordPulls = options.recordPulls;
    this.now = options.now;
    this.log = options.log;
  }

  async putManifest(
    repository: string,
    reference: string,
    body: Uint8Array,
    contentType: string | undefined,
    options: Pick<PutManifestOptions, 'replicatedFrom'> & { noScan?: boolean } = {},
  ): Promise<{ digest: string; subject?: string }> {
    validateRepositoryName(repository);
    const ref = parseReference(reference);
    if (body.byteLength > this.maxManifestBytes) throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than ${this.maxManifestBytes} bytes`);
    const parsed = parseManifest(body, contentType);
    const algorithm = ref.kind === 'digest' ? ref.digest.algorithm : 'sha256';
    const digest = `${algorithm}:${createDigester(algorithm).update(body).digest('hex')}`;
    if (ref.kind === 'digest' && ref.digest.value !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest body has digest ${digest}, not ${ref.digest.value}`, { expected: ref.digest.value, actual: digest });
    }
    const inline = body.byteLength <= this.metadata.inlineManifestLimit;
    const record: StoredManifest = {
      digest,
      mediaType: parsed.mediaType,
      size: body.byteLength,
      blobs: parsed.blobs,
      children: parsed.children,
      pushedAt: new Date().toISOString(),
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(parsed.artifactType !== undefined ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.annotations !== undefined ? { annotations: parsed.annotations } : {}),
      ...(inline ? { body } : {}),
    };
    const tag = ref.kind === 'tag' ? ref.tag : undefined;
    // A manifest needing no blobs (an empty index, an artifact) could otherwise create the repository.
    if (parsed.blobs.length === 0 && parsed.children.length === 0) await this.ensurePushTarget(repository);
    const immutableTag = tag !== undefined && (await this.isTagImmutable(repository, tag));
    const replicatedFrom = options.replicatedFrom;
    // Images are scanned, not indexes (their platform images are, each) nor referrers (signatures, SBOMs).
    const scan = parsed.kind === 'image' && !parsed.subject && options.noScan !== true && (await this.scansPushes(repository));
    const commit = () =>
      this.metadata.putManifest(repository, record, tag, {
        immutableTag,
        ...(replicatedFrom !== undefined ? { replicatedFrom } : {}),
        ...(scan ? { scan: { startedAt: record.pushedAt } } : {}),
      });
    // A body kept in the blob store must be there before the commit, but only stays if the commit happens.
    // Claimed first, as an upload's bytes are: the collector then leaves the body's content alone (docs/garbage-collection.md).
    if (!inline) await claimForWriting(this.metadata, digest);
    const stored = inline ? commit() : this.largeBodies.storeAround(digest, body, commit, (result) => result.ok);
    const result = await stored.catch((err) => {
      if (err instanceof StorageLimitError) throw new RegistryError('MANIFEST_INVALID', `this registry cannot store the manifest: ${err.message}`);
      if (err instanceof ContentBeingDeletedError) throw contentBusy(digest);
      throw err;
    });
    if (!result.ok && 'tagHeldBy' in result) {
      throw new RegistryError('TAG_IMMUTABLE', `tag ${tag} is immutable in repository ${repository} and already names ${result.tagHeldBy}: push under a new tag`, {
        tag,
        digest: result.tagHeldBy,
      });
    }
    if (!result.ok) {
      const missing = [...result.missingBlobs.map((d) => `blob ${d}`), ...result.missingManifests.map((d) => `manifest ${d}`)];
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references content not in repository ${repository}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, {
        blobs: result.missingBlobs,
        manifests: result.missingManifests,
      });
    }
    return { digest, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  async statManifest(repository: string, reference: string): Promise<StoredManifest> {
    validateRepositoryName(repository);
    const ref = readableReference(reference);
    if (!ref) throw await this.unknownManifest(repository, reference);
    // One metadata read either way (a tag's record comes with the tag): the hot path of every pull.
    const manifest = ref.kind === 'digest' ? await this.metadata.getManifest(repository, ref.digest.value) : await this.metadata.getTaggedManifest(repository, ref.tag);
    if (manifest?.storageClass === 'ARCHIVE') {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${manifest.digest} is archived: restore it (UpdateImageStorageClass to STANDARD, or push it again) to pull it`, {
        reference,
        archived: true,
      });
    }
    if (manifest) return manifest;
    throw await this.unknownManifest(repository, reference);
  }

  /** The manifest for a pull; `pulledBy` (the caller's principal ARN) is checked against the pull time update exclusions. */
  async getManifest(repository: string, reference: string, options: { pulledBy?: string } = {}): Promise<ManifestContent> {
    const manifest = await this.statManifest(repository, reference);
    if (this.recordPulls) await this.notePull(repository, manifest, options.pulledBy);
    const body = manifest.body ?? (await this.readManifestBody(manifest.digest));
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size, body: body };
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    validateRepositoryName(repository);
    const ref = readableReference(reference);
    if (!ref) throw await this.unknownManifest(repository, reference);
    if (ref.kind === 'tag') {
      if (!(await this.metadata.deleteTag(repository, ref.tag))) throw await this.unknownManifest(repository, reference);
      return;
    }
    // The OCI DELETE by digest leaves the manifest's referrers (the spec's dangling subject).
    const result = await deleteImage(this.metadata, repository, ref.digest.value, { referrers: 'keep' });
    if (result.ok) return;
    if (result.reason !== 'in-use') throw await this.unknownManifest(repository, reference);
    throw new RegistryError(
      'MANIFEST_IN_USE',
      `manifest ${ref.digest.value} is still referenced by image index(es) ${result.by.join(', ')}: delete the index first`,
      { digest: ref.digest.value, indexes: result.by },
    );
  }

  async readManifestBody(digest: string): Promise<Uint8Array> {
    return this.largeBodies.read(digest);
  }

  /**
   * Records a pull for `lastRecordedPullTime`, at most once per image per PULL_RECORD_INTERVAL_MS:
   * skipped when the record read for the pull (or this process's memory) shows a recent one, and
   * otherwise a conditional update that only writes when the stored time is older than that. A
   * failure is logged, never the pull's failure.
   */
  private async notePull(repository: string, manifest: StoredManifest, pulledBy: string | undefined): Promise<void> {
    const now = this.now();
    const since = now - PULL_RECORD_INTERVAL_MS;
    if (manifest.lastPulledAt !== undefined && Date.parse(manifest.lastPulledAt) > since) return;
    const key = `${repository}\u0000${manifest.digest}`;
    const noted = this.pullsNoted.get(key);
    if (noted !== undefined && noted > since) return;
    // An excluded principal's pull is not noted either: the next pull by someone else records.
    try {
      if (pulledBy !== undefined && isExcludedFromPullTime(await this.pullTimeExclusions(), pulledBy)) return;
    } catch (error) {
      this.log.warn('reading the pull time update exclusions failed', { error });
      return;
    }
    this.pullsNoted.delete(key);
    this.pullsNoted.set(key, now);
    if (this.pullsNoted.size > 10_000) this.pullsNoted.delete(this.pullsNoted.keys().next().value as string);
    try {
      await this.metadata.recordImagePull(repository, manifest.digest, new Date(now).toISOString(), new Date(since + 1).toISOString());
    } catch (error) {
      this.pullsNoted.delete(key);
      this.log.warn('recording a pull failed', { repository, digest: manifest.digest, error });
    }
  }

  /** Drops the cached exclusions: the list changed in this process. */
  forgetPullTimeExclusions(): void {
    this.exclusions = undefined;
  }

  /** The registry's exclusions, read at most once a minute: a change made in another process shows within that. */
  private async pullTimeExclusions(): Promise<PullTimeUpdateExclusion[]> {
    const now = this.now();
    if (!this.exclusions || this.exclusions.readAt < now - EXCLUSIONS_CACHE_MS) {
      this.exclusions = { readAt: now, list: (await this.metadata.getRegistrySettings()).pullTimeUpdateExclusions ?? [] };
    }
    return this.exclusions.list;
  }

  private async unknownManifest(repository: string, reference: string): Promise<RegistryError> {
    if (!(await this.repositories.exists(repository))) return unknownRepository(repository);
    return new RegistryError('MANIFEST_UNKNOWN', undefined, { reference });
  }
}

/**
 * A reference to look a manifest up by, or null when it cannot name one: no manifest can exist
 * under an invalid tag or a malformed digest, so a read or delete of it is "not found" (404, as
 * the spec asks for a manifest that is not there); only a PUT refuses the spelling with 400.
 */
function readableReference(reference: string): Reference | null {
  try {
    return parseReference(reference);
  } catch (err) {
    if (err instanceof RegistryError) return null;
    throw err;
  }
}
