/**
 * The ECR JSON API (the control plane): `POST /` with
 * `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Action>` and a JSON body
 * (`application/x-amz-json-1.1`), answered in the AWS JSON 1.1 protocol so that the AWS CLI and
 * `@aws-sdk/client-ecr` work against it with `--endpoint-url` / `endpoint`.
 *
 * Errors are AWS JSON protocol errors: HTTP 400 (500 for ServerException), body
 * `{"__type": "<Name>", "message": "..."}` and the same name in `x-amzn-ErrorType`; the SDK picks the
 * name from either and raises its typed exception (RepositoryNotFoundException, InvalidParameterException,
 * ...). Names that ECR's model does not list (AccessDeniedException, UnknownOperationException, the SigV4
 * codes) are AWS's common errors: the SDK raises an ECRServiceException whose `name` is the code.
 * - AccessDeniedException "User: <arn> is not authorized to perform: ecr:<Action> on resource: <arn>"
 *   is ECR's own wording (Troubleshooting Amazon ECR error messages, "HTTP 403: User [arn] is not
 *   authorized to perform [operation]"); AWS's common-errors table gives it HTTP 400 for JSON services.
 * - UnknownOperationException: an unknown X-Amz-Target. Real AWS JSON services answer
 *   `{"__type":"UnknownOperationException"}` with 400 (aws/aws-sdk-net#1536, CloudWatch Logs); some
 *   emulators use 404. 400 here.
 * - A member breaking its pattern, length or range is thrown as a ConstraintViolation and answered in
 *   the action's validation style (CLASSIC_VALIDATION_ACTIONS: InvalidParameterException "Invalid
 *   parameter at ..."; the others: ValidationException "1 validation error detected: ...").
 *
 * Actions live in a table (ECR_API_ACTIONS): each names the IAM action it needs, which repository it
 * concerns (for the resource ARN and the repository policy), and its work. The control-plane issue adds
 * entries; nothing else here changes.
 *
 * Who the caller is comes from an `authenticate` hook: local mode verifies SigV4 itself (service `ecr`),
 * the AWS handler takes the IAM principal API Gateway verified. Authorization is the policy engine:
 * the caller's identity policies (or a decision made elsewhere) with the registry and repository
 * policies as resource policies.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/log';
import { silentLogger } from '../core/log';
import type { RegistryTokens } from '../core/registry-tokens';
import { ECR_ACTIONS, resourceArnFor, type EcrAction } from '../core/policy/ecr-actions';
import { evaluate, type Decision, type NamedPolicy, type Principal } from '../core/policy/evaluate';
import type { IdentityInput, IdentityPolicySource } from '../core/identity-policies';
import { parsePolicyDocument, PolicyValidationError } from '../core/policy/policy-document';
import type { MetadataStore } from '../storage/ports';
import type { HttpRequest, HttpResponse } from './types';
import {
  checkRegistryId,
  constraints,
  ConstraintViolation,
  EcrApiError,
  optionalList,
  repositoryNameOf,
  repositoryNotFound,
  requiredString,
  validationError,
  type ValidationStyle,
} from './ecr-actions/common';
import { REPOSITORY_ACTIONS } from './ecr-actions/repositories';
import { IMAGE_ACTIONS } from './ecr-actions/images';
import { LAYER_ACTIONS, MAX_LAYER_PART_BYTES } from './ecr-actions/layers';
import { REGISTRY_ACTIONS } from './ecr-actions/registry';
import type { Registry } from '../core/registry';

export { EcrApiError } from './ecr-actions/common';

export const ECR_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';
export const AMZ_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** Largest request body the endpoint reads: policies are at most 10,240 characters (JSON-escaped inside the body). */
export const MAX_ECR_REQUEST_BYTES = 256 * 1024;
/** Except for the actions that carry content: a layer part (base64) and a manifest (JSON-escaped, 4 MiB at most). */
const MAX_BODY_BYTES_OF: Record<string, number> = {
  UploadLayerPart: Math.ceil(MAX_LAYER_PART_BYTES / 3) * 4 + 64 * 1024,
  PutImage: 9 * 1024 * 1024,
};

