/**
 * RegistryReplication (lib/registry-replication.ts) in the stack and on its own: the rule and its
 * pattern (the contract's), the queue (visibility, redrive, encryption, TLS) and its dead-letter queue,
 * the event source mapping (one message at a time, partial failures, bounded concurrency), the
 * function's environment, its policy statement by statement (no write to any bucket), the registry
 * function's REPLICATION_DESTINATIONS, the outputs, nothing without destinations, and the validation
 * of the stack's and the construct's props.
 */
import { App, Stack, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { RegistryReplication, type RegistryReplicationProps, type ReplicationDestinationEndpoint } from '../../lib';
import {
  DEFAULT_REPLICATOR_CONCURRENCY,
  REPLICATION_MAX_RECEIVE_COUNT,
  REPLICATION_QUEUE_VISIBILITY_SECONDS,
  REPLICATOR_TIMEOUT_SECONDS,
  replicationEventPattern,
} from '../../lambdas/contracts/replicator';
import { replicationDestinationsFromEnv } from '../../lambdas/contracts/replication';
import { ENV, findCycle, logicalIdOf, synthesize, synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const REPLICATOR = '/Replication/Replicator/Resource';

/** The same account in another region (its API URL, as the ControlPlaneEndpoint output gives it), and another account behind a custom domain. */
const DESTINATIONS: ReplicationDestinationEndpoint[] = [
  { region: 'eu-central-1', registryId: '123456789012', endpoint: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod/' },
  { region: 'us-east-2', registryId: '444455556666', endpoint: 'https://registry.partner.example' },
];
/** As the stack keeps them: trailing slashes removed. */
const PARSED = [{ ...DESTINATIONS[0], endpoint: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod' }, DESTINATIONS[1]];

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };

/** The statements of each policy attached to the replicator's role, by the policy's construct path, actions sorted. */
function replicatorPolicies(template: Template): Record<string, Statement[]> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => String(p.Metadata?.['aws:cdk:path']).includes('/Replication/'));
  return Object.fromEntries(
    policies.map((p) => [
      String(p.Metadata['aws:cdk:path']).split('/Replication/')[1],
      (p.Properties.PolicyDocument.Statement as Statement[]).map((s) => ({ ...s, Action: [s.Action].flat().sort() })),
    ]),
  );
}

const partitionArn = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, rest]] });

