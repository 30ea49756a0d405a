/**
 * Memoizes an async factory; a failed attempt is forgotten so the next invocation retries. What each
 * function builds once per container, in a module of its own so that a small function (the event
 * publisher, the garbage collector) does not load the registry's whole composition to get it.
 */
export function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