/** The caller of an ECR API action, as the transport established it (SigV4 locally, IAM on AWS). */
export interface EcrCaller {
  principal: Principal;
}

export type EcrAuthentication = { ok: true; caller: EcrCaller } | { ok: false; status: number; code: string; message: string };

/** The subset of the metadata store the control plane uses. */
export type EcrApiStore = Pick<
  MetadataStore,
  | 'getRepository'
  | 'listRepositories'
  | 'getRepositoryPolicy'
  | 'setRepositoryPolicy'
  | 'getRegistryPolicy'
  | 'setRegistryPolicy'
  | 'createRepository'
  | 'getRepositorySettings'
  | 'updateRepositorySettings'
  | 'deleteRepository'
  | 'listManifests'
  | 'getManifestTags'
  | 'getManifest'
  | 'resolveTag'
  | 'statBlobLink'
  | 'deleteManifest'
  | 'deleteTag'
  | 'listReferrers'
  | 'getRegistrySettings'
  | 'setRegistrySettings'
  | 'createRepositoryCreationTemplate'
  | 'listRepositoryCreationTemplates'
  | 'updateRepositoryCreationTemplate'
  | 'deleteRepositoryCreationTemplate'
>;

/** How the deployment encrypts blobs: what every repository reports, and the only encryption CreateRepository accepts. */
export interface EcrEncryption {
  encryptionType: 'AES256' | 'KMS';
  /** The KMS key's ARN (encryptionType KMS). */
  kmsKey?: string;
}

export interface EcrApiOptions {
  store: EcrApiStore;
  tokens: RegistryTokens;
  /** The account that owns the registry: registryId in answers, the account of repository ARNs. */
  registryAccount: string;
  /** The region in repository ARNs when the request does not say (AWS: the function's region). */
  region: string;
  /** The callers' identity policies (local: the configured ones; AWS: IAM's policy simulator). */
  identityPolicies: IdentityPolicySource;
  /** Who is calling; the raw body is passed because SigV4 covers it. */
  authenticate(request: HttpRequest, body: Uint8Array): Promise<EcrAuthentication>;
  /** The registry URL clients log in to (GetAuthorizationToken's proxyEndpoint). */
  proxyEndpoint(request: HttpRequest): string;
  /** The deployment's blob encryption (local mode: AES256, the files are not encrypted by Berth). @default { encryptionType: 'AES256' } */
  encryption?: EcrEncryption;
  /**
   * Reads a manifest body the metadata store does not keep inline (the DynamoDB store keeps bodies
   * over 160 KiB in the blob store): BatchGetImage needs it. Without it such a manifest is a failure.
   */
  readManifestBody?: (digest: string) => Promise<Uint8Array>;
  /**
   * The registry whose upload and manifest rules the layer actions and PutImage go through (the
   * same rules as an OCI push). Without it those actions answer ServerException "not available".
   */
  registry?: Registry;
  /**
   * GetDownloadUrlForLayer's URL when the blob store has no redirect (local mode): by default the
   * data plane's blob URL, `<proxyEndpoint>/v2/<name>/blobs/<digest>`, fetched with the caller's
   * registry credentials.
   */
  layerDownloadUrl?: (request: HttpRequest, repository: string, digest: string) => string | Promise<string>;
  /** InitiateLayerUpload's partSize. @default 20,971,520 (ECR's, also the largest part taken) */
  layerPartSize?: number;
  log?: Logger;
  now?: () => number;
}

