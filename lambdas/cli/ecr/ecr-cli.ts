/**
 * `berth ecr <command>`: the AWS CLI's `aws ecr <command>` for the actions Berth supports, through
 * `@aws-sdk/client-ecr`, so that runbooks change `aws ecr` into `berth ecr` and nothing else. Against
 * the deployed stack `--execute-api` signs for API Gateway (ecr-login.ts explains why the AWS CLI
 * cannot); against local mode it signs for `ecr` like the AWS CLI.
 *
 * Arguments are the AWS CLI's: `--repository-name x`, lists as several values (`--repository-names a b`)
 * or JSON, structures as shorthand (`--image-ids imageTag=v1 imageDigest=sha256:...`,
 * `--image-scanning-configuration scanOnPush=true`) or JSON, `file://` for any value, `--cli-input-json`,
 * `--force`/`--no-force`, `--endpoint-url`, `--region`, `--profile`, `--query` (JMESPath, the `jmespath`
 * package: the reference implementation, the dialect the AWS CLI speaks), `--output json` or `text`.
 *
 * The output is the AWS CLI's: the service's member names (camelCase for ECR), 4-space indented JSON,
 * timestamps as the CLI prints them (ISO 8601 in the local time zone with microseconds:
 * `2024-05-01T12:00:00.163000+00:00`), nothing for an empty answer, and the pages of a paginated
 * command merged into one answer without `nextToken` (as the CLI's auto-pagination does; `--query`
 * applies to that merged answer, as the CLI's json output does). `--output text` is cli-text-output.ts. Errors go
 * to stderr as the CLI words them ("An error occurred (<Code>) when calling the <Operation>
 * operation: <message>") with exit code 254; usage errors exit 252.
 */
import { readFileSync } from 'node:fs';
import * as sdk from '@aws-sdk/client-ecr';
import * as jmespath from 'jmespath';
import { formatCliText } from './cli-text-output';
import { ecrClient, getLoginPassword } from './ecr-login';
import { carryDeleteReplication, type CommandWithMiddleware } from './delete-replication';

export interface EcrCliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env?: NodeJS.ProcessEnv;
}

interface CommandSpec {
  /** The SDK operation name (also the `<Name>Command` class). */
  operation: string;
  /** The member a paginated command merges across pages (a path for a nested one: `imageScanFindings.findings`). */
  paginate?: string;
}

