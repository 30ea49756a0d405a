import * as path from 'node:path';
import { Aws, Duration, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { OUTBOX_PK } from '../lambdas/contracts/dynamodb-table';
import { repositoryArn } from '../lambdas/contracts/ecr-actions';
import { validateEventSource } from '../lambdas/contracts/events';
import {
  parseReplicationDestinations,
  REPLICATION_DESTINATIONS_ENV,
  replicationDestinationsEnvValue,
  type ReplicationDestinationEndpoint,
  type ReplicationSelf,
} from '../lambdas/contracts/replication';
import {
  DEFAULT_REPLICATOR_CONCURRENCY,
  REPLICATION_DEAD_LETTER_QUEUE_URL_ENV,
  REPLICATION_MAX_RECEIVE_COUNT,
  REPLICATION_PRESIGN_TTL_SECONDS,
  REPLICATION_QUEUE_URL_ENV,
  REPLICATION_QUEUE_VISIBILITY_SECONDS,
  REPLICATOR_TIMEOUT_SECONDS,
  replicationEventPattern,
} from '../lambdas/contracts/replicator';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { CONTROL_PLANE_INVOKE_ACTIONS, PROJECT_ROOT } from './registry-api';

export type { ReplicationDestinationEndpoint } from '../lambdas/contracts/replication';

/** The replicator's entry point, relative to the project root. It exports `handler`. */
export const REPLICATOR_ENTRY = 'lambdas/handlers/replicator.ts';

/**
 * What the replicator reads on the table: registry settings (the rules), manifests and blob links,
 * each one GetItem (and the layout check's GetItem when it opens the store).
 */
export const REPLICATOR_TABLE_READ_ACTIONS = ['dynamodb:GetItem'];

/**
 * What the replicator writes on the table, only in repository partitions and the outbox
 * (`dynamodb:LeadingKeys`): a replication status is a transaction of a ConditionCheck (its manifest
 * exists) and a conditional Put; the FAILED replication events are an outbox item, a Put in a
 * transaction of its own. TransactWriteItems has no IAM action of its own.
 */
export const REPLICATOR_TABLE_WRITE_ACTIONS = ['dynamodb:ConditionCheckItem', 'dynamodb:PutItem'];

/** The partition keys the replicator may write under: repositories' (statuses) and the outbox (events). */
export const REPLICATOR_WRITTEN_PARTITIONS = ['repo#*', OUTBOX_PK];

/** The bucket's prefixes the replicator reads: content (presigned GETs, large manifest bodies) and staged manifest bodies. */
export const REPLICATOR_READ_PREFIXES = ['blobs/', 'staging/'];

/**
 * What a destination's registry checks of the replicator's role, on its repositories: every
 * replication call is authorized as `ecr:ReplicateImage`, one that creates the repository also as
 * `ecr:CreateRepository`. A destination of the same account asks IAM's policy simulator about these
 * identity policies; one of another account also needs its registry policy to allow them.
 */
export const REPLICATION_DESTINATION_ACTIONS = ['ecr:ReplicateImage', 'ecr:CreateRepository'];

/** SQS event sources take a maximum concurrency from 2 to 1000. */
const CONCURRENCY_RANGE = [2, 1000] as const;

/** Properties of {@link RegistryReplication}. */
export interface RegistryReplicationProps {
  /** The registry's table (registry settings, manifests, blob links, replication statuses, the outbox). */
  readonly table: dynamodb.ITable;

  /** The registry's bucket, whose content the destinations fetch through presigned URLs. */
  readonly bucket: s3.IBucket;

  /**
   * The bus the registry's image events go to ({@link RegistryEvents.eventBus}). The rule is created
   * on it, so it must be a bus of the stack's account.
   */
  readonly eventBus: events.IEventBus;

  /** The `source` of the registry's image events ({@link RegistryEvents.eventSource}). */
  readonly eventSource: string;

  /**
   * Where replication rules may send images: each destination's region and account as rules name
   * them, and the URL of its control plane (the destination stack's `ControlPlaneEndpoint` output).
   * At least one; checked with `parseReplicationDestinations` (lambdas/contracts/replication.ts),
   * and an `execute-api` endpoint must be of the destination's region.
   *
   * The role may call, on each destination, `execute-api:Invoke` on `POST` of the API the endpoint
   * names (`https://<api id>.execute-api.<region>.amazonaws.com/...`), or of any API of that
   * account and region when the endpoint is a custom domain (the API id is unknown then).
   */
  readonly destinations: readonly ReplicationDestinationEndpoint[];

  /**
   * How many replications run at once (the SQS event source's maximum concurrency): each
   * destination sees a bounded load, and the rest of the account's concurrency stays with the
   * registry. From 2 to 1000.
   *
   * @default 10
   */
  readonly concurrency?: number;

  /**
   * Retention of the replicator's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Replication to other Berth deployments on AWS (docs/replication.md, "Deploying it on AWS"; the
 * design in lambdas/contracts/replicator.ts): a rule on the registry's bus sends its own PUSH and
 * DELETE events to a queue, and the replicator function reads the queue one message at a time. It
 * splits an event into one job message per destination (sent to the same queue), carries a job out
 * against the destination's control plane (blobs through presigned URLs of this bucket, then
 * manifests, then the tag), delays a failed job's retry by changing its visibility, and sends a job
 * it gives up to the dead-letter queue with its error. SQS itself dead-letters a message received
 * too often (a function that keeps dying), and the rule dead-letters events it could not deliver.
 *
 * Nothing is ever written to a bucket: the destination fetches each blob itself.
 */
export class RegistryReplication extends Construct {
  /** The replicator function. */
  public readonly function: nodejs.NodejsFunction;
  /** The queue of events and jobs the function reads (and writes jobs to). */
  public readonly queue: sqs.Queue;
  /** Jobs given up, events the rule could not deliver, and messages received too often (14 days). */
  public readonly deadLetterQueue: sqs.Queue;
  /** The rule that sends the registry's own pushes and deletes to the queue. */
  public readonly rule: events.Rule;
  /** The destinations, as checked (trailing slashes of endpoints removed). */
  public readonly destinations: readonly ReplicationDestinationEndpoint[];

  constructor(scope: Construct, id: string, props: RegistryReplicationProps) {
    super(scope, id);
    const concurrency = props.concurrency ?? DEFAULT_REPLICATOR_CONCURRENCY;
    this.destinations = validateProps(this, props, concurrency);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      visibilityTimeout: Duration.seconds(REPLICATION_QUEUE_VISIBILITY_SECONDS),
      // An expired message vanishes without a dead letter: keep a backlog as long as SQS can.
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: REPLICATION_MAX_RECEIVE_COUNT },
    });

    this.function = new nodejs.NodejsFunction(this, 'Replicator', {
      entry: path.join(PROJECT_ROOT, REPLICATOR_ENTRY),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: 'Berth registry: replicates pushed and deleted images to other Berth deployments',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // A job reads manifest bodies whole (up to 4 MB) and makes one signed HTTPS call per blob;
      // 512 MB buys the CPU that keeps those calls short.
      memorySize: 512,
      timeout: Duration.seconds(REPLICATOR_TIMEOUT_SECONDS),
      environment: {
        TABLE_NAME: props.table.tableName,
        BUCKET_NAME: props.bucket.bucketName,
        REGISTRY_ACCOUNT_ID: Stack.of(this).account,
        [REPLICATION_DESTINATIONS_ENV]: replicationDestinationsEnvValue(this.destinations),
        [REPLICATION_QUEUE_URL_ENV]: this.queue.queueUrl,
        [REPLICATION_DEAD_LETTER_QUEUE_URL_ENV]: this.deadLetterQueue.queueUrl,
        PRESIGN_TTL_SECONDS: String(REPLICATION_PRESIGN_TTL_SECONDS),
        POWERTOOLS_SERVICE_NAME: 'berth-replicator',
        POWERTOOLS_METRICS_NAMESPACE: 'Berth',
      },
      logGroup: new logs.LogGroup(this, 'ReplicatorLogs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH }),
      // Bundled as the other functions are: local esbuild, the SDK from the runtime.
      bundling: { forceDockerBundling: false, minify: true, target: 'node22', format: nodejs.OutputFormat.CJS, externalModules: ['@aws-sdk/*'] },
    });
    this.grantReplication(props);

    // One message per invocation: a job's failure and its retry concern that job alone.
    this.function.addEventSource(new sources.SqsEventSource(this.queue, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: concurrency }));

    const pattern = replicationEventPattern(props.eventSource);
    this.rule = new events.Rule(this, 'Rule', {
      description: 'Berth registry: sends the registry\'s own pushes and deletes to the replication queue',
      eventBus: props.eventBus,
      eventPattern: { source: pattern.source, detailType: pattern['detail-type'], detail: pattern.detail },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue })],
    });

    this.acknowledgeNagFindings(props.bucket);
  }

  /**
   * Least privilege: exactly what the replicator's store calls, reads of this bucket's content (no
   * write to any bucket), its two queues, and the replication calls on each destination.
   */
  private grantReplication(props: RegistryReplicationProps): void {
    const { table, bucket } = props;
    const fn = this.function;
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: REPLICATOR_TABLE_READ_ACTIONS, resources: [table.tableArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: REPLICATOR_TABLE_WRITE_ACTIONS,
        resources: [table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': REPLICATOR_WRITTEN_PARTITIONS } },
      }),
    );
    // Presigned GETs carry the role's signature, so the role itself must be allowed to read what they name.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: REPLICATOR_READ_PREFIXES.map((prefix) => bucket.arnForObjects(`${prefix}*`)) }));
    // A large manifest body still staged (a push whose move was interrupted) is found by listing its digest's prefix.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn], conditions: { StringLike: { 's3:prefix': ['staging/*'] } } }),
    );
    const keys = [...new Map([table.encryptionKey, bucket.encryptionKey].flatMap((key) => (key ? [[key.keyArn, key] as const] : []))).values()];
    if (keys.length > 0) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: keys.map((key) => key.keyArn) }));

    // The event source's grant covers reading and ChangeMessageVisibility (the delayed retries); the
    // function also sends job messages (SendMessageBatch is authorized as SendMessage) and dead-letters given-up jobs.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }));

    fn.addToRolePolicy(new iam.PolicyStatement({ actions: CONTROL_PLANE_INVOKE_ACTIONS, resources: this.destinations.map(controlPlaneInvokeArn) }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: REPLICATION_DESTINATION_ACTIONS, resources: this.destinations.map((d) => repositoryArn(d.region, d.registryId, '*')) }),
    );
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(bucket: s3.IBucket): void {
    const role = this.function.role;
    acknowledgeNagFinding(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
    );
    for (const prefix of REPLICATOR_READ_PREFIXES) {
      acknowledgeNagFinding(
        role,
        `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(this).resolve(bucket.arnForObjects(`${prefix}*`)))}]`,
        `Read-only grant under ${prefix} of the registry's own bucket: keys there are digests known only when an image is replicated, so no narrower ARN exists; the only action is s3:GetObject.`,
      );
    }
    for (const destination of this.destinations) {
      const at = `${destination.region}/${destination.registryId}`;
      acknowledgeNagFinding(
        role,
        `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(this).resolve(controlPlaneInvokeArn(destination)))}]`,
        `execute-api:Invoke on POST of the control plane of destination ${at} only, in every stage of its API (or of any API of that account and region when the endpoint is a custom domain, whose API id is unknown): replication calls are POST / with X-Amz-Target.`,
      );
      acknowledgeNagFinding(
        role,
        `AwsSolutions-IAM5[Resource::${repositoryArn(destination.region, destination.registryId, '*')}]`,
        `ecr:ReplicateImage and ecr:CreateRepository on the repositories of destination ${at}: replication rules pick repositories at run time (by prefix filters), and the destination checks these actions per repository.`,
      );
    }
    acknowledgeNagFinding(
      this.function,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
    );
    acknowledgeNagFinding(
      this.deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of the replication queue, of the rule\'s target and of the replicator\'s given-up jobs; a dead-letter queue of a dead-letter queue would only hide the alarm.',
    );
  }
}

