/**
 * `berth lifecycle run`: carry out lifecycle policies now, what the server does every
 * `--lifecycle-interval` (docs/lifecycle.md, "Running it locally"). With `--endpoint` (default
 * http://127.0.0.1:5000) a running server does it: the ECR API's BerthRunLifecyclePolicy, signed as
 * `berth ecr` signs (SigV4, service `ecr`, with BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY or
 * the default AWS credential chain); with `--data-dir`, in this process, on a stopped server's data
 * directory under its lock (storage/local/offline-lifecycle.ts). Either way it prints what was expired
 * and archived (or would be, with `--dry-run`), one line per image and a summary, as `berth gc` does;
 * `--json` prints one JSON line per repository instead.
 */
import { existsSync } from 'node:fs';
import type { LifecycleOutcome, LifecycleRunReport } from '../core/lifecycle/run';
import { StorageLayoutError } from '../storage/errors';
import { DataDirInUseError } from '../storage/local/data-dir-lock';
import { count, fail, parseOptions } from './options';
import { callEcrJson, EcrJsonCallError } from '../aws/ecr-json-call';
import { BERTH_RUN_LIFECYCLE_POLICY } from '../http/ecr-actions/berth-lifecycle';

export const LIFECYCLE_RUN_USAGE =
  'Usage: berth lifecycle run [--repository R] [--dry-run] [--now ISO-8601] [--endpoint URL | --data-dir DIR] [--region R] [--json]';
const DEFAULT_ENDPOINT = 'http://127.0.0.1:5000';

interface Runs {
  reports: LifecycleRunReport[];
  failures: Array<{ repository: string; error: string }>;
}

/** A value the options refuse: the reason and the usage line, exit 2. */
function refuse(message: string): never {
  fail(`${message}\n${LIFECYCLE_RUN_USAGE}`);
}

/** Exits with a failure that is not a usage mistake. */
function failRun(message: string): never {
  process.stderr.write(`berth: lifecycle run: ${message}\n`);
  process.exit(1);
}

export async function lifecycleRun(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    repository: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    now: { type: 'string' },
    endpoint: { type: 'string' },
    'data-dir': { type: 'string' },
    region: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  if (values.endpoint !== undefined && values['data-dir'] !== undefined) refuse('--endpoint asks a running server, --data-dir runs on a stopped one: give one of them');
  const now = values.now === undefined ? undefined : new Date(values.now);
  if (now !== undefined && (Number.isNaN(now.getTime()) || !/^\d{4}-\d\d-\d\d/.test(values.now!))) {
    refuse(`--now must be an ISO 8601 time such as 2026-12-03T10:00:00Z, got ${JSON.stringify(values.now)}`);
  }
  if (values.repository === '') refuse('--repository needs a repository name');
  const options = { repository: values.repository, now, dryRun: values['dry-run'] };
  const runs =
    values['data-dir'] !== undefined
      ? await fromDataDir(values['data-dir'], options)
      : await fromEndpoint(values.endpoint ?? DEFAULT_ENDPOINT, options, values.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1');
  if (values.json) {
    for (const report of runs.reports) process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    process.stdout.write(renderLifecycleRuns(runs.reports, options.dryRun));
  }
  for (const { repository, error } of runs.failures) process.stderr.write(`berth: lifecycle run: ${repository} failed: ${error}\n`);
  if (runs.failures.length > 0) process.exit(1);
}

type RunOptions = { repository?: string; now?: Date; dryRun: boolean };

async function fromDataDir(dataDir: string, options: RunOptions): Promise<Runs> {
  if (!existsSync(dataDir)) refuse(`no data directory at ${dataDir} (--data-dir names the one \`berth serve\` used; --endpoint URL asks a running server)`);
  const { runLocalLifecyclePolicies } = await import('../storage/local/offline-lifecycle');
  let runs;
  try {
    runs = await runLocalLifecyclePolicies(dataDir, options);
  } catch (err) {
    if (err instanceof DataDirInUseError) fail(`${err.message}; a running server runs its policies on request: berth lifecycle run --endpoint <its URL>`);
    if (err instanceof StorageLayoutError) failRun(err.message);
    throw err;
  }
  if (options.repository !== undefined && !runs.repositoryFound) failRun(`no repository ${options.repository} in ${dataDir}`);
  if (options.repository !== undefined && runs.reports.length === 0 && runs.failures.length === 0) failRun(`${options.repository} has no lifecycle policy`);
  return runs;
}

/** Signs and sends BerthRunLifecyclePolicy; the answer back in the core's shape. */
async function fromEndpoint(endpoint: string, options: RunOptions, region: string): Promise<Runs> {
  let url: URL;
  try {
    url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    refuse(`--endpoint must be a URL such as ${DEFAULT_ENDPOINT}, not ${JSON.stringify(endpoint)}`);
  }
  const input = {
    ...(options.repository !== undefined ? { repositoryName: options.repository } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.now !== undefined ? { now: options.now.getTime() / 1000 } : {}),
  };
  const credentials = await credentialsFor(endpoint, region);
  let answer: Record<string, unknown>;
  try {
    answer = await callEcrJson({ url: url.origin, region, credentials }, BERTH_RUN_LIFECYCLE_POLICY, input);
  } catch (err) {
    if (!(err instanceof EcrJsonCallError)) {
      const reason = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
      failRun(`cannot reach ${url.origin}: ${reason} (is berth serve running there? On a stopped server: berth lifecycle run --data-dir DIR)`);
    }
    if (err.type.startsWith('HTTP')) {
      // Not the ECR API: a server without identities has none, so it takes no signed requests.
      failRun(
        `${url.origin} answered ${err.status} without an ECR API: a server without identities (--config or BERTH_ACCESS_KEY_ID) ` +
          'takes no signed requests; it runs its policies every --lifecycle-interval, or stop it and use --data-dir DIR',
      );
    }
    if (err.type === 'UnknownOperationException') failRun(`${url.origin} does not run lifecycle policies on request (not a local berth serve, or an older one)`);
    failRun(err.message);
  }
  return runsOfAnswer(answer as unknown as EndpointAnswer);
}

/** BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY, or the default AWS credential chain (what `berth ecr` uses). */
async function credentialsFor(endpoint: string, region: string) {
  const accessKeyId = process.env.BERTH_ACCESS_KEY_ID;
  const secretAccessKey = process.env.BERTH_SECRET_ACCESS_KEY;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) refuse('set both BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY, or neither');
  if (accessKeyId && secretAccessKey) return { accessKeyId, secretAccessKey };
  const { ecrClient } = await import('./ecr/ecr-login');
  const client = ecrClient({ endpointUrl: endpoint, region });
  try {
    return await client.config.credentials();
  } catch (err) {
    const e = err as Error;
    if (e.name === 'CredentialsProviderError') {
      failRun(`${endpoint} needs credentials: set BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY (or AWS credentials) of an identity allowed ecr:BatchDeleteImage`);
    }
    failRun(`cannot get AWS credentials: ${e.name}: ${e.message}`);
  } finally {
    client.destroy();
  }
}

