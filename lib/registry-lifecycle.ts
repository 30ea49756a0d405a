import * as path from 'node:path';
import { Duration, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DYNAMODB_TABLE_SCHEMA } from '../lambdas/contracts/dynamodb-table';
import {
  DEFAULT_LIFECYCLE_CONCURRENCY,
  DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE,
  DEFAULT_LIFECYCLE_INTERVAL_HOURS,
  LIFECYCLE_DEADLINE_RESERVE_MS,
  LIFECYCLE_RETRY_ATTEMPTS,
  LIFECYCLE_SCHEDULE_INPUT,
  LIFECYCLE_TIMEOUT_MINUTES,
} from '../lambdas/contracts/lifecycle-runner';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { PROJECT_ROOT } from './registry-api';
import { BACKGROUND_TABLE_ACTIONS } from './registry-gc';

/** The lifecycle runner's entry point, relative to the project root. It exports `handler`. */
export const LIFECYCLE_RUNNER_ENTRY = 'lambdas/handlers/lifecycle-runner.ts';

/** What the runner calls on the table's index: the catalog, which a dispatch run pages through. */
export const LIFECYCLE_INDEX_ACTIONS = ['dynamodb:Query'];

/** Properties of {@link RegistryLifecycle}. */
export interface RegistryLifecycleProps {
  /** The registry's table (repositories, their lifecycle policies, manifests, tags, the outbox). */
  readonly table: dynamodb.ITable;

  /**
   * When every repository's lifecycle policy runs. Each scheduled run starts one run per
   * repository (a repository without a policy costs a GetItem), so a registry of many repositories
   * and few policies may run it less often.
   *
   * @default events.Schedule.rate(Duration.days(1))
   */
  readonly schedule?: events.Schedule;

  /**
   * The function's reserved concurrency: how many runs (repositories) go at once. It bounds the
   * write load a scheduled run puts on the table and leaves the rest of the account's concurrency
   * to the registry's own functions; Lambda keeps the other queued runs (up to 6 hours) until one
   * ends. At least 1.
   *
   * @default 10
   */
  readonly concurrency?: number;

  /**
   * Repositories one dispatch run lists and hands out before it hands the rest to its continuation.
   * From 1 to 1000.
   *
   * @default 100
   */
  readonly dispatchPageSize?: number;

