import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { type Construct } from 'constructs';
import { PULL_ACTIONS, PUSH_ACTIONS, repositoryArn } from '../lambdas/contracts/ecr-actions';
import {
  parseReplicationDestinations,
  REPLICATION_DESTINATIONS_ENV,
  replicationDestinationsEnvValue,
  type ReplicationDestinationEndpoint,
} from '../lambdas/contracts/replication';
import { IngestService } from './ingest-service';
import { RegistryApi, type RegistryApiProps, UPLOAD_PATH_PATTERN } from './registry-api';
import { RegistryEvents } from './registry-events';
import { RegistryGarbageCollector } from './registry-gc';
import { RegistryLifecycle } from './registry-lifecycle';
import { RegistryReplication } from './registry-replication';
import { validateRepositoryPatterns } from './repository-patterns';
import { RegistryStorage } from './registry-storage';

/**
 * Properties of {@link RegistryStack}: the stack's own ({@link StackProps}); the API settings it
 * passes to {@link RegistryApi} unchanged (`domainName`, `endpointType`, `challenge`,
 * `publicRepositories`, `authorizerCacheTtl`, `presignTtl`, `createOnPush`), declared, documented
 * and defaulted once, in {@link RegistryApiProps}; and the settings below, which name resources by
 * ARN or id (as CDK context values can) or concern the stack as a whole.
 */
export interface RegistryStackProps
  extends StackProps,
    Pick<RegistryApiProps, 'domainName' | 'endpointType' | 'challenge' | 'publicRepositories' | 'authorizerCacheTtl' | 'presignTtl' | 'createOnPush'> {
  /**
   * ARN of an ACM certificate in the stack's region for `domainName` (and, unless
   * {@link ingestCertificateArn} is given, for {@link ingestDomainName}). Required with `domainName`.
   *
   * @default - none
   */
  readonly certificateArn?: string;

  /**
   * Host name of the ingest service when the registry has a custom domain.
   *
   * @default - `ingest.<domainName>`
   */
  readonly ingestDomainName?: string;

  /**
   * ARN of the ACM certificate for {@link ingestDomainName}.
   *
   * @default - {@link certificateArn} (it must then cover the ingest host name too)
   */
  readonly ingestCertificateArn?: string;

  /**
   * Run the streaming ingest service (ECS Fargate behind an ALB) that takes upload bytes of any
   * size. Without it, uploads go through Lambda in chunks of at most about 4.5 MB, which only
   * clients that upload in chunks can use (see docs/deploy.md).
   *
   * @default true
   */
  readonly ingest?: boolean;

  /**
   * ARN of a customer managed KMS key for the table and the bucket. Its key policy must let the
   * account's IAM policies grant its use (the default key policy does).
   *
   * @default - AWS owned key (DynamoDB), SSE-S3 (S3)
   */
  readonly encryptionKeyArn?: string;

  /**
   * Removal policy of the registry's data (table and bucket) and of the access-logs bucket.
   * `DESTROY` empties the buckets before deleting them.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Id (`vpce-...`) of the `execute-api` interface VPC endpoint of a `PRIVATE` API
   * (`endpointType: EndpointType.PRIVATE`).
   *
   * @default - none
   */
  readonly vpcEndpointId?: string;

  /**
   * ARN of an existing asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY) that signs registry tokens,
   * instead of a created one. Its key policy must let the account's IAM policies grant its use.
   *
   * @default - a key created by the stack, retained when the stack is deleted
   */
  readonly tokenSigningKeyArn?: string;

  /**
   * The `source` of the image events (docs/events.md). EventBridge refuses custom events whose
   * source starts with `aws.` (ECR's is `aws.ecr`), so such a value is refused at synth; rules
   * written for ECR change their `source` filter to this value.
   *
   * @default 'berth.ecr'
   */
  readonly eventSource?: string;

  /**
   * The EventBridge bus the image events go to: the name of a bus in the stack's account and
   * region, or the ARN of a bus (of this or another account, whose policy must then let this
   * account put events on it).
   *
   * @default - the account's default bus
   */
  readonly eventBusName?: string;

  /**
   * How old a repository's link that no manifest uses, or content that no repository links, must be
   * before the garbage collector removes it (docs/garbage-collection.md). At least one hour.
   *
   * @default Duration.hours(24)
   */
  readonly gcGracePeriod?: Duration;

  /**
   * When the garbage collector runs. Each run reads every content record and manifest once, so a
   * large registry that deletes little may run it less often (docs/deploy.md, "Garbage collection").
   *
   * @default events.Schedule.rate(Duration.hours(1))
   */
  readonly gcSchedule?: events.Schedule;

  /**
   * When the repositories' lifecycle policies run (docs/lifecycle.md, "Running it on AWS"): each
   * scheduled run starts one run of the lifecycle function per repository.
   *
   * @default events.Schedule.rate(Duration.days(1))
   */
  readonly lifecycleSchedule?: events.Schedule;

  /**
   * Where replication rules (PutReplicationConfiguration) may send images: each destination's
   * region and account as rules name them, and its control-plane URL (the destination stack's
   * `ControlPlaneEndpoint` output). Given, the registry function knows them
   * (`REPLICATION_DESTINATIONS`) and {@link RegistryReplication} replicates to them
   * (docs/replication.md, "Deploying it on AWS"); checked at synth, including that none is this
   * stack's own account and region.
   *
   * @default - none: rules naming any destination are refused, and no replicator is deployed
   */
  readonly replicationDestinations?: ReplicationDestinationEndpoint[];
}

