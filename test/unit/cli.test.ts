import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const BIN = path.join(ROOT, 'bin/ebpf-container-otel.js');

function cli(...args: string[]) {
  return spawnSync(NODE, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
}

describe('CLI', () => {
  it('validate accepts a good file with "config OK"', () => {
    const r = cli('validate', '--config', 'test/testdata/valid-minimal.yaml');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('config OK\n');
    expect(r.status).toBe(0);
  });

  it.each([
    ['bad-type.yaml', 'receivers.ebpf.exec_args_max_bytes'],
    ['unknown-key.yaml', 'receivers.ebpf.filters.containers_onyl: unknown key'],
    ['bad-enum.yaml', 'exporters.otlp.compression: "zip" is not one of gzip, none'],
  ])('validate %s exits 2 naming the key path', (file, message) => {
    const r = cli('validate', '--config', `test/testdata/${file}`);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('validate names a missing file', () => {
    const r = cli('validate', '--config', 'nope.yaml');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read nope.yaml: no such file');
  });

  it('prints help and version, and rejects unknown commands', () => {
    expect(cli('--help').stdout).toContain('Usage: ebpf-container-otel');
    expect(cli('--version').stdout).toMatch(/^ebpf-container-otel \d+\.\d+\.\d+\n$/);
    const r = cli('frobnicate');
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});
