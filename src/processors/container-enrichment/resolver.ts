import type { ContainerInfo, RuntimeName } from '../../events';
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

/** Answers about one candidate id. */
interface IdState {
  waiting: number;
  /** Answers before the choice, in arrival order, at most one per client (its fullest). */
  answers: { info: ContainerInfo; client: RuntimeClient }[];
}

/**
 * Asks every runtime about every id at once and settles on the most specific
 * id (first in `ids`) any runtime knows, as soon as no more specific id can
 * still be known: held records should not wait for the slowest runtime or for
 * one id after another. A client's `identify` counts as an answer; answers
 * about the chosen id that come later (its fuller `get`, a richer runtime) go
 * to `later`. A pod sandbox's description when that is all any runtime
 * knows; undefined when no runtime knows any of the ids (yet).
 */
export function getFromRuntimes(
  ids: readonly string[],
  clients: readonly RuntimeClient[],
  later: (info: ContainerInfo) => void,
): Promise<ContainerInfo | undefined> {
  return new Promise((resolve) => {
    const states: IdState[] = ids.map(() => ({ waiting: 0, answers: [] }));
    let chosen = -1;
    /** A pod sandbox (pause container): not a workload, but no reason to keep asking either. */
    let sandbox: ContainerInfo | undefined;
    const settle = () => {
      for (let k = 0; k < states.length; k++) {
        const [first, ...after] = states[k].answers;
        if (first) {
          chosen = k;
          resolve(first.info);
          // Other runtimes' views; the caller ranks them whatever the order.
          for (const a of after) later(a.info);
          return;
        }
        if (states[k].waiting > 0) return;
      }
      chosen = states.length;
      resolve(sandbox);
    };
    ids.forEach((id, k) => {
      for (const client of clients) {
        let full = false;
        const answer = (info: ContainerInfo | undefined, isFull: boolean) => {
          states[k].waiting--;
          // A partial answer after the same client's full description says less.
          const stale = !isFull && full;
          if (isFull && info) full = true;
          if (info?.sandbox) sandbox ??= info;
          if (info && !info.sandbox && !stale) {
            if (chosen === k) later(info);
            else if (chosen === -1) {
              const answers = states[k].answers;
              const prior = answers.findIndex((a) => a.client === client);
              if (prior < 0) answers.push({ info, client });
              else answers[prior] = { info, client };
            }
          }
          if (chosen === -1) settle();
        };
        const ask = (call: Promise<ContainerInfo | undefined>, isFull: boolean) => {
          states[k].waiting++;
          void call.catch(() => undefined).then((info) => answer(info, isFull));
        };
        ask(client.get(id), true);
        if (client.identify) ask(client.identify(id), false);
      }
    });
    settle();
  });
}
