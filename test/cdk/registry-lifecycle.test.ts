/**
 * RegistryLifecycle (lib/registry-lifecycle.ts) in the stack and on its own: the schedule and what it
 * sends, the function (runtime, timeout, memory, reserved concurrency, environment), its asynchronous
 * invocation config (2 retries, the encrypted dead-letter queue), its policies statement by statement
 * (the table's calls, the index's Query, the queue, InvokeFunction on itself and on nothing else),
 * the props and their validation, and a template without dependency cycles.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { RegistryLifecycle, type RegistryLifecycleProps } from '../../lib';
import { findCycle, logicalIdOf, synthesize, synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const RUNNER = '/Lifecycle/Runner/Resource';

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };

/** The statements of each policy attached to the runner's role, by the policy's construct path, actions sorted. */
function runnerPolicies(template: Template, root = '/Lifecycle/'): Record<string, Statement[]> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => String(p.Metadata?.['aws:cdk:path']).includes(root));
  return Object.fromEntries(
    policies.map((p) => [
      String(p.Metadata['aws:cdk:path']).split(root)[1],
      (p.Properties.PolicyDocument.Statement as Statement[]).map((s) => ({ ...s, Action: [s.Action].flat().sort() })),
    ]),
  );
}

describe('RegistryLifecycle in the stack', () => {
  const stackProps = { ingest: false };

  test('GIVEN the default stack WHEN synthesized THEN a rule sends {} to the runner once a day, and EventBridge may invoke it', () => {
    const { template } = synthesizeOnce(stackProps);
    const runner = logicalIdOf(template, 'AWS::Lambda::Function', RUNNER);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [runner, 'Arn'] }, Input: '{}' })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [runner, 'Arn'] },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the runner is nodejs22.x on arm64, 15 minutes (a worker of a large repository), 1 GB, 10 at once, with the table and page size 100', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const runner = logicalIdOf(template, 'AWS::Lambda::Function', RUNNER);
    expect(template.toJSON().Resources[runner].Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 900,
      MemorySize: 1024,
      ReservedConcurrentExecutions: 10,
      Environment: {
        Variables: {
          TABLE_NAME: { Ref: table },
          LIFECYCLE_DISPATCH_PAGE_SIZE: '100',
          POWERTOOLS_SERVICE_NAME: 'berth-lifecycle-runner',
          POWERTOOLS_METRICS_NAMESPACE: 'Berth',
        },
      },
    });
    // No bucket: a lifecycle run changes records only.
    expect(Object.keys(template.toJSON().Resources[runner].Properties.Environment.Variables)).not.toContain('BUCKET_NAME');
    template.hasOutput('LifecycleRunnerFunctionName', { Value: { Ref: runner } });
  });

  test('GIVEN the default stack WHEN synthesized THEN a failed run is retried twice, then its event goes to an SQS-encrypted, TLS-only dead-letter queue kept 14 days', () => {
    const { template } = synthesizeOnce(stackProps);
    const runner = logicalIdOf(template, 'AWS::Lambda::Function', RUNNER);
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Lifecycle/DeadLetterQueue/Resource');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: runner },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 6 * 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(template.toJSON().Resources[queue].Properties).toEqual({ MessageRetentionPeriod: 14 * 86400, SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
    template.hasOutput('LifecycleDeadLetterQueueUrl', { Value: { Ref: queue } });
  });

  test('GIVEN the default stack WHEN the runner’s policies are read THEN they are exactly: the table calls, Query on the index, sending to its queue, and InvokeFunction on itself', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Lifecycle/DeadLetterQueue/Resource');
    const runner = logicalIdOf(template, 'AWS::Lambda::Function', RUNNER);
    expect(runnerPolicies(template)).toEqual({
      'Runner/ServiceRole/DefaultPolicy/Resource': [
        { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: { 'Fn::GetAtt': [queue, 'Arn'] } },
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
      ],
      'SelfInvokePolicy/Resource': [{ Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: { 'Fn::GetAtt': [runner, 'Arn'] } }],
    });
    const role = logicalIdOf(template, 'AWS::IAM::Role', '/Lifecycle/Runner/ServiceRole/Resource');
    expect(template.toJSON().Resources[role].Properties.ManagedPolicyArns).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']] },
    ]);
    // Nothing anywhere in the stack lets the runner invoke another function, nor anyone else invoke it but EventBridge.
    const invokeGrants = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Statement[]).filter((s) => [s.Action].flat().some((a) => a.startsWith('lambda:'))).map((s) => ({ roles: p.Properties.Roles, resource: s.Resource })),
    );
    expect(invokeGrants.filter((g) => JSON.stringify(g.roles).includes(role) || JSON.stringify(g.resource).includes(runner))).toEqual([
      { roles: [{ Ref: role }], resource: { 'Fn::GetAtt': [runner, 'Arn'] } },
    ]);
  });

  test('GIVEN the default stack WHEN its dependencies are followed THEN there is no cycle (the self-invocation is a policy of its own), and the schedule waits for that policy', () => {
    const { template } = synthesizeOnce(stackProps);
    expect(findCycle(template)).toBeUndefined();
    const rule = logicalIdOf(template, 'AWS::Events::Rule', '/Lifecycle/Schedule/Resource');
    const selfInvoke = logicalIdOf(template, 'AWS::IAM::Policy', '/Lifecycle/SelfInvokePolicy/Resource');
    expect([template.toJSON().Resources[rule].DependsOn].flat()).toContain(selfInvoke);
  });

  test('GIVEN a customer KMS key WHEN synthesized THEN the runner may decrypt with it and nothing more on it', () => {
    const { template } = synthesizeOnce({ ...stackProps, encryptionKeyArn: KEY_ARN });
    const onKey = Object.values(runnerPolicies(template))
      .flat()
      .filter((s) => JSON.stringify(s.Resource).includes(KEY_ARN));
    expect(onKey).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: KEY_ARN }]);
  });

  test('GIVEN lifecycleSchedule every 6 hours WHEN synthesized THEN the runner’s rule runs at that rate', () => {
    const { template } = synthesize({ ...stackProps, lifecycleSchedule: events.Schedule.rate(Duration.hours(6)) });
    const runner = logicalIdOf(template, 'AWS::Lambda::Function', RUNNER);
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(6 hours)', Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [runner, 'Arn'] } })] });
  });
});

