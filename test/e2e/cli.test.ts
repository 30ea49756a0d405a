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
