/**
 * Identity and access of the deployed stack, without AWS: the authorizer's token checks and its
 * anonymous decision for public repositories, the round trip of its context to the handler, the
 * handler's re-check of expiry, and the KMS and IAM adapters' requests.
 *
 * What stands in for AWS here, named as such:
 * - KMS: a local P-256 key behind the same two-call interface (KmsSigningApi), signing in DER as
 *   KMS does; the real KMS cannot be reached from the tests.
 * - IAM: a stub client answering SimulatePrincipalPolicy, for the request shape and the caching; it
 *   evaluates nothing.
 * - DynamoDB: policies in memory behind the metadata port.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { KMSClient } from '@aws-sdk/client-kms';
import { SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { AnonymousPullPolicy, authorizerInvocation, identityContext, ociRoute, requestPath, type AuthorizerDependencies } from '../../lambdas/handlers/authorizer';
import { KmsClientSigner, KmsTokenSigner, type KmsSigningApi } from '../../lambdas/aws/kms-token-signer';
import { IamPolicySimulator, type simulationInput, type IamSimulateApi } from '../../lambdas/aws/iam-policy-simulator';
import { identityFromAuthorizer, toHttpRequest } from '../../lambdas/handlers/proxy-event';
import { registryApiInvocation } from '../../lambdas/handlers/registry-api';
import { DATA_PLANE_ACTIONS } from '../../lambdas/composition/aws/registry-function';
import { RegistryTokens } from '../../lambdas/core/registry-tokens';
import { SimulatedIdentityPolicies } from '../../lambdas/core/identity-policies';
import { RegistryTokenAuthenticator } from '../../lambdas/http/registry-auth';

const logger = new PowertoolsLogger({ serviceName: 'test', logLevel: 'SILENT' });
const context = { awsRequestId: 'r', functionName: 'f', getRemainingTimeInMillis: () => 1000 } as unknown as Context;
const ACCOUNT = '123456789012';
const CI = { arn: `arn:aws:iam::${ACCOUNT}:user/ci`, account: ACCOUNT };
const KEY_ID = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
const API_ARN = `arn:aws:execute-api:eu-west-1:${ACCOUNT}:abc123`;
const PUBLIC_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] }],
});

/** A STAND-IN for KMS: a local P-256 key, signing in DER as KMS does, counting calls. */
function kmsStandIn() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const calls = { sign: 0, getPublicKey: 0 };
  const api: KmsSigningApi = {
    async sign(input) {
      calls.sign++;
      return { Signature: sign('sha256', input.Message, privateKey) };
    },
    async getPublicKey() {
      calls.getPublicKey++;
      return { PublicKey: publicKey.export({ type: 'spki', format: 'der' }), KeySpec: 'ECC_NIST_P256' };
    },
  };
  return { api, calls, privateKey };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function authorizerEvent(options: { authorization?: string; method?: string; path?: string; sourceIp?: string } = {}): APIGatewayRequestAuthorizerEvent {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/v2/team/app/manifests/v1';
  return {
    type: 'REQUEST',
    methodArn: `${API_ARN}/registry/${method}${path}`,
    resource: '/v2/{proxy+}',
    path,
    httpMethod: method,
    headers: options.authorization ? { Authorization: options.authorization } : {},
    requestContext: { requestId: 'r', identity: { sourceIp: options.sourceIp ?? '198.51.100.7' } },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

/** Policies in memory (what the authorizer reads from the table with GetItem), counting reads. */
function policyStore(policies: Record<string, string>, registry: string | null = null) {
  const reads = { repository: 0, registry: 0 };
  return {
    reads,
    metadata: {
      getRepositoryPolicy: async (name: string) => {
        reads.repository++;
        return policies[name] ?? null;
      },
      getRegistryPolicy: async () => {
        reads.registry++;
        return registry;
      },
    },
  };
}

function setup(options: { publicRepositories?: boolean; policies?: Record<string, string> } = {}) {
  const kms = kmsStandIn();
  const tokens = new RegistryTokens(new KmsTokenSigner(kms.api, KEY_ID));
  const store = policyStore(options.policies ?? { 'public/app': PUBLIC_POLICY });
  let now = Date.now();
  const deps: AuthorizerDependencies = {
    mode: 'tokens',
    tokens,
    now: () => now,
    publicRepositories: options.publicRepositories
      ? new AnonymousPullPolicy({ metadata: store.metadata, registryAccount: ACCOUNT, region: 'eu-west-1', now: () => now })
      : undefined,
  };
  return {
    kms,
    tokens,
    store,
    authorize: authorizerInvocation(deps, logger),
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('authorizer with registry tokens (tokens signed through the KMS interface by a LOCAL P-256 STAND-IN for KMS)', () => {
  test('GIVEN a valid login token as Basic AWS:<token> WHEN authorized THEN Allow on every registry path of the stage, with principal, account, expiry and method in the context', async () => {
    const { tokens, authorize, kms } = setup();
    const { token, expiresAt } = await tokens.issueLogin(CI);
    const signsAfterIssue = kms.calls.sign;
    const result = await authorize(authorizerEvent({ authorization: basic('AWS', token) }), context);
    expect(result.principalId).toBe(CI.arn);
    expect(result.policyDocument.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: [`${API_ARN}/registry/*/v2`, `${API_ARN}/registry/*/v2/*`] },
    ]);
    expect(result.context).toEqual({
      subject: CI.arn,
      method: 'login-token',
      principalArn: CI.arn,
      account: ACCOUNT,
      expiresAt: String(expiresAt.getTime() / 1000),
    });
    // Verification is local: 50 more checks, no KMS call beyond the one GetPublicKey.
    for (let i = 0; i < 50; i++) await authorize(authorizerEvent({ authorization: basic('AWS', token) }), context);
    expect(kms.calls).toEqual({ sign: signsAfterIssue, getPublicKey: 1 });
  });

  test('GIVEN a valid access token as Bearer WHEN authorized THEN Allow with its scopes as a JSON string in the context', async () => {
    const { tokens, authorize } = setup();
    const access = [{ name: 'team/app', actions: ['pull' as const, 'push' as const] }];
    const { token, expiresAt } = await tokens.issueAccess(CI, access);
    const result = await authorize(authorizerEvent({ authorization: `Bearer ${token}` }), context);
    expect(result.context).toEqual({
      subject: CI.arn,
      method: 'access-token',
      principalArn: CI.arn,
      account: ACCOUNT,
      expiresAt: String(expiresAt.getTime() / 1000),
      access: JSON.stringify(access),
    });
  });

  test('GIVEN expired, forged, truncated, re-signed, wrong-account and misused tokens WHEN authorized THEN each is refused with Unauthorized', async () => {
    const { tokens, authorize, advance } = setup();
    const other = new RegistryTokens(new KmsTokenSigner(kmsStandIn().api, KEY_ID)); // same kid, another key
    const { token: login } = await tokens.issueLogin(CI);
    const { token: access } = await tokens.issueAccess(CI, [{ name: 'team/app', actions: ['pull'] }]);
    const { token: forged } = await other.issueLogin(CI);
    const [header, claims, signature] = login.split('.');
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), sub: `arn:aws:iam::${ACCOUNT}:user/admin` })).toString('base64url');
    const resigned = `${header}.${widened}.${signature}`;
    const { token: wrongAccount } = await tokens.issueLogin({ arn: `arn:aws:iam::${ACCOUNT}:user/ci`, account: '210987654321' });
    const { token: anonymousLogin } = await tokens.issueLogin({ arn: 'anonymous', account: '' });
    const noneHeader = `${Buffer.from(JSON.stringify({ alg: 'none', kid: KEY_ID })).toString('base64url')}.${claims}.`;
    const refused: Record<string, string> = {
      forged: basic('AWS', forged),
      'truncated signature': basic('AWS', login.slice(0, -4)),
      'signature stripped': basic('AWS', `${header}.${claims}.`),
      'two parts': basic('AWS', `${header}.${claims}`),
      're-signed claims (sub changed, old signature)': basic('AWS', resigned),
      'alg none': basic('AWS', noneHeader),
      'wrong account (ARN and account disagree)': basic('AWS', wrongAccount),
      'anonymous login token': basic('AWS', anonymousLogin),
      'login token as Bearer': `Bearer ${login}`,
      'access token as Basic': basic('AWS', access),
      'another user name': basic('admin', login),
      'unknown scheme': `Token ${login}`,
      garbage: 'Bearer !!!',
    };
    for (const [name, authorization] of Object.entries(refused)) {
      await expect(authorize(authorizerEvent({ authorization }), context).then(() => `${name}: allowed`)).rejects.toThrow('Unauthorized');
    }
    // Expired: 12 hours and a second later.
    advance(12 * 3600 * 1000 + 1000);
    await expect(authorize(authorizerEvent({ authorization: basic('AWS', login) }), context)).rejects.toThrow('Unauthorized');
    await expect(authorize(authorizerEvent({ authorization: `Bearer ${access}` }), context)).rejects.toThrow('Unauthorized');
  });

  test('GIVEN no public repositories WHEN a request has no credentials or an anonymous access token THEN Unauthorized (the gateway response sends the challenge)', async () => {
    const { tokens, authorize } = setup();
    const { token } = await tokens.issueAccess({ arn: 'anonymous', account: '' }, []);
    await expect(authorize(authorizerEvent({}), context)).rejects.toThrow('Unauthorized');
    await expect(authorize(authorizerEvent({ path: '/v2/token' }), context)).rejects.toThrow('Unauthorized');
    await expect(authorize(authorizerEvent({ authorization: `Bearer ${token}` }), context)).rejects.toThrow('Unauthorized');
  });
});

