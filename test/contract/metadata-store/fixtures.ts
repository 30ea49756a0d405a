/**
 * What every part of the MetadataStore contract shares: the store under test (opened by the entry,
 * test/contract/metadata-store.contract.ts, before each test) and the records it is fed.
 */
import { createHash } from 'node:crypto';
import type { ReferrerRecord, StoredManifest } from '../../../lambdas/core/model';
import type { MetadataStore } from '../../../lambdas/storage/ports';

export interface OpenedMetadataStore {
  store: MetadataStore;
  reopen?: () => Promise<MetadataStore>;
  cleanup: () => Promise<void>;
}

export const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
export const sha512 = (text: string) => `sha512:${createHash('sha512').update(text).digest('hex')}`;
/** A blob digest (the metadata store never sees the bytes, only their name). */
export const blob = (seed: string) => sha256(`blob ${seed}`);

export const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX = 'application/vnd.oci.image.index.v1+json';

interface ManifestSpec {
  blobs?: string[];
  children?: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  mediaType?: string;
}

/** A manifest record whose body and digest agree, as the registry would store it. */
export function manifest(seed: string, spec: ManifestSpec = {}): StoredManifest {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, seed, ...spec }));
  return {
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    mediaType: spec.mediaType ?? (spec.children ? INDEX : IMAGE),
    size: body.length,
    blobs: spec.blobs ?? [],
    children: spec.children ?? [],
    pushedAt: '2024-05-01T12:00:00.000Z',
    ...(spec.subject !== undefined ? { subject: spec.subject } : {}),
    ...(spec.artifactType !== undefined ? { artifactType: spec.artifactType } : {}),
    ...(spec.annotations !== undefined ? { annotations: spec.annotations } : {}),
    body,
  };
}

/** Byte order, as the port promises for lists (not the locale order of `Array.prototype.sort` with a collator). */
export const byteOrder = (values: string[]) => [...values].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

export function shuffled<T>(values: T[], seed = 7): T[] {
  const out = [...values];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The helpers that go through the store a test currently holds (a test may reopen it). */
export function storeHelpers(current: () => MetadataStore) {
  /** Every referrer of `subject`, following the port's pages. */
  async function allReferrers(repo: string, subject: string): Promise<ReferrerRecord[]> {
    const store = current();
    const out: ReferrerRecord[] = [];
    for (let page = await store.listReferrers(repo, subject, { limit: 1000 }); ; ) {
      out.push(...page.items);
      if (!page.more) return out;
      page = await store.listReferrers(repo, subject, { last: out[out.length - 1].digest, limit: 1000 });
    }
  }

  /** Links every blob of `m` into `repo`, then stores `m`, failing the test if the store refuses. */
  async function push(repo: string, m: StoredManifest, tag?: string): Promise<void> {
    const store = current();
    for (const b of m.blobs) await store.linkBlob(repo, b, { size: 10 });
    expect(await store.putManifest(repo, m, tag)).toEqual({ ok: true });
  }

  return { allReferrers, push };
}
