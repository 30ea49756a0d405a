/**
 * The image events Berth emits, as a contract: ECR's `ECR Image Action` shape (ECR user guide,
 * "Amazon ECR events and EventBridge"), so rules and consumers written for ECR read them after
 * changing only their `source` filter. Read by the core's delivery port, the publishers (EventBridge
 * on AWS, the local sinks), the CDK constructs (rule patterns, the source prop) and the tests.
 * docs/events.md is the reader's version.
 */

/** What ECR puts in `detail-type` for pushes and deletions. */
export const IMAGE_ACTION_DETAIL_TYPE = 'ECR Image Action';

/** The `source` Berth's events carry unless configured otherwise (ECR's own is `aws.ecr`). */
export const DEFAULT_EVENT_SOURCE = 'berth.ecr';

/** The prefix EventBridge reserves for AWS services: PutEvents refuses it (NotAuthorizedForSourceException). */
export const RESERVED_SOURCE_PREFIX = 'aws.';

/** PutEventsRequestEntry.Source: length 1 to 256 (EventBridge API reference). */
export const MAX_SOURCE_LENGTH = 256;

export type ImageActionType = 'PUSH' | 'DELETE' | 'UPDATE_STORAGE_CLASS';

/** Why a change happened, when something other than a client's request made it (`berth-initiated-by`). */
export type ChangeInitiator = 'lifecycle-policy';

/** The keys of `detail` that ECR sends for a PUSH or a DELETE, in the order its examples list them. */
export const ECR_DETAIL_KEYS = ['result', 'repository-name', 'image-digest', 'action-type', 'image-tag'] as const;

/**
 * Berth's own keys in `detail`, all prefixed `berth-` so that no future ECR key can collide.
 * `berth-event-id` names the change, not the send: it stays the same when a delivery is retried or
 * replayed, which EventBridge's envelope `id` (assigned per PutEvents call) cannot.
 */
export const BERTH_DETAIL_KEYS = ['berth-event-id', 'berth-initiated-by'] as const;

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
}

/** The envelope as EventBridge delivers it to rules' targets (and as the local sinks write it). */
export interface ImageActionEvent {
  version: '0';
  /** Assigned per send (EventBridge does so on every PutEvents): deduplicate on `detail['berth-event-id']`. */
  id: string;
  'detail-type': typeof IMAGE_ACTION_DETAIL_TYPE;
  source: string;
  account: string;
  /** ECR's format: seconds precision, UTC, `Z` (`2019-11-16T01:54:34Z`). */
  time: string;
  region: string;
  /** ECR leaves it empty for image actions. */
  resources: string[];
  detail: ImageActionDetail;
}

/**
 * A change to an image as the domain records it, once, when the change commits: the outbox keeps
 * it, and every send or replay of it builds its event from it, so the event id is stable.
 */
export interface ImageChange {
  action: ImageActionType;
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
}

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

/** `detail` of the change, keys in ECR's order and `image-tag` only when a tag is concerned. */
export function imageActionDetail(change: ImageChange): ImageActionDetail {
  return {
    result: 'SUCCESS',
    'repository-name': change.repository,
    'image-digest': change.digest,
    'action-type': change.action,
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
  };
}

/**
 * The event as a target receives it. `id` is the envelope's per-send id: the local sinks pass a
 * fresh one per build, as EventBridge assigns one per PutEvents.
 */
export function imageActionEvent(change: ImageChange, origin: EventOrigin, id: string): ImageActionEvent {
  return {
    version: '0',
    id,
    'detail-type': IMAGE_ACTION_DETAIL_TYPE,
    source: origin.source,
    account: origin.account,
    time: eventTime(change.time),
    region: origin.region,
    resources: [],
    detail: imageActionDetail(change),
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

/** Whether a parsed JSON value is an image action event of this contract (replay and receivers check what they read). */
export function isImageActionEvent(value: unknown): value is ImageActionEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  const detail = event.detail as Record<string, unknown> | undefined;
  return (
    event.version === '0' &&
    event['detail-type'] === IMAGE_ACTION_DETAIL_TYPE &&
    typeof event.id === 'string' &&
    typeof event.source === 'string' &&
    Array.isArray(event.resources) &&
    typeof detail === 'object' &&
    detail !== null &&
    typeof detail['berth-event-id'] === 'string' &&
    typeof detail['repository-name'] === 'string' &&
    typeof detail['image-digest'] === 'string' &&
    (detail['action-type'] === 'PUSH' || detail['action-type'] === 'DELETE' || detail['action-type'] === 'UPDATE_STORAGE_CLASS')
  );
}
