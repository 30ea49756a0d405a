/**
 * The garbage collector function as a contract (docs/garbage-collection.md, "Running it"): how often
 * it runs, how long it may run and how much of that it keeps to stop cleanly, and the grace period's
 * bounds. The CDK construct (lib/registry-gc.ts) deploys it, the handler
 * (lambdas/handlers/garbage-collector.ts) keeps to it, and the emulated AWS mode runs it on a timer.
 */

/** Hours between two runs unless configured (the stack's schedule). */
export const DEFAULT_GC_INTERVAL_HOURS = 1;

/** How old an unused link or unlinked content must be before it goes, unless configured. */
export const DEFAULT_GC_GRACE_HOURS = 24;

/**
 * The shortest grace period the stack accepts. A push links each layer when its upload completes and
 * needs the links when its manifest arrives, which for a large image over a slow line can be long
 * after the first layer; and the orphan pins of a crashed put are released after an hour.
 */
export const MIN_GC_GRACE_HOURS = 1;

/** The function's timeout unless configured. */
export const DEFAULT_GC_TIMEOUT_MINUTES = 10;

/**
 * How long before its timeout a run stops starting new work: the step under way (one deletion, one
 * page of a listing) and the upload purge finish well within it, and the next run goes on.
 */
export const GC_DEADLINE_RESERVE_MS = 60_000;

/**
 * How long a deletion the collector began belongs to it before another run (or a writer) finishes
 * it: core/garbage-collection.ts's DELETION_LEASE_MS, which test/cdk/registry-gc.test.ts holds
 * equal. The function's timeout must be shorter, so that no deletion is taken over from a run that
 * is still at work.
 */
export const GC_DELETION_LEASE_MINUTES = 15;
