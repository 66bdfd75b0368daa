import type { ContainerInfo, RuntimeName } from '../../events';
import { containerIdsFromCgroup } from './cgroup';
import type { ProcFs } from './procfs';
import type { RuntimeClient } from './runtime/types';

/**
 * When two sources describe the same container id, the richer one wins:
 * Docker/Podman/CRI/LXC know names and images that the containerd view of the
 * same task (moby, k8s.io namespaces) lacks, and another agent's map knows least.
 */
const RANK: Record<RuntimeName, number> = { 'pinned-map': 0, containerd: 1, cri: 2, docker: 2, podman: 2, lxc: 2 };

export function outranks(a: ContainerInfo, b: ContainerInfo): boolean {
  return RANK[a.runtime] > RANK[b.runtime];
}

/** The best of several answers for one id; undefined when none. */
export function best(candidates: Array<ContainerInfo | undefined>): ContainerInfo | undefined {
  let top: ContainerInfo | undefined;
  for (const c of candidates) {
    if (c && !c.sandbox && (!top || outranks(c, top))) top = c;
  }
  return top;
}

/**
 * The on-demand lookup for a process of an unknown mount namespace: its
 * cgroup names the container, every runtime is asked for that id at once.
 * Undefined when the process is gone or no runtime knows the container (yet).
 */
export async function findContainerOfPid(pid: number, proc: ProcFs, clients: readonly RuntimeClient[]): Promise<ContainerInfo | undefined> {
  const cgroup = proc.cgroup(pid);
  if (cgroup === undefined || clients.length === 0) return undefined;
  for (const id of containerIdsFromCgroup(cgroup)) {
    const answers = await Promise.all(clients.map((c) => c.get(id).catch(() => undefined)));
    const found = best(answers);
    if (found) return found;
  }
  return undefined;
}