describe('RegistryReplication in the stack', () => {
  const stackProps = { ingest: false, replicationDestinations: DESTINATIONS };

  test('GIVEN replication destinations WHEN synthesized THEN a rule on the default bus matches the contract’s pattern and sends to the queue, with the dead-letter queue for what it cannot deliver', () => {
    const { template } = synthesizeOnce(stackProps);
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/Queue/Resource');
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/DeadLetterQueue/Resource');
    const rule = logicalIdOf(template, 'AWS::Events::Rule', '/Replication/Rule/Resource');
    expect(template.toJSON().Resources[rule].Properties).toMatchObject({
      EventBusName: 'default',
      State: 'ENABLED',
      EventPattern: replicationEventPattern('berth.ecr'),
      Targets: [{ Arn: { 'Fn::GetAtt': [queue, 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } }, Id: 'Target0' }],
    });
    // EventBridge may send to both queues, only for this rule.
    for (const target of [queue, dlq]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: target }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: target === queue ? Match.arrayWith(['sqs:SendMessage']) : 'sqs:SendMessage',
              Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
            }),
          ]),
        },
      });
    }
  });

  test('GIVEN another event source and a bus of this account WHEN synthesized THEN the rule is on that bus and matches that source', () => {
    const { template } = synthesize({ ...stackProps, eventSource: 'acme.registry', eventBusName: 'registry-events' });
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: 'registry-events', EventPattern: replicationEventPattern('acme.registry') });
  });

  test('GIVEN replication destinations WHEN synthesized THEN the queue hides a message for the contract’s visibility, redrives to the dead-letter queue after the contract’s receives, and both are SQS-encrypted, TLS-only and kept 14 days', () => {
    const { template } = synthesizeOnce(stackProps);
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/Queue/Resource');
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/DeadLetterQueue/Resource');
    expect(REPLICATION_QUEUE_VISIBILITY_SECONDS).toBeGreaterThanOrEqual(REPLICATOR_TIMEOUT_SECONDS);
    expect(template.toJSON().Resources[queue].Properties).toEqual({
      VisibilityTimeout: REPLICATION_QUEUE_VISIBILITY_SECONDS,
      MessageRetentionPeriod: 14 * 86400,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: REPLICATION_MAX_RECEIVE_COUNT },
    });
    expect(template.toJSON().Resources[dlq].Properties).toEqual({ MessageRetentionPeriod: 14 * 86400, SqsManagedSseEnabled: true });
    for (const target of [queue, dlq]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: target }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });

  test('GIVEN replication destinations WHEN synthesized THEN the function reads the queue one message at a time, reports partial failures, and runs at most 10 at once', () => {
    const { template } = synthesizeOnce(stackProps);
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/Queue/Resource');
    const replicator = logicalIdOf(template, 'AWS::Lambda::Function', REPLICATOR);
    expect(DEFAULT_REPLICATOR_CONCURRENCY).toBe(10);
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: replicator } } }));
    expect(mappings.map((m) => m.Properties)).toEqual([
      {
        FunctionName: { Ref: replicator },
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: DEFAULT_REPLICATOR_CONCURRENCY },
      },
    ]);
  });

  test('GIVEN replication destinations WHEN synthesized THEN the function is nodejs22.x on arm64 with the contract’s timeout and exactly the documented environment', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', '/Storage/Bucket/Resource');
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/Queue/Resource');
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/DeadLetterQueue/Resource');
    const replicator = logicalIdOf(template, 'AWS::Lambda::Function', REPLICATOR);
    const fn = template.toJSON().Resources[replicator].Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler', Timeout: REPLICATOR_TIMEOUT_SECONDS, MemorySize: 512 });
    expect(fn.Environment.Variables).toEqual({
      TABLE_NAME: { Ref: table },
      BUCKET_NAME: { Ref: bucket },
      REGISTRY_ACCOUNT_ID: ENV.account,
      REPLICATION_DESTINATIONS: JSON.stringify(PARSED),
      REPLICATION_QUEUE_URL: { Ref: queue },
      REPLICATION_DEAD_LETTER_QUEUE_URL: { Ref: dlq },
      PRESIGN_TTL_SECONDS: '3600',
      POWERTOOLS_SERVICE_NAME: 'berth-replicator',
      POWERTOOLS_METRICS_NAMESPACE: 'Berth',
    });
    // What the function reads back is what the stack was given.
    expect(replicationDestinationsFromEnv(fn.Environment.Variables)).toEqual(PARSED);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('GIVEN replication destinations WHEN the role’s policies are read THEN they are exactly: GetItem, status and outbox writes, reading content, its queues, and the replication calls on each destination', () => {
    const { template } = synthesizeOnce(stackProps);
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', '/Storage/Bucket/Resource');
    const queue = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/Queue/Resource');
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/DeadLetterQueue/Resource');
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${prefix}*`]] });
    const policies = replicatorPolicies(template);
    expect(policies).toEqual({
      'Replicator/ServiceRole/DefaultPolicy/Resource': [
        { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: { 'Fn::GetAtt': [table, 'Arn'] } },
        {
          Effect: 'Allow',
          Action: ['dynamodb:ConditionCheckItem', 'dynamodb:PutItem'],
          Resource: { 'Fn::GetAtt': [table, 'Arn'] },
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['repo#*', 'outbox'] } },
        },
        { Effect: 'Allow', Action: ['s3:GetObject'], Resource: [objects('blobs/'), objects('staging/')] },
        { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: { 'Fn::GetAtt': [bucket, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['staging/*'] } } },
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': [queue, 'Arn'] } },
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        {
          Effect: 'Allow',
          Action: ['execute-api:Invoke'],
          // The API id parsed from the execute-api endpoint; any API of the account and region behind a custom domain.
          Resource: [partitionArn(':execute-api:eu-central-1:123456789012:a1b2c3d4e5/*/POST/*'), partitionArn(':execute-api:us-east-2:444455556666:*/*/POST/*')],
        },
        {
          Effect: 'Allow',
          Action: ['ecr:CreateRepository', 'ecr:ReplicateImage'],
          Resource: ['arn:aws:ecr:eu-central-1:123456789012:repository/*', 'arn:aws:ecr:us-east-2:444455556666:repository/*'],
        },
        // The event source mapping's own grant: reading, deleting, and the visibility changes that delay retries.
        {
          Effect: 'Allow',
          Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
          Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
        },
      ],
    });
    const actions = Object.values(policies).flat().flatMap((s) => s.Action as string[]);
    // No write to any bucket: destinations fetch presigned URLs, no server-side copy.
    expect(actions.filter((a) => a.startsWith('s3:') && a !== 's3:GetObject' && a !== 's3:ListBucket')).toEqual([]);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    const role = logicalIdOf(template, 'AWS::IAM::Role', '/Replication/Replicator/ServiceRole/Resource');
    expect(template.toJSON().Resources[role].Properties.ManagedPolicyArns).toEqual([partitionArn(':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole')]);
  });

  test('GIVEN a customer KMS key WHEN synthesized THEN the replicator may decrypt with it (the table, the objects, the presigned GETs it signs) and nothing more on it', () => {
    const { template } = synthesizeOnce({ ...stackProps, encryptionKeyArn: KEY_ARN });
    const onKey = Object.values(replicatorPolicies(template))
      .flat()
      .filter((s) => JSON.stringify(s.Resource).includes(KEY_ARN));
    expect(onKey).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: KEY_ARN }]);
  });

  test('GIVEN replication destinations WHEN synthesized THEN the registry function knows them (REPLICATION_DESTINATIONS), the outputs name the replicator and its dead-letter queue, and there is no dependency cycle', () => {
    const { template, stack } = synthesizeOnce(stackProps);
    const registry = logicalIdOf(template, 'AWS::Lambda::Function', '/Api/RegistryHandler/Resource');
    const replicator = logicalIdOf(template, 'AWS::Lambda::Function', REPLICATOR);
    const dlq = logicalIdOf(template, 'AWS::SQS::Queue', '/Replication/DeadLetterQueue/Resource');
    const env = template.toJSON().Resources[registry].Properties.Environment.Variables;
    expect(env.REPLICATION_DESTINATIONS).toBe(JSON.stringify(PARSED));
    expect(replicationDestinationsFromEnv(env, { registryId: ENV.account, regions: [ENV.region] })).toEqual(PARSED);
    template.hasOutput('ReplicatorFunctionName', { Value: { Ref: replicator }, Description: Match.stringLikeRegexp('replicat') });
    template.hasOutput('ReplicationDeadLetterQueueUrl', { Value: { Ref: dlq }, Description: Match.stringLikeRegexp('given up') });
    expect(stack.replication?.destinations).toEqual(PARSED);
    expect(findCycle(template)).toBeUndefined();
  });

  test.each([
    ['no replicationDestinations', {}],
    ['an empty list', { replicationDestinations: [] }],
  ])('GIVEN %s WHEN synthesized THEN there is no replicator, queue, rule or output, and the registry function knows no destination', (_name, props) => {
    const { template, stack } = synthesizeOnce({ ingest: false, ...props });
    const paths = Object.values(template.toJSON().Resources as Record<string, { Metadata?: Record<string, string> }>).map((r) => String(r.Metadata?.['aws:cdk:path']));
    expect(paths.filter((p) => p.includes('/Replication/'))).toEqual([]);
    expect(stack.replication).toBeUndefined();
    const registry = logicalIdOf(template, 'AWS::Lambda::Function', '/Api/RegistryHandler/Resource');
    expect(Object.keys(template.toJSON().Resources[registry].Properties.Environment.Variables)).not.toContain('REPLICATION_DESTINATIONS');
    expect(Object.keys(template.findOutputs('*'))).not.toEqual(expect.arrayContaining(['ReplicatorFunctionName']));
    expect(Object.keys(template.findOutputs('*'))).not.toEqual(expect.arrayContaining(['ReplicationDeadLetterQueueUrl']));
  });

  test('GIVEN a malformed destination, the stack itself, or one destination twice WHEN the stack is built THEN it is refused with the contract’s message naming the entry and field', () => {
    const build = (replicationDestinations: unknown) => () => synthesize({ ingest: false, replicationDestinations: replicationDestinations as ReplicationDestinationEndpoint[] });
    expect(build([{ ...DESTINATIONS[0], region: 'EU_CENTRAL_1' }])).toThrow(/^RegistryStack: replicationDestinations\[0\]\.region must be a region name/);
    expect(build([{ ...DESTINATIONS[1], endpoint: 'ftp://registry.partner.example' }])).toThrow(/RegistryStack: replicationDestinations\[0\]\.endpoint must be the http:\/\/ or https:\/\/ URL/);
    expect(build([{ ...DESTINATIONS[1], accessKeyId: 'AKIAEXAMPLE0000001' }])).toThrow(/replicationDestinations\[0\]\.accessKeyId: unknown field/);
    expect(build([{ region: ENV.region, registryId: ENV.account, endpoint: 'https://registry.example.com' }])).toThrow(/replicationDestinations\[0\] is this registry itself/);
    expect(build([DESTINATIONS[1], DESTINATIONS[1]])).toThrow(/replicationDestinations\[1\] names us-east-2\/444455556666 again/);
    expect(build({ region: 'eu-central-1' })).toThrow(/RegistryStack: replicationDestinations must be a list of destinations/);
  });
});

describe('RegistryReplication on its own', () => {
  /** A stack without bundling holding a table, a bucket, a bus and the construct. */
  function build(props: Partial<RegistryReplicationProps> = {}, options: { envAgnostic?: boolean } = {}): Template {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
    const stack = new Stack(app, 'Replication', options.envAgnostic ? {} : { env: ENV });
    const table = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING } });
    const bucket = new s3.Bucket(stack, 'Bucket');
    const eventBus = events.EventBus.fromEventBusName(stack, 'Bus', 'default');
    new RegistryReplication(stack, 'Replication', { table, bucket, eventBus, eventSource: 'berth.ecr', destinations: DESTINATIONS, ...props });
    return Template.fromStack(stack);
  }

  test('GIVEN a concurrency WHEN synthesized THEN the event source runs at most that many at once', () => {
    build({ concurrency: 3 }).hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 3 } });
    build({ concurrency: 1000 }).hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 1000 } });
  });

  test('GIVEN an environment-agnostic stack WHEN synthesized THEN the account is the deploy-time one and no destination is refused as the stack itself', () => {
    const template = build({ destinations: [{ region: 'eu-west-1', registryId: '123456789012', endpoint: 'https://registry.example.com' }] }, { envAgnostic: true });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ REGISTRY_ACCOUNT_ID: { Ref: 'AWS::AccountId' } }) } });
  });

  test('GIVEN a concurrency out of 2..1000 WHEN built THEN it is refused with a message saying why', () => {
    expect(() => build({ concurrency: 1 })).toThrow(/concurrency must be a whole number from 2 to 1000 \(an SQS event source's maximum concurrency\), got 1\./);
    expect(() => build({ concurrency: 1001 })).toThrow(/got 1001/);
    expect(() => build({ concurrency: 2.5 })).toThrow(/got 2\.5/);
    expect(() => build({ concurrency: 2 })).not.toThrow();
  });

  test('GIVEN no destination, a token endpoint, an execute-api endpoint of another region, a bus of another account and an aws. source WHEN built THEN one error lists every problem', () => {
    expect(() => build({ destinations: [] })).toThrow(/destinations must list at least one destination/);
    expect(() => build({ destinations: [{ ...DESTINATIONS[1], endpoint: Token.asString({ Ref: 'Endpoint' }) }] })).toThrow(/destinations\[0\]\.endpoint must be known at synth/);
    let message = '';
    try {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Replication', { env: ENV });
      new RegistryReplication(stack, 'Replication', {
        table: new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } }),
        bucket: new s3.Bucket(stack, 'Bucket'),
        eventBus: events.EventBus.fromEventBusArn(stack, 'Bus', 'arn:aws:events:eu-west-1:210987654321:event-bus/central'),
        eventSource: 'aws.ecr',
        destinations: [{ ...DESTINATIONS[0], region: 'eu-west-2' }],
        concurrency: 0,
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'RegistryReplication: invalid props',
      expect.stringMatching(/^- destinations\[0\]\.endpoint is an API of region eu-central-1, but the destination's region is eu-west-2/),
      expect.stringMatching(/^- concurrency must be a whole number from 2 to 1000/),
      expect.stringMatching(/^- eventSource: .*aws\./),
      expect.stringMatching(/^- eventBus is a bus of account 210987654321: a rule can only be created in the bus's own account/),
    ]);
  });
});
