/**
 * The analyzer's layer reader (issue 15, docs/scanning.md): an image's files of interest out of its
 * layers, each layer opened once and read once as a stream, nothing extracted to disk. Memory is
 * bounded by the limits, not by the image: only wanted files are buffered, and every stage between
 * the blob and the tar parser applies backpressure.
 *
 * What is and is not handled, beyond the options' limits:
 * - Whiteouts as OCI layer.md specifies them (see tree.ts). `.wh..wh.`-prefixed names other than
 *   the opaque marker are AUFS metadata and ignored, with anything under them; whiteout entries
 *   are never files of the result.
 * - Entry names are normalized (paths.ts); a name whose `..` climbs above the root is skipped.
 * - A wanted symlink is resolved at the end, across the final tree, following links (directory
 *   links included) as a container would, at most 40 hops; its path then maps to the target's
 *   content. The target is only there if it was kept: it is kept if wanted itself, or if the link
 *   came first (a wanted link's target becomes wanted for every later entry, this layer's and
 *   upper layers'). A target read in an earlier entry than its link and not wanted is not there:
 *   callers want the usual targets as well (`usr/lib/os-release` with `etc/os-release`).
 * - A wanted hard link takes its target's content when the target was kept, in the same layer or
 *   below (a target always precedes its links); otherwise it is missing, with a warning.
 * - Wanted paths are matched against the paths the archives store; a file reached only through a
 *   directory symlink (`lib/x` when `lib -> usr/lib`) is found under its stored path only. An
 *   entry stored under a lower layer's symlinked directory is taken at its stored path.
 * - GNU sparse files (type `S`, or PAX sparse maps) are not reassembled: a wanted one is skipped.
 */
import { abortable, untilAborted } from '../../abortable-stream';
import type { ByteStream } from '../../model';
import { declaredCompression, gunzip, peekBytes, sniffFormat, type Compression } from './compression';
import { LayerReadError } from './errors';
import { baseOf, joinPath, normalizeEntryPath, parentOf, resolvePath } from './paths';
import { forEachTarEntry, type TarEntryBody } from './tar';
import { LayeredTree } from './tree';
import { DEFAULT_MAX_ZSTD_WINDOW, ZstdFormatError, zstdDecompress } from './zstd';
import type { Header } from 'tar-stream';

/** One layer of an image, as its manifest lists it. */
export interface ImageLayer {
  digest: string;
  mediaType: string;
  /** The descriptor's size: when given, a blob of another length fails with `size-mismatch`. */
  size?: number;
  /** The blob's bytes, as stored (compressed); called once. */
  open(): Promise<ByteStream>;
}

/** Limits and cancellation for readImageFiles; every limit has a default. */
export interface ReadImageFilesOptions {
  /** Largest wanted file kept; a larger one is skipped with a warning. Default 64 MiB. */
  maxFileBytes?: number;
  /** Most file content kept at once; a wanted file that would pass it is skipped with a warning. Default 256 MiB. */
  maxTotalBytes?: number;
  /**
   * Most tar entries read across the image; past it the read fails (`too-many-entries`). Entries
   * cost time, not memory: this stops a crafted archive of empty entries, which compresses
   * a thousandfold, from using up the caller's deadline. Default 10 million (large images hold
   * a few hundred thousand).
   */
  maxEntries?: number;
  /** Most symlinks recorded (each a path and a target); past it only wanted ones are, with a warning. Default 100,000. */
  maxLinks?: number;
  /** Largest zstd window accepted (the decoder allocates it). Default 128 MiB, the zstd CLI's own default limit. */
  maxZstdWindow?: number;
  /** Stops the read: it rejects with the signal's reason, promptly even while a blob read is waiting. */
  signal?: AbortSignal;
}

/** The wanted files of an image, as its final filesystem has them. */
export interface ImageFiles {
  /** Wanted path to content; a wanted symlink's path maps to its target's content. */
  files: Map<string, Uint8Array>;
  /** Wanted paths that are symlinks in the final tree, to their targets as stored (resolved or not). */
  symlinks: Map<string, string>;
  /** What was skipped or guessed, for the scan's log; at most 100 lines, the last one counting the rest. */
  warnings: string[];
  layersRead: number;
  /** Bytes of the blobs as stored (compressed). */
  bytesRead: number;
  /** Bytes of tar read after decompression. */
  bytesUnpacked: number;
  /** Tar entries read, every kind, whiteouts included. */
  entriesSeen: number;
}

