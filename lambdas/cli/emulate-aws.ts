/**
 * `berth serve --emulate-aws`: the AWS path on this machine (DynamoDB Local, the S3 stand-in, the
 * Lambda handlers behind the API Gateway emulator, the ingest server). The only command that loads
 * the emulators and stand-ins (lambdas/emulators), which production code never imports.
 */
import { jsonLogger } from '../core/log';
import { startEmulatedAws } from '../emulators/emulated-aws';
import { identitiesOption } from './identities-option';
import { validateEventSource } from '../contracts/events';
import { replicationFetchLimitFromEnv } from '../contracts/replication-actions';
import { eventOptions } from './event-options';
import { closeOnSignals, count, fail, isLoopback, parseDuration, parsePort, parseTimer } from './options';

export async function emulateAws(
  values: {
    host: string;
    'data-dir': string;
    'tls-cert'?: string;
    'tls-key'?: string;
    'ingest-port'?: string;
    'basic-auth'?: string;
    'public-repositories'?: boolean;
    config?: string;
    'events-file'?: string;
    webhook?: string[];
    'webhook-secret'?: string;
    'event-source'?: string;
    'gc-interval'?: string;
    'gc-grace'?: string;
    'lifecycle-interval'?: string;
  },
  port: number,
  bodyIdleTimeoutMs: number,
): Promise<void> {
  if (values['tls-cert'] || values['tls-key']) fail('--emulate-aws serves plain HTTP (API Gateway terminates TLS on AWS); drop --tls-cert/--tls-key');
  // Identities as for `berth serve`: the emulated IAM (SigV4 on POST /) and the callers' identity policies.
  const identities = identitiesOption(values.config);
  const withIdentities = identities.identities.length > 0;
  if (withIdentities && values['basic-auth'] !== undefined) fail('--basic-auth does not go with identities (--config, BERTH_ACCESS_KEY_ID): the authorizer then verifies login tokens');
  if (values['public-repositories'] && !withIdentities) fail('--public-repositories needs identities (--config FILE or BERTH_ACCESS_KEY_ID/BERTH_SECRET_ACCESS_KEY)');
  let basicAuth: { username: string; password: string } | undefined;
  if (values['basic-auth'] !== undefined) {
    const colon = values['basic-auth'].indexOf(':');
    if (colon <= 0 || colon === values['basic-auth'].length - 1) fail('--basic-auth takes USER:PASSWORD');
    basicAuth = { username: values['basic-auth'].slice(0, colon), password: values['basic-auth'].slice(colon + 1) };
  }
  if (!basicAuth && !withIdentities && !isLoopback(values.host)) {
    fail(`refusing to listen on ${values.host} without --basic-auth or identities (--config, BERTH_ACCESS_KEY_ID): anonymous access is for loopback only`);
  }
  if (values['events-file'] !== undefined || (values.webhook ?? []).length > 0 || values['webhook-secret'] !== undefined) {
    fail('--events-file, --webhook and --webhook-secret are local mode\'s: with --emulate-aws, events go to the EventBridge stand-in, which writes them to <data-dir>/events.jsonl');
  }
  let eventSource: string | undefined;
  try {
    eventSource = validateEventSource(values['event-source'] ?? configEventSource(values.config), 'aws');
  } catch (err) {
    fail((err as Error).message);
  }
  const ingestPort = values['ingest-port'] !== undefined ? parsePort(values['ingest-port'], '--ingest-port') : 0;
  // The collector function's schedule and the stack's gcGracePeriod, as local mode takes them.
  const gcIntervalMs = parseTimer(values['gc-interval'] ?? '1h', '--gc-interval', '1h');
  const gcGraceMs = parseDuration(values['gc-grace'] ?? '24h', '--gc-grace', '24h');
  // The lifecycle runner function's schedule (the stack's lifecycleSchedule).
  const lifecycleIntervalMs = parseTimer(values['lifecycle-interval'] ?? '24h', '--lifecycle-interval', '24h');
  const log = jsonLogger();
  
  // The upload-token key is random unless BERTH_EMULATOR_UPLOAD_TOKEN_KEY names one (tests sign their own tokens with it).
  const uploadTokenKey = process.env.BERTH_EMULATOR_UPLOAD_TOKEN_KEY || undefined;
  if (uploadTokenKey !== undefined && uploadTokenKey.length < 32) fail('BERTH_EMULATOR_UPLOAD_TOKEN_KEY must have at least 32 characters');
  // The registry function's variable, read from this process's environment (tests set a small one).
  let replicationFetchLimitBytes: number | undefined;
  try {
    replicationFetchLimitBytes = replicationFetchLimitFromEnv(process.env);
  } catch (err) {
    fail((err as Error).message);
  }
  let emulated;
  try {
    emulated = await startEmulatedAws({
      host: values.host,
      port,
      ingestPort,
      dataDir: values['data-dir'],
      eventSource,
      basicAuth,
      identities: withIdentities ? identities : undefined,
      publicRepositories: values['public-repositories'],
      uploadTokenKey,
      bodyIdleTimeoutMs,
      gcIntervalMs,
      gcGraceMs,
      lifecycleIntervalMs,
      replicationFetchLimitBytes,
      log,
    });
  } catch (err) {
    fail(`cannot start the emulated AWS mode: ${(err as Error).message}`);
  }
  process.stdout.write(
    `Berth registry (emulated AWS) listening on ${emulated.url} (ingest on ${emulated.ingestUrl}; ` +
      `DynamoDB Local ${emulated.dynamodbEndpoint}, S3 stand-in ${emulated.s3Endpoint}; ` +
      `${withIdentities ? `registry tokens, ${count(identities.identities.length, 'identity', 'identities')}, KMS stand-in ${emulated.kms?.keyId}${values['public-repositories'] ? ', public repositories' : ''}` : basicAuth ? 'Basic authentication' : 'anonymous'}; ` +
      `stats at ${emulated.url}/__berth/stats)\n`,
  );
  closeOnSignals(() => emulated.close());
}

/** The eventSource of the --config file, as `berth serve` reads it. */
function configEventSource(config: string | undefined): string | undefined {
  return config === undefined ? undefined : eventOptions({ config }).source;
}
