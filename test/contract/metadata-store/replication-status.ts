/**
 * The MetadataStore contract (test/contract/metadata-store.contract.ts): replication statuses
 * (ReplicationStatusStore): one per image and destination, written only while the manifest exists and
 * only over an older one (a late COMPLETE never hides a newer push's IN_PROGRESS), read in
 * destination order, and deleted with the repository.
 */
import type { MetadataStore } from '../../../lambdas/storage/ports';
import { blob, manifest, storeHelpers, type OpenedMetadataStore } from './fixtures';

const WEST = { region: 'eu-west-1', registryId: '222233334444' };
const EAST = { region: 'us-east-2', registryId: '111122223333' };
const EAST_PARTNER = { region: 'us-east-2', registryId: '444455556666' };
const T1 = '2024-06-01T00:00:01.000Z';
const T2 = '2024-06-01T00:00:02.000Z';
const T3 = '2024-06-01T00:00:03.000Z';

export function describeReplicationStatuses(current: () => OpenedMetadataStore): void {
  describe('replication statuses', () => {
    let store: MetadataStore;
    beforeEach(() => {
      store = current().store;
    });
    const { push } = storeHelpers(() => store);

    test('GIVEN an image WHEN statuses are written for three destinations THEN each reads back once, by region then registryId, only for that image', async () => {
      const m = manifest('statuses', { blobs: [blob('a')] });
      const other = manifest('other', { blobs: [blob('b')] });
      await push('team/app', m, 'v1');
      await push('team/app', other);
      await push('team/lib', m);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([]);
      expect(await store.setReplicationStatus('team/app', m.digest, EAST_PARTNER, { status: 'IN_PROGRESS', updatedAt: T1 })).toBe(true);
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'COMPLETE', updatedAt: T2 })).toBe(true);
      expect(await store.setReplicationStatus('team/app', m.digest, EAST, { status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: T3 })).toBe(true);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([
        { destination: WEST, status: 'COMPLETE', updatedAt: T2 },
        { destination: EAST, status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: T3 },
        { destination: EAST_PARTNER, status: 'IN_PROGRESS', updatedAt: T1 },
      ]);
      // Another image of the repository, and the same digest in another repository, have none.
      expect(await store.getReplicationStatuses('team/app', other.digest)).toEqual([]);
      expect(await store.getReplicationStatuses('team/lib', m.digest)).toEqual([]);
    });

    test('GIVEN a newer IN_PROGRESS WHEN an older COMPLETE or FAILED is written THEN refused and the newer stays; a later one replaces it, failure code included', async () => {
      const m = manifest('ordered', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: T2 })).toBe(true);
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'COMPLETE', updatedAt: T1 })).toBe(false);
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: T1 })).toBe(false);
      // The same time is not newer either.
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'COMPLETE', updatedAt: T2 })).toBe(false);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([{ destination: WEST, status: 'IN_PROGRESS', updatedAt: T2 }]);

      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: T3 })).toBe(true);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([{ destination: WEST, status: 'FAILED', failureCode: 'AccessDeniedException', updatedAt: T3 }]);
      const later = '2024-06-01T00:00:04.000Z';
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: later })).toBe(true);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([{ destination: WEST, status: 'IN_PROGRESS', updatedAt: later }]);
    });

    test('GIVEN times written in other ISO forms WHEN compared THEN as instants (stored in one form)', async () => {
      const m = manifest('iso', { blobs: [blob('a')] });
      await push('team/app', m);
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: '2024-06-01T00:00:00Z' })).toBe(true);
      // As strings '…00Z' sorts after '…00.500Z'; as instants it is half a second before.
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'COMPLETE', updatedAt: '2024-06-01T00:00:00.500Z' })).toBe(true);
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'FAILED', updatedAt: '2024-06-01T00:00:00.4Z' })).toBe(false);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([{ destination: WEST, status: 'COMPLETE', updatedAt: '2024-06-01T00:00:00.500Z' }]);
    });

    test('GIVEN no such manifest or repository WHEN a status is written THEN refused and nothing is stored', async () => {
      const m = manifest('absent', { blobs: [blob('a')] });
      await push('team/app', manifest('present', { blobs: [blob('a')] }));
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: T1 })).toBe(false);
      expect(await store.setReplicationStatus('team/none', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: T1 })).toBe(false);
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([]);
      expect(await store.getReplicationStatuses('team/none', m.digest)).toEqual([]);
    });

    test('GIVEN statuses WHEN the repository is deleted (force) THEN they go with it: the same image pushed again has none', async () => {
      const m = manifest('deleted', { blobs: [blob('a')] });
      await push('team/app', m, 'v1');
      await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'COMPLETE', updatedAt: T1 });
      await store.setReplicationStatus('team/app', m.digest, EAST, { status: 'FAILED', failureCode: 'DESTINATION_UNREACHABLE', updatedAt: T1 });
      expect(await store.deleteRepository('team/app', true)).toEqual({ ok: true });
      expect(await store.getRepository('team/app')).toBeNull();
      await push('team/app', m, 'v1');
      expect(await store.getReplicationStatuses('team/app', m.digest)).toEqual([]);
      // And the new statuses are written afresh, whatever time the old ones had.
      expect(await store.setReplicationStatus('team/app', m.digest, WEST, { status: 'IN_PROGRESS', updatedAt: '2024-01-01T00:00:00.000Z' })).toBe(true);
    });
  });
}
