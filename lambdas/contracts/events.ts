/**
 * The image events Berth emits, as a contract: ECR's `ECR Image Action`, `ECR Replication Action` and
 * `ECR Image Scan` shapes (ECR user guide, "Amazon ECR events and EventBridge"), so rules and consumers written for ECR
 * read them after changing only their `source` filter. Read by the core's delivery port, the publishers (EventBridge
 * on AWS, the local sinks), the CDK constructs (rule patterns, the source prop) and the tests.
 * docs/events.md is the reader's version.
 */
import { repositoryArn } from './ecr-actions';

/** What ECR puts in `detail-type` for pushes and deletions. */
export const IMAGE_ACTION_DETAIL_TYPE = 'ECR Image Action';

/**
 * What ECR puts in `detail-type` for a replication: at the destination once the replica is stored, and
 * (result FAILED) at the source when the destination refused it or the retries ran out.
 */
export const REPLICATION_ACTION_DETAIL_TYPE = 'ECR Replication Action';

/**
 * What ECR puts in `detail-type` when a basic scan of an image ends ("Event for a completed image scan
 * (basic scanning)"); Berth also sends it when new vulnerability data changed a finished scan's findings.
 */
export const IMAGE_SCAN_DETAIL_TYPE = 'ECR Image Scan';

export type RegistryEventDetailType = typeof IMAGE_ACTION_DETAIL_TYPE | typeof REPLICATION_ACTION_DETAIL_TYPE | typeof IMAGE_SCAN_DETAIL_TYPE;

/** The `source` Berth's events carry unless configured otherwise (ECR's own is `aws.ecr`). */
export const DEFAULT_EVENT_SOURCE = 'berth.ecr';

/** The prefix EventBridge reserves for AWS services: PutEvents refuses it (NotAuthorizedForSourceException). */
export const RESERVED_SOURCE_PREFIX = 'aws.';

/** PutEventsRequestEntry.Source: length 1 to 256 (EventBridge API reference). */
export const MAX_SOURCE_LENGTH = 256;

export type ImageActionType = 'PUSH' | 'DELETE' | 'UPDATE_STORAGE_CLASS';

/** The `action-type` of an `ECR Replication Action`. */
export type ReplicationActionType = 'REPLICATE';

/**
 * The action of a change that ended a scan (or changed its findings): an `ECR Image Scan`, whose detail
 * has no `action-type` (ECR's has none), so the action lives only in the outbox.
 */
export type ScanActionType = 'SCAN';

/** Every action a recorded change may have; the detail-type follows from it (detailTypeOf). */
export type ChangeAction = ImageActionType | ReplicationActionType | ScanActionType;

export const CHANGE_ACTIONS: readonly ChangeAction[] = ['PUSH', 'DELETE', 'UPDATE_STORAGE_CLASS', 'REPLICATE', 'SCAN'];

/** The `detail-type` of a change's event: REPLICATE is ECR's replication event, SCAN its scan event, the rest its image event. */
export function detailTypeOf(action: ChangeAction): RegistryEventDetailType {
  if (action === 'REPLICATE') return REPLICATION_ACTION_DETAIL_TYPE;
  if (action === 'SCAN') return IMAGE_SCAN_DETAIL_TYPE;
  return IMAGE_ACTION_DETAIL_TYPE;
}

/**
 * The `scan-status` of an `ECR Image Scan`: how the scan ended, as DescribeImageScanFindings then answers
 * it (`imageScanStatus.status`). ECR's example shows COMPLETE; a scan that FAILED (no vulnerability data
 * imported, an image that cannot be read) is sent too, so that whoever waits for the event is not left
 * waiting, and an image Berth cannot scan says UNSUPPORTED_IMAGE there as it does in the API.
 */
export type ScanEventStatus = 'COMPLETE' | 'FAILED' | 'UNSUPPORTED_IMAGE';

