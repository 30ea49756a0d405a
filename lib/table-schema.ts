import { DYNAMODB_TABLE_SCHEMA } from '../lambdas/contracts/dynamodb-table';

/**
 * The key schema of the registry's metadata table, from the table's contract
 * (`DYNAMODB_TABLE_SCHEMA` in lambdas/contracts/dynamodb-table.ts), which the DynamoDB adapter
 * and DynamoDB Local's tables use too: the CDK table cannot drift from what the adapter reads.
 */
export interface RegistryTableSchema {
  readonly partitionKey: string;
  readonly sortKey: string;
  /** The attribute DynamoDB's TTL deletes expired items by (Unix seconds). */
  readonly timeToLiveAttribute: string;
  /** What the table's stream shows of a changed item (the event publisher reads the new outbox items). */
  readonly streamViewType: 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';
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
  streamViewType: DYNAMODB_TABLE_SCHEMA.streamViewType,
  globalSecondaryIndexes: DYNAMODB_TABLE_SCHEMA.globalSecondaryIndexes.map((index) => ({
    indexName: index.indexName,
    partitionKey: index.partitionKey.name,
    sortKey: index.sortKey.name,
    projection: index.projection,
  })),
};
