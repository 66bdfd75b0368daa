/**
 * Shared by the kernel-matrix guest tests (test/vm/guest/*.vmtest.ts): the agent's exported
 * records (OTLP-JSON lines on its stdout), a container's own view of its cgroup, and a per-
 * container verdict table.
 */
import { readFileSync, statSync } from 'node:fs';
import { AgentProcess, type ContainerdHarness, DockerHarness, waitFor } from '../../harness';
import { harnessAgentConfig, type HarnessAgentConfig } from '../../harness/agent-config';
import { requires } from '../../harness/requires';
import { flatRecords, type FlatRecord, type JsonRequest } from '../../exporters/fixtures';

export const DOCKER = requires('dockerd', 'docker');

/**
 * dockerd on the guest's containerd, the test image loaded, where Docker is installed; when it
 * does not start (slow under TCG), why not, for the Docker tests to fail with, leaving the rest to run.
 */
export async function startGuestDocker(containerd: ContainerdHarness): Promise<{ docker?: DockerHarness; dockerFailed?: string }> {
  if (!DOCKER.met) return {};
  const t0 = Date.now();
  try {
    const docker = await DockerHarness.start({ containerd });
    docker.loadImage();
    console.log(`dockerd started and loaded the image in ${Date.now() - t0} ms`);
    return { docker };
  } catch (err) {
    return { dockerFailed: `dockerd did not start in the guest within ${Date.now() - t0} ms: ${(err as Error).message}` };
  }
}

/** The agent as a user runs it, on the guest's daemons, its OTLP-JSON lines on stdout, and a reader of them. */
export async function startGuestAgent(
  events: string[],
  runtimes: HarnessAgentConfig['runtimes'],
): Promise<{ agent: AgentProcess; records: AgentRecords }> {
  const agent = await AgentProcess.start(
    harnessAgentConfig({ events, runtimes, pinnedMap: { write: false }, exporters: { file: { path: '-' } } }),
    { timeoutMs: 180_000 },
  );
  return { agent, records: new AgentRecords(agent) };
}

/** One exported record, flattened, with the fields the guest tests compare. */
export interface Exported {
  event: string;
  commandLine: string;
  path: string;
  pid: string;
  containerId: string;
  runtime: string;
  cgroupId: string;
  flat: FlatRecord;
}

/** argv joined with spaces: from `process.command_args` (a list), or an older `process.command_line`. */
function commandLine(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join(' ');
  return value === undefined ? '' : String(value);
}

/** Everything the agent has written to stdout so far, parsed as it arrives. */
export class AgentRecords {
  readonly all: Exported[] = [];

  constructor(private readonly agent: AgentProcess) {}

  read(): Exported[] {
    for (const line of this.agent.newStdoutLines()) {
      if (!line) continue;
      for (const flat of flatRecords(JSON.parse(line) as JsonRequest)) {
        const a = flat.attributes;
        const r = flat.resource;
        this.all.push({
          event: String(flat.record.eventName ?? ''),
          commandLine: commandLine(a['process.command_args'] ?? a['process.command_line']),
          path: String(a['file.path'] ?? ''),
          pid: String(a['process.pid'] ?? ''),
          containerId: String(r['container.id'] ?? ''),
          runtime: String(r['container.runtime.name'] ?? ''),
          cgroupId: String(a['linux.cgroup.id'] ?? ''),
          flat,
        });
      }
    }
    return this.all;
  }

  /** The agent's log, last lines (printed with a failure). */
  logTail(lines = 40): string {
    return this.agent.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Waits until `done(records)` holds; on timeout returns anyway (the caller's expectations say what is missing). */
  async settle(what: string, done: (records: Exported[]) => boolean, timeoutMs: number): Promise<Exported[]> {
    await waitFor(what, () => done(this.read()) || undefined, timeoutMs, 100).catch(() => undefined);
    return this.read();
  }
}

/** A task's cgroup in the unified hierarchy, from /proc/<pid>/cgroup (`0::/default/web` → `/default/web`). */
export function unifiedCgroupOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (!line) throw new Error(`/proc/${pid}/cgroup has no unified (0::) line: is this cgroup v2?`);
  return line.slice(3);
}

/** The kernfs id of a cgroup v2 directory: its inode, what `linux.cgroup.id` must be. */
export function cgroupInode(cgroupPath: string): string {
  return String(statSync(`/sys/fs/cgroup${cgroupPath}`).ino);
}

/** Throws unless /sys/fs/cgroup is the unified (v2) hierarchy: the guest tests check v2 attribution. */
export function assertCgroupV2(): void {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (!/^\S+ \/sys\/fs\/cgroup cgroup2 /m.test(mounts))
    throw new Error('/sys/fs/cgroup is not cgroup2 here: these tests are for a cgroup v2 guest (test/vm)');
}

/**
 * A shell command for inside a container: execs `/bin/echo <marker> <inode>`, the inode being its
 * own cgroup's as the container sees it (its /proc/self/cgroup under /sys/fs/cgroup, which is the
 * host's tree bind-mounted for ctr, its own cgroup namespace root for Docker). The echo's exec
 * record carries it in its argv, independently of the agent.
 */
export function reportCgroupCommand(marker: string): string[] {
  return ['/bin/sh', '-c', `exec /bin/echo ${marker} $(stat -c %i "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)")`];
}

export type Verdict = 'right' | 'wrong' | 'unenriched' | 'missing';
export const VERDICTS: Verdict[] = ['right', 'wrong', 'unenriched', 'missing'];

/** right: every record is this container's and carries `cgroupId`; wrong: some name another container or cgroup. */
export function verdict(records: Exported[], containerId: string, cgroupId: string): Verdict {
  if (records.length === 0) return 'missing';
  if (records.some((r) => (r.containerId !== '' && r.containerId !== containerId) || r.cgroupId !== cgroupId)) return 'wrong';
  if (records.some((r) => r.containerId === '')) return 'unenriched';
  return 'right';
}

export function describeExported(r: Exported): string {
  return `${r.event} "${r.commandLine || r.path}" pid ${r.pid}: container ${r.containerId.slice(0, 24) || '(none)'} (${r.runtime || '-'}), linux.cgroup.id ${r.cgroupId}`;
}

/** Counts verdicts per row and prints them as a table, with the records of every container not right. */
export class VerdictTable {
  private readonly rows = new Map<string, Record<Verdict, number>>();
  readonly problems: string[] = [];

  add(row: string, v: Verdict, what: string, records: Exported[]): void {
    const counts = this.rows.get(row) ?? { right: 0, wrong: 0, unenriched: 0, missing: 0 };
    counts[v]++;
    this.rows.set(row, counts);
    if (v !== 'right') this.problems.push(`${row} ${v}: ${what}: ${records.map(describeExported).join(' | ') || 'no record'}`);
  }

  print(title: string): void {
    const lines = [title, `${'row'.padEnd(22)}${VERDICTS.map((v) => v.padStart(11)).join('')}`];
    for (const [row, c] of this.rows) lines.push(`${row.padEnd(22)}${VERDICTS.map((v) => String(c[v]).padStart(11)).join('')}`);
    console.log(lines.join('\n') + (this.problems.length ? `\nnot right:\n${this.problems.slice(0, 40).join('\n')}` : ''));
  }

  counts(): Record<string, Record<Verdict, number>> {
    return Object.fromEntries(this.rows);
  }
}
