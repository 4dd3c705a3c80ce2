/** Jest runs the TypeScript tests through ts-jest (transpile only; `npm run build` type-checks). */
module.exports = {
  // Node's environment with a log buffer: in-process pipelines and spawned bins log there, shown only for failing tests
  testEnvironment: '<rootDir>/test/helpers/quietLogsEnvironment.js',
  setupFilesAfterEnv: ['<rootDir>/test/helpers/quietLogs.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 60000,
  maxWorkers: 2,
};
