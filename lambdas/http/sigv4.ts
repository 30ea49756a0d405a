/**
 * Verification of AWS Signature Version 4 on requests the registry receives: local mode checks the
 * ECR JSON API calls of the AWS CLI and SDKs itself (`POST /`, `X-Amz-Target:
 * AmazonEC2ContainerRegistry_V20150921.<Action>`, signed for service `ecr`).
 *
 * Only the Authorization-header form is supported (what the CLI and the SDKs send for ECR calls);
 * presigned URLs (`X-Amz-Credential` & co. in the query) and the `Date` header instead of `X-Amz-Date`
 * are refused.
 *
 * The canonical request follows AWS's "Create a signed AWS API request" (Signature Version 4) and mirrors
 * what `@smithy/signature-v4` (the signer of `@aws-sdk/client-*`) and botocore (the AWS CLI) compute:
 * - canonical URI: the path as received (already URI-encoded once by the client), dot segments and empty
 *   segments removed, then every segment URI-encoded once more ("each path segment must be URI-encoded
 *   twice", all services but S3); the empty path is `/`.
 * - canonical query: every `name=value` pair decoded then encoded with RFC 3986 unreserved characters
 *   kept (`A-Za-z0-9-_.~`), sorted by encoded name then encoded value, joined with `&`.
 * - canonical headers: the signed ones, lower-cased names, values with sequential spaces/tabs collapsed to
 *   one space and trimmed, sorted by name; `host` must be among them.
 * - payload hash: hex SHA-256 of the body; `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD` (or any streaming
 *   value) is an S3 feature and is not accepted here.
 *
 * Error codes are those of AWS JSON-protocol services (ECR is `awsJson1_1`), which the SDK turns into typed
 * exceptions by `__type`: the Query/XML services' names (`SignatureDoesNotMatch`, `IncompleteSignature`,
 * `InvalidClientTokenId`, `MissingAuthenticationToken`) are not what ECR answers. Sources:
 * - `UnrecognizedClientException` "The security token included in the request is invalid.", HTTP 400:
 *   ECR's own answer to GetAuthorizationToken with an unknown key, quoted with its status in
 *   https://github.com/aws/aws-sdk-php/issues/1114 (`{"__type":"UnrecognizedClientException",...}`).
 * - `InvalidSignatureException` "The request signature we calculated does not match the signature you
 *   provided. ...", HTTP 400; the same code carries the clock-skew messages "Signature expired: <date> is
 *   now earlier than <now - 15 min> (<now> - 15 min.)" and "Signature not yet current: <date> is still
 *   later than <now + 15 min> (<now> + 15 min.)" (https://github.com/aws/aws-sdk-js/issues/254,
 *   statusCode 400; https://github.com/aws/aws-sdk-go/issues/2194; for ECR with 15 min:
 *   https://github.com/upmc-enterprises/registry-creds/issues/24), and the scope errors
 *   "Credential should be scoped to a valid region, not '<r>'. " (https://github.com/fsouza/s3-upload-proxy/issues/241,
 *   a JSON service; Query services answer the same text as `SignatureDoesNotMatch`, see
 *   https://github.com/aws/aws-cli/issues/6676). `@smithy/service-error-classification` lists
 *   `InvalidSignatureException` among its clock-skew codes, so the SDK corrects its clock on it.
 * - `IncompleteSignatureException`, HTTP 400, for an Authorization header that cannot be parsed:
 *   "Authorization header requires 'Credential' parameter. ..." and "'<x>' not a valid key=value pair
 *   (missing equal-sign) in Authorization header" (https://github.com/iann0036/cloud9-sync/issues/10,
 *   https://github.com/aws/aws-sdk-go/issues/289).
 * - `MissingAuthenticationTokenException` "Missing Authentication Token", HTTP 403 (AWS Common Errors,
 *   e.g. https://docs.aws.amazon.com/cloudsearch/latest/developerguide/CommonErrors.html:
 *   MissingAuthenticationToken, 403).
 * - `ExpiredTokenException` "The security token included in the request is expired", HTTP 403 (AWS
 *   Common Error Types, e.g. https://docs.amazonaws.cn/en_us/IAM/latest/APIReference/CommonErrors.md).
 * Messages for the rarer cases (unsupported algorithm, unsigned host, scope terminator/date/service, bad
 * X-Amz-Date, UNSIGNED-PAYLOAD, a replay) follow AWS's style but were not checked against a live answer.
 *
 * Replayed signatures. AWS does not remember signatures: SigV4's defence against replay is the 15-minute
 * window on X-Amz-Date (and the body hash binding the signature to one request), so an identical request
 * replayed inside the window is accepted again. By default this verifier does the same. We do not reject
 * replays on the ECR endpoint because a legitimate retry can be byte-identical: botocore (the AWS CLI)
 * re-signs each attempt, but X-Amz-Date has a one-second resolution, its first retry waits under a second,
 * and it adds `amz-sdk-request: attempt=N` *after* signing (its debug log shows `add_retry_headers` running
 * after `botocore.auth Signature:`), so a retry after a 5xx or a throttle in the same second carries the
 * same signature. (`@aws-sdk/client-*` signs `amz-sdk-request`, so its retries always differ.)
 * A caller that wants replays refused (an endpoint where a repeat does harm and whose clients re-sign)
 * passes a `ReplayCache`: verified signatures are remembered until their window closes, and a second
 * arrival is refused with `InvalidSignatureException` (a code the SDK treats as "re-sign and retry").
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** AWS's allowed clock skew between the request's X-Amz-Date and the server's clock. */
export const SIGV4_MAX_SKEW_MS = 15 * 60 * 1000;

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

