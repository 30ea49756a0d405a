/**
 * `npm run bench`: Berth's local server against the reference registry (Debian's
 * docker-registry, CNCF distribution 2.8), both started here, in one run on one machine.
 *
 *   1. push and pull time of a 200 MiB layer with skopeo (fresh repositories, fresh oci: dirs)
 *   2. requests per second over loopback, 32 keep-alive connections, ~5 s each:
 *      manifest GET by tag and blob HEAD (load generator: test/bench/load.ts)
 *   3. peak RSS (VmHWM) of a fresh Berth process while skopeo pushes a 1 GiB layer
 *   4. garbage collection of BENCH_GC_BLOBS (default 100,000) unreferenced blobs in a stopped
 *      registry's directory: `berth gc` against `docker-registry garbage-collect` (test/bench/gc.ts)
 *   5. a lifecycle policy on one repository of BENCH_LIFECYCLE_IMAGES images (test/bench/lifecycle.ts)
 *   6. replication of a 50 MiB image between two emulated AWS deployments: push acknowledged at the
 *      source → pullable at the destination, against a direct push to it (test/bench/replication.ts)
 *
 * Not a test: nothing here asserts; it prints figures, ratios Berth/reference and PASS/MISS
 * against the targets. Environment: BENCH_REPS (pushes per registry, default 9), BENCH_PULLS
 * (pulls of each pushed image, default 3),
 * BENCH_SECONDS (per load run, default 5), BENCH_JSON (write the figures to this file),
 * BENCH_PARTS (a comma-separated subset of pushpull,rps,rss,gc,lifecycle,replication; default all six),
 * BENCH_REPLICATION_REPS (replicated and direct pushes of 50 MiB, default 5), BENCH_REPLICATION_POLL_MS
 * (how often the destination is polled for the replica, default 20), BENCH_REPLICATION_LOGS (write both
 * servers' log lines of that part to this file, to look into its breakdown).
 *
 * skopeo's own files (the image it pushes, the copy it pulls) live on tmpfs when the machine
 * has one: they are the client's work, the same for both registries, and their writeback
 * to a shared disk would only add noise to what is compared. The registries' data stays on disk.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem, release } from 'node:os';
import { promisify } from 'node:util';
import { scratchDir, startRegistryProcess, PROJECT_ROOT, type RegistryProcess } from '../support/registry-harness';
import { imageBlobs, makeImage, writeLayout, type Image } from '../support/oci-fixtures';
import { runLoad, type LoadResult } from './load';
import { gcBenchmark, gcRequestsOnAws, type GcBench, type GcRequests } from './gc';
import { lifecycleBenchmark, lifecycleRequestsOnAws, type LifecycleBench, type LifecycleRequests } from './lifecycle';
import { REFERENCE_BINARY, startReferenceRegistry, type ReferenceRegistry } from './reference-registry';
import { replicationBenchmark, type ReplicationBench } from './replication';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const REPS = Number(process.env.BENCH_REPS ?? 9);
const PULLS_PER_PUSH = Number(process.env.BENCH_PULLS ?? 3);
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 32;
const PARTS = new Set((process.env.BENCH_PARTS ?? 'pushpull,rps,rss,gc,lifecycle,replication').split(','));
const LIFECYCLE_IMAGES = Number(process.env.BENCH_LIFECYCLE_IMAGES ?? 100_000);
const GC_BLOBS = Number(process.env.BENCH_GC_BLOBS ?? 100_000);

interface Target {
  name: 'berth' | 'reference';
  host: string;
  pid: number;
}

async function skopeo(args: string[]): Promise<number> {
  const started = performance.now();
  try {
    await run('skopeo', args, { maxBuffer: 16 * MiB });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
  return (performance.now() - started) / 1000;
}

const push = (layout: string, host: string, repo: string) =>
  skopeo(['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${host}/${repo}:bench`]);
const pull = (host: string, repo: string, dir: string) =>
  skopeo(['copy', '--quiet', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${host}/${repo}:bench`, `oci:${dir}:bench`]);

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

function imageOf(layerBytes: number, seed: string): Image {
  // Plain tar (random bytes do not compress) and --preserve-digests: skopeo moves the bytes as they are.
  return makeImage({ layers: [layerBytes], gzip: false, seed });
}

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (n: number, digits = 2) => n.toFixed(digits);

function log(line: string): void {
  process.stdout.write(line + '\n');
}

/** A directory on tmpfs for skopeo's files when /dev/shm has room for the 1 GiB image and more, else the work directory. */
function clientFilesDir(work: string): string {
  try {
    const fs = statfsSync('/dev/shm');
    const TMPFS_MAGIC = 0x01021994;
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 3 * 1024 * MiB) return mkdtempSync('/dev/shm/berth-bench-');
  } catch {
    // no /dev/shm: stay on the work directory
  }
  return work;
}

