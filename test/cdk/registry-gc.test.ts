/**
 * RegistryGarbageCollector (lib/registry-gc.ts) in the stack and on its own: the schedule, the
 * function (timeout, reserved concurrency, no retries, environment), its policy statement by
 * statement, the grace period and timeout validation, and the lease the timeout must stay under.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { RegistryGarbageCollector, type RegistryGarbageCollectorProps } from '../../lib';
import { GC_DELETION_LEASE_MINUTES } from '../../lambdas/contracts/garbage-collector';
import { DELETION_LEASE_MS } from '../../lambdas/core/garbage-collection';
import { logicalIdOf, synthesize, synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };

/** The statements of the collector's role policy, each with its actions as a sorted list. */
function collectorStatements(template: Template): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => String(p.Metadata?.['aws:cdk:path']).includes('/GarbageCollector/Collector/'));
  expect(policies).toHaveLength(1);
  return (policies[0].Properties.PolicyDocument.Statement as Statement[]).map((s) => ({ ...s, Action: [s.Action].flat().sort() }));
}

const objects = (bucket: string, prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${prefix}*`]] });

describe('RegistryGarbageCollector in the stack', () => {
  const stackProps = { ingest: false };

  test('GIVEN the default stack WHEN synthesized THEN a rule invokes the collector every hour, and EventBridge may invoke it', () => {
    const { template } = synthesizeOnce(stackProps);
    const collector = logicalIdOf(template, 'AWS::Lambda::Function', '/GarbageCollector/Collector/Resource');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [collector, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [collector, 'Arn'] },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the collector runs nodejs22.x on arm64 for at most 10 minutes, one at a time, never retried, with the table, the bucket and a 24-hour grace', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', '/Storage/Bucket/Resource');
    const collector = logicalIdOf(template, 'AWS::Lambda::Function', '/GarbageCollector/Collector/Resource');
    expect(template.toJSON().Resources[collector].Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 600,
      MemorySize: 512,
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: {
          TABLE_NAME: { Ref: table },
          BUCKET_NAME: { Ref: bucket },
          GC_GRACE_SECONDS: String(24 * 3600),
          POWERTOOLS_SERVICE_NAME: 'berth-garbage-collector',
          POWERTOOLS_METRICS_NAMESPACE: 'Berth',
        },
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: collector }, MaximumRetryAttempts: 0 });
    template.hasOutput('GarbageCollectorFunctionName', { Value: { Ref: collector } });
  });

  test('GIVEN the default stack WHEN the collector policy is read THEN it is exactly: the table calls on the table, Query on the index, listing, reading and deleting under blobs/, staging/, uploads/, aborting multipart uploads', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', '/Storage/Bucket/Resource');
    expect(collectorStatements(template)).toEqual([
      {
        Effect: 'Allow',
        Action: [
          'dynamodb:BatchGetItem',
          'dynamodb:ConditionCheckItem',
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'dynamodb:Scan',
          'dynamodb:UpdateItem',
        ],
        Resource: { 'Fn::GetAtt': [table, 'Arn'] },
      },
      { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/gsi1']] } },
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['blobs/*', 'staging/*', 'uploads/*'] } },
      },
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: [objects(bucket, 'blobs/'), objects(bucket, 'staging/')] },
      { Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: [objects(bucket, 'blobs/'), objects(bucket, 'staging/'), objects(bucket, 'uploads/')] },
      { Effect: 'Allow', Action: ['s3:AbortMultipartUpload'], Resource: objects(bucket, 'uploads/') },
    ]);
    const role = logicalIdOf(template, 'AWS::IAM::Role', '/GarbageCollector/Collector/ServiceRole/Resource');
    expect(template.toJSON().Resources[role].Properties.ManagedPolicyArns).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']] },
    ]);
  });

  test('GIVEN a customer KMS key WHEN synthesized THEN the collector may decrypt with it and nothing more on it', () => {
    const { template } = synthesizeOnce({ ...stackProps, encryptionKeyArn: KEY_ARN });
    const onKey = collectorStatements(template).filter((s) => JSON.stringify(s.Resource).includes(KEY_ARN));
    expect(onKey).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: KEY_ARN }]);
  });

  test('GIVEN gcGracePeriod 6 hours WHEN synthesized THEN the collector gets 21600 seconds', () => {
    const { template } = synthesize({ ...stackProps, gcGracePeriod: Duration.hours(6) });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ GC_GRACE_SECONDS: '21600' }) } });
  });

  test('GIVEN gcSchedule every 6 hours WHEN synthesized THEN the collector’s rule runs at that rate', () => {
    const { template } = synthesize({ ...stackProps, gcSchedule: events.Schedule.rate(Duration.hours(6)) });
    const collector = logicalIdOf(template, 'AWS::Lambda::Function', '/GarbageCollector/Collector/Resource');
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(6 hours)', Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [collector, 'Arn'] } })] });
  });

  test('GIVEN gcGracePeriod under an hour WHEN the stack is built THEN it is refused with a message saying why', () => {
    expect(() => synthesize({ ...stackProps, gcGracePeriod: Duration.minutes(30) })).toThrow(/gracePeriod must be at least 1 hour, got 30 minutes: a push links each layer/);
  });
});

describe('RegistryGarbageCollector on its own', () => {
  /** A stack without bundling holding a table, a bucket and the construct. */
  function build(props: Partial<RegistryGarbageCollectorProps> = {}): { template: Template; collector: RegistryGarbageCollector } {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'Gc', { env: { account: '123456789012', region: 'eu-west-1' } });
    const table = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING } });
    const bucket = new s3.Bucket(stack, 'Bucket');
    const collector = new RegistryGarbageCollector(stack, 'GarbageCollector', { table, bucket, ...props });
    return { template: Template.fromStack(stack), collector };
  }

  test('GIVEN a schedule, a grace period and a timeout WHEN synthesized THEN the rule, the environment and the function use them', () => {
    const { template, collector } = build({ schedule: events.Schedule.cron({ minute: '17', hour: '3' }), gracePeriod: Duration.days(3), timeout: Duration.minutes(14) });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(17 3 * * ? *)' });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 840, Environment: { Variables: Match.objectLike({ GC_GRACE_SECONDS: String(3 * 86400) }) } });
    expect(collector.gracePeriod.toHours()).toBe(72);
  });

  test('GIVEN a grace period under an hour or of a fraction of a second WHEN built THEN each is refused with a message saying why', () => {
    expect(() => build({ gracePeriod: Duration.minutes(59) })).toThrow(/gracePeriod must be at least 1 hour/);
    expect(() => build({ gracePeriod: Duration.millis(3_600_500) })).toThrow(/gracePeriod must be a whole number of seconds/);
    expect(() => build({ gracePeriod: Duration.hours(1) })).not.toThrow();
  });

  test('GIVEN a timeout of the lease or more, or under 2 minutes WHEN built THEN it is refused: a deletion must not be taken over from a run still at work', () => {
    expect(() => build({ timeout: Duration.minutes(15) })).toThrow(/timeout must be shorter than the 15 minutes lease of a deletion a run began/);
    expect(() => build({ timeout: Duration.minutes(1) })).toThrow(/timeout must be at least 2 minutes/);
  });

  test('GIVEN the contract’s lease WHEN compared with the core’s THEN they are the same: the construct validates the lease the collector runs with', () => {
    expect(GC_DELETION_LEASE_MINUTES * 60_000).toBe(DELETION_LEASE_MS);
  });
});
