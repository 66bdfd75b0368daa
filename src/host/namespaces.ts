import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { KernelNamespaces } from '../native';
import type { Logger } from '../pipeline/logger';

/** The kernel's own answer (src/native `kernelNamespaces`); throws when it cannot be asked (no addon, EPERM). */
export type KernelNamespacesSource = () => KernelNamespaces;

export interface HostMountNamespace {
  inode: number;
  /**
   * - `procfs`: `<host_proc>/1/ns/mnt`, the host's PID 1 as the host's procfs shows it;
   * - `kernel`: the init process of the agent's PID namespace (hostPID), read by a BPF program;
   * - `kernel-initial`: the kernel's initial mount namespace (the agent has a PID namespace of its own);
   * - `self`: this agent's own (nothing better could be read).
   */
  source: 'procfs' | 'kernel' | 'kernel-initial' | 'self';
  /** How it was found, one line (logs, doctor). */
  detail: string;
  /** Set when the answer may be wrong: what is wrong and what to do. */
  warning?: string;
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * The host's mount namespace: processes in it outside container cgroups are the host's, and
 * the receiver's `containers_only` filter passes every task outside it. In order:
 * 1. `<host_proc>/1/ns/mnt` — PID 1's. Needs ptrace access to PID 1: CAP_SYS_PTRACE in a
 *    container, and some init processes refuse it even to root (EACCES).
 * 2. The kernel's answer (`kernel`, a BPF program run once): the mount namespace of the init
 *    process of the agent's PID namespace — the host's PID 1 when the agent shares the host's
 *    PID namespace (hostPID), whatever procfs allows. When that init is in the agent's own mount
 *    namespace while the agent is in a PID namespace of its own (a container without hostPID),
 *    it is the container's init: the kernel's initial mount namespace is taken instead, warned.
 * 3. This agent's own, warned: right only when the agent runs in the host's mount namespace.
 */
export function determineHostMountNamespace(hostProc: string, kernel?: KernelNamespacesSource): HostMountNamespace {
  const pid1 = path.join(hostProc, '1/ns/mnt');
  let pid1Error: string;
  try {
    return { inode: statSync(pid1).ino, source: 'procfs', detail: `PID 1's (${pid1})` };
  } catch (err) {
    pid1Error = `${pid1}: ${errCode(err)}`;
  }
  let kernelError = 'not asked';
  if (kernel) {
    try {
      const k = kernel();
      if (k.pidnsLevel === 0 || k.pidnsInitMntns !== k.selfMntns) {
        return {
          inode: k.pidnsInitMntns,
          source: 'kernel',
          detail: `PID 1's, read by the kernel (${k.pidnsLevel === 0 ? 'the initial PID namespace' : `PID namespace level ${k.pidnsLevel}, init pid ${k.pidnsInitPid}`}; ${pid1Error})`,
        };
      }
      return {
        inode: k.initialMntns,
        source: 'kernel-initial',
        detail: `the kernel's initial mount namespace (${pid1Error})`,
        warning:
          "this agent has a PID namespace of its own, so the host's PID 1 is not visible: taking the kernel's initial mount namespace as the host's " +
          '(run the agent in the host PID namespace: hostPID: true in Kubernetes, --pid host with docker/podman)',
      };
    } catch (err) {
      kernelError = (err as Error).message;
    }
  }
  let own: number;
  try {
    own = statSync(path.join(hostProc, 'self/ns/mnt')).ino;
  } catch (selfErr) {
    throw new Error(
      `${hostProc}: cannot read mount namespaces (${(selfErr as Error).message}); ` +
        "point host_proc at the host's procfs (e.g. /host/proc, mounted from the host's /proc)",
    );
  }
  return {
    inode: own,
    source: 'self',
    detail: `this agent's own (${pid1Error}; kernel: ${kernelError})`,
    warning:
      `cannot stat ${pid1} (${pid1Error.slice(pid1.length + 2)}); taking this agent's mount namespace ${own} as the host's ` +
      "(run the agent in the host mount namespace, or set host_proc to the host's procfs)" +
      (kernel ? `; the kernel could not be asked either: ${kernelError}` : ''),
  };
}

const determined = new Map<string, HostMountNamespace>();

/**
 * determineHostMountNamespace, once per process and procfs (the receiver and the enrichment
 * processor agree, and it is logged once: info, or a warning when it may be wrong).
 */
export function hostMountNamespace(hostProc: string, logger: Logger, kernel?: KernelNamespacesSource): number {
  const key = `${hostProc}\0${kernel ? 'kernel' : ''}`;
  let found = determined.get(key);
  if (!found) {
    found = determineHostMountNamespace(hostProc, kernel);
    determined.set(key, found);
    if (found.warning) logger.warn(found.warning);
    else if (found.source !== 'procfs') logger.info(`host mount namespace ${found.inode}: ${found.detail}`);
  }
  return found.inode;
}