const MiB = 1024 * 1024;
const DEFAULTS = {
  maxFileBytes: 64 * MiB,
  maxTotalBytes: 256 * MiB,
  maxEntries: 10_000_000,
  maxLinks: 100_000,
  maxZstdWindow: DEFAULT_MAX_ZSTD_WINDOW,
};
const MAX_WARNINGS = 100;
/** Enough of a blob's start to tell its format (xz's magic is 6 bytes). */
const SNIFF_BYTES = 6;
const OPAQUE_WHITEOUT = '.wh..wh..opq';
const WHITEOUT_PREFIX = '.wh.';
const AUFS_META_PREFIX = '.wh..wh.';

/** A failure of the blob's own stream (storage), told apart from the decoders' failures it travels through. */
class SourceFailure extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

class Warnings {
  readonly lines: string[] = [];
  private dropped = 0;
  add(line: string): void {
    if (this.lines.length < MAX_WARNINGS - 1) this.lines.push(line);
    else this.dropped++;
  }
  list(): string[] {
    return this.dropped === 0 ? this.lines : [...this.lines, `... and ${this.dropped} more warnings`];
  }
}

/** State shared by the layers of one read. */
interface ReadContext {
  readonly limits: typeof DEFAULTS;
  readonly signal?: AbortSignal;
  readonly wanted: (path: string) => boolean;
  readonly tree: LayeredTree;
  readonly warnings: Warnings;
  /** Targets of wanted symlinks: kept as if wanted, to resolve the links at the end. */
  readonly linkTargets: Set<string>;
  linkLimitWarned: boolean;
  bytesRead: number;
  bytesUnpacked: number;
  entriesSeen: number;
}

/**
 * The files `wanted` selects from an image's layers, bottom layer first, applied as a runtime
 * applies them (whiteouts, replacements). Each layer is opened once and read once, as it streams;
 * its compression is told by its first bytes (gzip, zstd, else a plain tar) whatever its media
 * type claims. Rejects with LayerReadError naming the layer when one cannot be read to its end,
 * and with `options.signal`'s reason when it aborts.
 */
export async function readImageFiles(
  layers: AsyncIterable<ImageLayer> | Iterable<ImageLayer>,
  wanted: (path: string) => boolean,
  options: ReadImageFilesOptions = {},
): Promise<ImageFiles> {
  const ctx: ReadContext = {
    limits: {
      maxFileBytes: options.maxFileBytes ?? DEFAULTS.maxFileBytes,
      maxTotalBytes: options.maxTotalBytes ?? DEFAULTS.maxTotalBytes,
      maxEntries: options.maxEntries ?? DEFAULTS.maxEntries,
      maxLinks: options.maxLinks ?? DEFAULTS.maxLinks,
      maxZstdWindow: options.maxZstdWindow ?? DEFAULTS.maxZstdWindow,
    },
    signal: options.signal,
    wanted,
    tree: new LayeredTree(),
    warnings: new Warnings(),
    linkTargets: new Set(),
    linkLimitWarned: false,
    bytesRead: 0,
    bytesUnpacked: 0,
    entriesSeen: 0,
  };
  let layersRead = 0;
  for await (const layer of layers) {
    options.signal?.throwIfAborted();
    await readLayer(layer, ctx);
    ctx.tree.commitLayer();
    layersRead++;
  }
  const { files, symlinks } = finalFiles(ctx);
  return {
    files,
    symlinks,
    warnings: ctx.warnings.list(),
    layersRead,
    bytesRead: ctx.bytesRead,
    bytesUnpacked: ctx.bytesUnpacked,
    entriesSeen: ctx.entriesSeen,
  };
}

/** The wanted paths of the final tree, symlinks resolved. */
function finalFiles(ctx: ReadContext): { files: Map<string, Uint8Array>; symlinks: Map<string, string> } {
  const files = new Map<string, Uint8Array>();
  const symlinks = new Map<string, string>();
  for (const [path, node] of ctx.tree.entries()) {
    if (!ctx.wanted(path)) continue;
    if (node.kind === 'file') {
      files.set(path, node.data);
      continue;
    }
    symlinks.set(path, node.target);
    const real = ctx.tree.resolve(path);
    const target = real === undefined ? undefined : ctx.tree.get(real);
    if (target?.kind === 'file') files.set(path, target.data);
    else if (real === undefined) ctx.warnings.add(`symlink ${path} -> ${node.target}: more than 40 links to follow`);
    else ctx.warnings.add(`symlink ${path} -> ${node.target}: ${real} is not a kept file (missing, unwanted and read before the link, or not a regular file)`);
  }
  return { files, symlinks };
}

