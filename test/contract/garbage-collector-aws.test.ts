/** The garbage collector's suite (garbage-collector.suite.ts) over the AWS adapters: DynamoDB Local and the S3 stand-in. */
import type { S3Client } from '@aws-sdk/client-s3';
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { S3BlobStore } from '../../lambdas/storage/s3/s3-blob-store';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';
import { startLocalS3, type LocalS3 } from '../support/s3-local';
import { describeGarbageCollector } from './garbage-collector.suite';

describeWithDynamoDbLocal('garbage collection on DynamoDB Local and the S3 stand-in', (local) => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  describeGarbageCollector('DynamoDB and S3', async () => {
    const tableName = await local().createTable('gc');
    const bucket = await s3.createBucket();
    const client: S3Client = s3.client();
    const metadata = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    return {
      metadata,
      blobs: new S3BlobStore({ client, bucket }),
      cleanup: async () => {
        await s3.removeBucket(bucket);
        client.destroy();
      },
    };
  });
});
