import { TRACED_EVENT_NAMES } from '../../events';
import type { BpfEventName, SessionOptions } from '../../native';
import type { ContainerHierarchy } from '../../host/cgroups';
import { parseDuration, parseSize } from '../../pipeline/units';

/**
 * One container selector: every key given must match. Values are globs
 * (`*`, `?`); `k8s_pod_labels` matches when every listed label matches.
 */
export interface ContainerSelector {
  k8s_namespace?: string;
  k8s_pod_labels?: Record<string, string>;
  /** `<Kind>/<name>` (e.g. `Deployment/web`) or the name alone. */
  k8s_workload?: string;
  /** The Kubernetes container name, else the runtime's container name. */
  container_name?: string;
  image?: string;
}

export interface ContainerSelection {
  /** Traced: containers matching one of these (all, when empty)… */
  include: ContainerSelector[];
  /** …and none of these. */
  exclude: ContainerSelector[];
}

export interface OpenFiltersConfig {
  /** Opens of paths starting with none of these are not traced (empty: no such rule). */
  include_path_prefixes: string[];
  /** Opens of paths starting with one of these are not traced. */
  exclude_path_prefixes: string[];
}

export interface RateLimitConfig {
  /** Records per second per container (0: no limit); the rest are dropped and counted (rate_limited). */
  per_container: number;
  /** Records a container may send at once after a quiet spell (0: per_container, one second's worth). */
  burst: number;
}

export interface EbpfFiltersConfig {
  /** Only processes outside the host's mount namespace (kernel-side, from the task alone). */
  containers_only: boolean;
  /** Process names (the kernel's 15-byte comm) never traced. */
  deny_comms: string[];
  /** Process ids (tgid) never traced. */
  deny_pids: number[];
  /** Do not trace the agent itself (its own exports would feed back as events). */
  exclude_self: boolean;
  /** Open events only for failed opens (ret < 0). */
  open_failed_only: boolean;
  containers: ContainerSelection;
  open: OpenFiltersConfig;
  rate_limit: RateLimitConfig;
}

export interface EbpfBatchConfig {
  /** Records per batch handed downstream. */
  max_records: number;
  /** How often the ring buffer is drained (records are submitted without wake-ups). */
  drain_interval: string;
  /** Batches handed downstream and not yet done; more are dropped and counted (queue_full). */
  max_in_flight: number;
}

export interface EbpfReceiverConfig {
  events: BpfEventName[];
  /**
   * The events ring. Power of two, e.g. 16MiB (the default: ~110,000 open records, ~0.3 s of 400 k/s
   * while the event loop is busy; the agent's RSS counts the whole ring, mapped at start). The cgroup
   * records have a fixed 1 MiB ring of their own, which no flood of events fills.
   */
  ring_buffer_size: string | number;
  /** argv bytes copied per exec (at most 1024). */
  exec_args_max_bytes: number;
  filters: EbpfFiltersConfig;
  batch: EbpfBatchConfig;
  /** BPF programs not to load, e.g. enter_openat2 (see `doctor`). */
  disable_programs: string[];
}

export const BPF_PROGRAMS = [
  'handle_exec',
  'handle_exit',
  'enter_openat',
  'exit_openat',
  'enter_openat2',
  'exit_openat2',
  'enter_connect',
  'exit_connect',
  'handle_cgroup_mkdir',
  'handle_cgroup_rmdir',
] as const;

const COMM_MAX_BYTES = 15;

export function createDefaultConfig(): EbpfReceiverConfig {
  return {
    events: [...TRACED_EVENT_NAMES],
    ring_buffer_size: '16MiB',
    exec_args_max_bytes: 1024,
    filters: {
      containers_only: false,
      deny_comms: [],
      deny_pids: [],
      exclude_self: true,
      open_failed_only: false,
      containers: { include: [], exclude: [] },
      open: { include_path_prefixes: [], exclude_path_prefixes: [] },
      rate_limit: { per_container: 0, burst: 0 },
    },
    batch: { max_records: 8192, drain_interval: '20ms', max_in_flight: 4 },
    disable_programs: [],
  };
}

