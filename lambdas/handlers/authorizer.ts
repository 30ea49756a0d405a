/**
 * The REQUEST authorizer of the registry API. It verifies the registry's own tokens
 * (lambdas/core/registry-tokens.ts) with the KMS key's public key, fetched once per container, so
 * a warm authorizer makes no network call for an authenticated request:
 *
 * - `Basic AWS:<login token>`: the 12-hour password GetAuthorizationToken hands out;
 * - `Bearer <access token>`: the short, scoped tokens of the Docker token flow (`/v2/token`).
 *
 * It answers an IAM policy that allows the registry's methods, with the identity in `context`
 * (subject, method, principalArn, account, expiresAt, access as a JSON string) for the handler,
 * which re-checks `expiresAt` on every request (so API Gateway's cache of this answer cannot make
 * a token outlive its expiry) and authorizes per repository and action. Anything else throws
 * 'Unauthorized', which makes API Gateway answer with its UNAUTHORIZED gateway response, the one
 * that carries the static `WWW-Authenticate` challenge (a challenge the handler sends would be
 * renamed to x-amzn-Remapped-WWW-Authenticate).
 *
 * Anonymous requests (no Authorization header) reach the authorizer only when the stack has
 * `publicRepositories: true` (the authorizer then has no identity source and no cache: with an
 * identity source API Gateway refuses a request without the header before the authorizer runs).
 * `/v2/token` is let through (the token endpoint grants anonymous callers what the policies allow
 * `Principal: "*"`); a pull request is allowed when the registry and repository policies allow
 * `Principal: "*"` the actions of that endpoint (policies read from DynamoDB, cached briefly); any
 * other anonymous request is refused, so the client gets the challenge and logs in.
 *
 * The 'basic' (a fixed user and password) and 'anonymous' modes remain for the emulated AWS mode
 * only; the deployed stack runs the 'tokens' mode.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { isValidRepositoryName } from '../core/names';
import { matchOciRoute, permissionFor, type OciRouteKind } from '../contracts/oci-routes';
import { RegistryTokens } from '../core/registry-tokens';
import { AccessControl } from '../http/access-control';
import { basicCredentialsMatch, parseBasicAuthorization, type BasicCredentials, type Identity } from '../http/auth';
import { RegistryTokenAuthenticator } from '../http/registry-auth';
import { TOKEN_PATH } from '../http/token-service';
import type { MetadataStore } from '../storage/ports';
import { DynamoDbMetadataStore } from '../storage/dynamodb/dynamodb-metadata-store';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KmsClientSigner, KmsTokenSigner } from '../aws/kms-token-signer';
import { createObservability } from '../aws/observability';

/**
 * Which anonymous requests a public registry lets through: `/v2/token`, and pulls that the
 * registry and repository policies allow `Principal: "*"`.
 */
export class AnonymousPullPolicy {
  private readonly access: AccessControl;

  constructor(options: {
    /** Where the policies are (the authorizer reads them with GetItem only). */
    metadata: Pick<MetadataStore, 'getRepositoryPolicy' | 'getRegistryPolicy'>;
    registryAccount: string;
    region: string;
    /** How long a policy read is reused. @default 10 s */
    policyCacheMs?: number;
    now?: () => number;
  }) {
    this.access = new AccessControl({
      metadata: options.metadata,
      registryAccount: options.registryAccount,
      region: options.region,
      // An anonymous caller has no identity policies.
      identityPolicies: { identityInput: async () => ({}) },
      challenge: () => '',
      // The handler limits anonymous requests; the authorizer only decides.
      anonymousRateLimit: false,
      policyCacheMs: options.policyCacheMs ?? 10_000,
      now: options.now,
    });
  }

  /** Whether an anonymous `method` on `path` (stage-less, `/v2/...`) may go on to the handler. */
  async allows(method: string, path: string, sourceIp?: string): Promise<boolean> {
    if (path === TOKEN_PATH) return true;
    const route = ociRoute(path);
    if (!route || route.name === undefined || !isValidRepositoryName(route.name)) return false;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const entry = permissionFor(method, route.kind);
    if (!entry || entry.actions.length === 0) return false;
    for (const action of entry.actions) {
      if ((await this.access.decide(null, action, route.name, sourceIp)).decision !== 'allow') return false;
    }
    return true;
  }
}

/** The route kind and repository (as sent) of a `/v2` path, by the router's own table. */
export function ociRoute(path: string): { kind: OciRouteKind; name?: string } | undefined {
  const match = matchOciRoute(path);
  if (!match) return undefined;
  return match.params.name === undefined ? { kind: match.route.kind } : { kind: match.route.kind, name: match.params.name };
}

export type AuthorizerDependencies =
  | {
      mode: 'tokens';
      /** Verifies login and access tokens (RegistryTokens over the KMS public key). */
      tokens: RegistryTokens;
      /** Anonymous access to public repositories; without it every anonymous request is refused. */
      publicRepositories?: AnonymousPullPolicy;
      now?: () => number;
    }
  /** A fixed user and password: the emulated AWS mode's --basic-auth. Never deployed. */
  | { mode: 'basic'; credentials: () => Promise<BasicCredentials> }
  /** Everyone is `anonymous`: the emulated AWS mode on loopback without credentials. Never deployed. */
  | { mode: 'anonymous' };

export type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;

/** The error message API Gateway turns into its UNAUTHORIZED gateway response (401). */
export const UNAUTHORIZED = 'Unauthorized';

/** What the authorizer passes to the handler (API Gateway allows only strings, numbers and booleans). */
export type AuthorizerContext = Record<string, string>;

