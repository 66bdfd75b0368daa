import { existsSync, statSync, statfsSync } from 'node:fs';
import * as path from 'node:path';
import { kernelNamespaces } from '../native';
import { determineHostMountNamespace, type KernelNamespacesSource } from './namespaces';

/**
 * Where the host's filesystems are, seen from the agent. On the host: `/proc`, `/run`,
 * `/sys/fs/cgroup`. In a container, by the convention Inspektor Gadget and Tracee use: the
 * host's `/proc` at `/host/proc`, `/run` at `/host/run` (runtime sockets), `/sys/fs/cgroup` at
 * `/host/sys/fs/cgroup` — taken when mounted, overridable (config `host_root`/`host_proc`/
 * `host_run`, env `HOST_ROOT`/`HOST_PROC`/`HOST_RUN`).
 */
export interface HostLayout {
  /** Prefix of the host's root filesystem ('/' when not mounted elsewhere). */
  root: string;
  /** The host's procfs. */
  proc: string;
  /** The host's /run (runtime sockets; /var/run is a link to it on every current distribution). */
  run: string;
  /** The host's cgroup tree (`sys/fs/cgroup`). */
  cgroup: string;
  /** Conventional mount points (HOST_MOUNTS) found empty and not overridden: missing if the agent runs in a container (missingHostMounts). */
  unmounted: Array<keyof typeof HOST_MOUNTS>;
}

export interface MissingMount {
  /** Where the agent looks, e.g. /host/run. */
  mount: string;
  /** The host directory to mount there. */
  hostPath: string;
  /** What is lost without it. */
  effect: string;
  /** docker/podman and Kubernetes how-to. */
  fix: string;
}

export interface LayoutOptions {
  hostRoot?: string;
  hostProc?: string;
  hostRun?: string;
}

/** The conventional mount points in a container. */
export const HOST_MOUNTS = { proc: '/host/proc', run: '/host/run', cgroup: '/host/sys/fs/cgroup' } as const;

export interface LayoutProbe {
  exists(p: string): boolean;
  isProcfs(p: string): boolean;
  isDir(p: string): boolean;
  env: Record<string, string | undefined>;
  /** Whether this process runs outside the host's mount namespace; undefined when that cannot be told. */
  outsideHostMountNamespace(proc: string): boolean | undefined;
}

let kernelAnswer: { value?: ReturnType<typeof kernelNamespaces>; error?: Error } | undefined;

/** The kernel's answer (src/native `kernelNamespaces`), asked once per process; throws what it threw. */
export const cachedKernelNamespaces: KernelNamespacesSource = () => {
  if (!kernelAnswer) {
    try {
      kernelAnswer = { value: kernelNamespaces() };
    } catch (err) {
      kernelAnswer = { error: err as Error };
    }
  }
  if (kernelAnswer.error) throw kernelAnswer.error;
  return kernelAnswer.value!;
};

const PROC_SUPER_MAGIC = 0x9fa0;

export const realProbe: LayoutProbe = {
  exists: (p) => existsSync(p),
  isProcfs: (p) => {
    try {
      return statfsSync(p).type === PROC_SUPER_MAGIC;
    } catch {
      return false;
    }
  },
  isDir: (p) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
  env: process.env,
  outsideHostMountNamespace: (proc) => {
    let host;
    try {
      host = determineHostMountNamespace(proc, cachedKernelNamespaces);
    } catch {
      return undefined;
    }
    if (host.source === 'self') return undefined;
    try {
      return statSync('/proc/self/ns/mnt').ino !== host.inode;
    } catch {
      return undefined;
    }
  },
};

/**
 * Whether the agent runs in a container: outside the host's mount namespace when that can be
 * told (a marker file proves little: some hosts are made from container images and keep
 * /.dockerenv), else the markers runtimes leave in containers.
 */
export function runsInContainer(proc: string, probe: LayoutProbe = realProbe): boolean {
  const outside = probe.outsideHostMountNamespace(proc);
  if (outside !== undefined) return outside;
  return (
    probe.exists('/.dockerenv') ||
    probe.exists('/run/.containerenv') ||
    probe.env.KUBERNETES_SERVICE_HOST !== undefined ||
    (probe.env.container !== undefined && probe.env.container !== '')
  );
}

