/**
 * The lifecycle runner function as a contract (docs/lifecycle.md, "Running it on AWS"): the events it
 * takes, how often it runs, how long a run may take and how much of that it keeps to stop cleanly.
 * The CDK construct (lib/registry-lifecycle.ts) deploys it, the handler
 * (lambdas/handlers/lifecycle-runner.ts) keeps to it, the AWS adapter that invokes the function
 * itself (lambdas/aws/lambda-lifecycle-dispatch.ts) writes these events, and the emulated AWS mode
 * runs it on a timer.
 *
 * Fan-out is by recursion with a cursor, not by a state machine: the schedule sends `{}`, a dispatch
 * run lists one page of repositories and invokes the function asynchronously once per repository and
 * once more with the page's last name as the cursor. So no run is bounded by the number of repositories.
 */
import { isValidRepositoryName } from '../core/names';

/** A dispatch run: `{}` (the schedule, or an operator) or the continuation of one after `cursor`. */
export interface LifecycleDispatchEvent {
  /** The last repository name the previous dispatch run handed out (exclusive lower bound). @default the start */
  cursor?: string;
}

/** A worker run: the lifecycle policy of one repository. */
export interface LifecycleWorkerEvent {
  repository: string;
  /**
   * How many runs of this repository stopped at their deadline before this one (each such run
   * invokes the next). @default 0
   */
  continuation?: number;
}

export type LifecycleRunnerEvent = LifecycleDispatchEvent | LifecycleWorkerEvent;

/** Hours between two scheduled dispatches unless configured (the stack's lifecycleSchedule). */
export const DEFAULT_LIFECYCLE_INTERVAL_HOURS = 24;

/** Repositories one dispatch run lists and hands out. */
export const DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE = 100;

/**
 * The function's timeout: Lambda's maximum, for the worker that runs one repository's policy. A
 * dispatch run takes seconds.
 */
export const LIFECYCLE_TIMEOUT_MINUTES = 15;

/**
 * How long before its timeout a worker stops starting expiries and archivals (the one under way,
 * with its referrers, finishes well within it); it then invokes a continuation for its repository.
 */
export const LIFECYCLE_DEADLINE_RESERVE_MS = 60_000;

/**
 * Continuations of one repository's run at most. Each continuation must have changed something to
 * start the next, so this only bounds a repository where every run makes a little progress.
 */
export const MAX_LIFECYCLE_CONTINUATIONS = 20;

/** Lambda's retries of a failed asynchronous invocation before the event goes to the dead-letter queue. */
export const LIFECYCLE_RETRY_ATTEMPTS = 2;

/** Runs at once unless configured (reserved concurrency): the table's write load and the account's concurrency both stay bounded. */
export const DEFAULT_LIFECYCLE_CONCURRENCY = 10;

/** What a scheduled dispatch sends (the rule's input). */
export const LIFECYCLE_SCHEDULE_INPUT: LifecycleDispatchEvent = {};

export class LifecycleRunnerEventError extends Error {}

/** The event as the handler reads it: a worker run when it names a repository, a dispatch run otherwise. */
export type ParsedLifecycleEvent = { kind: 'dispatch'; cursor?: string } | { kind: 'worker'; repository: string; continuation: number };

/**
 * Reads an invocation's event. Anything without `repository` is a dispatch (EventBridge's own
 * scheduled event included, should a rule send it); a `cursor` or a `repository` that is not a
 * repository name is refused, so a hand-made event never runs on something it did not mean.
 */
export function parseLifecycleRunnerEvent(event: unknown): ParsedLifecycleEvent {
  const fields = event !== null && typeof event === 'object' ? (event as Record<string, unknown>) : {};
  if (fields.repository !== undefined) {
    if (typeof fields.repository !== 'string' || !isValidRepositoryName(fields.repository)) {
      throw new LifecycleRunnerEventError(`repository must be a repository name, got ${JSON.stringify(fields.repository)}`);
    }
    const continuation = fields.continuation ?? 0;
    if (typeof continuation !== 'number' || !Number.isInteger(continuation) || continuation < 0) {
      throw new LifecycleRunnerEventError(`continuation must be a whole number, got ${JSON.stringify(fields.continuation)}`);
    }
    return { kind: 'worker', repository: fields.repository, continuation };
  }
  if (fields.cursor !== undefined) {
    if (typeof fields.cursor !== 'string' || !isValidRepositoryName(fields.cursor)) {
      throw new LifecycleRunnerEventError(`cursor must be a repository name, got ${JSON.stringify(fields.cursor)}`);
    }
    return { kind: 'dispatch', cursor: fields.cursor };
  }
  return { kind: 'dispatch' };
}

/** The event of a worker run. */
export function lifecycleWorkerEvent(repository: string, continuation = 0): LifecycleWorkerEvent {
  return continuation > 0 ? { repository, continuation } : { repository };
}

/** The event of a dispatch run after `cursor`. */
export function lifecycleDispatchEvent(cursor?: string): LifecycleDispatchEvent {
  return cursor === undefined ? {} : { cursor };
}
