#!/usr/bin/env -S node --import tsx
/**
 * The `berth` command line: a dispatcher. Each command lives in lambdas/cli/ and is loaded only
 * when it runs (`serve` never loads the emulators, `ecr` alone loads @aws-sdk/client-ecr).
 */
import { HELP } from '../lambdas/cli/help';
import { fail } from '../lambdas/cli/options';

const COMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<void>>> = {
  serve: async () => (await import('../lambdas/cli/serve')).serve,
  ingest: async () => (await import('../lambdas/cli/ingest')).ingest,
  ecr: async () => (await import('../lambdas/cli/ecr-command')).ecr,
  gc: async () => (await import('../lambdas/cli/gc')).gc,
  stats: async () => (await import('../lambdas/cli/stats')).stats,
  events: async () => (await import('../lambdas/cli/events')).events,
  lifecycle: async () => (await import('../lambdas/cli/lifecycle')).lifecycle,
  vulndb: async () => (await import('../lambdas/cli/vulndb')).vulndb,
};

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  // `npm start -- --port 0` passes options straight to serve.
  if (command.startsWith('-')) return (await COMMANDS.serve())([command, ...rest]);
  if (!Object.hasOwn(COMMANDS, command)) fail(`unknown command "${command}"\n\n${HELP}`);
  return (await COMMANDS[command]())(rest);
}

main().catch((err) => {
  process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
