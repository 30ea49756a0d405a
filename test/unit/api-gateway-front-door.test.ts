/**
 * The front door's contract (lambdas/contracts/api-gateway.ts) as the emulator answers it: the same
 * gateway responses (status, headers, body rendered from the error catalogue), the same payload
 * limit, the same methods and authorization, and the same resource policy, which lets callers of
 * other accounts reach the API. test/cdk/registry-api.test.ts shows the stack built from it.
 */
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  FRONT_DOOR_METHODS,
  GATEWAY_RESPONSES,
  PAYLOAD_LIMITS,
  challengeFor,
  resourcePolicyStatements,
  type ResourcePolicyStatement,
} from '../../lambdas/contracts/api-gateway';
import { RegistryError } from '../../lambdas/core/errors';
import { errorResponse } from '../../lambdas/http/render';
import { silentLogger } from '../../lambdas/core/log';
import { startApiGatewaySimulator, type IamCaller, type RunningSimulator } from '../../lambdas/emulators/api-gateway-simulator';
import { mayInvoke } from '../../lambdas/emulators/api-gateway-iam';
import { matchMethod } from '../../lambdas/emulators/api-gateway-requests';

const ACCOUNT = '111111111111';
const PARTNER_ACCOUNT = '222222222222';
const REGION = 'us-east-1';
const KEYS: Record<string, { secretAccessKey: string; principal: IamCaller }> = {
  AKIAOWNACCOUNTEXAMPL: { secretAccessKey: 'own-secret', principal: { arn: `arn:aws:iam::${ACCOUNT}:user/admin`, account: ACCOUNT } },
  AKIAPARTNEREXAMPLE01: { secretAccessKey: 'partner-secret', principal: { arn: `arn:aws:iam::${PARTNER_ACCOUNT}:user/partner`, account: PARTNER_ACCOUNT } },
};

const allow = (effect: 'Allow' | 'Deny'): APIGatewayAuthorizerResult => ({
  principalId: 'ci',
  policyDocument: { Version: '2012-10-17', Statement: [{ Effect: effect, Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:*' }] },
  context: { subject: 'ci', method: 'basic' },
});

async function simulator(options: { resourcePolicy?: readonly ResourcePolicyStatement[] } = {}) {
  let handlerCalls = 0;
  const running = await startApiGatewaySimulator({
    host: '127.0.0.1',
    port: 0,
    region: REGION,
    account: ACCOUNT,
    log: silentLogger,
    challenge: (url) => challengeFor('bearer', { url, host: new URL(url).host }),
    tokenResource: true,
    iam: { lookupSecret: async (accessKeyId) => KEYS[accessKeyId] ?? null },
    ...options,
    authorizer: async (event) => {
      if (event.headers?.Authorization === 'deny') return allow('Deny');
      if (event.headers?.Authorization === 'allow') return allow('Allow');
      throw new Error('Unauthorized');
    },
    handler: async (event): Promise<APIGatewayProxyResult> => {
      handlerCalls++;
      return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ resource: event.resource, identity: event.requestContext.identity }) };
    },
  });
  return { running, handlerCalls: () => handlerCalls };
}

async function signedControlPlaneCall(sim: RunningSimulator, accessKeyId: string): Promise<Response> {
  const url = new URL(sim.url);
  const signer = new SignatureV4({ service: 'execute-api', region: REGION, sha256: Sha256, credentials: { accessKeyId, secretAccessKey: KEYS[accessKeyId].secretAccessKey } });
  const body = '{}';
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' },
    body,
  });
  return fetch(`${sim.url}/`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
}

