/** The Registry's listings: tags, the catalog and referrers, one page at a time. */
import type { MetadataStore } from '../../storage/ports';
import { RegistryError } from '../errors';
import { parseDigest, type Digest } from '../digest';
import { validateRepositoryName } from '../names';
import { MediaTypes } from '../media-types';
import { jsonBytes, readReferrerPage } from '../referrer-pages';
import type { Repositories } from '../repositories';
import type { ListPage, ReferrersPage } from './types';

/** Largest page a list answers with; a larger `n` is cut to this and the rest follows a `Link`. */
export const MAX_PAGE_SIZE = 1000;

export interface RegistryListingsOptions {
  metadata: MetadataStore;
  repositories: Repositories;
  referrersPageSize: number;
  referrersPageBytes: number;
}

export class RegistryListings {
  private readonly metadata: MetadataStore;
  private readonly repositories: Repositories;
  private readonly referrersPageSize: number;
  private readonly referrersPageBytes: number;

  constructor(options: RegistryListingsOptions) {
    this.metadata = options.metadata;
    this.repositories = options.repositories;
    this.referrersPageSize = options.referrersPageSize;
    this.referrersPageBytes = options.referrersPageBytes;
  }

  async listTags(repository: string, n: string | undefined, last: string | undefined): Promise<ListPage> {
    validateRepositoryName(repository);
    await this.repositories.require(repository);
    const limit = pageSize(n);
    if (limit === 0) return { items: [] };
    return toListPage(await this.metadata.listTags(repository, { last, limit }), limit);
  }

  async listRepositories(n: string | undefined, last: string | undefined): Promise<ListPage> {
    const limit = pageSize(n);
    if (limit === 0) return { items: [] };
    return toListPage(await this.metadata.listRepositories({ last, limit }), limit);
  }

  async listReferrers(repository: string, digestText: string, options: { artifactType?: string; last?: string } = {}): Promise<ReferrersPage> {
    validateRepositoryName(repository);
    const digest: Digest = parseDigest(digestText);
    const { artifactType, last } = options;
    const index = { schemaVersion: 2 as const, mediaType: MediaTypes.ociIndex, manifests: [] as object[] };
    const page = await readReferrerPage(this.metadata, repository, digest.value, {
      after: last,
      matches: artifactType === undefined ? undefined : (r) => r.artifactType === artifactType,
      describe: (r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
        ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
      }),
      maxItems: this.referrersPageSize,
      maxBytes: this.referrersPageBytes - jsonBytes(index),
    });
    return {
      index: { ...index, manifests: page.items },
      filtered: artifactType !== undefined,
      ...(page.nextAfter !== undefined ? { nextLast: page.nextAfter } : {}),
    };
  }
}

function pageSize(n: string | undefined): number {
  if (n === undefined || n === '') return MAX_PAGE_SIZE;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 32) });
  return Math.min(Number(n), MAX_PAGE_SIZE);
}

function toListPage(page: { items: string[]; more: boolean }, limit: number): ListPage {
  if (!page.more || page.items.length === 0) return { items: page.items };
  return { items: page.items, next: { n: limit, last: page.items[page.items.length - 1] } };
}
