import { Aws, Duration, Token } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { PROJECT_ROOT } from './registry-api';
import { type RegistryStorage } from './registry-storage';

/** The port the ingest server listens on inside its container. */
export const INGEST_CONTAINER_PORT = 8080;
/** The address range of the ingest VPC (a literal, so that rules naming it can be checked at synth). */
export const INGEST_VPC_CIDR = '10.80.0.0/16';
/** The ingest server's health check path. */
export const INGEST_HEALTH_CHECK_PATH = '/healthz';

/** Properties of {@link IngestService}. */
export interface IngestServiceProps {
  /** The table and bucket the ingest server writes uploads and commits to. */
  readonly storage: RegistryStorage;

  /** The HMAC key the API signs upload tokens with; the ingest server verifies them with it. */
  readonly uploadTokenSecret: secretsmanager.ISecret;

  /**
   * Public host name of the ingest service (e.g. `ingest.registry.example.com`). With it, the load
   * balancer is internet-facing with an HTTPS listener only. Requires {@link certificate}.
   *
   * @default - an internal load balancer, reached only through a CloudFront VPC origin
   */
  readonly domainName?: string;

  /**
   * ACM certificate (in this region) that covers {@link domainName}. Required with `domainName`.
   *
   * @default - none
   */
  readonly certificate?: acm.ICertificate;

  /**
   * Number of ingest tasks.
   *
   * @default 1
   */
  readonly desiredCount?: number;

  /**
   * CPU units of a task (Fargate combinations apply).
   *
   * @default 1024
   */
  readonly cpu?: number;

  /**
   * Memory of a task, MiB. Uploads stream through bounded buffers, so this need not grow with layers.
   *
   * @default 2048
   */
  readonly memoryLimitMiB?: number;

  /**
   * CPU architecture of the tasks; the container image is built for it by `cdk deploy`.
   * X86_64 by default so that any machine with a Docker engine can build it without emulation.
   *
   * @default ecs.CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;

  /**
   * The load balancer's idle timeout: how long a connection may stay silent (a client that pauses
   * while streaming a layer). At most 4000 seconds.
   *
   * @default Duration.seconds(4000)
   */
  readonly idleTimeout?: Duration;

  /**
   * CloudFront's origin response timeout for the upload behaviour (used without a domain): how long
   * CloudFront waits for the ingest server's answer, and between two packets of it. Values above
   * 60 seconds need the "Response timeout per origin" quota raised (up to 180 s).
   *
   * @default Duration.seconds(60)
   */
  readonly originReadTimeout?: Duration;

  /**
   * Bucket for the load balancer's access logs and the VPC flow logs (SSE-S3).
   *
   * @default - no load balancer access logs; VPC flow logs go to CloudWatch Logs
   */
  readonly accessLogsBucket?: s3.IBucket;

  /**
   * Retention of the container logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The streaming upload path: the registry server (`bin/berth-ingest.ts`, what `berth ingest` runs) with the DynamoDB and S3
 * adapters, on ECS Fargate behind an Application Load Balancer, which has no body limit.
 *
 * Layer bytes and upload tokens never travel over plain HTTP on a network a client can reach:
 * with a domain the load balancer listens on HTTPS only; without one it is internal, and
 * CloudFront (HTTPS to clients) reaches it through a VPC origin inside the VPC.
 */
export class IngestService extends Construct {
  /** The service's VPC: public subnets (tasks, an internet-facing ALB), isolated ones (an internal ALB), S3 and DynamoDB gateway endpoints. */
  public readonly vpc: ec2.Vpc;
  /** The ECS cluster (Container Insights on). */
  public readonly cluster: ecs.Cluster;
  /** The Fargate service that runs the ingest tasks. */
  public readonly service: ecs.FargateService;
  /** The task definition; its task role may read and write the registry's table and bucket and read the upload-token key. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The Application Load Balancer in front of the tasks: internet-facing with a domain, internal otherwise. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The load balancer's listener: HTTPS 443 with a domain, HTTP 80 (inside the VPC only) otherwise. */
  public readonly listener: elbv2.ApplicationListener;
  /** `https://<domainName>` when the service has its own domain. */
  public readonly endpoint?: string;
  private readonly originReadTimeout: Duration;

