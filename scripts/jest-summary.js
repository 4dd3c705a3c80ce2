// Prints the plain summary line `N passed, N failed` from jest's JSON report (jest does not print it).
// A missing or unreadable report counts as one failure, so that a crash never reads as success.
const fs = require('node:fs');
const file = process.argv[2];
try {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  // a suite that failed to run (syntax error, crash) has no test results: count it as a failure
  const brokenSuites = (report.testResults || []).filter(
    (suite) => suite.status === 'failed' && (suite.assertionResults || []).length === 0,
  ).length;
  const failed = report.numFailedTests + brokenSuites;
  console.log(`${report.numPassedTests} passed, ${failed} failed`);
  process.exitCode = failed > 0 || !report.success ? 1 : 0;
} catch (error) {
  console.error(`no jest report at ${file}: ${error.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
}
