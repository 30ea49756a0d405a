/**
 * The ingest service's entry point (the Fargate container, `bin/berth-ingest.ts`): the router in
 * its upload-only role over DynamoDB and S3, configured by TABLE_NAME, BUCKET_NAME and
 * UPLOAD_TOKEN_SECRET_ARN, behind node:http with the body idle timeout. Its bundle holds no
 * emulator, stand-in or ECR client (test/cdk/bundles.test.ts reads it).
 */
import { buildAwsRegistry, containerDependencies, settingsFromEnv, type AwsSettings } from '../composition/aws/aws-registry';
import { coreLogger, createObservability } from '../aws/observability';
import { ingestHandler } from './ingest-logging';
import { startNodeServer, type RunningServer } from '../server/node-server';

export interface IngestOptions {
  host: string;
  port: number;
  /** A request body that sends nothing for this long is cut (0: never). */
  bodyIdleTimeoutMs: number;
  env: NodeJS.ProcessEnv;
}

/** The settings the ingest service needs from its environment; throws with a message naming what is missing. */
export function ingestSettings(env: NodeJS.ProcessEnv): AwsSettings {
  const settings = settingsFromEnv(env);
  if (!settings.uploadTokenSecretId) throw new Error('environment variable UPLOAD_TOKEN_SECRET_ARN is not set');
  return settings;
}

export async function startIngest(options: IngestOptions, settings = ingestSettings(options.env)): Promise<RunningServer> {
  const { logger } = createObservability(options.env.POWERTOOLS_SERVICE_NAME || 'berth-ingest');
  const { clients, secrets } = containerDependencies();
  const app = await buildAwsRegistry({ settings, clients, secrets, logger, role: 'ingest' });
  return startNodeServer({
    handler: ingestHandler(app.router, logger),
    host: options.host,
    port: options.port,
    log: coreLogger(logger),
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs,
  });
}
