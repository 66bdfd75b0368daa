/**
 * Kernel cost of an open event that a filter rejects against one that is
 * emitted: the openat programs (enter + exit) under the same producer, per
 * case, from kernel.bpf_stats_enabled (run_time_ns / run_cnt of the
 * session's own programs, by id). Needs root.
 *
 *   bash bench/receiver/build.sh && node_modules/.bin/tsc -p tsconfig.json && \
 *     node_modules/.bin/node dist/bench/receiver/filter-cost.js [SECONDS]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { detectContainerHierarchy } from '../../src/host/cgroups';
import { openBpfSession, type SessionOptions } from '../../src/native';

const SECONDS = Number(process.argv[2] ?? 3);
const PRODUCER = path.resolve('build/bench/receiver/producer');
const OPEN_PATH = '/nonexistent-eco-bench';
const hierarchy = detectContainerHierarchy();
const CGROUP = path.join(hierarchy.mountPath, `eco-filter-cost-${process.pid}`);
const ownMntns = statSync('/proc/self/ns/mnt').ino;

interface Case {
  name: string;
  options: SessionOptions;
  /** How the producer is started: in the host's mount namespace, a new one, or the untraced cgroup. */
  wrap: 'host' | 'unshare' | 'cgroup';
  verdict?: boolean;
}

const base: SessionOptions = {
  events: ['open'],
  ringBufferSize: 32 << 20,
  cgroupSubsysIndex: hierarchy.subsysIndex,
  cgroupHierarchyId: hierarchy.hierarchyId,
  hostMntns: ownMntns,
};

const CASES: Case[] = [
  { name: 'emitted (no filter)', options: base, wrap: 'host' },
  { name: 'filtered: containers_only, host process', options: { ...base, containersOnly: true }, wrap: 'host' },
  { name: 'filtered: container verdict untraced', options: { ...base, selectContainers: true }, wrap: 'cgroup', verdict: false },
  {
    name: 'filtered: exclude_path_prefixes',
    options: { ...base, excludePathPrefixes: ['/proc/', '/sys/', '/nonexistent-eco'] },
    wrap: 'host',
  },
  { name: 'dropped: rate limit (1/s)', options: { ...base, rateLimitPerSecond: 1 }, wrap: 'unshare' },
];

function progStats(id: number): { runs: number; ns: number } {
  const p = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '--json'], { encoding: 'utf8' })) as {
    run_cnt?: number;
    run_time_ns?: number;
  };
  return { runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 };
}

async function produce(wrap: Case['wrap']): Promise<string> {
  const argv = [PRODUCER, String(SECONDS), '2', OPEN_PATH];
  const [cmd, args] =
    wrap === 'unshare'
      ? ['unshare', ['-m', ...argv]]
      : wrap === 'cgroup'
        ? ['sh', ['-c', `echo $$ > ${CGROUP}/cgroup.procs && exec "$@"`, 'sh', ...argv]]
        : [argv[0], argv.slice(1)];
  const child = spawn(cmd, args as string[], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.end('go\n');
  await new Promise((resolve) => child.once('exit', resolve));
  return out.trim();
}

async function run(c: Case): Promise<{ enter: number; exit: number; runs: number }> {
  let records = 0;
  const session = openBpfSession(c.options, (batch) => {
    records += batch.length;
  });
  try {
    if (c.verdict !== undefined) session.setVerdict(statSync(CGROUP).ino, c.verdict);
    const ids = Object.fromEntries(
      session
        .programs()
        .filter((p) => p.loaded)
        .map((p) => [p.program, p.id]),
    );
    const before = { enter: progStats(ids.enter_openat), exit: progStats(ids.exit_openat) };
    const produced = await produce(c.wrap);
    const after = { enter: progStats(ids.enter_openat), exit: progStats(ids.exit_openat) };
    const per = (k: 'enter' | 'exit') => (after[k].ns - before[k].ns) / Math.max(1, after[k].runs - before[k].runs);
    const stats = session.stats().open;
    console.log(
      `${c.name.padEnd(42)} enter ${per('enter').toFixed(1).padStart(6)} ns  exit ${per('exit').toFixed(1).padStart(6)} ns  ` +
        `(runs ${after.enter.runs - before.enter.runs}; produced ${stats.produced} filtered ${stats.filtered} rate_limited ${stats.rateLimited}; producer ${produced})`,
    );
    return { enter: per('enter'), exit: per('exit'), runs: after.enter.runs - before.enter.runs };
  } finally {
    session.close();
    void records;
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the bench loads BPF programs');
  const statsBefore = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  mkdirSync(CGROUP);
  try {
    console.log(
      `open event kernel cost by filter outcome: 2 producer threads of openat("${OPEN_PATH}") for ${SECONDS} s per case, ${hierarchy.controller} hierarchy`,
    );
    const results = [];
    for (const c of CASES) results.push({ c, r: await run(c) });
    const emitted = results[0].r.enter + results[0].r.exit;
    for (const { c, r } of results.slice(1)) {
      console.log(
        `  ${c.name.padEnd(40)} ${(r.enter + r.exit).toFixed(1).padStart(6)} ns per event = ${((r.enter + r.exit) / emitted).toFixed(2)}x of emitted (${emitted.toFixed(1)} ns)`,
      );
    }
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsBefore);
    rmdirSync(CGROUP);
  }
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 1;
});
