/**
 * The registry's front door on AWS, written once: the API Gateway REST API that the CDK construct
 * (lib/registry-api.ts) builds and the emulated AWS mode (lambdas/emulators/api-gateway-*.ts)
 * answers as: its stage, resources and methods with their authorization, the gateway responses the
 * stack configures (bodies from the error catalogue), the challenges, the payload limits, the
 * upload path that CloudFront sends to the ingest service, and the resource policy.
 */
import { ERROR_CATALOGUE, type ErrorKind } from '../core/errors';

/** The stage the stack deploys unless told otherwise; it is also CloudFront's origin path. */
export const DEFAULT_STAGE_NAME = 'registry';

/** How API Gateway decides whether a request reaches its integration. */
export type MethodAuthorization =
  /** The REQUEST Lambda authorizer (login and access tokens). */
  | 'authorizer'
  /** API Gateway's IAM authorization: SigV4 for `execute-api`, then IAM's evaluation of `execute-api:Invoke`. */
  | 'iam'
  /** None: the integration authenticates the caller itself. */
  | 'none';

/** What answers a method: the registry function, or API Gateway itself (the version check). */
export type MethodIntegration = 'handler' | 'version-check';

export interface FrontDoorMethod {
  /** The resource path as API Gateway writes it (`/v2/{proxy+}` is the greedy proxy). */
  readonly resource: string;
  /** `ANY` matches every method the resource has no method of its own for. */
  readonly httpMethod: 'ANY' | 'GET' | 'HEAD' | 'POST';
  readonly authorization: MethodAuthorization;
  readonly integration: MethodIntegration;
}

/**
 * Every method of the API. The version check (`GET|HEAD /v2`, docker's first request of every pull)
 * is API Gateway's own answer, so it costs no Lambda invocation, and it stays behind the authorizer
 * so that a caller without credentials still gets the UNAUTHORIZED response and its challenge.
 * `/v2/token` has no authorizer: containerd POSTs the login token in a form, without the
 * Authorization header an authorizer's identity source needs, and the token endpoint checks
 * credentials itself. `POST /` is the ECR JSON control plane, signed for `execute-api`.
 */
export const FRONT_DOOR_METHODS: readonly FrontDoorMethod[] = [
  { resource: '/v2', httpMethod: 'GET', authorization: 'authorizer', integration: 'version-check' },
  { resource: '/v2', httpMethod: 'HEAD', authorization: 'authorizer', integration: 'version-check' },
  { resource: '/v2', httpMethod: 'ANY', authorization: 'authorizer', integration: 'handler' },
  { resource: '/v2/{proxy+}', httpMethod: 'ANY', authorization: 'authorizer', integration: 'handler' },
  { resource: '/v2/token', httpMethod: 'ANY', authorization: 'none', integration: 'handler' },
  { resource: '/', httpMethod: 'POST', authorization: 'iam', integration: 'handler' },
];

/** The suffix of a greedy path variable: the resource takes every path below its parent. */
export const GREEDY_PATH_PART = '{proxy+}';

/** The header the authorizer's identity source names (without it API Gateway answers 401 itself). */
export const AUTHORIZER_IDENTITY_HEADER = 'Authorization';
/** The authorizer's result cache by default, and its bound (a cached Allow outlives a revoked credential by that long). */
export const DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS = 60;
export const MAX_AUTHORIZER_CACHE_TTL_SECONDS = 300;

/** Every media type is binary: blobs, manifests and chunks reach Lambda base64-encoded and untouched. */
export const BINARY_MEDIA_TYPES = ['*/*'];

/** The registry's API version header, on every OCI answer. */
export const API_VERSION_HEADER = { 'Docker-Distribution-Api-Version': 'registry/2.0' } as const;

/** API Gateway's own answer to the version check (the MOCK integration): 200 `{}`, as the handler would answer it. */
export const VERSION_CHECK_HEADERS = { ...API_VERSION_HEADER, 'Content-Type': 'application/json' } as const;
export const VERSION_CHECK_BODY = '{}';

/**
 * API Gateway's limits around the Lambda proxy integration. A request body over 10 MB is refused
 * by API Gateway (413). Lambda takes an event of at most 6,291,456 bytes (the body goes base64, so
 * about 4.5 MB of raw bytes; 413) and returns a result of at most 6,291,556 (502), as measured in
 * https://zaccharles.medium.com/deep-dive-lambdas-request-payload-size-limit-2-2-6350c1ae5577.
 * API Gateway gives up on an integration after 29 s (504), so the function has no reason to run longer.
 */
export const PAYLOAD_LIMITS = {
  requestBytes: 10 * 1024 * 1024,
  lambdaEventBytes: 6_291_456,
  lambdaResultBytes: 6_291_556,
} as const;
export const INTEGRATION_TIMEOUT_SECONDS = 29;

/** Placeholders in a challenge template: the registry's public host and its base URL (`https://<host>`). */
export const REGISTRY_HOST_PLACEHOLDER = '{registryHost}';
export const REGISTRY_URL_PLACEHOLDER = '{registryUrl}';

