/** Walking the stores' paged listings (`{ items, more }` after an exclusive `last`). */

export type PagedListing<T> = (last: string | undefined) => Promise<{ items: T[]; more: boolean }>;

/** Every page of a listing, in order; empty pages are not yielded. */
export async function* allPages<T>(page: PagedListing<T>, keyOf: (item: T) => string): AsyncGenerator<T[]> {
  let last: string | undefined;
  for (;;) {
    const { items, more } = await page(last);
    if (items.length > 0) yield items;
    if (!more || items.length === 0) return;
    last = keyOf(items[items.length - 1]);
  }
}

/** Every item of a listing, page after page. */
export async function* allItems<T>(page: PagedListing<T>, keyOf: (item: T) => string): AsyncGenerator<T> {
  for await (const items of allPages(page, keyOf)) yield* items;
}
