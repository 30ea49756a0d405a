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
    expect(Object.keys(sizes)).toHaveLength(2);
    for (const size of Object.values(sizes)) expect(size).toBeLessThan(ONE_MB);
  });
});