export const SCAN_EVENT_STATUSES: readonly ScanEventStatus[] = ['COMPLETE', 'FAILED', 'UNSUPPORTED_IMAGE'];

/** ECR's finding severity levels, in the order `finding-severity-counts` lists them. */
export type FindingSeverity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'INFORMATIONAL' | 'UNDEFINED';

export const FINDING_SEVERITIES: readonly FindingSeverity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];

/**
 * Where a replica came from: the source registry's account (the authenticated caller's, never what it
 * claims) and the region it says it replicates from.
 */
export interface ReplicatedFrom {
  account: string;
  region: string;
}

/** Why a change happened, when something other than a client's request made it (`berth-initiated-by`). */
export type ChangeInitiator = 'lifecycle-policy';

/** The keys of `detail` that ECR sends for a PUSH or a DELETE, in the order its examples list them. */
export const ECR_DETAIL_KEYS = ['result', 'repository-name', 'image-digest', 'action-type', 'image-tag'] as const;

/** The keys of `detail` that ECR sends for a REPLICATE, in the order its example lists them. */
export const ECR_REPLICATION_DETAIL_KEYS = ['result', 'repository-name', 'image-digest', 'source-account', 'action-type', 'source-region', 'image-tag'] as const;

/** The keys of `detail` that ECR sends for a completed image scan, in the order its example lists them. */
export const ECR_SCAN_DETAIL_KEYS = ['scan-status', 'repository-name', 'finding-severity-counts', 'image-digest', 'image-tags'] as const;

/**
 * Berth's own keys in `detail`, all prefixed `berth-` so that no future ECR key can collide.
 * `berth-event-id` names the change, not the send: it stays the same when a delivery is retried or
 * replayed, which EventBridge's envelope `id` (assigned per PutEvents call) cannot.
 */
export const BERTH_DETAIL_KEYS = ['berth-event-id', 'berth-initiated-by', 'berth-replicated-from'] as const;

/**
 * `detail` of an `ECR Image Action` for a PUSH or a DELETE. ECR's documented examples of these
 * two actions carry exactly these five keys; `manifest-media-type` and `artifact-media-type` appear
 * only in its UPDATE_STORAGE_CLASS (archive and restore) events, so Berth does not send them here.
 */
export interface ImageActionDetail {
  result: 'SUCCESS';
  'repository-name': string;
  'image-digest': string;
  'action-type': ImageActionType;
  /** Present when a tag is concerned: a PUT that named a tag, a tag removed, each tag of a deleted image. */
  'image-tag'?: string;
  /** UPDATE_STORAGE_CLASS only (ECR's archive and restore events): where the image went. */
  'target-storage-class'?: 'ARCHIVE' | 'STANDARD';
  /** UPDATE_STORAGE_CLASS only. */
  'manifest-media-type'?: string;
  /** UPDATE_STORAGE_CLASS only, when the manifest names an artifact type. */
  'artifact-media-type'?: string;
  /** UPDATE_STORAGE_CLASS to STANDARD only: when the image became active again. */
  'last-activated-at'?: string;
  'berth-event-id': string;
  /** Present when no client request made the change: `lifecycle-policy` for what a lifecycle policy expired or archived (ECR emits no event for those). */
  'berth-initiated-by'?: ChangeInitiator;
  /**
   * PUSH and DELETE: present when the push stored a replica (BerthReplicateImage), or the delete carried
   * out a source's deletion (BerthReplicateDelete): where it came from. Replicators skip such changes,
   * so a replica is never replicated further (ECR: "once per image push") nor a replicated delete passed on.
   * An object, so EventBridge rules that leave replicas out match on a leaf:
   * `"berth-replicated-from": {"account": [{"exists": false}]}`.
   */
  'berth-replicated-from'?: ReplicatedFrom;
}

/**
 * `detail` of an `ECR Replication Action`: its keys in ECR's order, `image-tag` only when the replica was
 * (or, FAILED, would have been) tagged, plus berth-event-id. SUCCESS is sent by the destination once a
 * replica is stored; FAILED by the source, since a refused replication changes nothing at the destination.
 */
