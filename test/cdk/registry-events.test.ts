/**
 * RegistryEvents (lib/registry-events.ts) in the stack and on its own: the table's stream, the
 * event source mapping of the publisher (filter, batch, retries, partial batch answers, the
 * dead-letter queue), the sweep schedule, the publisher's policy statement by statement, the bus
 * and source props and their validation.
 */
import { App, Aws, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import { RegistryEvents, type RegistryEventsProps } from '../../lib';
import { OUTBOX_PK } from '../../lambdas/contracts/dynamodb-table';
import { OUTBOX_STREAM_FILTER_PATTERN } from '../../lambdas/contracts/event-publisher';
import { logicalIdOf, synthesize, synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const PARTITION_ARN = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };

/** The statements of the publisher's role policy, each with its actions as a sorted list. */
function publisherStatements(template: Template): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => String(p.Metadata?.['aws:cdk:path']).includes('/Events/Publisher/'));
  expect(policies).toHaveLength(1);
  return (policies[0].Properties.PolicyDocument.Statement as Statement[]).map((s) => ({ ...s, Action: [s.Action].flat().sort() }));
}

describe('RegistryEvents in the stack', () => {
  const stackProps = { ingest: false };

  test('GIVEN the default stack WHEN synthesized THEN the table has a stream of new images', () => {
    const { template } = synthesizeOnce(stackProps);
    template.hasResourceProperties('AWS::DynamoDB::Table', { StreamSpecification: { StreamViewType: 'NEW_IMAGE' } });
  });

  test('GIVEN the default stack WHEN synthesized THEN the publisher reads the stream: outbox INSERTs only, 100 per batch, bisected and partially answered, retried 10 times, failures to the dead-letter queue', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Events/DeadLetterQueue/Resource');
    const publisher = logicalIdOf(template, 'AWS::Lambda::Function', '/Events/Publisher/Resource');
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: publisher },
      EventSourceArn: { 'Fn::GetAtt': [table, 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
      FilterCriteria: { Filters: [{ Pattern: Match.anyValue() }] },
    });
    const [mapping] = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    const pattern = JSON.parse(mapping.Properties.FilterCriteria.Filters[0].Pattern as string);
    expect(pattern).toEqual({ eventName: ['INSERT'], dynamodb: { Keys: { pk: { S: [OUTBOX_PK] } } } });
    expect(pattern).toEqual(OUTBOX_STREAM_FILTER_PATTERN);
  });

  test('GIVEN the default stack WHEN synthesized THEN the dead-letter queue is encrypted, TLS only and keeps messages 14 days', () => {
    const { template } = synthesizeOnce(stackProps);
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Events/DeadLetterQueue/Resource');
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN a rule invokes the sweep every 5 minutes with {"action":"sweep"}, and EventBridge may invoke the publisher', () => {
    const { template } = synthesizeOnce(stackProps);
    const publisher = logicalIdOf(template, 'AWS::Lambda::Function', '/Events/Publisher/Resource');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [publisher, 'Arn'] }, Input: JSON.stringify({ action: 'sweep' }) })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [publisher, 'Arn'] },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the publisher runs nodejs22.x with the table, the default bus ARN, source berth.ecr and the account', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('image events'),
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Environment: {
        Variables: {
          TABLE_NAME: { Ref: table },
          EVENT_BUS_NAME: PARTITION_ARN(':events:eu-west-1:123456789012:event-bus/default'),
          EVENT_SOURCE: 'berth.ecr',
          REGISTRY_ACCOUNT_ID: '123456789012',
          POWERTOOLS_SERVICE_NAME: 'berth-event-publisher',
          POWERTOOLS_METRICS_NAMESPACE: 'Berth',
        },
      },
    });
  });

  test('GIVEN the default stack WHEN the publisher policy is read THEN it is exactly: PutEvents on the bus, Query and BatchWriteItem on the table for outbox items, the stream reads, the queue send', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Events/DeadLetterQueue/Resource');
    expect(publisherStatements(template)).toEqual([
      { Effect: 'Allow', Action: ['events:PutEvents'], Resource: PARTITION_ARN(':events:eu-west-1:123456789012:event-bus/default') },
      {
        Effect: 'Allow',
        Action: ['dynamodb:BatchWriteItem', 'dynamodb:Query'],
        Resource: { 'Fn::GetAtt': [table, 'Arn'] },
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [OUTBOX_PK] } },
      },
      { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: { 'Fn::GetAtt': [queue, 'Arn'] } },
      // ListStreams has no resource-level permission (acknowledged to cdk-nag with that reason).
      { Effect: 'Allow', Action: ['dynamodb:ListStreams'], Resource: '*' },
      { Effect: 'Allow', Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'], Resource: { 'Fn::GetAtt': [table, 'StreamArn'] } },
    ]);
    // And the role's one managed policy is the basic execution role (logs).
    const role = logicalIdOf(template, 'AWS::IAM::Role', '/Events/Publisher/ServiceRole/Resource');
    expect(template.toJSON().Resources[role].Properties.ManagedPolicyArns).toEqual([PARTITION_ARN(':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole')]);
  });

  test('GIVEN a customer KMS key WHEN synthesized THEN the publisher may decrypt with it (stream and table) and nothing more on it', () => {
    const { template } = synthesizeOnce({ ...stackProps, encryptionKeyArn: KEY_ARN });
    const onKey = publisherStatements(template).filter((s) => s.Resource === KEY_ARN);
    expect(onKey.flatMap((s) => s.Action as string[]).sort()).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
  });

  test('GIVEN eventBusName and eventSource WHEN synthesized THEN PutEvents is allowed on that bus only and the function names it and the source', () => {
    const { template } = synthesize({ ...stackProps, eventBusName: 'registry-events', eventSource: 'acme.registry' });
    const bus = PARTITION_ARN(':events:eu-west-1:123456789012:event-bus/registry-events');
    expect(publisherStatements(template).filter((s) => (s.Action as string[]).includes('events:PutEvents'))).toEqual([{ Effect: 'Allow', Action: ['events:PutEvents'], Resource: bus }]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: bus, EVENT_SOURCE: 'acme.registry' }) },
    });
  });

  test('GIVEN eventBusName as the ARN of a bus of another account WHEN synthesized THEN PutEvents names that ARN', () => {
    const arn = 'arn:aws:events:eu-west-1:210987654321:event-bus/central';
    const { template } = synthesize({ ...stackProps, eventBusName: arn });
    expect(publisherStatements(template).filter((s) => (s.Action as string[]).includes('events:PutEvents'))).toEqual([{ Effect: 'Allow', Action: ['events:PutEvents'], Resource: arn }]);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: arn }) } });
  });

  test('GIVEN eventSource aws.ecr WHEN the stack is built THEN it is refused with a message saying EventBridge reserves aws. and what to use', () => {
    expect(() => synthesize({ ...stackProps, eventSource: 'aws.ecr' })).toThrow(/eventSource: The event source "aws\.ecr" starts with "aws\.", which EventBridge reserves for AWS services.*berth\.ecr/s);
  });

  test('GIVEN an eventSource of 257 characters or an empty one WHEN the stack is built THEN it is refused', () => {
    expect(() => synthesize({ ...stackProps, eventSource: 'a'.repeat(257) })).toThrow(/257 characters long; EventBridge accepts at most 256/);
    expect(() => synthesize({ ...stackProps, eventSource: '' })).toThrow(/must be a non-empty string/);
  });
});

