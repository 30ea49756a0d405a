/**
 * The ECR JSON API (the control plane): `POST /` with
 * `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Action>` and a JSON body
 * (`application/x-amz-json-1.1`), answered in the AWS JSON 1.1 protocol so that the AWS CLI and
 * `@aws-sdk/client-ecr` work against it with `--endpoint-url` / `endpoint`.
 *
 * Errors are AWS JSON protocol errors, every one from the catalogue in ecr-errors.ts (name, status,
 * extra members, message); the core's refusals (RegistryError kinds, DomainErrors) are translated
 * there, once, when they leave an action. A member breaking its pattern, length or range is thrown
 * as a ConstraintViolation and answered in the action's validation style (CLASSIC_VALIDATION_ACTIONS:
 * InvalidParameterException "Invalid parameter at ..."; the others: ValidationException "1 validation
 * error detected: ..."). An unknown X-Amz-Target is UnknownOperationException.
 *
 * Actions live in a table (ECR_API_ACTIONS): each names the IAM action it needs, which repository it
 * concerns (for the resource ARN and the repository policy), and its work: AWS JSON validation, a call
 * into the core's operations (core/control-plane.ts) and the answer's shape.
 *
 * Who the caller is comes from an `authenticate` hook: local mode verifies SigV4 itself (service `ecr`),
 * the AWS handler takes the IAM principal API Gateway verified. Authorization is the policy engine:
 * the caller's identity policies (or a decision made elsewhere) with the registry and repository
 * policies as resource policies.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/log';
import { silentLogger } from '../core/log';
import { ECR_ACTIONS, resourceArnFor, type EcrAction } from '../contracts/ecr-actions';
import { evaluate, type Decision, type NamedPolicy } from '../core/policy/evaluate';
import type { IdentityInput } from '../core/identity-policies';
import { parsePolicyDocument } from '../core/policy/policy-document';
import { MAX_LAYER_PART_BYTES } from '../core/pushes';
import { BERTH_REPLICATE_IMAGE } from '../contracts/replication-actions';
import type { HttpRequest, HttpResponse } from './types';
import { checkRegistryId, constraints, ConstraintViolation, optionalList, serializationError, validationError } from './ecr-actions/common';
import type { EcrActionDefinition, EcrApiOptions, EcrCaller, ValidationStyle } from './ecr-actions/types';
import { authenticationError, EcrApiError, ecrError, ecrExceptionOf } from './ecr-errors';
import { POLICY_ACTIONS } from './ecr-actions/policies';
import { REPOSITORY_ACTIONS } from './ecr-actions/repositories';
import { IMAGE_ACTIONS } from './ecr-actions/images';
import { LAYER_ACTIONS } from './ecr-actions/layers';
import { REGISTRY_ACTIONS } from './ecr-actions/registry';
import { LIFECYCLE_ACTIONS } from './ecr-actions/lifecycle';
import { PULL_TIME_EXCLUSION_ACTIONS } from './ecr-actions/pull-time-exclusions';
import { REPLICATION_ACTIONS } from './ecr-actions/replication';
import { SCANNING_CONFIGURATION_ACTIONS } from './ecr-actions/scanning-configuration';
import { IMAGE_SCAN_ACTIONS } from './ecr-actions/image-scans';
import { BERTH_LIFECYCLE_ACTIONS } from './ecr-actions/berth-lifecycle';
import { REPLICATE_ACTIONS } from './ecr-actions/replicate';

export { EcrApiError } from './ecr-errors';
export type { EcrActionContext, EcrActionDefinition, EcrApiOptions, EcrAuthentication, EcrCaller, EcrEncryption } from './ecr-actions/types';

export const ECR_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';
export const AMZ_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** Largest request body the endpoint reads: policies are at most 10,240 characters (JSON-escaped inside the body). */
export const MAX_ECR_REQUEST_BYTES = 256 * 1024;
/** Except for the actions that carry content: a layer part (base64) and a manifest (JSON-escaped, 4 MiB at most). */
const MAX_BODY_BYTES_OF: Record<string, number> = {
  UploadLayerPart: Math.ceil(MAX_LAYER_PART_BYTES / 3) * 4 + 64 * 1024,
  PutImage: 9 * 1024 * 1024,
  [BERTH_REPLICATE_IMAGE]: 9 * 1024 * 1024,
};

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
        if (typeof id !== 'string') throw serializationError('registryIds must be a list of strings');
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

  // Policies (ecr-actions/policies.ts), repositories (ecr-actions/repositories.ts) and images (ecr-actions/images.ts).
  ...POLICY_ACTIONS,
  ...REPOSITORY_ACTIONS,
  ...IMAGE_ACTIONS,
  // Layers, PutImage, ListImageReferrers (ecr-actions/layers.ts); DescribeRegistry, creation templates, account settings (ecr-actions/registry.ts).
  ...LAYER_ACTIONS,
  ...REGISTRY_ACTIONS,
  ...LIFECYCLE_ACTIONS,
  ...PULL_TIME_EXCLUSION_ACTIONS,
  // PutReplicationConfiguration, DescribeImageReplicationStatus (ecr-actions/replication.ts).
  ...REPLICATION_ACTIONS,
  // Put/GetRegistryScanningConfiguration, BatchGetRepositoryScanningConfiguration (ecr-actions/scanning-configuration.ts).
  ...SCANNING_CONFIGURATION_ACTIONS,
  // StartImageScan, DescribeImageScanFindings (ecr-actions/image-scans.ts); DescribeImages' scan members are shaped there too.
  ...IMAGE_SCAN_ACTIONS,
  // Berth's own: BerthRunLifecyclePolicy (berth lifecycle run --endpoint), where the deployment runs it (ecr-actions/berth-lifecycle.ts).
  ...BERTH_LIFECYCLE_ACTIONS,
  // Berth's own: BerthReplicateBlob, BerthReplicateImage, BerthReplicateDelete, a replication source's calls (ecr-actions/replicate.ts).
  ...REPLICATE_ACTIONS,
};

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
    let input: Record<string, unknown> = {};
    try {
      const body = await readEcrBody(request, (actionName !== undefined && MAX_BODY_BYTES_OF[actionName]) || MAX_ECR_REQUEST_BYTES);
      // Authentication comes first: an unauthenticated caller learns nothing, not even which actions exist.
      const authenticated = await options.authenticate(request, body);
      if (!authenticated.ok) throw authenticationError(authenticated);
      const { caller } = authenticated;

      const definition = actionName !== undefined && Object.hasOwn(ECR_API_ACTIONS, actionName) ? ECR_API_ACTIONS[actionName] : undefined;
      if (!definition) throw ecrError('UnknownOperationException', { target: target.slice(0, 200) });
      input = parseInput(body);

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
      const authorize = async (action: EcrAction, repository: string) => {
        authorized(await decision(action, repository, 'registry', caller, request, options, log), caller);
      };
      const output = await definition.run({ input, caller, request, options, now: at, mayAccess, authorize });
      log.info('ecr api', { requestId, action: actionName, principal: caller.principal.arn, status: 200 });
      return amzJson(200, output, requestId);
    } catch (caught) {
      const err = inStyleOf(actionName, ecrExceptionOf(caught, { action: actionName, input, account: options.registryAccount }));
      if (err instanceof EcrApiError) {
        log.info('ecr api', { requestId, action: actionName ?? target.slice(0, 200), status: err.status, error: err.type });
        return amzJson(err.status, { ...err.fields, __type: err.type, message: err.message }, requestId, { 'x-amzn-ErrorType': err.type });
      }
      log.error('ecr api failed', { requestId, action: actionName, error: err });
      const internal = ecrError('ServerException', {});
      return amzJson(internal.status, { __type: internal.type, message: internal.message }, requestId, { 'x-amzn-ErrorType': internal.type });
    }
  };
}

