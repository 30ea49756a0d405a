/**
 * The image events Berth emits, as a contract: ECR's `ECR Image Action` and `ECR Replication Action`
 * shapes (ECR user guide, "Amazon ECR events and EventBridge"), so rules and consumers written for ECR
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

export type RegistryEventDetailType = typeof IMAGE_ACTION_DETAIL_TYPE | typeof REPLICATION_ACTION_DETAIL_TYPE;

/** The `source` Berth's events carry unless configured otherwise (ECR's own is `aws.ecr`). */
export const DEFAULT_EVENT_SOURCE = 'berth.ecr';

/** The prefix EventBridge reserves for AWS services: PutEvents refuses it (NotAuthorizedForSourceException). */
export const RESERVED_SOURCE_PREFIX = 'aws.';

/** PutEventsRequestEntry.Source: length 1 to 256 (EventBridge API reference). */
export const MAX_SOURCE_LENGTH = 256;

export type ImageActionType = 'PUSH' | 'DELETE' | 'UPDATE_STORAGE_CLASS';

/** The `action-type` of an `ECR Replication Action`. */
export type ReplicationActionType = 'REPLICATE';

/** Every action a recorded change may have; the detail-type follows from it (detailTypeOf). */
export type ChangeAction = ImageActionType | ReplicationActionType;

export const CHANGE_ACTIONS: readonly ChangeAction[] = ['PUSH', 'DELETE', 'UPDATE_STORAGE_CLASS', 'REPLICATE'];

/** The `detail-type` of a change's event: REPLICATE is ECR's replication event, the rest its image event. */
export function detailTypeOf(action: ChangeAction): RegistryEventDetailType {
  return action === 'REPLICATE' ? REPLICATION_ACTION_DETAIL_TYPE : IMAGE_ACTION_DETAIL_TYPE;
}

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

export type RegistryEventDetail = ImageActionDetail | ReplicationActionDetail;

/**
 * The envelope as EventBridge delivers it to rules' targets (and as the local sinks write it): an
 * `ECR Image Action` or, for a REPLICATE change, an `ECR Replication Action` (RegistryEvent is the
 * same type under the name that says so).
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
  /** ECR leaves it empty for image actions; a replication action names the destination repository's ARN. */
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

/** `detail` of any change, in the shape its detail-type has (`origin`: the emitter, which a FAILED REPLICATE names as its source). */
export function eventDetail(change: ImageChange, origin?: Pick<EventOrigin, 'account' | 'region'>): RegistryEventDetail {
  return change.action === 'REPLICATE' ? replicationActionDetail(change, origin) : imageActionDetail(change);
}

/**
 * `resources` of a change's event. ECR leaves them empty for image actions and names the destination
 * repository for a replication; the outbox change has its name. A SUCCESS is emitted by the destination,
 * so the ARN's account and region are the emitter's (EventOrigin, at send time); a FAILED one by the
 * source, so they are those the change names (`replicatedTo`), and without them there is no ARN to give.
 */
function resourcesOf(change: ImageChange, origin: EventOrigin): string[] {
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
 * Whether a parsed JSON value is an event of this contract, of either detail-type, with an action-type
 * that detail-type has (replay and receivers check what they read).
 */
export function isRegistryEvent(value: unknown): value is RegistryEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  const detail = event.detail as Record<string, unknown> | undefined;
  return (
    event.version === '0' &&
    typeof event.id === 'string' &&
    typeof event.source === 'string' &&
    Array.isArray(event.resources) &&
    typeof detail === 'object' &&
    detail !== null &&
    typeof detail['berth-event-id'] === 'string' &&
    typeof detail['repository-name'] === 'string' &&
    typeof detail['image-digest'] === 'string' &&
    CHANGE_ACTIONS.includes(detail['action-type'] as ChangeAction) &&
    event['detail-type'] === detailTypeOf(detail['action-type'] as ChangeAction)
  );
}

/** The name this check had before replication events existed: it accepts both detail-types. */
export const isImageActionEvent = isRegistryEvent;
