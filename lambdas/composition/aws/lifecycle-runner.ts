/**
 * The lifecycle runner's composition on AWS (lambdas/handlers/lifecycle-runner.ts; docs/lifecycle.md,
 * "Running it on AWS"): the metadata store over the registry's table (a lifecycle run reads and
 * deletes records only: no blob store) and the dispatch that invokes the function itself. Built once
 * per container from the environment RegistryLifecycle (lib/registry-lifecycle.ts) sets:
 *
 *   TABLE_NAME                      the registry's table
 *   AWS_LAMBDA_FUNCTION_NAME        the function's own name, which it invokes (Lambda sets it)
 *   LIFECYCLE_DISPATCH_PAGE_SIZE    repositories per dispatch run (default 100)
 *   AWS_REGION                      the clients' region (Lambda sets it)
 *
 * The emulated AWS mode builds the same with buildLifecycleRunner over DynamoDB Local and an
 * in-process dispatch (emulators/emulated-lifecycle.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE } from '../../contracts/lifecycle-runner';
import type { LifecycleDispatch } from '../../core/lifecycle/fan-out';
import type { LifecycleRunStore } from '../../core/lifecycle/run';
import type { RepositoryStore } from '../../storage/ports';
import { LambdaLifecycleDispatch } from '../../aws/lambda-lifecycle-dispatch';
import { DynamoDbMetadataStore } from '../../storage/dynamodb/dynamodb-metadata-store';
import { once } from './once';

export interface LifecycleRunnerSettings {
  tableName: string;
  functionName: string;
  region: string;
  /** Repositories one dispatch run hands out. */
  pageSize: number;
}

export function lifecycleRunnerSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): LifecycleRunnerSettings {
  if (!env.TABLE_NAME) throw new Error('environment variable TABLE_NAME is not set');
  if (!env.AWS_LAMBDA_FUNCTION_NAME) throw new Error('environment variable AWS_LAMBDA_FUNCTION_NAME is not set (Lambda sets it)');
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('environment variable AWS_REGION is not set');
  return { tableName: env.TABLE_NAME, functionName: env.AWS_LAMBDA_FUNCTION_NAME, region, pageSize: pageSizeOf(env.LIFECYCLE_DISPATCH_PAGE_SIZE) };
}

function pageSizeOf(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE;
  const size = Number(text);
  if (!Number.isInteger(size) || size < 1 || size > 1000) throw new Error(`LIFECYCLE_DISPATCH_PAGE_SIZE must be a whole number from 1 to 1000, got ${JSON.stringify(text)}`);
  return size;
}

/** What each run of the function works with. */
export interface LifecycleRunner {
  store: LifecycleRunStore & Pick<RepositoryStore, 'listRepositories'>;
  dispatch: LifecycleDispatch;
  pageSize: number;
  logger: PowertoolsLogger;
  metrics: Metrics;
  /** The clock of the deadline and of the age rules. @default Date.now */
  now?: () => number;
}

export interface LifecycleRunnerOptions {
  settings: Pick<LifecycleRunnerSettings, 'tableName'> & Partial<Pick<LifecycleRunnerSettings, 'pageSize'>>;
  clients: { dynamodb: DynamoDBClient };
  dispatch: LifecycleDispatch;
  logger: PowertoolsLogger;
  metrics: Metrics;
  now?: () => number;
}

/** The runner over the given client and dispatch: what the deployed function and the emulated mode both run. */
export async function buildLifecycleRunner(options: LifecycleRunnerOptions): Promise<LifecycleRunner> {
  // `open`, as the garbage collector: the runner may be the first to meet a table of an older layout,
  // and it deletes manifests, which it must only do on the layout this build writes.
  const store = await DynamoDbMetadataStore.open({ client: options.clients.dynamodb, tableName: options.settings.tableName });
  return {
    store,
    dispatch: options.dispatch,
    pageSize: options.settings.pageSize ?? DEFAULT_LIFECYCLE_DISPATCH_PAGE_SIZE,
    logger: options.logger,
    metrics: options.metrics,
    now: options.now,
  };
}

/** The runner from its environment: built on the first invocation of a container, reused by the next ones. */
export function lifecycleRunnerFromEnvironment(observability: { logger: PowertoolsLogger; metrics: Metrics }): () => Promise<LifecycleRunner> {
  return once(async () => {
    const settings = lifecycleRunnerSettingsFromEnv();
    // Only the two clients this function uses (createAwsClients would load five SDK clients per cold start).
    const dynamodb = new DynamoDBClient({ region: settings.region });
    const dispatch = new LambdaLifecycleDispatch({ client: new LambdaClient({ region: settings.region }), functionName: settings.functionName });
    return buildLifecycleRunner({ settings, clients: { dynamodb }, dispatch, ...observability });
  });
}