/** Cross-field rules the schema cannot express; each message starts with the key. */
export function validateConfig(config: EbpfReceiverConfig): string[] {
  const problems: string[] = [];
  const ring = parseSize(config.ring_buffer_size);
  if (ring < 4096 || ring > 2 ** 30 || (ring & (ring - 1)) !== 0) {
    problems.push(`ring_buffer_size: ${JSON.stringify(config.ring_buffer_size)} must be a power of two between 4KiB and 1GiB (e.g. 32MiB)`);
  }
  const drainMs = parseDuration(config.batch.drain_interval);
  if (drainMs < 1 || drainMs > 1000) {
    problems.push(`batch.drain_interval: "${config.batch.drain_interval}" must be between 1ms and 1s (e.g. 20ms)`);
  }
  if (config.events.length === 0) problems.push(`events: must list at least one of ${TRACED_EVENT_NAMES.join(', ')}`);
  config.disable_programs.forEach((p, i) => {
    if (!(BPF_PROGRAMS as readonly string[]).includes(p)) {
      problems.push(`disable_programs[${i}]: "${p}" is not a BPF program (one of ${BPF_PROGRAMS.join(', ')})`);
    }
  });
  config.filters.deny_comms.forEach((c, i) => {
    if (c === '' || Buffer.byteLength(c) > COMM_MAX_BYTES) {
      problems.push(
        `filters.deny_comms[${i}]: "${c}" must be 1-${COMM_MAX_BYTES} bytes (the kernel keeps only that much of a process name)`,
      );
    }
  });
  const { containers, open } = config.filters;
  for (const list of ['include', 'exclude'] as const) {
    containers[list].forEach((selector, i) => {
      if (Object.keys(selector).length === 0) {
        problems.push(
          `filters.containers.${list}[${i}]: an empty selector matches every container; name at least one of ${SELECTOR_KEYS.join(', ')}`,
        );
      }
    });
  }
  for (const list of ['include_path_prefixes', 'exclude_path_prefixes'] as const) {
    if (open[list].length > PATH_PREFIXES_MAX)
      problems.push(`filters.open.${list}: ${open[list].length} prefixes; at most ${PATH_PREFIXES_MAX} are supported`);
    open[list].forEach((prefix, i) => {
      if (prefix === '' || Buffer.byteLength(prefix) > PATH_PREFIX_MAX_BYTES) {
        problems.push(
          `filters.open.${list}[${i}]: "${prefix}" must be 1-${PATH_PREFIX_MAX_BYTES} bytes (the kernel compares the first ${PATH_PREFIX_MAX_BYTES} bytes of a path)`,
        );
      }
    });
  }
  return problems;
}

export const SELECTOR_KEYS = ['k8s_namespace', 'k8s_pod_labels', 'k8s_workload', 'container_name', 'image'] as const;
/** native/bpf/maps.h PATH_PREFIXES_MAX, MAX_PATH_LEN - 1. */
const PATH_PREFIXES_MAX = 64;
const PATH_PREFIX_MAX_BYTES = 255;

/** What the kernel side needs to know about this host. */
export interface HostFacts {
  hierarchy: ContainerHierarchy;
  /** The host's mount namespace inode (containers_only passes the others). */
  hostMntns: number;
}

/** The addon's session options for this config; `selfPid` is excluded when exclude_self is on. */
export function toSessionOptions(config: EbpfReceiverConfig, selfPid: number, host: HostFacts): SessionOptions {
  const f = config.filters;
  return {
    cgroupSubsysIndex: host.hierarchy.subsysIndex,
    cgroupHierarchyId: host.hierarchy.hierarchyId,
    hostMntns: host.hostMntns,
    events: config.events,
    ringBufferSize: parseSize(config.ring_buffer_size),
    execArgsMaxBytes: config.exec_args_max_bytes,
    denyPids: [...new Set([...f.deny_pids, ...(f.exclude_self ? [selfPid] : [])])],
    denyComms: f.deny_comms,
    containersOnly: f.containers_only,
    selectContainers: f.containers.include.length + f.containers.exclude.length > 0,
    includePathPrefixes: f.open.include_path_prefixes,
    excludePathPrefixes: f.open.exclude_path_prefixes,
    rateLimitPerSecond: f.rate_limit.per_container,
    rateLimitBurst: f.rate_limit.burst,
    openFailedOnly: f.open_failed_only,
    maxBatchRecords: config.batch.max_records,
    drainIntervalMs: Math.max(1, Math.round(parseDuration(config.batch.drain_interval))),
    disablePrograms: config.disable_programs,
  };
}
