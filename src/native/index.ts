import { mkdirSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import type { ClockSource } from '../events';
import { LazyAddon } from './load';
import type { BatchCallback, BpfSession, ContainersMapEntry, PinnedContainersMap, ProgramStatus, SessionOptions } from './types';

export type {
  BatchCallback,
  BpfEventName,
  BpfRecordName,
  BpfSession,
  ContainersMapEntry,
  EventTypeCounters,
  PinnedContainersMap,
  ProgramStatus,
  SessionOptions,
  SessionStats,
} from './types';

/** Comma-separated program names the kernel is made to refuse (tests, `doctor` demos). */
export const BREAK_PROGRAMS_ENV = 'EBPF_CONTAINER_OTEL_BREAK_PROGRAMS';

export const CONTAINERS_FIELD_BYTES = 256;
export const CONTAINERS_VALUE_BYTES = 4 * CONTAINERS_FIELD_BYTES;

interface NativeMapHandle {
  readonly maxEntries: number;
  lookup(mntns: number): Buffer | null;
  update(mntns: number, value: Buffer): void;
  delete(mntns: number): boolean;
  keys(): number[];
  close(): void;
}

/** ebpf_otel.node's exports; the OTLP encoder is an addon of its own (./otlp-logs). */
interface BpfAddon {
  bootTimeNs(): bigint;
  realtimeMinusBoottimeNs(): bigint;
  openContainersMap(path: string): NativeMapHandle;
  createContainersMap(path: string, maxEntries: number): NativeMapHandle;
  openSession(options: SessionOptions, onBatch: BatchCallback): BpfSession;
  probePrograms(options: SessionOptions): ProgramStatus[];
  probeRingBuffer(): RingBufferSupport;
  kernelNamespaces(): KernelNamespaces;
}

const bpfAddon = new LazyAddon<BpfAddon>('ebpf_otel', 'libbpf.so.1');

/** Why the BPF addon cannot be loaded (undefined: it can); for tests and `doctor`, which report instead of throwing. */
export function addonError(): string | undefined {
  return bpfAddon.error();
}

/** CLOCK_BOOTTIME in ns: the clock of the kernel's record timestamps. */
export function bootTimeNs(): bigint {
  return bpfAddon.load().bootTimeNs();
}

/** CLOCK_REALTIME − CLOCK_BOOTTIME in ns, both read at (nearly) one instant: boot time → Unix time. */
export function realtimeMinusBoottimeNs(): bigint {
  return bpfAddon.load().realtimeMinusBoottimeNs();
}

/** The kernel's own clocks at ns precision, for a BootClock. */
export const nativeClockSource: ClockSource = { bootNowNs: bootTimeNs, realtimeMinusBootNs: realtimeMinusBoottimeNs };

/** The programs BREAK_PROGRAMS_ENV names; `doctor` tells their refusal from the kernel's own. */
export function brokenOnPurpose(env: Record<string, string | undefined> = process.env): string[] {
  return (env[BREAK_PROGRAMS_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function withBreakPrograms(options: SessionOptions): SessionOptions {
  const fromEnv = brokenOnPurpose();
  if (fromEnv.length === 0) return options;
  return { ...options, breakPrograms: [...new Set([...(options.breakPrograms ?? []), ...fromEnv])] };
}

/**
 * Which BPF programs load and attach on this kernel, and why others were
 * skipped. Loads each briefly (tiny ring) and detaches again; needs root.
 */
export function probePrograms(options: SessionOptions = {}): ProgramStatus[] {
  return bpfAddon.load().probePrograms(withBreakPrograms(options));
}

/** Whether this kernel creates BPF_MAP_TYPE_RINGBUF maps (5.8+); `error` when the probe itself failed. */
export interface RingBufferSupport {
  supported: boolean;
  error: string;
}

/** Creates and closes a tiny ring buffer map; needs root (CAP_BPF). */
export function probeRingBuffer(): RingBufferSupport {
  return bpfAddon.load().probeRingBuffer();
}

/** The mount namespaces the kernel reports for the caller (native/bpf/hostns.bpf.c); inode numbers. */
export interface KernelNamespaces {
  /** The caller's own. */
  selfMntns: number;
  /** init_task's: the initial mount namespace, at the top of every parent chain. */
  initialMntns: number;
  /** That of the init process (child reaper) of the caller's PID namespace: the host's PID 1 when the agent shares the host's PID namespace. */
  pidnsInitMntns: number;
  /** That init process's pid in the initial PID namespace. */
  pidnsInitPid: number;
  /** 0 when the caller is in the initial PID namespace. */
  pidnsLevel: number;
}

/** Runs a BPF program once (BPF_PROG_TEST_RUN) that reads them; needs CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN. */
export function kernelNamespaces(): KernelNamespaces {
  return bpfAddon.load().kernelNamespaces();
}

/**
 * Loads and attaches the BPF programs; `onBatch` gets one Buffer of many
 * records per drain, and the pooled Buffer behind it, which `session.release`
 * takes back once the batch is done with.
 */
export function openBpfSession(options: SessionOptions, onBatch: BatchCallback): BpfSession {
  return bpfAddon.load().openSession(withBreakPrograms(options), onBatch);
}

/**
 * Opens a pinned containers map, refusing one whose layout is not
 * BPF_MAP_TYPE_HASH / key 8 / value 1024 (the error names the path and what was found).
 */
export function openPinnedContainersMap(pinPath: string): PinnedContainersMap {
  return new NativeContainersMap(pinPath, bpfAddon.load().openContainersMap(pinPath));
}

/** Reuses the pin at `pinPath` if its layout is right, else creates and pins a new map (mkdir -p). */
export function createPinnedContainersMap(pinPath: string, maxEntries: number): PinnedContainersMap {
  mkdirSync(path.dirname(pinPath), { recursive: true });
  return new NativeContainersMap(pinPath, bpfAddon.load().createContainersMap(pinPath, maxEntries));
}

/** Removes a pin; the map lives on while some fd or program holds it. Absent is fine. */
export function unpinPath(pinPath: string): void {
  try {
    unlinkSync(pinPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot unpin ${pinPath}: ${(err as Error).message}`);
    }
  }
}

class NativeContainersMap implements PinnedContainersMap {
  constructor(
    readonly path: string,
    private readonly handle: NativeMapHandle,
  ) {}

  get maxEntries(): number {
    return this.handle.maxEntries;
  }

  entries(): ContainersMapEntry[] {
    const out: ContainersMapEntry[] = [];
    for (const mntns of this.handle.keys()) {
      const entry = this.lookup(mntns);
      // Deleted between listing and lookup: not an entry any more.
      if (entry) out.push(entry);
    }
    return out;
  }

  lookup(mntns: number): ContainersMapEntry | undefined {
    const value = this.handle.lookup(mntns);
    return value ? decodeContainerValue(mntns, value) : undefined;
  }

  update(entry: ContainersMapEntry): void {
    this.handle.update(entry.mntns, encodeContainerValue(entry));
  }

  delete(mntns: number): boolean {
    return this.handle.delete(mntns);
  }

  close(): void {
    this.handle.close();
  }
}

const FIELDS = ['containerId', 'namespace', 'pod', 'container'] as const;

/** Four NUL-terminated char[256]; text is cut at 255 bytes on a UTF-8 character boundary. */
export function encodeContainerValue(entry: ContainersMapEntry): Buffer {
  const value = Buffer.alloc(CONTAINERS_VALUE_BYTES);
  FIELDS.forEach((field, i) => {
    const bytes = Buffer.from(entry[field], 'utf8');
    let n = Math.min(bytes.length, CONTAINERS_FIELD_BYTES - 1);
    // Back off continuation bytes (10xxxxxx) so no character is split.
    while (n < bytes.length && n > 0 && (bytes[n] & 0xc0) === 0x80) n--;
    bytes.copy(value, i * CONTAINERS_FIELD_BYTES, 0, n);
  });
  return value;
}

export function decodeContainerValue(mntns: number, value: Buffer): ContainersMapEntry {
  const field = (i: number): string => {
    const start = i * CONTAINERS_FIELD_BYTES;
    const nul = value.indexOf(0, start);
    const end = nul < 0 || nul > start + CONTAINERS_FIELD_BYTES ? start + CONTAINERS_FIELD_BYTES : nul;
    return value.toString('utf8', start, end);
  };
  return { mntns, containerId: field(0), namespace: field(1), pod: field(2), container: field(3) };
}
