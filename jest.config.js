// ESM + TypeScript through @swc/jest; the whole stack loads under it.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/subgraphs/**/*.test.ts', '<rootDir>/gateway/**/*.test.ts'],
  // A throwaway SoftHSM2 token for the HSM tests (when SoftHSM2 is installed).
  globalSetup: '<rootDir>/test/support/hsm-setup.ts',
  globalTeardown: '<rootDir>/test/support/hsm-teardown.ts',
  testTimeout: 60000,
  maxWorkers: 2,
};