describe('RegistryEvents on its own', () => {
  /** A stack without bundling holding a table (with a stream unless told) and the construct. */
  function build(props: Partial<RegistryEventsProps> = {}, stream = true): { template: Template; events: RegistryEvents } {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'Events', { env: { account: '123456789012', region: 'eu-west-1' } });
    const table = new dynamodb.Table(stack, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      ...(stream ? { stream: dynamodb.StreamViewType.NEW_IMAGE } : {}),
    });
    const construct = new RegistryEvents(stack, 'Events', { table, ...props });
    return { template: Template.fromStack(stack), events: construct };
  }

  test('GIVEN sweepInterval and retryAttempts WHEN synthesized THEN the schedule and the mapping use them', () => {
    const { template } = build({ sweepInterval: Duration.minutes(15), retryAttempts: 3 });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { MaximumRetryAttempts: 3 });
  });

  test('GIVEN a bus object WHEN synthesized THEN it is the construct’s bus and the only one PutEvents may reach', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'Events', { env: { account: '123456789012', region: 'eu-west-1' } });
    const table = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, stream: dynamodb.StreamViewType.NEW_IMAGE });
    const bus = new events.EventBus(stack, 'Bus', { eventBusName: 'berth' });
    const construct = new RegistryEvents(stack, 'Events', { table, eventBus: bus });
    expect(construct.eventBus).toBe(bus);
    const template = Template.fromStack(stack);
    const busId = stack.getLogicalId(bus.node.defaultChild as events.CfnEventBus);
    expect(publisherStatements(template).filter((s) => (s.Action as string[]).includes('events:PutEvents'))).toEqual([
      { Effect: 'Allow', Action: ['events:PutEvents'], Resource: { 'Fn::GetAtt': [busId, 'Arn'] } },
    ]);
  });

  test('GIVEN an unresolved eventSource (a token) WHEN synthesized THEN it is not validated and reaches the function', () => {
    const { template } = build({ eventSource: Aws.STACK_NAME });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EVENT_SOURCE: { Ref: 'AWS::StackName' } }) } });
  });

  test('GIVEN a table without a stream, a sweep under a minute or retries out of range WHEN built THEN each is refused with a message saying why', () => {
    expect(() => build({}, false)).toThrow(/the table has no stream/);
    expect(() => build({ sweepInterval: Duration.seconds(30) })).toThrow(/sweepInterval must be at least 1 minute/);
    expect(() => build({ retryAttempts: -1 })).toThrow(/retryAttempts must be an integer between 0 and 10000/);
  });
});
