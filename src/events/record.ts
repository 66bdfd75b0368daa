/**
 * Fixed offsets of the kernel record (native/bpf/events.h). The layout test
 * compiles events.h and compares every offset with these constants.
 */
export const EVENT_VERSION = 1;

/**
 * Every record type of native/bpf/events.h (enum event_type, numbered as
 * there): the one list the receiver, its metrics, the config schema and the
 * exporters take theirs from. test/unit/record-layout.test.ts holds events.h
 * and the addon's EVENT_NAMES to it.
 *   traced: `receivers.ebpf.events` selects it; BPF programs of its own produce it.
 *   exported: an event record, reaching the exporters; the cgroup records only attribute.
 */
export const RECORD_TYPES = [
  { name: 'exec', code: 1, traced: true, exported: true },
  { name: 'exit', code: 2, traced: true, exported: true },
  { name: 'open', code: 3, traced: true, exported: true },
  { name: 'connect', code: 4, traced: true, exported: true },
  { name: 'throttle', code: 5, traced: false, exported: true },
  { name: 'cgroup_mkdir', code: 6, traced: false, exported: false },
  { name: 'cgroup_rmdir', code: 7, traced: false, exported: false },
] as const;
type RecordTypeEntry = (typeof RECORD_TYPES)[number];
export type RecordTypeName = RecordTypeEntry['name'];
export type EventTypeName = Extract<RecordTypeEntry, { exported: true }>['name'];
export type TracedEventName = Extract<RecordTypeEntry, { traced: true }>['name'];

export const RecordType = Object.fromEntries(RECORD_TYPES.map((t) => [t.name, t.code])) as {
  readonly [T in RecordTypeEntry as T['name']]: T['code'];
};
export const RECORD_TYPE_NAMES: readonly RecordTypeName[] = RECORD_TYPES.map((t) => t.name);
/** Ordered by code, from 1: eventTypeName indexes it. */
export const EVENT_TYPE_NAMES: readonly EventTypeName[] = RECORD_TYPES.filter(
  (t): t is Extract<RecordTypeEntry, { exported: true }> => t.exported,
).map((t) => t.name);
export const TRACED_EVENT_NAMES: readonly TracedEventName[] = RECORD_TYPES.filter(
  (t): t is Extract<RecordTypeEntry, { traced: true }> => t.traced,
).map((t) => t.name);

export function eventTypeName(type: number): EventTypeName | undefined {
  return EVENT_TYPE_NAMES[type - 1];
}

export const Header = {
  size: 0,
  type: 4,
  version: 6,
  tsBootNs: 8,
  pid: 16,
  tgid: 20,
  ppid: 24,
  uid: 28,
  gid: 32,
  flags: 36,
  mntns: 40,
  cgroupId: 48,
  comm: 56,
  commLength: 16,
  length: 72,
} as const;

export const Exec = {
  filenameLength: 72,
  argsLength: 74,
  flags: 78,
  data: 80,
  argsTruncatedFlag: 1,
} as const;

export const Exit = { exitCode: 72, exitSignal: 76, durationNs: 80, length: 88 } as const;

export const Open = { ret: 72, flags: 76, mode: 80, pathLength: 84, path: 88 } as const;

export const Connect = {
  ret: 72,
  family: 76,
  port: 78,
  addr: 80,
  sockType: 96,
  length: 104,
} as const;

/**
 * Attribution records (cgroup_mkdir/rmdir of the container hierarchy): the
 * header's cgroupId is the cgroup made or removed. Parsed apart from the
 * event records (EventBatch.cgroupChanges), never exported.
 */
export const CgroupRecord = {
  mkdir: RecordType.cgroup_mkdir,
  rmdir: RecordType.cgroup_rmdir,
  hierarchyId: 72,
  pathLength: 76,
  path: 80,
} as const;

/** The per-container rate limit started (state 1) or stopped (state 0) dropping a container's records. */
export const Throttle = { state: 72, dropped: 80, length: 88, start: 1, stop: 0 } as const;

/** Smallest valid record of each type, used to reject truncated records. */
export const MIN_RECORD_LENGTH: Record<EventTypeName, number> = {
  exec: Exec.data,
  exit: Exit.length,
  open: Open.path,
  connect: Connect.length,
  throttle: Throttle.length,
};

export const RECORD_ALIGNMENT = 8;