  constructor(scope: Construct, id: string, props: IngestServiceProps) {
    super(scope, id);
    const desiredCount = props.desiredCount ?? 1;
    const idleTimeout = props.idleTimeout ?? Duration.seconds(4000);
    this.originReadTimeout = props.originReadTimeout ?? Duration.seconds(60);
    const cpuArchitecture = props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const errors: string[] = [];
    if (Boolean(props.domainName) !== Boolean(props.certificate)) {
      errors.push('domainName and certificate go together: pass both (an ACM certificate in this region covering the ingest host name) or neither.');
    }
    if (!Token.isUnresolved(desiredCount) && (!Number.isInteger(desiredCount) || desiredCount < 1)) {
      errors.push(`desiredCount must be a whole number of at least 1, got ${desiredCount}; turn the ingest service off with the stack prop ingest: false instead.`);
    }
    if (idleTimeout.toSeconds() < 1 || idleTimeout.toSeconds() > 4000) {
      errors.push(`idleTimeout must be between 1 and 4000 seconds (the ALB maximum), got ${idleTimeout.toSeconds()} s.`);
    }
    const readTimeout = this.originReadTimeout.toSeconds();
    if (readTimeout < 1 || readTimeout > 180) {
      errors.push(`originReadTimeout must be between 1 and 180 seconds (CloudFront's maximum, above 60 s only with a raised quota), got ${readTimeout} s.`);
    }
    if (errors.length > 0) throw new Error(`IngestService: invalid props\n- ${errors.join('\n- ')}`);
    const internetFacing = props.domainName !== undefined;

    // Public subnets for the tasks (public IPs instead of NAT gateways: the security group admits
    // only the load balancer) and for an internet-facing ALB; isolated subnets for the internal
    // ALB that CloudFront reaches through a VPC origin. DynamoDB and S3 traffic stays on gateway
    // endpoints (free, and not metered as internet egress).
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(INGEST_VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'internal', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        all: {
          destination: props.accessLogsBucket
            ? ec2.FlowLogDestination.toS3(props.accessLogsBucket, 'vpc-flow-logs/')
            : ec2.FlowLogDestination.toCloudWatchLogs(),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryLimitMiB ?? 2048,
      runtimePlatform: { cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addContainer('ingest', {
      // Built by `cdk deploy` from the top-level Dockerfile (esbuild bundle of bin/berth-ingest.ts, run by node).
      image: ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
        file: 'Dockerfile',
        platform: cpuArchitecture === ecs.CpuArchitecture.ARM64 ? ecrAssets.Platform.LINUX_ARM64 : ecrAssets.Platform.LINUX_AMD64,
      }),
      portMappings: [{ containerPort: INGEST_CONTAINER_PORT }],
      environment: {
        TABLE_NAME: props.storage.table.tableName,
        BUCKET_NAME: props.storage.bucket.bucketName,
        UPLOAD_TOKEN_SECRET_ARN: props.uploadTokenSecret.secretArn,
        AWS_REGION: Aws.REGION,
        POWERTOOLS_SERVICE_NAME: 'berth-ingest',
      },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'ingest',
        logGroup: new logs.LogGroup(this, 'Logs', { retention: logRetention }),
      }),
    });
    // The task role: read/write on the registry's table and bucket, read on the upload-token key.
    props.storage.grantReadWrite(this.taskDefinition.taskRole);
    props.uploadTokenSecret.grantRead(this.taskDefinition.taskRole);

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount,
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });

    const albSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: internetFacing
        ? 'Berth ingest ALB: HTTPS from clients'
        : 'Berth ingest ALB: HTTP from the CloudFront VPC origin inside this VPC only',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing,
      vpcSubnets: { subnetType: internetFacing ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroup: albSecurityGroup,
      // Long uploads: a client streaming a multi-gigabyte layer must not be cut off while it pauses.
      idleTimeout,
      dropInvalidHeaderFields: true,
    });
    if (props.accessLogsBucket) this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'ingest-alb');

    if (internetFacing) {
      this.listener = this.loadBalancer.addListener('Https', {
        protocol: elbv2.ApplicationProtocol.HTTPS,
        port: 443,
        certificates: [props.certificate!],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: true,
      });
      this.endpoint = `https://${props.domainName}`;
    } else {
      this.listener = this.loadBalancer.addListener('Http', {
        protocol: elbv2.ApplicationProtocol.HTTP,
        port: 80,
        open: false,
      });
      // CloudFront's VPC origin reaches the ALB from network interfaces in this VPC's subnets.
      albSecurityGroup.addIngressRule(ec2.Peer.ipv4(INGEST_VPC_CIDR), ec2.Port.tcp(80), 'CloudFront VPC origin');
    }
    this.listener.addTargets('Ingest', {
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: INGEST_CONTAINER_PORT,
      targets: [this.service],
      healthCheck: {
        path: INGEST_HEALTH_CHECK_PATH,
        interval: Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // Give an upload in flight time to finish when a task is replaced.
      deregistrationDelay: Duration.seconds(120),
    });

    this.acknowledgeNagFindings(albSecurityGroup);
  }

  /**
   * The CloudFront origin for the upload behaviour: a VPC origin on the internal load balancer.
   * HTTP between CloudFront and the load balancer never leaves the VPC.
   */
  public cloudFrontOrigin(): cloudfront.IOrigin {
    if (this.endpoint) {
      throw new Error('IngestService: this service has its own domain (an internet-facing HTTPS load balancer); clients reach it directly, not through CloudFront.');
    }
    return origins.VpcOrigin.withApplicationLoadBalancer(this.loadBalancer, {
      httpPort: 80,
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY,
      readTimeout: this.originReadTimeout,
    });
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(loadBalancerSecurityGroup: ec2.ISecurityGroup): void {
    acknowledgeNagFinding(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds only names and ARNs (TABLE_NAME, BUCKET_NAME, UPLOAD_TOKEN_SECRET_ARN, AWS_REGION, POWERTOOLS_SERVICE_NAME), never a secret value: the server reads the key from Secrets Manager with the task role.',
    );
    acknowledgeNagFinding(
      this.taskDefinition.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken supports no resource-level permission (AWS requires Resource "*"); the execution role uses it only to pull the ingest image from the CDK assets repository, whose pull actions are scoped to that repository.',
    );
    if (this.endpoint) {
      acknowledgeNagFinding(
        loadBalancerSecurityGroup,
        'AwsSolutions-EC23',
        'The ingest host is a public registry endpoint like the API: it listens on HTTPS 443 only and every request must carry an unexpired upload token bound to one upload of one repository.',
      );
    }
  }
}