export interface SigV4Request {
  method: string;
  /** The path as received, still percent-encoded, without the query. */
  path: string;
  /** The raw query string (with or without a leading `?`), or parsed parameters. The raw string is preferred. */
  query: string | URLSearchParams;
  /** Header names in lower case; repeated headers joined with `,` (node:http does so). */
  headers: Record<string, string | undefined>;
  body: Uint8Array;
}

export interface SigV4Secret<P> {
  secretAccessKey: string;
  principal: P;
  /** For temporary credentials: when they stop being valid. */
  expiresAt?: Date;
}

export interface SigV4Options<P> {
  /**
   * The secret of an access key, or null when the key is unknown. With temporary credentials the request's
   * X-Amz-Security-Token is passed too: the lookup must return null unless the key and token belong together.
   */
  lookupSecret(accessKeyId: string, sessionToken?: string): Promise<SigV4Secret<P> | null>;
  /** The signing name; `ecr` for the ECR API. */
  service: string;
  /** The regions the credential scope may name. */
  regions: readonly string[];
  now?: Date;
  /** When given, a signature seen before inside its window is refused (see the header comment). */
  replayCache?: ReplayCache;
  /**
   * The allowed clock skew. @default SIGV4_MAX_SKEW_MS (15 minutes, what ECR and most services allow);
   * API Gateway's IAM authorization allows 5 minutes (api-gateway-simulator.ts).
   */
  maxSkewMs?: number;
}

export type SigV4ErrorCode =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException'
  | 'ExpiredTokenException';

export type SigV4Result<P> =
  | { ok: true; accessKeyId: string; principal: P; region: string; sessionToken?: string; signedAt: Date }
  | { ok: false; status: 400 | 403; code: SigV4ErrorCode; message: string };

export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
export const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid.';

type Failure = Extract<SigV4Result<never>, { ok: false }>;

const fail = (code: SigV4ErrorCode, message: string): Failure => ({
  ok: false,
  status: code === 'MissingAuthenticationTokenException' || code === 'ExpiredTokenException' ? 403 : 400,
  code,
  message,
});

/** Remembers verified signatures until their 15-minute window closes; bounded, oldest entries evicted first. */
export class ReplayCache {
  private readonly entries = new Map<string, number>();