describe('authorizer with public repositories (anonymous requests reach it: no identity source)', () => {
  test('GIVEN a repository whose policy lets Principal "*" pull WHEN anonymous GET/HEAD of its manifests and blobs THEN Allow for that request only (nothing is cached without an identity source)', async () => {
    const { authorize } = setup({ publicRepositories: true });
    for (const [method, path] of [
      ['GET', '/v2/public/app/manifests/latest'],
      ['HEAD', '/v2/public/app/manifests/latest'],
      ['GET', `/v2/public/app/blobs/sha256:${'a'.repeat(64)}`],
      ['HEAD', `/v2/public/app/blobs/sha256:${'a'.repeat(64)}`],
    ]) {
      const result = await authorize(authorizerEvent({ method, path }), context);
      expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: [`${API_ARN}/registry/${method}${path}`] }]);
      expect(result.context).toEqual({ subject: 'anonymous', method: 'anonymous' });
    }
  });

  test('GIVEN public repositories WHEN anonymous requests go elsewhere THEN the token endpoint is let through and everything else is refused', async () => {
    const { authorize } = setup({ publicRepositories: true });
    await expect(authorize(authorizerEvent({ path: '/v2/token' }), context)).resolves.toMatchObject({ principalId: 'anonymous' });
    await expect(authorize(authorizerEvent({ method: 'POST', path: '/v2/token' }), context)).resolves.toMatchObject({ principalId: 'anonymous' });
    const refused: Array<[string, string]> = [
      ['GET', '/v2/'], // the version check must answer the challenge, so clients learn how to log in
      ['GET', '/v2/_catalog'],
      ['GET', '/v2/private/app/manifests/latest'],
      ['GET', '/v2/public/app/tags/list'], // the public policy does not grant ListImages
      ['PUT', '/v2/public/app/manifests/latest'],
      ['POST', '/v2/public/app/blobs/uploads/'],
      ['PATCH', '/v2/public/app/blobs/uploads/abc'],
      ['DELETE', '/v2/public/app/manifests/latest'],
      ['GET', '/v2/Public/App/manifests/latest'],
      ['GET', '/v2/public/app/nothing'],
    ];
    for (const [method, path] of refused) {
      await expect(authorize(authorizerEvent({ method, path }), context).then(() => `${method} ${path}: allowed`)).rejects.toThrow('Unauthorized');
    }
  });

  test('GIVEN public repositories WHEN credentials are given THEN they are checked as always (a bad one is refused even on a public repository), and anonymous access tokens pass to the handler', async () => {
    const { tokens, authorize } = setup({ publicRepositories: true });
    await expect(authorize(authorizerEvent({ path: '/v2/public/app/manifests/latest', authorization: basic('AWS', 'nope') }), context)).rejects.toThrow('Unauthorized');
    const { token } = await tokens.issueAccess({ arn: 'anonymous', account: '' }, [{ name: 'public/app', actions: ['pull'] }]);
    const result = await authorize(authorizerEvent({ authorization: `Bearer ${token}` }), context);
    expect(result.context).toMatchObject({ subject: 'anonymous', method: 'access-token', access: JSON.stringify([{ name: 'public/app', actions: ['pull'] }]) });
    expect(result.context).not.toHaveProperty('principalArn');
  });

  test('GIVEN a registry policy that denies everyone WHEN an anonymous pull of a public repository THEN refused (an explicit Deny wins)', async () => {
    const kms = kmsStandIn();
    const deny = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'ecr:*', Resource: '*' }] });
    const store = policyStore({ 'public/app': PUBLIC_POLICY }, deny);
    const authorize = authorizerInvocation(
      {
        mode: 'tokens',
        tokens: new RegistryTokens(new KmsTokenSigner(kms.api, KEY_ID)),
        publicRepositories: new AnonymousPullPolicy({ metadata: store.metadata, registryAccount: ACCOUNT, region: 'eu-west-1' }),
      },
      logger,
    );
    await expect(authorize(authorizerEvent({ path: '/v2/public/app/manifests/latest' }), context)).rejects.toThrow('Unauthorized');
  });

  test('GIVEN a policy with a source address condition WHEN anonymous pulls come from inside and outside THEN only the inside one is allowed', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage', Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }],
    });
    const { authorize } = setup({ publicRepositories: true, policies: { 'lan/app': policy } });
    await expect(authorize(authorizerEvent({ path: '/v2/lan/app/manifests/v1', sourceIp: '203.0.113.9' }), context)).resolves.toMatchObject({ principalId: 'anonymous' });
    await expect(authorize(authorizerEvent({ path: '/v2/lan/app/manifests/v1', sourceIp: '198.51.100.1' }), context)).rejects.toThrow('Unauthorized');
  });

  test('GIVEN many anonymous pulls WHEN authorized within the cache window THEN the policies are read once; after it, again', async () => {
    const { authorize, store, advance } = setup({ publicRepositories: true });
    for (let i = 0; i < 20; i++) await authorize(authorizerEvent({ path: '/v2/public/app/manifests/latest' }), context);
    expect(store.reads).toEqual({ repository: 1, registry: 1 });
    advance(11_000);
    await authorize(authorizerEvent({ path: '/v2/public/app/manifests/latest' }), context);
    expect(store.reads).toEqual({ repository: 2, registry: 2 });
  });

  test('GIVEN paths WHEN classified THEN as the router matches them, and the path comes from the event or else the methodArn', () => {
    expect(ociRoute('/v2/')).toEqual({ kind: 'base' });
    expect(ociRoute('/v2/a/b/blobs/uploads/')).toEqual({ kind: 'upload-start', name: 'a/b' });
    expect(ociRoute('/v2/a/b/blobs/uploads/xyz')).toEqual({ kind: 'upload', name: 'a/b' });
    expect(ociRoute('/v2/a/b/blobs/sha256:00')).toEqual({ kind: 'blob', name: 'a/b' });
    expect(ociRoute('/v2/a/manifests/v1')).toEqual({ kind: 'manifest', name: 'a' });
    expect(ociRoute('/v2/a/referrers/sha256:00')).toEqual({ kind: 'referrers', name: 'a' });
    expect(requestPath({ path: '/v2/a/tags/list', methodArn: 'x' })).toBe('/v2/a/tags/list');
    expect(requestPath({ path: '' as string, methodArn: `${API_ARN}/registry/GET/v2/a/tags/list` })).toBe('/v2/a/tags/list');
  });
});

