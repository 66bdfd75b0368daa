import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { bpfDeniedCause, CAP_BITS, capabilityUse } from '../host/capabilities';
import { type ContainerHierarchy, detectContainerHierarchy } from '../host/cgroups';
import { type HostLayout, type MissingMount, HOST_MOUNTS, hostPathCandidates, missingHostMounts, resolveHostLayout } from '../host/layout';
import { determineHostMountNamespace, type KernelNamespacesSource } from '../host/namespaces';
import { BREAK_PROGRAMS_ENV, type RingBufferSupport } from '../native';
import { WELL_KNOWN, listUserPodmanSockets } from '../processors/container-enrichment/runtime/discovery';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn/fail; '' when ok. */
  fix: string;
}

/** Capability bit numbers (linux/capability.h). */
const CAPS = CAP_BITS;

/**
 * Sockets the runtime clients discover (their own list), each where the agent sees it: under
 * the host's /run for /run/… and /var/run/… (one file: shown once), else under the host root.
 */
function knownRuntimeSockets(layout: Pick<HostLayout, 'root' | 'run'>): Array<{ runtime: string; path: string }> {
  const seen = new Set<string>();
  const out: Array<{ runtime: string; path: string }> = [];
  const add = (runtime: string, wellKnown: string) => {
    const candidates = hostPathCandidates(layout, wellKnown);
    const p = candidates.find((c) => existsSync(c)) ?? candidates[0];
    if (!seen.has(p)) out.push({ runtime, path: p });
    seen.add(p);
  };
  for (const p of WELL_KNOWN.containerd) add('containerd', p);
  for (const p of WELL_KNOWN.cri) add('cri', p);
  for (const p of WELL_KNOWN.docker) add('docker', p);
  for (const p of WELL_KNOWN.podman) add('podman', p);
  for (const p of listUserPodmanSockets(hostPathCandidates(layout, WELL_KNOWN.podmanUserDir)[0])) add('podman (rootless)', p);
  return out;
}

export interface DoctorOptions {
  hostRoot?: string;
  procStatus?: string;
  mounts?: string;
  kernelRelease?: string;
  /** Native probe of BPF program loadability; absent when the addon is not built. */
  probePrograms?: () => Array<{ program: string; event: string; loaded: boolean; reason: string }>;
  /** Native probe of BPF_MAP_TYPE_RINGBUF support; absent when the addon is not built. */
  probeRingBuffer?: () => RingBufferSupport;
  /** Programs the probe was made to fail on purpose (EBPF_CONTAINER_OTEL_BREAK_PROGRAMS). */
  brokenOnPurpose?: string[];
  addonError?: string;
  /** Why the OTLP exporter's encoder addon (otlp_logs.node) cannot load, undefined when it can; absent: not checked. */
  otlpEncoderError?: () => string | undefined;
  /** The cgroup hierarchy whose ids identify containers (src/host/cgroups.ts). */
  hierarchy?: ContainerHierarchy;
  /** Where the host's /proc, /run and cgroup tree are (src/host/layout.ts); resolved here when absent. */
  layout?: HostLayout;
  /** Conventional host mounts missing in a container; computed from the layout when absent. */
  missingMounts?: MissingMount[];
  /** The kernel's answer for the host's mount namespace (absent: procfs only). */
  kernelNamespaces?: KernelNamespacesSource;
}

