/**
 * EventBridge's event pattern semantics as the EventBridge stand-in matches them
 * (lambdas/emulators/event-pattern.ts), on the examples of EventBridge's user guide ("Event
 * patterns", "Content filtering"): each operator, matching and not.
 */
import { InvalidEventPatternError, matchesEventPattern, validateEventPattern } from '../../lambdas/emulators/event-pattern';

// The EC2 state-change event of EventBridge's user guide, with a few fields added for the operators.
const EC2_EVENT = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '111122223333',
  time: '2017-12-22T18:43:48Z',
  region: 'us-west-1',
  resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
  detail: {
    'instance-id': 'i-1234567890abcdef0',
    state: 'terminated',
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.123',
    location: null,
    note: '',
    tags: ['prod', 'web'],
  },
};

const ECR_PUSH = {
  version: '0',
  id: 'x',
  'detail-type': 'ECR Image Action',
  source: 'berth.ecr',
  account: '123456789012',
  time: '2019-11-16T01:54:34Z',
  region: 'us-west-2',
  resources: [],
  detail: { result: 'SUCCESS', 'repository-name': 'team/app', 'image-digest': 'sha256:ab', 'action-type': 'PUSH', 'image-tag': 'latest' },
};

const matches = (pattern: Record<string, unknown>, event: unknown = EC2_EVENT) => matchesEventPattern(pattern, event);