/**
 * A whole Berth registry: storage, the API (with CloudFront or a custom domain), the image events
 * on EventBridge, the scheduled garbage collector, the scheduled lifecycle runner, with replication
 * destinations the replicator and, unless turned off, the streaming ingest service. Outputs the
 * registry endpoint (what docker uses), the control-plane endpoint (IAM-signed ECR calls), the ingest
 * endpoint, the event publisher and its dead-letter queue, the collector, the lifecycle runner and
 * its dead-letter queue, and the replicator and its dead-letter queue.
 */
export class RegistryStack extends Stack {
  /** The metadata table and the blob bucket. */
  public readonly storage: RegistryStorage;
  /** The REST API, its functions, and the CloudFront distribution or custom domain in front of it. */
  public readonly registryApi: RegistryApi;
  /** The streaming ingest service, unless `ingest: false`. */
  public readonly ingest?: IngestService;
  /** Access logs of the bucket, CloudFront, the ALB and VPC flow logs. */
  public readonly logsBucket: s3.Bucket;
  /** The image events: the publisher function, its dead-letter queue and the bus. */
  public readonly events: RegistryEvents;
  /** The garbage collector function and its schedule. */
  public readonly garbageCollector: RegistryGarbageCollector;
  /** The lifecycle runner function, its schedule and its dead-letter queue. */
  public readonly lifecycle: RegistryLifecycle;
  /** The replicator, its queue, dead-letter queue and rule, when `replicationDestinations` names any. */
  public readonly replication?: RegistryReplication;

  constructor(scope: Construct, id: string, props: RegistryStackProps = {}) {
    super(scope, id, props);
    const ingestEnabled = props.ingest ?? true;
    if (props.endpointType === apigateway.EndpointType.PRIVATE && ingestEnabled) {
      throw new Error(
        'RegistryStack: a PRIVATE endpoint cannot be combined with the ingest service yet (its load balancer would need a private HTTPS host name). Set ingest: false.',
      );
    }
    if (props.ingestDomainName && !props.domainName) {
      throw new Error('RegistryStack: ingestDomainName is only used with a custom domainName; set domainName and certificateArn too, or drop ingestDomainName.');
    }

    if (Boolean(props.domainName) !== Boolean(props.certificateArn)) {
      throw new Error('RegistryStack: domainName and certificateArn go together: pass both (an ACM certificate in this region covering the domain) or neither.');
    }
    const replicationDestinations = this.checkReplicationDestinations(props.replicationDestinations);
    const certificate = props.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn) : undefined;
    const encryptionKey = props.encryptionKeyArn ? kms.Key.fromKeyArn(this, 'EncryptionKey', props.encryptionKeyArn) : undefined;
    const tokenSigningKey = props.tokenSigningKeyArn ? kms.Key.fromKeyArn(this, 'TokenSigningKey', props.tokenSigningKeyArn) : undefined;
    const vpcEndpoint = props.vpcEndpointId
      ? ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(this, 'VpcEndpoint', { vpcEndpointId: props.vpcEndpointId, port: 443 })
      : undefined;

