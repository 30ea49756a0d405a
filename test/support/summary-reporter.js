/**
 * Writes the run's totals to .test-work/summary.txt as "N passed, N failed, N skipped",
 * the line CI ends with. A suite that failed to load counts as a failure.
 */
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped`;
    const dir = join(this.rootDir, '.test-work');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'summary.txt'), line + '\n');
  }
}

module.exports = SummaryReporter;
