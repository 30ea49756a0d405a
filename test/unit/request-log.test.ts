/**
 * The registry function's per-request log line and metrics, as the requestLog middy middleware
 * writes them around the handler (lambdas/handlers/middleware/request-log.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { createRegistryApiHandler } from '../../lambdas/handlers/registry-api';
import type { Handler } from '../../lambdas/http/types';

function observed() {
  const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
  const info = jest.spyOn(logger, 'info');
  const error = jest.spyOn(logger, 'error');
  const addMetric = jest.spyOn(metrics, 'addMetric');
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  return { observability: { logger, metrics }, info, error, addMetric };
}

const event = (method: string, path: string) =>
  ({ httpMethod: method, path, headers: {}, multiValueHeaders: {}, queryStringParameters: null, multiValueQueryStringParameters: null, body: null, isBase64Encoded: false, requestContext: { requestId: 'req-1' } }) as unknown as APIGatewayProxyEvent;
const context = { awsRequestId: 'aws-1', functionName: 'f', functionVersion: '1', invokedFunctionArn: 'arn', memoryLimitInMB: '128', getRemainingTimeInMillis: () => 1000 } as unknown as Context;

test('GIVEN a request the router answers 404 WHEN it passes the handler THEN one request line with repository, action and status, Requests and ClientErrors counted', async () => {
  const { observability, info, addMetric } = observed();
  const router: Handler = async (request) => {
    request.identity = { subject: 'arn:aws:iam::111122223333:user/ci', method: 'login-token' };
    return { status: 404, headers: {}, body: Buffer.from('{}') };
  };
  const handler = createRegistryApiHandler(async () => ({ router: async () => router, ...observability }), observability);
  const result = await handler(event('GET', '/v2/team/app/manifests/v1'), context);
  expect(result.statusCode).toBe(404);
  expect(info).toHaveBeenCalledWith('request', expect.objectContaining({ requestId: 'req-1', awsRequestId: 'aws-1', method: 'GET', repository: 'team/app', action: 'manifest.get', status: 404, subject: 'arn:aws:iam::111122223333:user/ci', latencyMs: expect.any(Number) }));
  expect(addMetric.mock.calls.map((c) => c[0])).toEqual(['Requests', 'ClientErrors']);
});

test('GIVEN a router that throws WHEN the request passes the handler THEN the generic 500 without a trace, the failure logged with its context, Errors counted', async () => {
  const { observability, info, error, addMetric } = observed();
  const handler = createRegistryApiHandler(
    async () => ({
      router: async () => async () => {
        throw new Error('the table is gone');
      },
      ...observability,
    }),
    observability,
  );
  const result = await handler(event('HEAD', '/v2/team/app/blobs/sha256:abc'), context);
  expect(result.statusCode).toBe(500);
  expect(result.body).not.toContain('the table is gone');
  expect(error).toHaveBeenCalledWith('request failed', expect.objectContaining({ method: 'HEAD', repository: 'team/app', action: 'blob.head', error: expect.any(Error) }));
  expect(info).toHaveBeenCalledWith('request', expect.objectContaining({ status: 500, action: 'blob.head' }));
  expect(addMetric.mock.calls.map((c) => c[0])).toEqual(['Requests', 'Errors']);
});
