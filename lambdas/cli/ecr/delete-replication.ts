/**
 * ReplicationRule's `deleteReplication` for `berth ecr put-replication-configuration` and
 * `describe-registry`. @aws-sdk/client-ecr 3.1169's model predates the member: its serializer leaves
 * it out of the request and its deserializer out of the answer. Rather than send these two commands
 * outside the SDK (and lose its signing, retries, endpoint and error handling), two middlewares on the
 * command put it back:
 *
 * - after serialization (build step), the member of each rule of the input is written into the JSON
 *   body, before the content length is set and the request signed;
 * - before deserialization (innermost), the answer's JSON is read and its bytes handed on unchanged;
 *   once the SDK has built its output (initialize step, outermost), each rule gets the member back.
 *
 * When the SDK learns the member, the body already carries it and the output already has it: the
 * middlewares then write what is there.
 */

interface Args {
  input: unknown;
  request?: unknown;
}
type Next = (args: Args) => Promise<{ output: unknown; response: unknown }>;
/** What of a command's middleware stack is used here (the SDK's MiddlewareStack, whatever its input and output types). */
export interface CommandWithMiddleware {
  middlewareStack: {
    add(middleware: (next: Next) => Next, options: { step: 'initialize' | 'build' | 'deserialize'; priority: 'high' | 'low'; name: string }): void;
  };
}

type Json = Record<string, unknown>;
type Rules = Array<Json | undefined>;

/** The operations whose input or answer carries a replication configuration. */
export const DELETE_REPLICATION_OPERATIONS: ReadonlySet<string> = new Set(['PutReplicationConfiguration', 'DescribeRegistry']);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function rulesOf(holder: unknown): Rules | undefined {
  if (!isObject(holder)) return undefined;
  const configuration = holder.replicationConfiguration;
  if (!isObject(configuration) || !Array.isArray(configuration.rules)) return undefined;
  return configuration.rules.map((r: unknown) => (isObject(r) ? r : undefined));
}

/** Each rule's `deleteReplication` (undefined where a rule has none). */
const deleteReplicationOf = (rules: Rules | undefined) => rules?.map((r) => r?.deleteReplication);

function restore(target: Rules | undefined, values: unknown[] | undefined): void {
  if (!target || !values) return;
  values.forEach((value, i) => {
    if (value !== undefined && target[i] !== undefined) target[i]!.deleteReplication = value;
  });
}

async function bytesOf(body: unknown): Promise<Uint8Array | undefined> {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body && typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  return undefined;
}

/** Adds the middlewares to a command of `operation` built from `input` (nothing for other operations). */
export function carryDeleteReplication(command: CommandWithMiddleware, operation: string, input: Json): void {
  if (!DELETE_REPLICATION_OPERATIONS.has(operation)) return;
  const sent = deleteReplicationOf(rulesOf(input));
  if (operation === 'PutReplicationConfiguration' && sent?.some((v) => v !== undefined)) {
    command.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown; headers?: Record<string, string> } | undefined;
        // The serializer's body is JSON as a string or as bytes (3.1169: a Uint8Array whose string methods
        // warn, hence the TextDecoder rather than Buffer.from, which calls valueOf).
        const text = typeof request?.body === 'string' ? request.body : request?.body instanceof Uint8Array ? new TextDecoder().decode(request.body) : undefined;
        if (request && text !== undefined) {
          const body = JSON.parse(text) as unknown;
          restore(rulesOf(body), sent);
          request.body = JSON.stringify(body);
          // Set here, whatever the serializer set: the content-length middleware keeps a header it finds.
          for (const name of Object.keys(request.headers ?? {})) if (name.toLowerCase() === 'content-length') delete request.headers![name];
          request.headers = { ...request.headers, 'content-length': String(Buffer.byteLength(request.body as string)) };
        }
        return next(args);
      },
      { step: 'build', priority: 'high', name: 'berthDeleteReplicationRequest' },
    );
  }
  let received: unknown[] | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: unknown } | undefined;
      received = undefined;
      if (response && response.statusCode === 200) {
        const bytes = await bytesOf(response.body);
        if (bytes) {
          response.body = bytes;
          try {
            received = deleteReplicationOf(rulesOf(JSON.parse(Buffer.from(bytes).toString('utf8'))));
          } catch {
            // Not JSON: the SDK's deserializer reports it.
          }
        }
      }
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'berthDeleteReplicationResponseBody' },
  );
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      restore(rulesOf(result.output), received);
      return result;
    },
    { step: 'initialize', priority: 'high', name: 'berthDeleteReplicationOutput' },
  );
}
