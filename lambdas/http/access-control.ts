/**
 * Authorization of data-plane requests, ECR's way: each OCI endpoint needs ECR actions on
 * its repository (lambdas/contracts/oci-routes.ts), and evaluate() decides over the registry
 * policy, the repository policy, the caller's identity policies (an IdentityPolicySource)
 * and, for Bearer tokens, the token's scopes.
 *
 * - Denied: an anonymous caller gets 401 with the challenge (so clients log in), an
 *   identified one 403 DENIED. Allowed by policy but outside a Bearer token's scopes: 401
 *   with `error="insufficient_scope"`, so the client fetches a token that covers it.
 * - Allowed anonymous requests (a public repository) are rate-limited per client address.
 * - Cross-repository mounts: `canPull` (handed to the Registry) checks the caller's pull
 *   permission on the source, through the request context kept in AsyncLocalStorage.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { RegistryError } from '../core/errors';
import { silentLogger, type Logger } from '../core/log';
import { isValidRepositoryName } from '../core/names';
import { evaluate, type Decision, type NamedPolicy, type Principal } from '../core/policy/evaluate';
import { resourceArnFor, type EcrAction } from '../contracts/ecr-actions';
import { permissionFor, type OciRouteKind } from '../contracts/oci-routes';
import { parsePolicyDocument } from '../core/policy/policy-document';
import type { IdentityPolicySource } from '../core/identity-policies';
import { TokenBuckets, type RateLimit } from '../core/rate-limit';
import type { RepositoryAccess } from '../core/registry-tokens';
import type { MetadataStore } from '../storage/ports';
import type { Identity } from './auth';
import type { ChallengeScope } from './registry-auth';
import type { HttpRequest } from './types';

/** The access-token entry that lets the bearer list the catalog (the Docker scope `registry:catalog:*`). */
export const CATALOG_ACCESS = 'registry:catalog';

/**
 * Which token-flow actions (`pull`, `push`, `delete`) cover each ECR action a data-plane
 * endpoint needs. Checking layer availability is part of pulling and of pushing (ECR lists
 * it with both), so a push-only token may HEAD blobs.
 */
const TOKEN_ACTIONS_FOR: Partial<Record<EcrAction, readonly ('pull' | 'push' | 'delete')[]>> = {
  'ecr:BatchGetImage': ['pull'],
  'ecr:GetDownloadUrlForLayer': ['pull'],
  'ecr:BatchCheckLayerAvailability': ['pull', 'push'],
  'ecr:ListImages': ['pull'],
  'ecr:DescribeImages': ['pull'],
  'ecr:DescribeRepositories': ['pull'],
  'ecr:InitiateLayerUpload': ['push'],
  'ecr:UploadLayerPart': ['push'],
  'ecr:CompleteLayerUpload': ['push'],
  'ecr:PutImage': ['push'],
  'ecr:BatchDeleteImage': ['delete'],
};

/** What the token endpoint grants for each requested token-flow action: any of these ECR actions allowed. */
const GRANT_NEEDS: Record<'pull' | 'push' | 'delete', EcrAction[]> = {
  pull: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
  push: ['ecr:InitiateLayerUpload', 'ecr:PutImage'],
  delete: ['ecr:BatchDeleteImage'],
};

/** Default limit of anonymous requests per client address: a burst of 300 (a few pulls), then 5 a second. */
export const DEFAULT_ANONYMOUS_RATE_LIMIT: RateLimit = { burst: 300, perSecond: 5 };

export interface AccessControlOptions {
  /** Where repository and registry policies are kept (their JSON text). */
  metadata: Pick<MetadataStore, 'getRepositoryPolicy' | 'getRegistryPolicy'>;
  /** The account that owns the registry. */
  registryAccount: string;
  /** The region of repository ARNs. */
  region: string;
  identityPolicies: IdentityPolicySource;
  /** Builds the `WWW-Authenticate` value of a 401 (RegistryTokenAuthenticator.challengeFor). */
  challenge: (request: HttpRequest, scope?: ChallengeScope, error?: 'insufficient_scope') => string;
  /** Anonymous requests per client address; false turns the limit off. @default DEFAULT_ANONYMOUS_RATE_LIMIT */
  anonymousRateLimit?: RateLimit | false;
  /** How long parsed policies are kept in memory. @default 5 s */
  policyCacheMs?: number;
  /** Whether another account's identity policies, which cannot be read here, are assumed to allow. @default true */
  crossAccountIdentityAllowed?: boolean;
  log?: Logger;
  now?: () => number;
}

interface RequestContext {
  request: HttpRequest;
  /** The repository the request addresses, once the route is known. */
  repository?: string;
}

type CachedPolicy = { policy: NamedPolicy | null; until: number };

const MAX_CACHED_POLICIES = 10_000;
const DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Sid":"UnreadableStoredPolicy","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}';

