/**
 * The image events' contract (lambdas/contracts/events.ts): ECR's `ECR Image Action`, `ECR Replication
 * Action` and `ECR Image Scan` shapes key for key, as its user guide's examples show them, plus
 * `berth-event-id`; the PutEvents entry that makes EventBridge deliver that shape; and which sources a
 * deployment may use.
 */
import {
  DEFAULT_EVENT_SOURCE,
  imageActionEvent,
  isImageActionEvent,
  putEventsEntry,
  putEventsEntryOf,
  validateEventSource,
  type EventOrigin,
  type ImageChange,
} from '../../lambdas/contracts/events';
import { eventsOf, fanOut, newEventId, type EventSink } from '../../lambdas/core/events';
import { BERTH_DETAIL_KEYS, CHANGE_ACTIONS, detailTypeOf, ECR_REPLICATION_DETAIL_KEYS, ECR_SCAN_DETAIL_KEYS, isRegistryEvent } from '../../lambdas/contracts/events';
import { scanChange, scanEventId } from '../../lambdas/storage/image-changes';

const DIGEST = 'sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234';
const ORIGIN: EventOrigin = { account: '123456789012', region: 'us-west-2', source: DEFAULT_EVENT_SOURCE };
const change = (overrides: Partial<ImageChange> = {}): ImageChange => ({
  action: 'PUSH',
  repository: 'my-repository-name',
  digest: DIGEST,
  tag: 'latest',
  eventId: '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
  time: '2019-11-16T01:54:34.123Z',
  ...overrides,
});