export interface ReplicationActionDetail {
  result: ReplicationResult;
  'repository-name': string;
  'image-digest': string;
  /** SUCCESS: the account of the principal that replicated (the source registry's identity), as authenticated; FAILED: the emitting source's own. */
  'source-account': string;
  'action-type': ReplicationActionType;
  /** SUCCESS: the region the source said it replicates from (informational: a caller can name any); FAILED: the emitting source's own. */
  'source-region': string;
  'image-tag'?: string;
  'berth-event-id': string;
}

/**
 * `detail` of an `ECR Image Scan`: ECR's five keys in ECR's order, plus berth-event-id. There is no
 * `action-type` and no `result`: ECR's scan event has neither. A type literal rather than an interface,
 * so that it reads as a plain record (`Record<string, unknown>`) where any event's detail is read.
 */
export type ImageScanDetail = {
  'scan-status': ScanEventStatus;
  'repository-name': string;
  /**
   * COMPLETE only: the levels with at least one finding, and only those ("if the image contains no
   * findings at CRITICAL level, then no critical count is returned"), so `{}` for a scan that found
   * nothing. Absent when the scan did not complete: it has no findings to count, and an empty object
   * would read as "nothing found".
   */
  'finding-severity-counts'?: Partial<Record<FindingSeverity, number>>;
  'image-digest': string;
  /** The image's tags when the scan's end was written, in byte order; `[]` for an untagged image. */
  'image-tags': string[];
  'berth-event-id': string;
  /** Absent (ECR's scan event has none of the image actions' keys): readers of any event's detail find undefined there. */
  result?: never;
  'action-type'?: never;
  'image-tag'?: never;
};

export type RegistryEventDetail = ImageActionDetail | ReplicationActionDetail | ImageScanDetail;

/**
 * The envelope as EventBridge delivers it to rules' targets (and as the local sinks write it): an
 * `ECR Image Action` or, for a REPLICATE change, an `ECR Replication Action`, for a SCAN change an
 * `ECR Image Scan` (RegistryEvent is the same type under the name that says so).
 */
export interface ImageActionEvent {
  version: '0';
  /** Assigned per send (EventBridge does so on every PutEvents): deduplicate on `detail['berth-event-id']`. */
  id: string;
  'detail-type': RegistryEventDetailType;
  source: string;
  account: string;
  /** ECR's format: seconds precision, UTC, `Z` (`2019-11-16T01:54:34Z`). */
  time: string;
  region: string;
  /** ECR leaves it empty for image actions; a replication action names the destination repository's ARN, a scan its repository's. */
  resources: string[];
  detail: RegistryEventDetail;
}

export type RegistryEvent = ImageActionEvent;

/**
 * A change to an image as the domain records it, once, when the change commits: the outbox keeps
 * it, and every send or replay of it builds its event from it, so the event id is stable.
 */
export interface ImageChange {
  action: ChangeAction;
  repository: string;
  digest: string;
  tag?: string;
  eventId: string;
  /** When the change committed, ISO 8601. */
  time: string;
  /** UPDATE_STORAGE_CLASS: the class the image moved to, its media types, and (to STANDARD) when it became active. */
  storageClass?: { target: 'ARCHIVE' | 'STANDARD'; mediaType: string; artifactType?: string; activatedAt?: string };
  /** Set when no client request made the change. */
  initiatedBy?: ChangeInitiator;
  /**
   * PUSH: set when the put stored a replica; DELETE: when the delete carried out a source's
   * (BerthReplicateDelete); both sent as `berth-replicated-from`. REPLICATE (SUCCESS): always, the source's
   * account and region (sent as `source-account` and `source-region`).
   */
  replicatedFrom?: ReplicatedFrom;
  /**
   * REPLICATE only: FAILED when the source records that a destination refused the image or the retries
   * ran out; absent means SUCCESS (the destination's own record), so earlier changes build as before.
   * A FAILED change's source is the emitting registry itself (EventOrigin), hence no replicatedFrom.
   */
  result?: ReplicationResult;
  /** REPLICATE with result FAILED: the destination that was not reached, for `resources` (its repository's ARN). */
  replicatedTo?: { account: string; region: string };
  /** SCAN only: how the scan ended, the record's status once written (`scan-status`). */
  scanStatus?: ScanEventStatus;
  /** SCAN with scanStatus COMPLETE: findings per level (levels at 0 may be given; the event leaves them out). */
  severityCounts?: Partial<Record<FindingSeverity, number>>;
  /** SCAN only: the image's tags when the scan's end was written, in byte order (`image-tags`). */
  tags?: string[];
}

