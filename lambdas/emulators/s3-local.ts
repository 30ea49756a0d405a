/**
 * The S3 stand-in of the emulated AWS mode (`berth serve --emulate-aws`) and of the tests: fauxqs 1.9
 * (S3 in memory, Fastify; a devDependency), started in this process on a free port. Presigned URLs
 * work (fauxqs checks neither their signature nor their expiry). One implementation for the CLI and
 * the tests: test/support should start it through here.
 *
 * Why fauxqs rather than s3rver 3.7: the S3 blob store needs multipart uploads, AbortMultipartUpload,
 * ListObjectsV2 with StartAfter and continuation tokens, DeleteObjects, CopyObject, Range GETs and
 * aws-chunked request bodies. fauxqs has all of those with the SDK's default settings; s3rver has no
 * AbortMultipartUpload, needs `requestChecksumCalculation: 'WHEN_REQUIRED'` on every client and
 * NODE_OPTIONS=--openssl-legacy-provider for listing continuation tokens. Neither has UploadPartCopy.
 *
 * fauxqs is an ESM-only package and jest runs these tests as CommonJS in a VM without ESM support, so
 * the server runs in a worker thread of this process (plain Node there, so `import()` works).
 *
 * One addition of ours, stated plainly: fauxqs would take an UploadPartCopy request (PUT ?partNumber&uploadId
 * with x-amz-copy-source) as an UploadPart with an empty body. An onRequest hook here answers it instead,
 * from fauxqs' own object store, honouring x-amz-copy-source-range, with a CopyPartResult as S3 documents it.
 * Tests that go through that path check the blob store's assembly arithmetic, not S3's UploadPartCopy.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { buildApp } = await import(workerData.appUrl);
  const { S3Store } = await import(workerData.storeUrl);
  const s3Store = new S3Store();
  const app = buildApp({ logger: false, stores: { s3Store } });
  app.addHook('onRequest', async (request, reply) => {
    const source = request.headers['x-amz-copy-source'];
    const query = request.query || {};
    if (request.method !== 'PUT' || !source || !query.uploadId || !query.partNumber) return;
    const fail = (status, code, message) => {
      reply.header('content-type', 'application/xml').status(status)
        .send('<?xml version="1.0" encoding="UTF-8"?><Error><Code>' + code + '</Code><Message>' + message + '</Message></Error>');
      return reply;
    };
    const raw = decodeURIComponent(String(source).split('?')[0]).replace(/^\\//, '');
    const slash = raw.indexOf('/');
    let object;
    try {
      object = s3Store.getObject(raw.slice(0, slash), raw.slice(slash + 1));
    } catch (err) {
      return fail(err.statusCode || 500, err.code || 'InternalError', err.message);
    }
    let body = object.body;
    const range = request.headers['x-amz-copy-source-range'];
    if (range) {
      const m = /^bytes=(\\d+)-(\\d+)$/.exec(String(range));
      if (!m || Number(m[2]) >= body.length || Number(m[1]) > Number(m[2])) return fail(400, 'InvalidArgument', 'bad x-amz-copy-source-range ' + range);
      body = body.subarray(Number(m[1]), Number(m[2]) + 1);
    }
    if (body.length > 5 * 1024 * 1024 * 1024) return fail(400, 'InvalidRequest', 'copy source larger than 5 GiB');
    let etag;
    try {
      etag = s3Store.uploadPart(String(query.uploadId), Number(query.partNumber), Buffer.from(body));
    } catch (err) {
      return fail(err.statusCode || 500, err.code || 'InternalError', err.message);
    }
    reply.header('content-type', 'application/xml').status(200).send(
      '<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><ETag>' + etag.replace(/"/g, '&quot;') +
      '</ETag><LastModified>' + new Date().toISOString() + '</LastModified></CopyPartResult>');
    return reply;
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  parentPort.postMessage({ address });
  parentPort.on('message', async (message) => {
    if (message === 'stop') {
      await app.close();
      parentPort.close();
    }
  });
})().catch((err) => {
  parentPort.postMessage({ error: String(err && err.stack || err) });
});
`;

export interface LocalS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** A client for the stand-in; `extra` adds settings (middleware is added on the returned client). */
  client(extra?: Partial<S3ClientConfig>): S3Client;
  /** Creates a fresh, empty bucket and answers its name. */
  createBucket(prefix?: string): Promise<string>;
  /** Deletes every object of the bucket, then the bucket. */
  removeBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

function fauxqsDist(): string {
  // The package exports only an `import` condition, so require.resolve cannot find it: look where npm puts it.
  for (let dir = __dirname; ; dir = resolve(dir, '..')) {
    const candidate = join(dir, 'node_modules', 'fauxqs', 'dist');
    if (existsSync(join(candidate, 'app.js'))) return candidate;
    if (resolve(dir, '..') === dir) throw new Error('fauxqs is not installed (node_modules/fauxqs/dist/app.js)');
  }
}

export async function startLocalS3(): Promise<LocalS3> {
  const dist = fauxqsDist();
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      appUrl: pathToFileURL(join(dist, 'app.js')).href,
      storeUrl: pathToFileURL(join(dist, 's3', 's3Store.js')).href,
    },
  });
  const endpoint = await new Promise<string>((resolveAddress, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`S3 stand-in exited with code ${code}`)));
    worker.once('message', (message: { address?: string; error?: string }) => {
      if (message.address) resolveAddress(message.address);
      else reject(new Error(`S3 stand-in failed to start: ${message.error}`));
    });
  });
  worker.removeAllListeners('exit');
  worker.removeAllListeners('error');

  const client = (extra: Partial<S3ClientConfig> = {}) =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      ...extra,
    });
  const admin = client();

  return {
    endpoint,
    client,
    async createBucket(prefix = 'berth-test') {
      const bucket = `${prefix}-${randomUUID().slice(0, 13)}`;
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    async removeBucket(bucket) {
      for (;;) {
        const listed = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
        const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length === 0) break;
        await admin.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      }
      await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
    async stop() {
      admin.destroy();
      const exited = new Promise<void>((done) => worker.once('exit', () => done()));
      worker.postMessage('stop');
      const timeout = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