/** What an action's `run` gets. */
export interface EcrActionContext {
  input: Record<string, unknown>;
  caller: EcrCaller;
  request: HttpRequest;
  options: EcrApiOptions;
  now: number;
  /**
   * Whether the caller may perform the action on one repository, by that repository's ARN and
   * policies (no error): listings across repositories use it to leave out the ones they may not see.
   */
  mayAccess(repository: string): Promise<boolean>;
}

export interface EcrActionDefinition {
  /** The IAM action the caller needs. */
  iamAction: EcrAction;
  /** The repository the action concerns (validated), for repository-scoped actions. */
  repository?: (input: Record<string, unknown>) => string | undefined;
  /**
   * For actions over several repositories (DescribeRepositories), instead of `repository`: the
   * named ones (validated), each authorized against its own ARN and policy, one refusal failing the
   * call; `undefined` for a listing, authorized against `repository/*` as ECR does.
   */
  repositories?: (input: Record<string, unknown>) => string[] | undefined;
  /**
   * Whose account a registry-scoped action is evaluated in: `caller` for GetAuthorizationToken (ECR
   * issues a login token to any principal its own account allows; what it may then pull or push is
   * decided per repository on the data path). @default 'registry'
   */
  evaluatedIn?: 'registry' | 'caller';
  /** How a member that breaks its pattern, length or range is answered. @default validationStyleOf(the action's name) */
  validation?: ValidationStyle;
  run(context: EcrActionContext): Promise<Record<string, unknown>>;
}

/**
 * ECR's classic actions: the ones whose API reference (and the SDK's model) lists no
 * ValidationException. A member breaking its pattern, length or range is InvalidParameterException
 * "Invalid parameter at '<member>' failed to satisfy constraint: '<constraint>'" there, as real ECR
 * answers (the messages its users quote); every other action keeps ValidationException.
 */
export const CLASSIC_VALIDATION_ACTIONS: ReadonlySet<string> = new Set([
  'BatchCheckLayerAvailability',
  'BatchDeleteImage',
  'BatchGetImage',
  'CompleteLayerUpload',
  'CreateRepository',
  'DeleteRepository',
  'DeleteRepositoryPolicy',
  'DescribeImages',
  'DescribeRepositories',
  'GetAuthorizationToken',
  'GetDownloadUrlForLayer',
  'GetRepositoryPolicy',
  'InitiateLayerUpload',
  'ListImages',
  'ListTagsForResource',
  'PutImage',
  'PutImageTagMutability',
  'SetRepositoryPolicy',
  'TagResource',
  'UntagResource',
  'UploadLayerPart',
]);

export function validationStyleOf(action: string | undefined): ValidationStyle {
  const declared = action !== undefined && Object.hasOwn(ECR_API_ACTIONS, action) ? ECR_API_ACTIONS[action].validation : undefined;
  return declared ?? (action !== undefined && CLASSIC_VALIDATION_ACTIONS.has(action) ? 'classic' : 'modern');
}

/** An error as the action answers it: a constraint violation in the action's validation style. */
function inStyleOf(action: string | undefined, err: unknown): unknown {
  return err instanceof ConstraintViolation && validationStyleOf(action) === 'classic' ? err.classic() : err;
}

// ---- input helpers ---------------------------------------------------------------------------

function policyTextOf(input: Record<string, unknown>, kind: 'repository' | 'registry'): string {
  const text = requiredString(input, 'policyText');
  try {
    parsePolicyDocument(text, kind);
  } catch (err) {
    if (err instanceof PolicyValidationError) {
      throw new EcrApiError('InvalidParameterException', `Invalid parameter at 'PolicyText' failed to satisfy constraint: '${err.message}'`);
    }
    throw err;
  }
  return text;
}

async function existingRepository(context: EcrActionContext): Promise<string> {
  const name = repositoryNameOf(context.input);
  if (!(await context.options.store.getRepository(name))) throw repositoryNotFound(name, context.options.registryAccount);
  return name;
}

// ---- the actions -----------------------------------------------------------------------------