export class AccessControl {
  private readonly context = new AsyncLocalStorage<RequestContext>();
  private readonly policies = new Map<string, CachedPolicy>();
  private readonly buckets: TokenBuckets | undefined;
  private readonly policyCacheMs: number;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: AccessControlOptions) {
    const limit = options.anonymousRateLimit ?? DEFAULT_ANONYMOUS_RATE_LIMIT;
    this.buckets = limit === false ? undefined : new TokenBuckets(limit, { now: options.now });
    this.policyCacheMs = options.policyCacheMs ?? 5_000;
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /** Runs a request's handling with its context, which `canPull` reads. */
  run<T>(request: HttpRequest, work: () => Promise<T>): Promise<T> {
    return this.context.run({ request }, work);
  }

  /**
   * For RegistryOptions.canPull: whether the current caller may mount from `source`, that is
   * read its layers (GetDownloadUrlForLayer, and a Bearer token's pull scope) and complete an
   * upload in the request's repository. Outside a request: no.
   */
  readonly canPull = async (source: string): Promise<boolean> => {
    const context = this.context.getStore();
    const identity = context?.request.identity;
    if (!context || !identity || context.repository === undefined) return false;
    const sourceIp = context.request.sourceIp;
    const principal = principalOf(identity);
    if (!tokenCovers(identity, source, 'ecr:GetDownloadUrlForLayer') || !tokenCovers(identity, context.repository, 'ecr:CompleteLayerUpload')) return false;
    const read = await this.decide(principal, 'ecr:GetDownloadUrlForLayer', source, sourceIp);
    if (read.decision !== 'allow') return false;
    return (await this.decide(principal, 'ecr:CompleteLayerUpload', context.repository, sourceIp)).decision === 'allow';
  };

  /** Decides one action on one repository for a principal (null: anonymous). */
  async decide(principal: Principal | null, action: EcrAction, repository: string, sourceIp?: string): Promise<Decision> {
    const { region, registryAccount } = this.options;
    const resourceArn = resourceArnFor(action, region, registryAccount, repository);
    const resourcePolicies = (await Promise.all([this.policy('registry'), this.policy(repository)])).filter((p): p is NamedPolicy => p !== null);
    const identityInput = principal ? await this.options.identityPolicies.identityInput(principal, action, resourceArn, { sourceIp }) : {};
    return evaluate(
      { action, resourceArn, principal, context: { sourceIp } },
      { ...identityInput, resourcePolicies, registryAccount, crossAccountIdentityAllowed: this.options.crossAccountIdentityAllowed },
    );
  }

  /**
   * Throws the refusal of a request on a route, or returns when it may go on. `params.name`
   * is the repository of repository routes.
   */
  async authorize(request: HttpRequest, kind: OciRouteKind, params: Record<string, string>): Promise<void> {
    const identity = request.identity;
    if (!identity) throw this.unauthorized(request);
    if (identity.expiresAt !== undefined && identity.expiresAt * 1000 <= this.now()) throw this.unauthorized(request);
    const anonymous = identity.principal === undefined;

    if (kind === 'base') {
      // Authentication only: an anonymous request learns how to log in; a token (even an anonymous one) is enough.
      if (identity.method === 'anonymous') throw this.unauthorized(request);
      return;
    }
    if (kind === 'catalog' || kind === 'stats') {
      if (identity.method === 'anonymous') throw this.unauthorized(request);
      // Stats of one repository: that one must be describable (whether it exists is not told otherwise).
      const repository = kind === 'stats' ? request.query.get('repository') : null;
      if (repository !== null && isValidRepositoryName(repository) && (await this.filterCatalog(request, [repository])).length === 0) {
        this.log.info('access denied', { principal: identity.subject, action: 'ecr:DescribeRepositories', repository });
        throw new RegistryError('DENIED', `${identity.subject} is not authorized to perform ecr:DescribeRepositories on repository ${repository}`);
      }
      return; // filtered per repository: filterCatalog
    }

    const name = params.name;
    // The query makes a POST to uploads/ a mount or a monolithic upload, as the router handles it.
    const entry = permissionFor(request.method, kind, request.query);
    if (!entry || name === undefined) return; // a method the route does not serve: the router answers 405
    const context = this.context.getStore();
    if (context) context.repository = name;
    // A mount that cannot be used is a plain upload start: that is all it needs here; canPull checks the rest.
    const actions = entry.variant === 'mount' ? permissionFor(request.method, kind)!.actions : entry.actions;
    const scope = challengeScopeFor(name, actions);

    const principal = principalOf(identity);
    for (const action of actions) {
      const decision = await this.decide(principal, action, name, request.sourceIp);
      if (decision.decision === 'allow') continue;
      if (anonymous) throw this.unauthorized(request, scope, identity.method === 'access-token' ? 'insufficient_scope' : undefined);
      this.log.info('access denied', { principal: identity.subject, action, repository: name, reason: decision.reason });
      throw new RegistryError('DENIED', `${identity.subject} is not authorized to perform ${action} on repository ${name}`);
    }
    for (const action of actions) {
      if (!tokenCovers(identity, name, action)) throw this.unauthorized(request, scope, 'insufficient_scope');
    }
    if (anonymous && this.buckets) {
      const wait = this.buckets.take(request.sourceIp ?? 'unknown');
      if (wait > 0) {
        throw new RegistryError('TOOMANYREQUESTS', `too many anonymous requests from this address: retry in ${wait} s, or log in`, undefined, {
          'Retry-After': String(wait),
        });
      }
    }
  }

  /** The repositories of a catalog page the caller may describe (and, with a token, whose scopes cover them). */
  async filterCatalog(request: HttpRequest, names: string[]): Promise<string[]> {
    const identity = request.identity;
    if (!identity) return [];
    const principal = principalOf(identity);
    const catalogToken = identity.access?.some((entry) => entry.name === CATALOG_ACCESS);
    const visible: string[] = [];
    for (const name of names) {
      if (identity.access && !catalogToken && !tokenCovers(identity, name, 'ecr:DescribeRepositories')) continue;
      if ((await this.decide(principal, 'ecr:DescribeRepositories', name, request.sourceIp)).decision === 'allow') visible.push(name);
    }
    return visible;
  }

  /**
   * What the token endpoint grants: the requested scopes intersected with what the policies
   * allow. Scopes on invalid names and unknown actions are dropped; an empty grant is still a grant.
   */
  async grant(principal: Principal | null, requested: RepositoryAccess[], sourceIp?: string): Promise<RepositoryAccess[]> {
    const granted: RepositoryAccess[] = [];
    for (const { name, actions } of requested) {
      if (name === CATALOG_ACCESS) {
        granted.push({ name, actions: ['*'] });
        continue;
      }
      if (!isValidRepositoryName(name)) continue;
      const wanted = new Set<'pull' | 'push' | 'delete'>();
      for (const action of actions) {
        if (action === '*') ['pull', 'push', 'delete'].forEach((a) => wanted.add(a as 'pull' | 'push' | 'delete'));
        else if (action === 'pull' || action === 'push' || action === 'delete') wanted.add(action);
      }
      const allowed: RepositoryAccess['actions'] = [];
      for (const action of ['pull', 'push', 'delete'] as const) {
        if (!wanted.has(action)) continue;
        for (const ecrAction of GRANT_NEEDS[action]) {
          if ((await this.decide(principal, ecrAction, name, sourceIp)).decision === 'allow') {
            allowed.push(action);
            break;
          }
        }
      }
      if (allowed.length > 0) granted.push({ name, actions: allowed });
    }
    return granted;
  }

  /** Forgets cached policies (all, or one repository's), after the control plane changed them. */
  invalidatePolicies(repository?: string): void {
    if (repository === undefined) this.policies.clear();
    else this.policies.delete(repository);
  }

  private unauthorized(request: HttpRequest, scope?: ChallengeScope, error?: 'insufficient_scope'): RegistryError {
    return new RegistryError('UNAUTHORIZED', undefined, undefined, { 'WWW-Authenticate': this.options.challenge(request, scope, error) });
  }

  /** The registry policy (key `registry`) or a repository's, parsed and cached briefly; an unreadable stored policy denies everything. */
  private async policy(key: string): Promise<NamedPolicy | null> {
    const now = this.now();
    const cached = this.policies.get(key);
    if (cached && cached.until > now) return cached.policy;
    const isRegistry = key === 'registry';
    const text = isRegistry ? await this.options.metadata.getRegistryPolicy() : isValidRepositoryName(key) ? await this.options.metadata.getRepositoryPolicy(key) : null;
    let policy: NamedPolicy | null = null;
    if (text !== null) {
      const name = isRegistry ? 'registry' : `repository:${key}`;
      try {
        policy = { name, document: parsePolicyDocument(text, isRegistry ? 'registry' : 'repository') };
      } catch (error) {
        // Stored policies were validated when set; one that no longer parses fails closed.
        this.log.error('stored policy does not parse: denying every request it governs', { policy: name, error: (error as Error).message });
        policy = { name, document: parsePolicyDocument(DENY_ALL, 'repository') };
      }
    }
    if (this.policyCacheMs > 0) {
      if (this.policies.size >= MAX_CACHED_POLICIES) this.policies.delete(this.policies.keys().next().value!);
      this.policies.set(key, { policy, until: now + this.policyCacheMs });
    }
    return policy;
  }
}

function principalOf(identity: Identity): Principal | null {
  return identity.principal ? { arn: identity.principal.arn, account: identity.principal.account } : null;
}

/** Whether a Bearer token's scopes cover an ECR action on a repository; identities without scopes are covered. */
function tokenCovers(identity: Identity, repository: string, action: EcrAction): boolean {
  if (!identity.access) return true;
  const covering = TOKEN_ACTIONS_FOR[action] ?? [];
  return identity.access.some((entry) => entry.name === repository && (entry.actions.includes('*') || covering.some((a) => entry.actions.includes(a))));
}

/** The scope a 401 names, as docker expects it: pull for reads, pull,push for writes. */
function challengeScopeFor(name: string, actions: readonly EcrAction[]): ChallengeScope {
  const kinds = new Set(actions.map((a) => TOKEN_ACTIONS_FOR[a]?.[0]));
  if (kinds.has('delete')) return { name, actions: ['delete'] };
  if (kinds.has('push')) return { name, actions: ['pull', 'push'] };
  return { name, actions: ['pull'] };
}