/** The `result` of an `ECR Replication Action`. */
export type ReplicationResult = 'SUCCESS' | 'FAILED';

/** Who emits: the deployment's account and region (local mode: its configured registry identity) and source. */
export interface EventOrigin {
  account: string;
  region: string;
  source: string;
  /** The bus PutEvents names; the account's default bus when absent. */
  eventBusName?: string;
}

/**
 * One entry of an EventBridge PutEvents call, structurally the SDK's PutEventsRequestEntry (a
 * contract imports no SDK). EventBridge builds the envelope from it: `id` is its own, `version`,
 * `account` and `region` come from the caller's credentials and endpoint.
 */
export interface PutEventsEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  Resources: string[];
  Time: Date;
  EventBusName: string;
}

/** Where a source may be used: on EventBridge (deployed or emulated AWS), or only on this machine. */
export type EventSourceTarget = 'aws' | 'local';

/**
 * The source a deployment's events carry: `berth.ecr` when none is configured. On AWS (deployed or
 * emulated) a value EventBridge would refuse is refused here, before any event is lost to it;
 * locally any non-empty value is taken, `aws.ecr` included, since no bus checks it.
 */
export function validateEventSource(configured: string | undefined, target: EventSourceTarget): string {
  if (configured === undefined) return DEFAULT_EVENT_SOURCE;
  if (typeof configured !== 'string' || configured.length === 0) {
    throw new Error(`The event source must be a non-empty string such as "${DEFAULT_EVENT_SOURCE}", got ${JSON.stringify(configured)}.`);
  }
  if (target === 'local') return configured;
  if (configured.startsWith(RESERVED_SOURCE_PREFIX)) {
    throw new Error(
      `The event source "${configured}" starts with "${RESERVED_SOURCE_PREFIX}", which EventBridge reserves for AWS services: ` +
        `PutEvents would refuse every event (NotAuthorizedForSourceException). Use a source of your own such as "${DEFAULT_EVENT_SOURCE}" ` +
        `and change the "source" filter of rules written for ECR to it (docs/events.md).`,
    );
  }
  if (configured.length > MAX_SOURCE_LENGTH) {
    throw new Error(`The event source is ${configured.length} characters long; EventBridge accepts at most ${MAX_SOURCE_LENGTH}.`);
  }
  return configured;
}