function mountFix(hostPath: string, mount: string, readOnly = true): string {
  return (
    `mount the host's ${hostPath} at ${mount}: docker/podman run -v ${hostPath}:${mount}${readOnly ? ':ro' : ''}; ` +
    `Kubernetes: a hostPath volume (path: ${hostPath}) mounted at ${mount}${readOnly ? ', readOnly: true' : ''} (deploy/kubernetes/base/daemonset.yaml has it)`
  );
}

/**
 * The layout, from what is configured, then the environment (`HOST_ROOT`, `HOST_PROC`,
 * `HOST_RUN`), then what is mounted at the conventional places. A `host_root` other than `/`
 * means everything is under it. Reads no more than a few stat(2)s.
 */
export function resolveHostLayout(options: LayoutOptions = {}, probe: LayoutProbe = realProbe): HostLayout {
  const env = probe.env;
  const configuredRoot = options.hostRoot && options.hostRoot !== '/' ? options.hostRoot : undefined;
  const root = (configuredRoot ?? env.HOST_ROOT ?? '/').replace(/(.)\/+$/, '$1') || '/';
  const proc = options.hostProc || env.HOST_PROC;
  const run = options.hostRun || env.HOST_RUN;
  if (root !== '/') {
    return {
      root,
      proc: proc || path.join(root, 'proc'),
      run: run || path.join(root, 'run'),
      cgroup: path.join(root, 'sys/fs/cgroup'),
      unmounted: [],
    };
  }
  const unmounted: Array<keyof typeof HOST_MOUNTS> = [];
  const pick = (configured: string | undefined, which: keyof typeof HOST_MOUNTS, mounted: (p: string) => boolean, own: string): string => {
    if (configured) return configured;
    if (mounted(HOST_MOUNTS[which])) return HOST_MOUNTS[which];
    unmounted.push(which);
    return own;
  };
  return {
    root,
    proc: pick(proc, 'proc', probe.isProcfs, '/proc'),
    run: pick(run, 'run', probe.isDir, '/run'),
    cgroup: pick(undefined, 'cgroup', probe.isDir, '/sys/fs/cgroup'),
    unmounted,
  };
}

const MOUNT_EFFECTS: Record<keyof typeof HOST_MOUNTS, { hostPath: string; effect: string }> = {
  proc: {
    hostPath: '/proc',
    effect:
      "this container's /proc is read instead, which shows the host's processes only in the host PID namespace (hostPID: true, --pid host)",
  },
  run: {
    hostPath: '/run',
    effect:
      'no container runtime socket (containerd, CRI-O, Docker, Podman) can be found: containers are known only by what their cgroup paths say ' +
      '(container.id and runtime: no names, images, labels or pods)',
  },
  cgroup: {
    hostPath: '/sys/fs/cgroup',
    effect:
      "this container's own cgroup tree is read instead: containers that existed before the agent started are found through /proc only",
  },
};

/**
 * In a container, the conventional mounts that are absent (empty on the host): what each costs
 * and how to add it. Telling a container from the host asks the kernel (once per process).
 */
export function missingHostMounts(layout: HostLayout, probe: LayoutProbe = realProbe): MissingMount[] {
  if (layout.unmounted.length === 0 || !runsInContainer(layout.proc, probe)) return [];
  return layout.unmounted.map((which) => ({
    mount: HOST_MOUNTS[which],
    ...MOUNT_EFFECTS[which],
    fix: mountFix(MOUNT_EFFECTS[which].hostPath, HOST_MOUNTS[which]),
  }));
}

/**
 * Where a well-known host path is seen from the agent, most likely first: `/run/…` and
 * `/var/run/…` (a link to /run) under the host's /run, anything else under the host root.
 */
export function hostPathCandidates(layout: Pick<HostLayout, 'root' | 'run'>, p: string): string[] {
  const underRoot = layout.root === '/' ? p : path.join(layout.root, p);
  const m = /^\/(?:var\/)?run\/(.*)$/.exec(p);
  if (!m) return [underRoot];
  const underRun = path.join(layout.run, m[1]);
  return underRun === underRoot ? [underRun] : [underRun, underRoot];
}

/** One line per missing mount, as logged at start and shown by `doctor`. */
export function describeMissingMount(m: MissingMount): string {
  return `running in a container without the host's ${m.hostPath} at ${m.mount}: ${m.effect}; ${m.fix}`;
}
