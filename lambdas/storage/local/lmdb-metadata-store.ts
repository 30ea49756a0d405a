/**
 * LmdbMetadataStore: the metadata store of local mode, on LMDB (the `lmdb` package, which
 * ships its native binary inside the npm package, so nothing is built or downloaded at
 * install time). LMDB is copy-on-write with one writer: a commit is durable when it
 * returns and a crash at any moment leaves the last committed state, so a SIGKILL can
 * never expose half a manifest or a dangling tag.
 *
 * deleteRepository is one write transaction: the repository and everything under it (links
 * with their reverse entries, manifests, tags, usage, parents, referrers, policy, settings)
 * disappear at one instant, or not at all.
 *
 * Key layout (string keys, parts joined by \x1f, which sorts below every character a
 * name, tag or digest may contain, so a prefix scan never runs into a neighbour):
 *
 *   layout                                        -> { version }
 *   repo     <name>                               -> RepositoryRecord
 *   link     <repo> <digest>                      -> BlobLink           (blob readable in repo)
 *   blobrepo <digest> <repo>                      -> 1                  (reverse of link)
 *   manifest <repo> <digest>                      -> StoredManifest     (body inline)
 *   tag      <repo> <tag>                         -> digest
 *   tagsof   <repo> <digest> <tag>                -> 1                  (reverse of tag)
 *   usage    <repo> <blob digest> <manifest>      -> 1                  (manifest needs blob)
 *   parent   <repo> <child digest> <index>        -> 1                  (index needs child)
 *   referrer <repo> <subject digest> <digest>     -> ReferrerRecord
 *   upload   <id>                                 -> UploadState
 *   policy   <repo>                               -> repository policy (JSON text)
 *   settings <repo>                               -> RepositorySettings (absent: the defaults;
 *                                                    a repository created by a push has none)
 *   registry-policy                               -> registry policy (JSON text)
 *   pulled   <repo> <digest>                      -> ISO time of the last recorded pull (beside the
 *                                                    manifest, so a re-push keeps it)
 *   registry-settings                             -> RegistrySettings (absent: the defaults)
 *   template <prefix>                             -> RepositoryCreationTemplateRecord
 */
