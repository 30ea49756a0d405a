/**
 * An EventBridge schedule as the emulated functions need it: `run` every `intervalMs` (0: only on
 * demand), never two at once (a tick that finds a run still at work is skipped, as a function with
 * reserved concurrency 1 would throttle it), and `runNow` for tests and commands, after any run under way.
 */
import type { Logger } from '../core/log';

export interface EmulatedSchedule<T> {
  /** Waits for a run under way, then runs once more and answers its result. */
  runNow(): Promise<T>;
  /** The last result, or null before the first run has ended. */
  last(): T | null;
  /** Stops the timer and waits for a run under way. */
  close(): Promise<void>;
}

export function emulatedSchedule<T>(run: () => Promise<T>, intervalMs: number, log: Logger, failure: string): EmulatedSchedule<T> {
  let running: Promise<T> | undefined;
  let last: T | null = null;
  const start = (): Promise<T> => {
    const current = run().then((result) => {
      last = result;
      return result;
    });
    running = current;
    const clear = () => {
      if (running === current) running = undefined;
    };
    current.then(clear, clear);
    return current;
  };
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (running) return;
          start().catch((error: unknown) => log.error(failure, { error }));
        }, intervalMs).unref()
      : undefined;
  return {
    runNow: async () => {
      while (running) await running.catch(() => undefined);
      return start();
    },
    last: () => last,
    close: async () => {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
