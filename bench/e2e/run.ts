/**
 * The whole agent as a process under a paced load of real open events, with
 * the plain C libbpf consumer on the same load in the same run as the
 * kernel → user-space baseline.
 *
 * Per rate, two phases back to back (their order alternates from rate to rate):
 *   c      bench/receiver/c_consumer (openat programs, same 20 ms drain) while
 *          bench/receiver/producer opens a real file at the rate;
 *   agent  `bin/ebpf-container-otel.js run --config <generated>` — the default
 *          event set (exec, exit, open, connect), container_enrichment, the otlp
 *          exporter to a counting OTLP/gRPC sink (bench/e2e/sink.ts, a process
 *          of its own; SINK=grpc-js: test/harness/otlp-sink.ts in this one), and the
 *          prometheus exporter whose /metrics the bench reads — under the same
 *          producer, after WARMUP_SECONDS of the same load outside the measured
 *          window; then SIGINT and its final counts.
 *
 * Prints per rate: calls/s produced, the agent's kernel events, delivered,
 * dropped by reason, the loss chain over the agent's whole life (kernel
 * produced + kernel-dropped = at the sink + dropped by reason, all from the
 * agent's own counters and the sink's count), agent CPU per event (utime +
 * stime from /proc/<pid>/stat over the load window, per record the receiver
 * took in that window) and its ratio to the C consumer's, and the agent's
 * idle and peak RSS (VmRSS before the load, VmHWM at the end). Everything
 * else on the host that opens, execs or connects is traced too and counted
 * as such ("other").
 *
 *   bash bench/e2e/run.sh      # RATES=50000,100000,200000,400000 BENCH_SECONDS=10 WARMUP_SECONDS=60 THREADS=2 ROUNDS=1
 *
 * AGENTS=/path/a,/path/b runs the agent of each of those checkouts (built: dist/ and the addons) in
 * turn at each rate, for a before/after in one run (default: this checkout); an entry
 * `/path|key: value;key: value` adds those lines under receivers.ebpf for that agent (a setting
 * compared with its default: `.|ring_buffer_size: 16MiB`). KERNEL_STATS=1 also
 * prints the kernel ns per run of the agent's own programs over the load window (bpf_stats on for
 * the window; it adds a clock read or two per run to the load it measures). AGENT_NODE_ARGS passes
 * node options to the agent alone: `--perf-basic-prof`, then `perf record -g -p <agent pid>` during
 * the load, names the JavaScript, native and kernel frames of one profile (`--cpu-prof` does not
 * do: its SIGPROF interrupts the BPF verifier at start, which then fails the loads with EAGAIN).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { TRACED_EVENT_NAMES } from '../../src/events';
import { PACKAGE_ROOT } from '../../src/pipeline/paths';
import { procCpu, type Sink, startSink } from './sinks';
import { destroyWorkDir, makeWorkDir, spawnDaemon, stopDaemon, waitFor, type Daemon } from '../../test/harness/procs';

const RATES = (process.env.RATES ?? '50000,100000,200000,400000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/**
 * Load at the same rate before the measured window, so the window sees the agent as it runs for
 * days: its hot code compiled by V8's optimizing tiers and its first major GC done, both of which
 * otherwise land in the window. A minute: the per-request code (node's HTTP/2 request path, ~26
 * calls a second at 200 k/s) still ran in V8's baseline tier 13 s after start (`perf`), and V8's
 * compiler threads were still busy.
 */