describe('the ECR Image Action shape', () => {
  test('GIVEN a push that named a tag WHEN its event is built THEN envelope and detail have exactly the keys and values of ECR’s documented example, plus berth-event-id', () => {
    const event = imageActionEvent(change(), ORIGIN, 'envelope-1');
    expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
    expect(event).toEqual({
      version: '0',
      id: 'envelope-1',
      'detail-type': 'ECR Image Action',
      source: 'berth.ecr',
      account: '123456789012',
      time: '2019-11-16T01:54:34Z',
      region: 'us-west-2',
      resources: [],
      detail: {
        result: 'SUCCESS',
        'repository-name': 'my-repository-name',
        'image-digest': DIGEST,
        'action-type': 'PUSH',
        'image-tag': 'latest',
        'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
      },
    });
    expect(Object.keys(event.detail)).toEqual(['result', 'repository-name', 'image-digest', 'action-type', 'image-tag', 'berth-event-id']);
  });

  test('GIVEN a push by digest (a multi-arch child) WHEN its event is built THEN detail has no image-tag and nothing else is added', () => {
    const event = imageActionEvent(change({ tag: undefined }), ORIGIN, 'envelope-2');
    expect(Object.keys(event.detail)).toEqual(['result', 'repository-name', 'image-digest', 'action-type', 'berth-event-id']);
    expect(JSON.parse(JSON.stringify(event)).detail).not.toHaveProperty('image-tag');
  });

  test('GIVEN a deletion of a tagged image WHEN its event is built THEN detail is ECR’s DELETE shape, with no media-type keys', () => {
    const event = imageActionEvent(change({ action: 'DELETE' }), ORIGIN, 'envelope-3');
    expect(event.detail).toEqual({
      result: 'SUCCESS',
      'repository-name': 'my-repository-name',
      'image-digest': DIGEST,
      'action-type': 'DELETE',
      'image-tag': 'latest',
      'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
    });
    expect(event.detail).not.toHaveProperty('manifest-media-type');
    expect(event.detail).not.toHaveProperty('artifact-media-type');
    expect(event.resources).toEqual([]);
  });

  test('GIVEN an image archived by a lifecycle policy and one restored WHEN their events are built THEN detail has ECR’s UPDATE_STORAGE_CLASS keys and says lifecycle did the first', () => {
    const archived = imageActionEvent(
      change({
        action: 'UPDATE_STORAGE_CLASS',
        tag: undefined,
        storageClass: { target: 'ARCHIVE', mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.example+json' },
        initiatedBy: 'lifecycle-policy',
      }),
      ORIGIN,
      'envelope-4',
    );
    expect(archived.detail).toEqual({
      result: 'SUCCESS',
      'repository-name': 'my-repository-name',
      'image-digest': DIGEST,
      'action-type': 'UPDATE_STORAGE_CLASS',
      'target-storage-class': 'ARCHIVE',
      'manifest-media-type': 'application/vnd.oci.image.manifest.v1+json',
      'artifact-media-type': 'application/vnd.example+json',
      'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
      'berth-initiated-by': 'lifecycle-policy',
    });
    const restored = imageActionEvent(
      change({ action: 'UPDATE_STORAGE_CLASS', tag: undefined, storageClass: { target: 'STANDARD', mediaType: 'application/vnd.oci.image.manifest.v1+json', activatedAt: '2026-12-03T10:00:00.123Z' } }),
      ORIGIN,
      'envelope-5',
    );
    expect(restored.detail).toMatchObject({ 'target-storage-class': 'STANDARD', 'last-activated-at': '2026-12-03T10:00:00Z' });
    expect(restored.detail).not.toHaveProperty('berth-initiated-by');
    expect(restored.detail).not.toHaveProperty('artifact-media-type');
    expect(isImageActionEvent(restored)).toBe(true);
  });

  test('GIVEN one change sent twice WHEN its events are built THEN the envelope ids differ and berth-event-id is the same', () => {
    const recorded = change({ eventId: newEventId() });
    const [first] = eventsOf([recorded], ORIGIN);
    const [second] = eventsOf([recorded], ORIGIN);
    expect(first.id).not.toBe(second.id);
    expect(first.detail['berth-event-id']).toBe(second.detail['berth-event-id']);
    expect(isImageActionEvent(JSON.parse(JSON.stringify(first)))).toBe(true);
    expect(isImageActionEvent({ ...first, detail: { ...first.detail, 'berth-event-id': undefined } })).toBe(false);
  });

  test('GIVEN a change and a named bus WHEN its PutEvents entry is built THEN EventBridge gets the source, detail-type, detail JSON, empty resources, the time and the bus', () => {
    const entry = putEventsEntry(change(), { ...ORIGIN, eventBusName: 'registry-events' });
    expect(Object.keys(entry).sort()).toEqual(['Detail', 'DetailType', 'EventBusName', 'Resources', 'Source', 'Time']);
    expect(entry).toMatchObject({ Source: 'berth.ecr', DetailType: 'ECR Image Action', Resources: [], EventBusName: 'registry-events' });
    expect(entry.Time.toISOString()).toBe('2019-11-16T01:54:34.000Z');
    expect(JSON.parse(entry.Detail)).toEqual(imageActionEvent(change(), ORIGIN, 'x').detail);
    expect(putEventsEntry(change(), ORIGIN).EventBusName).toBe('default');
    expect(putEventsEntryOf(imageActionEvent(change(), ORIGIN, 'x'))).toEqual(putEventsEntry(change(), ORIGIN));
  });

  test('GIVEN a change whose time is not a time WHEN its event is built THEN it is refused', () => {
    expect(() => imageActionEvent(change({ time: 'yesterday' }), ORIGIN, 'x')).toThrow(/Not a time/);
  });
});

describe('the ECR Replication Action shape', () => {
  // ECR's documented example (user guide, "Amazon ECR events and EventBridge"): region is the destination's, source-region the origin's.
  const REPLICA_ORIGIN: EventOrigin = { account: '123456789012', region: 'us-east-1', source: DEFAULT_EVENT_SOURCE };
  const FROM = { account: '111122223333', region: 'us-west-2' };

  test('GIVEN a REPLICATE change WHEN its event is built THEN detail-type, the destination repository in resources and ECR’s keys in ECR’s order, plus berth-event-id', () => {
    const event = imageActionEvent(change({ action: 'REPLICATE', replicatedFrom: FROM }), REPLICA_ORIGIN, 'envelope-r1');
    expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
    expect(event).toEqual({
      version: '0',
      id: 'envelope-r1',
      'detail-type': 'ECR Replication Action',
      source: 'berth.ecr',
      account: '123456789012',
      time: '2019-11-16T01:54:34Z',
      region: 'us-east-1',
      resources: ['arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name'],
      detail: {
        result: 'SUCCESS',
        'repository-name': 'my-repository-name',
        'image-digest': DIGEST,
        'source-account': '111122223333',
        'action-type': 'REPLICATE',
        'source-region': 'us-west-2',
        'image-tag': 'latest',
        'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
      },
    });
    expect(Object.keys(event.detail)).toEqual([...ECR_REPLICATION_DETAIL_KEYS, 'berth-event-id']);
    expect(isRegistryEvent(JSON.parse(JSON.stringify(event)))).toBe(true);
    expect(isImageActionEvent(event)).toBe(true);
  });

  test('GIVEN an untagged replica WHEN its REPLICATE event is built THEN no image-tag', () => {
    const event = imageActionEvent(change({ action: 'REPLICATE', tag: undefined, replicatedFrom: FROM }), REPLICA_ORIGIN, 'envelope-r2');
    expect(Object.keys(event.detail)).toEqual(['result', 'repository-name', 'image-digest', 'source-account', 'action-type', 'source-region', 'berth-event-id']);
  });

  test('GIVEN the PUSH of a replica WHEN its event is built THEN ECR’s image action with berth-replicated-from last; other pushes are unchanged', () => {
    const event = imageActionEvent(change({ replicatedFrom: FROM }), REPLICA_ORIGIN, 'envelope-r3');
    expect(event['detail-type']).toBe('ECR Image Action');
    expect(event.resources).toEqual([]);
    expect(Object.keys(event.detail)).toEqual(['result', 'repository-name', 'image-digest', 'action-type', 'image-tag', 'berth-event-id', 'berth-replicated-from']);
    expect(event.detail).toMatchObject({ 'action-type': 'PUSH', 'berth-replicated-from': FROM });
    expect(BERTH_DETAIL_KEYS).toContain('berth-replicated-from');
    expect(imageActionEvent(change(), REPLICA_ORIGIN, 'x').detail).not.toHaveProperty('berth-replicated-from');
  });

  test('GIVEN a REPLICATE change WHEN its PutEvents entry is built THEN its detail-type and resources go to EventBridge', () => {
    const replicate = change({ action: 'REPLICATE', replicatedFrom: FROM });
    const entry = putEventsEntry(replicate, REPLICA_ORIGIN);
    expect(entry).toMatchObject({ DetailType: 'ECR Replication Action', Resources: ['arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name'] });
    expect(JSON.parse(entry.Detail)).toEqual(imageActionEvent(replicate, REPLICA_ORIGIN, 'x').detail);
    expect(putEventsEntryOf(imageActionEvent(replicate, REPLICA_ORIGIN, 'x'))).toEqual(entry);
  });

  test('GIVEN events whose detail-type does not go with their action-type, or a REPLICATE without its source WHEN checked or built THEN refused', () => {
    const event = imageActionEvent(change({ action: 'REPLICATE', replicatedFrom: FROM }), REPLICA_ORIGIN, 'x');
    expect(isRegistryEvent({ ...event, 'detail-type': 'ECR Image Action' })).toBe(false);
    expect(isRegistryEvent({ ...imageActionEvent(change(), ORIGIN, 'x'), 'detail-type': 'ECR Replication Action' })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...event.detail, 'action-type': 'COPY' } })).toBe(false);
    expect(() => imageActionEvent(change({ action: 'REPLICATE' }), REPLICA_ORIGIN, 'x')).toThrow(/no replicatedFrom/);
  });

  test('GIVEN a FAILED REPLICATE recorded at the source WHEN its event is built THEN result FAILED, the source is the emitter itself, resources the destination repository, ECR’s keys in ECR’s order', () => {
    const SOURCE_ORIGIN: EventOrigin = { account: '111122223333', region: 'us-west-2', source: DEFAULT_EVENT_SOURCE };
    const failed = change({ action: 'REPLICATE', result: 'FAILED', replicatedTo: { account: '123456789012', region: 'us-east-1' } });
    const event = imageActionEvent(failed, SOURCE_ORIGIN, 'envelope-f1');
    expect(event).toEqual({
      version: '0',
      id: 'envelope-f1',
      'detail-type': 'ECR Replication Action',
      source: 'berth.ecr',
      account: '111122223333',
      time: '2019-11-16T01:54:34Z',
      region: 'us-west-2',
      resources: ['arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name'],
      detail: {
        result: 'FAILED',
        'repository-name': 'my-repository-name',
        'image-digest': DIGEST,
        'source-account': '111122223333',
        'action-type': 'REPLICATE',
        'source-region': 'us-west-2',
        'image-tag': 'latest',
        'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
      },
    });
    expect(Object.keys(event.detail)).toEqual([...ECR_REPLICATION_DETAIL_KEYS, 'berth-event-id']);
    expect(isRegistryEvent(JSON.parse(JSON.stringify(event)))).toBe(true);
    expect(putEventsEntry(failed, SOURCE_ORIGIN)).toMatchObject({ DetailType: 'ECR Replication Action', Resources: event.resources });
    // Without the destination there is no ARN to name; the event is still built.
    expect(imageActionEvent(change({ action: 'REPLICATE', result: 'FAILED' }), SOURCE_ORIGIN, 'x').resources).toEqual([]);
  });
});

