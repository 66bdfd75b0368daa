/**
 * Jest inside a kernel-matrix guest (test/vm/guest/suite.sh): the repo's config, plus the
 * guest-only tests (`*.vmtest.ts`, which `npm test` on the host does not pick up), with room for
 * a machine emulated by TCG.
 * @type {import('jest').Config}
 */
const base = require('../../jest.config.js');

module.exports = {
  ...base,
  rootDir: '../..',
  testMatch: ['**/*.test.ts', '**/*.vmtest.ts'],
  testTimeout: 300_000,
  verbose: true,
};
