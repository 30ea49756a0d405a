/**
 * The benchmark's replication part (issue 14): two emulated AWS deployments (`berth serve --emulate-aws`,
 * each with its own DynamoDB Local table, S3 stand-in bucket and account), the source replicating to the
 * destination, as test/e2e/replication-emulated.test.ts sets them up. For an image of one ~50 MiB
 * pseudo-random layer and its config:
 *
 * - direct: an OCI push straight to the destination (POST upload, PUT to the ingest service's Location
 *   with the body, for the config and the layer, then PUT manifest), from the first request to the
 *   manifest PUT's answer;
 * - replicated: the same push (another image of the same size, so nothing is there already) to the
 *   source; from the manifest PUT's answer, the destination is polled (manifest GET by tag every
 *   POLL_MS) until the manifest answers 200, then the layer GET (following the 307 to the S3 stand-in)
 *   answers 200 with the layer's length: the replica is pullable. The layer's bytes are then read and
 *   their digest checked, off the clock.
 *
 * The breakdown comes from the servers themselves: the source's events file (the EventBridge stand-in
 * appends an event before it hands it to the rule's SQS target), read every 5 ms, and their log lines
 * (Powertools JSON on stdout, millisecond timestamps from the same clock as the bench's): the source's
 * replicator splitting the event into jobs ("replication jobs queued"), the replicator's calls at the
 * destination (each `request` line carries its latency, so its start is known too) and its "image
 * replicated".
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { callEcrJson } from '../../lambdas/aws/ecr-json-call';
import { startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, type Blob, type Image } from '../support/oci-fixtures';

const SOURCE = { account: '111122223333', region: 'us-east-1' };
const DEST = { account: '222233334444', region: 'eu-west-1' };
const SOURCE_ADMIN = { accessKeyId: 'AKIABENCHSOURCEADMIN', secretAccessKey: 'bench-source-admin-secret-000014' };
const DEST_ADMIN = { accessKeyId: 'AKIABENCHDESTADMIN00', secretAccessKey: 'bench-dest-admin-secret-00000014' };
/** The source's replicator: on AWS its function's role, here an identity of the source's account that the destination knows. */
const REPLICATOR = { accessKeyId: 'AKIABENCHREPLICATOR0', secretAccessKey: 'bench-replicator-secret-00000014' };
const REPLICATOR_ARN = `arn:aws:iam::${SOURCE.account}:role/berth-replicator`;
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
const ALLOW_REPLICATION = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: '*' }] };
const OCI_ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
const MiB = 1024 * 1024;
const PULLABLE_TIMEOUT_MS = 120_000;

export interface ReplicationBench {
  layerBytes: number;
  pollMs: number;
  /** Seconds per repetition, in order. */
  direct: number[];
  /** The push of the replicated image to the source (for context: the measurement starts at its answer). */
  sourcePush: number[];
  /** Source manifest PUT answered → replica pullable at the destination. */
  replicated: number[];
  /** The same interval, cut by what the servers logged (seconds from the source's answer; NaN when a line was missing). */
  breakdown: ReplicationBreakdown[];
}

export interface ReplicationBreakdown {
  /** The source's EventBridge stand-in accepted the PUSH event (stream poller → publisher → PutEvents), and hands it to the rule's SQS target. */
  eventPublished: number;
  /** The replicator received the event and queued its job (SQS receive, IN_PROGRESS status, SendMessage). */
  jobQueued: number;
  /** The destination began the replicator's first call (the job message received from SQS and begun). */
  jobStarted: number;
  /**
   * The layer's copy began: the destination's BerthReplicateBlob that fetched it from the source's presigned
   * URL into its bucket, or, for a blob above the destination's fetch limit, the replicator's PUT of it into
   * an upload session on the destination's ingest service (`copyPath`)...
   */
  layerCopyStarted: number;
  /** ...and answered it. */
  layerCopied: number;
  /** The destination answered BerthReplicateImage (manifest and tag stored). */
  imageStored: number;
  /** The replicator logged "image replicated" (after its COMPLETE status). */
  replicatorDone: number;
  copyPath: 'fetch' | 'upload' | 'unknown';
}

interface LogLine {
  at: number;
  message: string;
  fields: Record<string, unknown>;
}

/** Collects a `berth serve` process's JSON log lines (Powertools) with their timestamps. */
function collectLogs(proc: RegistryProcess): LogLine[] {
  const lines: LogLine[] = [];
  let partial = '';
  proc.child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      try {
        const fields = JSON.parse(part) as Record<string, unknown>;
        if (typeof fields.timestamp === 'string' && typeof fields.message === 'string') lines.push({ at: Date.parse(fields.timestamp), message: fields.message, fields });
      } catch {
        // not a log line
      }
    }
  });
  return lines;
}

