/**
 * The REQUEST authorizer of the registry API (identity source: the Authorization header, its
 * answers cached by API Gateway for a short TTL). It checks Basic credentials against the
 * credentials secret in constant time (lambdas/http/auth.ts) and answers an IAM policy that
 * allows the registry's methods, with the identity in `context` for the handler; anything
 * else throws 'Unauthorized', which makes API Gateway answer with its UNAUTHORIZED gateway
 * response, the one that carries the static `WWW-Authenticate` challenge.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { basicCredentialsMatch, parseBasicAuthorization, type BasicCredentials, type Identity } from '../http/auth';
import { createObservability } from './observability';
import { containerSecretSource, loadBasicCredentials } from './secret-source';

export type AuthorizerDependencies =
  | { mode: 'basic'; credentials: () => Promise<BasicCredentials> }
  /** Everyone is `anonymous`: the emulated AWS mode on loopback without --basic-auth. Never deployed. */
  | { mode: 'anonymous' };

export type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

/** The error message API Gateway turns into its UNAUTHORIZED gateway response (401). */
export const UNAUTHORIZED = 'Unauthorized';

export function authorizerInvocation(deps: AuthorizerDependencies, logger: PowertoolsLogger): AuthorizerHandler {
  return async (event) => {
    let identity: Identity | null = null;
    if (deps.mode === 'anonymous') {
      identity = { subject: 'anonymous', method: 'anonymous' };
    } else {
      const given = parseBasicAuthorization(headerValue(event.headers, 'authorization'));
      if (given && basicCredentialsMatch(given, await deps.credentials())) identity = { subject: given.username, method: 'basic' };
    }
    if (!identity) {
      // Never log the header: it is the credential.
      logger.info('refused', { requestId: event.requestContext?.requestId, reason: 'no valid credentials' });
      throw new Error(UNAUTHORIZED);
    }
    return {
      principalId: identity.subject,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: registryResources(event.methodArn) }],
      },
      // The answer is cached per Authorization value for every path, so the policy covers every
      // registry method and path of the stage, not only the one asked for.
      context: { subject: identity.subject, method: identity.method },
    };
  };
}

/** `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>` -> every method under /v2 of that stage. */
export function registryResources(methodArn: string): string[] {
  const [apiArn, stage] = methodArn.split('/');
  if (!apiArn || !stage) throw new Error(`unexpected methodArn ${methodArn}`);
  return [`${apiArn}/${stage}/*/v2`, `${apiArn}/${stage}/*/v2/*`];
}

function headerValue(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export function createAuthorizerHandler(deps: AuthorizerDependencies, logger: PowertoolsLogger) {
  return middy(authorizerInvocation(deps, logger)).use(injectLambdaContext(logger));
}

const { logger } = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-authorizer');

export const handler = createAuthorizerHandler(
  {
    mode: 'basic',
    credentials: () => {
      const secretId = process.env.CREDENTIALS_SECRET_ARN;
      if (!secretId) throw new Error('environment variable CREDENTIALS_SECRET_ARN is not set');
      return loadBasicCredentials(containerSecretSource(), secretId);
    },
  },
  logger,
);
