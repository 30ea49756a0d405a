import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeNagFinding } from './nag-acknowledgements';
import { REGISTRY_TABLE_SCHEMA } from './table-schema';

/**
 * What a principal may do with the registry's data. `read` is what a pull needs,
 * `readWrite` what a push, a delete and the control plane need.
 */
export type RegistryDataAccess = 'read' | 'readWrite';

/** Properties of {@link RegistryStorage}. */
export interface RegistryStorageProps {
  /**
   * Customer managed KMS key for the table and the bucket.
   *
   * Without one, the table uses the AWS owned key and the bucket SSE-S3: no key to pay for,
   * to rotate or to lose.
   *
   * @default - AWS owned key (DynamoDB) and SSE-S3 (S3)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * What happens to the table and the bucket when they leave the stack or the stack is deleted.
   *
   * `RETAIN` keeps every image; `DESTROY` deletes the table and empties and deletes the bucket
   * (through a custom resource that deletes the objects).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Days after which an object under `uploads/` (the bytes of an upload that was never
   * committed) is deleted. Must be at least 1.
   *
   * @default 7
   */
  readonly abandonedUploadExpiration?: Duration;

  /**
   * Bucket that receives the S3 server access logs of the registry bucket.
   *
   * @default - no server access logs
   */
  readonly serverAccessLogsBucket?: s3.IBucket;
}

/** The prefix of the S3 keys that hold the bytes of uploads in progress. */
export const UPLOADS_PREFIX = 'uploads/';
/**
 * The prefix of the S3 keys that hold large manifest bodies a push staged before its metadata commit.
 * No lifecycle rule may expire them: after a crash between the commit and the move to `blobs/`, the
 * staged copy is the body's only copy until a read moves it. Leftovers wait for garbage collection.
 */
export const STAGED_MANIFESTS_PREFIX = 'staging/';

// TransactWriteItems needs the per-item actions (Put/Update/Delete/ConditionCheckItem); Scan serves the catalog.
const TABLE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:ConditionCheckItem'];
const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
// Explicit actions, no `s3:GetObject*`-style wildcards: each one is something an adapter calls.
// ListBucket lets a HEAD on a missing key answer 404 instead of 403.
const BUCKET_READ_ACTIONS = ['s3:ListBucket'];
const OBJECT_READ_ACTIONS = ['s3:GetObject'];
const OBJECT_WRITE_ACTIONS = ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const KEY_READ_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey'];
const KEY_WRITE_ACTIONS = ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'];
// Why cdk-nag's IAM5 finding on the object-level grant is accepted (acknowledged on each grantee by grant()).
const OBJECT_GRANT_NAG_REASON =
  'Object-level grant on the registry\'s own bucket only ("<bucket ARN>/*"): keys are digests and upload ids chosen at run time, ' +
  'so no narrower ARN exists; the actions are an explicit list without wildcards.';

/**
 * Where a Berth registry keeps its state: one DynamoDB table for metadata (single-table design,
 * keys and index as the DynamoDB adapter declares them, see table-schema.ts) and one S3 bucket for blobs, large manifests and the bytes of
 * uploads in progress.
 *
 * Data survives the stack by default (`RemovalPolicy.RETAIN`).
 */
export class RegistryStorage extends Construct {
  /** The metadata table. */
  public readonly table: dynamodb.Table;
  /** The blob bucket. */
  public readonly bucket: s3.Bucket;
  /** The customer managed key, when one was given. */
  public readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: RegistryStorageProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const uploadExpiration = props.abandonedUploadExpiration ?? Duration.days(7);
    if (!Token.isUnresolved(uploadExpiration.toSeconds()) && uploadExpiration.toDays({ integral: false }) < 1) {
      throw new Error(
        `RegistryStorage: abandonedUploadExpiration must be at least 1 day (S3 lifecycle rules count in whole days), got ${uploadExpiration.toHumanString()}. ` +
          'Use Duration.days(1) or more.',
      );
    }
    this.encryptionKey = props.encryptionKey;

