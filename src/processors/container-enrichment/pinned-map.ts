import type { ContainerInfo } from '../../events';
import type { WarnOnce } from '../../pipeline/logger';
import type { ContainersMapEntry, PinnedContainersMap } from '../../native/types';
import type { EnrichmentCounters } from './metrics';

/**
 * Our entry for a container: k8s names where present, else the container
 * name. The native map cuts each field to 255 bytes on a character boundary.
 */
export function entryOf(mntns: number, info: ContainerInfo): ContainersMapEntry {
  return {
    mntns,
    containerId: info.id,
    namespace: info.k8s?.namespace ?? '',
    pod: info.k8s?.podName ?? '',
    container: info.k8s?.containerName || info.name,
  };
}

/** What another agent's map says of one container: ids and names only. */
export function infoFromEntry(entry: ContainersMapEntry): ContainerInfo {
  const k8s =
    entry.namespace || entry.pod
      ? { namespace: entry.namespace, podName: entry.pod, podUid: '', containerName: entry.container, podLabels: {}, podAnnotations: {} }
      : undefined;
  return {
    id: entry.containerId,
    name: entry.container,
    runtime: 'pinned-map',
    state: 'running',
    pid: 0,
    mntns: entry.mntns,
    cgroupPath: '',
    image: { name: '', id: '', digest: '' },
    labels: {},
    ...(k8s ? { k8s } : {}),
    sandbox: false,
    startedAt: '',
  };
}

/**
 * Keeps our pinned map (mntns-keyed, Inspektor Gadget's layout) equal to the
 * live containers. A mount namespace inode is reused within milliseconds, so
 * each entry has an owner: a new container taking an inode replaces the
 * entry, and the old container's exit, seen later, leaves it alone.
 */
export class PinnedMapWriter {
  /** What we wrote per mntns; its containerId is the entry's owner. */
  private readonly written = new Map<number, ContainersMapEntry>();

  constructor(
    readonly map: PinnedContainersMap,
    private readonly counters: EnrichmentCounters,
    private readonly warn: WarnOnce,
  ) {}

  get size(): number {
    return this.written.size;
  }

  /** `info`'s processes run in `mntns`; written unless the entry already says so. */
  put(mntns: number, info: ContainerInfo): void {
    const entry = entryOf(mntns, info);
    const before = this.written.get(mntns);
    if (before && sameEntry(before, entry)) return;
    try {
      this.map.update(entry);
      this.written.set(mntns, entry);
    } catch (err) {
      this.counters.mapErrors.update++;
      this.warn.warn(
        'pinned-update',
        `pinned map ${this.map.path}: cannot add container ${info.id} (mntns ${mntns}): ${(err as Error).message} ` +
          '(raise processors.container_enrichment.pinned_map.max_entries if the map is full; further failures are counted in enrichment_pinned_map_errors_total)',
      );
    }
  }

  /** The container `id` exited: its entry goes, unless another container owns the inode by now. */
  release(mntns: number, id: string): void {
    if (this.written.get(mntns)?.containerId !== id) return;
    this.written.delete(mntns);
    try {
      this.map.delete(mntns);
    } catch (err) {
      this.counters.mapErrors.delete++;
      this.warn.warn(
        'pinned-delete',
        `pinned map ${this.map.path}: cannot remove container ${id} (mntns ${mntns}): ${(err as Error).message}`,
      );
    }
  }

  /**
   * Makes the map hold exactly `live`: a map kept from an earlier run may hold
   * containers that exited meanwhile, whose inodes may already be reused.
   */
  reconcile(live: Iterable<[number, ContainerInfo]>): void {
    const want = new Map(live);
    let existing: ContainersMapEntry[] = [];
    try {
      existing = this.map.entries();
    } catch (err) {
      this.counters.mapErrors.read++;
      this.warn.warn('pinned-read', `pinned map ${this.map.path}: cannot list entries: ${(err as Error).message}`);
    }
    for (const entry of existing) {
      if (want.get(entry.mntns)?.id === entry.containerId) continue;
      try {
        this.map.delete(entry.mntns);
      } catch {
        this.counters.mapErrors.delete++;
      }
    }
    this.written.clear();
    for (const [mntns, info] of want) this.put(mntns, info);
  }
}

function sameEntry(a: ContainersMapEntry, b: ContainersMapEntry): boolean {
  return a.containerId === b.containerId && a.namespace === b.namespace && a.pod === b.pod && a.container === b.container;
}
