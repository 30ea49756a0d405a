/**
 * The Lambda side without AWS: proxy event conversion, the authorizer, the secret sources, and
 * the API Gateway simulator's gateway behaviour (limits, challenge, header remapping, cache),
 * with stand-in handlers. The registry handler on DynamoDB and S3 runs in test/e2e/emulated-aws.test.ts.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { authorizerContextExpired, describeRequest, toHttpRequest, toProxyResult, ResponseTooLargeError } from '../../lambdas/handlers/proxy-event';
import { authorizerInvocation, createAuthorizerHandler, registryResources } from '../../lambdas/handlers/authorizer';
import { SecretsManagerSecretSource, loadBasicCredentials } from '../../lambdas/aws/secret-source';
import { LocalSecretSource } from '../../lambdas/emulators/local-secret-source';
import { LAMBDA_MAX_CHUNK_BYTES } from '../../lambdas/composition/aws/aws-registry';
import { startApiGatewaySimulator, policyAllows, type RunningSimulator } from '../../lambdas/emulators/api-gateway-simulator';
import { silentLogger } from '../../lambdas/core/log';

const logger = new PowertoolsLogger({ serviceName: 'test', logLevel: 'SILENT' });
const context = { awsRequestId: 'r', functionName: 'f', getRemainingTimeInMillis: () => 1000 } as unknown as Context;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function proxyEvent(overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return {
    resource: '/v2/{proxy+}',
    path: '/v2/team/app/blobs/uploads/abc',
    httpMethod: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream' },
    multiValueHeaders: { 'Content-Type': ['application/octet-stream'] },
    queryStringParameters: { a: '2' },
    multiValueQueryStringParameters: { a: ['1', '2'] },
    pathParameters: null,
    stageVariables: null,
    requestContext: { authorizer: { subject: 'ci', method: 'basic', principalId: 'ci' }, requestId: 'req' } as unknown as APIGatewayProxyEvent['requestContext'],
    body: Buffer.from('hello').toString('base64'),
    isBase64Encoded: true,
    ...overrides,
  };
}

async function collect(stream: AsyncIterable<Uint8Array> | null): Promise<string> {
  if (!stream) return '';
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

describe('proxy event -> HttpRequest', () => {
  test('GIVEN a REST API proxy event WHEN converted THEN multi-value query, lower-case headers, the base64 body and the authorizer identity arrive', async () => {
    const request = toHttpRequest(proxyEvent());
    expect(request.method).toBe('PATCH');
    expect(request.path).toBe('/v2/team/app/blobs/uploads/abc');
    expect(request.query.getAll('a')).toEqual(['1', '2']);
    expect(request.headers['content-type']).toBe('application/octet-stream');
    expect(await collect(request.body)).toBe('hello');
    expect(request.identity).toEqual({ subject: 'ci', method: 'basic' });
  });

  test('GIVEN no authorizer context, an empty body and a digest in the path WHEN converted THEN no identity, no body, and the colon survives', () => {
    const request = toHttpRequest(
      proxyEvent({ path: '/v2/a/blobs/sha256:00', body: null, isBase64Encoded: false, requestContext: {} as APIGatewayProxyEvent['requestContext'] }),
    );
    expect(request.identity).toBeUndefined();
    expect(request.body).toBeNull();
    expect(request.path).toBe('/v2/a/blobs/sha256:00');
  });

  test('GIVEN an authorizer context with an expiry WHEN re-checked THEN a past expiry is expired and no expiry never is', () => {
    expect(authorizerContextExpired({ subject: 'x' })).toBe(false);
    expect(authorizerContextExpired({ expiresAt: String(Math.floor(Date.now() / 1000) - 1) })).toBe(true);
    expect(authorizerContextExpired({ expiresAt: String(Math.floor(Date.now() / 1000) + 60) })).toBe(false);
  });

  test('GIVEN responses WHEN turned into proxy results THEN bodies go base64, HEAD has none, and an oversized stream is refused', async () => {
    const result = await toProxyResult({ status: 200, headers: { 'Content-Length': '3' }, body: Buffer.from('abc') }, 'GET');
    expect(result).toMatchObject({ statusCode: 200, isBase64Encoded: true, body: Buffer.from('abc').toString('base64') });
    expect((await toProxyResult({ status: 200, headers: { 'Content-Length': '3' }, body: Buffer.from('abc') }, 'HEAD')).body).toBe('');
    async function* big() {
      yield Buffer.alloc(10);
      yield Buffer.alloc(10);
    }
    await expect(toProxyResult({ status: 200, headers: {}, body: big() }, 'GET', 15)).rejects.toBeInstanceOf(ResponseTooLargeError);
  });

  test('GIVEN Lambda limits WHEN the chunk limit is derived THEN about 4.5 MB of raw bytes fit in a 6 MB event after base64', () => {
    expect(LAMBDA_MAX_CHUNK_BYTES).toBeGreaterThan(4_300_000);
    expect(Math.ceil(LAMBDA_MAX_CHUNK_BYTES / 3) * 4).toBeLessThan(6 * 1024 * 1024 - 200 * 1024);
  });

  test('GIVEN paths WHEN described for logs THEN repository and action, never the query', () => {
    expect(describeRequest('GET', '/v2/')).toEqual({ action: 'ping' });
    expect(describeRequest('GET', '/v2/team/app/manifests/v1')).toEqual({ repository: 'team/app', action: 'manifest.get' });
    expect(describeRequest('GET', '/v2/team/app/blobs/sha256:00')).toEqual({ repository: 'team/app', action: 'blob.get' });
    expect(describeRequest('PUT', '/v2/team/app/blobs/uploads/x')).toEqual({ repository: 'team/app', action: 'upload.put' });
  });
});

describe('authorizer', () => {
  const methodArn = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/registry/GET/v2/team/app/manifests/v1';
  const event = (authorization?: string) =>
    ({ type: 'REQUEST', methodArn, headers: authorization ? { Authorization: authorization } : {}, requestContext: { requestId: 'r' } }) as unknown as APIGatewayRequestAuthorizerEvent;
  const credentials = async () => ({ username: 'ci', password: 's3cret' });

  test('GIVEN the right Basic credentials WHEN authorized THEN Allow on every registry method of the stage, with the identity in the context', async () => {
    const result = await authorizerInvocation({ mode: 'basic', credentials }, logger)(event(basic('ci', 's3cret')), context);
    expect(result.principalId).toBe('ci');
    expect(result.context).toEqual({ subject: 'ci', method: 'basic' });
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow', Action: 'execute-api:Invoke' });
    expect(policyAllows(result, 'arn:aws:execute-api:eu-west-1:123456789012:abc123/registry/PUT/v2/other/blobs/uploads/x')).toBe(true);
    expect(policyAllows(result, 'arn:aws:execute-api:eu-west-1:123456789012:abc123/registry/POST/')).toBe(false);
    expect(registryResources(methodArn)).toEqual(['arn:aws:execute-api:eu-west-1:123456789012:abc123/registry/*/v2', 'arn:aws:execute-api:eu-west-1:123456789012:abc123/registry/*/v2/*']);
  });

  test('GIVEN wrong, missing or malformed credentials WHEN authorized through the middy handler THEN it throws Unauthorized', async () => {
    const handler = createAuthorizerHandler({ mode: 'basic', credentials }, logger);
    for (const authorization of [basic('ci', 'wrong'), basic('other', 's3cret'), undefined, 'Bearer abc', 'Basic !!!']) {
      await expect(handler(event(authorization), context)).rejects.toThrow('Unauthorized');
    }
    await expect(handler(event(basic('ci', 's3cret')), context)).resolves.toMatchObject({ principalId: 'ci' });
  });

  test('GIVEN anonymous mode WHEN authorized without credentials THEN anonymous is allowed', async () => {
    const result = await authorizerInvocation({ mode: 'anonymous' }, logger)(event(), context);
    expect(result.context).toEqual({ subject: 'anonymous', method: 'anonymous' });
  });
});

describe('secret sources', () => {
  test('GIVEN Secrets Manager WHEN a secret is read twice within the TTL THEN one call; after the TTL, another; a failed refresh keeps the last value', async () => {
    let calls = 0;
    let fail = false;
    const client = {
      send: async () => {
        calls++;
        if (fail) throw new Error('throttled');
        return { SecretString: `v${calls}` };
      },
    } as unknown as SecretsManagerClient;
    let now = 0;
    const source = new SecretsManagerSecretSource(client, 1000, () => now);
    expect(await Promise.all([source.getSecret('a'), source.getSecret('a')])).toEqual(['v1', 'v1']);
    expect(calls).toBe(1);
    now = 1500;
    expect(await source.getSecret('a')).toBe('v2');
    now = 3000;
    fail = true;
    expect(await source.getSecret('a')).toBe('v2');
  });

  test('GIVEN the local stand-in WHEN credentials are loaded THEN they parse, and a malformed secret is refused without echoing it', async () => {
    const local = new LocalSecretSource({ creds: JSON.stringify({ username: 'u', password: 'p' }), bad: 'not json p4ss' });
    expect(await loadBasicCredentials(local, 'creds')).toEqual({ username: 'u', password: 'p' });
    await expect(loadBasicCredentials(local, 'bad')).rejects.toThrow(/not JSON/);
    await expect(loadBasicCredentials(local, 'bad')).rejects.not.toThrow(/p4ss/);
    await expect(local.getSecret('missing')).rejects.toThrow(/no local secret/);
  });
});

describe('API Gateway simulator', () => {
  let simulator: RunningSimulator;
  beforeAll(async () => {
    simulator = await startApiGatewaySimulator({
      host: '127.0.0.1',
      port: 0,
      challenge: 'Basic realm="test"',
      log: silentLogger,
      authorizer: createAuthorizerHandler({ mode: 'basic', credentials: async () => ({ username: 'ci', password: 'pw' }) }, logger),
      handler: async (event): Promise<APIGatewayProxyResult> => {
        if (event.path === '/v2/challenge') return { statusCode: 401, headers: { 'WWW-Authenticate': 'Bearer realm="x"', 'Content-Type': 'application/json' }, body: '{}' };
        if (event.path === '/v2/huge') return { statusCode: 200, headers: {}, body: Buffer.alloc(5 * 1024 * 1024).toString('base64'), isBase64Encoded: true };
        if (event.path === '/v2/throws') throw new Error('boom');
        const body = event.body ? Buffer.from(event.body, 'base64') : Buffer.alloc(0);
        return {
          statusCode: 200,
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ path: event.path, stagePath: event.requestContext.path, identity: event.requestContext.authorizer, bytes: body.length, q: event.multiValueQueryStringParameters }),
        };
      },
    });
  });
  afterAll(() => simulator?.close());
  const auth = { Authorization: basic('ci', 'pw') };
  const call = (path: string, init: RequestInit = {}) => fetch(`${simulator.url}${path}`, init);

  test('GIVEN no Authorization WHEN any /v2 path is asked THEN the UNAUTHORIZED gateway response with the static challenge, and no authorizer or handler call', async () => {
    simulator.resetStats();
    const res = await call('/v2/');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="test"');
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0].code).toBe('UNAUTHORIZED');
    expect(simulator.stats()).toMatchObject({ authorizerInvocations: 0, handlerInvocations: 0, gatewayResponses: { UNAUTHORIZED: 1 } });
    const wrong = await call('/v2/', { headers: { Authorization: basic('ci', 'nope') } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="test"');
  });

  test('GIVEN valid credentials WHEN asked twice THEN one authorizer call (cached), the handler gets the stage-less path, the identity and the multi-value query', async () => {
    simulator.resetStats();
    simulator.flushAuthorizerCache();
    const first = (await (await call('/v2/team/app/tags/list?n=1&n=2', { headers: auth })).json()) as Record<string, unknown>;
    await call('/v2/team/app/tags/list', { headers: auth });
    expect(first).toMatchObject({ path: '/v2/team/app/tags/list', stagePath: '/local/v2/team/app/tags/list', identity: { subject: 'ci', method: 'basic' }, q: { n: ['1', '2'] } });
    expect(simulator.stats()).toMatchObject({ authorizerInvocations: 1, authorizerCacheHits: 1, handlerInvocations: 2 });
  });

  test('GIVEN valid credentials WHEN GET and HEAD /v2/ are asked THEN the gateway answers 200 {} with the version header itself (the MOCK integration), without the handler', async () => {
    simulator.resetStats();
    simulator.flushAuthorizerCache();
    for (const path of ['/v2/', '/v2']) {
      const res = await call(path, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({});
    }
    const head = await call('/v2/', { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(simulator.stats()).toMatchObject({ authorizerInvocations: 1, authorizerCacheHits: 2, handlerInvocations: 0, mockResponses: 3 });
    // Other methods on /v2 still reach the handler, as the stack's ANY method does.
    await call('/v2/', { method: 'DELETE', headers: auth });
    expect(simulator.stats()).toMatchObject({ handlerInvocations: 1, mockResponses: 3 });
  });

  test('GIVEN a handler that returns WWW-Authenticate WHEN answered THEN API Gateway renames it to x-amzn-Remapped-WWW-Authenticate', async () => {
    const res = await call('/v2/challenge', { headers: auth });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('x-amzn-remapped-www-authenticate')).toBe('Bearer realm="x"');
  });

  test('GIVEN bodies over the limits WHEN sent THEN 413 over 10 MB and over the 6 MB Lambda event, and the handler never runs', async () => {
    simulator.resetStats();
    const over10 = await call('/v2/team/app/blobs/uploads/x', { method: 'PATCH', headers: auth, body: Buffer.alloc(10 * 1024 * 1024 + 1) });
    expect(over10.status).toBe(413);
    const over6 = await call('/v2/team/app/blobs/uploads/x', { method: 'PATCH', headers: auth, body: Buffer.alloc(4_800_000) });
    expect(over6.status).toBe(413);
    const fits = await call('/v2/team/app/blobs/uploads/x', { method: 'PATCH', headers: auth, body: Buffer.alloc(4_000_000) });
    expect(fits.status).toBe(200);
    expect(((await fits.json()) as { bytes: number }).bytes).toBe(4_000_000);
    expect(simulator.stats()).toMatchObject({ handlerInvocations: 1, handlerRequestBodyBytes: 4_000_000, gatewayResponses: { REQUEST_TOO_LARGE: 2 } });
  });

  test('GIVEN a handler answering over 6 MB or throwing WHEN called THEN 502; a path outside /v2 gets 403 Missing Authentication Token', async () => {
    expect((await call('/v2/huge', { headers: auth })).status).toBe(502);
    const thrown = await call('/v2/throws', { headers: auth });
    expect(thrown.status).toBe(502);
    expect(await thrown.json()).toEqual({ message: 'Internal server error' });
    const outside = await call('/', { method: 'POST', headers: auth });
    expect(outside.status).toBe(403);
    expect(await outside.json()).toEqual({ message: 'Missing Authentication Token' });
  });
});
