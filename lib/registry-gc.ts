import * as path from 'node:path';
import { Duration, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DYNAMODB_TABLE_SCHEMA } from '../lambdas/contracts/dynamodb-table';
import {
  DEFAULT_GC_GRACE_HOURS,
  DEFAULT_GC_INTERVAL_HOURS,
  DEFAULT_GC_TIMEOUT_MINUTES,
  GC_DEADLINE_RESERVE_MS,
  GC_DELETION_LEASE_MINUTES,
  MIN_GC_GRACE_HOURS,
} from '../lambdas/contracts/garbage-collector';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { PROJECT_ROOT } from './registry-api';

/** The collector's entry point, relative to the project root. It exports `handler`. */
export const GARBAGE_COLLECTOR_ENTRY = 'lambdas/handlers/garbage-collector.ts';

/**
 * What a background function that opens the metadata store calls on the table itself (the garbage
 * collector and the lifecycle runner alike): the layout check and upgrade (GetItem, Scan, PutItem, and
 * the upgrade's transactions), the listings (Query, BatchGetItem), their transactions and conditional
 * writes (unlinks, content deletions, expiries, archivals, `lastEvaluatedAt`), and the upload purge
 * (DeleteItem). TransactWriteItems has no IAM action of its own: each of its actions needs PutItem,
 * UpdateItem, DeleteItem or ConditionCheckItem.
 */
export const BACKGROUND_TABLE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/** What the collector calls on the table's index: the catalog, the content records, a blob's links and the uploads by age. */
export const GC_INDEX_ACTIONS = ['dynamodb:Query'];

/** The bucket's prefixes the collector lists: content, staged manifest bodies, and an upload's objects. */
export const GC_LISTED_PREFIXES = ['blobs/', 'staging/', 'uploads/'];

/** Properties of {@link RegistryGarbageCollector}. */
export interface RegistryGarbageCollectorProps {
  /** The registry's table (its content records, links, manifests and uploads). */
  readonly table: dynamodb.ITable;

  /** The registry's bucket (`blobs/`, `staging/`, `uploads/`). */
  readonly bucket: s3.IBucket;

  /**
   * How old a repository's link that no manifest uses, or content that no repository links, must be
   * before it goes (docs/garbage-collection.md). At least one hour: a push links each layer when its
   * upload completes and needs the link when its manifest arrives.
   *
   * @default Duration.hours(24)
   */
  readonly gracePeriod?: Duration;

  /**
   * When the collector runs. Reserved concurrency 1 keeps runs from overlapping: a run that finds the
   * previous one still at work waits for it.
   *
   * @default events.Schedule.rate(Duration.hours(1))
   */
  readonly schedule?: events.Schedule;

  /**
   * The function's timeout. A run stops starting new work a minute before it (the next run goes on),
   * so at least 2 minutes; and shorter than the 15-minute lease of a deletion a run began, after which
   * another run or a writer may finish it.
   *
   * @default Duration.minutes(10)
   */
  readonly timeout?: Duration;

  /**
   * Retention of the collector's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Online garbage collection on AWS (docs/garbage-collection.md): a function on an EventBridge
 * schedule runs the same collector as local mode over the table and the bucket (every removal a
 * conditional write or a transaction, so it runs while the registry serves), then purges abandoned
 * uploads. It reports LinksRemoved, ContentDeleted, BytesFreed, CollectionComplete and UploadsPurged
 * to CloudWatch (namespace `Berth`, service `berth-garbage-collector`).
 */
export class RegistryGarbageCollector extends Construct {
  /** The collector function: one run per scheduled invocation, never two at once. */
  public readonly collector: nodejs.NodejsFunction;
  /** The schedule that invokes it. */
  public readonly rule: events.Rule;
  /** The grace period it runs with. */
  public readonly gracePeriod: Duration;

