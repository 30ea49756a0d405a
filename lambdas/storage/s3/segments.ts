/**
 * Writing an upload's bytes as segments (docs/storage.md, "S3 blob store"): under the part size one
 * PutObject, above it a multipart upload of its own streamed with at most two parts in memory, cut
 * at SEGMENT_MAX.
 */
import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import type { ByteStream } from '../../core/model';
import type { BucketContext } from './bucket';
import { pad, uploadKey } from './keys';

/** Multipart part size while streaming, and the size under which a trailing segment is carried forward. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Largest segment: the largest part (and UploadPartCopy source range) S3 accepts. */
export const SEGMENT_MAX = 5 * 1024 * 1024 * 1024;

export interface Segment {
  /** `<start:016d>.<write id>`, under uploads/<id>/seg/. */
  name: string;
  start: number;
  length: number;
}

interface OpenMultipart {
  key: string;
  uploadId: string;
  parts: CompletedPart[];
  inflight?: Promise<void>;
}

/** The key of a segment of an upload. */
export function segmentKey(ctx: BucketContext, uploadId: string, segment: Pick<Segment, 'name'>): string {
  return uploadKey(ctx.prefix, uploadId, `seg/${segment.name}`);
}

/** Streams `first` then `data` into segments starting at `start`; answers the segments written. */
export async function writeSegments(ctx: BucketContext, uploadId: string, start: number, first: Buffer | undefined, data: ByteStream): Promise<Segment[]> {
  const { client, bucket, partSize } = ctx;
  const segments: Segment[] = [];
  const writeId = randomUUID().replace(/-/g, '').slice(0, 16);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let segStart = start;
  let segBytes = 0; // bytes of the current segment already handed to parts
  let mpu: OpenMultipart | undefined;
  const nameOf = (s: number) => `${pad(s)}.${writeId}`;

  const take = (n: number): Buffer => {
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = pending[0];
      if (head.length <= need) {
        out.push(head);
        pending.shift();
        need -= head.length;
      } else {
        out.push(head.subarray(0, need));
        pending[0] = head.subarray(need);
        need = 0;
      }
    }
    pendingBytes -= n;
    return out.length === 1 ? out[0] : Buffer.concat(out, n);
  };

  const sendPart = async (body: Buffer) => {
    if (!mpu) {
      const key = uploadKey(ctx.prefix, uploadId, `seg/${nameOf(segStart)}`);
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const id = created.UploadId!;
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: uploadKey(ctx.prefix, uploadId, `mpu/${nameOf(segStart)}/${Buffer.from(id).toString('base64url')}`),
          Body: new Uint8Array(0),
          ContentLength: 0,
        }),
      );
      mpu = { key, uploadId: id, parts: [] };
    }
    const current = mpu;
    // At most one part in flight while the next one fills: memory stays near 2 parts.
    await current.inflight;
    const partNumber = current.parts.length + 1;
    current.parts.push({ PartNumber: partNumber });
    segBytes += body.length;
    current.inflight = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: current.key, UploadId: current.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
      .then((res) => {
        current.parts[partNumber - 1].ETag = res.ETag;
      });
    // Awaited before the next part or at the close; until then a failure must not count as unhandled.
    current.inflight.catch(() => undefined);
  };

  const closeSegment = async () => {
    const length = segBytes + pendingBytes;
    if (length === 0) return;
    if (mpu) {
      if (pendingBytes > 0) await sendPart(take(pendingBytes));
      const current = mpu;
      await current.inflight;
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: current.key,
          UploadId: current.uploadId,
          MultipartUpload: { Parts: current.parts },
        }),
      );
    } else {
      const body = take(pendingBytes);
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: uploadKey(ctx.prefix, uploadId, `seg/${nameOf(segStart)}`), Body: body, ContentLength: body.length }),
      );
    }
    segments.push({ name: nameOf(segStart), start: segStart, length });
    segStart += length;
    segBytes = 0;
    mpu = undefined;
  };

  const push = async (chunk: Uint8Array) => {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      const room = SEGMENT_MAX - segBytes - pendingBytes;
      const piece = rest.length <= room ? rest : rest.subarray(0, room);
      rest = rest.subarray(piece.length);
      pending.push(piece);
      pendingBytes += piece.length;
      // Send a part once more than one part is buffered (so the last part of a segment is never empty).
      while (pendingBytes > partSize) await sendPart(take(partSize));
      if (segBytes + pendingBytes === SEGMENT_MAX) await closeSegment();
    }
  };

  try {
    if (first && first.length > 0) await push(first);
    for await (const chunk of data) if (chunk.length > 0) await push(chunk);
    await closeSegment();
  } catch (err) {
    const abandoned = mpu as OpenMultipart | undefined;
    if (abandoned) {
      await abandoned.inflight?.catch(() => undefined);
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: abandoned.key, UploadId: abandoned.uploadId })).catch(() => undefined);
    }
    throw err;
  }
  pending = [];
  return segments;
}
