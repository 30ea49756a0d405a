/**
 * Serialises work per key within this process: two requests for the same upload must not
 * write the same bytes concurrently. Across processes, the metadata store's conditional
 * `advanceUpload` is what keeps an upload consistent.
 *
 * With `preemptedBy`, each piece of work gets a signal that aborts, with that reason, as soon as
 * later work on its key is queued: a client that sends a new request on its upload has given
 * up on the earlier one, and must not wait behind a body that stopped arriving (what the
 * signal stops, and what completes anyway, is the work's decision).
 */
export class KeyedLock {
  private readonly queues = new Map<string, { tail: Promise<unknown>; members: Set<AbortController> }>();

  constructor(private readonly preemptedBy?: (key: string) => Error) {}

  /** Runs `work` after the work queued before it on `key`. */
  async run<T>(key: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { tail: Promise.resolve(), members: new Set() };
      this.queues.set(key, queue);
    }
    if (this.preemptedBy && queue.members.size > 0) {
      const reason = this.preemptedBy(key);
      for (const earlier of queue.members) earlier.abort(reason);
    }
    const controller = new AbortController();
    queue.members.add(controller);
    const start = () => work(controller.signal);
    const current = queue.tail.then(start, start);
    const tail = current.catch(() => undefined);
    queue.tail = tail;
    try {
      return await current;
    } finally {
      queue.members.delete(controller);
      if (queue.tail === tail && this.queues.get(key) === queue) this.queues.delete(key);
    }
  }

  /** Runs `work` only if nothing runs or waits on `key` (so it preempts nothing); otherwise answers undefined at once. */
  async runIfFree<T>(key: string, work: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.queues.has(key)) return undefined;
    return { value: await this.run(key, work) };
  }
}