describe('authorizer context -> handler identity', () => {
  test('GIVEN the context of a login token and of an access token WHEN API Gateway hands it to the handler THEN identityFromAuthorizer gives back what the token stands for', async () => {
    const { tokens, authorize, now } = setup();
    const authenticator = new RegistryTokenAuthenticator({ tokens, now });
    const { token: login } = await tokens.issueLogin(CI);
    const { token: access } = await tokens.issueAccess(CI, [{ name: 'team/app', actions: ['pull'] }]);
    for (const [authorization, expected] of [
      [basic('AWS', login), await authenticator.verifyLogin(login)],
      [`Bearer ${access}`, await authenticator.verifyAccess(access)],
    ] as const) {
      const result = await authorize(authorizerEvent({ authorization }), context);
      // API Gateway adds principalId to the context it passes on.
      const passed = { ...result.context, principalId: result.principalId };
      expect(identityFromAuthorizer(passed)).toEqual(expected);
      const request = toHttpRequest({
        httpMethod: 'GET',
        path: '/v2/team/app/manifests/v1',
        headers: {},
        multiValueHeaders: {},
        queryStringParameters: null,
        multiValueQueryStringParameters: null,
        body: null,
        isBase64Encoded: false,
        requestContext: { authorizer: passed, identity: { sourceIp: '198.51.100.7' } },
      } as unknown as APIGatewayProxyEvent);
      expect(request.identity).toEqual(expected);
      expect(request.sourceIp).toBe('198.51.100.7');
    }
    expect(identityContext({ subject: 'anonymous', method: 'anonymous' })).toEqual({ subject: 'anonymous', method: 'anonymous' });
  });

  test('GIVEN a context that does not hold together WHEN read THEN no identity (the router then refuses or authenticates itself)', () => {
    const good = { subject: CI.arn, method: 'login-token', principalArn: CI.arn, account: ACCOUNT, expiresAt: '2000000000' };
    expect(identityFromAuthorizer(good)).toMatchObject({ principal: CI, expiresAt: 2000000000 });
    for (const bad of [
      { ...good, account: 'x' },
      { ...good, principalArn: undefined },
      { ...good, expiresAt: 'soon' },
      { ...good, method: 'sigv4' },
      { ...good, method: 'access-token' }, // an access token without scopes
      { ...good, method: 'access-token', access: '{not json' },
      { ...good, method: 'access-token', access: '[{"name":1}]' },
      { subject: 'someone', method: 'login-token' }, // no principal and not anonymous
    ]) {
      expect(identityFromAuthorizer(bad as Record<string, unknown>)).toBeUndefined();
    }
  });
});

