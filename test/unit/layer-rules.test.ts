/**
 * The layer rules `npm run lint` checks (.dependency-cruiser.js) fail on a forbidden import: each
 * probe is a module written for a moment into the room it would break, cruised with the project's
 * configuration, and must be refused by the rule named; the real tree must pass.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/registry-harness';

function cruise(paths: string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'), ...paths, '--config', '.dependency-cruiser.js'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const PROBES: Array<[string, string, string]> = [
  ['lambdas/core/zz-layer-probe.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const probe = DynamoDBClient;\n", 'core-imports-no-aws-sdk'],
  ['lambdas/core/zz-layer-probe.ts', "import { S3BlobStore } from '../storage/s3/s3-blob-store';\nexport const probe = S3BlobStore;\n", 'core-imports-no-outer-room'],
  ['lambdas/http/zz-layer-probe.ts', "import { LmdbMetadataStore } from '../storage/local/lmdb-metadata-store';\nexport const probe = LmdbMetadataStore;\n", 'http-imports-no-adapter'],
  ['lambdas/core/zz-layer-probe.ts', "import { signWebhookBody } from '../events/webhook-sink';\nexport const probe = signWebhookBody;\n", 'core-imports-no-outer-room'],
  ['lambdas/events/zz-layer-probe.ts', "import { createRouter } from '../http/router';\nexport const probe = createRouter;\n", 'adapters-import-no-transport'],
  ['lambdas/handlers/zz-layer-probe.ts', "import { LocalKmsStandIn } from '../emulators/kms-stand-in';\nexport const probe = LocalKmsStandIn;\n", 'production-imports-no-emulator'],
  ['lib/zz-layer-probe.ts', "import { Registry } from '../lambdas/core/registry';\n/** A probe of the layer rules. */\nexport const probe = Registry;\n", 'lib-imports-only-contracts'],
  ['lambdas/core/zz-layer-probe.ts', "import { probe as other } from './zz-layer-probe-2';\nexport const probe = () => other;\n", 'no-cycles'],
];

test.each(PROBES)('GIVEN %s holding %j WHEN the layers are checked THEN %s refuses it', (path, source, rule) => {
  const extra = rule === 'no-cycles' ? 'lambdas/core/zz-layer-probe-2.ts' : undefined;
  try {
    writeFileSync(join(PROJECT_ROOT, path), source);
    if (extra) writeFileSync(join(PROJECT_ROOT, extra), "import { probe as back } from './zz-layer-probe';\nexport const probe = () => back;\n");
    const { status, output } = cruise([path]);
    expect(status).not.toBe(0);
    expect(output).toContain(rule);
  } finally {
    rmSync(join(PROJECT_ROOT, path), { force: true });
    if (extra) rmSync(join(PROJECT_ROOT, extra), { force: true });
  }
});

test('GIVEN the tree as it is WHEN the layers are checked THEN no rule is broken', () => {
  const { status, output } = cruise(['lambdas', 'lib', 'bin']);
  expect(output).toContain('no dependency violations found');
  expect(status).toBe(0);
});
