/**
 * The shapes an ECR action is written against: the endpoint's options, what an action's `run`
 * gets, and its definition (ecr-api.ts holds the table and the endpoint). A module of its own so
 * that the action modules and the endpoint import it, never each other.
 */
import type { EcrAction } from '../../contracts/ecr-actions';
import type { ControlPlaneOperations } from '../../core/control-plane';
import type { IdentityPolicySource } from '../../core/identity-policies';
import type { Logger } from '../../core/log';
import type { LifecycleRunReport } from '../../core/lifecycle/run';
import type { Principal } from '../../core/policy/evaluate';
import type { RegistryTokens } from '../../core/registry-tokens';
import type { HttpRequest } from '../types';

/**
 * How an action answers a member that breaks its pattern, length or range (docs/ecr-compatibility.md,
 * "Invalid input"): `classic` InvalidParameterException, `modern` ValidationException (common.ts).
 */
export type ValidationStyle = 'classic' | 'modern';

/** The caller of an ECR API action, as the transport established it (SigV4 locally, IAM on AWS). */
export interface EcrCaller {
  principal: Principal;
}

export type EcrAuthentication = { ok: true; caller: EcrCaller } | { ok: false; status: number; code: string; message: string };

/** How the deployment encrypts blobs: what every repository reports, and the only encryption CreateRepository accepts. */
export interface EcrEncryption {
  encryptionType: 'AES256' | 'KMS';
  /** The KMS key's ARN (encryptionType KMS). */
  kmsKey?: string;
}

export interface EcrApiOptions {
  /** The repository, image, policy and template operations (core/control-plane.ts). */
  operations: ControlPlaneOperations;
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
   * GetDownloadUrlForLayer's URL when the blob store has no redirect (local mode): by default the
   * data plane's blob URL, `<proxyEndpoint>/v2/<name>/blobs/<digest>`, fetched with the caller's
   * registry credentials.
   */
  layerDownloadUrl?: (request: HttpRequest, repository: string, digest: string) => string | Promise<string>;
  /** InitiateLayerUpload's partSize. @default 20,971,520 (ECR's, also the largest part taken) */
  layerPartSize?: number;
  /**
   * Where BerthReplicateBlob sends a blob larger than `fetchLimitBytes` instead of fetching it within
   * the request (AWS: API Gateway's 29 s): `open` starts an upload session as the data plane's
   * `POST /v2/<name>/blobs/uploads/` does and answers its Location on the ingest service, to which the
   * replicator sends the bytes. @default every blob is fetched (local mode has no request time limit)
   */
  replicationUploads?: { fetchLimitBytes: number; open(repository: string): Promise<string> };
  /**
   * Berth's on-demand lifecycle run (BerthRunLifecyclePolicy, `berth lifecycle run --endpoint`): local
   * mode's server runs it beside its timer (composition/local/local-lifecycle.ts).
   * @default none: the action answers UnknownOperationException
   */
  runLifecyclePolicies?: (request: {
    repository?: string;
    now?: Date;
    dryRun?: boolean;
    include?: (repository: string) => Promise<boolean>;
  }) => Promise<{ reports: LifecycleRunReport[]; failures: Array<{ repository: string; error: string }> }>;
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
  /**
   * Checks that the caller may also perform a second action on a repository (a replication that must
   * create it needs ecr:CreateRepository too), by that repository's ARN and policies as the action's
   * own check is made: AccessDeniedException otherwise.
   */
  authorize(action: EcrAction, repository: string): Promise<void>;
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
