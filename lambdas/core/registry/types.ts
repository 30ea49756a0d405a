/** What the Registry's operations answer and take, shared by the facade (core/registry.ts) and its parts. */
import type { ByteStream } from '../model';
import type { InclusiveRange } from '../ranges';

export interface BlobInfo {
  digest: string;
  size: number;
}

export type BlobContent =
  | { kind: 'redirect'; digest: string; size: number; url: string }
  | { kind: 'bytes'; digest: string; size: number; range?: InclusiveRange; stream: ByteStream };

export interface ManifestContent {
  digest: string;
  mediaType: string;
  size: number;
  body: Uint8Array;
}

export interface ListPage {
  items: string[];
  /** Present when more items follow: the `n` and `last` of the next page. */
  next?: { n: number; last: string };
}

export interface ReferrersPage {
  index: { schemaVersion: 2; mediaType: string; manifests: object[] };
  filtered: boolean;
  /** Present when more referrers follow: the `last` of the next page. */
  nextLast?: string;
}

export interface ChunkRequest {
  body: ByteStream | null;
  contentRange?: string;
  contentLength?: number;
}

/** Makes sure a push may write to a repository (Registry.ensurePushTarget), handed to the parts that push. */
export type EnsurePushTarget = (repository: string) => Promise<void>;
