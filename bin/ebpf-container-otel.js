#!/usr/bin/env node
'use strict';
// Runs the compiled CLI; `npm run build` (run by scripts/setup.sh) produces dist/.
require('../dist/src/cli/index.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`ebpf-container-otel: ${err && err.message ? err.message : err}`);
      process.exitCode = 1;
    },
  );
