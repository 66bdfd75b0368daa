/**
 * What `npm start` runs: `ebpf-container-otel run` with no --config, i.e. the embedded
 * config/default.yaml (exec/exit on the whole host, OTLP-JSON lines on stdout, Prometheus), as its
 * own process on real BPF; then Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentProcess, REPO_ROOT, waitFor } from '../harness';
import { flatRecords, plain, type FlatRecord, type JsonRequest } from '../exporters/fixtures';
import { mntns } from '../runtimes/helpers';
import { requires } from '../harness/requires';
import { AGENT_V8_FLAGS } from '../../src/cli/v8-flags';

requires('bpf', 'bpftool').describe('`npm start`: the agent with its embedded default config', () => {
  let agent: AgentProcess | undefined;

  afterAll(async () => {
    await agent?.destroy();
  }, 30_000);

  test("a host command's exec and exit (code 7) are OTLP-JSON lines on stdout; SIGINT stops it cleanly with exit code 0", async () => {
    agent = await AgentProcess.start(null, {
      // The metrics port the default config takes from the environment; 0: the kernel picks a free one.
      // Nothing else from the test's environment may change the defaults.
      env: { EBPF_OTEL_METRICS_ENDPOINT: '127.0.0.1:0', EBPF_OTEL_OUTPUT: undefined, NODE_NAME: undefined },
    });
    expect(agent.log()).toContain(
      `starting with ${path.join(REPO_ROOT, 'config', 'default.yaml')}: exporters.file, exporters.prometheus, processors.container_enrichment, receivers.ebpf`,
    );
    const port = await agent.metricsPort();
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    // `run` started node again with the agent's V8 flags, in the same process.
    const argv = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of AGENT_V8_FLAGS) expect(argv).toContain(flag);
    expect(agent.log()).not.toContain('not applied');

    // The whole host is traced: keep only this command's records, count all of them.
    const child = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
    const pid = child.pid!;
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(7);
    const mine: FlatRecord[] = [];
    let stdoutRecords = 0;
    const readStdout = () => {
      for (const line of agent!.newStdoutLines()) {
        // Every line must be one whole ExportLogsServiceRequest in the protobuf JSON mapping.
        const records = flatRecords(JSON.parse(line) as JsonRequest);
        stdoutRecords += records.length;
        mine.push(...records.filter((f) => f.attributes['process.pid'] === String(pid)));
      }
    };
    const find = (event: string) => mine.find((f) => f.record.eventName === event);
    await waitFor(
      'exec and exit of `sh -c "exit 7"` on stdout',
      () => {
        readStdout();
        return find('process.exec') && find('process.exit');
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; records of pid ${pid}: ${JSON.stringify(mine)}\nagent log:\n${agent!.log()}`);
    });

    const exec = find('process.exec')!;
    const exit = find('process.exit')!;
    // Host processes get the host resource; no NODE_NAME, so no k8s.node.name.
    const hostResource = { 'service.name': 'ebpf-container-otel', 'host.name': os.hostname() };
    expect(exec.resource).toEqual(hostResource);
    expect(exit.resource).toEqual(hostResource);
    expect(plain(exec.record.body)).toBe('exec /bin/sh');
    expect(exec.attributes).toMatchObject({
      'process.pid': String(pid),
      'process.parent_pid': String(process.pid),
      'process.executable.path': '/bin/sh',
      'process.command_args': ['/bin/sh', '-c', 'exit 7'],
      'process.real_user.id': String(process.getuid!()),
      'process.real_group.id': String(process.getgid!()),
      // The child shares this process's (the host's) mount namespace.
      'linux.mnt_ns.id': String(mntns(process.pid)),
    });
    expect(plain(exit.record.body)).toBe('exit 7');
    expect(exit.attributes).toMatchObject({ 'process.pid': String(pid), 'process.exit.code': '7' });
    expect(exit.attributes['linux.process.exit_signal']).toBeUndefined();
    expect(BigInt(exit.record.timeUnixNano)).toBeGreaterThanOrEqual(BigInt(exec.record.timeUnixNano));

    expect(await agent.stop('SIGINT')).toBe(0);
    readStdout();
    const log = agent.log();
    expect(log).toContain('SIGINT: shutting down');
    expect(log.trimEnd().split('\n').at(-1)).toMatch(/ info {2}stopped$/);
    // Warnings may be about the machine (a /proc/1 hidden from us); errors are the agent's own.
    expect(log.split('\n').filter((l) => / error /.test(l) || /^\s+at /.test(l))).toEqual([]);
    // Shutdown flushed: every record the file exporter counts as written is a line on stdout.
    const file = agent.finalTelemetry()!.find((s) => s.component === 'exporters.file')!;
    expect(file.sent).toBeGreaterThan(0);
    expect(stdoutRecords).toBe(file.sent);
  }, 180_000);
});
