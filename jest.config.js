/**
 * Four suites; `npm test` runs them all, `npx jest --selectProjects unit` runs one.
 * Each suite has its own time budget per test (test/support/time-budget.js).
 */
// @middy/core 6 is ESM-only: jest (CommonJS) gets it rewritten by esbuild (test/support/esm-to-cjs.js).
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }], '/node_modules/@middy/.+\\.js$': '<rootDir>/test/support/esm-to-cjs.js' };
const project = (name) => ({
  displayName: name,
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  setupFilesAfterEnv: ['<rootDir>/test/support/time-budget.js'],
});

module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: ['unit', 'contract', 'cdk', 'e2e'].map(project),
};
