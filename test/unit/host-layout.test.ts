/**
 * Finding the host from inside a container (src/host/layout.ts), the host's mount namespace
 * (src/host/namespaces.ts) and the capability diagnosis (src/host/capabilities.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { bpfDeniedCause, enrichmentCapabilityWarnings, SYS_PTRACE_MISSING } from '../../src/host/capabilities';
import {
  cachedKernelNamespaces,
  describeMissingMount,
  hostPathCandidates,
  type LayoutProbe,
  missingHostMounts,
  resolveHostLayout,
  runsInContainer,
} from '../../src/host/layout';
import { determineHostMountNamespace } from '../../src/host/namespaces';
import { type KernelNamespaces } from '../../src/native';
import { createRuntimeClients, type RuntimeClient } from '../../src/processors/container-enrichment/runtime';
import { capturingLogger, refusingSocket } from '../runtimes/helpers';
import { requires } from '../harness/requires';

/** A filesystem where `procfs` and `dirs` exist; `outside`: whether the agent is outside the host's mount namespace. */
function probe(options: {
  procfs?: string[];
  dirs?: string[];
  files?: string[];
  env?: Record<string, string>;
  outside?: boolean;
}): LayoutProbe {
  return {
    exists: (p) => (options.files ?? []).includes(p) || (options.dirs ?? []).includes(p),
    isProcfs: (p) => (options.procfs ?? []).includes(p),
    isDir: (p) => (options.dirs ?? []).includes(p),
    env: options.env ?? {},
    outsideHostMountNamespace: () => options.outside,
  };
}

describe('host layout', () => {
  test('on the host: /proc, /run, /sys/fs/cgroup, and nothing is missing', () => {
    const p = probe({ outside: false, files: ['/.dockerenv'] });
    const layout = resolveHostLayout({}, p);
    expect(layout).toMatchObject({ root: '/', proc: '/proc', run: '/run', cgroup: '/sys/fs/cgroup' });
    // Some hosts are made from container images and keep /.dockerenv: the kernel's answer wins.
    expect(runsInContainer(layout.proc, p)).toBe(false);
    expect(missingHostMounts(layout, p)).toEqual([]);
  });

  test('in a container with the conventional mounts: /host/proc, /host/run, /host/sys/fs/cgroup', () => {
    const p = probe({ outside: true, procfs: ['/host/proc'], dirs: ['/host/run', '/host/sys/fs/cgroup'] });
    const layout = resolveHostLayout({}, p);
    expect(layout).toMatchObject({ root: '/', proc: '/host/proc', run: '/host/run', cgroup: '/host/sys/fs/cgroup', unmounted: [] });
    expect(missingHostMounts(layout, p)).toEqual([]);
  });

  test('in a container without /host/run: one missing mount, named with its effect and how to add it', () => {
    const p = probe({ outside: true, procfs: ['/host/proc'], dirs: ['/host/sys/fs/cgroup'] });
    const layout = resolveHostLayout({}, p);
    expect(layout.run).toBe('/run');
    const missing = missingHostMounts(layout, p);
    expect(missing.map((m) => m.mount)).toEqual(['/host/run']);
    const line = describeMissingMount(missing[0]);
    expect(line).toContain("without the host's /run at /host/run");
    expect(line).toContain('no container runtime socket');
    expect(line).toContain('-v /run:/host/run:ro');
    expect(line).toContain('hostPath');
  });

  test("a directory that is no procfs is not the host's /proc", () => {
    const p = probe({ outside: true, dirs: ['/host/proc', '/host/run', '/host/sys/fs/cgroup'] });
    expect(resolveHostLayout({}, p).proc).toBe('/proc');
    expect(missingHostMounts(resolveHostLayout({}, p), p).map((m) => m.mount)).toEqual(['/host/proc']);
  });

  test('config wins over the environment, the environment over what is mounted; host_root puts everything under it', () => {
    const p = probe({ outside: true, procfs: ['/host/proc'], dirs: ['/host/run'], env: { HOST_RUN: '/hostrun', HOST_PROC: '/hp' } });
    expect(resolveHostLayout({}, p)).toMatchObject({ proc: '/hp', run: '/hostrun' });
    expect(resolveHostLayout({ hostProc: '/cfgproc', hostRun: '/cfgrun' }, p)).toMatchObject({ proc: '/cfgproc', run: '/cfgrun' });
    expect(resolveHostLayout({ hostRoot: '/rootfs/' }, probe({}))).toMatchObject({
      root: '/rootfs',
      proc: '/rootfs/proc',
      run: '/rootfs/run',
      cgroup: '/rootfs/sys/fs/cgroup',
    });
    expect(resolveHostLayout({}, probe({ env: { HOST_ROOT: '/host' } }))).toMatchObject({
      root: '/host',
      proc: '/host/proc',
      run: '/host/run',
    });
  });

  test("without the kernel's answer, the runtimes' marker files tell a container", () => {
    expect(runsInContainer('/proc', probe({ files: ['/run/.containerenv'] }))).toBe(true);
    expect(runsInContainer('/proc', probe({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } }))).toBe(true);
    expect(runsInContainer('/proc', probe({}))).toBe(false);
  });

  test("/run/… and /var/run/… paths are looked up under the host's /run first", () => {
    expect(hostPathCandidates({ root: '/', run: '/host/run' }, '/var/run/docker.sock')).toEqual([
      '/host/run/docker.sock',
      '/var/run/docker.sock',
    ]);
    expect(hostPathCandidates({ root: '/', run: '/host/run' }, '/run/containerd/containerd.sock')).toEqual([
      '/host/run/containerd/containerd.sock',
      '/run/containerd/containerd.sock',
    ]);
    expect(hostPathCandidates({ root: '/', run: '/run' }, '/run/crio/crio.sock')).toEqual(['/run/crio/crio.sock']);
    expect(hostPathCandidates({ root: '/host', run: '/host/run' }, '/var/lib/lxc')).toEqual(['/host/var/lib/lxc']);
  });
});

