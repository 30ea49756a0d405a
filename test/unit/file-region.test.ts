import { createServer, get, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRegion } from '../../lambdas/storage/local/file-region';
import { ClientHungUpError, sendFileRegion } from '../../lambdas/server/send-file-region';

// Larger than the sender's two 2 MiB buffers together, and not a multiple of them.
const CONTENT = randomBytes(5 * 1024 * 1024 + 12345);
// More than loopback's socket buffers hold, so a sender is still writing when its client hangs up.
const LARGE_BYTES = 64 * 1024 * 1024;
let dir: string;
let path: string;
let largePath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'file-region-'));
  path = join(dir, 'blob');
  writeFileSync(path, CONTENT);
  largePath = join(dir, 'large');
  writeFileSync(largePath, Buffer.alloc(LARGE_BYTES, 7));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('FileRegion as a ByteStream', () => {
  test.each([
    ['the whole file', 0, CONTENT.length - 1],
    ['one byte', 7, 7],
    ['a range across chunk boundaries', 1024 * 1024 - 3, 3 * 1024 * 1024 + 5],
    ['an empty region', 0, -1],
  ])('GIVEN %s WHEN it is iterated THEN exactly those bytes come back and the file is closed', async (_what, start, end) => {
    const handle = await open(path, 'r');
    expect((await collect(new FileRegion(handle, start, end))).equals(CONTENT.subarray(start, end + 1))).toBe(true);
    expect(handle.fd).toBe(-1);
  });

  test('GIVEN a consumer that stops after the first chunk THEN the file is closed all the same', async () => {
    const handle = await open(path, 'r');
    for await (const chunk of new FileRegion(handle, 0, CONTENT.length - 1)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(handle.fd).toBe(-1);
  });

  test('GIVEN chunks kept by the consumer THEN later reads do not overwrite them', async () => {
    const handle = await open(path, 'r');
    const chunks: Uint8Array[] = [];
    for await (const chunk of new FileRegion(handle, 0, CONTENT.length - 1)) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(CONTENT)).toBe(true);
  });

  test('GIVEN a file shorter than the region THEN iteration fails instead of returning short content', async () => {
    const handle = await open(path, 'r');
    await expect(collect(new FileRegion(handle, CONTENT.length - 10, CONTENT.length + 10))).rejects.toThrow(/before the region's end/);
    expect(handle.fd).toBe(-1);
  });
});

describe('sendFileRegion over a real HTTP server', () => {
  let server: Server;
  let port: number;
  let lastHandle: FileHandle;
  let lastSend: Promise<unknown>;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const [file, start, end] = (req.url ?? '/small/0/-1').slice(1).split('/');
      lastSend = (async () => {
        lastHandle = await open(file === 'large' ? largePath : path, 'r');
          res.writeHead(200, { 'Content-Length': String(Number(end) - Number(start) + 1) });
        return sendFileRegion(new FileRegion(lastHandle, Number(start), Number(end)), res);
      })().catch((err) => {
        res.destroy();
        return err;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function fetchBytes(start: number, end: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port, agent: false, path: `/small/${start}/${end}` }, (res) => collect(res).then(resolve, reject)).on('error', reject);
    });
  }

  test.each([
    ['the whole file', 0, CONTENT.length - 1],
    ['a range smaller than one buffer', 100, 200],
    ['a range of exactly one buffer', 0, 2 * 1024 * 1024 - 1],
    ['an empty body', 0, -1],
  ])('GIVEN %s WHEN it is requested THEN the client receives exactly those bytes', async (_what, start, end) => {
    expect((await fetchBytes(start, end)).equals(CONTENT.subarray(start, end + 1))).toBe(true);
    expect(await lastSend).toBeUndefined();
    expect(lastHandle.fd).toBe(-1);
  });

  test('GIVEN several responses at once THEN none sees another one\'s bytes (buffers are per response)', async () => {
    const ranges: [number, number][] = [
      [0, CONTENT.length - 1],
      [1, CONTENT.length - 2],
      [3 * 1024 * 1024, CONTENT.length - 1],
      [17, 4 * 1024 * 1024 + 17],
    ];
    const bodies = await Promise.all(ranges.map(([s, e]) => fetchBytes(s, e)));
    bodies.forEach((body, i) => expect(body.equals(CONTENT.subarray(ranges[i][0], ranges[i][1] + 1))).toBe(true));
  });

  test('GIVEN a client that hangs up mid-body THEN the send ends with ClientHungUpError, the file is closed and the server goes on', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET /large/0/${LARGE_BYTES - 1} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();
    expect(await lastSend).toBeInstanceOf(ClientHungUpError);
    expect(lastHandle.fd).toBe(-1);
    expect((await fetchBytes(0, CONTENT.length - 1)).equals(CONTENT)).toBe(true);
  });
});
