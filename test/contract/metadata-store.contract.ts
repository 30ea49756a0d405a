/**
 * The MetadataStore contract: one suite, run against every adapter (LMDB now, DynamoDB
 * next), in the manner of distribution/distribution's shared storage-driver test suite.
 * Its parts, one per concern, are in test/contract/metadata-store/.
 *
 * It speaks only through the port. `open` gives a fresh, empty store; `reopen` (when the
 * adapter has durable state) closes the current instance and gives a new one over the same
 * data, as after a restart; `cleanup` releases whatever is open.
 */
import type { OpenedMetadataStore } from './metadata-store/fixtures';
import { describeDurability } from './metadata-store/durability';
import { describeListingOrder, describeImages } from './metadata-store/listings';
import { describeManifests, describeRecordedPulls } from './metadata-store/manifests';
import { describeReferrers } from './metadata-store/referrers';
import { describeRegistrySettings } from './metadata-store/registry-settings';
import { describeRepositoriesAndLinks } from './metadata-store/repositories';
import { describeRepositorySettings, describeRepositoryDeletion } from './metadata-store/repository-lifecycle';
import { describeUploads } from './metadata-store/uploads';
import { describeOutbox } from './metadata-store/outbox';
import { describeContentRecords } from './metadata-store/content-records';
import { describeStorageClasses } from './metadata-store/storage-class';
import { describeReplicationStatuses } from './metadata-store/replication-status';
import { describeImageScans } from './metadata-store/image-scans';

export type { OpenedMetadataStore } from './metadata-store/fixtures';

export function describeMetadataStoreContract(adapterName: string, open: () => Promise<OpenedMetadataStore>): void {
  describe(`MetadataStore contract: ${adapterName}`, () => {
    let opened: OpenedMetadataStore;

    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      await opened?.cleanup();
    });

    describeRepositoriesAndLinks(() => opened);
    describeManifests(() => opened);
    describeReferrers(() => opened);
    describeListingOrder(() => opened);
    describeUploads(() => opened);
    describeRepositorySettings(() => opened);
    describeRepositoryDeletion(() => opened);
    describeImages(() => opened);
    describeRecordedPulls(() => opened);
    describeRegistrySettings(() => opened);
    describeDurability(() => opened);
    describeOutbox(() => opened);
    describeContentRecords(() => opened);
    describeStorageClasses(() => opened);
    describeReplicationStatuses(() => opened);
    describeImageScans(() => opened);
  });
}
