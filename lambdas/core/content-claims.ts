/**
 * Writers' side of garbage collection (docs/garbage-collection.md, "The protocol"): content is
 * claimed before its bytes are written or it is linked, so the collector cannot begin deleting it
 * for a grace period; a claim refused because the collector is deleting it waits for the deletion to
 * end (two requests), then claims the content anew, to be written again.
 */
import type { ContentStore } from '../storage/ports';
import { RegistryError } from './errors';

export interface ClaimOptions {
  /** How long to wait for a deletion under way before giving up. @default 5000 */
  waitMs?: number;
  /** @default 50 */
  pollMs?: number;
}

/** True once claimed; false when a deletion still holds the content after `waitMs` (the caller answers "try again"). */
export async function claimContent(store: Pick<ContentStore, 'claimContent'>, digest: string, options: ClaimOptions = {}): Promise<boolean> {
  const deadline = Date.now() + (options.waitMs ?? 5000);
  for (;;) {
    const claim = await store.claimContent(digest);
    if (claim.ok) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
  }
}

/** What a writer answers when a deletion holds the content past the wait: try again shortly (429). */
export function contentBusy(digest: string): RegistryError {
  return new RegistryError('TOOMANYREQUESTS', `the content ${digest} is being garbage collected; retry the request in a few seconds`);
}

/** Claims content before a writer stores or links it; throws contentBusy when a deletion holds it. */
export async function claimForWriting(store: Pick<ContentStore, 'claimContent'>, digest: string): Promise<void> {
  if (!(await claimContent(store, digest))) throw contentBusy(digest);
}
