import { readFileSync } from 'node:fs';

/**
 * The capabilities the agent uses, why, and what is lost without each — one table for `doctor`,
 * the startup log and the docs (deploy/kubernetes/README.md repeats it for humans).
 */
export const CAP_BITS = {
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

export type CapName = keyof typeof CAP_BITS;

export interface CapabilityUse {
  cap: CapName;
  /** What the agent does with it. */
  why: string;
  /** What is lost without it (the effect named in logs and `doctor`). */
  without: string;
}

export const CAPABILITY_USES: readonly CapabilityUse[] = [
  {
    cap: 'CAP_BPF',
    why: 'bpf(2): load the BPF programs, create the ring buffer and the pinned containers map (kernel 5.8+; older kernels and engines: CAP_SYS_ADMIN)',
    without: 'no BPF program loads: no events at all (unless CAP_SYS_ADMIN stands in)',
  },
  {
    cap: 'CAP_PERFMON',
    why: 'attach to tracepoints (perf_event_open) and read kernel memory from the programs (task fields) (kernel 5.8+; else CAP_SYS_ADMIN)',
    without: 'the tracing programs are refused: no events at all (unless CAP_SYS_ADMIN stands in)',
  },
  {
    cap: 'CAP_SYS_ADMIN',
    why: 'stands in for CAP_BPF + CAP_PERFMON where the container engine does not know them (Docker < 23, containerd < 1.7 on some distributions) or the kernel is older than 5.8',
    without: 'nothing, when CAP_BPF and CAP_PERFMON are there',
  },
  {
    cap: 'CAP_SYS_PTRACE',
    why: "read other processes' /proc/<pid>/ns/mnt (a ptrace access check: every process whose capabilities are not a subset of the agent's)",
    without:
      "other processes' mount namespaces cannot be read: a container's mount namespace is learned from its first event only (its entry in the pinned containers map other tools read appears then, not when its runtime reports it; `containers` shows no MNTNS). " +
      'Enrichment itself keys containers by cgroup id and does not need it',
  },
];

/** The effective set of this process (`CapEff` of /proc/self/status). */
export function effectiveCapabilities(procStatus: string = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasCap(effective: bigint, cap: CapName): boolean {
  return ((effective >> BigInt(CAP_BITS[cap])) & 1n) === 1n;
}

/** BPF needs CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN in their place. */
export function canUseBpf(effective: bigint): boolean {
  return hasCap(effective, 'CAP_SYS_ADMIN') || (hasCap(effective, 'CAP_BPF') && hasCap(effective, 'CAP_PERFMON'));
}

export function capabilityUse(cap: CapName): CapabilityUse {
  return CAPABILITY_USES.find((u) => u.cap === cap)!;
}

/** The warning the startup log and `doctor` give for a missing CAP_SYS_PTRACE. */
export const SYS_PTRACE_MISSING = `CAP_SYS_PTRACE is missing: ${capabilityUse('CAP_SYS_PTRACE').without} (add SYS_PTRACE: securityContext.capabilities.add in Kubernetes, --cap-add SYS_PTRACE with docker/podman)`;

/** Startup warnings about the capabilities enrichment uses ([] when all are there). */
export function enrichmentCapabilityWarnings(effective: bigint = effectiveCapabilities()): string[] {
  return hasCap(effective, 'CAP_SYS_PTRACE') ? [] : [SYS_PTRACE_MISSING];
}

/** `Seccomp:` of /proc/self/status: 0 none, 1 strict, 2 filter (a runtime's profile). */
export function seccompMode(procStatus: string = readFileSync('/proc/self/status', 'utf8')): number {
  const m = /^Seccomp:\s*(\d+)$/m.exec(procStatus);
  return m ? Number(m[1]) : 0;
}

/**
 * Why bpf(2) says EPERM, from what this process has: missing capabilities, else a seccomp
 * filter (the default profiles of Docker, Podman and containerd allow bpf(2) only with
 * CAP_SYS_ADMIN), else something outside the process (an LSM, kernel.unprivileged_bpf_disabled).
 * Never "the kernel lacks the feature".
 */
export function bpfDeniedCause(procStatus: string = readFileSync('/proc/self/status', 'utf8')): string {
  const eff = effectiveCapabilities(procStatus);
  if (!canUseBpf(eff)) {
    const missing = (['CAP_BPF', 'CAP_PERFMON'] as const).filter((c) => !hasCap(eff, c));
    return `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing (and no CAP_SYS_ADMIN stands in): add CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN where the engine knows no CAP_BPF (deploy/kubernetes/README.md)`;
  }
  if (seccompMode(procStatus) === 2) {
    return (
      'the capabilities are effective but a seccomp filter refuses bpf(2) (the default profiles allow it only with CAP_SYS_ADMIN): ' +
      'run unconfined (docker/podman --security-opt seccomp=unconfined; Kubernetes securityContext.seccompProfile.type: Unconfined) or with a profile that allows bpf and perf_event_open'
    );
  }
  return 'the capabilities are effective and no seccomp filter is on: a security module (AppArmor, SELinux, lockdown) refuses BPF';
}
