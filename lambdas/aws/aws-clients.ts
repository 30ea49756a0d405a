/**
 * AWS SDK clients of the handlers and the ingest service (created once per container), and a
 * middleware that counts SDK calls per operation (what the emulated AWS mode reports and what
 * docs/benchmarks.md derives costs from).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { IAMClient } from '@aws-sdk/client-iam';

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  secretsManager: SecretsManagerClient;
  /** Signs tokens (Sign) and gives the public key that verifies them (GetPublicKey). */
  kms: KMSClient;
  /** SimulatePrincipalPolicy: the callers' identity policies. */
  iam: IAMClient;
}

export interface AwsClientOptions {
  region?: string;
  /** Endpoints of local stand-ins (the emulated AWS mode); none on AWS. */
  dynamodbEndpoint?: string;
  s3Endpoint?: string;
  /** Fixed credentials for local stand-ins; on AWS the default provider chain (the function's role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const common = { region, ...(options.credentials ? { credentials: options.credentials } : {}) };
  return {
    dynamodb: new DynamoDBClient({ ...common, ...(options.dynamodbEndpoint ? { endpoint: options.dynamodbEndpoint } : {}) }),
    s3: new S3Client({
      ...common,
      ...(options.s3Endpoint ? { endpoint: options.s3Endpoint, forcePathStyle: true } : {}),
    }),
    secretsManager: new SecretsManagerClient(common),
    kms: new KMSClient(common),
    // IAM is a global service: the client's region only picks the endpoint's partition.
    iam: new IAMClient(common),
  };
}

/** `Service.Operation` -> number of requests sent (each retry attempt counts: each is billed). */
export type SdkCallCounts = Record<string, number>;

const DYNAMODB_READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const DYNAMODB_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

interface CountableClient {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/**
 * Counts every request `client` sends, by operation, into `counts`. The middleware sits in the
 * deserialize step, next to the wire: presigned URLs (signed locally, never sent) are not counted.
 */
export function countSdkCalls(client: CountableClient, service: string, counts: SdkCallCounts): void {
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const key = `${service}.${operation}`;
      counts[key] = (counts[key] ?? 0) + 1;
      return next(args);
    },
    { step: 'deserialize', name: 'berthSdkCallCounter', override: true },
  );
}

/** DynamoDB reads and writes, and S3 requests, summed from counts made by countSdkCalls. */
export function summarizeSdkCalls(counts: SdkCallCounts): { dynamodbReads: number; dynamodbWrites: number; s3Requests: number } {
  let dynamodbReads = 0;
  let dynamodbWrites = 0;
  let s3Requests = 0;
  for (const [key, n] of Object.entries(counts)) {
    const [service, operation] = key.split('.');
    if (service === 'DynamoDB' && DYNAMODB_READS.has(operation)) dynamodbReads += n;
    else if (service === 'DynamoDB' && DYNAMODB_WRITES.has(operation)) dynamodbWrites += n;
    else if (service === 'S3') s3Requests += n;
  }
  return { dynamodbReads, dynamodbWrites, s3Requests };
}
