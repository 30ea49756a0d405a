/**
 * Paths inside an image, as the layer reader keys them: relative to the root, `/`-separated, with
 * no `.`, `..` or empty segment and no leading or trailing slash (`etc/os-release`; the root is
 * the empty string). Tar entry names arrive in every spelling (`./etc/`, `/etc`, `etc//x`).
 */

/**
 * The canonical form of a tar entry name, or undefined when its `..` segments climb above the
 * root: such an entry would land outside the image if extracted, and the reader skips it rather
 * than guess where it meant to go.
 */
export function normalizeEntryPath(name: string): string | undefined {
  const out: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(segment);
  }
  return out.join('/');
}

/** The directory holding `path` (`''` for a top-level entry). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The last segment of `path`. */
export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `dir` joined with `name` (either may be the root's empty string). */
export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : name === '' ? dir : `${dir}/${name}`;
}

/** Every proper ancestor directory of `path`, nearest the root first: `a`, `a/b` for `a/b/c`. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) out.push(path.slice(0, slash));
  return out;
}

/**
 * How many symlinks one resolution follows before giving up: Linux's limit (MAXSYMLINKS, 40), so
 * a path that loops or chains further resolves here exactly when it would in a container.
 */
export const MAX_LINK_HOPS = 40;

/**
 * Where `path` leads inside the image when every symlink on it, the last segment included, is
 * followed as the kernel follows it in a container: an absolute target starts again from the
 * image root, a relative one from the link's directory, and `..` at the root stays at the root
 * (the container cannot see above it). `linkAt` tells which paths are symlinks and to what.
 * Undefined when more than MAX_LINK_HOPS links are followed (a loop).
 */
export function resolvePath(path: string, linkAt: (path: string) => string | undefined): string | undefined {
  let pending = path.split('/').reverse();
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const segment = pending.pop() as string;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      done.pop();
      continue;
    }
    done.push(segment);
    const target = linkAt(done.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS) return undefined;
    done.pop();
    if (target.startsWith('/')) done.length = 0;
    pending = pending.concat(target.split('/').reverse());
  }
  return done.join('/');
}
