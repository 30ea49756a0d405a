/**
 * `berth stats`: images, tags, blobs and stored bytes per repository and for the registry, and what
 * the garbage collector last freed (lambdas/core/registry-stats.ts). It asks a running server
 * (`--endpoint`, route `GET /v2/_berth/stats`) or reads a stopped server's data directory under its lock.
 */
import { existsSync } from 'node:fs';
import { RegistryError } from '../core/errors';
import type { StatsReport } from '../core/registry-stats';
import { StorageLayoutError } from '../storage/errors';
import { DataDirInUseError } from '../storage/local/data-dir-lock';
import { count, fail, parseOptions } from './options';

export async function stats(argv: string[]): Promise<void> {
  const values = parseOptions(argv, {
    repository: { type: 'string' },
    endpoint: { type: 'string' },
    'data-dir': { type: 'string' },
    region: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  if (values.endpoint !== undefined && values['data-dir'] !== undefined) fail('--endpoint asks a running server, --data-dir reads a stopped one: give one of them');
  const report =
    values.endpoint !== undefined
      ? await fromEndpoint(values.endpoint, values.repository, values.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1')
      : await fromDataDir(values['data-dir'] ?? './data', values.repository);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderStats(report));
}

/** Exits with a failure that is not a usage mistake. */
function failRun(message: string): never {
  process.stderr.write(`berth: stats: ${message}\n`);
  process.exit(1);
}

async function fromDataDir(dataDir: string, repository: string | undefined): Promise<StatsReport> {
  if (!existsSync(dataDir)) fail(`no data directory at ${dataDir} (--data-dir names the one \`berth serve\` used; --endpoint URL asks a running server)`);
  const { localStats } = await import('../storage/local/offline-stats');
  try {
    return await localStats(dataDir, { repository });
  } catch (err) {
    if (err instanceof DataDirInUseError) fail(`${err.message}; a running server answers berth stats --endpoint <its URL>`);
    if (err instanceof StorageLayoutError || err instanceof RegistryError) failRun(err.message);
    throw err;
  }
}

/**
 * Anonymous first (a server without identities lets everyone read); after a 401, with a login token
 * got from the credentials as `berth ecr get-login-password` gets one.
 */
async function fromEndpoint(endpoint: string, repository: string | undefined, region: string): Promise<StatsReport> {
  let url: URL;
  try {
    url = new URL(`${endpoint.replace(/\/+$/, '')}/v2/_berth/stats`);
  } catch {
    fail(`--endpoint must be a URL such as http://127.0.0.1:5000, not ${JSON.stringify(endpoint)}`);
  }
  if (repository !== undefined) url.searchParams.set('repository', repository);
  let response = await get(url);
  if (response.status === 401) {
    const token = await loginToken(endpoint, region);
    if (token === null) {
      failRun(
        `${endpoint} needs credentials: set BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY (or AWS credentials) ` +
          'of an identity allowed ecr:GetAuthorizationToken and ecr:DescribeRepositories',
      );
    }
    response = await get(url, { Authorization: `Basic ${token}` });
  }
  const text = await response.text();
  if (!response.ok) {
    let reason = text.slice(0, 500);
    try {
      const error = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
      if (error) reason = `${error.code}: ${error.message}`;
    } catch {
      // not an OCI error body: shown as it came
    }
    failRun(`${url.origin}${url.pathname} answered ${response.status}: ${reason}`);
  }
  return JSON.parse(text) as StatsReport;
}

async function get(url: URL, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, { headers });
  } catch (err) {
    failRun(`cannot reach ${url.origin}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
}

/** A login token (base64 of `AWS:<password>`), or null when there are no credentials to get one with. */
async function loginToken(endpoint: string, region: string): Promise<string | null> {
  const accessKeyId = process.env.BERTH_ACCESS_KEY_ID;
  const secretAccessKey = process.env.BERTH_SECRET_ACCESS_KEY;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) fail('set both BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY, or neither');
  const credentials = accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
  const { getAuthorizationToken } = await import('./ecr/ecr-login');
  try {
    return await getAuthorizationToken({ endpointUrl: endpoint, region, credentials });
  } catch (err) {
    const e = err as Error;
    // The default chain found nothing: the request stays anonymous.
    if (credentials === undefined && e.name === 'CredentialsProviderError') return null;
    failRun(`GetAuthorizationToken failed: ${e.name}: ${e.message}`);
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The text output: a table of repositories, the registry's line, the last collection. */
export function renderStats(report: StatsReport): string {
  const lines: string[] = [];
  if (report.repositories.length > 0) {
    const rows = [
      ['REPOSITORY', 'IMAGES', 'TAGS', 'BLOBS', 'STORED'],
      ...report.repositories.map((r) => [r.repository, String(r.images), String(r.tags), String(r.blobs), mib(r.storedBytes)]),
    ];
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    for (const row of rows) lines.push(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  '));
  }
  const r = report.registry;
  lines.push(
    `registry: ${count(r.repositories, 'repository', 'repositories')}, ${count(r.images, 'image')}, ${count(r.tags, 'tag')}, ` +
      `${count(r.blobs, 'blob')}, ${mib(r.storedBytes)} stored (deduplicated)`,
  );
  const last = report.lastCollection;
  lines.push(
    last
      ? `last collection: ${last.finishedAt}, freed ${mib(last.bytesFreed)} (${count(last.unlinked, 'link')}, ${count(last.deleted, 'blob')})` +
          `${last.complete ? '' : ', stopped before its end'}`
      : 'no collection yet',
  );
  return `${lines.join('\n')}\n`;
}