/** ECR's envelope time: `2019-11-16T01:54:34Z`, without the fraction of a second. */
export function eventTime(time: string | Date): string {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new Error(`Not a time: ${JSON.stringify(time)}`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `detail` of an image change (PUSH, DELETE, UPDATE_STORAGE_CLASS), keys in ECR's order and `image-tag` only when a tag is concerned. */
export function imageActionDetail(change: ImageChange): ImageActionDetail {
  return {
    result: 'SUCCESS',
    'repository-name': change.repository,
    'image-digest': change.digest,
    'action-type': change.action as ImageActionType,
    ...(change.tag !== undefined ? { 'image-tag': change.tag } : {}),
    ...(change.storageClass !== undefined
      ? {
          'target-storage-class': change.storageClass.target,
          'manifest-media-type': change.storageClass.mediaType,
          ...(change.storageClass.artifactType !== undefined ? { 'artifact-media-type': change.storageClass.artifactType } : {}),
          ...(change.storageClass.activatedAt !== undefined ? { 'last-activated-at': eventTime(change.storageClass.activatedAt) } : {}),
        }
      : {}),
    'berth-event-id': change.eventId,
    ...(change.initiatedBy !== undefined ? { 'berth-initiated-by': change.initiatedBy } : {}),
    ...(change.replicatedFrom !== undefined ? { 'berth-replicated-from': { account: change.replicatedFrom.account, region: change.replicatedFrom.region } } : {}),
  };
}

/**
 * `detail` of a REPLICATE change, keys in ECR's order (ECR_REPLICATION_DETAIL_KEYS) then berth-event-id.
 * A FAILED one is emitted by the source itself, so its source is the emitter (`origin`); a SUCCESS names
 * the source it recorded.
 */
export function replicationActionDetail(change: ImageChange, origin?: Pick<EventOrigin, 'account' | 'region'>): ReplicationActionDetail {
  const failed = change.result === 'FAILED';
  const from = failed ? origin : change.replicatedFrom;
  if (from === undefined) {
    throw new Error(failed ? `FAILED REPLICATE change ${change.eventId} built without its origin: its source cannot be named` : `REPLICATE change ${change.eventId} has no replicatedFrom: its source cannot be named`);
  }
  return {
    result: failed ? 'FAILED' : 'SUCCESS',
    'repository-name': change.repository,
    'image-digest': change.digest,
    'source-account': from.account,
    'action-type': 'REPLICATE',
    'source-region': from.region,
    ...(change.tag !== undefined ? { 'image-tag': change.tag } : {}),
    'berth-event-id': change.eventId,
  };
}

/**
 * `detail` of a SCAN change, keys in ECR's order (ECR_SCAN_DETAIL_KEYS) then berth-event-id:
 * `finding-severity-counts` for a COMPLETE scan only, with its levels above 0 in ECR's order.
 */
export function imageScanDetail(change: ImageChange): ImageScanDetail {
  const status = change.scanStatus;
  if (status === undefined || !SCAN_EVENT_STATUSES.includes(status)) {
    throw new Error(`SCAN change ${change.eventId} has no scanStatus ECR's scan event can carry: ${JSON.stringify(status)}`);
  }
  return {
    'scan-status': status,
    'repository-name': change.repository,
    ...(status === 'COMPLETE' ? { 'finding-severity-counts': foundLevels(change.severityCounts ?? {}) } : {}),
    'image-digest': change.digest,
    'image-tags': [...(change.tags ?? [])],
    'berth-event-id': change.eventId,
  };
}

/** The levels with findings, in ECR's order of levels. */
function foundLevels(counts: Partial<Record<FindingSeverity, number>>): Partial<Record<FindingSeverity, number>> {
  const out: Partial<Record<FindingSeverity, number>> = {};
  for (const level of FINDING_SEVERITIES) {
    const n = counts[level];
    if (n !== undefined && n > 0) out[level] = n;
  }
  return out;
}

/** `detail` of any change, in the shape its detail-type has (`origin`: the emitter, which a FAILED REPLICATE names as its source). */
export function eventDetail(change: ImageChange, origin?: Pick<EventOrigin, 'account' | 'region'>): RegistryEventDetail {
  if (change.action === 'REPLICATE') return replicationActionDetail(change, origin);
  if (change.action === 'SCAN') return imageScanDetail(change);
  return imageActionDetail(change);
}

/**
 * `resources` of a change's event. ECR leaves them empty for image actions and names the destination
 * repository for a replication; the outbox change has its name. A SUCCESS is emitted by the destination,
 * so the ARN's account and region are the emitter's (EventOrigin, at send time); a FAILED one by the
 * source, so they are those the change names (`replicatedTo`), and without them there is no ARN to give.
 * A scan names the scanned image's repository, the emitter's own.
 */
function resourcesOf(change: ImageChange, origin: EventOrigin): string[] {
  if (change.action === 'SCAN') return [repositoryArn(origin.region, origin.account, change.repository)];
  if (change.action !== 'REPLICATE') return [];
  if (change.result !== 'FAILED') return [repositoryArn(origin.region, origin.account, change.repository)];
  return change.replicatedTo !== undefined ? [repositoryArn(change.replicatedTo.region, change.replicatedTo.account, change.repository)] : [];
}

/**
 * The event as a target receives it. `id` is the envelope's per-send id: the local sinks pass a
 * fresh one per build, as EventBridge assigns one per PutEvents.
 */
export function imageActionEvent(change: ImageChange, origin: EventOrigin, id: string): ImageActionEvent {
  return {
    version: '0',
    id,
    'detail-type': detailTypeOf(change.action),
    source: origin.source,
    account: origin.account,
    time: eventTime(change.time),
    region: origin.region,
    resources: resourcesOf(change, origin),
    detail: eventDetail(change, origin),
  };
}

/** The PutEvents entry that makes EventBridge deliver `imageActionEvent(change, origin, <its id>)`. */
export function putEventsEntry(change: ImageChange, origin: EventOrigin): PutEventsEntry {
  return putEventsEntryOf(imageActionEvent(change, origin, ''), origin.eventBusName);
}

/**
 * The PutEvents entry that re-sends an event already built (a replayed dead letter): everything but
 * the envelope's `id`, which EventBridge assigns anew, and `account`/`region`, which it takes from the caller.
 */
export function putEventsEntryOf(event: ImageActionEvent, eventBusName?: string): PutEventsEntry {
  return {
    Source: event.source,
    DetailType: event['detail-type'],
    Detail: JSON.stringify(event.detail),
    Resources: [...event.resources],
    Time: new Date(event.time),
    EventBusName: eventBusName ?? 'default',
  };
}

/**
 * Whether a parsed JSON value is an event of this contract, of any of its detail-types: an image or
 * replication action with an action-type that detail-type has, or an image scan with ECR's scan keys
 * (replay and receivers check what they read).
 */
export function isRegistryEvent(value: unknown): value is RegistryEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  const detail = event.detail as Record<string, unknown> | undefined;
  const common =
    event.version === '0' &&
    typeof event.id === 'string' &&
    typeof event.source === 'string' &&
    Array.isArray(event.resources) &&
    typeof detail === 'object' &&
    detail !== null &&
    typeof detail['berth-event-id'] === 'string' &&
    typeof detail['repository-name'] === 'string' &&
    typeof detail['image-digest'] === 'string';
  if (!common) return false;
  if (event['detail-type'] === IMAGE_SCAN_DETAIL_TYPE) return isScanDetail(detail);
  return CHANGE_ACTIONS.includes(detail['action-type'] as ChangeAction) && event['detail-type'] === detailTypeOf(detail['action-type'] as ChangeAction);
}

/** An `ECR Image Scan` detail's own keys: a status it can have, the tags a list of strings, the counts (when present) whole numbers by level. */
function isScanDetail(detail: Record<string, unknown>): boolean {
  const tags = detail['image-tags'];
  const counts = detail['finding-severity-counts'];
  return (
    SCAN_EVENT_STATUSES.includes(detail['scan-status'] as ScanEventStatus) &&
    Array.isArray(tags) &&
    tags.every((tag) => typeof tag === 'string') &&
    (counts === undefined ||
      (typeof counts === 'object' &&
        counts !== null &&
        !Array.isArray(counts) &&
        Object.entries(counts).every(([level, n]) => FINDING_SEVERITIES.includes(level as FindingSeverity) && Number.isSafeInteger(n) && (n as number) >= 0)))
  );
}

/** The name this check had before replication events existed: it accepts every detail-type. */
export const isImageActionEvent = isRegistryEvent;
