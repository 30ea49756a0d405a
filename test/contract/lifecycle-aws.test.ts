/** The lifecycle suite (lifecycle.suite.ts) over the AWS metadata adapter: DynamoDB Local. */
import { DynamoDbMetadataStore } from '../../lambdas/storage/dynamodb/dynamodb-metadata-store';
import { describeWithDynamoDbLocal } from '../support/dynamodb-local';
import { describeLifecycle } from './lifecycle.suite';

describeWithDynamoDbLocal('lifecycle policies on DynamoDB Local', (local) => {
  describeLifecycle('DynamoDB', async () => {
    const tableName = await local().createTable('lifecycle');
    const metadata = await DynamoDbMetadataStore.open({ client: local().client, tableName });
    return { metadata, cleanup: async () => {} };
  });
});