/** The identity as the authorizer's `context`: read back by identityFromAuthorizer (proxy-event.ts). */
export function identityContext(identity: Identity): AuthorizerContext {
  const context: AuthorizerContext = { subject: identity.subject, method: identity.method };
  if (identity.principal) {
    context.principalArn = identity.principal.arn;
    context.account = identity.principal.account;
  }
  if (identity.expiresAt !== undefined) context.expiresAt = String(identity.expiresAt);
  if (identity.access !== undefined) context.access = JSON.stringify(identity.access);
  return context;
}

export function authorizerInvocation(deps: AuthorizerDependencies, logger: PowertoolsLogger): AuthorizerHandler {
  const authenticator = deps.mode === 'tokens' ? new RegistryTokenAuthenticator({ tokens: deps.tokens, now: deps.now }) : undefined;
  return async (event) => {
    const refuse = (reason: string): never => {
      // Never log the header: it is the credential.
      logger.info('refused', { requestId: event.requestContext?.requestId, reason });
      throw new Error(UNAUTHORIZED);
    };
    let identity: Identity | null = null;
    // Cached answers (keyed by the Authorization header) cover every registry path of the stage.
    let resources = (): string[] => registryResources(event.methodArn);
    if (deps.mode === 'anonymous') {
      identity = { subject: 'anonymous', method: 'anonymous' };
    } else if (deps.mode === 'basic') {
      const given = parseBasicAuthorization(headerValue(event.headers, 'authorization'));
      if (given && basicCredentialsMatch(given, await deps.credentials())) identity = { subject: given.username, method: 'basic' };
    } else {
      identity = await authenticator!.authenticate(headerValue(event.headers, 'authorization'));
      if (identity && identity.principal === undefined) {
        // Anonymous: a request without credentials, or an access token issued to nobody.
        if (!deps.publicRepositories) refuse('anonymous request to a registry without public repositories');
        if (identity.method === 'anonymous') {
          const path = requestPath(event);
          const method = (event.httpMethod ?? event.methodArn?.split('/')[2] ?? '').toUpperCase();
          const allowed = path !== undefined && (await deps.publicRepositories!.allows(method, path, event.requestContext?.identity?.sourceIp));
          if (!allowed) refuse('anonymous request outside the public repositories');
          // Not cached (no identity source): this answer is for this request only.
          resources = () => [event.methodArn];
        }
      }
    }
    if (!identity) refuse('no valid credentials');
    return {
      principalId: identity!.subject,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: resources() }],
      },
      context: identityContext(identity!),
    };
  };
}

/** `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>` -> every method under /v2 of that stage. */
export function registryResources(methodArn: string): string[] {
  const [apiArn, stage] = methodArn.split('/');
  if (!apiArn || !stage) throw new Error(`unexpected methodArn ${methodArn}`);
  return [`${apiArn}/${stage}/*/v2`, `${apiArn}/${stage}/*/v2/*`];
}

/** The stage-less request path: `event.path`, or what the methodArn says after the method. */
export function requestPath(event: Pick<APIGatewayRequestAuthorizerEvent, 'path' | 'methodArn'>): string | undefined {
  if (typeof event.path === 'string' && event.path.startsWith('/v2')) return event.path;
  const parts = event.methodArn?.split('/') ?? [];
  if (parts.length < 3) return undefined;
  return `/${parts.slice(3).join('/')}`;
}

function headerValue(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export function createAuthorizerHandler(deps: AuthorizerDependencies, logger: PowertoolsLogger) {
  return middy(authorizerInvocation(deps, logger)).use(injectLambdaContext(logger));
}

/**
 * The deployed authorizer's dependencies, from the environment the stack sets:
 *   TOKEN_KEY_ID           the KMS key whose public key verifies tokens (kms:GetPublicKey, once)
 *   PUBLIC_REPOSITORIES    'true': anonymous pulls of public repositories (no identity source)
 *   TABLE_NAME             with PUBLIC_REPOSITORIES: where the policies are (dynamodb:GetItem)
 *   REGISTRY_ACCOUNT_ID    with PUBLIC_REPOSITORIES: the account in repository ARNs
 */
export function authorizerDependenciesFromEnv(env: NodeJS.ProcessEnv = process.env): AuthorizerDependencies {
  if (!env.TOKEN_KEY_ID) throw new Error('environment variable TOKEN_KEY_ID is not set');
  const tokens = new RegistryTokens(new KmsTokenSigner(new KmsClientSigner(), env.TOKEN_KEY_ID));
  if (env.PUBLIC_REPOSITORIES !== 'true') return { mode: 'tokens', tokens };
  if (!env.TABLE_NAME) throw new Error('PUBLIC_REPOSITORIES needs TABLE_NAME');
  if (!env.REGISTRY_ACCOUNT_ID || !/^\d{12}$/.test(env.REGISTRY_ACCOUNT_ID)) throw new Error('PUBLIC_REPOSITORIES needs REGISTRY_ACCOUNT_ID (12 digits)');
  const metadata = new DynamoDbMetadataStore({ client: new DynamoDBClient({}), tableName: env.TABLE_NAME });
  return {
    mode: 'tokens',
    tokens,
    publicRepositories: new AnonymousPullPolicy({ metadata, registryAccount: env.REGISTRY_ACCOUNT_ID, region: env.AWS_REGION ?? 'us-east-1' }),
  };
}

const { logger } = createObservability(process.env.POWERTOOLS_SERVICE_NAME || 'berth-authorizer');

/** Built on the first invocation (the module also loads in tests and the emulator, without this environment). */
let deployed: ReturnType<typeof createAuthorizerHandler> | undefined;
export const handler: AuthorizerHandler = (event, context) => {
  deployed ??= createAuthorizerHandler(authorizerDependenciesFromEnv(), logger);
  return deployed(event, context);
};
