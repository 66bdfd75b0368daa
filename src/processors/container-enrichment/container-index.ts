import type { ContainerInfo } from '../../events';
import { BoundedMap } from '../../pipeline/bounded-map';
import { type CgroupContainer, containerOfCgroupPath } from './cgroup';

/** One container, known by its id and the cgroups its processes run in. */
export interface Known {
  id: string;
  /** What its records carry: from the cgroup path alone until a runtime (or another agent's map) describes it. */
  info: ContainerInfo;
  /** A runtime or another agent's map described it (else: id and runtime from the path only). */
  described: boolean;
  /** From the path: a pattern that names a container beyond doubt, or one a runtime must confirm. */
  certain: boolean;
  /** The lookup is over: no more waiting for a description. */
  settled: boolean;
  /** Its cgroups that exist: id → path. */
  cgroups: Map<number, string>;
  /** Its removed cgroups, still resolvable until it is forgotten (records drained after the rmdir). */
  removedCgroups: number[];
  /** Its processes' mount namespace, for the mntns-keyed pinned map; 0 until seen. */
  mntns: number;
  /** When it was seen exiting (the clock of `now`); undefined while live. */
  exitedAt: number | undefined;
  /** Its records are wanted (receivers' filters.containers, decided once it is described). */
  traced: boolean;
}

/** `created`: new, or started again; either way worth a runtime lookup. */
export type AddResult = { known: Known; created: boolean } | 'not-container' | 'full';

/**
 * cgroup id → container. A cgroup id is a kernfs id, never reused within a
 * boot, so a record's cgroup names its container for good — unlike its mount
 * namespace inode, which the kernel hands to the next container within
 * milliseconds. Cgroups that belong to no container are remembered too
 * (`null`, bounded at 4 × `maxContainers`, oldest forgotten first, counted
 * in `notContainerEvicted`), so a host service's records cost one Map.get.
 *
 * Bounded by `maxContainers` (live + exited): the oldest exited one makes
 * room; with none, new containers are refused and counted in `refused`.
 */
export class ContainerIndex {
  private readonly byCgroup = new Map<number, Known | null>();
  private readonly byId = new Map<string, Known>();
  /** Insertion order is expiry order: one TTL for all. */
  private readonly exited = new Set<Known>();
  /** The cgroups `byCgroup` maps to null, oldest first; forgetting one removes it there too. */
  private readonly notContainers: BoundedMap<number, true>;
  refused = 0;

  constructor(
    private readonly maxContainers: number,
    private readonly tombstoneTtlMs: number,
    private readonly now: () => number,
    /** Told the cgroups of a container forgotten for good (tombstone expired). */
    private readonly onForget: (cgroupIds: number[]) => void = () => undefined,
  ) {
    this.notContainers = new BoundedMap({ max: maxContainers * 4, onEvict: (cgroupId) => this.byCgroup.delete(cgroupId) });
  }

  get notContainerEvicted(): number {
    return this.notContainers.evictions;
  }

  /** undefined: never heard of; null: not a container's cgroup. */
  lookup(cgroupId: number): Known | null | undefined {
    return this.byCgroup.get(cgroupId);
  }

  get(id: string): Known | undefined {
    return this.byId.get(id);
  }

  liveCount(): number {
    return this.byId.size - this.exited.size;
  }

  exitedCount(): number {
    return this.exited.size;
  }

  *live(): IterableIterator<Known> {
    for (const k of this.byId.values()) if (k.exitedAt === undefined) yield k;
  }

  /** A cgroup and its path: the container it belongs to, made known by id if new. */
  addCgroup(cgroupId: number, cgroupPath: string): AddResult {
    const current = this.byCgroup.get(cgroupId);
    if (current) return { known: current, created: false };
    const owner = containerOfCgroupPath(cgroupPath);
    if (!owner) {
      // Seen again (its cgroup record drained after a walk found it): counted once.
      if (current !== null) this.markNotContainer(cgroupId);
      return 'not-container';
    }
    const result = this.ensure(owner, cgroupPath);
    if (result === 'full') return result;
    if (current === null) this.notContainers.delete(cgroupId);
    this.byCgroup.set(cgroupId, result.known);
    result.known.cgroups.set(cgroupId, cgroupPath);
    return result;
  }

  /** A runtime says the cgroup at `cgroupPath` is `known`'s, whatever its path looks like. */
  attachCgroup(cgroupId: number, cgroupPath: string, known: Known): void {
    const current = this.byCgroup.get(cgroupId);
    if (current === known) return;
    if (current) current.cgroups.delete(cgroupId);
    if (current === null) this.notContainers.delete(cgroupId);
    this.byCgroup.set(cgroupId, known);
    known.cgroups.set(cgroupId, cgroupPath);
  }

