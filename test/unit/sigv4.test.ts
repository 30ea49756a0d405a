import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  INVALID_TOKEN_MESSAGE,
  ReplayCache,
  SIGNATURE_MISMATCH_MESSAGE,
  canonicalQuery,
  canonicalUri,
  verifySigV4,
  type SigV4Options,
  type SigV4Request,
  type SigV4Secret,
} from '../../lambdas/http/sigv4';

/**
 * Requests are signed by the real signers: @aws-sdk/client-ecr itself (its request handler replaced by one
 * that captures the signed request) and @smithy/signature-v4 with @aws-crypto/sha256-js, as the SDK uses it.
 * Every refusal changes one thing in an otherwise valid request.
 */

const KEY = { accessKeyId: 'AKIDBERTHEXAMPLE0001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TEMP = { accessKeyId: 'ASIABERTHEXAMPLE0002', secretAccessKey: 'temporary/secret/key', sessionToken: 'FwoGZXIvYXdzEXAMPLE//token==' };
const ADMIN = { arn: 'arn:aws:iam::123456789012:user/admin', account: '123456789012' };
const ROLE = { arn: 'arn:aws:sts::123456789012:assumed-role/ci/session', account: '123456789012' };
type Principal = typeof ADMIN;

const TARGET = 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
const HOST = '127.0.0.1:5000';
const SIGNED_AT = new Date('2026-03-01T12:00:00Z');
const MIN = 60_000;

function options(overrides: Partial<SigV4Options<Principal>> = {}): SigV4Options<Principal> & { calls: Array<[string, string | undefined]> } {
  const calls: Array<[string, string | undefined]> = [];
  return {
    calls,
    service: 'ecr',
    regions: ['us-east-1', 'eu-west-1'],
    now: SIGNED_AT,
    async lookupSecret(accessKeyId, sessionToken): Promise<SigV4Secret<Principal> | null> {
      calls.push([accessKeyId, sessionToken]);
      if (accessKeyId === KEY.accessKeyId && sessionToken === undefined) return { secretAccessKey: KEY.secretAccessKey, principal: ADMIN };
      if (accessKeyId === TEMP.accessKeyId && sessionToken === TEMP.sessionToken) {
        return { secretAccessKey: TEMP.secretAccessKey, principal: ROLE, expiresAt: new Date(Math.max(SIGNED_AT.getTime(), Date.now()) + 60 * MIN) };
      }
      return null;
    },
    ...overrides,
  };
}

interface Wire {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The request as a server receives it: lower-case header names, the body as bytes. */
function received(wire: Wire, rawQuery = ''): SigV4Request {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(wire.headers)) headers[name.toLowerCase()] = value;
  const body = wire.body === undefined || wire.body === null ? new Uint8Array() : new Uint8Array(Buffer.from(wire.body as string | Uint8Array));
  return { method: wire.method, path: wire.path, query: rawQuery, headers, body };
}

/** Signs with @smithy/signature-v4 exactly as the SDK does for a JSON-1.1 call (unless told otherwise). */
async function signRaw(
  opts: {
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    region?: string;
    service?: string;
    date?: Date;
    path?: string;
    query?: Record<string, string | string[]>;
    headers?: Record<string, string>;
    body?: string;
    applyChecksum?: boolean;
  } = {},
): Promise<Wire> {
  const signer = new SignatureV4({
    service: opts.service ?? 'ecr',
    region: opts.region ?? 'us-east-1',
    credentials: opts.credentials ?? KEY,
    sha256: Sha256,
    applyChecksum: opts.applyChecksum,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 5000,
      path: opts.path ?? '/',
      query: opts.query ?? {},
      headers: {
        host: HOST,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': TARGET,
        ...(opts.headers ?? {}),
      },
      body: opts.body ?? '{}',
    },
    { signingDate: opts.date ?? SIGNED_AT },
  );
  return signed as Wire;
}

/** Lets @aws-sdk/client-ecr sign a real call and captures every attempt it sends. */
async function signWithEcrClient(
  command: GetAuthorizationTokenCommand | DescribeRepositoriesCommand,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = KEY,
  failFirstAttempts = 0,
): Promise<Wire[]> {
  const attempts: Wire[] = [];
  const client = new ECRClient({
    region: 'us-east-1',
    endpoint: `http://${HOST}`,
    credentials,
    maxAttempts: failFirstAttempts + 1,
    requestHandler: {
      handle: async (request: Wire) => {
        attempts.push({ ...request, headers: { ...request.headers } });
        const error = Object.assign(new Error(attempts.length <= failFirstAttempts ? 'connection reset' : 'captured'), {
          code: attempts.length <= failFirstAttempts ? 'ECONNRESET' : 'CAPTURED',
        });
        throw error;
      },
    } as never,
  });
  await expect(client.send(command as never)).rejects.toThrow('captured');
  client.destroy();
  return attempts;
}

/** The instant a captured request was signed at, from its X-Amz-Date. */
const signedAtOf = (wire: Wire): Date =>
  new Date(wire.headers['x-amz-date'].replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

const replaceAuth = (wire: Wire, change: (authorization: string) => string): SigV4Request => {
  const request = received(wire);
  request.headers.authorization = change(request.headers.authorization!);
  return request;
};

describe('verifySigV4: requests signed by the real AWS signers are accepted', () => {
  test('GIVEN GetAuthorizationToken signed by @aws-sdk/client-ecr WHEN verified THEN ok with key, principal and region', async () => {
    const [wire] = await signWithEcrClient(new GetAuthorizationTokenCommand({}));
    expect(wire.headers['x-amz-target']).toBe(TARGET);
    expect(wire.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    const result = await verifySigV4(received(wire), options({ now: signedAtOf(wire) }));
    expect(result).toEqual({ ok: true, accessKeyId: KEY.accessKeyId, principal: ADMIN, region: 'us-east-1', signedAt: signedAtOf(wire) });
  });

  test('GIVEN DescribeRepositories with a JSON body signed by the SDK WHEN verified THEN ok', async () => {
    const [wire] = await signWithEcrClient(new DescribeRepositoriesCommand({ repositoryNames: ['team/app', 'naïve'], maxResults: 5 }));
    expect(String(wire.body)).toContain('team/app');
    const result = await verifySigV4(received(wire), options({ now: signedAtOf(wire) }));
    expect(result.ok).toBe(true);
  });

  test('GIVEN a POST / signed by SignatureV4 (service ecr, us-east-1) WHEN verified THEN ok', async () => {
    const result = await verifySigV4(received(await signRaw()), options());
    expect(result).toMatchObject({ ok: true, accessKeyId: KEY.accessKeyId, region: 'us-east-1' });
  });

  test('GIVEN a request signed as the AWS CLI does (no X-Amz-Content-Sha256) WHEN verified THEN ok', async () => {
    const wire = await signRaw({ applyChecksum: false });
    expect(wire.headers['x-amz-content-sha256']).toBeUndefined();
    expect((await verifySigV4(received(wire), options())).ok).toBe(true);
  });

  test('GIVEN temporary credentials with a session token (SDK) WHEN verified THEN the lookup gets the token and the principal comes back', async () => {
    const [wire] = await signWithEcrClient(new GetAuthorizationTokenCommand({}), TEMP);
    expect(wire.headers['x-amz-security-token']).toBe(TEMP.sessionToken);
    const opts = options({ now: signedAtOf(wire) });
    const result = await verifySigV4(received(wire), opts);
    expect(result).toMatchObject({ ok: true, accessKeyId: TEMP.accessKeyId, principal: ROLE, sessionToken: TEMP.sessionToken });
    expect(opts.calls).toEqual([[TEMP.accessKeyId, TEMP.sessionToken]]);
  });

  test('GIVEN an unsigned extra header added on the way (a proxy) WHEN verified THEN still ok', async () => {
    const request = received(await signRaw());
    request.headers['x-forwarded-for'] = '10.0.0.1';
    request.headers['user-agent'] = 'something else';
    expect((await verifySigV4(request, options())).ok).toBe(true);
  });

  test('GIVEN a region in the accepted list other than the first WHEN verified THEN ok with that region', async () => {
    const result = await verifySigV4(received(await signRaw({ region: 'eu-west-1' })), options());
    expect(result).toMatchObject({ ok: true, region: 'eu-west-1' });
  });

  test('GIVEN a date 14 minutes old and one 14 minutes ahead WHEN verified THEN both inside the window', async () => {
    const request = received(await signRaw());
    expect((await verifySigV4(request, options({ now: new Date(SIGNED_AT.getTime() + 14 * MIN) }))).ok).toBe(true);
    expect((await verifySigV4(request, options({ now: new Date(SIGNED_AT.getTime() - 14 * MIN) }))).ok).toBe(true);
  });

  test('GIVEN an encoded path and a query with repeated and reserved parameters WHEN verified from the raw query THEN ok', async () => {
    const wire = await signRaw({ path: '/v2/team%20a/x:y/', query: { b: '2', a: ['x y', '1'], 'c*': "!'()", empty: '' } });
    const raw = 'b=2&a=x%20y&a=1&c%2A=%21%27%28%29&empty=';
    expect((await verifySigV4(received(wire, raw), options())).ok).toBe(true);
    expect((await verifySigV4({ ...received(wire), query: new URLSearchParams(raw) }, options())).ok).toBe(true);
  });

  test('GIVEN header values with runs of spaces and surrounding blanks WHEN verified THEN canonicalized as the signer does', async () => {
    const wire = await signRaw({ headers: { 'x-amz-meta-note': '  several   spaces\there  ' } });
    expect((await verifySigV4(received(wire), options())).ok).toBe(true);
  });
});

describe('verifySigV4: refusals with the codes and messages AWS JSON services answer', () => {
  test('GIVEN a wrong secret WHEN verified THEN InvalidSignatureException 400 with the mismatch message', async () => {
    const wire = await signRaw({ credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-the-secret' } });
    expect(await verifySigV4(received(wire), options())).toEqual({
      ok: false,
      status: 400,
      code: 'InvalidSignatureException',
      message: SIGNATURE_MISMATCH_MESSAGE,
    });
    expect(SIGNATURE_MISMATCH_MESSAGE).toMatch(/^The request signature we calculated does not match the signature you provided\./);
  });

  test('GIVEN an unknown access key WHEN verified THEN UnrecognizedClientException 400', async () => {
    const wire = await signRaw({ credentials: { accessKeyId: 'AKIDUNKNOWN000000000', secretAccessKey: KEY.secretAccessKey } });
    expect(await verifySigV4(received(wire), options())).toEqual({
      ok: false,
      status: 400,
      code: 'UnrecognizedClientException',
      message: INVALID_TOKEN_MESSAGE,
    });
  });

  test('GIVEN a session token the lookup does not recognize WHEN verified THEN UnrecognizedClientException', async () => {
    const wire = await signRaw({ credentials: { ...TEMP, sessionToken: 'forged-token' } });
    expect(await verifySigV4(received(wire), options())).toMatchObject({ ok: false, code: 'UnrecognizedClientException' });
  });

  test('GIVEN temporary credentials past their expiry WHEN verified THEN ExpiredTokenException 403', async () => {
    const wire = await signRaw({ credentials: TEMP });
    const expired = options({
      lookupSecret: async () => ({ secretAccessKey: TEMP.secretAccessKey, principal: ROLE, expiresAt: new Date(SIGNED_AT.getTime() - 1) }),
    });
    expect(await verifySigV4(received(wire), expired)).toEqual({
      ok: false,
      status: 403,
      code: 'ExpiredTokenException',
      message: 'The security token included in the request is expired',
    });
  });

  test('GIVEN a date 16 minutes old WHEN verified THEN InvalidSignatureException "Signature expired" in AWS wording', async () => {
    const result = await verifySigV4(received(await signRaw()), options({ now: new Date(SIGNED_AT.getTime() + 16 * MIN) }));
    expect(result).toEqual({
      ok: false,
      status: 400,
      code: 'InvalidSignatureException',
      message: 'Signature expired: 20260301T120000Z is now earlier than 20260301T120100Z (20260301T121600Z - 15 min.)',
    });
  });

  test('GIVEN a date 16 minutes ahead WHEN verified THEN InvalidSignatureException "Signature not yet current"', async () => {
    const result = await verifySigV4(received(await signRaw()), options({ now: new Date(SIGNED_AT.getTime() - 16 * MIN) }));
    expect(result).toEqual({
      ok: false,
      status: 400,
      code: 'InvalidSignatureException',
      message: 'Signature not yet current: 20260301T120000Z is still later than 20260301T115900Z (20260301T114400Z + 15 min.)',
    });
  });

  test('GIVEN a tampered body WHEN verified THEN InvalidSignatureException', async () => {
    const [wire] = await signWithEcrClient(new DescribeRepositoriesCommand({ repositoryNames: ['team/app'] }));
    const request = received(wire);
    request.body = new TextEncoder().encode(String(wire.body).replace('team/app', 'team/other'));
    expect(await verifySigV4(request, options({ now: signedAtOf(wire) }))).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
      message: SIGNATURE_MISMATCH_MESSAGE,
    });
  });

  test('GIVEN a tampered body with X-Amz-Content-Sha256 rewritten to match WHEN verified THEN still refused', async () => {
    const request = received(await signRaw({ body: '{"maxResults":5}' }));
    request.body = new TextEncoder().encode('{"maxResults":6}');
    request.headers['x-amz-content-sha256'] = createHash('sha256').update(request.body).digest('hex');
    expect(await verifySigV4(request, options())).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });

  test('GIVEN a tampered X-Amz-Target (a signed header) WHEN verified THEN InvalidSignatureException', async () => {
    const request = received(await signRaw());
    request.headers['x-amz-target'] = 'AmazonEC2ContainerRegistry_V20150921.DeleteRepository';
    expect(await verifySigV4(request, options())).toMatchObject({ ok: false, code: 'InvalidSignatureException', message: SIGNATURE_MISMATCH_MESSAGE });
  });

  test('GIVEN a request without Authorization WHEN verified THEN MissingAuthenticationTokenException 403', async () => {
    const request = received(await signRaw());
    delete request.headers.authorization;
    expect(await verifySigV4(request, options())).toEqual({
      ok: false,
      status: 403,
      code: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
  });

  test.each([
    ['another scheme', () => 'Basic QVdTOnNlY3JldA==', /Unsupported AWS 'algorithm': 'Basic'/],
    ['a parameter without "="', (a: string) => a.replace('Credential=', 'Credential '), /not a valid key=value pair \(missing equal-sign\)/],
    ['a credential with four elements', (a: string) => a.replace('/aws4_request', ''), /Credential must have exactly 5 slash-delimited elements/],
    ['no SignedHeaders', (a: string) => a.replace(/SignedHeaders=[^,]+, /, ''), /requires 'SignedHeaders' parameter/],
    ['the signature stripped', (a: string) => a.replace(/, Signature=[0-9a-f]+/, ''), /^Authorization header requires 'Signature' parameter\.$/],
    ['an empty signature', (a: string) => a.replace(/Signature=[0-9a-f]+/, 'Signature='), /^Authorization header requires 'Signature' parameter\.$/],
  ])('GIVEN a malformed Authorization header (%s) WHEN verified THEN IncompleteSignatureException 400', async (_what, change, message) => {
    const result = await verifySigV4(replaceAuth(await signRaw(), change), options());
    expect(result).toMatchObject({ ok: false, status: 400, code: 'IncompleteSignatureException' });
    expect(result.ok === false && result.message).toMatch(message);
  });

  test('GIVEN a signature of the wrong length or case WHEN verified THEN InvalidSignatureException', async () => {
    const wire = await signRaw();
    for (const change of [(a: string) => a.slice(0, -1), (a: string) => a.replace(/Signature=([0-9a-f]+)/, (_m, s: string) => `Signature=${s.toUpperCase()}`)]) {
      expect(await verifySigV4(replaceAuth(wire, change), options())).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    }
  });

  test('GIVEN a region the registry does not serve WHEN verified THEN InvalidSignatureException naming it, before any key lookup', async () => {
    const opts = options();
    const result = await verifySigV4(received(await signRaw({ region: 'ap-south-9' })), opts);
    expect(result).toEqual({
      ok: false,
      status: 400,
      code: 'InvalidSignatureException',
      message: "Credential should be scoped to a valid region, not 'ap-south-9'. ",
    });
    expect(opts.calls).toEqual([]);
  });

  test('GIVEN a signature for another service WHEN verified THEN InvalidSignatureException naming ecr', async () => {
    const result = await verifySigV4(received(await signRaw({ service: 'execute-api' })), options());
    expect(result).toMatchObject({ ok: false, code: 'InvalidSignatureException', message: "Credential should be scoped to correct service: 'ecr'. " });
  });

  test('GIVEN a credential scope date that is not the X-Amz-Date day WHEN verified THEN InvalidSignatureException', async () => {
    const result = await verifySigV4(replaceAuth(await signRaw(), (a) => a.replace('/20260301/', '/20260228/')), options());
    expect(result).toMatchObject({ ok: false, code: 'InvalidSignatureException', message: expect.stringMatching(/^Date in Credential scope does not match/) });
  });

  test('GIVEN X-Amz-Date missing or malformed WHEN verified THEN IncompleteSignatureException', async () => {
    const missing = received(await signRaw());
    delete missing.headers['x-amz-date'];
    expect(await verifySigV4(missing, options())).toMatchObject({
      code: 'IncompleteSignatureException',
      message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    });
    const malformed = received(await signRaw());
    malformed.headers['x-amz-date'] = '2026-03-01T12:00:00Z';
    expect(await verifySigV4(malformed, options())).toMatchObject({ code: 'IncompleteSignatureException', message: expect.stringMatching(/ISO-8601 'basic format'/) });
  });

  test('GIVEN X-Amz-Content-Sha256: UNSIGNED-PAYLOAD WHEN verified THEN refused: the ECR API needs a signed payload', async () => {
    const wire = await signRaw({ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    expect(await verifySigV4(received(wire), options())).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
      message: expect.stringMatching(/UNSIGNED-PAYLOAD' is not accepted by service 'ecr'/),
    });
  });

  test('GIVEN host left out of SignedHeaders WHEN verified THEN refused', async () => {
    const signer = new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials: KEY, sha256: Sha256 });
    const wire = (await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', query: {}, headers: { host: HOST, 'x-amz-target': TARGET }, body: '{}' },
      { signingDate: SIGNED_AT, unsignableHeaders: new Set(['host']) },
    )) as Wire;
    expect(wire.headers.authorization).not.toMatch(/host/);
    expect(await verifySigV4(received(wire), options())).toMatchObject({ ok: false, code: 'IncompleteSignatureException' });
  });

  test('GIVEN X-Amz-Target present but not signed WHEN verified THEN refused (the action must be covered)', async () => {
    const signer = new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials: KEY, sha256: Sha256 });
    const wire = (await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', query: {}, headers: { host: HOST, 'x-amz-target': TARGET }, body: '{}' },
      { signingDate: SIGNED_AT, unsignableHeaders: new Set(['x-amz-target']) },
    )) as Wire;
    expect(await verifySigV4(received(wire), options())).toMatchObject({ ok: false, code: 'InvalidSignatureException', message: expect.stringMatching(/x-amz-target/) });
  });

  test('GIVEN a signed header removed in transit WHEN verified THEN refused', async () => {
    const request = received(await signRaw({ headers: { 'x-amz-meta-note': 'x' } }));
    delete request.headers['x-amz-meta-note'];
    expect(await verifySigV4(request, options())).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });

  test('GIVEN a query parameter added or a path changed after signing WHEN verified THEN InvalidSignatureException', async () => {
    const wire = await signRaw({ path: '/', query: { a: '1' } });
    expect((await verifySigV4(received(wire, 'a=1'), options())).ok).toBe(true);
    expect(await verifySigV4(received(wire, 'a=1&b=2'), options())).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    expect(await verifySigV4({ ...received(wire, 'a=1'), path: '/v2/' }, options())).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });
});