/** Reads one layer into `ctx.tree` (its changes pending until the caller commits them). */
async function readLayer(layer: ImageLayer, ctx: ReadContext): Promise<void> {
  const { signal } = ctx;
  let raw: ByteStream;
  try {
    raw = await (signal ? untilAborted(layer.open(), signal) : layer.open());
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new LayerReadError(layer.digest, 'unreadable', `cannot be opened: ${messageOf(err)}`, { cause: err });
  }
  const reader = raw[Symbol.asyncIterator]();
  const source: ByteStream = { [Symbol.asyncIterator]: () => reader };
  let compressedBytes = 0;
  let finished = false;
  async function* counted(): ByteStream {
    try {
      for await (const chunk of signal ? abortable(source, signal) : source) {
        compressedBytes += chunk.length;
        ctx.bytesRead += chunk.length;
        yield chunk;
      }
    } catch (err) {
      throw signal?.aborted ? err : new SourceFailure(err);
    }
  }
  try {
    const { head, stream } = await peekBytes(counted(), SNIFF_BYTES);
    const compression = chooseCompression(layer, head, ctx);
    const unpacked =
      compression === 'gzip' ? gunzip(stream) : compression === 'zstd' ? zstdDecompress(stream, ctx.limits.maxZstdWindow) : stream;
    await forEachTarEntry(countUnpacked(unpacked, ctx), (header, body) => visitEntry(layer, header, body, ctx));
    if (layer.size !== undefined && compressedBytes !== layer.size) {
      throw new LayerReadError(layer.digest, 'size-mismatch', `the blob holds ${compressedBytes} bytes, its descriptor says ${layer.size}`);
    }
    finished = true;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw asLayerReadError(layer.digest, err);
  } finally {
    // After an abort or a failure the blob's stream may still have a read waiting: closed in the background.
    if (!finished) Promise.resolve(reader.return?.()).catch(() => undefined);
  }
}

/** The decompressor for a layer: what its first bytes show, the media type only for a warning when they disagree. */
function chooseCompression(layer: ImageLayer, head: Uint8Array, ctx: ReadContext): Compression {
  const sniffed = sniffFormat(head);
  if (sniffed === 'bzip2' || sniffed === 'xz') {
    throw new LayerReadError(layer.digest, 'unsupported', `${sniffed}-compressed layers are not read (gzip, zstd and plain tar are)`);
  }
  const compression = sniffed === 'unknown' ? 'none' : sniffed;
  const declared = declaredCompression(layer.mediaType);
  if (declared !== undefined && declared !== compression && head.length > 0) {
    const actual = compression === 'none' ? 'not compressed' : `${compression}-compressed`;
    ctx.warnings.add(`layer ${layer.digest} is labelled ${layer.mediaType} but is ${actual}: read as such`);
  }
  return compression;
}

async function* countUnpacked(stream: ByteStream, ctx: ReadContext): ByteStream {
  for await (const chunk of stream) {
    ctx.bytesUnpacked += chunk.length;
    yield chunk;
  }
}