function settleDisk(): void {
  execFileSync('sync');
}

// ---- 1. push and pull ----------------------------------------------------------------

interface PushPullTimes {
  push: number[];
  pull: number[];
  pushCpu: number[];
  pullCpu: number[];
}

async function pushPull(client: string, targets: Target[]): Promise<Record<string, PushPullTimes>> {
  const times: Record<string, PushPullTimes> = {};
  for (const t of targets) times[t.name] = { push: [], pull: [], pushCpu: [], pullCpu: [] };
  /** One timed transfer, started on a flushed disk, with the server's CPU time during it. */
  const timed = async (target: Target, transfer: () => Promise<number>) => {
    // Dirty pages left by an earlier transfer (the reference does not fsync its pushes)
    // would be written back during whichever measurement comes next: flush them first.
    settleDisk();
    const cpuBefore = cpuSeconds(target.pid);
    const seconds = await transfer();
    return { seconds, cpu: cpuSeconds(target.pid) - cpuBefore };
  };
  for (let rep = 0; rep < REPS; rep++) {
    // The two registries' pushes run back to back, then their pulls, so each pair meets the
    // same machine; who goes first alternates, so neither always meets a cold page cache.
    const order = rep % 2 === 0 ? targets : [...targets].reverse();
    // A fresh image per push: skopeo's blob-info cache would otherwise mount a layer it
    // knows is already in the registry instead of uploading it.
    const runs = order.map((target) => ({
      target,
      image: imageOf(200 * MiB, `bench-pushpull-${target.name}-${rep}-${Date.now()}`),
      layout: join(client, `src-200-${target.name}`),
      back: join(client, `back-200-${target.name}`),
      repo: `bench/pushpull-${rep}-${Date.now()}`,
    }));
    for (const r of runs) {
      rmSync(r.layout, { recursive: true, force: true });
      rmSync(r.back, { recursive: true, force: true });
      writeLayout(r.layout, [{ tag: 'bench', manifest: r.image.manifest, blobs: imageBlobs(r.image) }]);
    }
    const pushes = [];
    for (const r of runs) pushes.push(await timed(r.target, () => push(r.layout, r.target.host, r.repo)));
    for (const [i, r] of runs.entries()) {
      const t = times[r.target.name];
      t.push.push(pushes[i].seconds);
      t.pushCpu.push(pushes[i].cpu);
      log(`  ${r.target.name.padEnd(9)} rep ${rep + 1}/${REPS}: push ${fmt(pushes[i].seconds)} s (server CPU ${fmt(pushes[i].cpu)} s)`);
    }
    // Several pulls per pushed image: a pull is a third of the work of a push-and-image
    // round, and more samples narrow the pull ratio, which sits close to 1.0.
    for (let k = 0; k < PULLS_PER_PUSH; k++) {
      const pullOrder = k % 2 === 0 ? [...runs].reverse() : runs;
      const seconds = new Map<string, { seconds: number; cpu: number }>();
      for (const r of pullOrder) {
        rmSync(r.back, { recursive: true, force: true });
        seconds.set(r.target.name, await timed(r.target, () => pull(r.target.host, r.repo, r.back)));
        const layer = r.image.layers[0];
        const pulled = await fileDigest(join(r.back, 'blobs', 'sha256', layer.digest.slice(7)));
        if (pulled !== layer.digest) throw new Error(`${r.target.name}: pulled layer has digest ${pulled}, not ${layer.digest}`);
      }
      // Recorded in the targets' order, so that index i of each list is one pair.
      for (const target of targets) {
        const p = seconds.get(target.name)!;
        times[target.name].pull.push(p.seconds);
        times[target.name].pullCpu.push(p.cpu);
      }
      log(`  pull ${k + 1}/${PULLS_PER_PUSH}: ` + targets.map((t) => `${t.name} ${fmt(seconds.get(t.name)!.seconds)} s (server CPU ${fmt(seconds.get(t.name)!.cpu)} s)`).join(', '));
    }
    for (const r of runs) {
      rmSync(r.layout, { recursive: true, force: true });
      rmSync(r.back, { recursive: true, force: true });
    }
  }
  return times;
}