/**
 * When the source's EventBridge stand-in accepted the PUSH event of `digest`: it appends each event to
 * its file before handing it to the rule's SQS target, and the file is read every 5 ms from `offset`.
 */
function watchPushEvent(eventsFile: string, digest: string): { at(): number; stop(): void } {
  let offset = existsSync(eventsFile) ? statSync(eventsFile).size : 0;
  let seen = NaN;
  let pending = '';
  const timer = setInterval(() => {
    if (!existsSync(eventsFile)) return;
    const size = statSync(eventsFile).size;
    if (size <= offset) return;
    const now = Date.now();
    const fd = openSync(eventsFile, 'r');
    const bytes = Buffer.alloc(size - offset);
    readSync(fd, bytes, 0, bytes.length, offset);
    closeSync(fd);
    offset = size;
    const lines = (pending + bytes.toString('utf8')).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const event = JSON.parse(line) as { 'detail-type'?: string; detail?: Record<string, unknown> };
      if (event['detail-type'] === 'ECR Image Action' && event.detail?.['action-type'] === 'PUSH' && event.detail['image-digest'] === digest && Number.isNaN(seen)) seen = now;
    }
    if (!Number.isNaN(seen)) clearInterval(timer);
  }, 5);
  return { at: () => seen, stop: () => clearInterval(timer) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (fromMs: number, toMs: number) => (toMs - fromMs) / 1000;

class Deployment {
  basic = '';
  readonly logs: LogLine[];
  constructor(
    readonly proc: RegistryProcess,
    readonly region: string,
    readonly admin: typeof SOURCE_ADMIN,
  ) {
    this.logs = collectLogs(proc);
  }

  call(action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    return callEcrJson({ url: this.proc.url, region: this.region, credentials: this.admin, service: 'execute-api' }, action, input);
  }

  async login(): Promise<void> {
    const out = (await this.call('GetAuthorizationToken', {})) as { authorizationData: Array<{ authorizationToken: string }> };
    this.basic = `Basic ${out.authorizationData[0].authorizationToken}`;
  }

  /** An OCI push through the data plane: POST, then PUT to the ingest service's Location. */
  async pushBlob(repo: string, blob: Blob): Promise<void> {
    const start = await fetch(`${this.proc.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: this.basic } });
    await start.body?.cancel();
    if (start.status !== 202) throw new Error(`POST upload to ${repo}: ${start.status}`);
    const location = new URL(start.headers.get('location')!, this.proc.url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, { method: 'PUT', body: blob.bytes, headers: { 'Content-Type': 'application/octet-stream', Authorization: this.basic } });
    const text = await put.text();
    if (put.status !== 201) throw new Error(`PUT ${blob.digest} to ${repo}: ${put.status} ${text.slice(0, 300)}`);
  }

  async putManifest(repo: string, tag: string, manifest: Blob): Promise<void> {
    const res = await fetch(`${this.proc.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest.bytes, headers: { 'Content-Type': manifest.mediaType, Authorization: this.basic } });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: ${res.status} ${text.slice(0, 300)}`);
  }

  /** Pushes the image; resolves to the time (Date.now()) the manifest PUT was answered and the push's seconds. */
  async push(repo: string, tag: string, image: Image): Promise<{ ackAt: number; seconds: number }> {
    const started = performance.now();
    for (const blob of imageBlobs(image)) await this.pushBlob(repo, blob);
    await this.putManifest(repo, tag, image.manifest);
    const ackAt = Date.now();
    return { ackAt, seconds: (performance.now() - started) / 1000 };
  }

  /** One poll: true when the manifest answers 200 and the layer's GET (its 307 followed) answers 200 with the layer's length. */
  async pullable(repo: string, tag: string, layer: Blob): Promise<boolean> {
    const manifest = await fetch(`${this.proc.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_ACCEPT, Authorization: this.basic } });
    await manifest.body?.cancel();
    if (manifest.status !== 200) return false;
    const blob = await fetch(`${this.proc.url}/v2/${repo}/blobs/${layer.digest}`, { headers: { Authorization: this.basic }, redirect: 'follow' });
    await blob.body?.cancel();
    return blob.status === 200 && Number(blob.headers.get('content-length')) === layer.size;
  }

  async layerDigest(repo: string, layer: Blob): Promise<string> {
    const res = await fetch(`${this.proc.url}/v2/${repo}/blobs/${layer.digest}`, { headers: { Authorization: this.basic }, redirect: 'follow' });
    const hash = createHash('sha256');
    for await (const chunk of res.body!) hash.update(chunk);
    return `sha256:${hash.digest('hex')}`;
  }
}

/**
 * The replicator's calls at the destination since `since`, from the destination's `request` lines (each
 * carries its latency, so its start is known too): the POSTs whose caller is the replicator's identity,
 * which makes no other call. A push job is BerthReplicateBlob per blob, then BerthReplicateImage, so the
 * last one is the image. (The `ecr api` line that names the action has a request id of its own, the ECR
 * API's, not the one on the `request` line, API Gateway's: nothing joins the two lines.)
 */