  /**
   * The function's timeout, which is a worker run's. A run stops starting expiries a minute before
   * it and, having changed something, invokes a continuation for its repository, so no repository
   * is too large; a longer timeout needs fewer continuations. From 2 to 15 minutes.
   *
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;

  /**
   * Retention of the runner's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Lifecycle policies on AWS (docs/lifecycle.md, "Running it on AWS"): a function on an EventBridge
 * schedule fans out by recursion with a cursor (no Step Functions state machine, which would add a
 * service, a role and a definition to keep in step with the code for what two event shapes do). The
 * scheduled run (`{}`) lists one page of repositories and invokes the function itself asynchronously
 * once per repository (`{"repository": name}`) and once more after the page (`{"cursor": name}`). A
 * repository's run is the core's runLifecyclePolicy, as local mode runs it: every expiry and archival
 * conditional on what the evaluation saw, recorded in the outbox with `initiatedBy: 'lifecycle-policy'`.
 *
 * Each run is retried twice when it fails and then goes, with its event, to the dead-letter queue.
 * It reports ImagesExpired, ImagesArchived, LifecycleChangesRefused, LifecycleRunComplete and
 * RepositoriesDispatched to CloudWatch (namespace `Berth`, service `berth-lifecycle-runner`).
 */
export class RegistryLifecycle extends Construct {
  /** The runner function: dispatch runs and one worker run per repository. */
  public readonly runner: nodejs.NodejsFunction;
  /** The schedule that starts a dispatch. */
  public readonly rule: events.Rule;
  /** Where Lambda sends the events of runs that failed past their retries (14 days). */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: RegistryLifecycleProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.minutes(LIFECYCLE_TIMEOUT_MINUTES);
    const concurrency = props.concurrency ?? DEFAULT_LIFECYCLE_CONCURRENCY;
    const pageSize = props.dispatchPageSize ?? DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE;
    validateProps(timeout, concurrency, pageSize);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });

    this.runner = new nodejs.NodejsFunction(this, 'Runner', {
      entry: path.join(PROJECT_ROOT, LIFECYCLE_RUNNER_ENTRY),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: 'Berth registry: runs the repositories\' lifecycle policies (a dispatch fans out one run per repository)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // A worker holds every image record of its repository for the evaluation (a few hundred bytes
      // to a few KB each): 1 GB holds 100,000 images with room to spare.
      memorySize: 1024,
      // Lambda's maximum, for the worker of a large repository. One of 100,000 images is listed and
      // evaluated in well under a minute; its expiries (a few requests each) may take longer than
      // one run, which then stops before its timeout and invokes its own continuation.
      timeout,
      reservedConcurrentExecutions: concurrency,
      retryAttempts: LIFECYCLE_RETRY_ATTEMPTS,
      // Lambda's maximum: a scheduled run queues one event per repository, run `concurrency` at a time.
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        TABLE_NAME: props.table.tableName,
        LIFECYCLE_DISPATCH_PAGE_SIZE: Token.isUnresolved(pageSize) ? Token.asString(pageSize) : String(pageSize),
        POWERTOOLS_SERVICE_NAME: 'berth-lifecycle-runner',
        POWERTOOLS_METRICS_NAMESPACE: 'Berth',
      },
      logGroup: new logs.LogGroup(this, 'RunnerLogs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH }),
      // Bundled as the garbage collector is: local esbuild, the SDK from the runtime.
      bundling: { forceDockerBundling: false, minify: true, target: 'node22', format: nodejs.OutputFormat.CJS, externalModules: ['@aws-sdk/*'] },
    });
    const selfInvoke = this.grantRuns(props.table);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Berth registry: runs the repositories\' lifecycle policies',
      schedule: props.schedule ?? events.Schedule.rate(Duration.hours(DEFAULT_LIFECYCLE_INTERVAL_HOURS)),
      targets: [new targets.LambdaFunction(this.runner, { event: events.RuleTargetInput.fromObject(LIFECYCLE_SCHEDULE_INPUT) })],
    });
    // The first scheduled run must be able to hand out its repositories.
    this.rule.node.addDependency(selfInvoke);

    this.acknowledgeNagFindings();
  }

  /**
   * Least privilege: exactly the calls DynamoDbMetadataStore makes for a lifecycle run, and
   * InvokeFunction on this function only. The self-invocation is a policy of its own: in the role's
   * default policy, which the function depends on, its ARN would make a dependency cycle.
   */
  private grantRuns(table: dynamodb.ITable): iam.Policy {
    const fn = this.runner;
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: BACKGROUND_TABLE_ACTIONS, resources: [table.tableArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: LIFECYCLE_INDEX_ACTIONS,
        resources: DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`),
      }),
    );
    // A customer managed key: reading the table decrypts (the garbage collector, which writes the same table, needs no more).
    if (table.encryptionKey) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: [table.encryptionKey.keyArn] }));
    return new iam.Policy(this, 'SelfInvokePolicy', {
      roles: [fn.role!],
      statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] })],
    });
  }

  /** The cdk-nag findings of the resources this construct creates that the design accepts, each with its reason. */
  private acknowledgeNagFindings(): void {
    acknowledgeNagFinding(
      this.runner.role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
    );
    acknowledgeNagFinding(
      this.runner,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
    );
    acknowledgeNagFinding(
      this.deadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the on-failure destination of the runner\'s asynchronous invocations (Lambda sends it each event that failed past its retries); a dead-letter queue of a dead-letter queue would only hide the alarm.',
    );
  }
}

/** Checks the props (throws one error listing every problem). */
function validateProps(timeout: Duration, concurrency: number, pageSize: number): void {
  const errors: string[] = [];
  if (!timeout.isUnresolved()) {
    const ms = timeout.toMilliseconds();
    if (ms < 2 * LIFECYCLE_DEADLINE_RESERVE_MS) errors.push(`timeout must be at least 2 minutes (a run stops a minute before it), got ${timeout.toHumanString()}.`);
    if (ms > LIFECYCLE_TIMEOUT_MINUTES * 60_000) errors.push(`timeout must be at most ${LIFECYCLE_TIMEOUT_MINUTES} minutes (Lambda's maximum), got ${timeout.toHumanString()}.`);
  }
  if (!Token.isUnresolved(concurrency) && (!Number.isInteger(concurrency) || concurrency < 1)) {
    errors.push(`concurrency must be a whole number of at least 1, got ${concurrency}.`);
  }
  if (!Token.isUnresolved(pageSize) && (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)) {
    errors.push(`dispatchPageSize must be a whole number from 1 to 1000, got ${pageSize}.`);
  }
  if (errors.length > 0) throw new Error(`RegistryLifecycle: invalid props\n- ${errors.join('\n- ')}`);
}
