/**
 * The stack's lifecycle runner in the emulated AWS mode (docs/lifecycle.md, "Running it on AWS"):
 * the real handler, built by the same composition as on AWS over DynamoDB Local, invoked on a timer
 * as the EventBridge schedule invokes it. Its self-invocations go to an in-process stand-in for
 * Lambda's asynchronous invocation (InProcessLifecycleDispatch): each event is queued and answered at
 * once, as Lambda answers 202, then run by the handler with a Lambda-like context, at most
 * `concurrency` at a time (the function's reserved concurrency), retried twice when it fails and then
 * kept as a dead letter (the function's on-failure queue). Retries wait `retryDelayMs`, far shorter
 * than Lambda's minute: this mode is for watching it work, not for timing it.
 */
import { emulatedSchedule } from './emulated-schedule';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import {
  DEFAULT_LIFECYCLE_CONCURRENCY,
  LIFECYCLE_RETRY_ATTEMPTS,
  LIFECYCLE_SCHEDULE_INPUT,
  LIFECYCLE_TIMEOUT_MINUTES,
  lifecycleDispatchEvent,
  lifecycleWorkerEvent,
  type LifecycleRunnerEvent,
} from '../contracts/lifecycle-runner';
import type { LifecycleDispatch, RepositoryRunSummary } from '../core/lifecycle/fan-out';
import type { Logger } from '../core/log';
import { createObservability } from '../aws/observability';
import { buildLifecycleRunner } from '../composition/aws/lifecycle-runner';
import { createLifecycleRunnerHandler, type LifecycleRunnerResult } from '../handlers/lifecycle-runner';
import { emulatedLambdaContext } from './lambda-context';

/** An event whose runs all failed, as the on-failure queue receives it. */
export interface LifecycleDeadLetter {
  event: LifecycleRunnerEvent;
  error: string;
  attempts: number;
}

export interface InProcessLifecycleDispatchOptions {
  /** The function's handler, which the queued events are given to. */
  invoke: (event: LifecycleRunnerEvent, context: Context) => Promise<LifecycleRunnerResult>;
  context: () => Context;
  /** Runs at once at most. @default the stack's, 10 */
  concurrency?: number;
  /** Retries of a failed run. @default 2, the stack's */
  retryAttempts?: number;
  /** The wait before a retry. @default 1000 */
  retryDelayMs?: number;
  /** Told each run's result. */
  onResult?: (result: LifecycleRunnerResult) => void;
  log: Logger;
}

/** Lambda's asynchronous invocation of the runner by itself, in this process. */
export class InProcessLifecycleDispatch implements LifecycleDispatch {
  private readonly queue: Array<{ event: LifecycleRunnerEvent; attempts: number }> = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly waiters: Array<() => void> = [];
  private readonly letters: LifecycleDeadLetter[] = [];
  private active = 0;
  private closed = false;

  constructor(private readonly options: InProcessLifecycleDispatchOptions) {}

  runRepository(repository: string, continuation = 0): Promise<void> {
    return this.enqueue(lifecycleWorkerEvent(repository, continuation));
  }

  continueFrom(cursor: string): Promise<void> {
    return this.enqueue(lifecycleDispatchEvent(cursor));
  }

  /** Queues an event as an asynchronous invocation does (resolves once queued). */
  async enqueue(event: LifecycleRunnerEvent): Promise<void> {
    if (this.closed) throw new Error('the emulated lifecycle runner is closed');
    this.queue.push({ event, attempts: 0 });
    // The caller (a run in progress) goes on before anything it queued starts, as with Lambda.
    setImmediate(() => this.pump());
  }

