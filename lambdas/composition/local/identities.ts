/**
 * Local mode's identities: access keys from a configuration file (`berth serve --config FILE`) and,
 * for a quick start, one admin key from the environment (BERTH_ACCESS_KEY_ID and
 * BERTH_SECRET_ACCESS_KEY). The format is documented in docs/local-identities.md.
 *
 * Secret access keys are kept in the clear, in memory and in the file: SigV4 is an HMAC keyed with
 * (a key derived from) the secret itself, so the server must hold the secret to check a signature; a
 * hash would not do. Protect the file as you would ~/.aws/credentials.
 */
import { loadOrCreateKeyFile } from './key-file';
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ed25519TokenSigner } from '../../core/registry-tokens';
import { BlobDownloadTokens } from '../../core/download-tokens';
import type { NamedPolicy, Principal } from '../../core/policy/evaluate';
import { StaticIdentityPolicies, type IdentityPolicySource } from '../../core/identity-policies';
import { PolicyValidationError, validatePolicy } from '../../core/policy/policy-document';
import type { SigV4Secret } from '../../http/sigv4';
import { parseReplicationDestinations, ReplicationDestinationsError, type LocalReplicationDestination } from '../../contracts/replication';

/** The account of the registry and of the environment admin when the configuration names none (LocalStack's choice too). */
export const DEFAULT_ACCOUNT = '000000000000';
export const DEFAULT_REGIONS = ['us-east-1'] as const;
/** The environment admin's identity policy: every ECR action on every resource. */
export const ADMIN_POLICY = { Version: '2012-10-17', Statement: [{ Sid: 'BerthAdmin', Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] };
export const ENV_ADMIN_NAME = 'berth-admin';

export interface LocalIdentity {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  principal: Principal;
  identityPolicies: NamedPolicy[];
}

export interface LocalIdentities {
  /** The account that owns the registry. */
  account: string;
  /** The regions SigV4 credential scopes may name; the first is the one in repository ARNs. */
  regions: string[];
  identities: LocalIdentity[];
  /** Where replication rules may send images, and the keys to sign with there (`replicationDestinations`, docs/replication.md). */
  replicationDestinations: LocalReplicationDestination[];
  /** The identities' policies, for the policy engine. */
  policies: IdentityPolicySource;
  /** For verifySigV4: the identity of an access key, or null. */
  lookupSecret(accessKeyId: string, sessionToken?: string): Promise<SigV4Secret<LocalIdentity> | null>;
}

export class IdentityConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityConfigError';
  }
}

const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const IAM_ARN = /^arn:(?:aws|aws-cn|aws-us-gov):(?:iam::(\d{12}):(?:root|user\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]+|role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]+)|sts::(\d{12}):assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/;

/** The configuration file's JSON (see docs/local-identities.md). */
export interface IdentityConfigFile {
  registry?: { account?: string; regions?: string[] };
  /** Signs webhook bodies (docs/events.md); read by the events' settings, not here. */
  webhookSecret?: string;
  /** The `source` of image events (docs/events.md); read by the events' settings, not here. */
  eventSource?: string;
  /** The destinations replication rules may name (contracts/replication.ts), checked here against the registry's own account and regions. */
  replicationDestinations?: unknown;
  identities?: Array<{
    name?: string;
    accessKeyId: string;
    secretAccessKey: string;
    arn: string;
    account?: string;
    policy?: unknown;
  }>;
}