// ---- 2. requests per second ----------------------------------------------------------

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function requestsPerSecond(work: string, targets: Target[]): Promise<Record<string, { manifest: LoadResult; blobHead: LoadResult }>> {
  const image = makeImage({ layers: [64 * 1024, 256 * 1024], seed: 'bench-rps' });
  const layout = join(work, 'src-rps');
  writeLayout(layout, [{ tag: 'bench', manifest: image.manifest, blobs: imageBlobs(image) }]);
  for (const target of targets) await push(layout, target.host, 'bench/rps');
  const results: Record<string, { manifest: LoadResult; blobHead: LoadResult }> = {};
  const load = (target: Target, method: 'GET' | 'HEAD', path: string, headers?: Record<string, string>) => {
    const [host, port] = target.host.split(':');
    return runLoad({ host, port: Number(port), method, path, headers, connections: CONNECTIONS, durationMs: LOAD_SECONDS * 1000 });
  };
  for (const target of targets) results[target.name] = {} as { manifest: LoadResult; blobHead: LoadResult };
  const describe = (r: LoadResult) =>
    `${fmt(r.perSecond, 0)} req/s (${r.requests} in ${fmt(r.seconds, 1)} s, p50 ${fmt(r.latencyP50Ms)} ms, p99 ${fmt(r.latencyP99Ms)} ms, non-200 ${r.non2xx}, errors ${r.errors})`;
  for (const target of targets) {
    const r = await load(target, 'GET', '/v2/bench/rps/manifests/bench', { Accept: MANIFEST_ACCEPT });
    results[target.name].manifest = r;
    log(`  ${target.name.padEnd(9)} manifest GET by tag: ${describe(r)}`);
  }
  for (const target of [...targets].reverse()) {
    const r = await load(target, 'HEAD', `/v2/bench/rps/blobs/${image.layers[1].digest}`);
    results[target.name].blobHead = r;
    log(`  ${target.name.padEnd(9)} blob HEAD:           ${describe(r)}`);
  }
  for (const [name, r] of Object.entries(results)) {
    for (const [what, result] of Object.entries(r)) {
      if (result.non2xx > 0 || result.requests === 0) throw new Error(`${name} ${what}: ${result.non2xx} responses were not 200`);
    }
  }
  return results;
}

// ---- 3. peak RSS while pushing 1 GiB ---------------------------------------------------