describe('verifySigV4: replayed signatures', () => {
  test('GIVEN no replay cache (AWS behaviour) WHEN the identical request arrives twice inside the window THEN both accepted', async () => {
    const request = received(await signRaw());
    expect((await verifySigV4(request, options())).ok).toBe(true);
    expect((await verifySigV4(request, options({ now: new Date(SIGNED_AT.getTime() + 10 * MIN) }))).ok).toBe(true);
  });

  test('GIVEN a replay cache WHEN the identical request arrives again inside the window THEN the second is refused', async () => {
    const replayCache = new ReplayCache();
    const request = received(await signRaw());
    expect((await verifySigV4(request, options({ replayCache }))).ok).toBe(true);
    expect(await verifySigV4(request, options({ replayCache, now: new Date(SIGNED_AT.getTime() + 5 * MIN) }))).toMatchObject({
      ok: false,
      status: 400,
      code: 'InvalidSignatureException',
      message: expect.stringMatching(/already been used/),
    });
  });

  test('GIVEN a replay cache WHEN the SDK retries (it re-signs each attempt) THEN every attempt is accepted', async () => {
    const attempts = await signWithEcrClient(new GetAuthorizationTokenCommand({}), KEY, 1);
    expect(attempts).toHaveLength(2);
    expect(attempts.map((a) => a.headers['amz-sdk-request'])).toEqual(['attempt=1; max=2', 'attempt=2; max=2']);
    expect(attempts[0].headers.authorization).not.toBe(attempts[1].headers.authorization);
    const replayCache = new ReplayCache();
    for (const attempt of attempts) {
      expect((await verifySigV4(received(attempt), options({ replayCache, now: signedAtOf(attempt) }))).ok).toBe(true);
    }
  });

  test('GIVEN a replay cache WHEN a refused request (wrong secret) is retried correctly signed THEN the correct one is accepted', async () => {
    const replayCache = new ReplayCache();
    const bad = await signRaw({ credentials: { ...KEY, secretAccessKey: 'wrong' } });
    expect((await verifySigV4(received(bad), options({ replayCache }))).ok).toBe(false);
    expect(replayCache.size).toBe(0);
    expect((await verifySigV4(received(await signRaw()), options({ replayCache }))).ok).toBe(true);
  });

  test('ReplayCache forgets a signature once its window has closed and stays within its bound', () => {
    const cache = new ReplayCache(3);
    const t0 = SIGNED_AT.getTime();
    expect(cache.checkAndRemember('a', t0 + 15 * MIN, t0)).toBe(true);
    expect(cache.checkAndRemember('a', t0 + 15 * MIN, t0 + 14 * MIN)).toBe(false);
    expect(cache.checkAndRemember('a', t0 + 31 * MIN, t0 + 16 * MIN)).toBe(true);
    for (const s of ['b', 'c', 'd', 'e']) expect(cache.checkAndRemember(s, t0 + 31 * MIN, t0 + 16 * MIN)).toBe(true);
    expect(cache.size).toBeLessThanOrEqual(3);
    expect(cache.checkAndRemember('e', t0 + 31 * MIN, t0 + 17 * MIN)).toBe(false);
  });
});

describe('canonical request pieces', () => {
  test.each([
    ['/', '/'],
    ['', '/'],
    ['/v2/team%20a/x:y/', '/v2/team%2520a/x%3Ay/'],
    ['//a/./b/../c', '/a/c'],
    ['/a/b/', '/a/b/'],
  ])('canonicalUri(%j) = %j (each segment encoded once more, dot segments removed)', (raw, canonical) => {
    expect(canonicalUri(raw)).toBe(canonical);
  });

  test.each([
    ['', ''],
    ['?b=2&a=1', 'a=1&b=2'],
    ['a=2&a=10&a=1', 'a=1&a=10&a=2'],
    ['flag&x=a%20b', 'flag=&x=a%20b'],
    ['k=%7E%2A', 'k=~%2A'],
  ])('canonicalQuery(%j) = %j (sorted by name then value, both encoded)', (raw, canonical) => {
    expect(canonicalQuery(raw)).toBe(canonical);
  });
});