    const schema = REGISTRY_TABLE_SCHEMA;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: schema.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: schema.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.DEFAULT,
      encryptionKey: props.encryptionKey,
      timeToLiveAttribute: schema.timeToLiveAttribute,
      // The event publisher (RegistryEvents) reads the outbox items from it.
      stream: dynamodb.StreamViewType[schema.streamViewType],
      removalPolicy,
    });
    for (const index of schema.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: index.projection === 'KEYS_ONLY' ? dynamodb.ProjectionType.KEYS_ONLY : dynamodb.ProjectionType.ALL,
      });
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      // S3 Bucket Keys cut KMS request costs by orders of magnitude for a blob store.
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      serverAccessLogsBucket: props.serverAccessLogsBucket,
      serverAccessLogsPrefix: props.serverAccessLogsBucket ? 'registry-bucket/' : undefined,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-abandoned-uploads', prefix: UPLOADS_PREFIX, expiration: uploadExpiration },
      ],
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });
  }

  /**
   * Grants `grantee` the given access to the table (and its `gsi1` index), the bucket's objects
   * and, when there is one, the KMS key. Every grant names these resources' ARNs; none uses `*`.
   * The object-level statement (`<bucket ARN>/*`) is acknowledged to cdk-nag on the grantee
   * ({@link objectGrantNagFinding}), with the reason it is the narrowest possible.
   *
   * @param grantee the principal to grant to
   * @param access `read` (what a pull needs) or `readWrite` (a push, a delete, the control plane)
   */
  public grant(grantee: iam.IGrantable, access: RegistryDataAccess): iam.Grant {
    const write = access === 'readWrite';
    const tableArns = [
      this.table.tableArn,
      ...REGISTRY_TABLE_SCHEMA.globalSecondaryIndexes.map((index) => `${this.table.tableArn}/index/${index.indexName}`),
    ];
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: write ? [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS] : TABLE_READ_ACTIONS,
      resourceArns: tableArns,
    });
    iam.Grant.addToPrincipal({ grantee, actions: BUCKET_READ_ACTIONS, resourceArns: [this.bucket.bucketArn] });
    iam.Grant.addToPrincipal({
      grantee,
      actions: write ? [...OBJECT_READ_ACTIONS, ...OBJECT_WRITE_ACTIONS] : OBJECT_READ_ACTIONS,
      resourceArns: [this.bucket.arnForObjects('*')],
    });
    const principal = grantee.grantPrincipal;
    if (Construct.isConstruct(principal)) acknowledgeNagFinding(principal, this.objectGrantNagFinding(), OBJECT_GRANT_NAG_REASON);
    if (this.encryptionKey) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: write ? [...KEY_READ_ACTIONS, ...KEY_WRITE_ACTIONS] : KEY_READ_ACTIONS,
        resourceArns: [this.encryptionKey.keyArn],
      });
    }
    return grant;
  }

  /**
   * Grants reading single items of the table (GetItem on the table itself, no index, no bucket):
   * what the authorizer of a registry with public repositories needs to read repository and
   * registry policies. With a customer managed key, Decrypt and DescribeKey on it too.
   */
  public grantPolicyRead(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:GetItem'], resourceArns: [this.table.tableArn] });
    if (this.encryptionKey) iam.Grant.addToPrincipal({ grantee, actions: KEY_READ_ACTIONS, resourceArns: [this.encryptionKey.keyArn] });
    return grant;
  }

  /** Grants what a pull needs: read the table and the objects. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.grant(grantee, 'read');
  }

  /** Grants what a push, a delete and the control plane need: read and write the table and the objects. */
  public grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.grant(grantee, 'readWrite');
  }

  /**
   * The `Resource::...` finding that cdk-nag's IAM5 rule reports for the object-level grant
   * (`<bucket ARN>/*`) on a grantee in this stack, so that {@link grant} can acknowledge exactly
   * that finding and no other.
   */
  public objectGrantNagFinding(): string {
    const logicalId = Stack.of(this).resolve((this.bucket.node.defaultChild as s3.CfnBucket).logicalId);
    return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/*]`;
  }
}
