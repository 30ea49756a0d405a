import type { Logger } from '../../core/log';
import type { ScheduledJob } from '../deployment';

/**
 * Runs a local deployment's scheduled jobs inside the server: each once at start-up, then every
 * `everyMs`, never two runs of one job at a time (a slow run skips its next turn). Failures are
 * logged; the next turn tries again. On AWS, EventBridge schedules do this.
 */
export function runLocalJobs(jobs: ScheduledJob[], log: Logger): { stop(): Promise<void> } {
  const running = new Map<string, Promise<void>>();
  const turn = (job: ScheduledJob) => {
    if (running.has(job.name)) return;
    const run = job
      .run()
      .catch((error) => log.error('scheduled job failed', { job: job.name, error }))
      .finally(() => running.delete(job.name));
    running.set(job.name, run);
  };
  const timers = jobs.map((job) => {
    turn(job);
    return setInterval(() => turn(job), job.everyMs).unref();
  });
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(running.values());
    },
  };
}
