/**
 * The replicator's half of a large blob (docs/replication.md, "Blobs: BerthReplicateBlob"): the
 * destination answered UPLOAD with an upload session on its ingest service, so the bytes go from the
 * source's blob URL into that session as one monolithic upload, `PUT <uploadUrl>&digest=<digest>`
 * (the request that ends a docker push), streamed chunk by chunk: the replicator never holds the blob.
 * The ingest service checks digest and size, claims, commits and links, as for any push.
 *
 * A failure says which side it came from (BlobUploadError.side): a source that breaks mid-stream
 * fails the PUT with the same `TypeError: fetch failed` as an unreachable destination, and the
 * status must not blame the destination for it (aws/replication-failures.ts reads the side).
 * Messages name hosts only: both URLs carry credentials in their query.
 */

export interface BlobUploadTimeouts {
  /** For the source's headers. @default 30 s */
  headersMs?: number;
  /** Longest time without a byte moving, either side. @default 60 s */
  idleMs?: number;
  /** For the destination's answer once the last byte is sent (it completes the bucket's upload and links first). @default 120 s */
  answerMs?: number;
}

const DEFAULTS: Required<BlobUploadTimeouts> = { headersMs: 30_000, idleMs: 60_000, answerMs: 120_000 };
const MAX_ERROR_BODY_BYTES = 16_384;

export class BlobUploadError extends Error {
  /** The destination's refusal: its HTTP status and OCI error code. */
  readonly answer?: { status: number; code?: string };

  constructor(
    /** `source`: reading the source's blob URL failed; `destination`: the upload session did. */
    readonly side: 'source' | 'destination',
    message: string,
    options: { cause?: unknown; answer?: { status: number; code?: string } } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'BlobUploadError';
    if (options.answer) this.answer = options.answer;
  }
}

export interface BlobUpload {
  /** The session's Location, as BerthReplicateBlob answered it. */
  uploadUrl: string;
  /** The source's blob URL (presigned, or a download-token URL). */
  sourceUrl: string;
  digest: string;
  size: number;
}

function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'no answer in time';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

function uploadTarget(uploadUrl: string, digest: string): URL {
  let url: URL;
  try {
    url = new URL(uploadUrl);
  } catch {
    throw new BlobUploadError('destination', 'the destination answered UPLOAD with an upload URL that is not absolute');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BlobUploadError('destination', `the destination answered UPLOAD with a ${url.protocol} URL, not http(s)`);
  url.searchParams.set('digest', digest);
  return url;
}

/** The source's body; `abort` also cuts it later (the watchdog's stall). */
async function openSource(url: URL, size: number, abort: AbortController, headersMs: number): Promise<ReadableStream<Uint8Array>> {
  const timer = setTimeout(() => abort.abort(), headersMs);
  let res: Response;
  try {
    res = await fetch(url, { signal: abort.signal, headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    throw new BlobUploadError('source', `the source (${url.host}) failed: ${reasonOf(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new BlobUploadError('source', `the source (${url.host}) answered HTTP ${res.status}`);
  }
  const length = res.headers.get('content-length');
  if (length !== null && Number(length) !== size) {
    await res.body?.cancel().catch(() => undefined);
    throw new BlobUploadError('source', `the source (${url.host}) has ${length} bytes, not ${size}`);
  }
  return res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
}

/** The OCI error an upload answer carries (`{"errors": [{"code", "message"}]}`), read up to a bound. */
async function refusalOf(res: Response): Promise<{ code?: string; message: string }> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= MAX_ERROR_BODY_BYTES) break;
    }
  }
  const text = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES);
  try {
    const first = (JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors?.[0];
    if (first && typeof first.code === 'string') return { code: first.code, message: String(first.message ?? '') };
  } catch {
    // not JSON: the status says it
  }
  return { message: text.slice(0, 200) };
}

/** Streams the blob from `sourceUrl` into the upload session; resolves once the destination has linked it (201). */
export async function uploadBlob(request: BlobUpload, timeouts: BlobUploadTimeouts = {}): Promise<void> {
  const { headersMs, idleMs, answerMs } = { ...DEFAULTS, ...timeouts };
  const { digest, size } = request;
  const target = uploadTarget(request.uploadUrl, digest);
  const sourceUrl = new URL(request.sourceUrl);
  const sourceAbort = new AbortController();
  const putAbort = new AbortController();
  const reader = (await openSource(sourceUrl, size, sourceAbort, headersMs)).getReader();

  let sent = 0;
  let reading = false;
  let finished = false;
  let lastProgress = Date.now();
  let sourceFailure: BlobUploadError | undefined;
  let stalled = false;
  const failSource = (why: string, cause?: unknown) => (sourceFailure ??= new BlobUploadError('source', `the source (${sourceUrl.host}) ${why}`, { cause }));
  // One watchdog for both sides: a pending read is the source's stall, anything else the destination's.
  const watchdog = setInterval(
    () => {
      if (Date.now() - lastProgress < (finished ? answerMs : idleMs)) return;
      if (reading) failSource(`sent nothing for ${idleMs / 1000} s`);
      else stalled = true;
      sourceAbort.abort();
      putAbort.abort();
    },
    Math.min(1000, idleMs),
  );
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reading = true;
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          controller.error(failSource(`broke off: ${reasonOf(err)}`, err));
          return;
        } finally {
          reading = false;
          lastProgress = Date.now();
        }
        if (chunk.done) {
          if (sent !== size) controller.error(failSource(`sent ${sent} bytes, not ${size}`));
          else {
            finished = true;
            controller.close();
          }
          return;
        }
        sent += chunk.value.length;
        if (sent > size) {
          controller.error(failSource(`sent more than ${size} bytes`));
          await reader.cancel().catch(() => undefined);
          return;
        }
        controller.enqueue(chunk.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );

  let res: Response;
  try {
    res = await fetch(target, {
      method: 'PUT',
      body,
      duplex: 'half',
      signal: putAbort.signal,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    } as RequestInit);
  } catch (err) {
    if (sourceFailure) throw sourceFailure;
    await reader.cancel().catch(() => undefined);
    throw new BlobUploadError('destination', `the upload to ${target.host} failed: ${stalled ? `no progress for ${(finished ? answerMs : idleMs) / 1000} s` : reasonOf(err)}`, { cause: err });
  } finally {
    clearInterval(watchdog);
  }
  if (res.status === 201) {
    await res.body?.cancel().catch(() => undefined);
    const stored = res.headers.get('docker-content-digest');
    if (stored !== null && stored !== digest) throw new BlobUploadError('destination', `the upload to ${target.host} stored ${stored}, not ${digest}`);
    return;
  }
  // An early refusal (an expired token) may come before the body is sent: stop reading the source.
  await reader.cancel().catch(() => undefined);
  const refusal = await refusalOf(res).catch(() => ({ code: undefined, message: '' }));
  throw new BlobUploadError('destination', `the upload to ${target.host} was refused: HTTP ${res.status}${refusal.code ? ` ${refusal.code}` : ''}${refusal.message ? `: ${refusal.message}` : ''}`, {
    answer: { status: res.status, ...(refusal.code !== undefined ? { code: refusal.code } : {}) },
  });
}
