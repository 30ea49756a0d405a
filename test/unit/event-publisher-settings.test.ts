/**
 * The event publisher's settings from the environment RegistryEvents sets
 * (lambdas/composition/aws/event-publisher.ts), and who emits: the source validated for EventBridge
 * again at start, the account from REGISTRY_ACCOUNT_ID or else from the invoked function's ARN.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { accountOfArn, buildEventPublisher, eventPublisherSettingsFromEnv } from '../../lambdas/composition/aws/event-publisher';

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:berth-event-publisher';

describe('the event publisher’s settings', () => {
  test('GIVEN the table and the region only WHEN read THEN the source is berth.ecr and the bus the default one', () => {
    expect(eventPublisherSettingsFromEnv({ TABLE_NAME: 'registry', AWS_REGION: 'eu-west-1' })).toEqual({
      tableName: 'registry',
      eventBusName: undefined,
      source: 'berth.ecr',
      account: undefined,
      region: 'eu-west-1',
    });
  });

  test('GIVEN everything the construct sets WHEN read THEN each is taken', () => {
    const bus = 'arn:aws:events:eu-west-1:123456789012:event-bus/berth';
    expect(
      eventPublisherSettingsFromEnv({ TABLE_NAME: 't', AWS_REGION: 'eu-west-1', EVENT_BUS_NAME: bus, EVENT_SOURCE: 'acme.registry', REGISTRY_ACCOUNT_ID: '210987654321' }),
    ).toEqual({ tableName: 't', eventBusName: bus, source: 'acme.registry', account: '210987654321', region: 'eu-west-1' });
  });

  test('GIVEN EVENT_SOURCE aws.ecr, no TABLE_NAME or no region WHEN read THEN each is refused with the reason', () => {
    expect(() => eventPublisherSettingsFromEnv({ TABLE_NAME: 't', AWS_REGION: 'eu-west-1', EVENT_SOURCE: 'aws.ecr' })).toThrow(/reserves for AWS services/);
    expect(() => eventPublisherSettingsFromEnv({ AWS_REGION: 'eu-west-1' })).toThrow(/TABLE_NAME is not set/);
    expect(() => eventPublisherSettingsFromEnv({ TABLE_NAME: 't' })).toThrow(/AWS_REGION is not set/);
  });

  test('GIVEN a function ARN WHEN its account is asked THEN it is the fifth field; without one the error says what to set', () => {
    expect(accountOfArn(ARN)).toBe('123456789012');
    expect(() => accountOfArn(undefined)).toThrow(/set REGISTRY_ACCOUNT_ID/);
    expect(() => accountOfArn('arn:aws:lambda:eu-west-1::function:x')).toThrow(/no account/);
  });

  test('GIVEN a publisher WHEN its origin is asked THEN the account is the configured one, else the function ARN’s; region, source and bus are the settings’', () => {
    const common = {
      clients: { dynamodb: new DynamoDBClient({ region: 'eu-west-1' }), eventBridge: new EventBridgeClient({ region: 'eu-west-1' }) },
      logger: new PowertoolsLogger({ serviceName: 'test', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }),
    };
    const fromArn = buildEventPublisher({ ...common, settings: { tableName: 't', source: 'berth.ecr', region: 'eu-west-1' } });
    expect(fromArn.origin(ARN)).toEqual({ account: '123456789012', region: 'eu-west-1', source: 'berth.ecr' });
    const configured = buildEventPublisher({ ...common, settings: { tableName: 't', source: 's.x', region: 'eu-west-1', account: '210987654321', eventBusName: 'berth' } });
    expect(configured.origin(ARN)).toEqual({ account: '210987654321', region: 'eu-west-1', source: 's.x', eventBusName: 'berth' });
    common.clients.dynamodb.destroy();
    common.clients.eventBridge.destroy();
  });
});
