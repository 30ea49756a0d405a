import * as path from 'node:path';
import { Duration, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { OUTBOX_PK } from '../lambdas/contracts/dynamodb-table';
import {
  DEFAULT_OUTBOX_STREAM_RETRY_ATTEMPTS,
  DEFAULT_SWEEP_INTERVAL_MINUTES,
  OUTBOX_STREAM_BATCH_SIZE,
  OUTBOX_STREAM_FILTER_PATTERN,
  SWEEP_INPUT,
} from '../lambdas/contracts/event-publisher';
import { DEFAULT_EVENT_SOURCE, validateEventSource } from '../lambdas/contracts/events';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { PROJECT_ROOT } from './registry-api';

/** The event publisher's entry point, relative to the project root. It exports `handler`. */
export const EVENT_PUBLISHER_ENTRY = 'lambdas/handlers/event-publisher.ts';

/** The actions the publisher may call on the table, only on items whose partition key is the outbox's. */
export const OUTBOX_TABLE_ACTIONS = ['dynamodb:Query', 'dynamodb:BatchWriteItem'];

/** The action the publisher may call on its bus (and nothing else on it). */
export const EVENT_BUS_ACTIONS = ['events:PutEvents'];

/** Properties of {@link RegistryEvents}. */
export interface RegistryEventsProps {
  /**
   * The registry's table. Its stream (view type `NEW_IMAGE`, as `RegistryStorage` enables it)
   * carries the outbox items the publisher turns into events.
   */
  readonly table: dynamodb.ITable;

  /**
   * The bus the image events go to.
   *
   * @default - the account's default bus in the stack's region
   */
  readonly eventBus?: events.IEventBus;

  /**
   * The `source` of the events. EventBridge refuses custom events whose source starts with `aws.`
   * (ECR's own is `aws.ecr`), so such a value, an empty one or one over 256 characters is refused
   * at synth. Rules written for ECR change their `source` filter to this value.
   *
   * @default 'berth.ecr'
   */
  readonly eventSource?: string;

  /**
   * How often the publisher sweeps the outbox for items the stream did not deliver (older than two
   * minutes: a stream batch that failed past its retries). At least one minute.
   *
   * @default Duration.minutes(5)
   */
  readonly sweepInterval?: Duration;

  /**
   * Retries of a stream batch that failed before Lambda sends its description to the dead-letter
   * queue and moves on (the items stay in the table for the sweep). Between 0 and 10000.
   *
   * @default 10
   */
  readonly retryAttempts?: number;

  /**
   * Retention of the publisher's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Image events on EventBridge, in ECR's shape, delivered at least once (docs/events.md, "On AWS"):
 * the publisher function reads the outbox items of the table's stream (an event source mapping
 * filtered to their INSERTs), puts their events on the bus and deletes the items; stream batches
 * that still fail after the retries are described in a dead-letter queue (the operator's alarm),
 * and a schedule sweeps the items they left (the replay).
 */
export class RegistryEvents extends Construct {
  /** The publisher: stream batches, the scheduled sweep and `{"action":"replay"}` invocations. */
  public readonly publisher: nodejs.NodejsFunction;
  /** Where Lambda describes the stream batches that failed past their retries (14 days). */
  public readonly deadLetterQueue: sqs.Queue;
  /** The bus the events go to. */
  public readonly eventBus: events.IEventBus;
  /** The `source` the events carry. */
  public readonly eventSource: string;
  /** The schedule that invokes the sweep. */
  public readonly sweepRule: events.Rule;

  constructor(scope: Construct, id: string, props: RegistryEventsProps) {
    super(scope, id);
    const sweepInterval = props.sweepInterval ?? Duration.minutes(DEFAULT_SWEEP_INTERVAL_MINUTES);
    const retryAttempts = props.retryAttempts ?? DEFAULT_OUTBOX_STREAM_RETRY_ATTEMPTS;
    this.eventSource = validateProps(props, sweepInterval, retryAttempts);
    if (!props.table.tableStreamArn) {
      throw new Error('RegistryEvents: the table has no stream. Enable one with view type NEW_IMAGE (RegistryStorage does).');
    }
    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });

    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.publisher = new nodejs.NodejsFunction(this, 'Publisher', {
      entry: path.join(PROJECT_ROOT, EVENT_PUBLISHER_ENTRY),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: 'Berth registry: publishes image events (outbox items of the table) to EventBridge',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // A stream batch takes seconds; a sweep or a replay drains for as long as it may (and says whether it finished).
      timeout: Duration.minutes(5),
      environment: {
        TABLE_NAME: props.table.tableName,
        // PutEvents takes a name or an ARN; the ARN also reaches a bus of another account.
        EVENT_BUS_NAME: this.eventBus.eventBusArn,
        EVENT_SOURCE: this.eventSource,
        REGISTRY_ACCOUNT_ID: Stack.of(this).account,
        POWERTOOLS_SERVICE_NAME: 'berth-event-publisher',
        POWERTOOLS_METRICS_NAMESPACE: 'Berth',
      },
      logGroup: new logs.LogGroup(this, 'PublisherLogs', { retention: logRetention }),
      // Bundled as RegistryApi's functions are: local esbuild, the SDK from the runtime.
      bundling: { forceDockerBundling: false, minify: true, target: 'node22', format: nodejs.OutputFormat.CJS, externalModules: ['@aws-sdk/*'] },
    });

    // Least privilege: PutEvents on this bus; on the table, reading and deleting outbox items and no
    // other item (BatchWriteItem is how the outbox deletes them); the stream's read permissions come
    // with the event source mapping (and, with a customer managed key, kms:Decrypt and DescribeKey on
    // it, which the table's calls need too), the queue's send permission with its on-failure destination.
    this.publisher.addToRolePolicy(new iam.PolicyStatement({ actions: EVENT_BUS_ACTIONS, resources: [this.eventBus.eventBusArn] }));
    this.publisher.addToRolePolicy(
      new iam.PolicyStatement({
        actions: OUTBOX_TABLE_ACTIONS,
        resources: [props.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [OUTBOX_PK] } },
      }),
    );

    this.publisher.addEventSource(
      new sources.DynamoEventSource(props.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: OUTBOX_STREAM_BATCH_SIZE,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts,
        onFailure: new sources.SqsDlq(this.deadLetterQueue),
        filters: [lambda.FilterCriteria.filter(OUTBOX_STREAM_FILTER_PATTERN)],
      }),
    );

    this.sweepRule = new events.Rule(this, 'SweepSchedule', {
      description: 'Berth registry: publishes the outbox items the table stream did not deliver',
      schedule: events.Schedule.rate(sweepInterval),
      targets: [new targets.LambdaFunction(this.publisher, { event: events.RuleTargetInput.fromObject(SWEEP_INPUT) })],
    });

    this.acknowledgeNagFindings();
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(): void {
    acknowledgeNagFinding(
      this.publisher.role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
    );
    acknowledgeNagFinding(
      this.publisher.role,
      'AwsSolutions-IAM5[Resource::*]',
      'dynamodb:ListStreams, which the DynamoDB event source mapping needs and aws-cdk-lib grants with it, has no resource-level permissions (IAM service authorization reference): it can only be granted on "*"; it lists stream ARNs and reads no data.',
    );
    acknowledgeNagFinding(
      this.publisher,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
    );
    acknowledgeNagFinding(
      this.deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of the event source mapping (Lambda sends it the description of each stream batch that failed past its retries); a dead-letter queue of a dead-letter queue would only hide the alarm.',
    );
  }
}

/** Checks the props (throws one error listing every problem) and answers the event source. */
function validateProps(props: RegistryEventsProps, sweepInterval: Duration, retryAttempts: number): string {
  const errors: string[] = [];
  let source = DEFAULT_EVENT_SOURCE;
  if (props.eventSource !== undefined && Token.isUnresolved(props.eventSource)) {
    source = props.eventSource;
  } else {
    try {
      source = validateEventSource(props.eventSource, 'aws');
    } catch (error) {
      errors.push(`eventSource: ${(error as Error).message}`);
    }
  }
  if (!sweepInterval.isUnresolved() && sweepInterval.toSeconds() < 60) {
    errors.push(`sweepInterval must be at least 1 minute (EventBridge schedules count in minutes), got ${sweepInterval.toHumanString()}.`);
  }
  if (!Token.isUnresolved(retryAttempts) && (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 10000)) {
    errors.push(`retryAttempts must be an integer between 0 and 10000, got ${retryAttempts}.`);
  }
  if (errors.length > 0) throw new Error(`RegistryEvents: invalid props\n- ${errors.join('\n- ')}`);
  return source;
}
