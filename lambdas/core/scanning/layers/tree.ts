/**
 * The part of an image's filesystem the reader keeps, built layer by layer as a container runtime
 * applies layers (OCI image-spec layer.md, "Applying Changesets" and "Whiteouts"): the wanted
 * regular files with their content, and every symlink (small, and needed to resolve paths).
 * Everything else an entry says (directories, devices, unwanted files) is not kept, but still
 * counts where it replaces something kept below it.
 *
 * A layer's changes are collected while it is read and applied when it ends, removals first:
 * whiteouts apply only to lower layers, never to entries of their own layer, whatever the order of
 * the entries in the archive (layer.md: an opaque whiteout is applied "regardless of the ordering
 * in which the whiteout file was encountered").
 */
import { ancestorsOf, resolvePath } from './paths';

/** What the tree keeps at a path. */
export type TreeNode = { kind: 'file'; data: Uint8Array } | { kind: 'symlink'; target: string };

/** One layer's changes, not yet applied. */
class LayerChanges {
  /** Paths whose lower node and everything under it go: whiteouts, and non-directories replacing what was there. */
  readonly removeTrees = new Set<string>();
  /** Directories whose lower contents go, the directory staying (opaque whiteouts). */
  readonly clearDirectories = new Set<string>();
  /** Paths whose lower node goes, not what is under it: a directory entry replacing a kept file or symlink. */
  readonly removeNodes = new Set<string>();
  /** What this layer adds, applied after the removals. */
  readonly additions = new Map<string, TreeNode>();
}

/** The kept files and symlinks of the layers applied so far, and the changes of the layer being read. */
export class LayeredTree {
  private readonly nodes = new Map<string, TreeNode>();
  /** For each directory with kept nodes under it, how many: a removal only scans when there is something to remove. */
  private readonly below = new Map<string, number>();
  private layer = new LayerChanges();
  private committedBytes = 0;
  private pendingBytes = 0;
  private committedLinks = 0;
  private pendingLinks = 0;

  /** Bytes of file content held (applied and pending; content shared by hard links counts per path). */
  get keptBytes(): number {
    return this.committedBytes + this.pendingBytes;
  }

  /** Symlinks held (applied and pending). */
  get linkCount(): number {
    return this.committedLinks + this.pendingLinks;
  }

  /** A whiteout for `path` (`.wh.<name>`): the lower node there and its whole subtree go. */
  whiteout(path: string): void {
    if (this.nodes.has(path) || this.hasBelow(path)) this.layer.removeTrees.add(path);
  }

  /** An opaque whiteout in `dir` (`<dir>/.wh..wh..opq`): everything the lower layers have under it goes. */
  opaque(dir: string): void {
    if (this.hasBelow(dir)) this.layer.clearDirectories.add(dir);
  }

  /** A directory entry: it replaces a kept file or symlink at its path, and merges with a lower directory. */
  directory(path: string): void {
    if (this.nodes.has(path)) this.layer.removeNodes.add(path);
    this.drop(path);
  }

  /** A non-directory entry that is not kept (unwanted, or skipped): it still replaces whatever was at its path. */
  replace(path: string): void {
    this.whiteout(path);
    this.drop(path);
  }

  /** A kept file or symlink at `path`, replacing what lower layers had there. */
  add(path: string, node: TreeNode): void {
    this.replace(path);
    this.layer.additions.set(path, node);
    if (node.kind === 'file') this.pendingBytes += node.data.length;
    else this.pendingLinks++;
  }

  /**
   * The node `path` names as the layer being read sees it: its own additions, else the lower
   * layers' (a hard link's target exists before the link, in this layer or below).
   */
  lookup(path: string): TreeNode | undefined {
    return this.layer.additions.get(path) ?? this.nodes.get(path);
  }

  /** Where `path` leads through the symlinks known so far, this layer's included; undefined for a loop. */
  resolveNow(path: string): string | undefined {
    return resolvePath(path, (p) => {
      const node = this.lookup(p);
      return node?.kind === 'symlink' ? node.target : undefined;
    });
  }

  /** Applies the layer being read: its removals to the lower layers' nodes, then its additions. */
  commitLayer(): void {
    const layer = this.layer;
    this.layer = new LayerChanges();
    for (const dir of layer.clearDirectories) this.removeBelow(dir);
    for (const path of layer.removeTrees) {
      this.remove(path);
      this.removeBelow(path);
    }
    for (const path of layer.removeNodes) this.remove(path);
    for (const [path, node] of layer.additions) this.set(path, node);
    this.pendingBytes = 0;
    this.pendingLinks = 0;
  }

  /** The applied tree's nodes (call after the last commitLayer). */
  entries(): IterableIterator<[string, TreeNode]> {
    return this.nodes.entries();
  }

  /** Where `path` leads in the applied tree; undefined for a loop. */
  resolve(path: string): string | undefined {
    return resolvePath(path, (p) => {
      const node = this.nodes.get(p);
      return node?.kind === 'symlink' ? node.target : undefined;
    });
  }

  /** The applied tree's node at `path`. */
  get(path: string): TreeNode | undefined {
    return this.nodes.get(path);
  }

  /** Forgets this layer's own earlier addition at `path` (a duplicate entry: the later one wins). */
  private drop(path: string): void {
    const earlier = this.layer.additions.get(path);
    if (earlier === undefined) return;
    this.layer.additions.delete(path);
    if (earlier.kind === 'file') this.pendingBytes -= earlier.data.length;
    else this.pendingLinks--;
  }

  private hasBelow(dir: string): boolean {
    return dir === '' ? this.nodes.size > 0 : this.below.has(dir);
  }

  private removeBelow(dir: string): void {
    if (!this.hasBelow(dir)) return;
    const prefix = dir === '' ? '' : `${dir}/`;
    // Deleting the entry being visited is safe for a Map iterator.
    for (const path of this.nodes.keys()) if (path.startsWith(prefix)) this.remove(path);
  }

  private set(path: string, node: TreeNode): void {
    this.remove(path);
    this.nodes.set(path, node);
    if (node.kind === 'file') this.committedBytes += node.data.length;
    else this.committedLinks++;
    for (const dir of ancestorsOf(path)) this.below.set(dir, (this.below.get(dir) ?? 0) + 1);
  }

  private remove(path: string): void {
    const node = this.nodes.get(path);
    if (node === undefined) return;
    this.nodes.delete(path);
    if (node.kind === 'file') this.committedBytes -= node.data.length;
    else this.committedLinks--;
    for (const dir of ancestorsOf(path)) {
      const count = (this.below.get(dir) ?? 0) - 1;
      if (count > 0) this.below.set(dir, count);
      else this.below.delete(dir);
    }
  }
}