import { open, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { DEFAULT_REGISTRY_SETTINGS, DEFAULT_REPOSITORY_SETTINGS, type RegistrySettings, type RepositoryCreationTemplate, type RepositoryCreationTemplateRecord, type ImageRecord, type RepositorySettings, type RepositorySettingsRecord } from '../../core/model';
import { sameTags, type DeleteManifestOptions, type BlobLink, type DeleteRepositoryResult, type DeleteResult, type ImagePage } from '../ports';
import type { ReferrerRecord, RepositoryRecord, StoredManifest, UploadState } from '../../core/model';
import type { MetadataStore, Page, PageRequest, PutManifestOptions, PutManifestResult, ReferrerPage } from '../ports';
import { StorageLayoutError } from '../errors';

export const LMDB_LAYOUT_VERSION = 1;

const SEP = '\x1f';
/** Sorts above every character allowed in names, tags and digests. */
const HIGH = '\x7f';

/**
 * LMDB's key limit (and lmdb-js throws outright a little above it). Every key this store
 * writes is far shorter, but ids and `last` bounds come straight from URLs: a longer one
 * cannot name anything stored and must not turn a client's request into a crash.
 */
const MAX_KEY_BYTES = 1978;

const key = (...parts: string[]): string => parts.join(SEP);
/** A link's value: its size, and since when (absent on links written before it was recorded). */
type StoredLink = BlobLink & { linkedAt?: number };
const storable = (k: string): boolean => Buffer.byteLength(k) <= MAX_KEY_BYTES;
const prefix = (...parts: string[]): string => parts.join(SEP) + SEP;

export interface LmdbMetadataStoreOptions {
  /** Directory holding the LMDB environment. */
  path: string;
}

export class LmdbMetadataStore implements MetadataStore {
  /** LMDB keeps large values in overflow pages, so every manifest the registry accepts stays inline. */
  readonly inlineManifestLimit = Number.MAX_SAFE_INTEGER;
  private readonly db: RootDatabase;

  private constructor(db: RootDatabase) {
    this.db = db;
  }

  static async open(options: LmdbMetadataStoreOptions): Promise<LmdbMetadataStore> {
    mkdirSync(options.path, { recursive: true });
    // overlappingSync (lmdb-js's default) resolves a write before it is on disk; a registry
    // answers 201 only for what survives a power loss.
    const db = open({ path: options.path, encoding: 'msgpack', overlappingSync: false });
    try {
      await checkLayout(db, options.path);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new LmdbMetadataStore(db);
  }

  async getRepository(name: string): Promise<RepositoryRecord | null> {
    return this.db.get(key('repo', name)) ?? null;
  }

  async listRepositories(page: PageRequest): Promise<Page> {
    return this.page(prefix('repo'), page);
  }

  async createRepository(name: string, settings: RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return this.db.transaction((): RepositorySettingsRecord | null => {
      if (this.db.get(key('repo', name)) !== undefined) return null;
      const record: RepositoryRecord = { name, createdAt: new Date().toISOString() };
      this.db.put(key('repo', name), record);
      this.db.put(key('settings', name), settings);
      return { ...settings, createdAt: record.createdAt };
    });
  }

  async getRepositorySettings(name: string): Promise<RepositorySettingsRecord | null> {
    const transaction = this.db.useReadTransaction();
    try {
      const repo: RepositoryRecord | undefined = this.db.get(key('repo', name), { transaction });
      if (repo === undefined) return null;
      const settings: RepositorySettings = this.db.get(key('settings', name), { transaction }) ?? DEFAULT_REPOSITORY_SETTINGS;
      return { ...settings, createdAt: repo.createdAt };
    } finally {
      transaction.done();
    }
  }

  async updateRepositorySettings(name: string, update: (current: RepositorySettings) => RepositorySettings): Promise<RepositorySettingsRecord | null> {
    return this.db.transaction((): RepositorySettingsRecord | null => {
      const repo: RepositoryRecord | undefined = this.db.get(key('repo', name));
      if (repo === undefined) return null;
      const current: RepositorySettings = this.db.get(key('settings', name)) ?? DEFAULT_REPOSITORY_SETTINGS;
      const next = update(structuredClone(current));
      this.db.put(key('settings', name), next);
      return { ...next, createdAt: repo.createdAt };
    });
  }

  async deleteRepository(name: string, force: boolean): Promise<DeleteRepositoryResult> {
    return this.db.transaction((): DeleteRepositoryResult => {
      if (this.db.get(key('repo', name)) === undefined) return { ok: false, reason: 'unknown' };
      if (!force && this.suffixes(prefix('manifest', name), 1).length > 0) return { ok: false, reason: 'not-empty' };
      for (const digest of this.suffixes(prefix('link', name), Infinity)) this.db.remove(key('blobrepo', digest, name));
      for (const kind of ['link', 'manifest', 'tag', 'tagsof', 'usage', 'parent', 'referrer', 'pulled']) {
        const start = prefix(kind, name);
        for (const k of [...this.db.getKeys({ start, end: start + HIGH })]) this.db.remove(k);
      }
      this.db.remove(key('policy', name));
      this.db.remove(key('settings', name));
      this.db.remove(key('repo', name));
      return { ok: true };
    });
  }

  async listManifests(repository: string, { last, limit }: PageRequest): Promise<ImagePage> {
    const start = prefix('manifest', repository);
    const transaction = this.db.useReadTransaction();
    try {
      const items: ImageRecord[] = [];
      const from = last === undefined ? start : start + last;
      if (!storable(from)) return { items, more: false };
      for (const { key: k, value } of this.db.getRange({ start: from, end: start + HIGH, transaction })) {
        const digest = String(k).slice(start.length);
        if (digest === last) continue;
        if (items.length === limit) return { items, more: true };
        const { body: _body, ...record } = value as StoredManifest;
        const pulled: string | undefined = this.db.get(key('pulled', repository, digest), { transaction });
        items.push({ ...record, ...(pulled !== undefined ? { lastPulledAt: pulled } : {}), tags: this.suffixes(prefix('tagsof', repository, digest), Infinity, transaction) });
      }
      return { items, more: false };
    } finally {
      transaction.done();
    }
  }

  async getManifestTags(repository: string, digest: string): Promise<string[]> {
    const start = prefix('tagsof', repository, digest);
    if (!storable(start)) return [];
    return this.suffixes(start, Infinity);
  }

  async linkBlob(repository: string, digest: string, link: BlobLink): Promise<void> {
    await this.db.transaction(() => {
      this.ensureRepository(repository);
      // linkedAt: garbage collection judges a link's age by it (a mount links old content anew).
      this.db.put(key('link', repository, digest), { size: link.size, linkedAt: Date.now() });
      this.db.put(key('blobrepo', digest, repository), 1);
    });
  }

  async statBlobLink(repository: string, digest: string): Promise<BlobLink | null> {
    const link: StoredLink | undefined = this.db.get(key('link', repository, digest));
    return link ? { size: link.size } : null;
  }

  async unlinkBlob(repository: string, digest: string): Promise<DeleteResult<'in-use' | 'unknown'>> {
    return this.db.transaction((): DeleteResult<'in-use' | 'unknown'> => {
      if (this.db.get(key('link', repository, digest)) === undefined) return { ok: false, reason: 'unknown', by: [] };
      const users = this.suffixes(prefix('usage', repository, digest), 20);
      if (users.length > 0) return { ok: false, reason: 'in-use', by: users };
      this.db.remove(key('link', repository, digest));
      this.db.remove(key('blobrepo', digest, repository));
      return { ok: true };
    });
  }

  /** Every blob linked in `repository`, with when (if recorded): garbage collection's view (local mode only, not part of the port). */
  listBlobLinks(repository: string): Array<{ digest: string; linkedAt?: number }> {
    return this.suffixes(prefix('link', repository), Infinity).map((digest) => {
      const link: StoredLink | undefined = this.db.get(key('link', repository, digest));
      return { digest, ...(link?.linkedAt !== undefined ? { linkedAt: link.linkedAt } : {}) };
    });
  }

  async repositoriesWithBlob(digest: string, limit: number): Promise<string[]> {
    return this.suffixes(prefix('blobrepo', digest), limit);
  }

  async putManifest(repository: string, manifest: StoredManifest, tag?: string, options: PutManifestOptions = {}): Promise<PutManifestResult> {
    return this.db.transaction((): PutManifestResult => {
      if (tag !== undefined && options.immutableTag) {
        const holder: string | undefined = this.db.get(key('tag', repository, tag));
        if (holder !== undefined && holder !== manifest.digest) return { ok: false, tagHeldBy: holder };
      }
      const missingBlobs = manifest.blobs.filter((d) => this.db.get(key('link', repository, d)) === undefined);
      const missingManifests = manifest.children.filter((d) => this.db.get(key('manifest', repository, d)) === undefined);
      if (missingBlobs.length > 0 || missingManifests.length > 0) return { ok: false, missingBlobs, missingManifests };

      this.ensureRepository(repository);
      const { lastPulledAt: _pulled, ...stored } = manifest;
      this.db.put(key('manifest', repository, manifest.digest), stored);
      for (const blob of manifest.blobs) this.db.put(key('usage', repository, blob, manifest.digest), 1);
      for (const child of manifest.children) this.db.put(key('parent', repository, child, manifest.digest), 1);
      if (manifest.subject) {
        const referrer: ReferrerRecord = {
          digest: manifest.digest,
          mediaType: manifest.mediaType,
          size: manifest.size,
          ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
          ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
        };
        this.db.put(key('referrer', repository, manifest.subject, manifest.digest), referrer);
      }
      if (tag !== undefined) {
        const previous: string | undefined = this.db.get(key('tag', repository, tag));
        if (previous !== undefined && previous !== manifest.digest) this.db.remove(key('tagsof', repository, previous, tag));
        this.db.put(key('tag', repository, tag), manifest.digest);
        this.db.put(key('tagsof', repository, manifest.digest, tag), 1);
      }
      return { ok: true };
    });
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | null> {
    const transaction = this.db.useReadTransaction();
    try {
      return this.manifestIn(repository, digest, transaction);
    } finally {
      transaction.done();
    }
  }

  private manifestIn(repository: string, digest: string, transaction: ReturnType<RootDatabase['useReadTransaction']>): StoredManifest | null {
    const k = key('manifest', repository, digest);
    if (!storable(k)) return null;
    const manifest: StoredManifest | undefined = this.db.get(k, { transaction });
    if (manifest === undefined) return null;
    const pulled: string | undefined = this.db.get(key('pulled', repository, digest), { transaction });
    return pulled !== undefined ? { ...manifest, lastPulledAt: pulled } : manifest;
  }

  async recordImagePull(repository: string, digest: string, at: string, notBefore: string): Promise<boolean> {
    if (!storable(key('pulled', repository, digest))) return false;
    return this.db.transaction(() => {
      if (this.db.get(key('manifest', repository, digest)) === undefined) return false;
      const current: string | undefined = this.db.get(key('pulled', repository, digest));
      if (current !== undefined && current >= notBefore) return false;
      this.db.put(key('pulled', repository, digest), at);
      return true;
    });
  }

  async getRegistrySettings(): Promise<RegistrySettings> {
    return { ...DEFAULT_REGISTRY_SETTINGS, ...(this.db.get('registry-settings') ?? {}) };
  }

  async setRegistrySettings(settings: RegistrySettings): Promise<void> {
    await this.db.put('registry-settings', settings);
  }

  async createRepositoryCreationTemplate(template: RepositoryCreationTemplate): Promise<RepositoryCreationTemplateRecord | null> {
    const k = key('template', template.prefix);
    if (!storable(k)) return null;
    return this.db.transaction((): RepositoryCreationTemplateRecord | null => {
      if (this.db.get(k) !== undefined) return null;
      const now = new Date().toISOString();
      const record = { ...template, createdAt: now, updatedAt: now };
      this.db.put(k, record);
      return record;
    });
  }

  async listRepositoryCreationTemplates(): Promise<RepositoryCreationTemplateRecord[]> {
    const start = prefix('template');
    return [...this.db.getRange({ start, end: start + HIGH })].map(({ value }) => value as RepositoryCreationTemplateRecord);
  }

  async updateRepositoryCreationTemplate(
    templatePrefix: string,
    update: (current: RepositoryCreationTemplate) => RepositoryCreationTemplate,
  ): Promise<RepositoryCreationTemplateRecord | null> {
    const k = key('template', templatePrefix);
    if (!storable(k)) return null;
    return this.db.transaction((): RepositoryCreationTemplateRecord | null => {
      const current: RepositoryCreationTemplateRecord | undefined = this.db.get(k);
      if (current === undefined) return null;
      const { createdAt, updatedAt: _updatedAt, ...template } = structuredClone(current);
      const next = { ...update(template), prefix: templatePrefix, createdAt, updatedAt: new Date().toISOString() };
      this.db.put(k, next);
      return next;
    });
  }

  async deleteRepositoryCreationTemplate(templatePrefix: string): Promise<RepositoryCreationTemplateRecord | null> {
    const k = key('template', templatePrefix);
    if (!storable(k)) return null;
    return this.db.transaction((): RepositoryCreationTemplateRecord | null => {
      const current: RepositoryCreationTemplateRecord | undefined = this.db.get(k);
      if (current === undefined) return null;
      this.db.remove(k);
      return current;
    });
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    return this.db.get(key('tag', repository, tag)) ?? null;
  }

  async getTaggedManifest(repository: string, tag: string): Promise<StoredManifest | null> {
    // Both keys from one read transaction: a tag never pairs with a record from another moment.
    const transaction = this.db.useReadTransaction();
    try {
      const digest: string | undefined = this.db.get(key('tag', repository, tag), { transaction });
      if (digest === undefined) return null;
      return this.manifestIn(repository, digest, transaction);
    } finally {
      transaction.done();
    }
  }

  async deleteManifest(repository: string, digest: string, options: DeleteManifestOptions = {}): Promise<DeleteResult<'in-use' | 'unknown' | 'tagged'>> {
    return this.db.transaction((): DeleteResult<'in-use' | 'unknown' | 'tagged'> => {
      const manifest: StoredManifest | undefined = this.db.get(key('manifest', repository, digest));
      if (manifest === undefined) return { ok: false, reason: 'unknown', by: [] };
      const parents = this.suffixes(prefix('parent', repository, digest), 20);
      if (parents.length > 0) return { ok: false, reason: 'in-use', by: parents };
      const tags = this.suffixes(prefix('tagsof', repository, digest), Infinity);
      if (options.onlyIfTags && !sameTags(tags, options.onlyIfTags)) return { ok: false, reason: 'tagged', by: tags.slice(0, 20) };

      for (const tag of tags) {
        this.db.remove(key('tag', repository, tag));
        this.db.remove(key('tagsof', repository, digest, tag));
      }
      for (const blob of manifest.blobs) this.db.remove(key('usage', repository, blob, digest));
      for (const child of manifest.children) this.db.remove(key('parent', repository, child, digest));
      if (manifest.subject) this.db.remove(key('referrer', repository, manifest.subject, digest));
      this.db.remove(key('pulled', repository, digest));
      this.db.remove(key('manifest', repository, digest));
      return { ok: true };
    });
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.db.transaction(() => {
      const digest: string | undefined = this.db.get(key('tag', repository, tag));
      if (digest === undefined) return false;
      this.db.remove(key('tag', repository, tag));
      this.db.remove(key('tagsof', repository, digest, tag));
      return true;
    });
  }

  async listTags(repository: string, page: PageRequest): Promise<Page> {
    return this.page(prefix('tag', repository), page);
  }

  async listReferrers(repository: string, subject: string, { last, limit }: PageRequest): Promise<ReferrerPage> {
    const start = prefix('referrer', repository, subject);
    if (!storable(start)) return { items: [], more: false };
    // A bound LMDB could not store is sought by a prefix (never shorter than this subject's); what sorts at or before it is skipped.
    const clipped = last === undefined ? start : storable(start + last) ? start + last : storablePrefix(start + last);
    const from = clipped.length > start.length ? clipped : start;
    const bound = last === undefined ? undefined : Buffer.from(last);
    const items: ReferrerRecord[] = [];
    let read = 0;
    for (const { value } of this.db.getRange({ start: from, end: start + HIGH })) {
      const record = value as ReferrerRecord;
      if (bound && Buffer.compare(Buffer.from(record.digest), bound) <= 0) continue;
      if (items.length >= limit || read >= REFERRER_READ_BYTES) return { items, more: true };
      items.push(record);
      read += referrerBytes(record);
    }
    return { items, more: false };
  }

  async getRepositoryPolicy(repository: string): Promise<string | null> {
    return this.db.get(key('policy', repository)) ?? null;
  }

  async setRepositoryPolicy(repository: string, policy: string | null): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.db.get(key('repo', repository)) === undefined) return false;
      if (policy === null) this.db.remove(key('policy', repository));
      else this.db.put(key('policy', repository), policy);
      return true;
    });
  }

  async getRegistryPolicy(): Promise<string | null> {
    return this.db.get('registry-policy') ?? null;
  }

  async setRegistryPolicy(policy: string | null): Promise<void> {
    if (policy === null) await this.db.remove('registry-policy');
    else await this.db.put('registry-policy', policy);
  }

  async createUpload(state: UploadState): Promise<void> {
    await this.db.put(key('upload', state.id), state);
  }

  async getUpload(id: string): Promise<UploadState | null> {
    if (!storable(key('upload', id))) return null;
    return this.db.get(key('upload', id)) ?? null;
  }

  async advanceUpload(id: string, expectedOffset: number, next: Pick<UploadState, 'offset' | 'hashState'>): Promise<boolean> {
    if (!storable(key('upload', id))) return false;
    return this.db.transaction(() => {
      const current: UploadState | undefined = this.db.get(key('upload', id));
      if (current === undefined || current.offset !== expectedOffset) return false;
      this.db.put(key('upload', id), { ...current, ...next });
      return true;
    });
  }

  async deleteUpload(id: string): Promise<void> {
    if (!storable(key('upload', id))) return;
    await this.db.remove(key('upload', id));
  }

  async listUploadsStartedBefore(isoTime: string, limit: number): Promise<UploadState[]> {
    // Uploads are few and short-lived, so a scan is cheaper than keeping a time index.
    const start = prefix('upload');
    const out: UploadState[] = [];
    for (const { value } of this.db.getRange({ start, end: start + HIGH })) {
      if (out.length >= limit) break;
      const upload = value as UploadState;
      if (upload.startedAt < isoTime) out.push(upload);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Must run inside a transaction. */
  private ensureRepository(name: string): void {
    if (this.db.get(key('repo', name)) === undefined) {
      const record: RepositoryRecord = { name, createdAt: new Date().toISOString() };
      this.db.put(key('repo', name), record);
    }
  }

  /** The last key part of every entry under `start`, up to `limit` of them. */
  private suffixes(start: string, limit: number, transaction?: ReturnType<RootDatabase['useReadTransaction']>): string[] {
    const out: string[] = [];
    for (const k of this.db.getKeys({ start, end: start + HIGH, ...(transaction ? { transaction } : {}) })) {
      if (out.length >= limit) break;
      out.push(String(k).slice(start.length));
    }
    return out;
  }

  private page(start: string, { last, limit }: PageRequest): Page {
    const items: string[] = [];
    let from = last === undefined ? start : start + last;
    // LMDB cannot seek to a key it could not store: seek to a prefix of the bound instead,
    // and skip what sorts at or before the whole bound (byte order, as LMDB sorts).
    const clipped = !storable(from);
    if (clipped) from = storablePrefix(from);
    const bound = clipped ? Buffer.from(last!) : undefined;
    for (const k of this.db.getKeys({ start: from, end: start + HIGH })) {
      const item = String(k).slice(start.length);
      if (item === last) continue;
      if (bound && Buffer.compare(Buffer.from(item), bound) <= 0) continue;
      if (items.length === limit) return { items, more: true };
      items.push(item);
    }
    return { items, more: false };
  }
}

/**
 * About how many bytes of referrers one listReferrers call reads before it stops (plus the one that
 * crosses it): about what a DynamoDB Query returns, so a caller asking for a thousand referrers with
 * megabytes of annotations each holds a few megabytes, not gigabytes.
 */
const REFERRER_READ_BYTES = 1024 * 1024;

/** A referrer's size, counted as its strings' lengths (close enough to bound a read). */
function referrerBytes(r: ReferrerRecord): number {
  let n = r.digest.length + r.mediaType.length + (r.artifactType?.length ?? 0);
  for (const [k, v] of Object.entries(r.annotations ?? {})) n += k.length + v.length;
  return n;
}

/** A prefix of `k` that fits the key limit (a UTF-16 unit is at most 3 UTF-8 bytes), never ending inside a surrogate pair. */
function storablePrefix(k: string): string {
  const cut = k.slice(0, Math.floor(MAX_KEY_BYTES / 3));
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

async function checkLayout(db: RootDatabase, path: string): Promise<void> {
  const layout: { version: number } | undefined = db.get('layout');
  if (layout === undefined) {
    const empty = db.getKeysCount({ limit: 1 }) === 0;
    if (!empty) throw new StorageLayoutError(path, 'metadata has no layout version');
    await db.put('layout', { version: LMDB_LAYOUT_VERSION });
    return;
  }
  if (layout.version !== LMDB_LAYOUT_VERSION) {
    throw new StorageLayoutError(path, `metadata layout version ${layout.version}; this build reads version ${LMDB_LAYOUT_VERSION}`);
  }
}
