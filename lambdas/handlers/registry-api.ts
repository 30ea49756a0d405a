/**
 * The registry's Lambda function behind API Gateway (REST API, Lambda proxy integration):
 * proxy event -> the transport-neutral router -> proxy result. Thin on purpose: the rules are
 * in lambdas/core, the routes in lambdas/http, the composition in ./aws-registry.
 *
 * Identity comes from the REQUEST authorizer (`requestContext.authorizer`: subject, method,
 * principalArn, account, expiresAt, access), or for `POST /` from API Gateway's IAM authorization
 * (`requestContext.identity`); the expiry is re-checked here, and authorization per repository and
 * action (policies, IAM's policy simulator for identity policies) runs in the router, as locally. Blob GETs answer 307 to a
 * presigned S3 URL, so no layer byte passes through this function; upload bytes go to the
 * ingest service when INGEST_URL is set, otherwise through here in chunks of at most
 * LAMBDA_MAX_CHUNK_BYTES.
 */
import type { Registry } from '../core/registry';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { RegistryError } from '../core/errors';
import { errorResponse } from '../http/render';
import type { Handler } from '../http/types';
import {
  buildAwsRegistry,
  containerDependencies,
  once,
  requestObservations,
  settingsFromEnv,
  type RequestObservation,
} from '../composition/aws/aws-registry';
import { createObservability, coreLogger } from './observability';
import { awsControlPlane, controlPlaneSettingsFromEnv, type AwsControlPlaneSettings } from '../composition/aws/aws-control-plane';
import { IamPolicySimulator } from '../aws/iam-policy-simulator';
import { KmsClientSigner, KmsTokenSigner } from '../aws/kms-token-signer';
import { SimulatedIdentityPolicies } from '../core/identity-policies';
import { RegistryTokens } from '../core/registry-tokens';
import { OCI_ENDPOINT_PERMISSIONS } from '../core/policy/ecr-actions';
import type { AwsClients } from '../aws/aws-clients';
import type { AwsAccessOptions } from '../composition/aws/aws-registry';
import type { DynamoDbMetadataStore } from '../storage/dynamodb/dynamodb-metadata-store';
import { authorizerContextExpired, describeRequest, toHttpRequest, toProxyResult } from './proxy-event';

export interface RegistryApiDependencies {
  /** The router (resolved per invocation: it follows a rotated upload-token key). */
  router: () => Promise<Handler>;
  logger: PowertoolsLogger;
  metrics: Metrics;
  now?: () => number;
}

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** The invocation itself, without middy: one request through the router, one log line, three metrics. */
export function registryApiInvocation(deps: () => Promise<RegistryApiDependencies>, observability: { logger: PowertoolsLogger; metrics: Metrics }): ProxyHandler {
  return async (event, context) => {
    const { logger, metrics } = observability;
    const started = Date.now();
    const request = toHttpRequest(event);
    const { repository, action } = describeRequest(request.method, request.path);
    const observation: RequestObservation = { bytesRedirected: 0 };
    let result: APIGatewayProxyResult;
    try {
      const d = await deps();
      if (authorizerContextExpired(event.requestContext?.authorizer, (d.now ?? Date.now)())) {
        // The authorizer's cached Allow outlived what it vouched for.
        result = await toProxyResult(errorResponse(new RegistryError('UNAUTHORIZED', 'credentials expired: log in again')), request.method);
      } else {
        const router = await d.router();
        const response = await requestObservations.run(observation, () => router(request));
        result = await toProxyResult(response, request.method);
      }
    } catch (error) {
      logger.error('request failed', { requestId: event.requestContext?.requestId, method: request.method, repository, action, error });
      result = await toProxyResult(errorResponse(new RegistryError('INTERNAL')), request.method);
    }
    const status = result.statusCode;
    logger.info('request', {
      requestId: event.requestContext?.requestId,
      awsRequestId: context?.awsRequestId,
      method: request.method,
      repository,
      action,
      status,
      latencyMs: Date.now() - started,
      subject: request.identity?.subject,
    });
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    if (status >= 500) metrics.addMetric('Errors', MetricUnit.Count, 1);
    else if (status >= 400) metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
    if (observation.bytesRedirected > 0) metrics.addMetric('BytesRedirected', MetricUnit.Bytes, observation.bytesRedirected);
    return result;
  };
}

/** The middy-wrapped handler: Lambda context in every log line, metrics flushed after each invocation. */
export function createRegistryApiHandler(deps: () => Promise<RegistryApiDependencies>, observability: { logger: PowertoolsLogger; metrics: Metrics }) {
  return middy(registryApiInvocation(deps, observability))
    .use(injectLambdaContext(observability.logger))
    .use(logMetrics(observability.metrics));
}

const observability = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-registry');

/** Every action a data-plane endpoint needs: simulated together, so a cold pull or push costs one IAM call. */
export const DATA_PLANE_ACTIONS: readonly string[] = [...new Set(OCI_ENDPOINT_PERMISSIONS.flatMap((entry) => [...entry.actions, ...(entry.sourceActions ?? [])]))];

/**
 * Identity and access of the deployed handler: tokens signed with the KMS key (one signer per
 * container, so the public key is fetched once), identity policies from IAM's policy simulator
 * (cached for 5 minutes per principal, action, repository and client address), the control plane on
 * `POST /` and the data plane's access control, sharing both.
 */
export function awsIdentityAndAccess(
  settings: AwsControlPlaneSettings,
  clients: Pick<AwsClients, 'kms' | 'iam'>,
  logger: PowertoolsLogger,
): { access: AwsAccessOptions; controlPlane: (metadata: DynamoDbMetadataStore, readManifestBody: (digest: string) => Promise<Uint8Array>, registry: Registry) => Handler } {
  const tokens = new RegistryTokens(new KmsTokenSigner(new KmsClientSigner(clients.kms), settings.tokenKeyId));
  const identityPolicies = new SimulatedIdentityPolicies(new IamPolicySimulator(clients.iam), {
    registryAccount: settings.registryAccount,
    batch: DATA_PLANE_ACTIONS,
    // Fails closed (an implicit deny, not cached); the error says why (throttling, a missing permission).
    onError: (error) => logger.warn('SimulatePrincipalPolicy failed: counted as an implicit deny', { error }),
  });
  const publicUrl = settings.proxyEndpoint?.replace(/\/+$/, '');
  return {
    access: {
      tokens,
      identityPolicies,
      registryAccount: settings.registryAccount,
      region: settings.region,
      challenge: settings.challenge === 'basic' ? { scheme: 'basic' } : { scheme: 'bearer' },
      publicUrl,
    },
    controlPlane: (metadata, readManifestBody, registry) =>
      awsControlPlane({ settings, tokens, store: metadata, identityPolicies, readManifestBody, registry, log: coreLogger(logger) }),
  };
}

/** Built on the first invocation of a container, reused by the next ones. */
const fromEnvironment = once(async (): Promise<RegistryApiDependencies> => {
  const { clients, secrets } = containerDependencies();
  const identity = controlPlaneSettingsFromEnv();
  const wiring = identity ? awsIdentityAndAccess(identity, clients, observability.logger) : undefined;
  const app = await buildAwsRegistry({
    settings: settingsFromEnv(),
    clients,
    secrets,
    logger: observability.logger,
    role: 'registry',
    access: wiring?.access,
    controlPlane: wiring?.controlPlane,
  });
  return { router: app.router, ...observability };
});

export const handler = createRegistryApiHandler(fromEnvironment, observability);
