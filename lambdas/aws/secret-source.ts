/**
 * Where the handlers get their secrets: a small port, so that the Lambda functions read
 * Secrets Manager and the emulated AWS mode (which cannot run Secrets Manager) reads values
 * it was given (emulators/local-secret-source.ts). Neither implementation ever logs a value.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { BasicCredentials } from '../http/auth';

export interface SecretSource {
  /** The current string value of the secret `id` (an ARN on AWS). */
  getSecret(id: string): Promise<string>;
}

/**
 * Secrets Manager, with a short in-memory cache per secret: a warm container does not pay a
 * call per request, and a rotated secret is picked up within `ttlMs`.
 */
export class SecretsManagerSecretSource implements SecretSource {
  private readonly cache = new Map<string, { value: string; fetchedAt: number } | { pending: Promise<string> }>();

  constructor(
    private readonly client: SecretsManagerClient,
    /** How long a value is reused before it is fetched again. @default 60 s */
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async getSecret(id: string): Promise<string> {
    const entry = this.cache.get(id);
    if (entry && 'pending' in entry) return entry.pending;
    if (entry && this.now() - entry.fetchedAt < this.ttlMs) return entry.value;
    const pending = this.fetch(id).then(
      (value) => {
        this.cache.set(id, { value, fetchedAt: this.now() });
        return value;
      },
      (err) => {
        // Keep serving the last value we had if a refresh fails; otherwise fail.
        if (entry && !('pending' in entry)) {
          this.cache.set(id, entry);
          return entry.value;
        }
        this.cache.delete(id);
        throw err;
      },
    );
    this.cache.set(id, { pending });
    return pending;
  }

  private async fetch(id: string): Promise<string> {
    const result = await this.client.send(new GetSecretValueCommand({ SecretId: id }));
    if (result.SecretString !== undefined) return result.SecretString;
    if (result.SecretBinary !== undefined) return Buffer.from(result.SecretBinary).toString('utf8');
    throw new Error(`secret ${id} has no value`);
  }
}

let containerSource: SecretSource | undefined;

/** The Secrets Manager source of this container (one client, one cache), created on first use. */
export function containerSecretSource(client?: SecretsManagerClient): SecretSource {
  containerSource ??= new SecretsManagerSecretSource(client ?? new SecretsManagerClient({}), 60_000);
  return containerSource;
}

/** Basic credentials from the credentials secret (`{"username": ..., "password": ...}`). */
export async function loadBasicCredentials(secrets: SecretSource, secretId: string): Promise<BasicCredentials> {
  let parsed: Partial<BasicCredentials>;
  try {
    parsed = JSON.parse(await secrets.getSecret(secretId)) as Partial<BasicCredentials>;
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error('the credentials secret is not JSON', { cause: err });
    throw err;
  }
  if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string' || parsed.password === '') {
    throw new Error('the credentials secret must hold {"username": string, "password": non-empty string}');
  }
  return { username: parsed.username, password: parsed.password };
}