describe('registry handler re-checks expiry', () => {
  const observability = { logger, metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }) };
  const event = (authorizer: Record<string, unknown>) =>
    ({
      httpMethod: 'GET',
      path: '/v2/team/app/manifests/v1',
      headers: {},
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      body: null,
      isBase64Encoded: false,
      requestContext: { requestId: 'r', authorizer },
    }) as unknown as APIGatewayProxyEvent;

  test('GIVEN a cached Allow whose token has expired WHEN the request reaches the handler THEN 401 UNAUTHORIZED and the router never runs; before expiry it runs', async () => {
    let routed = 0;
    const now = Date.now();
    const handler = registryApiInvocation(
      async () => ({
        ...observability,
        now: () => now,
        router: async () => async () => {
          routed++;
          return { status: 200, headers: {}, body: Buffer.from('{}') };
        },
      }),
    );
    const context_ = { subject: CI.arn, method: 'login-token', principalArn: CI.arn, account: ACCOUNT, principalId: CI.arn };
    const expired = await handler(event({ ...context_, expiresAt: String(Math.floor(now / 1000) - 1) }), context);
    expect(expired.statusCode).toBe(401);
    expect(JSON.parse(Buffer.from(expired.body, 'base64').toString()).errors[0].code).toBe('UNAUTHORIZED');
    expect(routed).toBe(0);
    const valid = await handler(event({ ...context_, expiresAt: String(Math.floor(now / 1000) + 60) }), context);
    expect(valid.statusCode).toBe(200);
    expect(routed).toBe(1);
  });
});

