import { spawnSync } from 'node:child_process';

/*
 * Loads a TypeScript file in a fresh node, each module transpiled as it is required (one file at a
 * time, as ts-jest's isolatedModules does): the process holds what that file's imports load and
 * nothing that jest or dist/ would add.
 */
const LOADER = `
const ts = require('typescript');
const { readFileSync } = require('node:fs');
const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2023, esModuleInterop: true };
require.extensions['.ts'] = (m, file) =>
  m._compile(ts.transpileModule(readFileSync(file, 'utf8'), { fileName: file, compilerOptions }).outputText, file);
require(process.argv[1]);
`;

/** Runs `file` (its top level) with `args` in process.argv[2..]; its exit status and output. */
export function runTsChild(file: string, args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', LOADER, file, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