  /** Resolves when nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  deadLetters(): LifecycleDeadLetter[] {
    return [...this.letters];
  }

  /** Drops what is queued and waiting for a retry, and waits for the runs under way. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    await this.idle();
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.active === 0 && this.retryTimers.size === 0;
  }

  private pump(): void {
    const concurrency = this.options.concurrency ?? DEFAULT_LIFECYCLE_CONCURRENCY;
    while (!this.closed && this.active < concurrency && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.active++;
      void this.run(item).finally(() => {
        this.active--;
        this.pump();
        if (this.isIdle()) for (const resolve of this.waiters.splice(0)) resolve();
      });
    }
    if (this.isIdle()) for (const resolve of this.waiters.splice(0)) resolve();
  }

  private async run(item: { event: LifecycleRunnerEvent; attempts: number }): Promise<void> {
    const attempts = item.attempts + 1;
    try {
      const result = await this.options.invoke(item.event, this.options.context());
      this.options.onResult?.(result);
    } catch (error) {
      if (attempts <= (this.options.retryAttempts ?? LIFECYCLE_RETRY_ATTEMPTS) && !this.closed) {
        this.options.log.warn('lifecycle runner: a run failed; retrying it', { event: item.event, attempts, error });
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.queue.push({ event: item.event, attempts });
          this.pump();
        }, this.options.retryDelayMs ?? 1000);
        this.retryTimers.add(timer);
        return;
      }
      this.letters.push({ event: item.event, error: error instanceof Error ? error.message : String(error), attempts });
      this.options.log.error('lifecycle runner: a run failed past its retries (dead letter)', { event: item.event, attempts, error });
    }
  }
}

export interface EmulatedLifecycleOptions {
  tableName: string;
  /** The runner's own client (DynamoDB Local), as its own function on AWS has. */
  clients: { dynamodb: DynamoDBClient };
  account: string;
  region: string;
  /** Between two scheduled dispatches; 0: never on a timer (runNow still runs). */
  intervalMs: number;
  /** Repositories per dispatch run. @default 100 */
  pageSize?: number;
  /** Runs at once at most. @default 10, the stack's */
  concurrency?: number;
  /** The remaining time each run's context starts with. @default 15 minutes, the stack's timeout */
  timeoutMs?: number;
  /** The wait before a failed run's retry. @default 1000 */
  retryDelayMs?: number;
  /** The runner's clock (age rules and deadlines). @default Date.now */
  now?: () => number;
  /** The function's logger and metrics. @default Powertools' for `berth-lifecycle-runner` */
  observability?: { logger: PowertoolsLogger; metrics: Metrics };
  log: Logger;
}

/** A scheduled dispatch and every run it led to. */
export interface LifecycleRound {
  /** Dispatch runs (the scheduled one and its continuations). */
  dispatches: number;
  /** The worker runs' summaries, in the order they ended. */
  runs: RepositoryRunSummary[];
}

export interface EmulatedLifecycle {
  /** Dispatches now (after the round under way, if any) and answers once every run it led to ended. */
  runNow(): Promise<LifecycleRound>;
  /** The last round that ended, or null. */
  last(): LifecycleRound | null;
  /** Events whose runs failed past their retries. */
  deadLetters(): LifecycleDeadLetter[];
  /** Stops the timer, drops queued runs and waits for those under way. */
  close(): Promise<void>;
}

const FUNCTION_NAME = 'berth-lifecycle-runner';

export function startEmulatedLifecycle(options: EmulatedLifecycleOptions): EmulatedLifecycle {
  const observability = options.observability ?? createObservability(FUNCTION_NAME);
  const timeoutMs = options.timeoutMs ?? LIFECYCLE_TIMEOUT_MINUTES * 60_000;
  let round: LifecycleRound = { dispatches: 0, runs: [] };
  const dispatch = new InProcessLifecycleDispatch({
    invoke: (event, context) => handler(event, context),
    context: () => emulatedLambdaContext({ functionName: FUNCTION_NAME, memoryMB: 1024, timeoutMs, region: options.region, account: options.account }),
    concurrency: options.concurrency,
    retryDelayMs: options.retryDelayMs,
    onResult: (result) => {
      if (result.kind === 'dispatch') round.dispatches++;
      else round.runs.push({ ...result });
    },
    log: options.log,
  });
  // Built on the first run, as on a cold start: the layout check needs the table the caller made.
  let built: ReturnType<typeof buildLifecycleRunner> | undefined;
  const deps = () =>
    (built ??= buildLifecycleRunner({
      settings: { tableName: options.tableName, pageSize: options.pageSize },
      clients: options.clients,
      dispatch,
      ...observability,
      now: options.now,
    }).catch((error: unknown) => {
      built = undefined;
      throw error;
    }));
  const handler = createLifecycleRunnerHandler(deps, observability);

  const schedule = emulatedSchedule(
    async () => {
      round = { dispatches: 0, runs: [] };
      await dispatch.enqueue(LIFECYCLE_SCHEDULE_INPUT);
      await dispatch.idle();
      return round;
    },
    options.intervalMs,
    options.log,
    'lifecycle runner: the scheduled dispatch failed',
  );
  return {
    runNow: schedule.runNow,
    last: schedule.last,
    deadLetters: () => dispatch.deadLetters(),
    close: async () => {
      await schedule.close();
      await dispatch.close();
    },
  };
}
