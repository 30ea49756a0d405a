/**
 * The REQUEST Lambda authorizer as API Gateway runs it: the identity source checked first (no
 * Authorization header: 401 without an authorizer call), answers cached per header value for the
 * TTL, a thrown `Unauthorized` turned into the UNAUTHORIZED gateway response, any other failure
 * into AUTHORIZER_FAILURE, and the returned policy evaluated against the method ARN (a Deny or no
 * Allow: ACCESS_DENIED).
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { RequestParts } from './api-gateway-requests';
import type { StatsRecorder } from './api-gateway-stats';

export type RequestAuthorizer = (event: APIGatewayRequestAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

/** The authorizer's verdict: the context the integration receives, or which gateway response refuses. */
export type AuthorizerVerdict =
  | { allowed: true; context: Record<string, unknown> }
  | { allowed: false; response: 'UNAUTHORIZED' | 'ACCESS_DENIED' | 'AUTHORIZER_FAILURE'; error?: unknown };

export class SimulatedAuthorizer {
  private readonly cache = new Map<string, { result: APIGatewayAuthorizerResult; until: number }>();

  constructor(
    private readonly options: {
      authorizer: RequestAuthorizer;
      /** Requests without the identity source's header get 401 without an authorizer call. */
      identitySourceRequired: boolean;
      ttlMs: number;
      stats: StatsRecorder;
      lambdaContext: () => Context;
    },
  ) {}

  flush(): void {
    this.cache.clear();
  }

  /** @param authorization the identity source's header (AUTHORIZER_IDENTITY_HEADER), if the request has one */
  async authorize(parts: RequestParts, authorization: string | undefined): Promise<AuthorizerVerdict> {
    if (this.options.identitySourceRequired && !authorization) return { allowed: false, response: 'UNAUTHORIZED' };
    const cacheKey = authorization ?? '';
    let decision = this.cache.get(cacheKey);
    if (decision && decision.until > Date.now()) {
      this.options.stats.current.authorizerCacheHits++;
    } else {
      this.cache.delete(cacheKey);
      this.options.stats.current.authorizerInvocations++;
      try {
        const result = await this.options.authorizer(authorizerEvent(parts), this.options.lambdaContext());
        decision = { result, until: Date.now() + this.options.ttlMs };
        if (this.options.ttlMs > 0) this.cache.set(cacheKey, decision);
      } catch (error) {
        if ((error as Error)?.message === 'Unauthorized') return { allowed: false, response: 'UNAUTHORIZED' };
        return { allowed: false, response: 'AUTHORIZER_FAILURE', error };
      }
    }
    if (!policyAllows(decision.result, parts.methodArn)) return { allowed: false, response: 'ACCESS_DENIED' };
    return { allowed: true, context: { ...(decision.result.context ?? {}), principalId: decision.result.principalId } };
  }
}

function authorizerEvent(parts: RequestParts): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: parts.methodArn,
    resource: parts.resource,
    path: parts.path,
    httpMethod: parts.method,
    headers: parts.headers,
    multiValueHeaders: parts.multiValueHeaders,
    pathParameters: parts.pathParameters,
    queryStringParameters: parts.query.single,
    multiValueQueryStringParameters: parts.query.multi,
    stageVariables: null,
    requestContext: parts.requestContext as unknown as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

/** Allowed when an Allow statement matches and no Deny does (IAM's `*` wildcards). */
export function policyAllows(result: APIGatewayAuthorizerResult, methodArn: string): boolean {
  let allowed = false;
  for (const statement of result.policyDocument?.Statement ?? []) {
    const s = statement as { Effect: string; Resource?: string | string[]; Action?: string | string[] };
    const resources = s.Resource === undefined ? [] : Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    const actions = s.Action === undefined ? [] : Array.isArray(s.Action) ? s.Action : [s.Action];
    if (!actions.some((a) => a === '*' || a === 'execute-api:*' || a === 'execute-api:Invoke')) continue;
    if (!resources.some((r) => wildcard(r).test(methodArn))) continue;
    if (s.Effect === 'Deny') return false;
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

/** IAM's `*` wildcard (any run of characters) as a regular expression over the whole string. */
export function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}