async function readEcrBody(request: HttpRequest, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > limit) throw serializationError(`request body is larger than ${limit} bytes`);
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
    throw serializationError('the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw serializationError('the request body must be a JSON object');
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
    const registryPolicy = await options.operations.policies.findRegistryPolicy();
    if (registryPolicy !== null) pushPolicy(resourcePolicies, 'registry', registryPolicy, 'registry', log);
    if (scope === 'repository' && repository !== undefined && repository !== ALL_REPOSITORIES) {
      const repositoryPolicy = await options.operations.policies.findRepositoryPolicy(repository);
      if (repositoryPolicy !== null) pushPolicy(resourcePolicies, `repository:${repository}`, repositoryPolicy, 'repository', log);
    }
  }
  const sourceIp = request.sourceIp?.replace(/^::ffff:/, '');
  const identity = knownIdentity ?? (await options.identityPolicies.identityInput(caller.principal, action, resourceArn, { sourceIp }));
  if (inCallersAccount && caller.principal.account !== options.registryAccount && identity.identityPolicies === undefined && identity.identityDecision === undefined) {
    // Another account's principal whose identity policies only its own account can read: that account
    // let it call this API (API Gateway checked its execute-api:Invoke, cross-account, on both sides).
    // ECR issues a login token to any principal its own account allows; what the token may then
    // pull or push is decided per repository, by this registry's policies, on the data path.
    return { action, resourceArn, identity, decision: { decision: 'allow', reason: 'allowed-by-identity' } };
  }
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
  return ecrError('AccessDeniedException', { arn, action, resource: resourceArn, why });
}

function amzJson(status: number, value: unknown, requestId: string, headers: Record<string, string> = {}): HttpResponse {
  const body = Buffer.from(JSON.stringify(value));
  return {
    status,
    headers: { 'Content-Type': AMZ_JSON_CONTENT_TYPE, 'Content-Length': String(body.length), 'x-amzn-RequestId': requestId, ...headers },
    body,
  };
}
