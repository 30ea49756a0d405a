import * as path from 'node:path';
import { Aws, Duration, Fn, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { VERSION_CHECK_HEADERS } from '../lambdas/http/render';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { RegistryStorage } from './registry-storage';

/** The project root: NodejsFunction entries, the lock file and esbuild's working directory. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
/** The registry handler's entry point, relative to the project root. It exports `handler`. */
export const REGISTRY_HANDLER_ENTRY = 'lambdas/handlers/registry-api.ts';
/** The authorizer's entry point, relative to the project root. It exports `handler`. */
export const AUTHORIZER_ENTRY = 'lambdas/handlers/authorizer.ts';

/** Placeholder in a challenge template, replaced by the registry's public host name. */
export const REGISTRY_HOST_PLACEHOLDER = '{registryHost}';

/**
 * The `WWW-Authenticate` value of each challenge scheme, with the host as a placeholder. Bearer
 * sends docker, podman and containerd to the token endpoint (`/v2/token`, served by the handler);
 * Basic is what ECR presents (clients then send `AWS:<login token>` on every request).
 */
export const CHALLENGE_TEMPLATES = {
  bearer: `Bearer realm="https://${REGISTRY_HOST_PLACEHOLDER}/v2/token",service="${REGISTRY_HOST_PLACEHOLDER}"`,
  basic: `Basic realm="${REGISTRY_HOST_PLACEHOLDER}"`,
} as const;

/** The IAM actions the registry handler may call on the token-signing key (and nothing else on it). */
export const TOKEN_KEY_API_ACTIONS = ['kms:Sign', 'kms:GetPublicKey'];
/** The IAM actions the authorizer may call on the token-signing key (and nothing else on it). */
export const TOKEN_KEY_AUTHORIZER_ACTIONS = ['kms:GetPublicKey'];

/** The action API Gateway's IAM authorization checks on the control plane's method (`POST /`). */
export const CONTROL_PLANE_INVOKE_ACTIONS = ['execute-api:Invoke'];

/**
 * The CloudFront path pattern of the requests that carry upload bytes, for the ingest behaviour.
 * `?*` (at least one character) keeps `POST /v2/<name>/blobs/uploads/` (which starts an upload
 * and must be authenticated by the API) on the API; what follows the slash is an upload id.
 */
export const UPLOAD_PATH_PATTERN = '/v2/*/blobs/uploads/?*';

const OCI_UNAUTHORIZED_BODY = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}';
const OCI_DENIED_BODY = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}';

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
 * The registry's front door: a REST API (`/v2/*` behind a REQUEST Lambda authorizer, `POST /` for
 * the ECR JSON control plane behind IAM), the handler and authorizer functions, the gateway
 * responses that carry docker's `WWW-Authenticate` challenge, and either a custom domain mapped at
 * the root or a CloudFront distribution in front of the stage (so `/v2/` sits at the root of a host).
 */
export class RegistryApi extends Construct {
  /** The REST API: `/v2/*` behind the REQUEST authorizer, `/v2/token` open, `POST /` behind IAM. */
  public readonly api: apigateway.RestApi;
  /** The function that serves the OCI Distribution API and the ECR control plane. */
  public readonly registryHandler: nodejs.NodejsFunction;
  /** The REQUEST authorizer's function (checks login and access tokens on `/v2`). */
  public readonly authorizerHandler: nodejs.NodejsFunction;
  /** The key that signs login and access tokens. */
  public readonly tokenSigningKey: kms.IKey;
  /** Whether anonymous pulls of public repositories are possible (the authorizer has no identity source). */
  public readonly publicRepositories: boolean;
  /** HMAC key of the upload tokens; the ingest service verifies with the same key. */
  public readonly uploadTokenSecret: secretsmanager.Secret;
  /** The CloudFront distribution, when there is no custom domain. */
  public readonly distribution?: cloudfront.Distribution;
  /** The API Gateway custom domain, when there is one. */
  public readonly customDomain?: apigateway.DomainName;
  /** Host name docker uses (`docker login <registryHost>`). */
  public readonly registryHost: string;
  /** `https://<registryHost>`. */
  public readonly registryEndpoint: string;
  /** Where IAM-signed ECR calls go: the custom domain or the API's own URL, never CloudFront. */
  public readonly controlPlaneEndpoint: string;
  /**
   * The ARN of the control plane's method, `POST /` on the stage
   * (`arn:<partition>:execute-api:<region>:<account>:<rest-api-id>/<stage>/POST/`): what
   * `execute-api:Invoke` must allow for a call to {@link controlPlaneEndpoint}.
   */
  public readonly controlPlaneMethodArn: string;
  /** The API Gateway stage (also the CloudFront origin path). */
  public readonly stageName: string;

