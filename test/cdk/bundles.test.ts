import * as fs from 'node:fs';
import * as path from 'node:path';
import { synthesizeOnce } from './fixture';

const ONE_MB = 1024 * 1024;

describe('Lambda bundles', () => {
  test('GIVEN the stack bundled with local esbuild WHEN each NodejsFunction asset is measured THEN it is under 1 MB', () => {
    const started = Date.now();
    const { app, template } = synthesizeOnce({ ingest: false }, { bundle: true });
    const assembly = app.synth();
    const functions = template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } });
    const sizes: Record<string, number> = {};
    for (const [id, fn] of Object.entries(functions)) {
      const key = String(fn.Properties.Code.S3Key);
      const dir = path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
      const files = fs.readdirSync(dir);
      expect(files).toContain('index.js');
      sizes[id] = files.reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
    }
    console.log(`bundled and synthesized in ${Date.now() - started} ms; bundle bytes: ${JSON.stringify(sizes)}`);
    // The registry handler, the authorizer, the event publisher, the garbage collector and the lifecycle runner.
    expect(Object.keys(sizes)).toHaveLength(5);
    for (const size of Object.values(sizes)) expect(size).toBeLessThan(ONE_MB);
  });
});

/**
 * What may never ship in a production bundle: the emulators and stand-ins (they answer for AWS
 * without being AWS), the ECR client (the `berth ecr` command line's), the other commands.
 */
const FORBIDDEN_IN_PRODUCTION = [/^lambdas\/emulators\//, /^lambdas\/cli\/(?!ingest\.ts|options\.ts|help\.ts)/, /node_modules\/@aws-sdk\/client-ecr\//, /node_modules\/fauxqs\//];

async function bundleInputs(entry: string): Promise<string[]> {
  const esbuild = await import('esbuild');
  // The same bundle the Dockerfile builds (lmdb stays external there too).
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, '..', '..', entry)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['lmdb'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('production bundles hold no emulator, stand-in or ECR client', () => {
  test.each(['bin/berth-ingest.ts', 'lambdas/handlers/registry-api.ts', 'lambdas/handlers/authorizer.ts', 'lambdas/handlers/event-publisher.ts', 'lambdas/handlers/garbage-collector.ts', 'lambdas/handlers/lifecycle-runner.ts', 'lambdas/handlers/replicator.ts'])(
    'GIVEN %s bundled as it ships WHEN its metafile inputs are read THEN none is forbidden',
    async (entry) => {
      const inputs = await bundleInputs(entry);
      expect(inputs.length).toBeGreaterThan(20);
      expect(inputs.filter((input) => FORBIDDEN_IN_PRODUCTION.some((rule) => rule.test(input)))).toEqual([]);
    },
  );

  test('GIVEN the event publisher bundled WHEN its inputs are read THEN it loads no SDK client but DynamoDB’s and EventBridge’s (a cold start loads nothing else)', async () => {
    const inputs = await bundleInputs('lambdas/handlers/event-publisher.ts');
    const clients = new Set(inputs.flatMap((input) => /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(input)?.[1] ?? []));
    expect([...clients].sort()).toEqual(['client-dynamodb', 'client-eventbridge']);
  });

  test('GIVEN the garbage collector bundled WHEN its inputs are read THEN it loads no SDK client but DynamoDB’s and S3’s', async () => {
    const inputs = await bundleInputs('lambdas/handlers/garbage-collector.ts');
    const clients = new Set(inputs.flatMap((input) => /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(input)?.[1] ?? []));
    expect([...clients].sort()).toEqual(['client-dynamodb', 'client-s3']);
  });

  test('GIVEN the lifecycle runner bundled WHEN its inputs are read THEN it loads no SDK client but DynamoDB’s and Lambda’s (no S3: a lifecycle run changes records only)', async () => {
    const inputs = await bundleInputs('lambdas/handlers/lifecycle-runner.ts');
    const clients = new Set(inputs.flatMap((input) => /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(input)?.[1] ?? []));
    expect([...clients].sort()).toEqual(['client-dynamodb', 'client-lambda']);
  });

  test('GIVEN the whole command line (bin/berth.ts with --emulate-aws) WHEN bundled THEN the check sees the emulators (it is not vacuous)', async () => {
    const inputs = await bundleInputs('bin/berth.ts');
    expect(inputs.some((input) => /^lambdas\/emulators\//.test(input))).toBe(true);
    expect(inputs.some((input) => /@aws-sdk\/client-ecr\//.test(input))).toBe(true);
  });
});