const COMMANDS: Record<string, CommandSpec> = {
  'create-repository': { operation: 'CreateRepository' },
  'describe-repositories': { operation: 'DescribeRepositories', paginate: 'repositories' },
  'delete-repository': { operation: 'DeleteRepository' },
  'describe-images': { operation: 'DescribeImages', paginate: 'imageDetails' },
  'list-images': { operation: 'ListImages', paginate: 'imageIds' },
  'batch-get-image': { operation: 'BatchGetImage' },
  'batch-delete-image': { operation: 'BatchDeleteImage' },
  'put-image': { operation: 'PutImage' },
  'put-image-tag-mutability': { operation: 'PutImageTagMutability' },
  'put-image-scanning-configuration': { operation: 'PutImageScanningConfiguration' },
  'tag-resource': { operation: 'TagResource' },
  'untag-resource': { operation: 'UntagResource' },
  'list-tags-for-resource': { operation: 'ListTagsForResource' },
  'get-authorization-token': { operation: 'GetAuthorizationToken' },
  'set-repository-policy': { operation: 'SetRepositoryPolicy' },
  'get-repository-policy': { operation: 'GetRepositoryPolicy' },
  'delete-repository-policy': { operation: 'DeleteRepositoryPolicy' },
  'describe-registry': { operation: 'DescribeRegistry' },
  'put-registry-policy': { operation: 'PutRegistryPolicy' },
  'get-registry-policy': { operation: 'GetRegistryPolicy' },
  'delete-registry-policy': { operation: 'DeleteRegistryPolicy' },
  'create-repository-creation-template': { operation: 'CreateRepositoryCreationTemplate' },
  'describe-repository-creation-templates': { operation: 'DescribeRepositoryCreationTemplates', paginate: 'repositoryCreationTemplates' },
  'update-repository-creation-template': { operation: 'UpdateRepositoryCreationTemplate' },
  'delete-repository-creation-template': { operation: 'DeleteRepositoryCreationTemplate' },
  'batch-check-layer-availability': { operation: 'BatchCheckLayerAvailability' },
  'get-download-url-for-layer': { operation: 'GetDownloadUrlForLayer' },
  'list-image-referrers': { operation: 'ListImageReferrers', paginate: 'referrers' },
  'get-account-setting': { operation: 'GetAccountSetting' },
  'put-account-setting': { operation: 'PutAccountSetting' },
  'put-lifecycle-policy': { operation: 'PutLifecyclePolicy' },
  'get-lifecycle-policy': { operation: 'GetLifecyclePolicy' },
  'delete-lifecycle-policy': { operation: 'DeleteLifecyclePolicy' },
  'start-lifecycle-policy-preview': { operation: 'StartLifecyclePolicyPreview' },
  'get-lifecycle-policy-preview': { operation: 'GetLifecyclePolicyPreview', paginate: 'previewResults' },
  'update-image-storage-class': { operation: 'UpdateImageStorageClass' },
  'register-pull-time-update-exclusion': { operation: 'RegisterPullTimeUpdateExclusion' },
  'deregister-pull-time-update-exclusion': { operation: 'DeregisterPullTimeUpdateExclusion' },
  'list-pull-time-update-exclusions': { operation: 'ListPullTimeUpdateExclusions', paginate: 'pullTimeUpdateExclusions' },
  // With `deleteReplication`, which the SDK's model lacks (delete-replication.ts); so does describe-registry's answer.
  'put-replication-configuration': { operation: 'PutReplicationConfiguration' },
  'describe-image-replication-status': { operation: 'DescribeImageReplicationStatus' },
  'put-registry-scanning-configuration': { operation: 'PutRegistryScanningConfiguration' },
  'get-registry-scanning-configuration': { operation: 'GetRegistryScanningConfiguration' },
  'batch-get-repository-scanning-configuration': { operation: 'BatchGetRepositoryScanningConfiguration' },
  'start-image-scan': { operation: 'StartImageScan' },
  'describe-image-scan-findings': { operation: 'DescribeImageScanFindings', paginate: 'imageScanFindings.findings' },
};

/** How a member's value is written on the command line. */
const LIST_OF_STRUCTURES = new Set(['imageIds', 'tags', 'resourceTags', 'imageTagMutabilityExclusionFilters']);
const LIST_OF_STRINGS = new Set(['repositoryNames', 'tagKeys', 'layerDigests', 'acceptedMediaTypes', 'appliedFor', 'prefixes', 'registryIds']);
const STRUCTURES = new Set(['imageScanningConfiguration', 'encryptionConfiguration', 'filter', 'subjectId', 'imageId']);
/** Members given as JSON only (the CLI's shorthand for nested lists is not implemented): `--rules '[{"scanFrequency": ...}]'` or file://. */
const JSON_STRUCTURES = new Set(['replicationConfiguration', 'rules']);
const INTEGERS = new Set(['maxResults']);
const BOOLEANS = new Set(['force']);

const GLOBAL_WITH_VALUE = new Set(['endpoint-url', 'region', 'output', 'profile', 'cli-input-json', 'query', 'color', 'ca-bundle', 'cli-read-timeout', 'cli-connect-timeout', 'max-items', 'page-size', 'starting-token']);
const GLOBAL_FLAGS = new Set(['execute-api', 'no-paginate', 'debug', 'no-verify-ssl', 'no-cli-pager', 'no-sign-request']);

class UsageError extends Error {}

const camel = (kebab: string) => kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function fileValue(text: string): string {
  if (text.startsWith('file://')) return readFileSync(text.slice('file://'.length), 'utf8');
  if (text.startsWith('fileb://')) return readFileSync(text.slice('fileb://'.length)).toString('base64');
  return text;
}

