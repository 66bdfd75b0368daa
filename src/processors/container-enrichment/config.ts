import * as path from 'node:path';
import { type HostLayout, resolveHostLayout } from '../../host/layout';
import { parseDuration } from '../../pipeline/units';

export interface PendingConfig {
  /** Records held per container not described yet (or per cgroup not resolved yet); more pass on at once (counted). */
  max_per_container: number;
  /** Records held in all; more pass on at once (counted). */
  max_total: number;
  /** How long a record waits for its container to be described. */
  deadline: string;
}

export interface PinnedMapConfig {
  /** Inspektor-Gadget-layout map maintained by another agent, used as a source when present. */
  read_path: string;
  /** Our own map, one entry per known container; the eBPF receiver's containers-only filter reads it. */
  write_path: string;
  write: boolean;
  keep_on_shutdown: boolean;
  max_entries: number;
}

export interface ContainerEnrichmentConfig {
  /** Prefix of the host's filesystem when the agent runs in a container (e.g. /host). */
  host_root: string;
  /** The host's procfs; '' = `<host_root>/proc`, or /host/proc when mounted there (src/host/layout.ts). */
  host_proc: string;
  /** The host's /run (runtime sockets); '' = `<host_root>/run`, or /host/run when mounted there. */
  host_run: string;
  /** Passed to the runtime clients (runtime/); each runtime's own section. */
  runtimes: Record<string, unknown>;
  /** Full re-list of every runtime, catching events a watch stream missed. */
  resync_interval: string;
  pending: PendingConfig;
  /** How long an exited container stays resolvable for late events. */
  tombstone_ttl: string;
  /** Containers (live + tombstones) the index holds; more are refused and counted. */
  max_containers: number;
  /** `drop` removes events of host (non-container) processes. */
  host_events: 'keep' | 'drop';
  pinned_map: PinnedMapConfig;
}

export const DEFAULT_READ_MAP_PATH = '/sys/fs/bpf/gadget/containers';
export const DEFAULT_WRITE_MAP_PATH = '/sys/fs/bpf/ebpf-container-otel/containers';

export function createDefaultConfig(): ContainerEnrichmentConfig {
  return {
    host_root: '/',
    host_proc: '',
    host_run: '',
    runtimes: {},
    resync_interval: '30s',
    // A container's boot is a burst (an LXC system container opens thousands of files).
    pending: { max_per_container: 2048, max_total: 16384, deadline: '2s' },
    tombstone_ttl: '30s',
    max_containers: 8192,
    host_events: 'keep',
    pinned_map: {
      read_path: DEFAULT_READ_MAP_PATH,
      write_path: DEFAULT_WRITE_MAP_PATH,
      write: true,
      keep_on_shutdown: false,
      max_entries: 8192,
    },
  };
}

/** Cross-field rules the schema cannot express; messages start with the key. */
export function validateConfig(config: ContainerEnrichmentConfig): string[] {
  const problems: string[] = [];
  const { pending, pinned_map: map } = config;
  if (pending.max_per_container > pending.max_total) {
    problems.push(
      `pending.max_per_container: ${pending.max_per_container} is larger than pending.max_total (${pending.max_total}); lower it or raise max_total`,
    );
  }
  if (parseDuration(config.resync_interval) <= 0) {
    problems.push(`resync_interval: "${config.resync_interval}" must be longer than 0 (e.g. 30s)`);
  }
  if (map.write && path.resolve(map.read_path) === path.resolve(map.write_path)) {
    problems.push(
      `pinned_map.write_path: "${map.write_path}" is also pinned_map.read_path; the map we maintain cannot be our source too (use different paths, or set pinned_map.write: false)`,
    );
  }
  if (map.write && !path.isAbsolute(map.write_path)) {
    problems.push(`pinned_map.write_path: "${map.write_path}" must be an absolute path on a bpffs mount (e.g. ${DEFAULT_WRITE_MAP_PATH})`);
  }
  return problems;
}

/** The config with durations in milliseconds and paths resolved. */
export interface ResolvedConfig {
  hostRoot: string;
  hostProc: string;
  /** Where the host's /run, /proc and cgroup tree are seen from here. */
  layout: HostLayout;
  runtimes: Record<string, unknown>;
  resyncIntervalMs: number;
  pending: { maxPerContainer: number; maxTotal: number; deadlineMs: number };
  tombstoneTtlMs: number;
  maxContainers: number;
  dropHostEvents: boolean;
  pinnedMap: { readPath: string; writePath: string; write: boolean; keepOnShutdown: boolean; maxEntries: number };
}

export function resolveConfig(config: ContainerEnrichmentConfig): ResolvedConfig {
  const layout = resolveHostLayout({ hostRoot: config.host_root, hostProc: config.host_proc, hostRun: config.host_run });
  return {
    hostRoot: layout.root,
    hostProc: layout.proc,
    layout,
    runtimes: config.runtimes,
    resyncIntervalMs: parseDuration(config.resync_interval),
    pending: {
      maxPerContainer: config.pending.max_per_container,
      maxTotal: config.pending.max_total,
      deadlineMs: parseDuration(config.pending.deadline),
    },
    tombstoneTtlMs: parseDuration(config.tombstone_ttl),
    maxContainers: config.max_containers,
    dropHostEvents: config.host_events === 'drop',
    pinnedMap: {
      readPath: config.pinned_map.read_path,
      writePath: config.pinned_map.write_path,
      write: config.pinned_map.write,
      keepOnShutdown: config.pinned_map.keep_on_shutdown,
      maxEntries: config.pinned_map.max_entries,
    },
  };
}