/**
 * The `WWW-Authenticate` value of each challenge scheme. Bearer sends docker, podman and containerd
 * to the token endpoint (`/v2/token`, served by the handler); Basic is what ECR presents (clients
 * then send `AWS:<login token>` on every request).
 */
export const CHALLENGE_TEMPLATES = {
  bearer: `Bearer realm="${REGISTRY_URL_PLACEHOLDER}/v2/token",service="${REGISTRY_HOST_PLACEHOLDER}"`,
  basic: `Basic realm="${REGISTRY_HOST_PLACEHOLDER}"`,
} as const;
export type ChallengeScheme = keyof typeof CHALLENGE_TEMPLATES;

/** The challenge of `scheme` for a registry reached at `url` (`https://<host>` on AWS; may hold CDK tokens). */
export function challengeFor(scheme: ChallengeScheme, registry: { url: string; host: string }): string {
  return CHALLENGE_TEMPLATES[scheme].split(REGISTRY_URL_PLACEHOLDER).join(registry.url).split(REGISTRY_HOST_PLACEHOLDER).join(registry.host);
}

/** The OCI error body of a catalogue entry, as lambdas/http/render.ts renders an error without detail. */
export function ociErrorBody(kind: ErrorKind): string {
  const entry = ERROR_CATALOGUE[kind];
  return JSON.stringify({ errors: [{ code: entry.code, message: entry.message }] });
}

export interface GatewayResponseSpec {
  /** The name of the response in the CDK construct (its construct id). */
  readonly id: string;
  /** API Gateway's response type. */
  readonly type: 'UNAUTHORIZED' | 'ACCESS_DENIED';
  readonly status: number;
  /** Static headers (the challenge is added where {@link withChallenge} says so). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the response carries the `WWW-Authenticate` challenge. */
  readonly withChallenge: boolean;
  readonly body: string;
}

const OCI_GATEWAY_HEADERS = { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' };

/**
 * The gateway responses the stack configures, so that docker reads API Gateway's own refusals as
 * registry errors: UNAUTHORIZED (no or invalid credentials; the challenge is how docker learns to
 * log in, and API Gateway renames a `WWW-Authenticate` the handler returns) and ACCESS_DENIED (the
 * authorizer's Deny). The other types keep API Gateway's defaults.
 */
export const GATEWAY_RESPONSES: Readonly<Record<GatewayResponseSpec['type'], GatewayResponseSpec>> = {
  UNAUTHORIZED: {
    id: 'Unauthorized',
    type: 'UNAUTHORIZED',
    status: ERROR_CATALOGUE.UNAUTHORIZED.status,
    headers: OCI_GATEWAY_HEADERS,
    withChallenge: true,
    body: ociErrorBody('UNAUTHORIZED'),
  },
  ACCESS_DENIED: {
    id: 'AccessDenied',
    type: 'ACCESS_DENIED',
    status: ERROR_CATALOGUE.DENIED.status,
    headers: OCI_GATEWAY_HEADERS,
    withChallenge: false,
    body: ociErrorBody('DENIED'),
  },
};

/**
 * The CloudFront path pattern of the requests that carry upload bytes, for the ingest behaviour.
 * `?*` (at least one character) keeps `POST /v2/<name>/blobs/uploads/` (which starts an upload
 * and must be authenticated by the API) on the API; what follows the slash is an upload id.
 */
export const UPLOAD_PATH_PATTERN = '/v2/*/blobs/uploads/?*';

/** The action IAM checks for every call that reaches the API, and that its resource policy grants. */
export const INVOKE_ACTION = 'execute-api:Invoke';

/** A statement of the API's resource policy, in IAM's JSON. `Resource` is relative to the API (`execute-api:/<stage>/<METHOD>/<path>`). */
export interface ResourcePolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal: { readonly AWS: string };
  readonly Action: string;
  readonly Resource: string;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/**
 * The API's resource policy. A `PRIVATE` API admits calls through its VPC endpoint only. A
 * `REGIONAL` one admits principals of any account: without a resource policy API Gateway refuses a
 * cross-account IAM-signed call before the handler runs, so a repository policy that opens a
 * repository to another account could never be used (that account could not even get a login
 * token). Signatures are still required (IAM authorization on `POST /`, the authorizer on `/v2`),
 * and the handler decides every ECR action with the registry and repository policies.
 *
 * @param endpoint the `execute-api` VPC endpoint of a PRIVATE API (may be a CDK token); none for REGIONAL
 */
export function resourcePolicyStatements(endpoint: { vpcEndpointId?: string } = {}): ResourcePolicyStatement[] {
  const everyone = { Effect: 'Allow', Principal: { AWS: '*' }, Action: INVOKE_ACTION, Resource: 'execute-api:/*' } as const;
  if (endpoint.vpcEndpointId === undefined) return [everyone];
  return [{ ...everyone, Condition: { StringEquals: { 'aws:SourceVpce': endpoint.vpcEndpointId } } }];
}
