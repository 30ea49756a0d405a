/** A `--config` file for tests: the registry's account and region and one admin identity allowed every ecr: action. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AdminConfig {
  account: string;
  region: string;
  admin: { accessKeyId: string; secretAccessKey: string };
  /** Other top-level keys of the file (webhookSecret, eventSource). */
  extra?: Record<string, unknown>;
}

/** Writes `<dir>/identities.json` (mode 0600, as a file holding secrets should be) and answers its path. */
export function writeAdminConfig(dir: string, { account, region, admin, extra }: AdminConfig): string {
  const file = join(dir, 'identities.json');
  writeFileSync(
    file,
    JSON.stringify({
      registry: { account, regions: [region] },
      ...extra,
      identities: [{ name: 'admin', ...admin, arn: `arn:aws:iam::${account}:user/admin`, policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] } }],
    }),
    { mode: 0o600 },
  );
  return file;
}