describe("runtime sockets under the host's /run", () => {
  let dir: string;
  const clients: RuntimeClient[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'eco-hostrun-'));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  test("Docker's socket is found in a mounted /run (only /run mounted, as the DaemonSet does), and /var/run → /run is one socket", () => {
    const run = path.join(dir, 'hostrun');
    refusingSocket(path.join(run, 'docker.sock'));
    refusingSocket(path.join(run, 'containerd/containerd.sock'));
    const { logger } = capturingLogger();
    const found = createRuntimeClients({ lxc: { enabled: false } }, { hostRoot: '', hostProc: '/proc', hostRun: run, logger });
    clients.push(...found);
    expect(found.map((c) => [c.runtime, c.endpoint]).sort()).toEqual(
      [
        ['containerd', `${run}/containerd/containerd.sock`],
        ['docker', `${run}/docker.sock`],
      ].sort(),
    );

    // A host root whose var/run links to run (every current distribution): one Docker client, not two.
    const root = path.join(dir, 'root');
    refusingSocket(path.join(root, 'run/docker.sock'));
    mkdirSync(path.join(root, 'var'), { recursive: true });
    symlinkSync('../run', path.join(root, 'var/run'));
    const again = createRuntimeClients({ lxc: { enabled: false } }, { hostRoot: root, hostProc: '/proc', logger });
    clients.push(...again);
    expect(again.map((c) => [c.runtime, c.endpoint])).toEqual([['docker', `${root}/run/docker.sock`]]);
  });
});

