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

/** Container ids the cgroup of `pid` names; [] when the process is gone or in no container cgroup. */
export function candidateIds(pid: number, proc: ProcFs): string[] {
  const cgroup = proc.cgroup(pid);
  return cgroup === undefined ? [] : containerIdsFromCgroup(cgroup);
}

/**
 * Asks every runtime for each id at once, most specific id first; the richest
 * answer for the first id anyone knows. Undefined when none knows any (yet).
 */
export async function getFromRuntimes(ids: readonly string[], clients: readonly RuntimeClient[]): Promise<ContainerInfo | undefined> {
  for (const id of ids) {
    const answers = await Promise.all(clients.map((c) => c.get(id).catch(() => undefined)));
    const found = best(answers);
    if (found) return found;
  }
  return undefined;
}
