import type { BootClock } from '../../events';

/** Records of one unknown mount namespace, waiting for its container to be known. */
export interface HeldGroup {
  mntns: number;
  /**
   * Where the on-demand lookup looks: the first record's pid (in runc, the
   * container's init to be) and the latest distinct pids and parent pids (a
   * booting system container's init is the parent of its short-lived scripts).
   */
  pids: number[];
  /** Container ids read from held processes' cgroups, kept for retries after they exit. */
  candidates: Array<{ id: string; pid: number }>;
  /** Copies of the records: the receiver may reuse its batch buffers. */
  records: Buffer[];
  clock: BootClock;
  deadline: number;
}

export type HoldResult = 'new-group' | 'held' | 'overflow';

const MAX_PIDS = 8;

/** Least recently seen goes first; the first pid always stays. */
function notePid(group: HeldGroup, pid: number): void {
  const pids = group.pids;
  if (pid <= 0 || pids[0] === pid || pids[pids.length - 1] === pid) return;
  const at = pids.indexOf(pid);
  if (at > 0) pids.splice(at, 1);
  else if (pids.length >= MAX_PIDS) pids.splice(1, 1);
  pids.push(pid);
}

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
  hold(mntns: number, pid: number, ppid: number, record: Buffer, clock: BootClock): HoldResult {
    if (this.total >= this.maxTotal) return 'overflow';
    let group = this.groups.get(mntns);
    const created = group === undefined;
    if (group === undefined) {
      if (this.maxPerMntns === 0) return 'overflow';
      const now = this.now();
      group = { mntns, pids: [pid], candidates: [], records: [], clock, deadline: now + this.deadlineMs };
      notePid(group, ppid);
      this.groups.set(mntns, group);
    } else {
      // Even records passed on unenriched point at processes worth asking about.
      notePid(group, ppid);
      notePid(group, pid);
      if (group.records.length >= this.maxPerMntns) return 'overflow';
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
