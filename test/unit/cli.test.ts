import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentProcess } from '../harness/agent';
import { CLI as BIN, NODE, REPO_ROOT as ROOT } from '../harness/paths';
import { waitFor } from '../harness/procs';

function cli(...args: string[]) {
  // The timeout only guards against a CLI that starts running instead of refusing its arguments.
  return spawnSync(NODE, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 30_000 });
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

  it('validate reports component-specific errors with the schema errors, in one pass, under the file name', () => {
    const file = 'test/testdata/bad-component-and-schema.yaml';
    const r = cli('validate', '--config', file);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`invalid config ${file}:`);
    expect(r.stderr).toContain('  - exporters.file.max_queue_bytes: "lots" is not a size');
    expect(r.stderr).toContain('  - receivers.ebpf.ring_buffer_size: "3MiB" must be a power of two between 4KiB and 1GiB (e.g. 32MiB)');
    expect(r.stderr).toContain('  - exporters.otlp/collector.retry_on_failure.max_interval: "1s" must be at least initial_interval');
  });

  it('validate names the file for component-specific errors alone too', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-validate-'));
    const file = path.join(dir, 'agent.yaml');
    writeFileSync(
      file,
      'receivers: { ebpf: { ring_buffer_size: 3MiB } }\nexporters: { file: {} }\nservice: { pipelines: { logs: { receivers: [ebpf], exporters: [file] } } }\n',
    );
    const r = cli('validate', '--config', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `invalid config ${file}:\n  - receivers.ebpf.ring_buffer_size: "3MiB" must be a power of two between 4KiB and 1GiB (e.g. 32MiB)\n`,
    );
  });

  it('validate names a missing file', () => {
    const r = cli('validate', '--config', 'nope.yaml');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read nope.yaml: no such file');
  });

  it.each([
    [['run', '--confg=x.yaml'], '--confg', 'run [--config FILE]'],
    [['run', '--confg', 'x.yaml'], '--confg', 'run [--config FILE]'],
    [['validate', '--config', 'test/testdata/valid-minimal.yaml', '--jsn'], '--jsn', 'validate --config FILE'],
    [['doctor', '--config', 'x.yaml'], '--config', 'doctor [--json]'],
    [['containers', '--confg', 'x.yaml'], '--confg', 'containers [--json] [--config FILE]'],
    [['validate', '-c', 'x.yaml'], '-c', 'validate --config FILE'],
  ])("%j: an option the command does not take exits 64 naming it and the command's usage", (args, flag, usage) => {
    const r = cli(...args);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(64);
    expect(r.stderr).toBe(`${args[0]}: unknown option ${flag}\nUsage: ebpf-container-otel ${usage}\n`);
  });

  it('rejects a value given to a switch, a missing FILE and stray arguments', () => {
    expect(cli('doctor', '--json=yes')).toMatchObject({
      status: 64,
      stderr: 'doctor: --json takes no value\nUsage: ebpf-container-otel doctor [--json]\n',
    });
    expect(cli('validate', '--config')).toMatchObject({ status: 64, stderr: expect.stringContaining('validate: --config needs a FILE') });
    expect(cli('containers', '--config', '--json')).toMatchObject({
      status: 64,
      stderr: expect.stringContaining('containers: --config needs a FILE'),
    });
    expect(cli('run', 'extra.yaml')).toMatchObject({
      status: 64,
      stderr: expect.stringContaining('run: unexpected argument "extra.yaml"'),
    });
  });

  it('prints help and version, and rejects unknown commands', () => {
    expect(cli('--help').stdout).toContain('Usage: ebpf-container-otel');
    expect(cli('--version').stdout).toMatch(/^ebpf-container-otel \d+\.\d+\.\d+\n$/);
    const r = cli('frobnicate');
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    // Names an object has by inheritance are no commands or options either.
    expect(cli('toString')).toMatchObject({ status: 64, stderr: expect.stringContaining('unknown command "toString"') });
    expect(cli('validate', '--constructor', 'x')).toMatchObject({
      status: 64,
      stderr: expect.stringContaining('validate: unknown option --constructor'),
    });
  });
});

describe('CLI run', () => {
  let agent: AgentProcess | undefined;
  afterAll(async () => {
    await agent?.destroy();
  });

  it('runs a pipeline, writes OTLP-JSON to stdout and stops cleanly on SIGINT', async () => {
    agent = await AgentProcess.start(`
receivers:
  synthetic: { rate: 2000, batch_size: 100 }
exporters:
  file: { path: "-" }
service:
  shutdown_timeout: 5s
  pipelines:
    logs: { receivers: [synthetic], exporters: [file] }
`);
    const lines: string[] = [];
    await waitFor(
      'a first OTLP-JSON line on stdout',
      () => {
        lines.push(...agent!.newStdoutLines());
        return lines.length > 0;
      },
      10_000,
    );
    // No eBPF receiver: the BPF addon and libbpf stay unloaded (the OTLP-JSON mapping needs neither).
    const mapped = readFileSync(`/proc/${agent.pid}/maps`, 'utf8');
    expect(mapped).not.toMatch(/ebpf_otel\.node|libbpf/);
    expect(await agent.stop('SIGINT')).toBe(0);
    lines.push(...agent.newStdoutLines());
    const log = agent.log();
    expect(log).toContain('SIGINT: shutting down');
    expect(log).toContain('stopped');
    // Every line is a whole OTLP-JSON request: nothing cut off by the shutdown.
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('resourceLogs');
    const stages = agent.finalTelemetry()!;
    const receiver = stages.find((s) => s.component === 'receivers.synthetic')!;
    const exporter = stages.find((s) => s.component === 'exporters.file')!;
    expect(receiver.sent).toBeGreaterThan(0);
    expect(exporter.sent).toBe(receiver.sent);
  });

  it('a signal during a slow start is not lost: the agent shuts down gracefully once start settles', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-run-slow-'));
    // A Docker socket that accepts and never answers: the enrichment processor's start waits for its list.
    const socket = path.join(dir, 'docker.sock');
    const held: Socket[] = [];
    const silent: Server = createServer((conn) => void held.push(conn));
    await new Promise<void>((resolve) => silent.listen(socket, resolve));
    const config = path.join(dir, 'agent.yaml');
    writeFileSync(
      config,
      `
receivers:
  synthetic: { rate: 100, batch_size: 10 }
processors:
  container_enrichment:
    runtimes:
      docker: { socket: ${socket} }
      containerd: { enabled: false }
      cri: { enabled: false }
      podman: { enabled: false }
      lxc: { enabled: false }
    pinned_map: { write: false, read_path: ${path.join(dir, 'no-map')} }
exporters:
  file: { path: "-" }
service:
  shutdown_timeout: 5s
  pipelines:
    logs: { receivers: [synthetic], processors: [container_enrichment], exporters: [file] }
`,
    );
    const child = spawn(NODE, [BIN, 'run', '--config', config], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      for (let waited = 0; !stderr.includes('starting with') && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      // The processor's start waits up to 5 s for a runtime's first list: signal while it waits.
      await waitFor('the agent to ask the silent docker socket', () => held.length > 0, 4_000, 20);
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.on('exit', (c, s) => resolve([c, s])),
      );
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stderr).toContain('SIGTERM during start: shutting down once start has finished');
      expect(stderr).toContain('SIGTERM: shutting down');
      expect(stderr).toContain('stopped');
      expect(stderr).not.toContain('running; Ctrl-C to stop');
      // It waited for the start rather than dying or hanging.
      expect(Date.now() - signalledAt).toBeLessThan(15_000);
    } finally {
      child.kill('SIGKILL');
      for (const conn of held) conn.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
