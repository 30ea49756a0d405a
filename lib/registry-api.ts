import * as path from 'node:path';
import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  AUTHORIZER_IDENTITY_HEADER,
  BINARY_MEDIA_TYPES,
  DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS,
  DEFAULT_STAGE_NAME,
  INTEGRATION_TIMEOUT_SECONDS,
  INVOKE_ACTION,
  VERSION_CHECK_HEADERS,
} from '../lambdas/contracts/api-gateway';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { addFrontDoorMethods, addGatewayResponses, frontDoorPolicy } from './registry-api-front-door';
import { validateRegistryApiProps, type RegistryApiProps } from './registry-api-props';

/** The project root: NodejsFunction entries, the lock file and esbuild's working directory. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
/** The registry handler's entry point, relative to the project root. It exports `handler`. */
export const REGISTRY_HANDLER_ENTRY = 'lambdas/handlers/registry-api.ts';
/** The authorizer's entry point, relative to the project root. It exports `handler`. */
export const AUTHORIZER_ENTRY = 'lambdas/handlers/authorizer.ts';

// The front door's contract, which the emulated AWS mode answers as too.
export { CHALLENGE_TEMPLATES, REGISTRY_HOST_PLACEHOLDER, REGISTRY_URL_PLACEHOLDER, UPLOAD_PATH_PATTERN } from '../lambdas/contracts/api-gateway';
export type { RegistryApiProps } from './registry-api-props';

/** The IAM actions the registry handler may call on the token-signing key (and nothing else on it). */
export const TOKEN_KEY_API_ACTIONS = ['kms:Sign', 'kms:GetPublicKey'];
/** The IAM actions the authorizer may call on the token-signing key (and nothing else on it). */
export const TOKEN_KEY_AUTHORIZER_ACTIONS = ['kms:GetPublicKey'];

/** The action API Gateway's IAM authorization checks on the control plane's method (`POST /`). */
export const CONTROL_PLANE_INVOKE_ACTIONS = [INVOKE_ACTION];


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
    const stageName = props.stageName ?? DEFAULT_STAGE_NAME;
    const challenge = props.challenge ?? 'bearer';
    const publicRepositories = props.publicRepositories ?? false;
    const cacheTtl = props.authorizerCacheTtl ?? Duration.seconds(DEFAULT_AUTHORIZER_CACHE_TTL_SECONDS);
    const presignTtl = props.presignTtl ?? Duration.minutes(5);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    validateRegistryApiProps(props, { endpointType, stageName, challenge, cacheTtl, presignTtl });
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
      timeout: Duration.seconds(INTEGRATION_TIMEOUT_SECONDS),
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
      binaryMediaTypes: [...BINARY_MEDIA_TYPES],
      endpointConfiguration: {
        types: [endpointType],
        vpcEndpoints: props.vpcEndpoint ? [props.vpcEndpoint] : undefined,
      },
      // Other accounts may reach a REGIONAL API (their calls are still signed); a PRIVATE one only its VPC endpoint.
      policy: frontDoorPolicy(props.vpcEndpoint),
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
      identitySources: publicRepositories ? [] : [apigateway.IdentitySource.header(AUTHORIZER_IDENTITY_HEADER)],
      resultsCacheTtl: publicRepositories ? Duration.seconds(0) : cacheTtl,
    });
    const integration = new apigateway.LambdaIntegration(this.registryHandler, { proxy: true, allowTestInvoke: false });
    // The methods of lambdas/contracts/api-gateway.ts: /v2 and /v2/{proxy+} behind the authorizer
    // (GET and HEAD /v2 answered by API Gateway itself), /v2/token open, POST / behind IAM.
    addFrontDoorMethods(this.api, { authorizer, handler: integration });
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
    addGatewayResponses(this.api, challenge, { url: this.registryEndpoint, host: this.registryHost });

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

/** The principals whose identity policies the handler may simulate: the account's users and roles (a role session is simulated as its role). */
export const SIMULATED_PRINCIPAL_ARNS = ['user/*', 'role/*'];