function asLayerReadError(digest: string, err: unknown): LayerReadError {
  if (err instanceof LayerReadError) return err;
  if (err instanceof SourceFailure) {
    return new LayerReadError(digest, 'unreadable', `reading the blob failed: ${messageOf(err.original)}`, { cause: err.original });
  }
  if (err instanceof ZstdFormatError && err.unsupported) return new LayerReadError(digest, 'unsupported', err.message, { cause: err });
  return new LayerReadError(digest, 'corrupt', `not a readable layer: ${messageOf(err)}`, { cause: err });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether a PAX header describes a GNU sparse file (formats 0.x and 1.0), whose stored bytes are not its content. */
function isPaxSparse(header: Header): boolean {
  const pax = header.pax as Record<string, string> | null | undefined;
  return pax != null && Object.keys(pax).some((key) => key.startsWith('GNU.sparse.'));
}

/** Applies one tar entry to the tree: a whiteout, a kept file or link, or a replacement of what was below. */
async function visitEntry(layer: ImageLayer, header: Header, body: TarEntryBody, ctx: ReadContext): Promise<void> {
  ctx.entriesSeen++;
  if (ctx.entriesSeen > ctx.limits.maxEntries) {
    throw new LayerReadError(layer.digest, 'too-many-entries', `the image holds more than ${ctx.limits.maxEntries} tar entries`);
  }
  ctx.signal?.throwIfAborted();
  const path = normalizeEntryPath(header.name);
  if (path === undefined) {
    ctx.warnings.add(`layer ${layer.digest}: entry ${header.name} climbs above the root: ignored`);
    return;
  }
  if (path === '') return;
  const dir = parentOf(path);
  if (dir.startsWith(WHITEOUT_PREFIX) || dir.includes(`/${WHITEOUT_PREFIX}`)) return;
  const base = baseOf(path);
  const { tree } = ctx;
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (base === OPAQUE_WHITEOUT) tree.opaque(dir);
    else if (!base.startsWith(AUFS_META_PREFIX)) {
      const name = base.slice(WHITEOUT_PREFIX.length);
      if (name !== '' && name !== '.' && name !== '..') tree.whiteout(joinPath(dir, name));
    }
    return;
  }
  const want = ctx.wanted(path) || ctx.linkTargets.has(path);
  switch (header.type) {
    case 'directory':
      tree.directory(path);
      return;
    case 'symlink':
      keepSymlink(path, header.linkname ?? '', want, ctx);
      return;
    case 'link':
      keepHardLink(layer, path, header.linkname ?? '', want, ctx);
      return;
    case 'file':
    case 'contiguous-file':
      if (want) await keepFile(layer, path, header, body, ctx);
      else tree.replace(path);
      return;
    default:
      tree.replace(path);
  }
}

async function keepFile(layer: ImageLayer, path: string, header: Header, body: TarEntryBody, ctx: ReadContext): Promise<void> {
  const { tree, limits } = ctx;
  const size = header.size;
  let skip: string | undefined;
  if (isPaxSparse(header)) skip = 'is a sparse file';
  else if (size > limits.maxFileBytes) skip = `holds ${size} bytes, over maxFileBytes (${limits.maxFileBytes})`;
  else if (tree.keptBytes + size > limits.maxTotalBytes) skip = `would take the kept content past maxTotalBytes (${limits.maxTotalBytes})`;
  if (skip !== undefined) {
    ctx.warnings.add(`layer ${layer.digest}: ${path} ${skip}: skipped`);
    tree.replace(path);
    return;
  }
  const data = new Uint8Array(size);
  let at = 0;
  for await (const chunk of body) {
    if (at + chunk.length > size) throw new LayerReadError(layer.digest, 'corrupt', `entry ${path} runs past its size`);
    data.set(chunk, at);
    at += chunk.length;
  }
  if (at !== size) throw new LayerReadError(layer.digest, 'corrupt', `entry ${path} ends early`);
  tree.add(path, { kind: 'file', data });
}

function keepSymlink(path: string, target: string, want: boolean, ctx: ReadContext): void {
  const { tree } = ctx;
  if (!want && tree.linkCount >= ctx.limits.maxLinks) {
    if (!ctx.linkLimitWarned) ctx.warnings.add(`more than ${ctx.limits.maxLinks} symlinks: only wanted ones recorded from ${path} on`);
    ctx.linkLimitWarned = true;
    tree.replace(path);
    return;
  }
  tree.add(path, { kind: 'symlink', target });
  if (!want) return;
  // Where the link points by its text alone, and through the links known so far: an entry at either is kept.
  const literal = resolvePath(target.startsWith('/') ? target : joinPath(parentOf(path), target), () => undefined);
  if (literal !== undefined) ctx.linkTargets.add(literal);
  const resolved = tree.resolveNow(path);
  if (resolved !== undefined) ctx.linkTargets.add(resolved);
}

function keepHardLink(layer: ImageLayer, path: string, linkname: string, want: boolean, ctx: ReadContext): void {
  const { tree } = ctx;
  if (!want) {
    tree.replace(path);
    return;
  }
  const target = normalizeEntryPath(linkname);
  const node = target ? tree.lookup(target) : undefined;
  if (node === undefined) {
    ctx.warnings.add(`layer ${layer.digest}: hard link ${path} -> ${linkname}: the target was not kept (unwanted, or not in the image): skipped`);
    tree.replace(path);
    return;
  }
  tree.add(path, node);
}