describe('event patterns: exact values and nesting', () => {
  test('GIVEN a pattern of allowed values WHEN the field holds one of them THEN it matches, and not when it holds another', () => {
    expect(matches({ source: ['aws.ec2'] })).toBe(true);
    expect(matches({ source: ['aws.s3', 'aws.ec2'] })).toBe(true);
    expect(matches({ source: ['aws.s3'] })).toBe(false);
  });

  test('GIVEN a nested pattern WHEN every named field of detail matches THEN it matches; one mismatch or a missing field and it does not', () => {
    expect(matches({ source: ['aws.ec2'], detail: { state: ['terminated', 'stopped'] } })).toBe(true);
    expect(matches({ source: ['aws.ec2'], detail: { state: ['running'] } })).toBe(false);
    expect(matches({ detail: { 'no-such-field': ['terminated'] } })).toBe(false);
  });

  test('GIVEN Berth’s PUSH rule WHEN a PUSH and a DELETE are matched THEN only the PUSH matches', () => {
    const rule = { source: ['berth.ecr'], 'detail-type': ['ECR Image Action'], detail: { 'action-type': ['PUSH'] } };
    expect(matches(rule, ECR_PUSH)).toBe(true);
    expect(matches(rule, { ...ECR_PUSH, detail: { ...ECR_PUSH.detail, 'action-type': 'DELETE' } })).toBe(false);
    expect(matches(rule, { ...ECR_PUSH, source: 'aws.ecr' })).toBe(false);
  });

  test('GIVEN exact values WHEN types differ, or the value is null or empty THEN matching is exact, type included', () => {
    expect(matches({ detail: { 'c-count': [5] } })).toBe(true);
    expect(matches({ detail: { 'c-count': ['5'] } })).toBe(false);
    expect(matches({ detail: { location: [null] } })).toBe(true);
    expect(matches({ detail: { note: [''] } })).toBe(true);
    expect(matches({ detail: { note: [null] } })).toBe(false);
  });

  test('GIVEN an event field that is an array WHEN any of its elements is allowed THEN it matches', () => {
    expect(matches({ resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'] })).toBe(true);
    expect(matches({ detail: { tags: ['web'] } })).toBe(true);
    expect(matches({ detail: { tags: ['dev'] } })).toBe(false);
  });
});

describe('event patterns: operators', () => {
  test('GIVEN prefix WHEN the value starts with it THEN it matches, else not', () => {
    expect(matches({ time: [{ prefix: '2017-12-22' }] })).toBe(true);
    expect(matches({ time: [{ prefix: '2018-' }] })).toBe(false);
    expect(matches({ detail: { 'c-count': [{ prefix: '5' }] } })).toBe(false);
  });

  test('GIVEN suffix and equals-ignore-case WHEN they apply THEN they match, else not', () => {
    expect(matches({ detail: { 'instance-id': [{ suffix: 'def0' }] } })).toBe(true);
    expect(matches({ detail: { 'instance-id': [{ suffix: 'xyz' }] } })).toBe(false);
    expect(matches({ detail: { state: [{ 'equals-ignore-case': 'TERMINATED' }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'equals-ignore-case': 'RUNNING' }] } })).toBe(false);
  });

  test('GIVEN anything-but a value WHEN the field holds another value THEN it matches; the value itself does not', () => {
    expect(matches({ detail: { state: [{ 'anything-but': 'initializing' }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': 'terminated' }] } })).toBe(false);
    expect(matches({ detail: { 'c-count': [{ 'anything-but': 0 }] } })).toBe(true);
    expect(matches({ detail: { 'c-count': [{ 'anything-but': 5 }] } })).toBe(false);
  });

  test('GIVEN anything-but a list or a prefix WHEN the value is outside it THEN it matches; inside it does not; a missing field never matches', () => {
    expect(matches({ detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': ['stopped', 'terminated'] }] } })).toBe(false);
    expect(matches({ detail: { state: [{ 'anything-but': { prefix: 'init' } }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': { prefix: 'term' } }] } })).toBe(false);
    expect(matches({ detail: { 'no-such-field': [{ 'anything-but': 'x' }] } })).toBe(false);
  });

  test('GIVEN exists true or false WHEN the leaf is present or absent THEN it matches accordingly', () => {
    expect(matches({ detail: { state: [{ exists: true }] } })).toBe(true);
    expect(matches({ detail: { state: [{ exists: false }] } })).toBe(false);
    expect(matches({ detail: { 'no-such-field': [{ exists: false }] } })).toBe(true);
    expect(matches({ detail: { 'no-such-field': [{ exists: true }] } })).toBe(false);
    expect(matches({ detail: { location: [{ exists: true }] } })).toBe(true);
    // exists applies to leaves: an intermediate node does not count.
    expect(matches({ detail: [{ exists: true }] })).toBe(false);
    const untagged = { ...ECR_PUSH, detail: { ...ECR_PUSH.detail, 'image-tag': undefined } };
    delete (untagged.detail as Record<string, unknown>)['image-tag'];
    expect(matches({ detail: { 'image-tag': [{ exists: false }] } }, untagged)).toBe(true);
    expect(matches({ detail: { 'image-tag': [{ exists: false }] } }, ECR_PUSH)).toBe(false);
  });

  test('GIVEN numeric ranges WHEN the number is inside THEN it matches; outside, or not a number, it does not', () => {
    expect(matches({ detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }], 'd-count': [{ numeric: ['<', 10] }], 'x-limit': [{ numeric: ['=', 301.8] }] } })).toBe(true);
    expect(matches({ detail: { 'c-count': [{ numeric: ['>', 5] }] } })).toBe(false);
    expect(matches({ detail: { 'x-limit': [{ numeric: ['>=', 302] }] } })).toBe(false);
    expect(matches({ detail: { state: [{ numeric: ['>', 0] }] } })).toBe(false);
  });

  test('GIVEN $or WHEN either branch matches THEN it matches; when neither does, not', () => {
    expect(matches({ detail: { $or: [{ 'c-count': [{ numeric: ['>', 100] }] }, { 'd-count': [3] }] } })).toBe(true);
    expect(matches({ detail: { $or: [{ 'c-count': [{ numeric: ['>', 100] }] }, { 'd-count': [4] }] } })).toBe(false);
  });

  test('GIVEN several allowed matchers in one leaf WHEN any one matches THEN the leaf matches', () => {
    expect(matches({ detail: { state: [{ prefix: 'run' }, 'terminated'] } })).toBe(true);
    expect(matches({ detail: { state: [{ prefix: 'run' }, 'stopped'] } })).toBe(false);
  });
});

describe('event patterns: invalid patterns', () => {
  test.each([
    ['a bare string as a leaf', { source: 'aws.ec2' }],
    ['an empty array', { source: [] }],
    ['an unknown operator', { source: [{ wildcard2: 'x' }] }],
    ['exists with a string', { detail: { state: [{ exists: 'yes' }] } }],
    ['numeric with a missing bound', { detail: { n: [{ numeric: ['>'] }] } }],
    ['numeric with an unknown operator', { detail: { n: [{ numeric: ['!=', 1] }] } }],
  ])('GIVEN %s WHEN validated THEN it is refused as PutRule would', (_name, pattern) => {
    expect(() => validateEventPattern(pattern)).toThrow(InvalidEventPatternError);
  });
});
