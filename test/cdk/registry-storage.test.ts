import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RegistryStorage, STAGED_MANIFESTS_PREFIX } from '../../lib';
import { synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

describe('RegistryStorage', () => {
  test('GIVEN the default stack WHEN synthesized THEN the table is on demand, encrypted, has point-in-time recovery, TTL on expiresAt and the adapter\'s keys', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: false }, // AWS owned key: encrypted at rest, no key to manage
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'gsi1' })],
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN table and bucket are retained when the stack goes', () => {
    const { template } = synthesizeOnce();
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ LifecycleConfiguration: Match.objectLike({ Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-abandoned-uploads' })]) }) }),
    });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  test('GIVEN the default stack WHEN synthesized THEN the bucket blocks public access, uses SSE-S3, is unversioned and cleans up uploads', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: Match.absent(),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN no lifecycle rule expires the staged manifest bodies (staging/), which may be the only copy of a committed one', () => {
    const { template } = synthesizeOnce();
    const [bucket] = Object.values(
      template.findResources('AWS::S3::Bucket', {
        Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-abandoned-uploads' })]) } },
      }),
    );
    const rules: Array<{ Prefix?: string; Filter?: { Prefix?: string }; ExpirationInDays?: number; ExpirationDate?: string }> = bucket.Properties.LifecycleConfiguration.Rules;
    const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined || rule.ExpirationDate !== undefined);
    expect(expiring.length).toBeGreaterThan(0);
    for (const rule of expiring) expect(STAGED_MANIFESTS_PREFIX.startsWith(rule.Prefix ?? rule.Filter?.Prefix ?? '')).toBe(false);
  });

  test('GIVEN the default stack WHEN synthesized THEN the bucket policy denies every request that is not TLS', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('GIVEN a customer KMS key WHEN synthesized THEN the table and the bucket use it', () => {
    const { template } = synthesizeOnce({ encryptionKeyArn: KEY_ARN, ingest: false });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY_ARN }, BucketKeyEnabled: true }],
      },
    });
  });

  test('GIVEN removal policy DESTROY WHEN synthesized THEN the data is deleted with the stack and the bucket is emptied first', () => {
    const { template } = synthesizeOnce({ removalPolicy: RemovalPolicy.DESTROY, ingest: false });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 2); // the registry bucket and the logs bucket
  });

  test('GIVEN an abandoned-upload expiration under one day WHEN the construct is created THEN it fails with a message that says what to use', () => {
    const stack = new Stack(new App(), 'Test');
    expect(() => new RegistryStorage(stack, 'Storage', { abandonedUploadExpiration: Duration.hours(6) })).toThrow(
      /abandonedUploadExpiration must be at least 1 day.*Duration\.days\(1\)/s,
    );
  });

  test('GIVEN a storage construct WHEN grantRead is used THEN the grantee gets read actions only, on the table, its index and the objects', () => {
    const stack = new Stack(new App(), 'Test');
    const storage = new RegistryStorage(stack, 'Storage');
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    storage.grantRead(role);
    const statements = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const actions = Object.values(statements).flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject', 's3:ListBucket']));
    expect(actions.filter((a: string) => /Put|Delete|Update|Write|Abort/.test(a))).toEqual([]);
  });
});