describe('API Gateway front door contract', () => {
  test('GIVEN the contract WHEN its gateway responses are read THEN each is the error catalogue entry as the one renderer renders it', () => {
    for (const [type, kind] of [
      ['UNAUTHORIZED', 'UNAUTHORIZED'],
      ['ACCESS_DENIED', 'DENIED'],
    ] as const) {
      const rendered = errorResponse(new RegistryError(kind));
      expect(GATEWAY_RESPONSES[type].status).toBe(rendered.status);
      expect(GATEWAY_RESPONSES[type].body).toBe(Buffer.from(rendered.body as Buffer).toString());
    }
  });

  test('GIVEN paths WHEN matched against the contract THEN exact resources before the greedy proxy, the own method before ANY, and nothing outside the API', () => {
    expect(matchMethod(FRONT_DOOR_METHODS, 'GET', '/v2/')).toMatchObject({ method: { resource: '/v2', integration: 'version-check' }, pathParameters: null });
    expect(matchMethod(FRONT_DOOR_METHODS, 'DELETE', '/v2')).toMatchObject({ method: { resource: '/v2', httpMethod: 'ANY', integration: 'handler' } });
    expect(matchMethod(FRONT_DOOR_METHODS, 'POST', '/v2/token')).toMatchObject({ method: { resource: '/v2/token', authorization: 'none' } });
    expect(matchMethod(FRONT_DOOR_METHODS, 'PATCH', '/v2/team/app/blobs/uploads/x')).toEqual({
      method: expect.objectContaining({ resource: '/v2/{proxy+}', authorization: 'authorizer' }),
      pathParameters: { proxy: 'team/app/blobs/uploads/x' },
    });
    expect(matchMethod(FRONT_DOOR_METHODS, 'POST', '/')).toMatchObject({ method: { resource: '/', authorization: 'iam' } });
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/v2abc'],
      ['GET', '/other'],
    ]) {
      expect(matchMethod(FRONT_DOOR_METHODS, method, path)).toBeNull();
    }
  });

  describe('the emulator', () => {
    let sim: Awaited<ReturnType<typeof simulator>>;
    beforeAll(async () => {
      sim = await simulator();
    });
    afterAll(() => sim?.running.close());

    test('GIVEN no credentials WHEN /v2 is asked THEN the contract UNAUTHORIZED response: its status, headers, body and the Bearer challenge naming the registry', async () => {
      const res = await fetch(`${sim.running.url}/v2/team/app/tags/list`);
      const spec = GATEWAY_RESPONSES.UNAUTHORIZED;
      expect(res.status).toBe(spec.status);
      expect(await res.text()).toBe(spec.body);
      for (const [name, value] of Object.entries(spec.headers)) expect(res.headers.get(name)).toBe(value);
      const host = new URL(sim.running.url).host;
      expect(res.headers.get('www-authenticate')).toBe(challengeFor('bearer', { url: sim.running.url, host }));
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${sim.running.url}/v2/token",service="${host}"`);
    });

    test('GIVEN an authorizer that denies WHEN /v2 is asked THEN the contract ACCESS_DENIED response, without the challenge', async () => {
      const res = await fetch(`${sim.running.url}/v2/team/app/tags/list`, { headers: { Authorization: 'deny' } });
      const spec = GATEWAY_RESPONSES.ACCESS_DENIED;
      expect(res.status).toBe(spec.status);
      expect(await res.text()).toBe(spec.body);
      expect(res.headers.get('www-authenticate')).toBeNull();
    });

    test('GIVEN the contract payload limit WHEN a body one byte over it is sent THEN 413 from the gateway; one at the limit passes the quota and meets the Lambda 6 MB event limit instead', async () => {
      const before = sim.handlerCalls();
      const over = await fetch(`${sim.running.url}/v2/team/app/blobs/uploads/x`, { method: 'PATCH', headers: { Authorization: 'allow' }, body: Buffer.alloc(PAYLOAD_LIMITS.requestBytes + 1) });
      expect(over.status).toBe(413);
      expect(await over.json()).toEqual({ message: 'Request Too Long' });
      const atLimit = await fetch(`${sim.running.url}/v2/team/app/blobs/uploads/x`, { method: 'PATCH', headers: { Authorization: 'allow' }, body: Buffer.alloc(PAYLOAD_LIMITS.requestBytes) });
      expect(atLimit.status).toBe(413);
      expect(await atLimit.json()).toEqual({ message: 'Request Entity Too Large' });
      expect(sim.handlerCalls()).toBe(before);
    });

    test('GIVEN each method of the contract WHEN called without credentials THEN its authorization decides: the authorizer 401, none reaches the handler, IAM 403', async () => {
      for (const method of FRONT_DOOR_METHODS) {
        const path = method.resource.replace('{proxy+}', 'team/app/tags/list');
        const res = await fetch(`${sim.running.url}${path}`, { method: method.httpMethod === 'ANY' ? 'PUT' : method.httpMethod });
        const expected = { authorizer: 401, none: 200, iam: 403 }[method.authorization];
        expect({ method, status: res.status }).toEqual({ method, status: expected });
      }
    });

    test('GIVEN the contract resource policy (the emulator default) WHEN a caller of another account signs POST / THEN it reaches the handler, as on the stack, with its own account in the identity', async () => {
      const res = await signedControlPlaneCall(sim.running, 'AKIAPARTNEREXAMPLE01');
      expect(res.status).toBe(200);
      expect(((await res.json()) as { identity: Record<string, string> }).identity).toMatchObject({ accountId: PARTNER_ACCOUNT, userArn: KEYS.AKIAPARTNEREXAMPLE01.principal.arn });
      expect((await signedControlPlaneCall(sim.running, 'AKIAOWNACCOUNTEXAMPL')).status).toBe(200);
    });
  });

  test('GIVEN a resource policy that admits only a VPC endpoint WHEN a caller of another account signs POST / THEN IAM refuses it (403 AccessDeniedException); the API account still passes', async () => {
    const sim = await simulator({ resourcePolicy: resourcePolicyStatements({ vpcEndpointId: 'vpce-0123456789abcdef0' }) });
    try {
      const refused = await signedControlPlaneCall(sim.running, 'AKIAPARTNEREXAMPLE01');
      expect(refused.status).toBe(403);
      expect(refused.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
      expect(((await refused.json()) as { Message: string }).Message).toBe(
        `User: arn:aws:iam::${PARTNER_ACCOUNT}:user/partner is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:${REGION}:${ACCOUNT}:berthlocal/local/POST/`,
      );
      expect((await signedControlPlaneCall(sim.running, 'AKIAOWNACCOUNTEXAMPL')).status).toBe(200);
    } finally {
      await sim.running.close();
    }
  });

  test('GIVEN resource policies WHEN IAM decides execute-api:Invoke THEN an explicit Deny wins, another account needs an Allow naming it, the API account needs none', () => {
    const api = { apiId: 'abc', region: REGION, account: ACCOUNT, stage: 'registry' };
    const methodArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc/registry/POST/`;
    const partner = KEYS.AKIAPARTNEREXAMPLE01.principal;
    const own = KEYS.AKIAOWNACCOUNTEXAMPL.principal;
    const statement = (s: Partial<ResourcePolicyStatement>): ResourcePolicyStatement => ({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'execute-api:Invoke', Resource: 'execute-api:/*', ...s });
    expect(mayInvoke(partner, methodArn, api, resourcePolicyStatements())).toBe('allow');
    expect(mayInvoke(partner, methodArn, api, [])).toBe('implicit-deny');
    expect(mayInvoke(own, methodArn, api, [])).toBe('allow');
    expect(mayInvoke(partner, methodArn, api, [statement({ Principal: { AWS: PARTNER_ACCOUNT } })])).toBe('allow');
    expect(mayInvoke(partner, methodArn, api, [statement({ Principal: { AWS: `arn:aws:iam::${PARTNER_ACCOUNT}:root` } })])).toBe('allow');
    expect(mayInvoke(partner, methodArn, api, [statement({ Principal: { AWS: '333333333333' } })])).toBe('implicit-deny');
    expect(mayInvoke(partner, methodArn, api, [statement({ Resource: 'execute-api:/registry/GET/*' })])).toBe('implicit-deny');
    expect(mayInvoke(own, methodArn, api, [...resourcePolicyStatements(), statement({ Effect: 'Deny', Principal: { AWS: own.arn } })])).toBe('explicit-deny');
  });
});
