import { DYNAMODB_TABLE_SCHEMA } from '../lambdas/storage/dynamodb/dynamodb-metadata-store';

/**
 * The key schema of the registry's metadata table, as the DynamoDB adapter declares it
 * (`DYNAMODB_TABLE_SCHEMA` in lambdas/storage/dynamodb/dynamodb-metadata-store.ts): the CDK
 * table is built from the adapter's own declaration, so the two cannot drift apart.
 */
export interface RegistryTableSchema {
  readonly partitionKey: string;
  readonly sortKey: string;
  /** The attribute DynamoDB's TTL deletes expired items by (Unix seconds). */
  readonly timeToLiveAttribute: string;
  readonly globalSecondaryIndexes: ReadonlyArray<{
    readonly indexName: string;
    readonly partitionKey: string;
    readonly sortKey: string;
    readonly projection: 'ALL' | 'KEYS_ONLY';
  }>;
}

export const REGISTRY_TABLE_SCHEMA: RegistryTableSchema = {
  partitionKey: DYNAMODB_TABLE_SCHEMA.partitionKey.name,
  sortKey: DYNAMODB_TABLE_SCHEMA.sortKey.name,
  timeToLiveAttribute: DYNAMODB_TABLE_SCHEMA.timeToLiveAttribute,
  globalSecondaryIndexes: DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes.map((index) => ({
    indexName: index.indexName,
    partitionKey: index.partitionKey.name,
    sortKey: index.sortKey.name,
    projection: index.projection,
  })),
};