/** `a=1,b=x` (shorthand), with `true`/`false` and digits as the CLI coerces them for ECR's members. */
function shorthand(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`Error parsing parameter: expected key=value, got '${part}'`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    out[key] = value === 'true' ? true : value === 'false' ? false : value;
  }
  return out;
}

function memberValue(member: string, values: string[]): unknown {
  const texts = values.map(fileValue);
  const json = texts.length === 1 && /^\s*[[{]/.test(texts[0]) ? JSON.parse(texts[0]) : undefined;
  if (LIST_OF_STRUCTURES.has(member)) return json ?? texts.map(shorthand);
  if (LIST_OF_STRINGS.has(member)) return json ?? texts.flatMap((t) => (texts.length === 1 && t.includes(',') && !t.includes('"') ? t.split(',') : [t]));
  if (STRUCTURES.has(member)) return json ?? shorthand(texts.join(','));
  if (JSON_STRUCTURES.has(member)) {
    if (json === undefined) throw new UsageError(`--${kebab(member)} takes JSON, e.g. file://config.json`);
    return json;
  }
  if (texts.length !== 1) throw new UsageError(`--${member} takes one value`);
  if (INTEGERS.has(member)) {
    if (!/^-?\d+$/.test(texts[0])) throw new UsageError(`--${member} must be an integer`);
    return Number(texts[0]);
  }
  return texts[0];
}

export interface ParsedEcrCommand {
  command: string;
  input: Record<string, unknown>;
  globals: Record<string, string | true>;
  /** The members that came from --cli-input-json only (not from an option). */
  fromCliInputJson: string[];
}

export function parseEcrArgs(argv: string[]): ParsedEcrCommand {
  const args = argv[0] === 'ecr' ? argv.slice(1) : argv;
  const globals: Record<string, string | true> = {};
  const input: Record<string, unknown> = {};
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      if (command === undefined) {
        command = arg;
        continue;
      }
      throw new UsageError(`Unknown options: ${arg}`);
    }
    const name = arg.slice(2);
    const values: string[] = [];
    while (i + 1 < args.length && !(args[i + 1].startsWith('--') && args[i + 1].length > 2)) values.push(args[++i]);
    if (GLOBAL_FLAGS.has(name)) {
      if (values.length > 0) throw new UsageError(`--${name} takes no value`);
      globals[name] = true;
    } else if (GLOBAL_WITH_VALUE.has(name)) {
      if (values.length !== 1) throw new UsageError(`--${name} takes one value`);
      globals[name] = values[0];
    } else if (name.startsWith('no-') && BOOLEANS.has(camel(name.slice(3)))) {
      input[camel(name.slice(3))] = false;
    } else if (BOOLEANS.has(camel(name))) {
      if (values.length > 0) throw new UsageError(`--${name} takes no value`);
      input[camel(name)] = true;
    } else {
      if (values.length === 0) throw new UsageError(`argument --${name}: expected one argument`);
      input[camel(name)] = memberValue(camel(name), values);
    }
  }
  if (command === undefined) throw new UsageError(`usage: berth ecr <command> [options]; commands: ${[...Object.keys(COMMANDS), 'get-login-password'].sort().join(', ')}`);
  const fromCliInputJson: string[] = [];
  if (typeof globals['cli-input-json'] === 'string') {
    const fromJson = JSON.parse(fileValue(globals['cli-input-json'])) as Record<string, unknown>;
    // Options given on the command line win over --cli-input-json, as in the AWS CLI.
    for (const [k, v] of Object.entries(fromJson)) {
      if (k in input) continue;
      input[k] = v;
      fromCliInputJson.push(k);
    }
  }
  return { command, input, globals, fromCliInputJson };
}

