/**
 * `berth lifecycle preview --policy FILE --images FILE [--now ISO-8601]`: what ECR's
 * get-lifecycle-policy-preview would print for a policy and a repository's images, offline
 * (core/lifecycle/preview.ts; docs/lifecycle.md, "Offline preview"). `berth lifecycle run` carries
 * policies out now (lifecycle-run.ts).
 */
import { readFileSync } from 'node:fs';
import { LifecyclePolicyValidationError } from '../core/lifecycle/policy';
import { PreviewInputError, previewLifecyclePolicy } from '../core/lifecycle/preview';
import { fail, parseOptions } from './options';

export async function lifecycle(argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand === 'run') return (await import('./lifecycle-run')).lifecycleRun(rest);
  if (subcommand !== 'preview') fail(`berth lifecycle takes a subcommand, preview or run; got ${JSON.stringify(subcommand ?? '')}`);
  const values = parseOptions(rest, {
    policy: { type: 'string' },
    images: { type: 'string' },
    now: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  if (values.policy === undefined || values.images === undefined) fail('berth lifecycle preview needs --policy FILE and --images FILE');
  const now = values.now === undefined ? new Date() : new Date(values.now);
  if (Number.isNaN(now.getTime())) fail(`--now must be an ISO 8601 time such as 2026-12-03T10:00:00Z, got ${JSON.stringify(values.now)}`);
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      fail(`cannot read ${file}: ${(err as Error).message}`);
    }
  };
  try {
    process.stdout.write(JSON.stringify(previewLifecyclePolicy(read(values.policy), read(values.images), now), null, 4) + '\n');
  } catch (err) {
    // The same message PutLifecyclePolicy answers with InvalidParameterException.
    if (err instanceof LifecyclePolicyValidationError) fail(`InvalidParameterException: ${err.message}`);
    if (err instanceof PreviewInputError) fail(err.message);
    throw err;
  }
}
