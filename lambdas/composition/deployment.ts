/**
 * The shape both composition roots give a deployment (composition/local/compose.ts for local mode,
 * composition/aws for the stack), so that what the next issues add has one place in each: an event
 * publisher (the outbox of ECR-shaped events), scheduled jobs (the upload purge now; garbage
 * collection and lifecycle later) and workers started by events (replication, scanning).
 */
import type { Registry } from '../core/registry';
import type { Handler } from '../http/types';

/** Work run on a schedule: locally by the server's timer, on AWS by an EventBridge schedule. */
export interface ScheduledJob {
  /** A name for logs (and, on AWS, the schedule's). */
  name: string;
  /** How often it runs; locally it runs once at start-up too. */
  everyMs: number;
  /** Idempotent: it may run twice or be cut off and run again. */
  run(): Promise<void>;
}

export interface Deployment {
  registry: Registry;
  /** The data plane and, with identities, the control plane (`POST /`). */
  router: Handler;
  /** Scheduled jobs the deployment runs. */
  jobs: ScheduledJob[];
  /** Releases stores, timers and locks. */
  close(): Promise<void>;
}