async function peakRss(work: string, client: string): Promise<{ berthBefore: number; berth: number; reference: number; pushSeconds: { berth: number; reference: number } }> {
  const image = imageOf(1024 * MiB, `bench-rss-${Date.now()}`);
  const layout = join(client, 'src-1g');
  writeLayout(layout, [{ tag: 'bench', manifest: image.manifest, blobs: imageBlobs(image) }]);
  // Fresh processes, so the high-water mark is this push's (plus start-up), not the earlier runs'.
  const berth = await startRegistryProcess(join(work, 'berth-rss'));
  const reference = await startReferenceRegistry(join(work, 'reference-rss'));
  try {
    const berthBefore = procStatus(berth.child.pid!, 'VmHWM');
    const berthPush = await push(layout, berth.host, 'bench/big');
    const berthPeak = procStatus(berth.child.pid!, 'VmHWM');
    const referencePush = await push(layout, reference.host, 'bench/big');
    const referencePeak = procStatus(reference.child.pid!, 'VmHWM');
    return { berthBefore, berth: berthPeak, reference: referencePeak, pushSeconds: { berth: berthPush, reference: referencePush } };
  } finally {
    await berth.stop();
    await reference.stop();
    rmSync(layout, { recursive: true, force: true });
  }
}

// ---- main ----------------------------------------------------------------------------