    this.logsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // SSE-S3: ALB access logs cannot be delivered to a KMS-encrypted bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      autoDeleteObjects: props.removalPolicy === RemovalPolicy.DESTROY,
    });

    this.storage = new RegistryStorage(this, 'Storage', {
      encryptionKey,
      removalPolicy: props.removalPolicy,
      serverAccessLogsBucket: this.logsBucket,
    });

    this.events = new RegistryEvents(this, 'Events', {
      table: this.storage.table,
      eventSource: props.eventSource,
      eventBus: props.eventBusName
        ? props.eventBusName.startsWith('arn:')
          ? events.EventBus.fromEventBusArn(this, 'EventBus', props.eventBusName)
          : events.EventBus.fromEventBusName(this, 'EventBus', props.eventBusName)
        : undefined,
    });

    this.garbageCollector = new RegistryGarbageCollector(this, 'GarbageCollector', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      gracePeriod: props.gcGracePeriod,
      schedule: props.gcSchedule,
    });

    this.lifecycle = new RegistryLifecycle(this, 'Lifecycle', {
      table: this.storage.table,
      schedule: props.lifecycleSchedule,
    });

    this.registryApi = new RegistryApi(this, 'Api', {
      storage: this.storage,
      endpointType: props.endpointType,
      vpcEndpoint,
      challenge: props.challenge,
      publicRepositories: props.publicRepositories,
      authorizerCacheTtl: props.authorizerCacheTtl,
      tokenSigningKey,
      presignTtl: props.presignTtl,
      createOnPush: props.createOnPush,
      domainName: props.domainName,
      certificate,
      accessLogsBucket: this.logsBucket,
    });

    if (replicationDestinations.length > 0) {
      this.registryApi.registryHandler.addEnvironment(REPLICATION_DESTINATIONS_ENV, replicationDestinationsEnvValue(replicationDestinations));
      this.replication = new RegistryReplication(this, 'Replication', {
        table: this.storage.table,
        bucket: this.storage.bucket,
        eventBus: this.events.eventBus,
        eventSource: this.events.eventSource,
        destinations: replicationDestinations,
      });
    }

    let ingestEndpoint: string | undefined;
    if (ingestEnabled) {
      const ingestDomainName = props.domainName ? (props.ingestDomainName ?? `ingest.${props.domainName}`) : undefined;
      this.ingest = new IngestService(this, 'Ingest', {
        storage: this.storage,
        uploadTokenSecret: this.registryApi.uploadTokenSecret,
        domainName: ingestDomainName,
        certificate: ingestDomainName
          ? props.ingestCertificateArn
            ? acm.Certificate.fromCertificateArn(this, 'IngestCertificate', props.ingestCertificateArn)
            : certificate
          : undefined,
        accessLogsBucket: this.logsBucket,
      });
      if (this.ingest.endpoint) {
        ingestEndpoint = this.ingest.endpoint;
        new CfnOutput(this, 'IngestDomainTarget', {
          description: `DNS: point ${ingestDomainName} (CNAME or alias) at this load balancer`,
          value: this.ingest.loadBalancer.loadBalancerDnsName,
        });
      } else {
        // Same host as the registry: upload paths go to the ingest load balancer, everything else
        // to API Gateway. See UPLOAD_PATH_PATTERN for what the pattern matches.
        this.registryApi.distribution!.addBehavior(UPLOAD_PATH_PATTERN, this.ingest.cloudFrontOrigin(), {
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          // Every header (Host included: the ingest server builds its Locations from it) and the
          // query, which carries the upload token.
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER,
          compress: false,
        });
        ingestEndpoint = this.registryApi.registryEndpoint;
      }
      this.registryApi.useIngest(ingestEndpoint);
    }

    new CfnOutput(this, 'RegistryEndpoint', {
      description: 'What docker logs in to, pushes to and pulls from (docker login <host>)',
      value: this.registryApi.registryEndpoint,
    });
    new CfnOutput(this, 'RegistryHost', {
      description: 'The registry host name, as it appears in image references (<host>/<repository>:<tag>)',
      value: this.registryApi.registryHost,
    });
    new CfnOutput(this, 'ControlPlaneEndpoint', {
      description: 'Endpoint for IAM-signed ECR JSON calls (aws ecr --endpoint-url); never the CloudFront host',
      value: this.registryApi.controlPlaneEndpoint,
    });
    if (ingestEndpoint) {
      new CfnOutput(this, 'IngestEndpoint', { description: 'Where upload bytes go (upload Locations name it)', value: ingestEndpoint });
    }
    if (this.registryApi.customDomain) {
      new CfnOutput(this, 'RegistryDomainTarget', {
        description: `DNS: point ${props.domainName} (CNAME or alias) at this API Gateway regional domain`,
        value: this.registryApi.customDomain.domainNameAliasDomainName,
      });
    }
    new CfnOutput(this, 'TokenSigningKeyArn', {
      description: 'KMS key that signs login and access tokens (TOKEN_KEY_ID of both functions)',
      value: this.registryApi.tokenSigningKey.keyArn,
    });
    new CfnOutput(this, 'EventPublisherFunctionName', {
      description: 'The image event publisher: aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out --payload \'{"action":"replay"}\' out.json',
      value: this.events.publisher.functionName,
    });
    new CfnOutput(this, 'EventDeadLetterQueueUrl', {
      description: 'Stream batches the event publisher failed past its retries (an alarm: the sweep publishes their items; docs/events.md)',
      value: this.events.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'GarbageCollectorFunctionName', {
      description: 'The garbage collector: aws lambda invoke --function-name <this> out.json runs it now (docs/garbage-collection.md)',
      value: this.garbageCollector.collector.functionName,
    });
    new CfnOutput(this, 'LifecycleRunnerFunctionName', {
      description: 'The lifecycle runner: aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out --payload \'{"repository":"team/app"}\' out.json runs one repository\'s policy now ({} runs every repository\'s)',
      value: this.lifecycle.runner.functionName,
    });
    new CfnOutput(this, 'LifecycleDeadLetterQueueUrl', {
      description: 'Lifecycle runs that failed past their retries, each with its event (the repository or the cursor; docs/lifecycle.md)',
      value: this.lifecycle.deadLetterQueue.queueUrl,
    });
    if (this.replication) {
      new CfnOutput(this, 'ReplicatorFunctionName', {
        description: 'The replicator: its log says what each replication job did, and why one failed (docs/replication.md, "Deploying it on AWS")',
        value: this.replication.function.functionName,
      });
      new CfnOutput(this, 'ReplicationDeadLetterQueueUrl', {
        description: 'Replication jobs given up (each with its error), and events the rule could not deliver (docs/replication.md)',
        value: this.replication.deadLetterQueue.queueUrl,
      });
    }
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
  }

  /**
   * Grants `grantee` what it needs to log in to this registry and pull from the repositories that
   * match `repositoryPatterns`: `execute-api:Invoke` on the control plane's `POST /`
   * ({@link RegistryApi.grantControlPlaneInvoke}), `ecr:GetAuthorizationToken` on `*` (IAM knows no
   * narrower resource for it), and `ecr:BatchGetImage`, `ecr:GetDownloadUrlForLayer`,
   * `ecr:BatchCheckLayerAvailability` on `arn:aws:ecr:<region>:<account>:repository/<pattern>`,
   * the ARNs Berth asks IAM's policy simulator about.
   *
   * The statements go to the grantee's identity policy (`iam.Grant.addToPrincipal`), in whatever
   * stack the grantee lives. A principal of another account also needs a registry or repository
   * policy that allows it (`SetRepositoryPolicy`, docs/access-control.md). Under cdk-nag, the
   * grantee's policy shows AwsSolutions-IAM5 findings for the `*` of GetAuthorizationToken and of
   * a pattern with `*`: acknowledge them on the grantee.
   *
   * @param grantee the principal to grant to
   * @param repositoryPatterns repository names (`team-a/app`) or name prefixes ending in `*`
   *   (`team-a/*`); none: every repository. Anything else throws.
   */
  public grantPull(grantee: iam.IGrantable, ...repositoryPatterns: string[]): iam.Grant {
    return this.grantRepositoryActions('grantPull', grantee, PULL_ACTIONS, repositoryPatterns);
  }

  /**
   * Grants `grantee` what it needs to log in to this registry and push to the repositories that
   * match `repositoryPatterns`: as {@link grantPull}, with `ecr:BatchCheckLayerAvailability`,
   * `ecr:InitiateLayerUpload`, `ecr:UploadLayerPart`, `ecr:CompleteLayerUpload` and `ecr:PutImage`
   * on the repositories (what docker needs to push to ECR; without pull actions).
   *
   * @param grantee the principal to grant to
   * @param repositoryPatterns repository names or name prefixes ending in `*`; none: every repository
   */
  public grantPush(grantee: iam.IGrantable, ...repositoryPatterns: string[]): iam.Grant {
    return this.grantRepositoryActions('grantPush', grantee, PUSH_ACTIONS, repositoryPatterns);
  }

  /**
   * Grants `grantee` what it needs to log in to this registry, pull from and push to the
   * repositories that match `repositoryPatterns`: {@link grantPull} and {@link grantPush} in one
   * statement on the repositories.
   *
   * @param grantee the principal to grant to
   * @param repositoryPatterns repository names or name prefixes ending in `*`; none: every repository
   */
  public grantPullPush(grantee: iam.IGrantable, ...repositoryPatterns: string[]): iam.Grant {
    return this.grantRepositoryActions('grantPullPush', grantee, [...new Set([...PULL_ACTIONS, ...PUSH_ACTIONS])], repositoryPatterns);
  }

  /** The replication destinations as checked (none when not given), or an error naming the entry and field. */
  private checkReplicationDestinations(value: ReplicationDestinationEndpoint[] | undefined): ReplicationDestinationEndpoint[] {
    if (value === undefined) return [];
    const self = !Token.isUnresolved(this.account) && !Token.isUnresolved(this.region) ? { registryId: this.account, regions: [this.region] } : undefined;
    try {
      return parseReplicationDestinations(value, { where: 'replicationDestinations', credentials: false, ...(self ? { self } : {}) });
    } catch (error) {
      throw new Error(`RegistryStack: ${(error as Error).message}`, { cause: error });
    }
  }

  private grantRepositoryActions(method: string, grantee: iam.IGrantable, actions: readonly string[], repositoryPatterns: string[]): iam.Grant {
    // Validate first: a refused pattern grants nothing, not even the login.
    const patterns = validateRepositoryPatterns(`RegistryStack.${method}`, repositoryPatterns);
    const login = this.registryApi
      .grantControlPlaneInvoke(grantee)
      .combine(iam.Grant.addToPrincipal({ grantee, actions: ['ecr:GetAuthorizationToken'], resourceArns: ['*'] }));
    return login.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: [...actions],
        resourceArns: patterns.map((pattern) => repositoryArn(this.region, this.account, pattern)),
      }),
    );
  }
}
