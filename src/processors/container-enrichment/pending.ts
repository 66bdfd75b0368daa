import type { BootClock } from '../../events';

/** Records waiting for their container's description (key: container id) or for their cgroup to be resolved. */
export interface HeldGroup {
  key: string;
  /** Copies of the records: the receiver may reuse its batch buffers. */
  records: Buffer[];
  clock: BootClock;
  deadline: number;
}

export type HoldResult = 'new-group' | 'held' | 'overflow';

/**
 * Bounded per key and in total (records). Groups are kept in creation order,
 * which is also deadline order since the deadline is fixed.
 */
export class PendingBuffer {
  private readonly groups = new Map<string, HeldGroup>();
  private total = 0;

  constructor(
    private readonly maxPerKey: number,
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

  has(key: string): boolean {
    return this.groups.has(key);
  }

  /** Holds a copy of `record`; 'overflow' when a bound is hit (the caller passes it on). */
  hold(key: string, record: Buffer, clock: BootClock): HoldResult {
    if (this.total >= this.maxTotal) return 'overflow';
    let group = this.groups.get(key);
    const created = group === undefined;
    if (group === undefined) {
      if (this.maxPerKey === 0) return 'overflow';
      group = { key, records: [], clock, deadline: this.now() + this.deadlineMs };
      this.groups.set(key, group);
    } else if (group.records.length >= this.maxPerKey) {
      return 'overflow';
    }
    group.records.push(Buffer.from(record));
    this.total++;
    return created ? 'new-group' : 'held';
  }

  take(key: string): HeldGroup | undefined {
    const group = this.groups.get(key);
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

  takeWhere(pick: (key: string) => boolean): HeldGroup[] {
    const out = [...this.groups.values()].filter((g) => pick(g.key));
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
    this.groups.delete(group.key);
    this.total -= group.records.length;
  }
}
