/**
 * Every log-record attribute key this agent emits, in one table. Writers
 * address keys by index so each can precompute its own encoding of the key
 * once; the native OTLP encoder (native/addon/otlp_logs.c, `attr_keys`)
 * spells the same keys. docs/otlp-mapping.md documents each one.
 */
export const ATTRIBUTE_KEYS = [
  'process.pid',
  'thread.id',
  'process.parent_pid',
  'process.executable.name',
  'process.executable.path',
  'process.command_args',
  'process.exit.code',
  'process.real_user.id',
  'process.real_group.id',
  'file.path',
  'network.peer.address',
  'network.peer.port',
  'network.transport',
  'network.type',
  'error.type',
  'linux.mnt_ns.id',
  'linux.cgroup.id',
  'linux.process.args_truncated',
  'linux.process.exit_signal',
  'linux.process.duration_ns',
  'linux.open.flags',
  'ebpf_container_otel.throttle.state',
  'ebpf_container_otel.throttle.dropped',
] as const;

export type AttributeName = (typeof ATTRIBUTE_KEYS)[number];

function indexOf<K extends AttributeName>(name: K): number {
  return ATTRIBUTE_KEYS.indexOf(name);
}

/** Attribute key indices, by short name. */
export const Attr = {
  pid: indexOf('process.pid'),
  threadId: indexOf('thread.id'),
  parentPid: indexOf('process.parent_pid'),
  executableName: indexOf('process.executable.name'),
  executablePath: indexOf('process.executable.path'),
  commandArgs: indexOf('process.command_args'),
  exitCode: indexOf('process.exit.code'),
  realUserId: indexOf('process.real_user.id'),
  realGroupId: indexOf('process.real_group.id'),
  filePath: indexOf('file.path'),
  peerAddress: indexOf('network.peer.address'),
  peerPort: indexOf('network.peer.port'),
  transport: indexOf('network.transport'),
  networkType: indexOf('network.type'),
  errorType: indexOf('error.type'),
  mntns: indexOf('linux.mnt_ns.id'),
  cgroupId: indexOf('linux.cgroup.id'),
  argsTruncated: indexOf('linux.process.args_truncated'),
  exitSignal: indexOf('linux.process.exit_signal'),
  durationNs: indexOf('linux.process.duration_ns'),
  openFlags: indexOf('linux.open.flags'),
  throttleState: indexOf('ebpf_container_otel.throttle.state'),
  throttleDropped: indexOf('ebpf_container_otel.throttle.dropped'),
} as const;
