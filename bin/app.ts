/**
 * The CDK app: one `BerthRegistry` stack, configured with context values, e.g.
 * `npx cdk deploy -c domainName=registry.example.com -c certificateArn=arn:aws:acm:...`
 * (docs/deploy.md lists them all). cdk-nag's AwsSolutions pack runs on every synth: a finding
 * that is neither fixed nor acknowledged with a written reason fails the synth.
 */
import { App, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as events from 'aws-cdk-lib/aws-events';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RegistryStack, type ReplicationDestinationEndpoint } from '../lib';

const app = new App();

function context(key: string): string | undefined {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
}
function flag(key: string, fallback: boolean): boolean {
  const value = context(key);
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false') throw new Error(`context ${key} must be true or false, got "${value}"`);
  return value === 'true';
}
function seconds(key: string): Duration | undefined {
  const value = context(key);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`context ${key} must be a whole number of seconds, got "${value}"`);
  return Duration.seconds(Number(value));
}
function hours(key: string): Duration | undefined {
  const value = context(key);
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`context ${key} must be a whole number of hours (at least 1), got "${value}"`);
  return Duration.hours(Number(value));
}
function gcSchedule(): events.Schedule | undefined {
  const interval = hours('gcIntervalHours');
  return interval ? events.Schedule.rate(interval) : undefined;
}
function lifecycleSchedule(): events.Schedule | undefined {
  const interval = hours('lifecycleIntervalHours');
  return interval ? events.Schedule.rate(interval) : undefined;
}
/** `-c replicationDestinations='[{"region":...}]'` gives JSON text; cdk.json or cdk.context.json may give the list itself. The stack checks the entries. */
function replicationDestinations(): ReplicationDestinationEndpoint[] | undefined {
  const value: unknown = app.node.tryGetContext('replicationDestinations');
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') return value as ReplicationDestinationEndpoint[];
  try {
    return JSON.parse(value) as ReplicationDestinationEndpoint[];
  } catch (err) {
    throw new Error(`context replicationDestinations must be a JSON list of {"region","registryId","endpoint"}: ${(err as Error).message}`, { cause: err });
  }
}
function removalPolicy(): RemovalPolicy | undefined {
  const value = context('removalPolicy');
  if (value === undefined) return undefined;
  if (value === 'retain') return RemovalPolicy.RETAIN;
  if (value === 'destroy') return RemovalPolicy.DESTROY;
  throw new Error(`context removalPolicy must be retain or destroy, got "${value}"`);
}
function endpointType(): apigateway.EndpointType | undefined {
  const value = context('endpointType');
  if (value === undefined) return undefined;
  if (value === 'regional') return apigateway.EndpointType.REGIONAL;
  if (value === 'private') return apigateway.EndpointType.PRIVATE;
  throw new Error(`context endpointType must be regional or private, got "${value}"`);
}

function challenge(): 'bearer' | 'basic' | undefined {
  const value = context('challenge');
  if (value === undefined) return undefined;
  if (value !== 'bearer' && value !== 'basic') throw new Error(`context challenge must be bearer or basic, got "${value}"`);
  return value;
}

new RegistryStack(app, context('stackName') ?? 'BerthRegistry', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Berth container registry (OCI Distribution v1.1 and the ECR control plane)',
  domainName: context('domainName'),
  certificateArn: context('certificateArn'),
  ingestDomainName: context('ingestDomainName'),
  ingestCertificateArn: context('ingestCertificateArn'),
  ingest: flag('ingest', true),
  encryptionKeyArn: context('encryptionKeyArn'),
  removalPolicy: removalPolicy(),
  presignTtl: seconds('presignTtlSeconds'),
  endpointType: endpointType(),
  vpcEndpointId: context('vpcEndpointId'),
  challenge: challenge(),
  publicRepositories: flag('publicRepositories', false),
  createOnPush: flag('createOnPush', true),
  tokenSigningKeyArn: context('tokenSigningKeyArn'),
  authorizerCacheTtl: seconds('authorizerCacheTtlSeconds'),
  eventSource: context('eventSource'),
  eventBusName: context('eventBusName'),
  gcGracePeriod: hours('gcGracePeriodHours'),
  gcSchedule: gcSchedule(),
  lifecycleSchedule: lifecycleSchedule(),
  replicationDestinations: replicationDestinations(),
});

if (flag('nag', true)) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