describe('the ECR Image Scan shape', () => {
  // ECR's documented example (user guide, "Event for a completed image scan (basic scanning)").
  const SCAN_ORIGIN: EventOrigin = { account: '123456789012', region: 'us-east-1', source: DEFAULT_EVENT_SOURCE };
  const ARN = 'arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name';
  const scan = (overrides: Partial<ImageChange> = {}): ImageChange =>
    change({
      action: 'SCAN',
      tag: undefined,
      time: '2019-10-29T02:36:48.512Z',
      scanStatus: 'COMPLETE',
      // Every level, zeros included and out of ECR's order, as the scan record holds them.
      severityCounts: { UNDEFINED: 0, MEDIUM: 9, LOW: 0, CRITICAL: 10, HIGH: 0, INFORMATIONAL: 0 },
      tags: [],
      ...overrides,
    });

  test('GIVEN a completed scan WHEN its event is built THEN detail-type, the repository in resources and ECR’s keys in ECR’s order with only the levels found, plus berth-event-id', () => {
    const event = imageActionEvent(scan(), SCAN_ORIGIN, 'envelope-s1');
    expect(Object.keys(event)).toEqual(['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
    expect(event).toEqual({
      version: '0',
      id: 'envelope-s1',
      'detail-type': 'ECR Image Scan',
      source: 'berth.ecr',
      account: '123456789012',
      time: '2019-10-29T02:36:48Z',
      region: 'us-east-1',
      resources: [ARN],
      detail: {
        'scan-status': 'COMPLETE',
        'repository-name': 'my-repository-name',
        'finding-severity-counts': { CRITICAL: 10, MEDIUM: 9 },
        'image-digest': DIGEST,
        'image-tags': [],
        'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c',
      },
    });
    expect(Object.keys(event.detail)).toEqual([...ECR_SCAN_DETAIL_KEYS, 'berth-event-id']);
    expect(Object.keys((event.detail as { 'finding-severity-counts': object })['finding-severity-counts'])).toEqual(['CRITICAL', 'MEDIUM']);
    // No key of the image actions: ECR's scan event has neither result nor action-type.
    for (const key of ['result', 'action-type', 'image-tag']) expect(event.detail).not.toHaveProperty(key);
    expect(JSON.stringify(event.detail)).toBe(
      `{"scan-status":"COMPLETE","repository-name":"my-repository-name","finding-severity-counts":{"CRITICAL":10,"MEDIUM":9},"image-digest":"${DIGEST}","image-tags":[],"berth-event-id":"0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c"}`,
    );
    expect(isRegistryEvent(JSON.parse(JSON.stringify(event)))).toBe(true);
    expect(isImageActionEvent(event)).toBe(true);
  });

  test('GIVEN a tagged image scanned without findings WHEN its event is built THEN image-tags lists its tags and finding-severity-counts is empty', () => {
    const event = imageActionEvent(scan({ tags: ['latest', 'v1'], severityCounts: { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFORMATIONAL: 0, UNDEFINED: 0 } }), SCAN_ORIGIN, 'x');
    expect(event.detail).toMatchObject({ 'finding-severity-counts': {}, 'image-tags': ['latest', 'v1'] });
    expect(imageActionEvent(scan({ severityCounts: undefined }), SCAN_ORIGIN, 'x').detail).toMatchObject({ 'finding-severity-counts': {} });
    expect(imageActionEvent(scan({ tags: undefined }), SCAN_ORIGIN, 'x').detail).toMatchObject({ 'image-tags': [] });
  });

  test.each(['FAILED', 'UNSUPPORTED_IMAGE'] as const)('GIVEN a scan that ended %s WHEN its event is built THEN it has that scan-status and no finding-severity-counts (none were counted)', (status) => {
    const event = imageActionEvent(scan({ scanStatus: status, tags: ['v1'] }), SCAN_ORIGIN, 'x');
    expect(event.detail).toEqual({ 'scan-status': status, 'repository-name': 'my-repository-name', 'image-digest': DIGEST, 'image-tags': ['v1'], 'berth-event-id': '0b8e4c0e-4d8a-4c4c-9f57-6d1b7f1a2b3c' });
    expect(Object.keys(event.detail)).toEqual(['scan-status', 'repository-name', 'image-digest', 'image-tags', 'berth-event-id']);
    expect(isRegistryEvent(JSON.parse(JSON.stringify(event)))).toBe(true);
  });

  test('GIVEN a SCAN change WHEN its PutEvents entry is built THEN its detail-type, the repository’s ARN and the detail go to EventBridge; a dead letter re-sends the same', () => {
    const entry = putEventsEntry(scan(), { ...SCAN_ORIGIN, eventBusName: 'registry-events' });
    expect(entry).toMatchObject({ Source: 'berth.ecr', DetailType: 'ECR Image Scan', Resources: [ARN], EventBusName: 'registry-events' });
    expect(entry.Time.toISOString()).toBe('2019-10-29T02:36:48.000Z');
    expect(JSON.parse(entry.Detail)).toEqual(imageActionEvent(scan(), SCAN_ORIGIN, 'x').detail);
    expect(putEventsEntryOf(imageActionEvent(scan(), SCAN_ORIGIN, 'x'))).toEqual(putEventsEntry(scan(), SCAN_ORIGIN));
  });

  test('GIVEN scan events that are not of the contract WHEN checked THEN refused; a SCAN change without its status is not built', () => {
    const event = imageActionEvent(scan({ tags: ['v1'] }), SCAN_ORIGIN, 'x');
    const detail = event.detail as Record<string, unknown>;
    expect(isRegistryEvent({ ...event, 'detail-type': 'ECR Image Action' })).toBe(false);
    expect(isRegistryEvent({ ...event, 'detail-type': 'ECR Replication Action' })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'scan-status': 'IN_PROGRESS' } })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'image-tags': 'v1' } })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'image-tags': [1] } })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'finding-severity-counts': { SEVERE: 1 } } })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'finding-severity-counts': { HIGH: -1 } } })).toBe(false);
    expect(isRegistryEvent({ ...event, detail: { ...detail, 'berth-event-id': undefined } })).toBe(false);
    // An image action claiming the scan's action is neither.
    expect(isRegistryEvent({ ...imageActionEvent(change(), ORIGIN, 'x'), detail: { ...imageActionEvent(change(), ORIGIN, 'x').detail, 'action-type': 'SCAN' } })).toBe(false);
    expect(() => imageActionEvent(scan({ scanStatus: undefined }), SCAN_ORIGIN, 'x')).toThrow(/no scanStatus/);
    expect(() => imageActionEvent(scan({ scanStatus: 'IN_PROGRESS' as ImageChange['scanStatus'] }), SCAN_ORIGIN, 'x')).toThrow(/no scanStatus/);
  });

  test('GIVEN every change action WHEN its detail-type is asked THEN the actions that existed before keep theirs and SCAN is ECR’s scan event', () => {
    expect(CHANGE_ACTIONS.map((action) => [action, detailTypeOf(action)])).toEqual([
      ['PUSH', 'ECR Image Action'],
      ['DELETE', 'ECR Image Action'],
      ['UPDATE_STORAGE_CLASS', 'ECR Image Action'],
      ['REPLICATE', 'ECR Replication Action'],
      ['SCAN', 'ECR Image Scan'],
    ]);
  });

  test('GIVEN a scan record written WHEN its change is made THEN SCAN with the record’s status, counts only when COMPLETE, the tags given, and an id that depends on the record written only', () => {
    const record = { digest: DIGEST, status: 'COMPLETE' as const, severityCounts: { CRITICAL: 1, HIGH: 0, MEDIUM: 0, LOW: 2, INFORMATIONAL: 0, UNDEFINED: 0 }, startedAt: '2024-06-01T00:00:00.000Z', generation: 2 };
    const made = scanChange('team/app', record, ['v1', 'v2'], new Date('2024-06-01T01:00:00.000Z'));
    expect(made).toEqual({
      action: 'SCAN',
      repository: 'team/app',
      digest: DIGEST,
      eventId: scanEventId('team/app', DIGEST, record.startedAt, 2),
      time: '2024-06-01T01:00:00.000Z',
      scanStatus: 'COMPLETE',
      severityCounts: record.severityCounts,
      tags: ['v1', 'v2'],
    });
    expect(made.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // The same record written again (a retry) is the same event; another generation, start, image or repository another.
    expect(scanChange('team/app', record, [], new Date()).eventId).toBe(made.eventId);
    const others = [
      scanEventId('team/app', DIGEST, record.startedAt, 3),
      scanEventId('team/app', DIGEST, '2024-06-02T00:00:00.000Z', 2),
      scanEventId('team/lib', DIGEST, record.startedAt, 2),
      scanEventId('team/app', DIGEST.replace('7f', '8f'), record.startedAt, 2),
    ];
    expect(new Set([made.eventId, ...others]).size).toBe(5);
    const failed = scanChange('team/app', { ...record, status: 'FAILED' }, []);
    expect(failed).not.toHaveProperty('severityCounts');
    expect(failed).toMatchObject({ scanStatus: 'FAILED', tags: [] });
    expect(() => scanChange('team/app', { ...record, status: 'IN_PROGRESS' }, [])).toThrow(/in progress/);
  });
});