  constructor(readonly maxEntries = 100_000) {
    if (!(maxEntries > 0)) throw new Error('ReplayCache needs room for at least one entry');
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Records `signature` as used until `expiresAtMs`; answers false when it was already recorded and has not
   * expired at `nowMs`.
   */
  checkAndRemember(signature: string, expiresAtMs: number, nowMs: number): boolean {
    const known = this.entries.get(signature);
    if (known !== undefined && known > nowMs) return false;
    this.entries.delete(signature);
    if (this.entries.size >= this.maxEntries) this.evict(nowMs);
    this.entries.set(signature, expiresAtMs);
    return true;
  }

  private evict(nowMs: number): void {
    for (const [signature, expiresAt] of this.entries) {
      if (expiresAt <= nowMs) this.entries.delete(signature);
    }
    // Still full of live entries: drop the oldest insertions. Protection then degrades to AWS's (window only)
    // for those, rather than the cache growing without bound.
    for (const signature of this.entries.keys()) {
      if (this.entries.size < this.maxEntries) break;
      this.entries.delete(signature);
    }
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~` percent-encoded, hex in upper case. */
export function sigv4Encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonical URI of a non-S3 service, from the path as received (still encoded once). */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return `/${segments.map(sigv4Encode).join('/')}${trailing}`;
}

/** The canonical query string; null when the raw query holds a malformed percent-escape. */
export function canonicalQuery(query: string | URLSearchParams): string | null {
  const pairs: Array<[string, string]> = [];
  if (typeof query === 'string') {
    const raw = query.startsWith('?') ? query.slice(1) : query;
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1);
      try {
        pairs.push([sigv4Encode(decodeURIComponent(name)), sigv4Encode(decodeURIComponent(value))]);
      } catch {
        return null;
      }
    }
  } else {
    for (const [name, value] of query) pairs.push([sigv4Encode(name), sigv4Encode(value)]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** A header value as it enters the canonical request: line breaks to spaces, runs of blanks to one, trimmed. */
export function canonicalHeaderValue(value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim();
}

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

export function signingKey(secretAccessKey: string, shortDate: string, region: string, service: string): Buffer {
  let key: Buffer = hmac(`AWS4${secretAccessKey}`, shortDate);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return key;
}

interface ParsedAuthorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`; a Failure says what is wrong. */
function parseAuthorization(authorization: string, hasDate: boolean): ParsedAuthorization | Failure {
  const trimmed = authorization.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) {
    // Other schemes (Basic, Bearer, SigV4a's AWS4-ECDSA-P256-SHA256, ...): IncompleteSignatureException, as
    // AWS answers an Authorization header it cannot parse (the exact wording here is ours).
    return fail('IncompleteSignatureException', `Unsupported AWS 'algorithm': '${algorithm}'. Expected '${SIGV4_ALGORITHM}'.`);
  }
  const params = new Map<string, string>();
  const rest = space < 0 ? '' : trimmed.slice(space + 1);
  for (const rawPart of rest.split(',')) {
    const part = rawPart.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      return fail('IncompleteSignatureException', `'${part}' not a valid key=value pair (missing equal-sign) in Authorization header.`);
    }
    params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing: string[] = [];
  for (const name of ['Credential', 'Signature', 'SignedHeaders']) {
    if (!params.get(name)) missing.push(`Authorization header requires '${name}' parameter.`);
  }
  if (!hasDate) missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (missing.length > 0) return fail('IncompleteSignatureException', missing.join(' '));

  const credential = params.get('Credential')!;
  const scope = credential.split('/');
  if (scope.length !== 5 || scope.some((element) => element === '')) {
    return fail(
      'IncompleteSignatureException',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'.`,
    );
  }
  const [accessKeyId, shortDate, region, service, terminator] = scope;
  return {
    accessKeyId,
    shortDate,
    region,
    service,
    terminator,
    signedHeaders: params.get('SignedHeaders')!.split(';'),
    signature: params.get('Signature')!,
  };
}

/** `20150830T123600Z` to a Date; null when it is not that exact form or not a real instant. */
function parseAmzDate(value: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return date;
}

const amzDate = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');

/** Constant time for equal lengths; the length of a signature is no secret (always 64 hex digits when valid). */
function sameSignature(expectedHex: string, givenHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'utf8');
  const given = Buffer.from(givenHex, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Headers that, when the request carries them, must be covered by the signature. */
// AWS requires host and the date header to be signed; X-Amz-Target chooses the action, so an unsigned one
// would let a captured request be replayed as another action. The CLI and the SDKs sign all of these.
const MUST_SIGN_WHEN_PRESENT = ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-target'];

export async function verifySigV4<P>(request: SigV4Request, options: SigV4Options<P>): Promise<SigV4Result<P>> {
  const now = options.now ?? new Date();
  const headers = request.headers;
  const authorization = headers['authorization'];
  if (authorization === undefined || authorization.trim() === '') {
    return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }

  const rawDate = headers['x-amz-date'];
  if (rawDate === undefined && headers['date'] !== undefined) {
    return fail('IncompleteSignatureException', "This endpoint requires the 'X-Amz-Date' header; signing with the 'Date' header is not supported.");
  }
  const parsed = parseAuthorization(authorization, rawDate !== undefined);
  if ('ok' in parsed) return parsed;

  const signedAt = parseAmzDate(rawDate!.trim());
  if (!signedAt) {
    return fail('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${rawDate}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  const longDate = amzDate(signedAt);

  // Credential scope, in the order AWS reports it.
  if (parsed.terminator !== 'aws4_request') {
    return fail('InvalidSignatureException', `Credential should be scoped with a valid terminator: 'aws4_request', not '${parsed.terminator}'.`);
  }
  if (parsed.shortDate !== longDate.slice(0, 8)) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.shortDate}' != '${longDate.slice(0, 8)}', from '${longDate}'.`,
    );
  }
  if (!options.regions.includes(parsed.region)) {
    return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${parsed.region}'. `);
  }
  if (parsed.service !== options.service) {
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${options.service}'. `);
  }

  // Clock skew: AWS's wording, with the bound and the server's clock in the same basic ISO-8601 form.
  const maxSkew = options.maxSkewMs ?? SIGV4_MAX_SKEW_MS;
  const minutes = `${Math.round(maxSkew / 60_000)} min.`;
  const skew = now.getTime() - signedAt.getTime();
  if (skew > maxSkew) {
    const bound = amzDate(new Date(now.getTime() - maxSkew));
    return fail('InvalidSignatureException', `Signature expired: ${longDate} is now earlier than ${bound} (${amzDate(now)} - ${minutes})`);
  }
  if (-skew > maxSkew) {
    const bound = amzDate(new Date(now.getTime() + maxSkew));
    return fail('InvalidSignatureException', `Signature not yet current: ${longDate} is still later than ${bound} (${amzDate(now)} + ${minutes})`);
  }

  // Signed headers: lower case, each present, host always, and the x-amz-* / content headers that steer the call.
  const signed = parsed.signedHeaders;
  if (signed.some((name, i) => name === '' || name !== name.toLowerCase() || signed.indexOf(name) !== i)) {
    return fail('IncompleteSignatureException', `SignedHeaders must be a ';'-separated list of lower-case header names, got '${signed.join(';')}'.`);
  }
  if (!signed.includes('host')) {
    return fail('IncompleteSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  for (const name of MUST_SIGN_WHEN_PRESENT) {
    if (headers[name] !== undefined && !signed.includes(name)) {
      return fail('InvalidSignatureException', `'${name}' is present in the request and must be a signed header.`);
    }
  }
  for (const name of signed) {
    if (headers[name] === undefined) {
      return fail('InvalidSignatureException', `Header '${name}' is listed in SignedHeaders but is not in the request.`);
    }
  }

  // Payload: always hashed here; a declared hash must be the body's.
  const declaredHash = headers['x-amz-content-sha256']?.trim();
  if (declaredHash !== undefined && !/^[0-9a-f]{64}$/.test(declaredHash)) {
    return fail(
      'InvalidSignatureException',
      `X-Amz-Content-Sha256 '${declaredHash}' is not accepted by service '${options.service}': the payload must be signed (hex SHA-256 of the body).`,
    );
  }
  const payloadHash = sha256Hex(request.body);

  const query = canonicalQuery(request.query);
  if (query === null) return fail('InvalidSignatureException', SIGNATURE_MISMATCH_MESSAGE);

  const sortedSigned = [...signed].sort();
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(request.path),
    query,
    ...sortedSigned.map((name) => `${name}:${canonicalHeaderValue(headers[name]!)}`),
    '',
    sortedSigned.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${parsed.shortDate}/${parsed.region}/${parsed.service}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');

  const sessionToken = headers['x-amz-security-token'];
  const secret = await options.lookupSecret(parsed.accessKeyId, sessionToken);
  if (!secret) return fail('UnrecognizedClientException', INVALID_TOKEN_MESSAGE);

  const expected = createHmac('sha256', signingKey(secret.secretAccessKey, parsed.shortDate, parsed.region, parsed.service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  // SignedHeaders must also be given in sorted order: the client signed the list as it sent it.
  const listOk = signed.join(';') === sortedSigned.join(';');
  const hashOk = declaredHash === undefined || declaredHash === payloadHash;
  if (!sameSignature(expected, parsed.signature) || !listOk || !hashOk) {
    return fail('InvalidSignatureException', SIGNATURE_MISMATCH_MESSAGE);
  }

  if (secret.expiresAt && secret.expiresAt.getTime() <= now.getTime()) {
    return fail('ExpiredTokenException', 'The security token included in the request is expired');
  }

  if (options.replayCache) {
    const windowEnd = signedAt.getTime() + (options.maxSkewMs ?? SIGV4_MAX_SKEW_MS);
    if (!options.replayCache.checkAndRemember(parsed.signature, windowEnd, now.getTime())) {
      return fail(
        'InvalidSignatureException',
        'This signature has already been used: sign the request again (a retry needs a fresh X-Amz-Date or a changed signed header).',
      );
    }
  }

  return {
    ok: true,
    accessKeyId: parsed.accessKeyId,
    principal: secret.principal,
    region: parsed.region,
    ...(sessionToken !== undefined ? { sessionToken } : {}),
    signedAt,
  };
}