interface EndpointAnswer {
  dryRun: boolean;
  lifecycleRuns: Array<{
    repositoryName: string;
    evaluatedAt: number;
    imagesEvaluated: number;
    results: Array<{
      imageDigest: string;
      imageTags: string[];
      imagePushedAt: number;
      action: LifecycleOutcome['action'];
      appliedRulePriority: number;
      storageClass: LifecycleOutcome['storageClass'];
      result: LifecycleOutcome['result'];
    }>;
  }>;
  failures: Array<{ repositoryName: string; failureReason: string }>;
}

const isoOf = (epochSeconds: number) => new Date(Math.round(epochSeconds * 1000)).toISOString();

function runsOfAnswer(answer: EndpointAnswer): Runs {
  return {
    reports: answer.lifecycleRuns.map((run) => ({
      repository: run.repositoryName,
      evaluatedAt: isoOf(run.evaluatedAt),
      dryRun: answer.dryRun,
      hasPolicy: true,
      imagesEvaluated: run.imagesEvaluated,
      outcomes: run.results.map((r) => ({
        digest: r.imageDigest,
        tags: r.imageTags,
        pushedAt: isoOf(r.imagePushedAt),
        action: r.action,
        appliedRulePriority: r.appliedRulePriority,
        storageClass: r.storageClass,
        result: r.result,
      })),
    })),
    failures: answer.failures.map((f) => ({ repository: f.repositoryName, error: f.failureReason })),
  };
}

/** What happened to an image, and why when the store refused the change. */
const WHAT_HAPPENED: Record<LifecycleOutcome['result'], [string, string]> = {
  done: ['', ''],
  'dry-run': ['', ''],
  'tagged-since': ['kept', ': tagged since the evaluation'],
  'in-use': ['kept', ': an index references it'],
  gone: ['gone', ': deleted meanwhile'],
};

function verbOf(outcome: LifecycleOutcome): [string, string] {
  const expire = outcome.action.type === 'EXPIRE';
  if (outcome.result === 'dry-run') return [expire ? 'would expire' : 'would archive', ''];
  if (outcome.result === 'done') return [expire ? 'expired' : 'archived', ''];
  return WHAT_HAPPENED[outcome.result];
}

/** The text output: a line per image acted on (or not, and why), then a summary. */
export function renderLifecycleRuns(reports: LifecycleRunReport[], dryRun: boolean): string {
  const lines: string[] = [];
  let expired = 0;
  let archived = 0;
  let kept = 0;
  for (const report of reports) {
    for (const outcome of report.outcomes) {
      const tags = outcome.tags.length > 0 ? outcome.tags.join(',') : 'untagged';
      const [verb, why] = verbOf(outcome);
      lines.push(`${verb} ${report.repository} ${outcome.digest} (${tags}; rule ${outcome.appliedRulePriority})${why}`);
      if (outcome.result === 'done' || outcome.result === 'dry-run') {
        if (outcome.action.type === 'EXPIRE') expired++;
        else archived++;
      } else kept++;
    }
  }
  const evaluated = reports.reduce((n, r) => n + r.imagesEvaluated, 0);
  const at = reports[0]?.evaluatedAt;
  const [expire, archive] = dryRun ? ['would expire', 'would archive'] : ['expired', 'archived'];
  lines.push(
    reports.length === 0
      ? 'berth lifecycle run: no repository has a lifecycle policy'
      : `berth lifecycle run: ${count(reports.length, 'repository', 'repositories')} with a policy, ${count(evaluated, 'image')} evaluated at ${at}; ` +
          `${expire} ${count(expired, 'image')}, ${archive} ${count(archived, 'image')}` +
          `${kept > 0 ? `; ${count(kept, 'image')} changed since the evaluation, not acted on` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
