/**
 * `berth serve` as a user runs it: options, the start-up line, the loopback rule and HTTPS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { PROJECT_ROOT, scratchDir, startRegistryProcess } from '../support/registry-harness';
import { describeWithBinaries, run } from '../support/clients';
import { imageBlobs, makeImage, writeLayout, sha256 } from '../support/oci-fixtures';

const berth = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 });

describe('berth serve options', () => {
  test('GIVEN --help WHEN run THEN every option is listed and nothing starts', () => {
    const result = berth(['serve', '--help']);
    expect(result.status).toBe(0);
    for (const option of ['--host', '--port', '--data-dir', '--tls-cert', '--tls-key', '--body-idle-timeout', '--help']) expect(result.stdout).toContain(option);
    expect(result.stdout).toMatch(/default 127\.0\.0\.1/);
    expect(result.stdout).toMatch(/default 5000/);
    expect(result.stdout).toMatch(/default \.\/data/);
  });

  test('GIVEN a non-loopback --host and no identities WHEN started THEN it refuses with the reason and how to configure identities', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', '/nonexistent-never-created'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, BERTH_ACCESS_KEY_ID: '', BERTH_SECRET_ACCESS_KEY: '' },
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
    expect(result.stderr).toMatch(/no authentication/);
    expect(result.stderr).toContain('--config FILE');
    expect(result.stderr).toContain('BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY');
  });

  test('GIVEN a non-loopback --host and the environment admin WHEN started THEN it listens', async () => {
    const work = scratchDir('cli-host');
    const proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--host', '0.0.0.0'], {
      BERTH_ACCESS_KEY_ID: 'AKIACLIHOSTEXAMPLE01',
      BERTH_SECRET_ACCESS_KEY: 'cli-host-secret-access-key-example',
    });
    try {
      expect(proc.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    } finally {
      await proc.stop();
      work.remove();
    }
  });

  test('GIVEN a malformed --config WHEN started THEN it refuses, naming the file and the mistake', () => {
    const work = scratchDir('cli-config');
    const config = join(work.path, 'identities.json');
    writeFileSync(config, JSON.stringify({ identities: [{ accessKeyId: 'AKIAEXAMPLEEXAMPLE01', secretAccessKey: 'short', arn: 'arn:aws:iam::111122223333:user/x' }] }));
    const result = berth(['serve', '--port', '0', '--data-dir', join(work.path, 'data'), '--config', config]);
    work.remove();
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`${config}: identities[0].secretAccessKey must be a string of at least 16 characters`);
  });

  test('GIVEN an unknown option WHEN started THEN it fails with usage, not a stack trace', () => {
    const result = berth(['serve', '--bogus']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--bogus'/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  test('GIVEN a data dir WHEN started THEN the start-up line names the address and the data directory', async () => {
    const work = scratchDir('cli');
    const proc = await startRegistryProcess(join(work.path, 'data'));
    try {
      expect(proc.banner).toBe(`Berth registry listening on ${proc.url} (data in ${join(work.path, 'data')})`);
      const res = await fetch(`${proc.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    } finally {
      await proc.stop();
      work.remove();
    }
  });

  test('GIVEN a running server WHEN a second one is started on the same data directory THEN it refuses and names the owner', async () => {
    const work = scratchDir('cli-lock');
    const dataDir = join(work.path, 'data');
    const first = await startRegistryProcess(dataDir);
    try {
      const second = berth(['serve', '--port', '0', '--data-dir', dataDir]);
      expect(second.status).toBe(2);
      expect(second.stderr).toContain(`in use by another Berth process (pid ${first.child.pid})`);
      expect((await fetch(`${first.url}/v2/`)).status).toBe(200);
    } finally {
      await first.stop();
    }
    const again = await startRegistryProcess(dataDir);
    await again.stop();
    work.remove();
  });

  test('GIVEN a request target that is not a URL path WHEN sent THEN 400 with an OCI error, and the server keeps serving', async () => {
    const work = scratchDir('cli-target');
    const proc = await startRegistryProcess(join(work.path, 'data'));
    try {
      const { connect } = await import('node:net');
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(proc.url).port), '127.0.0.1', () => socket.end('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let data = '';
        socket.on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400 /);
      expect(reply).toContain('"code":"NAME_INVALID"');
      expect((await fetch(`${proc.url}/v2/`)).status).toBe(200);
    } finally {
      await proc.stop();
      work.remove();
    }
  });

  test('GIVEN the default data directory THEN git ignores it', () => {
    const out = execFileSync('git', ['check-ignore', 'data/x'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(out.trim()).toBe('data/x');
  });
});

describeWithBinaries(['openssl', 'skopeo'], 'berth serve over HTTPS', () => {
  test('GIVEN --tls-cert and --tls-key WHEN a client trusts the CA THEN it pushes with TLS verification on', async () => {
    const work = scratchDir('tls');
    const cert = join(work.path, 'registry.crt');
    const key = join(work.path, 'registry.key');
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    const proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--tls-cert', cert, '--tls-key', key]);
    try {
      expect(proc.url).toMatch(/^https:\/\//);
      const status = await new Promise<number>((resolve, reject) => {
        request(`${proc.url}/v2/`, { ca: readFileSync(cert) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(200);

      const certDir = join(work.path, 'certs');
      require('node:fs').mkdirSync(certDir);
      writeFileSync(join(certDir, 'ca.crt'), readFileSync(cert));
      const image = makeImage({ layers: [4096] });
      writeLayout(join(work.path, 'src'), [{ tag: 'v1', manifest: image.manifest, blobs: imageBlobs(image) }]);
      run('skopeo', ['copy', '--dest-cert-dir', certDir, `oci:${join(work.path, 'src')}:v1`, `docker://${proc.host}/tls/app:v1`]);
      const raw = run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, `docker://${proc.host}/tls/app:v1`]);
      expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    } finally {
      await proc.stop();
      work.remove();
    }
  });
});

describe('berth serve --challenge', () => {
  const admin = { BERTH_ACCESS_KEY_ID: 'AKIACHALLENGE0000001', BERTH_SECRET_ACCESS_KEY: 'challenge-secret-0123456789' };

  test.each([
    ['bearer', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/v2\/token",service="127\.0\.0\.1:\d+"/],
    ['basic', /^Basic realm=/],
  ])('GIVEN identities and --challenge %s WHEN an anonymous client asks THEN 401 carries that challenge', async (scheme, expected) => {
    const work = scratchDir('cli-challenge');
    const proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--challenge', scheme], admin);
    try {
      const res = await fetch(`${proc.url}/v2/`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(expected);
    } finally {
      await proc.stop();
      work.remove();
    }
  });

  test('GIVEN an unknown challenge WHEN started THEN it refuses with usage', () => {
    const result = berth(['serve', '--challenge', 'digest', '--port', '0']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--challenge must be bearer or basic');
  });
});

describe('berth serve event options and berth events replay', () => {
  test('GIVEN event options that cannot work WHEN started THEN it refuses with the reason, before listening', () => {
    const work = scratchDir('cli-events');
    try {
      const serve = (...args: string[]) => berth(['serve', '--port', '0', '--data-dir', join(work.path, 'data'), ...args]);
      const notUrl = serve('--webhook', 'ftp://example.com/hook');
      expect(notUrl.status).toBe(2);
      expect(notUrl.stderr).toMatch(/--webhook must be an http:\/\/ or https:\/\/ URL/);
      const secretAlone = serve('--webhook-secret', 's3cret');
      expect(secretAlone.status).toBe(2);
      expect(secretAlone.stderr).toMatch(/--webhook-secret signs webhook bodies: give a --webhook too/);
      const emulatedFile = serve('--emulate-aws', '--events-file', join(work.path, 'e.jsonl'));
      expect(emulatedFile.status).toBe(2);
      expect(emulatedFile.stderr).toMatch(/events go to the EventBridge stand-in/);
      expect(berth(['serve', '--help']).stdout).toContain('--events-file');
    } finally {
      work.remove();
    }
  });

  test('GIVEN dead letters of a webhook WHEN berth events replay runs THEN the receiver gets each event signed, and the file is emptied', async () => {
    const { createServer } = await import('node:http');
    const { verifyWebhookSignature, SIGNATURE_HEADER } = await import('../../lambdas/events/webhook-sink');
    const { deadLetterFileFor } = await import('../../lambdas/composition/local/local-events');
    const { imageActionEvent } = await import('../../lambdas/contracts/events');
    const work = scratchDir('cli-replay');
    const bodies: Array<{ body: string; signature: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        bodies.push({ body, signature: String(req.headers[SIGNATURE_HEADER.toLowerCase()]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const dataDir = join(work.path, 'data');
      const file = deadLetterFileFor(dataDir, url);
      require('node:fs').mkdirSync(join(dataDir, 'events'), { recursive: true });
      const event = imageActionEvent(
        { action: 'PUSH', repository: 'team/app', digest: `sha256:${'a'.repeat(64)}`, tag: 'v1', eventId: '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c', time: '2026-12-03T10:00:00.000Z' },
        { account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' },
        'envelope-1',
      );
      writeFileSync(file, JSON.stringify({ failedAt: '2026-12-03T10:01:00.000Z', url, attempts: 6, lastError: 'HTTP 503', event }) + '\n');
      // spawnSync would block this process's receiver: run the command asynchronously.
      const { execFile } = await import('node:child_process');
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bin', 'berth.ts'), 'events', 'replay', '--webhook', url, '--data-dir', dataDir, '--webhook-secret', 'replay-secret'], { cwd: PROJECT_ROOT }, (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
        ),
      );
      expect(stdout).toContain('replayed 1 event');
      expect(bodies).toHaveLength(1);
      expect(JSON.parse(bodies[0].body).detail['berth-event-id']).toBe('0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c');
      expect(verifyWebhookSignature(bodies[0].body, bodies[0].signature, 'replay-secret')).toBe(true);
      expect(require('node:fs').existsSync(file) ? readFileSync(file, 'utf8') : '').toBe('');
    } finally {
      server.close();
      work.remove();
    }
  });
});
