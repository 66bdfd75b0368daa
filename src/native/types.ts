/**
 * The surface of the two native addons (native/addon, binding.gyp), each loaded
 * on first use by its own module:
 * - ebpf_otel (libbpf), through src/native/index.ts: the eBPF receiver, the
 *   enrichment processor's pinned map, the boot clock and `doctor`;
 * - otlp_logs (no libbpf), through src/native/otlp-logs.ts: the OTLP exporter's
 *   LogRecord encoder.
 */

import type { RecordTypeName, TracedEventName } from '../events';

/** One Inspektor-Gadget-layout entry: u64 mntns → four char[256]. */
export interface ContainersMapEntry {
  mntns: number;
  containerId: string;
  namespace: string;
  pod: string;
  container: string;
}

export interface PinnedContainersMap {
  readonly path: string;
  entries(): ContainersMapEntry[];
  lookup(mntns: number): ContainersMapEntry | undefined;
  update(entry: ContainersMapEntry): void;
  delete(mntns: number): boolean;
  /** Closes our fd; the pin stays until unpin(). */
  close(): void;
}

/** What `events` selects: the event types with programs of their own. */
export type BpfEventName = TracedEventName;
/** Every record type the programs submit: the events plus the attribution records. */
export type BpfRecordName = RecordTypeName;

/** Whether one BPF program runs on this kernel, and why not. */
export interface ProgramStatus {
  /** e.g. `handle_exec`, `enter_openat`. */
  program: string;
  event: BpfRecordName;
  /** Loaded and attached: producing events. */
  loaded: boolean;
  /** Empty when loaded; otherwise what refused it (config, verifier, attach). */
  reason: string;
  /** The kernel's program id while loaded (`bpftool prog show id <id>`, bpf_stats); 0 otherwise. */
  id: number;
}

/** Options of the addon's BPF session (the receiver maps its config onto these). */
export interface SessionOptions {
  events?: BpfEventName[];
  /** Bytes of the events ring; a power of two >= 4096. The cgroup records have a fixed ring of their own. */
  ringBufferSize?: number;
  execArgsMaxBytes?: number;
  denyPids?: number[];
  /** Matched against the kernel's 15-byte comm. */
  denyComms?: string[];
  /** Only tasks outside `hostMntns`. */
  containersOnly?: boolean;
  hostMntns?: number;
  /** The container hierarchy (src/host/cgroups.ts): the v1 controller's subsystem index, absent for the unified hierarchy. */
  cgroupSubsysIndex?: number;
  cgroupHierarchyId?: number;
  /** The cgroup_mkdir/rmdir programs (attribution records); default on. */
  cgroupEvents?: boolean;
  /** Consult the verdicts set with setVerdict (filters.containers). */
  selectContainers?: boolean;
  /** Open records only for paths starting with one of these / with none of these (at most 64 each, 1-255 bytes). */
  includePathPrefixes?: string[];
  excludePathPrefixes?: string[];
  /** Records per second per container (0: no limit) and burst (0: = rateLimitPerSecond); needs hostMntns. */
  rateLimitPerSecond?: number;
  rateLimitBurst?: number;
  /** Open events only when the open failed (ret < 0); the rest count as filtered. */
  openFailedOnly?: boolean;
  maxBatchRecords?: number;
  drainIntervalMs?: number;
  disablePrograms?: string[];
  /** Fault injection: make the kernel refuse these programs at load. */
  breakPrograms?: string[];
}

export interface EventTypeCounters {
  produced: number;
  /**
   * Its ring buffer full (reserve failed: the events ring, or for the cgroup records their own,
   * native/bpf/maps.h CGROUP_RING_SIZE) or no memory for the arguments of a pending syscall.
   */
  dropped: number;
  /** Rejected by a kernel-side filter. */
  filtered: number;
  /** Over its container's rate limit. */
  rateLimited: number;
}

export interface SessionStats extends Record<BpfRecordName, EventTypeCounters> {
  /** Samples the addon skipped: an impossible size, or an event record failing the checks of EventBatch.parse. */
  malformed: number;
  batches: number;
  records: number;
  bytes: number;
}

/**
 * One drained batch: `batch` holds the records (a view), `backing` is the
 * pooled Buffer behind it; handing `backing` to `BpfSession.release` once
 * nothing reads `batch` any more lets the next batches reuse its memory.
 * The batch starts with `cgroupBytes` of cgroup records; `events` event
 * records follow, each checked as EventBatch.parse checks them (the others are
 * counted in `stats().malformed`), and the last `4 * events` bytes of
 * `backing` are where each starts in `batch` (u32, host order): see
 * `EventBatch.fromDrain`.
 */
export type BatchCallback = (batch: Buffer, backing: Buffer, cgroupBytes: number, events: number) => void;

export interface BpfSession {
  programs(): ProgramStatus[];
  stats(): SessionStats;
  /** The container hierarchy's cgroup `cgroupId` is traced or not (with selectContainers); throws when the verdict map is full. */
  setVerdict(cgroupId: number, traced: boolean): void;
  /** The cgroup is gone: its verdict goes. */
  clearVerdict(cgroupId: number): void;
  /**
   * A batch's `backing` Buffer is free again: later batches are copied into
   * it. Only once nothing reads that batch any more (its consumers are done).
   */
  release(backing: Buffer): void;
  /**
   * Detaches at once, hands what is still in the ring to the callback
   * (synchronously; not when called from inside the callback), and frees the
   * ring and maps on the next loop turn. Safe anywhere, idempotent. Returns
   * the kernel counters as they stand after the detach and that drain (final),
   * or undefined when already closed or called from inside the callback.
   */
  close(): SessionStats | undefined;
}

/** Opaque handle of native/addon/otlp_logs.c's encoder state. */
export type NativeLogEncoder = { readonly __nativeLogEncoder: unique symbol };

/**
 * Encodes records `order[start..end)` of `records` (at `offsets`) as LogRecords
 * into `out` from `outPos`; see LogsRequestEncoder for the calling contract.
 */
export type EncodeLogRecords = (
  encoder: NativeLogEncoder,
  records: Buffer,
  offsets: Uint32Array,
  order: Uint32Array,
  start: number,
  end: number,
  out: Buffer,
  outPos: number,
  budget: number,
  takeFirst: boolean,
  clock: BigInt64Array,
  result: Float64Array,
) => void;

/** An encoder's state and the function that encodes with it. */
export interface LogRecordEncoder {
  encoder: NativeLogEncoder;
  encode: EncodeLogRecords;
}