  constructor(scope: Construct, id: string, props: RegistryGarbageCollectorProps) {
    super(scope, id);
    this.gracePeriod = props.gracePeriod ?? Duration.hours(DEFAULT_GC_GRACE_HOURS);
    const timeout = props.timeout ?? Duration.minutes(DEFAULT_GC_TIMEOUT_MINUTES);
    validateProps(this.gracePeriod, timeout);

    this.collector = new nodejs.NodejsFunction(this, 'Collector', {
      entry: path.join(PROJECT_ROOT, GARBAGE_COLLECTOR_ENTRY),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: 'Berth registry: garbage collection (unused blob links, unlinked content, abandoned uploads)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // The run keeps every content digest in memory (about 100 bytes each): 512 MB holds millions.
      memorySize: 512,
      timeout,
      reservedConcurrentExecutions: 1,
      // A failed run is not retried: the next scheduled one goes on where it stopped.
      retryAttempts: 0,
      environment: {
        TABLE_NAME: props.table.tableName,
        BUCKET_NAME: props.bucket.bucketName,
        GC_GRACE_SECONDS: this.gracePeriod.isUnresolved() ? Token.asString(this.gracePeriod.toSeconds()) : String(this.gracePeriod.toSeconds()),
        POWERTOOLS_SERVICE_NAME: 'berth-garbage-collector',
        POWERTOOLS_METRICS_NAMESPACE: 'Berth',
      },
      logGroup: new logs.LogGroup(this, 'CollectorLogs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH }),
      // Bundled as RegistryApi's functions are: local esbuild, the SDK from the runtime.
      bundling: { forceDockerBundling: false, minify: true, target: 'node22', format: nodejs.OutputFormat.CJS, externalModules: ['@aws-sdk/*'] },
    });
    this.grantCollection(props);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Berth registry: runs the garbage collector',
      schedule: props.schedule ?? events.Schedule.rate(Duration.hours(DEFAULT_GC_INTERVAL_HOURS)),
      targets: [new targets.LambdaFunction(this.collector)],
    });

    this.acknowledgeNagFindings(props.bucket);
  }

  /** Least privilege: exactly the calls DynamoDbMetadataStore and S3BlobStore make for collection and the upload purge. */
  private grantCollection(props: RegistryGarbageCollectorProps): void {
    const { table, bucket } = props;
    const fn = this.collector;
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: BACKGROUND_TABLE_ACTIONS, resources: [table.tableArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: GC_INDEX_ACTIONS,
        resources: DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': GC_LISTED_PREFIXES.map((prefix) => `${prefix}*`) } },
      }),
    );
    // HEAD and GET of content (a staged copy is discarded only once its content exists) and reads of large manifest bodies.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('blobs/*'), bucket.arnForObjects('staging/*')] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: GC_LISTED_PREFIXES.map((prefix) => bucket.arnForObjects(`${prefix}*`)) }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:AbortMultipartUpload'], resources: [bucket.arnForObjects('uploads/*')] }));
    // A customer managed key: reading the table and the objects decrypts; the collector encrypts nothing new in S3.
    const keys = [...new Map([table.encryptionKey, bucket.encryptionKey].flatMap((key) => (key ? [[key.keyArn, key] as const] : []))).values()];
    if (keys.length > 0) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: keys.map((key) => key.keyArn) }));
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(bucket: s3.IBucket): void {
    const role = this.collector.role;
    acknowledgeNagFinding(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
    );
    for (const prefix of GC_LISTED_PREFIXES) {
      acknowledgeNagFinding(
        role,
        `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(this).resolve(bucket.arnForObjects(`${prefix}*`)))}]`,
        `Object-level grant under ${prefix} of the registry's own bucket only: keys there are digests and upload ids found at run time by listing, so no narrower ARN exists; the actions are an explicit list without wildcards.`,
      );
    }
    acknowledgeNagFinding(
      this.collector,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
    );
  }
}

/** Checks the props (throws one error listing every problem). */
function validateProps(gracePeriod: Duration, timeout: Duration): void {
  const errors: string[] = [];
  if (!gracePeriod.isUnresolved() && gracePeriod.toSeconds({ integral: false }) < MIN_GC_GRACE_HOURS * 3600) {
    errors.push(
      `gracePeriod must be at least ${MIN_GC_GRACE_HOURS} hour, got ${gracePeriod.toHumanString()}: a push links each layer when its upload completes ` +
        'and needs the link when its manifest arrives, so a shorter grace period could remove links a push in progress is about to use.',
    );
  }
  if (!gracePeriod.isUnresolved() && !Number.isInteger(gracePeriod.toSeconds({ integral: false }))) {
    errors.push(`gracePeriod must be a whole number of seconds, got ${gracePeriod.toHumanString()}.`);
  }
  const lease = Duration.minutes(GC_DELETION_LEASE_MINUTES);
  if (!timeout.isUnresolved()) {
    const ms = timeout.toMilliseconds();
    if (ms < 2 * GC_DEADLINE_RESERVE_MS) errors.push(`timeout must be at least 2 minutes (a run stops a minute before it), got ${timeout.toHumanString()}.`);
    if (ms >= lease.toMilliseconds()) {
      errors.push(
        `timeout must be shorter than the ${lease.toHumanString()} lease of a deletion a run began (another run may finish it after the lease), got ${timeout.toHumanString()}.`,
      );
    }
  }
  if (errors.length > 0) throw new Error(`RegistryGarbageCollector: invalid props\n- ${errors.join('\n- ')}`);
}

/** A resolved ARN as cdk-nag names it in a finding (`<LogicalId.Arn>/blobs/*`). */
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