  /** The cgroup was removed. Returns its container when that was its last cgroup. */
  removeCgroup(cgroupId: number): Known | undefined {
    const known = this.byCgroup.get(cgroupId);
    if (known === null) {
      this.byCgroup.delete(cgroupId);
      this.notContainers.delete(cgroupId);
      return undefined;
    }
    if (!known || !known.cgroups.delete(cgroupId)) return undefined;
    // Kept until the container is forgotten: records drained after the rmdir still carry this id.
    known.removedCgroups.push(cgroupId);
    return known.cgroups.size === 0 ? known : undefined;
  }

  /** A known container (by a runtime's word) without a cgroup seen yet. */
  ensureById(info: ContainerInfo): Known | 'full' {
    const known = this.byId.get(info.id);
    if (known) return known;
    const result = this.ensure({ id: info.id, runtime: info.runtime, certain: true, podUid: info.k8s?.podUid ?? '' }, info.cgroupPath);
    return result === 'full' ? result : result.known;
  }

  /** The container exited; it stays resolvable for the tombstone TTL. False when unknown or already exited. */
  exit(known: Known): boolean {
    if (known.exitedAt !== undefined) return false;
    known.exitedAt = this.now();
    known.info = { ...known.info, state: 'stopped' };
    if (this.tombstoneTtlMs <= 0) this.forget(known);
    else this.exited.add(known);
    return true;
  }

  /** A path that only looked like containerd's /<namespace>/<id>, and containerd never confirmed it: no container. */
  demote(known: Known): void {
    if (known.certain || this.byId.get(known.id) !== known) return;
    this.byId.delete(known.id);
    this.exited.delete(known);
    for (const c of known.cgroups.keys()) this.markNotContainer(c);
    for (const c of known.removedCgroups) this.byCgroup.delete(c);
  }

  /** Forgets exited containers whose grace period is over; returns how many. */
  sweep(): number {
    const dueBefore = this.now() - this.tombstoneTtlMs;
    let n = 0;
    for (const k of this.exited) {
      if (k.exitedAt! > dueBefore) break;
      this.forget(k);
      n++;
    }
    return n;
  }

  private ensure(owner: CgroupContainer, cgroupPath: string): { known: Known; created: boolean } | 'full' {
    const existing = this.byId.get(owner.id);
    if (existing) {
      if (owner.certain) existing.certain = true;
      // A new cgroup for an exited container: it was started again (docker start, a restart policy).
      if (existing.exitedAt !== undefined) {
        this.exited.delete(existing);
        existing.exitedAt = undefined;
        existing.info = { ...existing.info, state: 'running' };
        existing.mntns = 0;
        existing.settled = false;
        return { known: existing, created: true };
      }
      return { known: existing, created: false };
    }
    if (this.byId.size >= this.maxContainers && !this.evictOldestExited()) {
      this.refused++;
      return 'full';
    }
    const known: Known = {
      id: owner.id,
      info: pathOnlyInfo(owner, cgroupPath),
      described: false,
      certain: owner.certain,
      settled: false,
      cgroups: new Map(),
      removedCgroups: [],
      mntns: 0,
      exitedAt: undefined,
      traced: true,
    };
    this.byId.set(owner.id, known);
    return { known, created: true };
  }

  private markNotContainer(cgroupId: number): void {
    this.notContainers.set(cgroupId, true);
    this.byCgroup.set(cgroupId, null);
  }

  private forget(known: Known): void {
    this.exited.delete(known);
    if (this.byId.get(known.id) === known) this.byId.delete(known.id);
    const cgroupIds = [...known.cgroups.keys(), ...known.removedCgroups];
    for (const c of cgroupIds) if (this.byCgroup.get(c) === known) this.byCgroup.delete(c);
    this.onForget(cgroupIds);
  }

  private evictOldestExited(): boolean {
    for (const k of this.exited) {
      this.forget(k);
      return true;
    }
    return false;
  }
}

/** All a cgroup path tells: the id, the runtime, a kubelet pod's uid. */
function pathOnlyInfo(owner: CgroupContainer, cgroupPath: string): ContainerInfo {
  return {
    id: owner.id,
    name: '',
    runtime: owner.runtime,
    state: 'running',
    pid: 0,
    mntns: 0,
    cgroupPath,
    image: { name: '', id: '', digest: '' },
    labels: {},
    ...(owner.podUid
      ? { k8s: { namespace: '', podName: '', podUid: owner.podUid, containerName: '', podLabels: {}, podAnnotations: {} } }
      : {}),
    sandbox: false,
    startedAt: '',
  };
}
