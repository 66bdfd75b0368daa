import type { ContainerInfo } from '../../src/events';
import { ContainerIndex, type IndexListener } from '../../src/processors/container-enrichment/container-index';
import { PendingBuffer } from '../../src/processors/container-enrichment/pending';
import { BootClock } from '../../src/events';
import { container } from './fakes';

class RecordingListener implements IndexListener {
  readonly live = new Map<number, string>();
  events: string[] = [];
  added(mntns: number, info: ContainerInfo): void {
    this.live.set(mntns, info.id);
    this.events.push(`+${mntns}:${info.id}`);
  }
  removed(mntns: number, info: ContainerInfo): void {
    expect(this.live.get(mntns)).toBe(info.id);
    this.live.delete(mntns);
    this.events.push(`-${mntns}:${info.id}`);
  }
}

function setup(max = 100, ttl = 30_000) {
  let now = 1_000;
  const listener = new RecordingListener();
  const index = new ContainerIndex(max, ttl, () => now, listener);
  return { index, listener, advance: (ms: number) => void (now += ms) };
}

describe('ContainerIndex', () => {
  test('an exited container stays resolvable as a tombstone until its grace period ends', () => {
    const { index, listener, advance } = setup(100, 30_000);
    index.upsert(container('c1', 501));
    expect(index.lookup(501)?.id).toBe('c1');
    expect(index.exit('c1')).toBe(true);
    expect(index.lookup(501)).toMatchObject({ id: 'c1', state: 'stopped' });
    expect(listener.live.size).toBe(0);
    expect([index.liveSize(), index.tombstoneCount()]).toEqual([0, 1]);
    advance(29_999);
    expect(index.sweep()).toBe(0);
    advance(1);
    expect(index.sweep()).toBe(1);
    expect(index.lookup(501)).toBeUndefined();
    expect(index.tombstoneCount()).toBe(0);
  });

  test('1,000 containers started and stopped: index, tombstones and listener back to base size', () => {
    const { index, listener, advance } = setup(2_000, 30_000);
    index.upsert(container('base', 7));
    const base = { live: index.liveSize(), tombstones: index.tombstoneCount(), mirrored: listener.live.size };
    for (let k = 0; k < 1_000; k++) index.upsert(container(`c${k}`, 10_000 + k));
    expect(index.liveSize()).toBe(1_001);
    expect(listener.live.size).toBe(1_001);
    for (let k = 0; k < 1_000; k++) index.exit(`c${k}`);
    expect(index.tombstoneCount()).toBe(1_000);
    expect(listener.live.size).toBe(base.mirrored);
    advance(30_000);
    index.sweep();
    expect({ live: index.liveSize(), tombstones: index.tombstoneCount(), mirrored: listener.live.size }).toEqual(base);
    expect(index.lookup(10_500)).toBeUndefined();
    expect(index.lookup(7)?.id).toBe('base');
  });

  test('a reused mount namespace inode goes to the new container, live or tombstoned', () => {
    const { index, listener } = setup();
    index.upsert(container('old', 600));
    index.upsert(container('new', 600));
    expect(index.lookup(600)?.id).toBe('new');
    expect(index.byId('old')).toBeUndefined();
    expect(listener.events).toEqual(['+600:old', '-600:old', '+600:new']);
    index.exit('new');
    index.upsert(container('newer', 600));
    expect(index.lookup(600)).toMatchObject({ id: 'newer', state: 'running' });
    expect([index.liveSize(), index.tombstoneCount()]).toEqual([1, 0]);
  });

  test('a container owns every namespace it was seen in; exit tombstones all of them', () => {
    const { index, listener } = setup();
    const c = container('c1', 700);
    index.upsert(c);
    index.upsert(c, 701);
    expect(index.lookup(701)?.id).toBe('c1');
    const paused = { ...c, state: 'paused' as const };
    index.upsert(paused);
    expect(index.lookup(701)?.state).toBe('paused');
    // A state change does not rewrite the pinned map: its strings are unchanged.
    expect(listener.events).toEqual(['+700:c1', '+701:c1']);
    index.exit('c1');
    expect([index.lookup(700)?.state, index.lookup(701)?.state]).toEqual(['stopped', 'stopped']);
    expect(listener.live.size).toBe(0);
  });

  test('bounded: the oldest tombstone makes room, then new containers are refused and counted', () => {
    const { index } = setup(3);
    index.upsert(container('a', 1));
    index.upsert(container('b', 2));
    index.exit('a');
    index.upsert(container('c', 3));
    expect(index.upsert(container('d', 4))).toBe('added');
    expect(index.lookup(1)).toBeUndefined();
    expect(index.upsert(container('e', 5))).toBe('full');
    expect(index.refused).toBe(1);
    expect(index.lookup(5)).toBeUndefined();
    expect(index.upsert(container('d2', 0))).toBe('no-mntns');
  });

  test('without a grace period an exited container is gone at once', () => {
    const { index } = setup(10, 0);
    index.upsert(container('a', 1));
    index.exit('a');
    expect(index.lookup(1)).toBeUndefined();
    expect(index.tombstoneCount()).toBe(0);
  });

  test('liveIds lists one runtime only', () => {
    const { index } = setup();
    index.upsert(container('d1', 1));
    index.upsert(container('p1', 2, { runtime: 'podman' }));
    expect(index.liveIds('podman')).toEqual(['p1']);
    expect([...index.live()].map(([m]) => m)).toEqual([1, 2]);
  });
});