export function effectiveCapabilities(procStatus: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function checkCapabilities(procStatus: string, uid: number): CheckResult[] {
  const eff = effectiveCapabilities(procStatus);
  const has = (bit: number) => (eff >> BigInt(bit)) & 1n;
  const results: CheckResult[] = [];
  results.push(
    uid === 0
      ? { check: 'root', status: 'ok', detail: 'running as uid 0', fix: '' }
      : {
          check: 'root',
          status: 'warn',
          detail: `running as uid ${uid}`,
          fix: 'run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN',
        },
  );
  const bpfCapable = has(CAPS.CAP_SYS_ADMIN) || (has(CAPS.CAP_BPF) && has(CAPS.CAP_PERFMON));
  for (const name of ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_ADMIN'] as const) {
    const present = has(CAPS[name]) === 1n;
    const standIn = name === 'CAP_SYS_ADMIN' ? 'CAP_BPF and CAP_PERFMON are there instead' : 'CAP_SYS_ADMIN stands in for it';
    results.push({
      check: `capability ${name}`,
      status: present ? 'ok' : bpfCapable ? 'warn' : 'fail',
      detail: present
        ? `effective (${capabilityUse(name).why})`
        : `missing from the effective set: ${bpfCapable ? standIn : 'no BPF program can load (it needs CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN): no events at all'}`,
      fix: present
        ? ''
        : `add ${name} (securityContext.capabilities.add in Kubernetes, --cap-add with docker/podman; deploy/kubernetes/README.md lists the sets that work)`,
    });
  }
  const ptrace = has(CAPS.CAP_SYS_PTRACE) === 1n;
  results.push({
    check: 'capability CAP_SYS_PTRACE',
    status: ptrace ? 'ok' : 'warn',
    detail: ptrace ? `effective (${capabilityUse('CAP_SYS_PTRACE').why})` : `missing: ${capabilityUse('CAP_SYS_PTRACE').without}`,
    fix: ptrace ? '' : 'add SYS_PTRACE (securityContext.capabilities.add in Kubernetes, --cap-add SYS_PTRACE with docker/podman)',
  });
  const resource = has(CAPS.CAP_SYS_RESOURCE) === 1n;
  results.push({
    check: 'capability CAP_SYS_RESOURCE',
    status: resource ? 'ok' : 'warn',
    detail: resource
      ? 'effective'
      : 'missing: locked memory is limited to the hard RLIMIT_MEMLOCK (kernels >= 5.11 account BPF memory to cgroups, so this is usually fine)',
    fix: resource ? '' : 'optional: add CAP_SYS_RESOURCE on kernels older than 5.11',
  });
  return results;
}

export function checkKernel(release: string): CheckResult {
  const m = /^(\d+)\.(\d+)/.exec(release);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  // 5.8 brought the BPF ring buffer, 5.11 the BTF task pointer (bpf_get_current_task_btf), 5.13 task local storage from tracepoints.
  if (atLeast(5, 13)) return { check: 'kernel version', status: 'ok', detail: `${release} (the BPF programs need >= 5.13)`, fix: '' };
  return {
    check: 'kernel version',
    status: 'fail',
    detail: `${release} is older than 5.13: the BPF programs need the ring buffer (5.8), the BTF task pointer (5.11) and task local storage from tracepoints (5.13)`,
    fix: 'run on kernel 5.13 or newer',
  };
}

export function checkBtf(hostRoot: string): CheckResult {
  const file = path.join(hostRoot, '/sys/kernel/btf/vmlinux');
  return existsSync(file)
    ? { check: 'kernel BTF', status: 'ok', detail: `${file} present (CO-RE relocations work)`, fix: '' }
    : { check: 'kernel BTF', status: 'fail', detail: `${file} missing`, fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' };
}

export function checkMount(mounts: string, type: string, dirs: string[], fix: string): CheckResult {
  const found = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[2] === type && dirs.includes(f[1]));
  return found
    ? { check: `${type} mounted`, status: 'ok', detail: `at ${found[1]}`, fix: '' }
    : { check: `${type} mounted`, status: 'fail', detail: `not mounted at ${dirs.join(' or ')}`, fix };
}

export function checkTracepoints(mounts: string): CheckResult {
  const dirs = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'tracefs')
    .map((f) => f[1]);
  const needed = ['sched/sched_process_exec', 'sched/sched_process_exit', 'syscalls/sys_enter_openat', 'syscalls/sys_enter_connect'];
  for (const dir of dirs) {
    const missing = needed.filter((tp) => !existsSync(path.join(dir, 'events', tp)));
    if (missing.length === 0) return { check: 'tracepoints', status: 'ok', detail: `${needed.join(', ')} under ${dir}/events`, fix: '' };
    return {
      check: 'tracepoints',
      status: 'warn',
      detail: `missing under ${dir}/events: ${missing.join(', ')}`,
      fix: 'the matching event types will be skipped; use a kernel with CONFIG_FTRACE_SYSCALLS',
    };
  }
  return {
    check: 'tracepoints',
    status: 'fail',
    detail: 'tracefs not mounted, tracepoints cannot be listed',
    fix: 'mount -t tracefs tracefs /sys/kernel/tracing',
  };
}