const WARMUP_SECONDS = Number(process.env.WARMUP_SECONDS ?? 60);
const THREADS = Number(process.env.THREADS ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
/** Extra YAML under receivers.ebpf / exporters.otlp (e.g. to compare settings); empty by default. */
const RECEIVER_EXTRA = process.env.RECEIVER_EXTRA ?? '';
const EXPORTER_EXTRA = process.env.EXPORTER_EXTRA ?? '';
const BIN = path.join(PACKAGE_ROOT, 'build', 'bench', 'receiver');
const BPF_OBJECT = path.join(PACKAGE_ROOT, 'build', 'Release', 'obj', 'gen', 'ebpf_otel', 'ebpf_otel.bpf.o');
const NODE = process.execPath;
/** Each agent: a checkout, and lines added under receivers.ebpf (after `|`, `;`-separated). */
const AGENTS = (process.env.AGENTS ?? PACKAGE_ROOT).split(',');
const agentRoot = (agent: string) => path.resolve(agent.split('|')[0]);
const agentExtra = (agent: string) => (agent.split('|')[1] ?? '').split(';').join('\n');
const agentLabel = (agent: string) => (agent.includes('|') ? agent.split('|')[1] : path.basename(agentRoot(agent)));
const KERNEL_STATS = process.env.KERNEL_STATS === '1';
/** Node options for the agent only (e.g. `--perf-basic-prof`). */
const AGENT_NODE_ARGS = (process.env.AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
const PROGRAMS = ['handle_exec', 'handle_exit', 'enter_openat', 'exit_openat', 'enter_connect', 'exit_connect'];
/** A real file: every call walks its path, opens it and closes the fd. */
const TARGET_DIR = '/tmp/ebpf-container-otel-bench';
const TARGET = path.join(TARGET_DIR, 'data', 'segment-0001.log');

interface ProducerResult {
  calls: number;
  opened: number;
  seconds: number;
  cpuSeconds: number;
  lagMs: number;
}

interface CResult {
  records: number;
  producerRecords: number;
  produced: number;
  dropped: number;
  cpuSeconds: number;
  wallSeconds: number;
}

interface Counters {
  produced: number;
  dropped: number;
  filtered: number;
  rateLimited: number;
}

interface StageSnapshot {
  component: string;
  received: number;
  sent: number;
  dropped: Record<string, number>;
}

interface AgentResult {
  root: string;
  producer: ProducerResult;
  /** ns per run of the agent's programs over the load window (KERNEL_STATS=1). */
  kernelNs?: Record<string, number>;
  /** Records the receiver took in during the load window, and the agent's CPU seconds then. */
  windowRecords: number;
  windowOpens: number;
  windowCpuSeconds: number;
  /** Of which in user mode (the rest is the kernel working for the agent: syscalls, its TCP sends, page faults). */
  windowUserSeconds: number;
  sinkCpuSeconds: number;
  idleRssMiB: number;
  peakRssMiB: number;
  /** Whole life: kernel produced + kernel-dropped (+ rate limited), what reached the sink, drops by reason. */
  kernelAttempted: number;
  delivered: number;
  dropped: Record<string, number>;
  exporterSent: number;
}

function lines(child: ChildProcess): AsyncIterableIterator<string> {
  return readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

function startProducer(rate: number, seconds = SECONDS): ChildProcess {
  return spawn(path.join(BIN, 'producer'), [String(seconds), String(THREADS), TARGET, String(rate)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

async function runProducer(producer: ChildProcess): Promise<ProducerResult> {
  const out = lines(producer);
  producer.stdin!.end('go\n');
  const line = await out.next();
  if (line.done) throw new Error('producer exited without a result');
  return JSON.parse(line.value as string) as ProducerResult;
}

async function phaseC(rate: number): Promise<{ producer: ProducerResult; c: CResult }> {
  const producer = startProducer(rate);
  const consumer = spawn(path.join(BIN, 'c_consumer'), [BPF_OBJECT], {
    env: { ...process.env, PRODUCER_PID: String(producer.pid) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const out = lines(consumer);
    const ready = await out.next();
    if (ready.value !== 'ready') throw new Error(`c_consumer did not start (said ${JSON.stringify(ready.value)})`);
    const p = await runProducer(producer);
    consumer.kill('SIGINT');
    const c = JSON.parse((await out.next()).value as string) as CResult;
    return { producer: p, c };
  } finally {
    producer.kill('SIGKILL');
    consumer.kill('SIGKILL');
  }
}

function agentConfig(sinkAddress: string, receiverExtra: string): string {
  const indent = (text: string, n: number) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => ' '.repeat(n) + l)
      .join('\n');
  return `receivers:
  ebpf:
    events: [exec, exit, open, connect]
${indent(`${RECEIVER_EXTRA}\n${receiverExtra}`, 4)}
processors:
  container_enrichment: {}
exporters:
  otlp:
    endpoint: ${sinkAddress}
    tls:
      insecure: true
${indent(EXPORTER_EXTRA, 4)}
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    logs:
      receivers: [ebpf]
      processors: [container_enrichment]
      exporters: [otlp, prometheus]
`;
}

function procStatusKiB(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Samples of the Prometheus text format: `name{labels} value` → value, keyed by `name{labels}`. */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function sum(samples: Map<string, number>, name: string, match: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    const n = brace < 0 ? key : key.slice(0, brace);
    if (n === name && match(brace < 0 ? '' : key.slice(brace))) total += value;
  }
  return total;
}

function log(d: Daemon): string {
  try {
    return readFileSync(d.logFile, 'utf8');
  } catch {
    return '';
  }
}

interface ProgInfo {
  id: number;
  name?: string;
  loaded_at?: number;
  run_cnt?: number;
  run_time_ns?: number;
}

function progList(): ProgInfo[] {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as ProgInfo[];
}

/** The agent's programs: by name, loaded after `since` (s); a name loaded twice meanwhile (another agent) is left out. */
function agentPrograms(since: number): Map<string, number> {
  const found = new Map<string, number[]>();
  for (const p of progList()) {
    if (p.name && PROGRAMS.includes(p.name) && (p.loaded_at ?? 0) >= since) found.set(p.name, [...(found.get(p.name) ?? []), p.id]);
  }
  return new Map([...found].filter(([, ids]) => ids.length === 1).map(([name, ids]) => [name, ids[0]]));
}

function progStats(ids: Map<string, number>): Map<string, { runs: number; ns: number }> {
  const byId = new Map(progList().map((p) => [p.id, p]));
  return new Map([...ids].map(([name, id]) => [name, { runs: byId.get(id)?.run_cnt ?? 0, ns: byId.get(id)?.run_time_ns ?? 0 }]));
}

/** The exporter's batch delay (200 ms) and requests in flight: done when nothing is queued. */
async function drained(port: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  await waitFor(
    'the agent to drain',
    async () => {
      const m = await scrape(port);
      return sum(m, 'ebpf_container_otel_exporter_queue_records') === 0 && sum(m, 'ebpf_container_otel_exporter_requests_in_flight') === 0
        ? true
        : undefined;
    },
    60_000,
    100,
  );
}

async function phaseAgent(variant: string, rate: number, sink: Sink): Promise<AgentResult> {
  const root = agentRoot(variant);
  const dir = makeWorkDir('e2e-bench');
  const configPath = path.join(dir, 'agent.yaml');
  writeFileSync(configPath, agentConfig(sink.address, agentExtra(variant)));
  await sink.reset();
  const spawnedAt = Math.floor(Date.now() / 1000) - 1;
  const agent = spawnDaemon(NODE, [...AGENT_NODE_ARGS, path.join(root, 'bin', 'ebpf-container-otel.js'), 'run', '--config', configPath], {
    logFile: path.join(dir, 'agent.log'),
    stdoutFile: path.join(dir, 'stdout'),
    cwd: root,
  });
  let exited = false;
  void agent.exited.then(() => (exited = true));
  try {
    const port = await waitFor(
      'the agent to serve /metrics',
      () => {
        if (exited) throw new Error(`agent exited:\n${log(agent)}`);
        const text = log(agent);
        const m = /serving Prometheus metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(text);
        return m && text.includes('running; Ctrl-C to stop') ? Number(m[1]) : undefined;
      },
      60_000,
      50,
    );
    // Let start-up work (runtime lists, the first cgroup walk) settle before the idle reading.
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = procStatusKiB(agent.pid, 'VmRSS');
    if (WARMUP_SECONDS > 0) {
      await runProducer(startProducer(rate, WARMUP_SECONDS));
      await drained(port);
    }
    const producer = startProducer(rate);
    const ids = KERNEL_STATS ? agentPrograms(spawnedAt) : new Map<string, number>();
    const statsBefore = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
    if (KERNEL_STATS) writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
    const k0 = progStats(ids);
    const m0 = await scrape(port);
    const cpu0 = procCpu(agent.pid);
    const sinkCpu0 = sink.cpuSeconds();
    const p = await runProducer(producer);
    const k1 = progStats(ids);
    if (KERNEL_STATS) writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsBefore);
    const kernelNs = KERNEL_STATS
      ? Object.fromEntries([...k1].map(([name, v]) => [name, (v.ns - k0.get(name)!.ns) / Math.max(1, v.runs - k0.get(name)!.runs)]))
      : undefined;
    await drained(port);
    const cpu1 = procCpu(agent.pid);
    const sinkCpu = sink.cpuSeconds() - sinkCpu0;
    const m1 = await scrape(port);
    const peakRss = procStatusKiB(agent.pid, 'VmHWM');
    const received = (m: Map<string, number>) =>
      sum(m, 'ebpf_container_otel_records_received_total', (l) => l.includes('component="receivers.ebpf"'));
    const opens = (m: Map<string, number>) => sum(m, 'ebpf_container_otel_bpf_events_produced_total', (l) => l.includes('event="open"'));
    await stopDaemon(agent, 'SIGINT', 30_000);
    await agent.exited;
    const text = log(agent);
    const kernelLine = /kernel counters at detach (\{.*\})$/m.exec(text);
    const finalLine = / final (\[.*\])$/m.exec(text);
    if (!kernelLine || !finalLine) throw new Error(`agent log without its final counts:\n${text.slice(-3000)}`);
    const kernel = JSON.parse(kernelLine[1]) as Record<string, Counters>;
    const stages = JSON.parse(finalLine[1]) as StageSnapshot[];
    let attempted = kernel.throttle?.produced ?? 0;
    for (const e of TRACED_EVENT_NAMES) attempted += kernel[e].produced + kernel[e].dropped + kernel[e].rateLimited;
    const dropped: Record<string, number> = {};
    for (const s of stages) {
      // Every exporter sees every record: only the otlp exporter's drops are losses on the way to the sink.
      if (s.component.startsWith('exporters.') && s.component !== 'exporters.otlp') continue;
      for (const [reason, n] of Object.entries(s.dropped)) dropped[reason] = (dropped[reason] ?? 0) + n;
    }
    const otlp = stages.find((s) => s.component === 'exporters.otlp')!;
    return {
      root: variant,
      producer: p,
      kernelNs,
      windowRecords: received(m1) - received(m0),
      windowOpens: opens(m1) - opens(m0),
      windowCpuSeconds: cpu1.user + cpu1.system - cpu0.user - cpu0.system,
      windowUserSeconds: cpu1.user - cpu0.user,
      sinkCpuSeconds: sinkCpu,
      idleRssMiB: idleRss / 1024,
      peakRssMiB: peakRss / 1024,
      kernelAttempted: attempted,
      delivered: await sink.count(),
      dropped,
      exporterSent: otlp.sent,
    };
  } finally {
    await stopDaemon(agent, 'SIGKILL', 0);
    destroyWorkDir(dir);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the bench loads BPF programs');
  mkdirSync(path.dirname(TARGET), { recursive: true });
  writeFileSync(TARGET, 'x');
  const sink = await startSink();
  console.log(
    `whole-agent benchmark: ${RATES.map((r) => `${r / 1000}k`).join(', ')} opens/s x ${SECONDS} s, producer ${THREADS} thread(s) of open+close ${JSON.stringify(TARGET)}, ` +
      `node ${process.version}, ${os.cpus().length} CPUs, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(
    'rate      phase  calls/s   records  delivered  dropped (by reason)              chain: kernel = sink + dropped  CPU µs/rec  vs C  idle/peak RSS MiB',
  );
  const summary: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, rate] of RATES.entries()) {
        const phases = ['c', ...AGENTS];
        const shift = (k + round) % phases.length;
        const order = [...phases.slice(shift), ...phases.slice(0, shift)];
        let c: Awaited<ReturnType<typeof phaseC>> | undefined;
        const agents = new Map<string, AgentResult>();
        for (const phase of order) {
          if (phase === 'c') c = await phaseC(rate);
          else agents.set(phase, await phaseAgent(phase, rate, sink));
        }
        const cPer = c!.c.cpuSeconds / Math.max(1, c!.c.records);
        const cDelivered = c!.c.producerRecords / Math.max(1, c!.producer.calls);
        console.log(
          [
            `${fmt(rate / 1000)}k`.padEnd(9),
            'c    ',
            fmt(c!.producer.calls / c!.producer.seconds).padStart(9),
            fmt(c!.c.records).padStart(9),
            `${(cDelivered * 100).toFixed(2)}%`.padStart(9),
            `  ringbuf ${c!.c.dropped}`.padEnd(33),
            `producer's ${c!.c.producerRecords}/${c!.producer.calls}`.padEnd(30),
            (cPer * 1e6).toFixed(3).padStart(11),
          ].join(' '),
        );
        const firstPer = (() => {
          const f = agents.get(AGENTS[0])!;
          return f.windowCpuSeconds / Math.max(1, f.windowRecords);
        })();
        for (const root of AGENTS) {
          const r = agents.get(root)!;
          const droppedTotal = Object.values(r.dropped).reduce((x, y) => x + y, 0);
          const chainOk = r.kernelAttempted === r.delivered + droppedTotal;
          const per = r.windowCpuSeconds / Math.max(1, r.windowRecords);
          const reasons =
            Object.entries(r.dropped)
              .filter(([, n]) => n > 0)
              .map(([k2, n]) => `${k2} ${n}`)
              .join(', ') || '0';
          console.log(
            [
              ''.padEnd(9),
              AGENTS.length > 1 ? agentLabel(root).slice(0, 5).padEnd(5) : 'agent',
              fmt(r.producer.calls / r.producer.seconds).padStart(9),
              fmt(r.windowRecords).padStart(9),
              `${((r.delivered / Math.max(1, r.kernelAttempted)) * 100).toFixed(2)}%`.padStart(9),
              `  ${reasons}`.padEnd(33),
              `${r.kernelAttempted} = ${r.delivered} + ${droppedTotal} ${chainOk ? 'ok' : 'BROKEN'}`.padEnd(30),
              (per * 1e6).toFixed(3).padStart(11),
              `${(per / cPer).toFixed(1)}x`.padStart(6),
              `${r.idleRssMiB.toFixed(0)}/${r.peakRssMiB.toFixed(0)}`.padStart(10),
              AGENTS.length > 1 && root !== AGENTS[0] ? `  CPU/rec ${(per / firstPer).toFixed(2)}x of ${agentLabel(AGENTS[0])}` : '',
            ].join(' '),
          );
          if (r.kernelNs) {
            const ns = r.kernelNs;
            const pair = (a2: string, b: string) =>
              ns[a2] !== undefined && ns[b] !== undefined
                ? `${(ns[a2] + ns[b]).toFixed(0)} ns (${ns[a2].toFixed(0)} + ${ns[b].toFixed(0)})`
                : 'n/a';
            console.log(
              `${''.padEnd(16)}kernel ns/run over the load: open ${pair('enter_openat', 'exit_openat')}, connect ${pair('enter_connect', 'exit_connect')}, ` +
                `exec ${ns.handle_exec?.toFixed(0) ?? 'n/a'}, exit ${ns.handle_exit?.toFixed(0) ?? 'n/a'}`,
            );
          }
        }
        for (const root of AGENTS) {
          const r = agents.get(root)!;
          summary.push(
            `${fmt(rate / 1000)}k${AGENTS.length > 1 ? ` ${agentLabel(root)}` : ''}: producer ${fmt(r.producer.calls)} calls (lag ${r.producer.lagMs} ms, its CPU ${r.producer.cpuSeconds.toFixed(2)} s), ` +
              `window: ${fmt(r.windowRecords)} records (${fmt(r.windowOpens)} opens${r.windowRecords >= r.producer.calls ? `; ~${fmt(r.windowRecords - r.producer.calls)} not the producer's` : ''}), agent CPU ${r.windowCpuSeconds.toFixed(2)} s (user ${r.windowUserSeconds.toFixed(2)} s: ${((r.windowUserSeconds / Math.max(1, r.windowRecords)) * 1e6).toFixed(3)} µs/record), ` +
              `sink CPU ${r.sinkCpuSeconds.toFixed(2)} s (${((r.sinkCpuSeconds / Math.max(1, r.windowRecords)) * 1e6).toFixed(3)} µs/record); ` +
              `whole life: kernel ${fmt(r.kernelAttempted)}, otlp sent ${fmt(r.exporterSent)}, sink ${fmt(r.delivered)}; C consumer CPU ${c!.c.cpuSeconds.toFixed(3)} s for ${fmt(c!.c.records)} records`,
          );
        }
      }
    }
  } finally {
    sink.stop();
  }
  console.log(summary.join('\n'));
  console.log(
    `load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
