import type { SecretSource } from '../aws/secret-source';

/**
 * The stand-in for Secrets Manager in the emulated AWS mode and in tests: values handed over
 * in memory (from `--basic-auth`, or generated at start-up). Not for deployments.
 */
export class LocalSecretSource implements SecretSource {
  private readonly values: Map<string, string>;

  constructor(values: Record<string, string>) {
    this.values = new Map(Object.entries(values));
  }

  async getSecret(id: string): Promise<string> {
    const value = this.values.get(id);
    if (value === undefined) throw new Error(`no local secret named ${id}`);
    return value;
  }

  /** Replaces a value (a rotation, in tests). */
  set(id: string, value: string): void {
    this.values.set(id, value);
  }
}
