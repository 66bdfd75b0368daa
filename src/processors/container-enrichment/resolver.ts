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

/** Container ids the cgroup of `pid` names; [] when the process is gone or in no container cgroup. */
export function candidateIds(pid: number, proc: ProcFs): string[] {
  const cgroup = proc.cgroup(pid);
  return cgroup === undefined ? [] : containerIdsFromCgroup(cgroup);
}

/**
 * Asks every runtime for each id at once, most specific id first, and settles
 * on the first answer: held records should not wait for the slowest runtime.
 * Answers that come later go to `later` (a richer runtime may still improve
 * the description). Undefined when no runtime knows any of the ids (yet).
 */
export async function getFromRuntimes(
  ids: readonly string[],
  clients: readonly RuntimeClient[],
  later: (info: ContainerInfo) => void,
): Promise<ContainerInfo | undefined> {
  for (const id of ids) {
    const found = await firstAnswer(id, clients, later);
    if (found) return found;
  }
  return undefined;
}

function firstAnswer(id: string, clients: readonly RuntimeClient[], later: (info: ContainerInfo) => void): Promise<ContainerInfo | undefined> {
  return new Promise((resolve) => {
    let waiting = clients.length;
    let settled = false;
    if (waiting === 0) resolve(undefined);
    for (const client of clients) {
      void client
        .get(id)
        .catch(() => undefined)
        .then((info) => {
          waiting--;
          if (info && !info.sandbox) {
            if (settled) later(info);
            else {
              settled = true;
              resolve(info);
            }
          } else if (waiting === 0 && !settled) {
            resolve(undefined);
          }
        });
    }
  });
}
