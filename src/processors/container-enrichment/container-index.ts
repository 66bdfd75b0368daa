import type { ContainerInfo, RuntimeName } from '../../events';

/** Told about every live mount namespace that appears or goes: the pinned-map writer listens. */
export interface IndexListener {
  added(mntns: number, info: ContainerInfo): void;
  removed(mntns: number, info: ContainerInfo): void;
}

export type UpsertResult = 'added' | 'updated' | 'full' | 'no-mntns';

interface Tombstone {
  mntns: number;
  info: ContainerInfo;
  /** When its container was seen exiting (the clock of `now`). */
  diedAt: number;
  expiresAt: number;
}

/**
 * mntns → ContainerInfo. Live containers and tombstones share one Map so a
 * lookup on the hot path is a single `Map.get`. A container may own several
 * mount namespaces (its init's, plus any a process inside it created and an
 * on-demand lookup tied to it). Bounded by `maxContainers` (live + tombstones):
 * the oldest tombstone makes room; with none left, new containers are refused
 * and counted in `refused`.
 */
export class ContainerIndex {
  private readonly byMntns = new Map<number, ContainerInfo>();
  private readonly mntnsById = new Map<string, number[]>();
  /** Insertion order is expiry order: the TTL is the same for all. */
  private readonly tombstones = new Map<number, Tombstone>();
  refused = 0;

  constructor(
    private readonly maxContainers: number,
    private readonly tombstoneTtlMs: number,
    private readonly now: () => number,
    private readonly listener?: IndexListener,
  ) {}

  lookup(mntns: number): ContainerInfo | undefined {
    return this.byMntns.get(mntns);
  }

  /** Live container by id. */
  byId(id: string): ContainerInfo | undefined {
    const list = this.mntnsById.get(id);
    return list ? this.byMntns.get(list[0]) : undefined;
  }

  liveSize(): number {
    return this.byMntns.size - this.tombstones.size;
  }

  tombstoneCount(): number {
    return this.tombstones.size;
  }

  /** Ids of live containers reported by `runtime`, for resync diffs. */
  liveIds(runtime: RuntimeName): string[] {
    const out: string[] = [];
    for (const [id, list] of this.mntnsById) {
      if (this.byMntns.get(list[0])?.runtime === runtime) out.push(id);
    }
    return out;
  }

  /** Every live mount namespace with its container. */
  *live(): IterableIterator<[number, ContainerInfo]> {
    for (const [mntns, info] of this.byMntns) {
      if (!this.tombstones.has(mntns)) yield [mntns, info];
    }
  }

  /**
   * Records that `mntns` (default: info.mntns) belongs to `info`. A mount
   * namespace claimed by another container is taken over: inode numbers are
   * reused, and the runtime's latest word wins.
   */
  upsert(info: ContainerInfo, mntns = info.mntns): UpsertResult {
    // A description without a namespace (its processes already gone) still
    // updates a container known by id, e.g. Docker's names over containerd's view.
    if (!mntns) mntns = this.mntnsById.get(info.id)?.[0] ?? 0;
    if (!mntns) return 'no-mntns';
    const current = this.byMntns.get(mntns);
    let wasLive = false;
    if (current === undefined) {
      if (this.byMntns.size >= this.maxContainers && !this.evictOldestTombstone()) {
        this.refused++;
        return 'full';
      }
    } else if (!this.tombstones.delete(mntns)) {
      wasLive = current.id === info.id;
      if (!wasLive) {
        this.forgetMntns(current.id, mntns);
        this.listener?.removed(mntns, current);
      }
    }
    const list = this.mntnsById.get(info.id) ?? [];
    if (!list.includes(mntns)) list.push(mntns);
    this.mntnsById.set(info.id, list);
    // Every namespace of the container points at its latest info (state, labels).
    for (const m of list) {
      const before = m === mntns && !wasLive ? undefined : this.byMntns.get(m);
      this.byMntns.set(m, info);
      if (before === undefined || !this.sameForListener(before, info)) this.listener?.added(m, info);
    }
    return current === undefined ? 'added' : 'updated';
  }

  /** The container exited: each of its mount namespaces becomes a tombstone. */
  exit(id: string): boolean {
    const list = this.mntnsById.get(id);
    if (!list) return false;
    this.mntnsById.delete(id);
    const diedAt = this.now();
    const expiresAt = diedAt + this.tombstoneTtlMs;
    for (const mntns of list) {
      const info = this.byMntns.get(mntns)!;
      const stopped: ContainerInfo = { ...info, state: 'stopped' };
      this.listener?.removed(mntns, info);
      if (this.tombstoneTtlMs > 0) {
        this.byMntns.set(mntns, stopped);
        this.tombstones.set(mntns, { mntns, info: stopped, diedAt, expiresAt });
      } else {
        this.byMntns.delete(mntns);
      }
    }
    return true;
  }

  /** When the container whose tombstone `mntns` is exited; undefined when no tombstone. */
  diedAt(mntns: number): number | undefined {
    return this.tombstones.get(mntns)?.diedAt;
  }

  /** The namespace inode was reused by a new container: the tombstone no longer speaks for it. */
  forgetTombstone(mntns: number): void {
    if (this.tombstones.delete(mntns)) this.byMntns.delete(mntns);
  }

  /** Drops tombstones whose grace period is over; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const t of this.tombstones.values()) {
      if (t.expiresAt > now) break;
      this.tombstones.delete(t.mntns);
      this.byMntns.delete(t.mntns);
      n++;
    }
    return n;
  }

  /** Live containers' changes that matter to the pinned map: its four strings. */
  private sameForListener(a: ContainerInfo, b: ContainerInfo): boolean {
    return (
      a.name === b.name &&
      a.k8s?.namespace === b.k8s?.namespace &&
      a.k8s?.podName === b.k8s?.podName &&
      a.k8s?.containerName === b.k8s?.containerName
    );
  }

  private forgetMntns(id: string, mntns: number): void {
    const list = this.mntnsById.get(id);
    if (!list) return;
    const rest = list.filter((m) => m !== mntns);
    if (rest.length) this.mntnsById.set(id, rest);
    else this.mntnsById.delete(id);
  }

  private evictOldestTombstone(): boolean {
    for (const t of this.tombstones.values()) {
      this.tombstones.delete(t.mntns);
      this.byMntns.delete(t.mntns);
      return true;
    }
    return false;
  }
}