function checkSocket(runtime: string, file: string): Promise<CheckResult> {
  const check = `runtime socket ${runtime}`;
  if (!existsSync(file)) {
    return Promise.resolve({
      check,
      status: 'warn',
      detail: `${file} absent (${runtime} not on this host)`,
      fix: `if ${runtime} runs here, set its socket in processors.container_enrichment.runtimes or mount the host's /run`,
    });
  }
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch {
    return Promise.resolve({
      check,
      status: 'fail',
      detail: `${file}: permission denied`,
      fix: 'run as root or mount the socket with write access',
    });
  }
  return new Promise((resolve) => {
    const sock = connect(file);
    const done = (r: CheckResult) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(1000, () =>
      done({ check, status: 'fail', detail: `${file}: connect timed out`, fix: `check that ${runtime} is running` }),
    );
    sock.once('connect', () => done({ check, status: 'ok', detail: `${file} accepts connections`, fix: '' }));
    sock.once('error', (err: NodeJS.ErrnoException) =>
      done({ check, status: 'fail', detail: `${file}: ${err.code ?? err.message}`, fix: `start ${runtime}, or remove the stale socket` }),
    );
  });
}

const BUILD_ADDON_FIX = 'run npm run build:addon (needs clang, libbpf-dev, bpftool: scripts/setup.sh installs them)';

/** The programs' one event transport; a kernel without it fails every program, for this one reason. */
export function checkRingBuffer(options: DoctorOptions): CheckResult {
  const check = 'ring buffer';
  if (!options.probeRingBuffer)
    return { check, status: 'fail', detail: `not probed: ${options.addonError ?? 'the native addon is not built'}`, fix: BUILD_ADDON_FIX };
  let r: RingBufferSupport;
  try {
    r = options.probeRingBuffer();
  } catch (err) {
    r = { supported: false, error: (err as Error).message };
  }
  if (r.supported)
    return { check, status: 'ok', detail: "BPF_MAP_TYPE_RINGBUF maps can be created (the BPF programs' event transport)", fix: '' };
  if (r.error) {
    return {
      check,
      status: 'fail',
      detail: `cannot create a BPF_MAP_TYPE_RINGBUF map: ${r.error}`,
      fix: /not permitted|permission denied/i.test(r.error)
        ? `not permitted (a missing privilege, not a missing kernel feature): ${bpfDeniedCause(options.procStatus)}`
        : 'run as root on kernel 5.13 or newer with BPF enabled',
    };
  }
  return {
    check,
    status: 'fail',
    detail: 'this kernel has no BPF_MAP_TYPE_RINGBUF (added in 5.8); the BPF programs report every event through one',
    fix: 'run on kernel 5.13 or newer',
  };
}

/** exporters.otlp encodes with an addon of its own, apart from the BPF one: a partial build can lack just it. */
function checkOtlpEncoder(error: string | undefined): CheckResult {
  const check = 'otlp encoder addon';
  if (error === undefined) return { check, status: 'ok', detail: 'loads (exporters.otlp can encode)', fix: '' };
  return { check, status: 'fail', detail: error, fix: 'run npm run build:addon (scripts/setup.sh does)' };
}

function checkPrograms(options: DoctorOptions): CheckResult[] {
  if (!options.probePrograms) {
    return [{ check: 'native addon', status: 'fail', detail: options.addonError ?? 'not built', fix: BUILD_ADDON_FIX }];
  }
  const forced = new Set(options.brokenOnPurpose ?? []);
  try {
    return options.probePrograms().map((p): CheckResult => {
      const check = `bpf program ${p.program}`;
      if (p.loaded) return { check, status: 'ok', detail: `loads and attaches (${p.event} events)`, fix: '' };
      if (forced.has(p.program)) {
        return {
          check,
          status: 'warn',
          detail: `skipped: ${p.reason} (refused on purpose: ${BREAK_PROGRAMS_ENV} names it)`,
          fix: `unset ${BREAK_PROGRAMS_ENV} (it makes the kernel refuse the programs it names, for tests and demonstrations)`,
        };
      }
      return { check, status: 'warn', detail: `skipped: ${p.reason}`, fix: programFix(p.event, p.reason, options.procStatus) };
    });
  } catch (err) {
    return [
      {
        check: 'bpf programs',
        status: 'fail',
        detail: (err as Error).message,
        fix: 'run as root with CAP_BPF and CAP_PERFMON, on a kernel with BTF',
      },
    ];
  }
}

/** What to do about a program that is not running, by why: only a refusal is the kernel's doing. */
function programFix(event: string, reason: string, procStatus?: string): string {
  const pair = /its pair (\S+) is not running/.exec(reason);
  if (pair) return `runs only together with ${pair[1]}: see its line`;
  if (/Operation not permitted|Permission denied/.test(reason))
    return `not permitted: ${bpfDeniedCause(procStatus)}; ${event} events are off until then`;
  if (/^(load|attach) failed/.test(reason))
    return `${event} events are unavailable on this kernel (see the detail); the other event types still work`;
  return `${event} events are off for this reason; the other event types still work`;
}

