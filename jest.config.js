/**
 * Four suites; `npm test` runs them all, `npx jest --selectProjects unit` runs one.
 * Each suite has its own time budget per test (test/support/time-budget.js).
 */
const transform = { '^.+\\.ts$': 'ts-jest' };
const project = (name) => ({
  displayName: name,
  testEnvironment: 'node',
  transform,
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  setupFilesAfterEnv: ['<rootDir>/test/support/time-budget.js'],
});

module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: ['unit', 'contract', 'cdk', 'e2e'].map(project),
};
