/**
 * A small HTTP/1.1 load generator: N keep-alive connections on raw sockets, each sending
 * the same request again as soon as the previous response is complete (no pipelining).
 *
 * Why not node:http's client or autocannon: on a 2-core machine the generator competes
 * with the server it measures, so it should spend as little CPU per request as possible.
 * This one writes a pre-built request buffer and parses only the status line, the header
 * end and Content-Length; it runs on the bench's main thread (one core at most), and it
 * loads Berth and the reference registry identically.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  method: 'GET' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
  connections: number;
  durationMs: number;
  /** Requests to run, unmeasured, before the clock starts. @default 1 s worth */
  warmupMs?: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  perSecond: number;
  /** Responses whose status was not the expected 200. */
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const lines = [`${options.method} ${options.path} HTTP/1.1`, `Host: ${options.host}:${options.port}`, 'Connection: keep-alive'];
  for (const [k, v] of Object.entries(options.headers ?? {})) lines.push(`${k}: ${v}`);
  const request = Buffer.from(lines.join('\r\n') + '\r\n\r\n');
  const isHead = options.method === 'HEAD';

  let measuring = false;
  let stopping = false;
  let requests = 0;
  let non2xx = 0;
  let errors = 0;
  const latencies: number[] = [];

  const connection = () =>
    new Promise<void>((resolve) => {
      let buffered: Buffer = Buffer.alloc(0);
      let bodyRemaining = -1; // -1: reading headers
      let sentAt = 0;
      let status = 0;
      const sendNext = () => {
        if (stopping) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      const finishResponse = () => {
        if (measuring) {
          requests++;
          if (status !== 200) non2xx++;
          if ((requests & 7) === 0) latencies.push(performance.now() - sentAt);
        }
        bodyRemaining = -1;
        sendNext();
      };
      const onData = (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        while (buffered.length > 0) {
          if (bodyRemaining === -1) {
            const end = buffered.indexOf(HEADER_END);
            if (end === -1) return;
            const head = buffered.toString('latin1', 0, end);
            status = Number(head.slice(9, 12));
            const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) throw new Error(`chunked responses are not supported by this generator: ${head}`);
            bodyRemaining = isHead || !match ? 0 : Number(match[1]);
            buffered = buffered.subarray(end + 4);
          }
          const take = Math.min(bodyRemaining, buffered.length);
          bodyRemaining -= take;
          buffered = buffered.subarray(take);
          if (bodyRemaining > 0) return;
          finishResponse();
        }
      };
      const socket: Socket = connect({ host: options.host, port: options.port, noDelay: true }, sendNext);
      socket.on('data', onData);
      socket.on('error', () => {
        errors++;
      });
      socket.on('close', () => {
        if (stopping) return resolve();
        // The server closed a keep-alive connection: reconnect and carry on.
        errors++;
        void connection().then(resolve);
      });
    });

  const all = Array.from({ length: options.connections }, connection);
  await new Promise((r) => setTimeout(r, options.warmupMs ?? 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  stopping = true;
  await Promise.all(all);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]);
  return { requests, seconds, perSecond: requests / seconds, non2xx, errors, latencyP50Ms: pct(0.5), latencyP99Ms: pct(0.99) };
}
