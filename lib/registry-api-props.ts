/** The props of {@link RegistryApi} and their validation. */
import { type Duration, type RemovalPolicy, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { MAX_AUTHORIZER_CACHE_TTL_SECONDS } from '../lambdas/contracts/api-gateway';
import type { RegistryStorage } from './registry-storage';

/** Properties of {@link RegistryApi}. */
export interface RegistryApiProps {
  /** The table and bucket the handler works on. */
  readonly storage: RegistryStorage;

  /**
   * API Gateway endpoint type: `REGIONAL` (public, fronted by CloudFront or a custom domain) or
   * `PRIVATE` (reachable only through {@link vpcEndpoint}, ECR's PrivateLink equivalent; on
   * `RegistryStack`: `vpcEndpointId`, and for now `ingest: false`).
   *
   * @default apigateway.EndpointType.REGIONAL
   */
  readonly endpointType?: apigateway.EndpointType;

  /**
   * The `execute-api` interface VPC endpoint a `PRIVATE` API accepts calls from. Required with
   * `endpointType: PRIVATE`, not allowed otherwise.
   *
   * @default - none (REGIONAL endpoint)
   */
  readonly vpcEndpoint?: ec2.IInterfaceVpcEndpoint;

  /**
   * Stage name. It is the CloudFront origin path, so it must be a plain name known at synth time.
   *
   * @default 'registry'
   */
  readonly stageName?: string;

  /**
   * The `WWW-Authenticate` challenge of every 401, sent by the UNAUTHORIZED gateway response (API
   * Gateway renames a `WWW-Authenticate` header that the handler returns):
   * - `bearer`: `Bearer realm="https://<registry host>/v2/token",service="<registry host>"`, the
   *   Docker token flow; the only challenge with which docker pulls a public repository without
   *   login, and `docker login` works with it too;
   * - `basic`: `Basic realm="<registry host>"`, as ECR presents it.
   *
   * @default 'bearer'
   */
  readonly challenge?: 'bearer' | 'basic';

  /**
   * Whether repositories whose policy allows `Principal: "*"` may be pulled without credentials.
   * It changes the authorizer: without an identity source (API Gateway refuses a request without
   * the identity source's header before the authorizer runs, so an anonymous pull could never reach
   * it) and therefore without a result cache (one authorizer invocation per request); the authorizer
   * reads repository policies from the table (`dynamodb:GetItem`, cached for 10 s per container).
   *
   * @default false
   */
  readonly publicRepositories?: boolean;

  /**
   * How long API Gateway caches the authorizer's answer for one `Authorization` value (only
   * without {@link publicRepositories}, which turns the cache off). Short, because a cached Allow
   * outlives a revoked credential by up to this long; the handler re-checks each token's expiry
   * (`expiresAt` in the authorizer's context) on every request, so the cache never extends a token.
   * Not zero, because docker sends the same credentials on every request of a pull. At most 5 minutes.
   *
   * @default Duration.seconds(60)
   */
  readonly authorizerCacheTtl?: Duration;

  /**
   * The asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY) that signs login and access
   * tokens. The API function may Sign and GetPublicKey with it, the authorizer GetPublicKey only.
   *
   * @default - a key created by this construct, retained when the stack is deleted ({@link tokenKeyRemovalPolicy})
   */
  readonly tokenSigningKey?: kms.IKey;

  /**
   * Removal policy of the token-signing key this construct creates. Deleting it invalidates every
   * login token in circulation (and KMS waits 7 to 30 days before it is gone).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly tokenKeyRemovalPolicy?: RemovalPolicy;

  /**
   * Lifetime of the presigned S3 URLs a blob GET redirects to. Between 1 second and 12 hours
   * (a URL signed with the function's role credentials stops working when they expire anyway).
   *
   * @default Duration.minutes(5)
   */
  readonly presignTtl?: Duration;

  /**
   * Whether a push may create a repository that does not exist yet (what registry users expect).
   * `false` makes CreateRepository or a matching CREATE_ON_PUSH creation template the only ways,
   * as in ECR, whatever the registry's `BERTH_CREATE_ON_PUSH` account setting says.
   *
   * @default true
   */
  readonly createOnPush?: boolean;

  /**
   * Custom domain of the registry (e.g. `registry.example.com`). With it, the API is mapped at the
   * root of that domain and no CloudFront distribution is created. Requires {@link certificate}
   * (on `RegistryStack`: `certificateArn`, and a DNS record pointing at its `RegistryDomainTarget`
   * output).
   *
   * @default - the registry is served through a CloudFront distribution's default domain
   */
  readonly domainName?: string;

  /**
   * ACM certificate for {@link domainName}, in the stack's region. Required with `domainName`.
   *
   * @default - none
   */
  readonly certificate?: acm.ICertificate;

  /**
   * Bucket for CloudFront access logs (must allow ACLs, as CloudFront standard logging needs them).
   *
   * @default - no CloudFront access logs
   */
  readonly accessLogsBucket?: s3.IBucket;

  /**
   * Retention of the functions' and the stage's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Checks the props of {@link RegistryApi} with their resolved defaults, and throws one error that
 * lists every problem.
 *
 * @param props the props as given
 * @param v the values the construct resolved from them
 */
export function validateRegistryApiProps(
  props: RegistryApiProps,
  v: { endpointType: apigateway.EndpointType; stageName: string; challenge: string; cacheTtl: Duration; presignTtl: Duration },
): void {
  const errors: string[] = [];
  if (v.endpointType !== apigateway.EndpointType.REGIONAL && v.endpointType !== apigateway.EndpointType.PRIVATE) {
    errors.push(`endpointType must be REGIONAL or PRIVATE, got ${v.endpointType}: an EDGE API already sits behind CloudFront, which changes the host IAM signatures cover.`);
  }
  if (v.endpointType === apigateway.EndpointType.PRIVATE && !props.vpcEndpoint) {
    errors.push('endpointType PRIVATE needs vpcEndpoint: pass the execute-api interface VPC endpoint that may call the registry.');
  }
  if (v.endpointType !== apigateway.EndpointType.PRIVATE && props.vpcEndpoint) {
    errors.push('vpcEndpoint is only used with endpointType PRIVATE: set endpointType: EndpointType.PRIVATE or drop vpcEndpoint.');
  }
  if (v.endpointType === apigateway.EndpointType.PRIVATE && props.domainName) {
    errors.push('a custom domainName is not supported with a PRIVATE endpoint yet: drop domainName, or use endpointType REGIONAL.');
  }
  if (Boolean(props.domainName) !== Boolean(props.certificate)) {
    errors.push('domainName and certificate go together: pass both (an ACM certificate in this region that covers the domain) or neither.');
  }
  if (Token.isUnresolved(v.stageName) || !/^[A-Za-z0-9_]{1,128}$/.test(v.stageName)) {
    errors.push(`stageName must be a literal of letters, digits and underscores (it becomes the CloudFront origin path), got "${v.stageName}".`);
  }
  if (v.challenge !== 'bearer' && v.challenge !== 'basic') {
    errors.push(`challenge must be 'bearer' or 'basic', got ${JSON.stringify(v.challenge)}.`);
  }
  if (props.publicRepositories && props.authorizerCacheTtl !== undefined && props.authorizerCacheTtl.toSeconds() !== 0) {
    errors.push('authorizerCacheTtl cannot be set with publicRepositories: the authorizer then has no identity source, and API Gateway caches nothing without one.');
  }
  const ttl = v.cacheTtl.toSeconds();
  if (ttl < 0 || ttl > MAX_AUTHORIZER_CACHE_TTL_SECONDS) {
    errors.push(`authorizerCacheTtl must be between 0 and ${MAX_AUTHORIZER_CACHE_TTL_SECONDS} seconds: a cached Allow outlives a revoked credential by that long; got ${ttl} s.`);
  }
  const presign = v.presignTtl.toSeconds();
  if (presign < 1 || presign > 12 * 3600) {
    errors.push(`presignTtl must be between 1 second and 12 hours, got ${presign} s: a presigned URL dies with the credentials that signed it.`);
  }
  if (errors.length > 0) throw new Error(`RegistryApi: invalid props\n- ${errors.join('\n- ')}`);
}