describe("the host's mount namespace", () => {
  const kernel = (k: Partial<KernelNamespaces>) => () => ({
    selfMntns: 10,
    initialMntns: 20,
    pidnsInitMntns: 30,
    pidnsInitPid: 1,
    pidnsLevel: 0,
    ...k,
  });

  test("PID 1's from procfs when it can be read", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'eco-proc-'));
    try {
      mkdirSync(path.join(dir, '1/ns'), { recursive: true });
      symlinkSync('/proc/self/ns/mnt', path.join(dir, '1/ns/mnt'));
      const found = determineHostMountNamespace(dir, kernel({}));
      expect(found).toMatchObject({ source: 'procfs', inode: statSync('/proc/self/ns/mnt').ino });
      expect(found.warning).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("else the kernel's: the init of the agent's PID namespace (hostPID), with no warning", () => {
    const found = determineHostMountNamespace('/nonexistent', kernel({ pidnsLevel: 0 }));
    expect(found).toMatchObject({ source: 'kernel', inode: 30 });
    expect(found.warning).toBeUndefined();
    // A nested node (kind): the node's init, in another mount namespace than the agent.
    expect(determineHostMountNamespace('/nonexistent', kernel({ pidnsLevel: 1, pidnsInitMntns: 31 }))).toMatchObject({
      source: 'kernel',
      inode: 31,
    });
  });

  test('a container without hostPID: its own init is no witness; the initial mount namespace, warned', () => {
    const found = determineHostMountNamespace('/nonexistent', kernel({ pidnsLevel: 1, pidnsInitMntns: 10 }));
    expect(found).toMatchObject({ source: 'kernel-initial', inode: 20 });
    expect(found.warning).toMatch(/hostPID: true in Kubernetes, --pid host/);
  });

  test("neither procfs nor the kernel: this agent's own, warned with both reasons", () => {
    const found = determineHostMountNamespace('/proc', () => {
      throw new Error('kernelNamespaces: loading the BPF program failed (Operation not permitted)');
    });
    if (found.source === 'procfs') return; // PID 1 readable here: nothing to fall back from
    expect(found).toMatchObject({ source: 'self', inode: statSync('/proc/self/ns/mnt').ino });
    expect(found.warning).toMatch(/taking this agent's mount namespace .*the kernel could not be asked either: .*Operation not permitted/);
  });

  requires('bpf').test(
    "on this machine (a host whose PID 1 refuses ptrace even to root): the kernel's answer is this shell's namespace, so host processes stay the host's",
    () => {
      const k = cachedKernelNamespaces();
      expect(k.pidnsLevel).toBe(0);
      expect(k.pidnsInitPid).toBe(1);
      expect(k.selfMntns).toBe(statSync('/proc/self/ns/mnt').ino);
      const found = determineHostMountNamespace('/proc', cachedKernelNamespaces);
      expect(found.inode).toBe(statSync('/proc/self/ns/mnt').ino);
      expect(found.warning).toBeUndefined();
    },
  );
});

describe('capabilities by their effect', () => {
  const status = (capEff: string, seccomp = 0) => `Name:\tnode\nCapEff:\t${capEff}\nSeccomp:\t${seccomp}\n`;
  const ALL = '000001ffffffffff';
  const SYS_ADMIN_ONLY = '0000000000200000';
  const BPF_PERFMON = (1n << 38n) | (1n << 39n);

  test('EPERM from bpf(2) is named by its cause, never as a missing kernel feature', () => {
    expect(bpfDeniedCause(status('0000000000000000'))).toMatch(/^CAP_BPF and CAP_PERFMON are missing .*CAP_SYS_ADMIN/);
    expect(bpfDeniedCause(status(BPF_PERFMON.toString(16).padStart(16, '0'), 2))).toMatch(
      /seccomp filter refuses bpf\(2\).*seccomp=unconfined/,
    );
    expect(bpfDeniedCause(status(SYS_ADMIN_ONLY, 0))).toMatch(/security module/);
    for (const s of [status('0'), status(ALL, 2)]) expect(bpfDeniedCause(s)).not.toMatch(/kernel (lacks|has no)/);
  });

  test('a missing CAP_SYS_PTRACE is a start-up warning saying what it costs', () => {
    expect(enrichmentCapabilityWarnings(BigInt(`0x${SYS_ADMIN_ONLY}`))).toEqual([SYS_PTRACE_MISSING]);
    expect(SYS_PTRACE_MISSING).toMatch(/mount namespace is learned from its first event only/);
    expect(enrichmentCapabilityWarnings(BigInt(`0x${ALL}`))).toEqual([]);
  });
});
