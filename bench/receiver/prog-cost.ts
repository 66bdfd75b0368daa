/**
 * Kernel-side cost of every BPF program of the default event set, as the agent
 * loads them (receivers.ebpf defaults: exec, exit, open, connect, the cgroup
 * programs, exclude_self), each under a load that makes its events:
 *
 *   open     build/bench/receiver/producer: THREADS threads of open+close of a real file
 *   exec     build/bench/receiver/workload exec: fork + exec /bin/true (exec and exit events)
 *   connect  build/bench/receiver/workload connect: UDP connect to 127.0.0.1:9, TCP connect to a closed port
 *   cgroup   build/bench/receiver/workload cgroup: mkdir + rmdir in the container hierarchy
 *
 * ns per run is run_time_ns / run_cnt of this session's own programs (by id) over the phase,
 * kernel.bpf_stats_enabled=1 for the run (restored afterwards; the stats add a clock read or two
 * per run). Everything else on the host that triggers a program counts too: handle_exit runs at
 * every thread's exit and returns early for all but a process's last, so its mean mixes those in
 * (the run counts show how many). Needs root.
 *
 *   bash bench/receiver/prog-cost.sh        # ROUNDS=1 SECONDS=3 THREADS=2 EXECS=3000 CONNECTS=30000 CGROUPS=2000
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectContainerHierarchy } from '../../src/host/cgroups';
import { cachedKernelNamespaces } from '../../src/host/layout';
import { hostMountNamespace } from '../../src/host/namespaces';
import { openBpfSession } from '../../src/native';
import { createLogger } from '../../src/pipeline/logger';
import { PACKAGE_ROOT } from '../../src/pipeline/paths';
import { createDefaultConfig, toSessionOptions } from '../../src/receivers/ebpf/config';

const ROUNDS = Number(process.env.ROUNDS ?? 1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const THREADS = Number(process.env.THREADS ?? 2);
const EXECS = Number(process.env.EXECS ?? 3000);
const CONNECTS = Number(process.env.CONNECTS ?? 30000);
const CGROUPS = Number(process.env.CGROUPS ?? 2000);
const BIN = path.join(PACKAGE_ROOT, 'build', 'bench', 'receiver');
const TARGET = '/tmp/ebpf-container-otel-bench/data/segment-0001.log';

interface Phase {
  name: string;
  programs: string[];
  argv: string[];
  /** The producer waits for a line on stdin. */
  stdin?: string;
}

interface ProgStats {
  runs: number;
  ns: number;
}

function allStats(ids: Map<string, number>): Map<string, ProgStats> {
  const list = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Array<{
    id: number;
    run_cnt?: number;
    run_time_ns?: number;
  }>;
  const byId = new Map(list.map((p) => [p.id, p]));
  const out = new Map<string, ProgStats>();
  for (const [name, id] of ids) {
    const p = byId.get(id);
    out.set(name, { runs: p?.run_cnt ?? 0, ns: p?.run_time_ns ?? 0 });
  }
  return out;
}

async function run(argv: string[], stdin?: string): Promise<string> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.end(stdin ?? '');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}`);
  return out.trim();
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the bench loads BPF programs');
  const hierarchy = detectContainerHierarchy();
  if (!hierarchy.mountPath) throw new Error('the container cgroup hierarchy is not mounted');
  mkdirSync(path.dirname(TARGET), { recursive: true });
  writeFileSync(TARGET, 'x');
  const phases: Phase[] = [
    {
      name: 'open',
      programs: ['enter_openat', 'exit_openat'],
      argv: [path.join(BIN, 'producer'), String(SECONDS), String(THREADS), TARGET],
      stdin: 'go\n',
    },
    { name: 'exec', programs: ['handle_exec', 'handle_exit'], argv: [path.join(BIN, 'workload'), 'exec', String(EXECS)] },
    { name: 'connect', programs: ['enter_connect', 'exit_connect'], argv: [path.join(BIN, 'workload'), 'connect', String(CONNECTS)] },
    {
      name: 'cgroup',
      programs: ['handle_cgroup_mkdir', 'handle_cgroup_rmdir'],
      argv: [path.join(BIN, 'workload'), 'cgroup', String(CGROUPS), hierarchy.mountPath],
    },
  ];
  const options = toSessionOptions(createDefaultConfig(), process.pid, {
    hierarchy,
    hostMntns: hostMountNamespace('/proc', createLogger('warn', 'bench'), cachedKernelNamespaces),
  });
  const statsBefore = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  let bytes = 0;
  const session = openBpfSession(options, (batch) => {
    bytes += batch.length;
  });
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  const results = new Map<string, number[]>();
  try {
    const ids = new Map(
      session
        .programs()
        .filter((p) => p.loaded)
        .map((p) => [p.program, p.id]),
    );
    console.log(
      `kernel ns per program run, default event set (${[...ids.keys()].join(', ')}), ${os.cpus().length} CPUs, kernel ${os.release()}, ` +
        `load average ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      for (const phase of phases) {
        const before = allStats(ids);
        const said = await run(phase.argv, phase.stdin);
        const after = allStats(ids);
        const parts: string[] = [];
        let sum = 0;
        for (const name of phase.programs) {
          const runs = after.get(name)!.runs - before.get(name)!.runs;
          const ns = (after.get(name)!.ns - before.get(name)!.ns) / Math.max(1, runs);
          sum += ns;
          parts.push(`${name} ${ns.toFixed(0)} ns × ${runs}`);
          results.set(name, [...(results.get(name) ?? []), ns]);
        }
        const pair = phase.name === 'open' || phase.name === 'connect' ? `; ${phase.name} event (enter + exit) ${sum.toFixed(0)} ns` : '';
        console.log(`round ${round} ${phase.name.padEnd(8)} ${parts.join(', ')}${pair}   (${said})`);
      }
    }
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsBefore);
    session.close();
  }
  const range = (xs: number[]) =>
    Math.min(...xs) === Math.max(...xs) ? `${xs[0].toFixed(0)}` : `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
  console.log('summary (ns per run, min–max over rounds):');
  for (const [name, xs] of results) console.log(`  ${name.padEnd(20)} ${range(xs).padStart(10)}`);
  const pairSums = (a: string, b: string) => results.get(a)!.map((x, i) => x + results.get(b)![i]);
  console.log(`  open event (enter + exit)     ${range(pairSums('enter_openat', 'exit_openat')).padStart(10)}`);
  console.log(`  connect event (enter + exit)  ${range(pairSums('enter_connect', 'exit_connect')).padStart(10)}`);
  console.log(
    `${(bytes / 2 ** 20).toFixed(0)} MiB of records drained meanwhile; load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 1;
});
