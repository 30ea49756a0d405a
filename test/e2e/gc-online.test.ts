/**
 * Online garbage collection in local mode, against a real `berth serve` process collecting every
 * second with a grace period of five seconds: fifty clients push overlapping images (shared layers,
 * multi-arch indexes with untagged children, referrers, mounts) and delete some for
 * BERTH_GC_STRESS_SECONDS (default 60); afterwards every image they kept is pulled and every digest
 * verified, and once the grace period has passed nothing else is left on disk. Then `berth gc` is
 * killed half-way through a large collection, run again, and finishes it with nothing lost.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runGcWorkload, verifyLedger, type LedgerEntry } from '../support/gc-workload';
import { blobOf, pseudoRandomBytes } from '../support/oci-fixtures';
import { PROJECT_ROOT, scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';

const SECONDS = Number(process.env.BERTH_GC_STRESS_SECONDS ?? 60);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The digests of every content file in a data directory. */
function contentOnDisk(dataDir: string): Set<string> {
  const out = new Set<string>();
  const root = join(dataDir, 'content', 'blobs');
  for (const algorithm of readdirSync(root)) {
    for (const shard of readdirSync(join(root, algorithm))) for (const hex of readdirSync(join(root, algorithm, shard))) out.add(`${algorithm}:${hex}`);
  }
  return out;
}

const used = (alive: LedgerEntry[]) => new Set(alive.flatMap((e) => e.blobs.map((b) => b.digest)));

describe('online garbage collection in local mode', () => {
  let work: ReturnType<typeof scratchDir>;
  let proc: RegistryProcess | undefined;
  let alive: LedgerEntry[] = [];
  const dataDir = () => join(work.path, 'data');

  beforeAll(() => {
    work = scratchDir('gc-online');
  });
  afterAll(async () => {
    await proc?.stop();
    work?.remove();
  });

  test(`GIVEN 50 clients pushing and deleting for ${SECONDS} s while the server collects every second THEN every image kept pulls intact, and after the grace period only what they use is on disk`, async () => {
    proc = await startRegistryProcess(dataDir(), 0, ['--gc-interval', '1s', '--gc-grace', '5s']);
    const result = await runGcWorkload({ url: proc.url, clients: 50, durationMs: SECONDS * 1000 });
    alive = result.alive;
    process.stderr.write(`gc workload (local): ${JSON.stringify({ ...result, alive: result.alive.length })}\n`);
    expect(result.pushes).toBeGreaterThan(100);
    expect(result.deletes).toBeGreaterThan(10);
    expect(await verifyLedger(proc.url, alive)).toEqual([]);
    // The collector was at work during the pushes, not only after them.
    const collections = proc
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"garbage collected"'))
      .map((line) => JSON.parse(line) as { deleted: number; unlinked: number });
    expect(collections.reduce((n, c) => n + c.deleted, 0)).toBeGreaterThan(10);

    // Once the grace period has passed, the collector leaves exactly what the kept images use.
    const expected = used(alive);
    const deadline = Date.now() + 30_000;
    let onDisk = contentOnDisk(dataDir());
    while (Date.now() < deadline && onDisk.size !== expected.size) {
      await sleep(500);
      onDisk = contentOnDisk(dataDir());
    }
    expect([...expected].filter((d) => !onDisk.has(d))).toEqual([]);
    expect([...onDisk].filter((d) => !expected.has(d))).toEqual([]);
    // And the collection changed nothing the clients see.
    expect(await verifyLedger(proc.url, alive)).toEqual([]);
    await proc.stop();
    proc = undefined;
  }, (SECONDS + 120) * 1000);

  test('GIVEN much garbage WHEN berth gc is killed half-way and run again THEN it finishes: nothing used is lost, nothing unused is left', async () => {
    await proc?.stop();
    // Garbage: 1,500 blobs uploaded and never used by a manifest.
    proc = await startRegistryProcess(dataDir(), 0, ['--gc-interval', '0']);
    const garbage = Array.from({ length: 1500 }, (_, i) => blobOf(pseudoRandomBytes(64, `garbage-${i}`)));
    for (let i = 0; i < garbage.length; i += 25) {
      await Promise.all(
        garbage.slice(i, i + 25).map(async (blob) => {
          const res = await fetch(`${proc!.url}/v2/gc/garbage/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes });
          expect(res.status).toBe(201);
        }),
      );
    }
    await proc.stop();
    proc = undefined;
    const before = contentOnDisk(dataDir()).size;

    const gc = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'gc', '--data-dir', dataDir(), '--min-age', '0'], { cwd: PROJECT_ROOT, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => gc.once('exit', (code) => resolve(code)));
    // Killed once it has deleted some content and before it has deleted all of it.
    for (let waited = 0; waited < 60_000; waited += 5) {
      const left = contentOnDisk(dataDir()).size;
      if (left < before - 20) break;
      await sleep(5);
    }
    gc.kill('SIGKILL');
    await exited;
    const afterKill = contentOnDisk(dataDir()).size;
    expect(afterKill).toBeLessThan(before);
    expect(afterKill).toBeGreaterThan(used(alive).size);

    const again = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'gc', '--data-dir', dataDir(), '--min-age', '0'], { cwd: PROJECT_ROOT, stdio: 'ignore' });
    expect(await new Promise((resolve) => again.once('exit', resolve))).toBe(0);
    expect(contentOnDisk(dataDir())).toEqual(used(alive));

    proc = await startRegistryProcess(dataDir(), 0, ['--gc-interval', '0']);
    expect(await verifyLedger(proc.url, alive)).toEqual([]);
  }, 180_000);
});