function versions(): Record<string, string> {
  const first = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
    } catch {
      return 'unknown';
    }
  };
  const lmdb = JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', 'lmdb', 'package.json'), 'utf8')).version;
  const berthVersion = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    berth: `${berthVersion} (${commit}${first('git', ['-C', PROJECT_ROOT, 'status', '--porcelain', 'lambdas']) ? ', lambdas/ modified' : ''})`,
    node: process.version,
    lmdb,
    reference: first(REFERENCE_BINARY, ['--version']),
    skopeo: first('skopeo', ['--version']),
    kernel: release(),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 1024 ** 3)} GiB`,
  };
}

async function main(): Promise<void> {
  const scratch = scratchDir('bench');
  const work = scratch.path;
  mkdirSync(work, { recursive: true });
  const client = clientFilesDir(work);
  const info = versions();
  log(`Berth benchmark, ${new Date().toISOString()}`);
  for (const [k, v] of Object.entries(info)) log(`  ${k.padEnd(9)} ${v}`);
  log(`  client    skopeo's files in ${client === work ? `${work} (no tmpfs with 3 GiB free)` : `${client} (tmpfs)`}`);
  log(`  load      ${CONNECTIONS} keep-alive connections, ${LOAD_SECONDS} s per run after 1 s warm-up, raw-socket generator on the bench's main thread`);

  let berth: RegistryProcess | undefined;
  let reference: ReferenceRegistry | undefined;
  try {
    berth = await startRegistryProcess(join(work, 'berth-data'));
    reference = await startReferenceRegistry(join(work, 'reference'));
    const targets: Target[] = [
      { name: 'berth', host: berth.host, pid: berth.child.pid! },
      { name: 'reference', host: reference.host, pid: reference.child.pid! },
    ];

    const rows: { what: string; berth: string; reference: string; ratio: number; target: string; pass: boolean }[] = [];
    let pp: Awaited<ReturnType<typeof pushPull>> | undefined;
    let rps: Awaited<ReturnType<typeof requestsPerSecond>> | undefined;
    let rss: Awaited<ReturnType<typeof peakRss>> | undefined;
    if (PARTS.has('pushpull')) {
      log(`\n1. push and pull of a 200 MiB layer with skopeo (${REPS} repetitions; medians, and the median of the paired ratios)`);
      pp = await pushPull(client, targets);
      // The ratio is the median of each repetition's paired ratio (Berth and the reference ran
      // back to back), which cancels most of the drift of a shared disk between repetitions.
      const pairedRatio = (b: number[], r: number[]) => median(b.map((x, i) => x / r[i]));
      const timeRow = (what: string, b: number[], r: number[]) => {
        const ratio = pairedRatio(b, r);
        rows.push({ what, berth: `${fmt(median(b))} s`, reference: `${fmt(median(r))} s`, ratio, target: 'ratio <= 1.0', pass: ratio <= 1.0 });
      };
      timeRow('push 200 MiB (skopeo)', pp.berth.push, pp.reference.push);
      timeRow('pull 200 MiB (skopeo)', pp.berth.pull, pp.reference.pull);
      log(
        `  median server CPU: push berth ${fmt(median(pp.berth.pushCpu))} s, reference ${fmt(median(pp.reference.pushCpu))} s; ` +
          `pull berth ${fmt(median(pp.berth.pullCpu))} s, reference ${fmt(median(pp.reference.pullCpu))} s`,
      );
    }
    if (PARTS.has('rps')) {
      log('\n2. requests per second over loopback');
      rps = await requestsPerSecond(work, targets);
      const rpsRow = (what: string, b: number, r: number) =>
        rows.push({ what, berth: `${fmt(b, 0)}/s`, reference: `${fmt(r, 0)}/s`, ratio: b / r, target: 'ratio >= 1.5', pass: b / r >= 1.5 });
      rpsRow('manifest GET by tag', rps.berth.manifest.perSecond, rps.reference.manifest.perSecond);
      rpsRow('blob HEAD', rps.berth.blobHead.perSecond, rps.reference.blobHead.perSecond);
    }
    await berth.stop();
    await reference.stop();
    berth = undefined;
    reference = undefined;
    if (PARTS.has('rss')) {
      log('\n3. peak RSS while skopeo pushes a 1 GiB layer (fresh processes)');
      rss = await peakRss(work, client);
      log(`  berth     VmHWM ${fmt(rss.berth / MiB, 0)} MiB (${fmt(rss.berthBefore / MiB, 0)} MiB after start-up), push ${fmt(rss.pushSeconds.berth)} s`);
      log(`  reference VmHWM ${fmt(rss.reference / MiB, 0)} MiB, push ${fmt(rss.pushSeconds.reference)} s`);
      rows.push({
        what: 'peak RSS, 1 GiB push',
        berth: `${fmt(rss.berth / MiB, 0)} MiB`,
        reference: `${fmt(rss.reference / MiB, 0)} MiB`,
        ratio: rss.berth / rss.reference,
        target: 'Berth < 200 MB',
        pass: rss.berth < 200 * 1000 * 1000,
      });
    }

    let gc: GcBench | undefined;
    let gcAws: GcRequests | undefined;
    if (PARTS.has('gc')) {
      log(`\n4. garbage collection of ${GC_BLOBS} unreferenced blobs (1 KiB each) in a stopped registry's directory`);
      gc = await gcBenchmark(work, GC_BLOBS);
      log(`  berth gc --min-age 0: ${fmt(gc.berthSeconds)} s (${gc.berthLeft} left); docker-registry garbage-collect: ${fmt(gc.referenceSeconds)} s (${gc.referenceLeft} left)`);
      rows.push({
        what: `collect ${GC_BLOBS} unreferenced blobs`,
        berth: `${fmt(gc.berthSeconds, 1)} s`,
        reference: `${fmt(gc.referenceSeconds, 1)} s`,
        ratio: gc.berthSeconds / gc.referenceSeconds,
        target: 'ratio <= 1.0',
        pass: gc.berthSeconds <= gc.referenceSeconds && gc.berthLeft === 0,
      });
      gcAws = await gcRequestsOnAws(Number(process.env.BENCH_GC_AWS_BLOBS ?? 1000));
      log(`  AWS path (DynamoDB Local, S3 stand-in), ${gcAws.blobs} unused blobs in 4 repositories: ${fmt(gcAws.seconds)} s; requests per collected blob:`);
      log(`    ${Object.entries(gcAws.perBlob).filter(([, n]) => n > 0).map(([key, n]) => `${key} ${n}`).join(', ')}`);
    }

    let lifecycle: LifecycleBench | undefined;
    let lifecycleAws: LifecycleRequests | undefined;
    if (PARTS.has('lifecycle')) {
      log(`\n5. lifecycle policy on one repository of ${LIFECYCLE_IMAGES} images (LMDB; no reference registry has lifecycle policies: the goal is under 30 s)`);
      lifecycle = await lifecycleBenchmark(work, LIFECYCLE_IMAGES);
      log(`  evaluate (--dry-run): ${fmt(lifecycle.evaluateSeconds)} s; run expiring ${lifecycle.expired}: ${fmt(lifecycle.runSeconds)} s`);
      rows.push({
        what: `evaluate lifecycle, ${LIFECYCLE_IMAGES} images`,
        berth: `${fmt(lifecycle.evaluateSeconds, 1)} s`,
        reference: '-',
        ratio: NaN,
        target: 'Berth < 30 s',
        pass: lifecycle.evaluateSeconds < 30,
      });
      lifecycleAws = await lifecycleRequestsOnAws(Number(process.env.BENCH_LIFECYCLE_AWS_IMAGES ?? 5000));
      log(`  AWS path (DynamoDB Local), ${lifecycleAws.images} images: evaluation ${fmt(lifecycleAws.seconds)} s; requests per image:`);
      log(`    ${Object.entries(lifecycleAws.perImage).map(([key, n]) => `${key} ${n}`).join(', ')}`);
    }

    let replication: ReplicationBench | undefined;
    if (PARTS.has('replication')) {
      const reps = Number(process.env.BENCH_REPLICATION_REPS ?? 5);
      log(`\n6. replication between two emulated AWS deployments: a 50 MiB image, push acknowledged at the source → pullable at the destination, against a direct push to the destination (${reps} repetitions; medians)`);
      replication = await replicationBenchmark(work, { reps, pollMs: Number(process.env.BENCH_REPLICATION_POLL_MS ?? 20), logsFile: process.env.BENCH_REPLICATION_LOGS, log });
      const direct = median(replication.direct);
      const replicated = median(replication.replicated);
      // As for push and pull: the median of each repetition's ratio (its direct push and its replication ran back to back).
      const ratio = median(replication.replicated.map((r, i) => r / replication!.direct[i]));
      const at = (key: Exclude<keyof ReplicationBench['breakdown'][number], 'copyPath'>) => fmt(median(replication!.breakdown.map((b) => b[key])));
      log(`  direct push to the destination ${fmt(direct)} s; push to the source ${fmt(median(replication.sourcePush))} s; source push acknowledged → pullable at the destination ${fmt(replicated)} s`);
      log(
        `  medians, seconds after the acknowledgement: event published ${at('eventPublished')}, job queued ${at('jobQueued')}, job started at the destination ${at('jobStarted')}, ` +
          `layer copied ${at('layerCopyStarted')}-${at('layerCopied')} (${fmt(median(replication.breakdown.map((b) => b.layerCopied - b.layerCopyStarted)))} s), image stored ${at('imageStored')}, replicator done ${at('replicatorDone')}`,
      );
      rows.push({
        what: 'replica pullable after push ack, 50 MiB',
        berth: `${fmt(replicated)} s`,
        reference: `${fmt(direct)} s (direct push)`,
        ratio,
        target: 'ratio < 2.0',
        pass: ratio < 2,
      });
    }

    log('\n| measurement | Berth | reference | Berth/reference | target | |');
    log('|---|---:|---:|---:|---|---|');
    for (const r of rows) log(`| ${r.what} | ${r.berth} | ${r.reference} | ${fmt(r.ratio)} | ${r.target} | ${r.pass ? 'PASS' : 'MISS'} |`);

    if (process.env.BENCH_JSON) {
      writeFileSync(process.env.BENCH_JSON, JSON.stringify({ date: new Date().toISOString(), versions: info, pushPull: pp, rps, rss, gc, gcAws, lifecycle, lifecycleAws, replication, rows }, null, 2));
    }
  } finally {
    await berth?.stop();
    await reference?.stop();
    scratch.remove();
    if (client !== work) rmSync(client, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