  constructor(scope: Construct, id: string, props: RegistryApiProps) {
    super(scope, id);
    const endpointType = props.endpointType ?? apigateway.EndpointType.REGIONAL;
    const stageName = props.stageName ?? 'registry';
    const challenge = props.challenge ?? 'bearer';
    const publicRepositories = props.publicRepositories ?? false;
    const cacheTtl = props.authorizerCacheTtl ?? Duration.seconds(60);
    const presignTtl = props.presignTtl ?? Duration.minutes(5);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    validate(props, { endpointType, stageName, challenge, cacheTtl, presignTtl });
    this.stageName = stageName;
    this.publicRepositories = publicRepositories;

    this.tokenSigningKey =
      props.tokenSigningKey ??
      new kms.Key(this, 'TokenSigningKey', {
        description: 'Berth registry: signs login tokens (GetAuthorizationToken) and Docker token-flow access tokens',
        keySpec: kms.KeySpec.ECC_NIST_P256,
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        removalPolicy: props.tokenKeyRemovalPolicy ?? RemovalPolicy.RETAIN,
      });
    this.uploadTokenSecret = new secretsmanager.Secret(this, 'UploadTokenKey', {
      description: 'Berth registry: HMAC key that signs upload tokens (64 characters, used as bytes)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    this.registryHandler = this.nodeFunction('RegistryHandler', {
      entry: REGISTRY_HANDLER_ENTRY,
      description: 'Berth registry: OCI Distribution API and ECR control plane',
      memorySize: 1024,
      // API Gateway gives up after 29 s; the function has no reason to run longer.
      timeout: Duration.seconds(29),
      logRetention,
      environment: {
        TABLE_NAME: props.storage.table.tableName,
        BUCKET_NAME: props.storage.bucket.bucketName,
        ...(props.storage.encryptionKey ? { BLOB_KMS_KEY_ARN: props.storage.encryptionKey.keyArn } : {}),
        PRESIGN_TTL_SECONDS: String(presignTtl.toSeconds()),
        CREATE_ON_PUSH: String(props.createOnPush ?? true),
        UPLOAD_TOKEN_SECRET_ARN: this.uploadTokenSecret.secretArn,
        TOKEN_KEY_ID: this.tokenSigningKey.keyArn,
        REGISTRY_ACCOUNT_ID: Aws.ACCOUNT_ID,
        CHALLENGE: challenge,
        POWERTOOLS_SERVICE_NAME: 'berth-registry',
        POWERTOOLS_METRICS_NAMESPACE: 'Berth',
      },
    });
    this.authorizerHandler = this.nodeFunction('AuthorizerHandler', {
      entry: AUTHORIZER_ENTRY,
      description: 'Berth registry: REQUEST authorizer (login and access tokens, verified with the KMS public key)',
      memorySize: 256,
      timeout: Duration.seconds(10),
      logRetention,
      environment: {
        TOKEN_KEY_ID: this.tokenSigningKey.keyArn,
        POWERTOOLS_SERVICE_NAME: 'berth-authorizer',
        ...(publicRepositories
          ? { PUBLIC_REPOSITORIES: 'true', TABLE_NAME: props.storage.table.tableName, REGISTRY_ACCOUNT_ID: Aws.ACCOUNT_ID }
          : {}),
      },
    });
    // Least privilege. The handler: its table and bucket, the upload-token secret, Sign and
    // GetPublicKey on the token key, and IAM's policy simulator on the account's users and roles
    // (the callers' identity policies). The authorizer: GetPublicKey on the token key and, only
    // with public repositories, GetItem on the table (repository and registry policies).
    props.storage.grantReadWrite(this.registryHandler);
    this.uploadTokenSecret.grantRead(this.registryHandler);
    this.tokenSigningKey.grant(this.registryHandler, ...TOKEN_KEY_API_ACTIONS);
    this.tokenSigningKey.grant(this.authorizerHandler, ...TOKEN_KEY_AUTHORIZER_ACTIONS);
    this.registryHandler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:SimulatePrincipalPolicy'],
        resources: SIMULATED_PRINCIPAL_ARNS.map((pattern) => `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:${pattern}`),
      }),
    );
    if (publicRepositories) props.storage.grantPolicyRead(this.authorizerHandler);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logRetention });
    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: 'berth-registry',
      description: 'Berth container registry (OCI Distribution v1.1 and the ECR control plane)',
      // Blobs, manifests and chunks pass through untouched (base64 to and from Lambda).
      binaryMediaTypes: ['*/*'],
      endpointConfiguration: {
        types: [endpointType],
        vpcEndpoints: props.vpcEndpoint ? [props.vpcEndpoint] : undefined,
      },
      policy: props.vpcEndpoint ? privateApiPolicy(props.vpcEndpoint) : crossAccountApiPolicy(),
      // Access logs need the account's API Gateway CloudWatch role.
      cloudWatchRole: true,
      deployOptions: {
        stageName,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        // Never log bodies: they carry credentials and layer bytes.
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });

    // With an identity source, API Gateway answers a request without Authorization itself (the
    // UNAUTHORIZED gateway response, with the challenge) and caches answers per header value. Public
    // repositories need anonymous requests to reach the authorizer: no identity source, which
    // API Gateway only accepts without a cache.
    const authorizer = new apigateway.RequestAuthorizer(this, 'Authorizer', {
      handler: this.authorizerHandler,
      identitySources: publicRepositories ? [] : [apigateway.IdentitySource.header('Authorization')],
      resultsCacheTtl: publicRepositories ? Duration.seconds(0) : cacheTtl,
    });
    const integration = new apigateway.LambdaIntegration(this.registryHandler, { proxy: true, allowTestInvoke: false });
    const v2 = this.api.root.addResource('v2');
    // The version check (`GET /v2/`, docker's first request of every pull) is answered by API
    // Gateway itself: a MOCK integration costs no Lambda invocation. It stays behind the
    // authorizer, so a request without valid credentials still gets the UNAUTHORIZED gateway
    // response with the challenge, which is how docker learns to log in. Other methods on /v2
    // go to the handler as before.
    const ping = pingIntegration();
    for (const method of ['GET', 'HEAD']) {
      v2.addMethod(method, ping, {
        authorizer,
        methodResponses: [
          {
            statusCode: '200',
            responseParameters: Object.fromEntries(Object.keys(PING_HEADERS).map((h) => [`method.response.header.${h}`, true])),
          },
        ],
      });
    }
    v2.addMethod('ANY', integration, { authorizer });
    v2.addProxy({ anyMethod: true, defaultIntegration: integration, defaultMethodOptions: { authorizer } });
    // The token endpoint of the Docker token flow authenticates its callers itself (Basic
    // AWS:<login token>, or containerd's POST form, which carries the login token in its body and
    // no Authorization header: behind the authorizer's identity source it would never arrive).
    // Anonymous callers get a token with what the policies grant `Principal: "*"`, often nothing.
    v2.addResource('token').addMethod('ANY', integration, { authorizationType: apigateway.AuthorizationType.NONE });
    // The ECR JSON protocol: POST / with X-Amz-Target, SigV4-signed for the API (IAM authorization).
    this.api.root.addMethod('POST', integration, { authorizationType: apigateway.AuthorizationType.IAM });
    // Built from the literal stage name, not the stage resource: a grant names no deployment.
    this.controlPlaneMethodArn = this.api.arnForExecuteApi('POST', '/', stageName);

    if (props.domainName && props.certificate) {
      this.customDomain = new apigateway.DomainName(this, 'Domain', {
        domainName: props.domainName,
        certificate: props.certificate,
        endpointType: apigateway.EndpointType.REGIONAL,
        securityPolicy: apigateway.SecurityPolicy.TLS_1_2,
      });
      // Root mapping: /v2/ sits at the root of the host, as registries must.
      this.customDomain.addBasePathMapping(this.api, { stage: this.api.deploymentStage });
      this.registryHost = props.domainName;
      this.controlPlaneEndpoint = `https://${props.domainName}/`;
    } else if (endpointType === apigateway.EndpointType.REGIONAL) {
      this.distribution = this.frontDistribution(stageName, props.accessLogsBucket);
      this.registryHost = this.distribution.distributionDomainName;
      this.controlPlaneEndpoint = this.api.url;
    } else {
      // A private API has the stage in its path and no public host; see docs/deploy.md.
      this.registryHost = `${this.api.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`;
      this.controlPlaneEndpoint = this.api.url;
    }
    this.registryEndpoint = `https://${this.registryHost}`;
    // GetAuthorizationToken's proxyEndpoint and the realm of the handler's own challenges: the
    // control plane is called on the API's host, docker uses the registry host.
    this.registryHandler.addEnvironment('PROXY_ENDPOINT', this.registryEndpoint);

    // The challenge may name the public host. The gateway responses depend on the distribution
    // (through its domain name) and the API's deployment depends on the gateway responses, so the
    // distribution must not depend on the deployment or the stage: its origin is built from the
    // REST API's id and the literal stage name (see frontDistribution), which breaks the cycle.
    const challengeValue = CHALLENGE_TEMPLATES[challenge].split(REGISTRY_HOST_PLACEHOLDER).join(this.registryHost);
    const ociHeaders = {
      'Content-Type': "'application/json'",
      'Docker-Distribution-API-Version': "'registry/2.0'",
    };
    this.api.addGatewayResponse('Unauthorized', {
      type: apigateway.ResponseType.UNAUTHORIZED,
      statusCode: '401',
      responseHeaders: { ...ociHeaders, 'WWW-Authenticate': `'${challengeValue}'` },
      templates: { 'application/json': OCI_UNAUTHORIZED_BODY },
    });
    this.api.addGatewayResponse('AccessDenied', {
      type: apigateway.ResponseType.ACCESS_DENIED,
      statusCode: '403',
      responseHeaders: ociHeaders,
      templates: { 'application/json': OCI_DENIED_BODY },
    });

    this.acknowledgeNagFindings();
  }

  /**
   * Points the handler at the ingest service: upload Locations go to this base URL.
   *
   * @param ingestUrl `https://<host>` of the ingest service (or of the registry, when CloudFront
   *   routes the upload paths to it)
   */
  public useIngest(ingestUrl: string): void {
    this.registryHandler.addEnvironment('INGEST_URL', ingestUrl);
  }

  /**
   * Grants `grantee` `execute-api:Invoke` on the control plane's method ({@link controlPlaneMethodArn}),
   * which API Gateway's IAM authorization requires of every IAM-signed ECR call
   * (GetAuthorizationToken included). The statement goes to the grantee's identity policy
   * (`iam.Grant.addToPrincipal`), in whatever stack the grantee lives (aws-cdk-lib turns the API
   * id into a cross-stack reference there); the API's resource policy already admits every signed
   * caller, of any account.
   *
   * @param grantee the principal to grant to
   */
  public grantControlPlaneInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: CONTROL_PLANE_INVOKE_ACTIONS, resourceArns: [this.controlPlaneMethodArn] });
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(): void {
    for (const fn of [this.registryHandler, this.authorizerHandler]) {
      acknowledgeNagFinding(
        fn.role,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
      );
      acknowledgeNagFinding(
        fn,
        'AwsSolutions-L1',
        'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
      );
    }
    for (const pattern of SIMULATED_PRINCIPAL_ARNS) {
      acknowledgeNagFinding(
        this.registryHandler.role,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:${pattern}]`,
        'iam:SimulatePrincipalPolicy evaluates the identity policies of whichever user or role of this account calls the registry (ECR honours them, so Berth asks IAM); callers are not known at deploy time, so the grant names every user and role of the account and nothing else. The action only reads policies, it changes nothing.',
      );
    }

    acknowledgeNagFinding(
      this.api,
      'AwsSolutions-COG4',
      'Registry clients (docker, podman, skopeo, containerd) authenticate with ECR-style login tokens (Basic AWS:<token>) or OCI registry tokens, never Cognito tokens: /v2 is protected by a REQUEST Lambda authorizer and POST / (the ECR control plane) by IAM SigV4, as ECR is.',
    );
    acknowledgeNagFinding(
      this.api,
      'AwsSolutions-APIG4',
      'Only the token endpoint /v2/token has no API Gateway authorization: it authenticates its callers itself (a login token in Basic credentials or, for containerd, in a POST form that carries no Authorization header an authorizer could check) and issues anonymous callers only what the policies grant Principal "*".',
    );
    acknowledgeNagFinding(
      this.api,
      'AwsSolutions-APIG2',
      'The OCI Distribution spec prescribes the error code and JSON body of every malformed request, which the handler produces; an API Gateway request validator would answer 400 in its own format that clients cannot read, and binary bodies cannot be modelled.',
    );
    acknowledgeNagFinding(
      this.api.deploymentStage,
      'AwsSolutions-APIG3',
      'A web ACL is organisation policy, not a registry default: WAF must not inspect or limit multi-megabyte layer bodies, and rate rules must allow a CI fleet pulling at once. docs/deploy.md says how to attach one.',
    );
    acknowledgeNagFinding(
      this.api.node.tryFindChild('CloudWatchRole'),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'API Gateway\'s account-level logging role (needed for the stage\'s access and error logs) with the AWS managed policy API Gateway documents for it; it only writes logs.',
    );

    acknowledgeNagFinding(
      this.uploadTokenSecret,
      'AwsSolutions-SMG4',
      'Rotating the upload-token HMAC key invalidates every upload in flight (tokens live for minutes to an hour) and the handler accepts one key at a time; rotation is manual, between pushes (docs/deploy.md).',
    );

    // CloudFront (only without a custom domain).
    acknowledgeNagFinding(
      this.distribution,
      'AwsSolutions-CFR1',
      'A container registry serves its users and CI wherever they run; geo restriction is organisation policy, not a default.',
    );
    acknowledgeNagFinding(
      this.distribution,
      'AwsSolutions-CFR2',
      'A CloudFront web ACL must be created in us-east-1 (another stack) and must not inspect upload bodies; organisations that require one attach it (docs/deploy.md).',
    );
    acknowledgeNagFinding(
      this.distribution,
      'AwsSolutions-CFR4',
      'Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose minimum protocol CloudFront fixes and does not let us raise; with domainName + certificateArn the registry is served by API Gateway with TLS 1.2 and no distribution exists.',
    );
  }

  private nodeFunction(
    id: string,
    options: {
      entry: string;
      description: string;
      memorySize: number;
      timeout: Duration;
      logRetention: logs.RetentionDays;
      environment: Record<string, string>;
    },
  ): nodejs.NodejsFunction {
    return new nodejs.NodejsFunction(this, id, {
      entry: path.join(PROJECT_ROOT, options.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: options.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: options.memorySize,
      timeout: options.timeout,
      environment: options.environment,
      logGroup: new logs.LogGroup(this, `${id}Logs`, { retention: options.logRetention }),
      bundling: {
        // Local esbuild (a devDependency): no Docker needed to synth.
        forceDockerBundling: false,
        minify: true,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        // AWS SDK v3 comes with the nodejs22.x runtime.
        externalModules: ['@aws-sdk/*'],
      },
    });
  }

  /**
   * CloudFront in front of the stage, so that docker finds `/v2/` at the root of a host.
   *
   * - The origin is `<rest-api-id>.execute-api.<region>.<suffix>` with the stage as origin path,
   *   built from the API id and the literal stage name rather than `api.url`: `api.url` names the
   *   stage, which depends on the deployment, which depends on the gateway responses, which may
   *   name this distribution's domain (a Bearer realm) — a cycle.
   * - `Authorization` must reach API Gateway on every method. CloudFront forwards it on GET and
   *   HEAD only when it is part of the cache key, and an origin request policy may not list it.
   *   No managed policy does both, so a cache policy puts `Authorization` (and every query string)
   *   in the key with TTLs 0/0/1 s: nothing is cached unless the origin sends Cache-Control max-age (then 1 s at most),
   *   and CloudFront refuses a key on a policy whose TTLs are all zero. With `Authorization` in the
   *   key, a cached answer could only ever go back to the same credentials.
   * - The origin request policy forwards every other viewer header and the query, but not `Host`
   *   (API Gateway routes on its own host name).
   * - HTTPS only (no redirect): a redirected PATCH would already have sent its bytes in clear.
   */
  private frontDistribution(stageName: string, logBucket: s3.IBucket | undefined): cloudfront.Distribution {
    const apiHost = Fn.join('', [this.api.restApiId, '.execute-api.', Aws.REGION, '.', Aws.URL_SUFFIX]);
    const cachePolicy = new cloudfront.CachePolicy(this, 'AuthorizationInCacheKey', {
      comment: 'Berth: forwards Authorization on every method (it must be in the cache key for GET/HEAD); caches nothing',
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(0),
      maxTtl: Duration.seconds(1),
      headerBehavior: cloudfront.CacheHeaderBehavior.allowList('Authorization'),
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.all(),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      // Bodies are digests' bytes: never re-encode them.
      enableAcceptEncodingGzip: false,
      enableAcceptEncodingBrotli: false,
    });
    return new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Berth registry: /v2/ at the root of a host',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: logBucket !== undefined,
      logBucket,
      logFilePrefix: logBucket ? 'cloudfront/' : undefined,
      defaultBehavior: {
        origin: new origins.HttpOrigin(apiHost, {
          originPath: `/${stageName}`,
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          readTimeout: Duration.seconds(30),
        }),
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        cachePolicy,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        compress: false,
      },
    });
  }
}

/** The headers of the version check's 200, as the handler sends them. */
export const PING_HEADERS = VERSION_CHECK_HEADERS;

/**
 * `GET|HEAD /v2/` -> 200 `{}` from API Gateway (MOCK). Content handling CONVERT_TO_TEXT on the
 * request and the response: the API's binary media types match everything, so every payload counts as binary, and a
 * MOCK integration without it answers 500 (its mapping templates are text).
 */
function pingIntegration(): apigateway.MockIntegration {
  return new apigateway.MockIntegration({
    passthroughBehavior: apigateway.PassthroughBehavior.WHEN_NO_MATCH,
    contentHandling: apigateway.ContentHandling.CONVERT_TO_TEXT,
    requestTemplates: { 'application/json': '{"statusCode": 200}' },
    integrationResponses: [
      {
        statusCode: '200',
        contentHandling: apigateway.ContentHandling.CONVERT_TO_TEXT,
        responseParameters: Object.fromEntries(Object.entries(PING_HEADERS).map(([h, v]) => [`method.response.header.${h}`, `'${v}'`])),
        responseTemplates: { 'application/json': '{}' },
      },
    ],
  });
}

function privateApiPolicy(vpcEndpoint: ec2.IInterfaceVpcEndpoint): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        effect: iam.Effect.ALLOW,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: { StringEquals: { 'aws:SourceVpce': vpcEndpoint.vpcEndpointId } },
      }),
    ],
  });
}

/**
 * Lets principals of other accounts reach the API at all: without a resource policy, API Gateway
 * refuses a cross-account IAM-signed call before the handler runs, so a repository policy that
 * opens a repository to another account could never be used (that account could not even get a
 * login token). Signatures are still required (IAM authorization on `POST /`, the authorizer on
 * `/v2`), and the handler decides every ECR action with the registry and repository policies.
 */
function crossAccountApiPolicy(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        effect: iam.Effect.ALLOW,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
      }),
    ],
  });
}

/** The principals whose identity policies the handler may simulate: the account's users and roles (a role session is simulated as its role). */
export const SIMULATED_PRINCIPAL_ARNS = ['user/*', 'role/*'];

function validate(
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
  if (ttl < 0 || ttl > 300) {
    errors.push(`authorizerCacheTtl must be between 0 and 300 seconds: a cached Allow outlives a revoked credential by that long; got ${ttl} s.`);
  }
  const presign = v.presignTtl.toSeconds();
  if (presign < 1 || presign > 12 * 3600) {
    errors.push(`presignTtl must be between 1 second and 12 hours, got ${presign} s: a presigned URL dies with the credentials that signed it.`);
  }
  if (errors.length > 0) throw new Error(`RegistryApi: invalid props\n- ${errors.join('\n- ')}`);
}
