/**
 * Fixed offsets of the kernel record (native/bpf/events.h). The layout test
 * compiles events.h and compares every offset with these constants.
 */
export const EVENT_VERSION = 1;

export const EventType = { exec: 1, exit: 2, open: 3, connect: 4, throttle: 5 } as const;
export type EventTypeName = keyof typeof EventType;
export const EVENT_TYPE_NAMES: readonly EventTypeName[] = ['exec', 'exit', 'open', 'connect', 'throttle'];

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
export const CgroupRecord = { mkdir: 6, rmdir: 7, hierarchyId: 72, pathLength: 76, path: 80 } as const;

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
