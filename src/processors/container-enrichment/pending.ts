import type { BootClock } from '../../events';

/** Records of one unknown mount namespace, waiting for its container to be known. */
export interface HeldGroup {
  mntns: number;
  /** Pids of the first and the latest held record: where the on-demand lookup looks. */
  firstPid: number;
  pid: number;
  /** Container ids read from held processes' cgroups, kept for retries after they exit. */
  candidates: Array<{ id: string; pid: number }>;
  /** Copies of the records: the receiver may reuse its batch buffers. */
  records: Buffer[];
  clock: BootClock;
  heldAt: number;
  deadline: number;
}

export type HoldResult = 'new-group' | 'held' | 'overflow';

/**
 * Bounded per mount namespace and in total (records). Groups are kept in
 * creation order, which is also deadline order since the deadline is fixed.
 */
export class PendingBuffer {
  private readonly groups = new Map<number, HeldGroup>();
  private total = 0;

  constructor(
    private readonly maxPerMntns: number,
    private readonly maxTotal: number,
    private readonly deadlineMs: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.total;
  }

  get groupCount(): number {
    return this.groups.size;
  }

  has(mntns: number): boolean {
    return this.groups.has(mntns);
  }

  peek(mntns: number): HeldGroup | undefined {
    return this.groups.get(mntns);
  }

  /** Holds a copy of `record`; 'overflow' when a bound is hit (the caller passes it on). */
  hold(mntns: number, pid: number, record: Buffer, clock: BootClock): HoldResult {
    if (this.total >= this.maxTotal) return 'overflow';
    let group = this.groups.get(mntns);
    const created = group === undefined;
    if (group === undefined) {
      if (this.maxPerMntns === 0) return 'overflow';
      const now = this.now();
      group = { mntns, firstPid: pid, pid, candidates: [], records: [], clock, heldAt: now, deadline: now + this.deadlineMs };
      this.groups.set(mntns, group);
    } else if (group.records.length >= this.maxPerMntns) {
      return 'overflow';
    } else {
      // Short-lived processes come and go; one of the two is likely still there.
      group.pid = pid;
    }
    group.records.push(Buffer.from(record));
    this.total++;
    return created ? 'new-group' : 'held';
  }

  take(mntns: number): HeldGroup | undefined {
    const group = this.groups.get(mntns);
    if (group) this.remove(group);
    return group;
  }

  takeExpired(): HeldGroup[] {
    const now = this.now();
    const out: HeldGroup[] = [];
    for (const group of this.groups.values()) {
      if (group.deadline > now) break;
      out.push(group);
    }
    for (const group of out) this.remove(group);
    return out;
  }

  takeAll(): HeldGroup[] {
    const out = [...this.groups.values()];
    this.groups.clear();
    this.total = 0;
    return out;
  }

  /** When the oldest group is due; undefined when nothing is held. */
  nextDeadline(): number | undefined {
    for (const group of this.groups.values()) return group.deadline;
    return undefined;
  }

  private remove(group: HeldGroup): void {
    this.groups.delete(group.mntns);
    this.total -= group.records.length;
  }
}