describe('KMS adapter', () => {
  test('GIVEN KmsClientSigner over a STAND-IN KMS client WHEN tokens are issued and verified THEN Sign is asked ECDSA_SHA_256 over the raw message and GetPublicKey once', async () => {
    const { api } = kmsStandIn();
    const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        if (command.constructor.name === 'SignCommand') return api.sign(command.input as never);
        return api.getPublicKey(command.input as never);
      },
    } as unknown as KMSClient;
    const tokens = new RegistryTokens(new KmsTokenSigner(new KmsClientSigner(client), KEY_ID));
    const { token } = await tokens.issueLogin(CI);
    for (let i = 0; i < 10; i++) expect(await tokens.verify(token)).toMatchObject({ sub: CI.arn });
    expect(sent.map((s) => s.name)).toEqual(['SignCommand', 'GetPublicKeyCommand']);
    expect(sent[0].input).toMatchObject({ KeyId: KEY_ID, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect(Buffer.from(sent[0].input.Message as Uint8Array).toString()).toBe(token.split('.').slice(0, 2).join('.'));
    expect(sent[1].input).toEqual({ KeyId: KEY_ID });
  });

  test('GIVEN a message over KMS\'s 4 KB RAW limit (an access token with many scopes) WHEN signed THEN KMS is sent its SHA-256 as a DIGEST', async () => {
    const sent: Array<Record<string, unknown>> = [];
    const signer = new KmsTokenSigner(
      {
        async sign(input) {
          sent.push(input);
          return { Signature: Buffer.from('3006020101020101', 'hex') }; // DER r=1, s=1: the shape is what matters here
        },
        async getPublicKey() {
          throw new Error('not needed');
        },
      },
      KEY_ID,
    );
    const small = Buffer.alloc(4096, 'a');
    const large = Buffer.alloc(4097, 'a');
    await signer.sign(small);
    await signer.sign(large);
    expect(sent[0]).toMatchObject({ MessageType: 'RAW', Message: small });
    expect(sent[1]).toMatchObject({ MessageType: 'DIGEST', Message: createHash('sha256').update(large).digest(), SigningAlgorithm: 'ECDSA_SHA_256' });
  });
});