/** Containers are told apart by their cgroup ids in one hierarchy; the tree must be readable for those made before the agent. */
export function checkContainerHierarchy(h: ContainerHierarchy): CheckResult {
  const check = 'container identity';
  const which =
    h.controller === 'unified' ? 'the unified cgroup v2 hierarchy' : `the cgroup v1 ${h.controller} hierarchy (id ${h.hierarchyId})`;
  if (h.mountPath) return { check, status: 'ok', detail: `containers keyed by cgroup id in ${which}, mounted at ${h.mountPath}`, fix: '' };
  return {
    check,
    status: 'warn',
    detail: `containers keyed by cgroup id in ${which}, which is not mounted here: containers started before the agent are found through /proc only`,
    fix: "mount the host's /sys/fs/cgroup (in Kubernetes: hostPath volume /sys/fs/cgroup at <host_root>/sys/fs/cgroup)",
  };
}

/** In a container: one line per conventional host mount, missing (with its effect and how to add it) or found. */
export function checkHostMounts(layout: HostLayout, missing: MissingMount[]): CheckResult[] {
  return (Object.keys(HOST_MOUNTS) as Array<keyof typeof HOST_MOUNTS>).map((which): CheckResult => {
    const m = missing.find((x) => x.mount === HOST_MOUNTS[which]);
    if (m)
      return {
        check: `host mount ${m.mount}`,
        status: 'warn',
        detail: `the host's ${m.hostPath} is not mounted at ${m.mount}: ${m.effect}`,
        fix: m.fix,
      };
    return {
      check: `host mount ${HOST_MOUNTS[which]}`,
      status: 'ok',
      detail: `the host's ${which === 'cgroup' ? '/sys/fs/cgroup' : `/${which}`} is read at ${layout[which]}`,
      fix: '',
    };
  });
}

/** Which mount namespace is the host's, and how that was found (src/host/namespaces.ts). */
export function checkHostMountNamespace(hostProc: string, kernel?: KernelNamespacesSource): CheckResult {
  const check = 'host mount namespace';
  try {
    const found = determineHostMountNamespace(hostProc, kernel);
    if (found.warning) return { check, status: 'warn', detail: `${found.inode}: ${found.detail}`, fix: found.warning };
    return { check, status: 'ok', detail: `${found.inode}: ${found.detail}`, fix: '' };
  } catch (err) {
    return {
      check,
      status: 'fail',
      detail: (err as Error).message,
      fix: "point host_proc at the host's procfs (mount the host's /proc at /host/proc)",
    };
  }
}

export async function runChecks(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const hostRoot = options.hostRoot ?? '';
  const mounts = options.mounts ?? readFileSync('/proc/mounts', 'utf8');
  const layout = options.layout ?? resolveHostLayout(hostRoot ? { hostRoot } : {});
  const missing = options.missingMounts ?? missingHostMounts(layout);
  const inContainer = missing.length > 0 || layout.proc !== '/proc' || layout.run !== '/run';
  const hostFs = (dir: string, how: string) =>
    inContainer
      ? `mount the host's ${dir} at ${dir} (docker/podman -v ${dir}:${dir}${how}; Kubernetes: a hostPath volume, as deploy/kubernetes/base/daemonset.yaml has)`
      : '';
  const results: CheckResult[] = [
    ...checkCapabilities(options.procStatus ?? readFileSync('/proc/self/status', 'utf8'), process.getuid?.() ?? -1),
    checkKernel(options.kernelRelease ?? os.release()),
    checkBtf(hostRoot),
    checkMount(
      mounts,
      'bpf',
      ['/sys/fs/bpf'],
      hostFs('/sys/fs/bpf', ':rshared') || 'mount -t bpf bpf /sys/fs/bpf (in Kubernetes: hostPath volume /sys/fs/bpf)',
    ),
    checkMount(
      mounts,
      'tracefs',
      ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'],
      hostFs('/sys/kernel/tracing', ':ro') || 'mount -t tracefs tracefs /sys/kernel/tracing',
    ),
    checkTracepoints(mounts),
    ...(inContainer ? checkHostMounts(layout, missing) : []),
    checkHostMountNamespace(layout.proc, options.kernelNamespaces),
    checkContainerHierarchy(options.hierarchy ?? detectContainerHierarchy(layout.cgroup)),
    checkRingBuffer(options),
    ...checkPrograms(options),
    ...(options.otlpEncoderError ? [checkOtlpEncoder(options.otlpEncoderError())] : []),
  ];
  results.push(...(await Promise.all(knownRuntimeSockets(layout).map((s) => checkSocket(s.runtime, s.path)))));
  return results;
}