export function readIdentityConfig(path: string): IdentityConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new IdentityConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as IdentityConfigFile;
  } catch (err) {
    throw new IdentityConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The identities of a configuration (possibly none) plus the environment admin (when both variables
 * are set). Everything is checked up front: a mistake stops the server with a message naming it.
 */
export function loadIdentities(config: IdentityConfigFile | undefined, env: NodeJS.ProcessEnv = process.env): LocalIdentities {
  const where = (i: number, field: string) => `identities[${i}].${field}`;
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) throw new IdentityConfigError('the configuration must be a JSON object');
  const known = ['registry', 'identities', 'webhookSecret', 'eventSource', 'replicationDestinations'];
  for (const key of Object.keys(config ?? {})) if (!known.includes(key)) throw new IdentityConfigError(`unknown configuration key "${key}"; expected ${known.join(', ')}`);
  const account = config?.registry?.account ?? DEFAULT_ACCOUNT;
  if (typeof account !== 'string' || !ACCOUNT_ID.test(account)) throw new IdentityConfigError(`registry.account must be a 12-digit account id, got ${JSON.stringify(account)}`);
  const regions = config?.registry?.regions ?? [...DEFAULT_REGIONS];
  if (!Array.isArray(regions) || regions.length === 0 || regions.some((r) => typeof r !== 'string' || !REGION.test(r))) {
    throw new IdentityConfigError(`registry.regions must be a non-empty list of region names such as "us-east-1", got ${JSON.stringify(regions)}`);
  }

  const replicationDestinations = destinationsOf(config?.replicationDestinations, account, regions);

  const identities: LocalIdentity[] = [];
  const entries = config?.identities ?? [];
  if (!Array.isArray(entries)) throw new IdentityConfigError('identities must be a list');
  entries.forEach((entry, i) => {
    if (typeof entry !== 'object' || entry === null) throw new IdentityConfigError(`identities[${i}] must be an object`);
    for (const key of Object.keys(entry)) {
      if (!['name', 'accessKeyId', 'secretAccessKey', 'arn', 'account', 'policy'].includes(key)) throw new IdentityConfigError(`${where(i, key)}: unknown field`);
    }
    if (typeof entry.accessKeyId !== 'string' || !ACCESS_KEY_ID.test(entry.accessKeyId)) {
      throw new IdentityConfigError(`${where(i, 'accessKeyId')} must be 16 to 128 upper-case letters and digits (like AKIAIOSFODNN7EXAMPLE)`);
    }
    if (typeof entry.secretAccessKey !== 'string' || entry.secretAccessKey.length < 16) throw new IdentityConfigError(`${where(i, 'secretAccessKey')} must be a string of at least 16 characters`);
    const match = typeof entry.arn === 'string' ? IAM_ARN.exec(entry.arn) : null;
    if (!match) throw new IdentityConfigError(`${where(i, 'arn')} must be an IAM user, role or root ARN (arn:aws:iam::<account>:user/<name>), got ${JSON.stringify(entry.arn)}`);
    const arnAccount = match[1] ?? match[2];
    if (entry.account !== undefined && entry.account !== arnAccount) throw new IdentityConfigError(`${where(i, 'account')} is ${JSON.stringify(entry.account)} but the ARN names ${arnAccount}`);
    const name = entry.name ?? entry.arn.split(/[/:]/).pop()!;
    identities.push({
      name,
      accessKeyId: entry.accessKeyId,
      secretAccessKey: entry.secretAccessKey,
      principal: { arn: entry.arn, account: arnAccount },
      identityPolicies: entry.policy === undefined ? [] : [{ name: `identity:${name}`, document: identityPolicy(entry.policy, where(i, 'policy')) }],
    });
  });

  const envKey = env.BERTH_ACCESS_KEY_ID;
  const envSecret = env.BERTH_SECRET_ACCESS_KEY;
  if (Boolean(envKey) !== Boolean(envSecret)) throw new IdentityConfigError('BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY go together');
  if (envKey && envSecret) {
    if (!ACCESS_KEY_ID.test(envKey)) throw new IdentityConfigError('BERTH_ACCESS_KEY_ID must be 16 to 128 upper-case letters and digits');
    if (envSecret.length < 16) throw new IdentityConfigError('BERTH_SECRET_ACCESS_KEY must have at least 16 characters');
    identities.push({
      name: ENV_ADMIN_NAME,
      accessKeyId: envKey,
      secretAccessKey: envSecret,
      principal: { arn: `arn:aws:iam::${account}:user/${ENV_ADMIN_NAME}`, account },
      identityPolicies: [{ name: `identity:${ENV_ADMIN_NAME}`, document: validatePolicy(ADMIN_POLICY, 'identity') }],
    });
  }

  const byKey = new Map<string, LocalIdentity>();
  for (const identity of identities) {
    if (byKey.has(identity.accessKeyId)) throw new IdentityConfigError(`access key ${identity.accessKeyId} is configured twice`);
    byKey.set(identity.accessKeyId, identity);
  }

  return {
    account,
    regions,
    identities,
    replicationDestinations,
    policies: new StaticIdentityPolicies(
      identities.map((identity) => ({ arn: identity.principal.arn, policies: identity.identityPolicies })),
      account,
    ),
    async lookupSecret(accessKeyId, sessionToken) {
      // Local keys are long-term keys: a request with a session token does not belong to any of them.
      if (sessionToken !== undefined) return null;
      const identity = byKey.get(accessKeyId);
      return identity ? { secretAccessKey: identity.secretAccessKey, principal: identity } : null;
    },
  };
}

function destinationsOf(value: unknown, account: string, regions: string[]): LocalReplicationDestination[] {
  if (value === undefined) return [];
  try {
    return parseReplicationDestinations(value, { where: 'replicationDestinations', credentials: true, self: { registryId: account, regions } });
  } catch (err) {
    if (err instanceof ReplicationDestinationsError) throw new IdentityConfigError(err.message);
    throw err;
  }
}

function identityPolicy(json: unknown, where: string) {
  try {
    return validatePolicy(json, 'identity');
  } catch (err) {
    if (err instanceof PolicyValidationError) throw new IdentityConfigError(`${where}: ${err.message}`);
    throw err;
  }
}

// ---- the token signing key -------------------------------------------------------------------

export const TOKEN_KEY_FILE = join('keys', 'token-signing.pem');

/**
 * The Ed25519 key that signs login and access tokens, kept at `<data-dir>/keys/token-signing.pem`
 * (created on first start, mode 0600, in a 0700 directory): tokens survive a restart, and a new
 * data directory means new keys. Its id is derived from the public key.
 */
export function loadOrCreateTokenSigner(dataDir: string): Ed25519TokenSigner {
  const pem = loadOrCreateKeyFile(join(dataDir, TOKEN_KEY_FILE), () => Ed25519TokenSigner.generatePem());
  const publicDer = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  return new Ed25519TokenSigner(pem, createHash('sha256').update(publicDer).digest('base64url').slice(0, 16));
}

export const DOWNLOAD_KEY_FILE = join('keys', 'download-url.key');

/**
 * The HMAC key of GetDownloadUrlForLayer's signed URLs, kept beside the token key so that a URL
 * handed out before a restart still works for the rest of its few minutes.
 */
export function loadOrCreateDownloadTokens(dataDir: string): BlobDownloadTokens {
  const key = loadOrCreateKeyFile(join(dataDir, DOWNLOAD_KEY_FILE), () => randomBytes(32).toString('base64url'));
  return new BlobDownloadTokens(Buffer.from(key.trim(), 'utf8'));
}
