/** `berth gc`: offline garbage collection of a local data directory. */
import { existsSync } from 'node:fs';
import { StorageLayoutError } from '../storage/errors';
import { DataDirInUseError } from '../storage/local/data-dir-lock';
import { count, fail, parseDuration, parseOptions } from './options';

/** `berth gc`: garbage collection of a local data directory (lambdas/storage/local/offline-gc.ts). */
export async function gc(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    'data-dir': { type: 'string', default: './data' },
    'dry-run': { type: 'boolean', default: false },
    'min-age': { type: 'string', default: '1h' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const minAgeMs = parseDuration(values['min-age'], '--min-age', '30m');
  if (!existsSync(values['data-dir'])) fail(`no data directory at ${values['data-dir']} (--data-dir names the one \`berth serve\` used)`);
  const { collectLocalGarbage } = await import('../storage/local/offline-gc');
  let report;
  try {
    report = await collectLocalGarbage(values['data-dir'], { dryRun: values['dry-run'], minAgeMs });
  } catch (err) {
    if (err instanceof DataDirInUseError || err instanceof StorageLayoutError) fail(err.message);
    throw err;
  }
  const [unlinked, deleted] = values['dry-run'] ? ['would unlink', 'would delete'] : ['unlinked', 'deleted'];
  if (values['dry-run']) {
    for (const { repository, digest } of report.unlinked) process.stdout.write(`unlink ${repository} ${digest}\n`);
    for (const { digest, size } of report.deleted) process.stdout.write(`delete ${digest} (${size} bytes)\n`);
  }
  process.stdout.write(
    `berth gc: ${count(report.repositories, 'repository', 'repositories')}, ${count(report.manifests, 'manifest')}; ` +
      `${unlinked} ${count(report.unlinked.length, 'blob link')} no manifest uses, ${deleted} ${count(report.deleted.length, 'content file')} ` +
      `(${(report.bytesFreed / 1024 / 1024).toFixed(1)} MiB); kept ${count(report.keptYoung, 'blob')} newer than --min-age ${values['min-age']}\n`,
  );
}