describe('RegistryLifecycle on its own', () => {
  /** A stack without bundling holding a table and the construct. */
  function build(props: Partial<RegistryLifecycleProps> = {}): Template {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'Lifecycle', { env: { account: '123456789012', region: 'eu-west-1' } });
    const table = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING } });
    new RegistryLifecycle(stack, 'Lifecycle', { table, ...props });
    return Template.fromStack(stack);
  }

  test('GIVEN a schedule, a concurrency, a page size and a timeout WHEN synthesized THEN the rule and the function use them', () => {
    const template = build({ schedule: events.Schedule.cron({ minute: '17', hour: '3' }), concurrency: 2, dispatchPageSize: 25, timeout: Duration.minutes(5) });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(17 3 * * ? *)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      ReservedConcurrentExecutions: 2,
      Environment: { Variables: Match.objectLike({ LIFECYCLE_DISPATCH_PAGE_SIZE: '25' }) },
    });
  });

  test('GIVEN a timeout over 15 or under 2 minutes, a concurrency under 1 or a page size out of 1..1000 WHEN built THEN each is refused with a message saying why', () => {
    expect(() => build({ timeout: Duration.minutes(16) })).toThrow(/timeout must be at most 15 minutes/);
    expect(() => build({ timeout: Duration.minutes(1) })).toThrow(/timeout must be at least 2 minutes \(a run stops a minute before it\)/);
    expect(() => build({ concurrency: 0 })).toThrow(/concurrency must be a whole number of at least 1, got 0/);
    expect(() => build({ dispatchPageSize: 1001 })).toThrow(/dispatchPageSize must be a whole number from 1 to 1000, got 1001/);
    expect(() => build({ timeout: Duration.minutes(2), concurrency: 1, dispatchPageSize: 1000 })).not.toThrow();
  });
});
