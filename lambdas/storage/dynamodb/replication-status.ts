/**
 * Replication statuses (ReplicationStatusStore in ports.ts): one item per image and destination in the
 * repository's partition (`replication#<digest>#<region>#<registryId>`), so that a pull or a put never
 * reads them and deleting the repository removes them (deletes.ts). docs/storage.md, "Replication statuses".
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { manifestSk, replicationStatusSk, repoPk } from '../../contracts/dynamodb-table';
import type { ReplicationDestination, ReplicationStatus, ReplicationStatusRecord } from '../../core/model';
import { queryPrefix } from './reads';
import { storable, type TableContext } from './table';
import { transactOrRetryConflicts } from './transactions';

const PREFIX = 'replication#';

/**
 * One transaction: a ConditionCheck that the manifest exists and a Put conditional on the stored
 * `updatedAt` being older (or absent), so that a status never goes back to an earlier push's.
 */
export async function setReplicationStatus(
  t: TableContext,
  repository: string,
  digest: string,
  destination: ReplicationDestination,
  status: ReplicationStatus,
): Promise<boolean> {
  const pk = repoPk(repository);
  const key = { pk, sk: replicationStatusSk(digest, destination.region, destination.registryId) };
  if (!storable(key)) return false;
  // One format, so that the condition compares times as strings.
  const updatedAt = new Date(status.updatedAt).toISOString();
  return transactOrRetryConflicts(t, [
    { ConditionCheck: { TableName: t.table, Key: { pk, sk: manifestSk(digest) }, ConditionExpression: 'attribute_exists(pk)' } },
    {
      Put: {
        TableName: t.table,
        Item: {
          ...key,
          region: destination.region,
          registryId: destination.registryId,
          status: status.status,
          ...(status.failureCode !== undefined ? { failureCode: status.failureCode } : {}),
          updatedAt,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR #updatedAt < :updatedAt',
        ExpressionAttributeNames: { '#updatedAt': 'updatedAt' },
        ExpressionAttributeValues: { ':updatedAt': updatedAt },
      },
    },
  ]);
}

export async function getReplicationStatuses(t: TableContext, repository: string, digest: string): Promise<ReplicationStatusRecord[]> {
  const pk = repoPk(repository);
  const prefix = `${PREFIX}${digest}#`;
  if (!storable({ pk, sk: prefix })) return [];
  return (await queryPrefix(t, pk, prefix, Infinity)).map((item) => ({
    destination: { region: item.region as string, registryId: item.registryId as string },
    status: item.status as ReplicationStatusRecord['status'],
    ...(item.failureCode !== undefined ? { failureCode: item.failureCode as string } : {}),
    updatedAt: item.updatedAt as string,
  }));
}

/**
 * Removes every status under a repository whose manifests are gone (deleteRepository's step before
 * its last look at the partition). A status is written only while its manifest exists, so none can
 * appear after this unless a push raced in, which that look sees.
 */
export async function deleteReplicationStatuses(t: TableContext, pk: string): Promise<void> {
  const items = await queryPrefix(t, pk, PREFIX, Infinity, 'sk');
  for (let i = 0; i < items.length; i += 8) {
    await Promise.all(items.slice(i, i + 8).map((item) => t.doc.send(new DeleteCommand({ TableName: t.table, Key: { pk, sk: item.sk as string } }))));
  }
}
