/**
 * A jest transform for ESM-only dependencies (@middy/core 6): jest runs the tests as CommonJS,
 * so their `import`/`export` are rewritten to `require`/`exports` with esbuild (a devDependency).
 */
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, { loader: 'js', format: 'cjs', target: 'node20', sourcemap: true, sourcefile: filename });
    return { code, map };
  },
};