describe('IAM adapter', () => {
  /** A STAND-IN for IAM's client: records SimulatePrincipalPolicy requests and answers from a table. */
  function iamStandIn(decide: (input: ReturnType<typeof simulationInput>, action: string) => string = () => 'allowed') {
    const requests: Array<ReturnType<typeof simulationInput>> = [];
    const client: IamSimulateApi = {
      async send(command: SimulatePrincipalPolicyCommand) {
        expect(command).toBeInstanceOf(SimulatePrincipalPolicyCommand);
        const input = command.input as ReturnType<typeof simulationInput>;
        requests.push(input);
        return { EvaluationResults: (input.ActionNames ?? []).map((a) => ({ EvalActionName: a, EvalDecision: decide(input, a) })), IsTruncated: false };
      },
    };
    return { client, requests };
  }
  const repositoryArn = `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/team/app`;

  test('GIVEN a user, a role session and the root user WHEN simulated THEN the request names the user, the session\'s role, the action, the repository ARN and aws:SourceIp; root costs no call', async () => {
    const { client, requests } = iamStandIn((_input, action) => (action === 'ecr:PutImage' ? 'explicitDeny' : 'allowed'));
    const simulator = new IamPolicySimulator(client);
    expect(await simulator.simulate({ principalArn: CI.arn, actions: ['ecr:BatchGetImage', 'ecr:PutImage'], resourceArn: repositoryArn, sourceIp: '203.0.113.9' })).toEqual({
      'ecr:BatchGetImage': 'allowed',
      'ecr:PutImage': 'explicitDeny',
    });
    expect(requests[0]).toEqual({
      PolicySourceArn: CI.arn,
      ActionNames: ['ecr:BatchGetImage', 'ecr:PutImage'],
      ResourceArns: [repositoryArn],
      ContextEntries: [{ ContextKeyName: 'aws:SourceIp', ContextKeyType: 'ip', ContextKeyValues: ['203.0.113.9'] }],
    });
    await simulator.simulate({ principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/ci-push/session-1`, actions: ['ecr:PutImage'], resourceArn: repositoryArn });
    expect(requests[1]).toEqual({ PolicySourceArn: `arn:aws:iam::${ACCOUNT}:role/ci-push`, ActionNames: ['ecr:PutImage'], ResourceArns: [repositoryArn] });
    expect(await simulator.simulate({ principalArn: `arn:aws:iam::${ACCOUNT}:root`, actions: ['ecr:PutImage'], resourceArn: repositoryArn })).toEqual({ 'ecr:PutImage': 'allowed' });
    expect(simulator.calls).toBe(2);
  });

  test('GIVEN SimulatedIdentityPolicies over the adapter WHEN a pull and a push run twice THEN one IAM call for all data-plane actions, none once warm, none for another account', async () => {
    const { client, requests } = iamStandIn();
    const simulator = new IamPolicySimulator(client);
    const policies = new SimulatedIdentityPolicies(simulator, { registryAccount: ACCOUNT, batch: DATA_PLANE_ACTIONS });
    const pull = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
    const push = ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'];
    for (let round = 0; round < 2; round++) {
      for (const action of [...pull, ...push]) {
        expect(await policies.identityInput(CI, action, repositoryArn, { sourceIp: '203.0.113.9' })).toEqual({ identityDecision: 'allowed' });
      }
    }
    expect(simulator.calls).toBe(1);
    expect(requests[0].ActionNames).toEqual(expect.arrayContaining([...pull, ...push]));
    expect(await policies.identityInput({ arn: 'arn:aws:iam::210987654321:user/x', account: '210987654321' }, 'ecr:BatchGetImage', repositoryArn, {})).toEqual({});
    expect(simulator.calls).toBe(1);
  });

  test('GIVEN IAM failing WHEN simulated through the cache THEN an implicit deny that is not cached (the next request asks again)', async () => {
    let fail = true;
    const client: IamSimulateApi = {
      async send(command) {
        if (fail) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling' });
        return { EvaluationResults: (command.input.ActionNames ?? []).map((a) => ({ EvalActionName: a, EvalDecision: 'allowed' })) };
      },
    };
    const errors: unknown[] = [];
    const policies = new SimulatedIdentityPolicies(new IamPolicySimulator(client), { onError: (e) => errors.push(e) });
    expect(await policies.identityInput(CI, 'ecr:BatchGetImage', repositoryArn, {})).toEqual({ identityDecision: 'implicitDeny' });
    fail = false;
    expect(await policies.identityInput(CI, 'ecr:BatchGetImage', repositoryArn, {})).toEqual({ identityDecision: 'allowed' });
    expect(errors).toHaveLength(1);
  });
});