describe('PendingBuffer', () => {
  const clock = new BootClock();
  const rec = (n: number) => Buffer.from([n]);

  test('bounded per mount namespace and in total', () => {
    const p = new PendingBuffer(2, 3, 1000, () => 0);
    expect(p.hold(10, 1, 1, rec(1), clock)).toBe('new-group');
    expect(p.hold(10, 2, 1, rec(2), clock)).toBe('held');
    expect(p.hold(10, 3, 1, rec(3), clock)).toBe('overflow');
    expect(p.hold(11, 4, 1, rec(4), clock)).toBe('new-group');
    expect(p.hold(12, 5, 1, rec(5), clock)).toBe('overflow');
    expect(p.size).toBe(3);
    const g = p.take(10)!;
    expect(g.records.map((r) => r[0])).toEqual([1, 2]);
    // pid 3's record overflowed, but pid 3 is still worth asking about.
    expect(g.pids).toEqual([1, 2, 3]);
    expect(p.size).toBe(1);
    expect(p.hold(12, 5, 1, rec(5), clock)).toBe('new-group');
  });

  test('records are copied: the receiver may reuse its buffer', () => {
    const p = new PendingBuffer(2, 3, 1000, () => 0);
    const buf = Buffer.from([7]);
    p.hold(10, 1, 1, buf, clock);
    buf[0] = 9;
    expect(p.take(10)!.records[0][0]).toBe(7);
  });

  test('groups expire in creation order at their deadline', () => {
    let now = 0;
    const p = new PendingBuffer(10, 100, 2000, () => now);
    p.hold(10, 1, 1, rec(1), clock);
    now = 500;
    p.hold(11, 2, 1, rec(2), clock);
    expect(p.nextDeadline()).toBe(2000);
    now = 1999;
    expect(p.takeExpired()).toEqual([]);
    now = 2000;
    expect(p.takeExpired().map((g) => g.mntns)).toEqual([10]);
    expect(p.nextDeadline()).toBe(2500);
    expect(p.takeAll().map((g) => g.mntns)).toEqual([11]);
    expect([p.size, p.groupCount, p.nextDeadline()]).toEqual([0, 0, undefined]);
  });

  test('the pids to ask about: the first, then the latest distinct pids and parents, bounded', () => {
    const p = new PendingBuffer(4, 100, 1000, () => 0);
    for (let pid = 100; pid < 120; pid++) p.hold(10, pid, 7, rec(pid), clock);
    const g = p.take(10)!;
    expect(g.pids[0]).toBe(100);
    expect(g.pids).toContain(7);
    expect(g.pids).toContain(119);
    expect(g.pids).toHaveLength(8);
  });

  test('max_per_mntns 0 holds nothing', () => {
    const p = new PendingBuffer(0, 100, 2000, () => 0);
    expect(p.hold(10, 1, 1, rec(1), clock)).toBe('overflow');
  });
});