function replicatorCalls(logs: LogLine[], since: number): Array<{ startedAt: number; endedAt: number }> {
  return logs
    .filter((l) => l.message === 'request' && l.fields.method === 'POST' && l.fields.subject === REPLICATOR_ARN)
    .map((l) => ({ startedAt: l.at - Number(l.fields.latencyMs ?? 0), endedAt: l.at }))
    .filter((c) => c.startedAt >= since)
    .sort((x, y) => x.startedAt - y.startedAt);
}

function breakdownOf(source: Deployment, dest: Deployment, ackAt: number, digest: string, eventAt: number): ReplicationBreakdown {
  const after = (logs: LogLine[], message: string, match: (l: LogLine) => boolean = () => true) =>
    logs.find((l) => l.at >= ackAt - 5 && l.message === message && match(l))?.at ?? NaN;
  const calls = replicatorCalls(dest.logs, ackAt);
  const image = calls.length > 1 ? calls[calls.length - 1] : undefined;
  const blobCalls = calls.slice(0, -1).map((c) => ({ ...c, path: 'fetch' as const }));
  // The ingest service's PUTs at the destination in this window are the replicator's (no push runs meanwhile).
  const uploads = dest.logs
    .filter((l) => l.at >= ackAt && l.message === 'request' && l.fields.service === 'berth-ingest' && l.fields.action === 'upload.put')
    .map((l) => ({ startedAt: l.at - Number(l.fields.latencyMs ?? 0), endedAt: l.at, path: 'upload' as const }));
  // The layer's copy is the longest of them (the config is a few hundred bytes).
  const layer = [...blobCalls, ...uploads].reduce<(typeof blobCalls)[number] | (typeof uploads)[number] | undefined>(
    (longest, c) => (!longest || c.endedAt - c.startedAt > longest.endedAt - longest.startedAt ? c : longest),
    undefined,
  );
  return {
    eventPublished: seconds(ackAt, eventAt),
    jobQueued: seconds(ackAt, after(source.logs, 'replication jobs queued')),
    jobStarted: seconds(ackAt, calls[0]?.startedAt ?? NaN),
    layerCopyStarted: seconds(ackAt, layer?.startedAt ?? NaN),
    layerCopied: seconds(ackAt, layer?.endedAt ?? NaN),
    imageStored: seconds(ackAt, image?.endedAt ?? NaN),
    replicatorDone: seconds(ackAt, after(source.logs, 'image replicated', (l) => l.fields.digest === digest)),
    copyPath: layer?.path ?? 'unknown',
  };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function replicationBenchmark(work: string, options: { reps: number; layerBytes?: number; pollMs?: number; logsFile?: string; log: (line: string) => void }): Promise<ReplicationBench> {
  const layerBytes = options.layerBytes ?? 50 * MiB;
  const pollMs = options.pollMs ?? 20;
  const writeConfig = (name: string, config: Record<string, unknown>) => {
    const file = join(work, `replication-${name}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  };
  const destConfig = writeConfig('dest', {
    registry: { account: DEST.account, regions: [DEST.region] },
    identities: [
      { name: 'admin', ...DEST_ADMIN, arn: `arn:aws:iam::${DEST.account}:user/admin`, policy: ALLOW_ALL },
      { name: 'replicator', ...REPLICATOR, arn: REPLICATOR_ARN, policy: ALLOW_REPLICATION },
    ],
  });
  let destProc: RegistryProcess | undefined;
  let sourceProc: RegistryProcess | undefined;
  try {
    destProc = await startRegistryProcess(join(work, 'replication-dest'), 0, ['--emulate-aws', '--config', destConfig]);
    const sourceConfig = writeConfig('source', {
      registry: { account: SOURCE.account, regions: [SOURCE.region] },
      identities: [{ name: 'admin', ...SOURCE_ADMIN, arn: `arn:aws:iam::${SOURCE.account}:user/admin`, policy: ALLOW_ALL }],
      replicationDestinations: [{ region: DEST.region, registryId: DEST.account, endpoint: destProc.url, ...REPLICATOR }],
    });
    sourceProc = await startRegistryProcess(join(work, 'replication-source'), 0, ['--emulate-aws', '--config', sourceConfig]);
    const sourceEvents = (JSON.parse(readFileSync(join(sourceProc.dataDir, 'emulated-aws.json'), 'utf8')) as { events: string }).events;
    const dest = new Deployment(destProc, DEST.region, DEST_ADMIN);
    const source = new Deployment(sourceProc, SOURCE.region, SOURCE_ADMIN);
    await dest.login();
    await source.login();
    await dest.call('PutRegistryPolicy', {
      policyText: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Sid: 'ReplicationFromSource', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE.account}:root` }, Action: ['ecr:ReplicateImage', 'ecr:CreateRepository'], Resource: `arn:aws:ecr:${DEST.region}:${DEST.account}:repository/*` }],
      }),
    });
    // Raw JSON, as the e2e test sends it (the SDK's model drops deleteReplication).
    await source.call('PutReplicationConfiguration', {
      replicationConfiguration: { rules: [{ destinations: [{ region: DEST.region, registryId: DEST.account }], repositoryFilters: [{ filter: 'bench/', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: false } }] },
    });

    const untilPullable = async (repo: string, tag: string, layer: Blob): Promise<number> => {
      const deadline = Date.now() + PULLABLE_TIMEOUT_MS;
      for (;;) {
        if (await dest.pullable(repo, tag, layer)) return Date.now();
        if (Date.now() > deadline) throw new Error(`${repo}:${tag} was not pullable at the destination after ${PULLABLE_TIMEOUT_MS / 1000} s`);
        await sleep(pollMs);
      }
    };
    /** Waits for the replicator's "image replicated" of `digest`, then lets the trailing work (events, statuses) settle. */
    const settle = async (digest: string) => {
      await waitFor(`the replicator's "image replicated" for ${digest}`, () => source.logs.find((l) => l.message === 'image replicated' && l.fields.digest === digest));
      await sleep(1000);
    };

    // Warm-up, off the record: the repositories exist at both ends afterwards, and every path has run once.
    const warm = makeImage({ layers: [1 * MiB], gzip: false, seed: `bench-replication-warm-${Date.now()}` });
    await dest.push('bench/direct', 'warm', warm);
    const warmAck = await source.push('bench/replicated', 'warm', warm);
    await untilPullable('bench/replicated', 'warm', warm.layers[0]);
    await settle(warm.manifest.digest);
    options.log(`  warm-up (1 MiB layer): push acknowledged → pullable at the destination in ${(Date.now() - warmAck.ackAt) / 1000} s or less`);

    const result: ReplicationBench = { layerBytes, pollMs, direct: [], sourcePush: [], replicated: [], breakdown: [] };
    for (let rep = 0; rep < options.reps; rep++) {
      const seed = `bench-replication-${rep}-${Date.now()}`;
      const directImage = makeImage({ layers: [layerBytes], gzip: false, seed: `${seed}-direct` });
      const replicatedImage = makeImage({ layers: [layerBytes], gzip: false, seed: `${seed}-replicated` });
      const tag = `r${rep}`;
      const runDirect = async () => {
        const pushed = await dest.push('bench/direct', tag, directImage);
        result.direct.push(pushed.seconds);
        await sleep(1000);
      };
      const runReplicated = async () => {
        const event = watchPushEvent(sourceEvents, replicatedImage.manifest.digest);
        let pushed: Awaited<ReturnType<Deployment['push']>>;
        let pullableAt: number;
        try {
          pushed = await source.push('bench/replicated', tag, replicatedImage);
          pullableAt = await untilPullable('bench/replicated', tag, replicatedImage.layers[0]);
        } finally {
          event.stop();
        }
        result.sourcePush.push(pushed.seconds);
        result.replicated.push(seconds(pushed.ackAt, pullableAt));
        await settle(replicatedImage.manifest.digest);
        result.breakdown.push(breakdownOf(source, dest, pushed.ackAt, replicatedImage.manifest.digest, event.at()));
        const digest = await dest.layerDigest('bench/replicated', replicatedImage.layers[0]);
        if (digest !== replicatedImage.layers[0].digest) throw new Error(`the replica's layer has digest ${digest}, not ${replicatedImage.layers[0].digest}`);
      };
      // Who goes first alternates, as in the push/pull part.
      if (rep % 2 === 0) {
        await runDirect();
        await runReplicated();
      } else {
        await runReplicated();
        await runDirect();
      }
      const b = result.breakdown[result.breakdown.length - 1];
      const f = (n: number) => n.toFixed(2);
      options.log(
        `  rep ${rep + 1}/${options.reps}: direct push ${f(result.direct[rep])} s; source push ${f(result.sourcePush[rep])} s, then pullable after ${f(result.replicated[rep])} s ` +
          `(after the ack: event published ${f(b.eventPublished)}, job queued ${f(b.jobQueued)}, job started ${f(b.jobStarted)}, layer copied (${b.copyPath}) ${f(b.layerCopyStarted)}-${f(b.layerCopied)}, image stored ${f(b.imageStored)}, replicator done ${f(b.replicatorDone)})`,
      );
    }
    if (options.logsFile) writeFileSync(options.logsFile, JSON.stringify({ source: source.logs, dest: dest.logs }, null, 1));
    return result;
  } finally {
    await sourceProc?.stop();
    await destProc?.stop();
  }
}