export const ECR_API_ACTIONS: Record<string, EcrActionDefinition> = {
  GetAuthorizationToken: {
    iamAction: 'ecr:GetAuthorizationToken',
    evaluatedIn: 'caller',
    async run({ input, caller, request, options, now }) {
      // registryIds is deprecated in ECR ("the token is valid for all registries the principal can
      // access"); a value naming another registry is still refused here, as there is only one.
      const ids = optionalList(input, 'registryIds', 1, 10);
      for (const id of ids ?? []) {
        if (typeof id !== 'string') throw new EcrApiError('SerializationException', 'registryIds must be a list of strings');
        if (!/^[0-9]{12}$/.test(id)) throw validationError('registryIds', ids, constraints.eachPattern('[0-9]{12}'));
        checkRegistryId({ registryId: id }, options.registryAccount);
      }
      const { token, expiresAt } = await options.tokens.issueLogin({ arn: caller.principal.arn, account: caller.principal.account }, now);
      return {
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:${token}`, 'utf8').toString('base64'),
            // A timestamp in the JSON protocols is epoch seconds (a JSON number).
            expiresAt: expiresAt.getTime() / 1000,
            proxyEndpoint: options.proxyEndpoint(request),
          },
        ],
      };
    },
  },

  SetRepositoryPolicy: {
    iamAction: 'ecr:SetRepositoryPolicy',
    repository: repositoryNameOf,
    async run({ input, options }) {
      checkRegistryId(input, options.registryAccount);
      const repositoryName = repositoryNameOf(input);
      const policyText = policyTextOf(input, 'repository');
      if (!(await options.store.setRepositoryPolicy(repositoryName, policyText))) throw repositoryNotFound(repositoryName, options.registryAccount);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  GetRepositoryPolicy: {
    iamAction: 'ecr:GetRepositoryPolicy',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repositoryName = await existingRepository(context);
      const policyText = await options.store.getRepositoryPolicy(repositoryName);
      if (policyText === null) throw repositoryPolicyNotFound(repositoryName, options.registryAccount);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  DeleteRepositoryPolicy: {
    iamAction: 'ecr:DeleteRepositoryPolicy',
    repository: repositoryNameOf,
    async run(context) {
      const { input, options } = context;
      checkRegistryId(input, options.registryAccount);
      const repositoryName = await existingRepository(context);
      const policyText = await options.store.getRepositoryPolicy(repositoryName);
      if (policyText === null) throw repositoryPolicyNotFound(repositoryName, options.registryAccount);
      if (!(await options.store.setRepositoryPolicy(repositoryName, null))) throw repositoryNotFound(repositoryName, options.registryAccount);
      return { registryId: options.registryAccount, repositoryName, policyText };
    },
  },

  PutRegistryPolicy: {
    iamAction: 'ecr:PutRegistryPolicy',
    async run({ input, options }) {
      const policyText = policyTextOf(input, 'registry');
      await options.store.setRegistryPolicy(policyText);
      return { registryId: options.registryAccount, policyText };
    },
  },

  GetRegistryPolicy: {
    iamAction: 'ecr:GetRegistryPolicy',
    async run({ options }) {
      const policyText = await options.store.getRegistryPolicy();
      if (policyText === null) throw registryPolicyNotFound(options.registryAccount);
      return { registryId: options.registryAccount, policyText };
    },
  },

  DeleteRegistryPolicy: {
    iamAction: 'ecr:DeleteRegistryPolicy',
    async run({ options }) {
      const policyText = await options.store.getRegistryPolicy();
      if (policyText === null) throw registryPolicyNotFound(options.registryAccount);
      await options.store.setRegistryPolicy(null);
      return { registryId: options.registryAccount, policyText };
    },
  },

  // Repositories (ecr-actions/repositories.ts) and images (ecr-actions/images.ts).
  ...REPOSITORY_ACTIONS,
  ...IMAGE_ACTIONS,
  // Layers, PutImage, ListImageReferrers (ecr-actions/layers.ts); DescribeRegistry, creation templates, account settings (ecr-actions/registry.ts).
  ...LAYER_ACTIONS,
  ...REGISTRY_ACTIONS,
};

function repositoryPolicyNotFound(name: string, account: string): EcrApiError {
  return new EcrApiError(
    'RepositoryPolicyNotFoundException',
    `Repository policy does not exist for the repository with name '${name}' in the registry with id '${account}'`,
  );
}

function registryPolicyNotFound(account: string): EcrApiError {
  return new EcrApiError('RegistryPolicyNotFoundException', `Registry policy does not exist in the registry with id '${account}'`);
}

// ---- the endpoint ----------------------------------------------------------------------------

/** Whether a request is meant for the ECR JSON API (the router hands these over before /v2 authentication). */
export function isEcrApiRequest(request: HttpRequest): boolean {
  return request.method === 'POST' && request.path === '/' && request.headers['x-amz-target'] !== undefined;
}

export function createEcrApi(options: EcrApiOptions): (request: HttpRequest) => Promise<HttpResponse> {
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;

  return async function ecrApi(request: HttpRequest): Promise<HttpResponse> {
    const requestId = randomUUID();
    const target = request.headers['x-amz-target'] ?? '';
    const actionName = target.startsWith(ECR_TARGET_PREFIX) ? target.slice(ECR_TARGET_PREFIX.length) : undefined;
    try {
      const body = await readEcrBody(request, (actionName !== undefined && MAX_BODY_BYTES_OF[actionName]) || MAX_ECR_REQUEST_BYTES);
      // Authentication comes first: an unauthenticated caller learns nothing, not even which actions exist.
      const authenticated = await options.authenticate(request, body);
      if (!authenticated.ok) throw new EcrApiError(authenticated.code, authenticated.message, authenticated.status);
      const { caller } = authenticated;

      const definition = actionName !== undefined && Object.hasOwn(ECR_API_ACTIONS, actionName) ? ECR_API_ACTIONS[actionName] : undefined;
      if (!definition) throw new EcrApiError('UnknownOperationException', `Unknown operation ${target.slice(0, 200)}`);
      const input = parseInput(body);

      const at = now();
      const decide = (repository: string | undefined, identity?: IdentityInput) =>
        decision(definition.iamAction, repository, definition.evaluatedIn ?? 'registry', caller, request, options, log, identity);
      let listing: ActionDecision | undefined;
      if (definition.repositories) {
        const names = definition.repositories(input);
        if (names === undefined) listing = authorized(await decide(ALL_REPOSITORIES), caller);
        for (const name of names ?? []) authorized(await decide(name), caller);
      } else {
        authorized(await decide(definition.repository?.(input)), caller);
      }
      // A listing's caller was allowed `repository/*`: each repository's own policies may still deny
      // it. Its identity side is the listing's (one IAM simulation, not one per repository).
      const mayAccess = async (repository: string) => (await decide(repository, listing?.identity)).decision.decision === 'allow';
      const output = await definition.run({ input, caller, request, options, now: at, mayAccess });
      log.info('ecr api', { requestId, action: actionName, principal: caller.principal.arn, status: 200 });
      return amzJson(200, output, requestId);
    } catch (caught) {
      const err = inStyleOf(actionName, caught);
      if (err instanceof EcrApiError) {
        log.info('ecr api', { requestId, action: actionName ?? target.slice(0, 200), status: err.status, error: err.type });
        return amzJson(err.status, { ...err.fields, __type: err.type, message: err.message }, requestId, { 'x-amzn-ErrorType': err.type });
      }
      log.error('ecr api failed', { requestId, action: actionName, error: err });
      return amzJson(500, { __type: 'ServerException', message: 'An internal error occurred.' }, requestId, { 'x-amzn-ErrorType': 'ServerException' });
    }
  };
}

async function readEcrBody(request: HttpRequest, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > limit) throw new EcrApiError('SerializationException', `request body is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function parseInput(body: Uint8Array): Record<string, unknown> {
  const text = Buffer.from(body).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EcrApiError('SerializationException', 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EcrApiError('SerializationException', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Stands for every repository: a listing is authorized against `repository/*`, which no repository policy governs. */
const ALL_REPOSITORIES = '*';

interface ActionDecision {
  action: EcrAction;
  resourceArn: string;
  identity: IdentityInput;
  decision: Decision;
}

function authorized(decided: ActionDecision, caller: EcrCaller): ActionDecision {
  const { action, resourceArn, decision } = decided;
  if (decision.decision === 'deny') throw accessDenied(caller.principal.arn, action, resourceArn, decision);
  return decided;
}

async function decision(
  action: EcrAction,
  repository: string | undefined,
  evaluatedIn: 'registry' | 'caller',
  caller: EcrCaller,
  request: HttpRequest,
  options: EcrApiOptions,
  log: Logger,
  knownIdentity?: IdentityInput,
): Promise<ActionDecision> {
  const scope = ECR_ACTIONS[action].scope;
  const resourceArn = repository !== undefined ? resourceArnFor(action, options.region, options.registryAccount, repository) : '*';
  const inCallersAccount = evaluatedIn === 'caller';

  const resourcePolicies: NamedPolicy[] = [];
  if (!inCallersAccount) {
    const registryPolicy = await options.store.getRegistryPolicy();
    if (registryPolicy !== null) pushPolicy(resourcePolicies, 'registry', registryPolicy, 'registry', log);
    if (scope === 'repository' && repository !== undefined && repository !== ALL_REPOSITORIES) {
      const repositoryPolicy = await options.store.getRepositoryPolicy(repository);
      if (repositoryPolicy !== null) pushPolicy(resourcePolicies, `repository:${repository}`, repositoryPolicy, 'repository', log);
    }
  }
  const sourceIp = request.sourceIp?.replace(/^::ffff:/, '');
  const identity = knownIdentity ?? (await options.identityPolicies.identityInput(caller.principal, action, resourceArn, { sourceIp }));
  const decided = evaluate(
    { action, resourceArn, principal: caller.principal, context: sourceIp !== undefined ? { sourceIp } : undefined },
    {
      ...identity,
      resourcePolicies,
      registryAccount: inCallersAccount ? caller.principal.account : options.registryAccount,
    },
  );
  return { action, resourceArn, identity, decision: decided };
}

function pushPolicy(into: NamedPolicy[], name: string, text: string, kind: 'registry' | 'repository', log: Logger): void {
  try {
    into.push({ name, document: parsePolicyDocument(text, kind) });
  } catch (err) {
    // Stored policies were validated on the way in; one that no longer parses (a stricter parser) grants nothing.
    log.warn('stored policy no longer parses; ignored', { policy: name, error: err });
  }
}

function accessDenied(arn: string, action: string, resourceArn: string, decision: Decision): EcrApiError {
  const why =
    decision.reason === 'explicit-deny'
      ? decision.statement?.policy.startsWith('identity')
        ? ' with an explicit deny in an identity-based policy'
        : ' with an explicit deny in a resource-based policy'
      : ` because no identity-based policy allows the ${action} action`;
  return new EcrApiError('AccessDeniedException', `User: ${arn} is not authorized to perform: ${action} on resource: ${resourceArn}${why}`);
}

function amzJson(status: number, value: unknown, requestId: string, headers: Record<string, string> = {}): HttpResponse {
  const body = Buffer.from(JSON.stringify(value));
  return {
    status,
    headers: { 'Content-Type': AMZ_JSON_CONTENT_TYPE, 'Content-Length': String(body.length), 'x-amzn-RequestId': requestId, ...headers },
    body,
  };
}
