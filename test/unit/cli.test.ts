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

describe('CLI run', () => {
  it('runs a pipeline, writes OTLP-JSON to stdout and stops cleanly on SIGINT', async () => {
    const { spawn } = await import('node:child_process');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-run-'));
    const config = path.join(dir, 'agent.yaml');
    writeFileSync(config, `
receivers:
  synthetic: { rate: 2000, batch_size: 100 }
exporters:
  file: { path: "-" }
service:
  shutdown_timeout: 5s
  pipelines:
    logs: { receivers: [synthetic], exporters: [file] }
`);
    const child = spawn(NODE, [BIN, 'run', '--config', config], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    for (let waited = 0; !stdout.includes('\n') && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(stderr).toContain('running; Ctrl-C to stop');
    expect(stderr).toContain('SIGINT: shutting down');
    expect(stderr).toContain('stopped');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    // Every line is a whole OTLP-JSON request: nothing cut off by the shutdown.
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('resourceLogs');
    const final = /final (\[.*\])/.exec(stderr);
    expect(final).not.toBeNull();
    const stages = JSON.parse(final![1]) as Array<{ component: string; received: number; sent: number }>;
    const receiver = stages.find((s) => s.component === 'receivers.synthetic')!;
    const exporter = stages.find((s) => s.component === 'exporters.file')!;
    expect(receiver.sent).toBeGreaterThan(0);
    expect(exporter.sent).toBe(receiver.sent);
  });
});