/** `https://<api id>.execute-api.<region>.amazonaws.com[.cn]/...`, or a private API's `<api id>-vpce-<id>.execute-api...`. */
const EXECUTE_API_HOST = /^([a-z0-9]+)(?:-vpce-[a-z0-9]+)?\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The API id and region an endpoint names, or undefined for a custom domain. */
function executeApiOf(endpoint: string): { apiId: string; region: string } | undefined {
  const match = EXECUTE_API_HOST.exec(new URL(endpoint).hostname);
  return match ? { apiId: match[1], region: match[2] } : undefined;
}

/** `POST` on every path of every stage of the destination's API; `*` for the API of a custom domain. */
function controlPlaneInvokeArn(destination: ReplicationDestinationEndpoint): string {
  const apiId = executeApiOf(destination.endpoint)?.apiId ?? '*';
  return `arn:${Aws.PARTITION}:execute-api:${destination.region}:${destination.registryId}:${apiId}/*/POST/*`;
}

/** Checks the props (throws one error listing every problem) and answers the destinations as parsed. */
function validateProps(scope: Construct, props: RegistryReplicationProps, concurrency: number): ReplicationDestinationEndpoint[] {
  const errors: string[] = [];
  const stack = Stack.of(scope);
  let destinations: ReplicationDestinationEndpoint[] = [];
  const unresolved = (Array.isArray(props.destinations) ? props.destinations : []).flatMap((d: unknown, i) =>
    Object.entries(typeof d === 'object' && d !== null ? d : {})
      .filter(([, value]) => Token.isUnresolved(value))
      .map(([field]) => `destinations[${i}].${field}`),
  );
  if (unresolved.length > 0) {
    errors.push(`${unresolved.join(', ')} must be known at synth (the role's grants are built from them), not a token.`);
  } else {
    try {
      const self: ReplicationSelf | undefined = !Token.isUnresolved(stack.account) && !Token.isUnresolved(stack.region) ? { registryId: stack.account, regions: [stack.region] } : undefined;
      destinations = parseReplicationDestinations(props.destinations, { where: 'destinations', credentials: false, ...(self ? { self } : {}) });
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  if (errors.length === 0 && destinations.length === 0) errors.push('destinations must list at least one destination (a registry without any needs no RegistryReplication).');
  destinations.forEach((d, i) => {
    const api = executeApiOf(d.endpoint);
    if (api && api.region !== d.region) {
      errors.push(`destinations[${i}].endpoint is an API of region ${api.region}, but the destination's region is ${d.region}: a Berth deployment answers as the region it runs in.`);
    }
  });
  if (!Token.isUnresolved(concurrency) && (!Number.isInteger(concurrency) || concurrency < CONCURRENCY_RANGE[0] || concurrency > CONCURRENCY_RANGE[1])) {
    errors.push(`concurrency must be a whole number from ${CONCURRENCY_RANGE[0]} to ${CONCURRENCY_RANGE[1]} (an SQS event source's maximum concurrency), got ${concurrency}.`);
  }
  if (!Token.isUnresolved(props.eventSource)) {
    try {
      validateEventSource(props.eventSource, 'aws');
    } catch (error) {
      errors.push(`eventSource: ${(error as Error).message}`);
    }
  }
  const busAccount = props.eventBus.env.account;
  if (!Token.isUnresolved(busAccount) && !Token.isUnresolved(stack.account) && busAccount !== stack.account) {
    errors.push(`eventBus is a bus of account ${busAccount}: a rule can only be created in the bus's own account (${stack.account} is this stack's); replicate from a bus of this account.`);
  }
  if (errors.length > 0) throw new Error(`RegistryReplication: invalid props\n- ${errors.join('\n- ')}`);
  return destinations;
}

/** A resolved ARN as cdk-nag names it in a finding (`<LogicalId.Arn>/blobs/*`, `arn:<AWS::Partition>:...`). */
function flattenReference(node: unknown): string {
  if (typeof node === 'string') return node;
  const value = node as Record<string, unknown>;
  if (Array.isArray(value['Fn::Join'])) {
    const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if (Array.isArray(value['Fn::GetAtt'])) return `<${(value['Fn::GetAtt'] as string[]).join('.')}>`;
  if (typeof value.Ref === 'string') return `<${value.Ref}>`;
  return JSON.stringify(node);
}