/** The input members of an operation, from the SDK's schema (`<Operation>Request$`); undefined if it has none to read. */
function inputMembers(operation: string): string[] | undefined {
  const schema = (sdk as unknown as Record<string, unknown>)[`${operation}Request$`];
  const members = Array.isArray(schema) ? schema[4] : undefined;
  return Array.isArray(members) && members.every((m) => typeof m === 'string') ? (members as string[]) : undefined;
}

const kebab = (member: string) => member.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A timestamp as the AWS CLI v2 prints it: Python's isoformat() in the local time zone. */
export function cliTimestamp(date: Date): string {
  const offsetMinutes = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const iso = local.toISOString().slice(0, 19);
  const micros = date.getTime() % 1000 === 0 ? '' : `.${String(((date.getTime() % 1000) + 1000) % 1000).padStart(3, '0')}000`;
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMinutes);
  return `${iso}${micros}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function cliValue(value: unknown): unknown {
  if (value instanceof Date) return cliTimestamp(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(cliValue);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '$metadata' && v !== undefined) out[k] = cliValue(v);
    return out;
  }
  return value;
}

/** Prints a value (already in the CLI's form, see cliValue) as the AWS CLI's json output does (nothing for an empty answer). */
function formatCliJson(value: unknown): string {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return '';
  return `${JSON.stringify(value, null, 4)}\n`;
}

/** Runs `berth ecr ...`; resolves with the exit code. */
export async function runEcrCommand(argv: string[], io: EcrCliIo): Promise<number> {
  const env = io.env ?? process.env;
  let parsed: ParsedEcrCommand;
  try {
    parsed = parseEcrArgs(argv);
  } catch (err) {
    if (err instanceof UsageError || err instanceof SyntaxError) {
      io.stderr(`\n${err.message}\n`);
      return 252;
    }
    throw err;
  }
  const { command, input, globals, fromCliInputJson } = parsed;
  if (globals.output !== undefined && globals.output !== 'json' && globals.output !== 'text') {
    io.stderr(`\nberth ecr prints json and text (--output ${String(globals.output)} is not supported)\n`);
    return 252;
  }
  // Accepted by the parser as the CLI spells them, but not carried out: refused rather than ignored, since the
  // answer would differ from the CLI's (every page merged instead of one).
  const unsupported = ['max-items', 'page-size', 'starting-token'].filter((name) => globals[name] !== undefined);
  if (unsupported.length > 0) {
    io.stderr(`\nberth ecr does not take ${unsupported.map((n) => `--${n}`).join(', ')}: it always prints every page, merged (use --query to pick)\n`);
    return 252;
  }
  const query = typeof globals.query === 'string' ? globals.query : undefined;
  if (query !== undefined) {
    try {
      // Parsed before any request, as the CLI does; `compile` is in jmespath.js but not in its types.
      (jmespath as unknown as { compile(expression: string): unknown }).compile(query);
    } catch (err) {
      io.stderr(`\nBad value for --query ${query}: ${(err as Error).message}\n`);
      return 252;
    }
  }
  if (typeof globals.profile === 'string') env.AWS_PROFILE = globals.profile;
  const region = (typeof globals.region === 'string' ? globals.region : undefined) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpointUrl = typeof globals['endpoint-url'] === 'string' ? globals['endpoint-url'] : undefined;
  if (!region && command !== 'get-login-password') {
    io.stderr('\nYou must specify a region. You can also configure your region by running "aws configure".\n');
    return 253;
  }
  const executeApi = globals['execute-api'] === true;
  if (executeApi && !endpointUrl) {
    io.stderr('\n--execute-api needs --endpoint-url (the stack\'s API URL)\n');
    return 252;
  }

  if (command === 'get-login-password') {
    try {
      if (!endpointUrl) {
        io.stderr('\n--endpoint-url is required: the URL of the Berth registry (the deployed API, or http://127.0.0.1:5000 locally)\n');
        return 252;
      }
      // As `berth ecr get-login-password` always did: us-east-1 when nothing names a region.
      io.stdout(`${await getLoginPassword({ endpointUrl, region: region ?? 'us-east-1', executeApi })}\n`);
      return 0;
    } catch (err) {
      return reportError(err, 'GetAuthorizationToken', io);
    }
  }
  const spec = COMMANDS[command];
  if (!spec) {
    io.stderr(`\naws: error: argument operation: Invalid choice, valid choices are:\n\n${[...Object.keys(COMMANDS), 'get-login-password'].sort().join(' | ')}\n`);
    return 252;
  }
  const SdkCommand = (sdk as unknown as Record<string, unknown>)[`${spec.operation}Command`] as (new (input: unknown) => unknown) | undefined;
  if (!SdkCommand) {
    io.stderr(`\nthe installed @aws-sdk/client-ecr has no ${spec.operation}\n`);
    return 252;
  }
  // An option the operation does not take is refused, as the AWS CLI does (the SDK would drop it silently).
  const members = inputMembers(spec.operation);
  if (members) {
    const unknown = Object.keys(input).filter((k) => !members.includes(k));
    const fromOptions = unknown.filter((k) => !fromCliInputJson.includes(k));
    if (fromOptions.length > 0) {
      io.stderr(`\nUnknown options: ${fromOptions.map((k) => `--${kebab(k)}`).join(', ')}\n`);
      return 252;
    }
    if (unknown.length > 0) {
      io.stderr(`\nParameter validation failed:\n${unknown.map((k) => `Unknown parameter in input: "${k}", must be one of: ${members.join(', ')}`).join('\n')}\n`);
      return 252;
    }
  }
  const commandOf = (commandInput: Record<string, unknown>) => {
    const built = new SdkCommand(commandInput) as CommandWithMiddleware;
    carryDeleteReplication(built, spec.operation, commandInput);
    return built;
  };
  const client = endpointUrl ? ecrClient({ endpointUrl, region: region!, executeApi }) : new sdk.ECRClient({ region: region! });
  try {
    const paginate = spec.paginate !== undefined && globals['no-paginate'] !== true && input.nextToken === undefined;
    let output = (await client.send(commandOf(input) as never)) as unknown as Record<string, unknown>;
    if (paginate) {
      const path = spec.paginate!.split('.');
      const items = [...(pageItems(output, path) ?? [])];
      while (typeof output.nextToken === 'string') {
        output = (await client.send(commandOf({ ...input, nextToken: output.nextToken }) as never)) as unknown as Record<string, unknown>;
        items.push(...(pageItems(output, path) ?? []));
      }
      output = withPageItems(output, path, items);
      delete output.nextToken;
    }
    const whole = cliValue(output);
    const answer = query === undefined ? whole : jmespath.search(whole, query);
    io.stdout(globals.output === 'text' ? formatCliText(answer) : formatCliJson(answer));
    return 0;
  } catch (err) {
    return reportError(err, spec.operation, io);
  } finally {
    client.destroy();
  }
}

/** The items of one page at `path` (undefined when the page has none: DescribeImageScanFindings in progress has no imageScanFindings). */
function pageItems(output: Record<string, unknown>, path: string[]): unknown[] | undefined {
  let value: unknown = output;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return Array.isArray(value) ? value : undefined;
}

/** The answer with every page's items at `path`; a nested list is set only where its parent exists (no imageScanFindings is made up). */
function withPageItems(output: Record<string, unknown>, path: string[], items: unknown[]): Record<string, unknown> {
  const [key, ...rest] = path;
  if (rest.length === 0) return { ...output, [key]: items };
  const parent = output[key];
  if (typeof parent !== 'object' || parent === null) return output;
  return { ...output, [key]: withPageItems(parent as Record<string, unknown>, rest, items) };
}

function reportError(err: unknown, operation: string, io: EcrCliIo): number {
  const e = err as { name?: string; message?: string; $metadata?: unknown };
  if (e && e.$metadata !== undefined) {
    io.stderr(`\nAn error occurred (${e.name}) when calling the ${operation} operation: ${e.message ?? ''}\n`);
    return 254;
  }
  io.stderr(`\n${e?.message ?? String(err)}\n`);
  return 255;
}
