#!/usr/bin/env -S node --import tsx
/**
 * The ingest container's command (Dockerfile): `berth ingest` without the rest of the command line,
 * so that its bundle holds only what the ingest service runs.
 */
import { ingest } from '../lambdas/cli/ingest';

ingest(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`berth-ingest: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