describe('the event source', () => {
  test('GIVEN no configured source WHEN validated for AWS or locally THEN it is berth.ecr', () => {
    expect(validateEventSource(undefined, 'aws')).toBe('berth.ecr');
    expect(validateEventSource(undefined, 'local')).toBe('berth.ecr');
  });

  test.each(['aws.ecr', 'aws.anything'])('GIVEN source %s WHEN validated for AWS THEN it is refused with a message naming EventBridge’s refusal and what to do', (source) => {
    expect(() => validateEventSource(source, 'aws')).toThrow(/reserves for AWS services.*NotAuthorizedForSourceException.*berth\.ecr.*"source" filter/s);
  });

  test('GIVEN source aws.ecr WHEN validated locally THEN it is taken as is', () => {
    expect(validateEventSource('aws.ecr', 'local')).toBe('aws.ecr');
  });

  test('GIVEN an empty source or one over 256 characters WHEN validated THEN it is refused where EventBridge would refuse it', () => {
    expect(() => validateEventSource('', 'local')).toThrow(/non-empty/);
    expect(() => validateEventSource('', 'aws')).toThrow(/non-empty/);
    expect(() => validateEventSource('a'.repeat(257), 'aws')).toThrow(/at most 256/);
    expect(validateEventSource('a'.repeat(256), 'aws')).toHaveLength(256);
    expect(validateEventSource('com.example.registry', 'aws')).toBe('com.example.registry');
  });
});

describe('fanning out to several sinks', () => {
  test('GIVEN two sinks of which one fails WHEN events are delivered THEN both received them and the delivery rejects so the caller retries', async () => {
    const seen: string[][] = [[], []];
    const ok: EventSink = { deliver: async (events) => void seen[0].push(...events.map((e) => e.id)) };
    const failing: EventSink = {
      deliver: async (events) => {
        seen[1].push(...events.map((e) => e.id));
        throw new Error('receiver down');
      },
    };
    const events = eventsOf([change(), change({ action: 'DELETE' })], ORIGIN);
    await expect(fanOut([ok, failing]).deliver(events)).rejects.toThrow('receiver down');
    expect(seen).toEqual([events.map((e) => e.id), events.map((e) => e.id)]);
    await expect(fanOut([ok, ok]).deliver(events)).resolves.toBeUndefined();
  });
});
