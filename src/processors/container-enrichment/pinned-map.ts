import type { ContainerInfo } from '../../events';
import type { WarnOnce } from '../../pipeline/logger';
import type { ContainersMapEntry, PinnedContainersMap } from '../../native/types';
import type { IndexListener } from './container-index';
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

/** A container known only from another agent's map: all it tells is ids and names. */
export function infoFromEntry(entry: ContainersMapEntry): ContainerInfo {
  const k8s = entry.namespace || entry.pod
    ? { namespace: entry.namespace, podName: entry.pod, podUid: '', containerName: entry.container }
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
 * Mirrors the index's live mount namespaces into our pinned map as they come
 * and go, so the BPF containers-only filter sees a container as soon as the
 * index does, and never a reused inode of an exited one.
 */
export class PinnedMapWriter implements IndexListener {
  private readonly written = new Set<number>();

  constructor(
    readonly map: PinnedContainersMap,
    private readonly counters: EnrichmentCounters,
    private readonly warn: WarnOnce,
  ) {}

  get size(): number {
    return this.written.size;
  }

  added(mntns: number, info: ContainerInfo): void {
    try {
      this.map.update(entryOf(mntns, info));
      this.written.add(mntns);
    } catch (err) {
      this.counters.mapErrors.update++;
      this.warn.warn(
        'pinned-update',
        `pinned map ${this.map.path}: cannot add container ${info.id} (mntns ${mntns}): ${(err as Error).message} ` +
          '(raise processors.container_enrichment.pinned_map.max_entries if the map is full; further failures are counted in enrichment_pinned_map_errors_total)',
      );
    }
  }

  removed(mntns: number, info: ContainerInfo): void {
    this.written.delete(mntns);
    try {
      this.map.delete(mntns);
    } catch (err) {
      this.counters.mapErrors.delete++;
      this.warn.warn('pinned-delete', `pinned map ${this.map.path}: cannot remove container ${info.id} (mntns ${mntns}): ${(err as Error).message}`);
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
      if (!want.has(entry.mntns)) {
        try {
          this.map.delete(entry.mntns);
        } catch {
          this.counters.mapErrors.delete++;
        }
      }
    }
    for (const [mntns, info] of want) this.added(mntns, info);
  }
}
