import { BootClock } from '../../src/events';
import { ContainerIndex, type Known } from '../../src/processors/container-enrichment/container-index';
import { PendingBuffer } from '../../src/processors/container-enrichment/pending';
import { container, hexId } from './fakes';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const POD_UID = '0c3e7d1a-1111-2222-3333-444455556666';

function setup(max = 100, ttl = 30_000) {
  let now = 1_000;
  const index = new ContainerIndex(max, ttl, () => now);
  return { index, advance: (ms: number) => void (now += ms) };
}

/** addCgroup for a path that must name a container. */
function add(index: ContainerIndex, cgroupId: number, cgroupPath: string): { known: Known; created: boolean } {
  const result = index.addCgroup(cgroupId, cgroupPath);
  if (typeof result !== 'object') throw new Error(`${cgroupPath}: ${result}`);
  return result;
}

describe('ContainerIndex', () => {
  test('a cgroup path names its container: id, runtime and pod uid, path-only until described', () => {
    const { index } = setup();
    const path = `/kubepods/besteffort/pod${POD_UID}/${ID_A}`;
    const { known, created } = add(index, 11, path);
    expect(created).toBe(true);
    expect(known).toMatchObject({ id: ID_A, described: false, certain: true, settled: false, mntns: 0, exitedAt: undefined });
    expect(known.info).toMatchObject({ id: ID_A, runtime: 'cri', name: '', state: 'running', cgroupPath: path, k8s: { podUid: POD_UID } });
    expect([...known.cgroups]).toEqual([[11, path]]);
    expect(index.lookup(11)).toBe(known);
    expect(index.get(ID_A)).toBe(known);
    // Seen again (a rescan, a late record): the same container, not new.
    expect(index.addCgroup(11, path)).toEqual({ known, created: false });
    // Another cgroup of the same container (podman's libpod-<id>.scope/container).
    expect(index.addCgroup(12, `${path}/sub`)).toEqual({ known, created: false });
    expect([...known.cgroups.keys()]).toEqual([11, 12]);
    expect([index.liveCount(), index.exitedCount()]).toEqual([1, 0]);
  });

  test('cgroups of no container are remembered as null; never heard of is undefined', () => {
    const { index } = setup();
    expect(index.addCgroup(1, '/')).toBe('not-container');
    expect(index.addCgroup(2, '/system.slice/ssh.service')).toBe('not-container');
    expect(index.lookup(1)).toBeNull();
    expect(index.lookup(2)).toBeNull();
    expect(index.lookup(3)).toBeUndefined();
    expect(index.liveCount()).toBe(0);
    // Removed: forgotten.
    expect(index.removeCgroup(2)).toBeUndefined();
    expect(index.lookup(2)).toBeUndefined();
  });

  test('cgroups of no container are bounded at 4 × max_containers, oldest forgotten first, counted', () => {
    const { index } = setup(2);
    for (let k = 0; k < 8; k++) index.addCgroup(100 + k, `/system.slice/s${k}.service`);
    expect(index.notContainerEvicted).toBe(0);
    index.addCgroup(108, '/system.slice/s8.service');
    expect(index.notContainerEvicted).toBe(1);
    expect(index.lookup(100)).toBeUndefined();
    expect(index.lookup(101)).toBeNull();
    expect(index.lookup(108)).toBeNull();
  });

  test('the same cgroup of no container seen again counts once', () => {
    const { index } = setup(1);
    for (let k = 0; k < 10; k++) expect(index.addCgroup(7, '/system.slice/cron.service')).toBe('not-container');
    expect(index.notContainerEvicted).toBe(0);
    expect(index.lookup(7)).toBeNull();
    // The bound (4) still holds for distinct ones.
    for (let k = 0; k < 4; k++) index.addCgroup(20 + k, `/system.slice/s${k}.service`);
    expect(index.notContainerEvicted).toBe(1);
    expect(index.lookup(7)).toBeUndefined();
  });

  test("a cgroup of no container that a runtime then claims leaves the bound's memory: later evictions never unmap it", () => {
    const { index } = setup(1);
    index.addCgroup(30, '/custom/app');
    index.addCgroup(31, '/system.slice/a.service');
    const app = index.ensureById(container('app', 0)) as Known;
    index.attachCgroup(30, '/custom/app', app);
    // Removed while remembered as no container's: forgotten, and no longer taking room.
    index.removeCgroup(31);
    for (let k = 0; k < 4; k++) index.addCgroup(40 + k, `/system.slice/s${k}.service`);
    expect(index.notContainerEvicted).toBe(0);
    index.addCgroup(44, '/system.slice/s4.service');
    expect(index.notContainerEvicted).toBe(1);
    expect(index.lookup(40)).toBeUndefined();
    expect(index.lookup(30)).toBe(app);
  });

  test('removing a cgroup: the container exits with its last one; removed cgroups still resolve until it is forgotten', () => {
    const { index, advance } = setup(100, 30_000);
    const { known } = add(index, 21, `/machine.slice/libpod-${ID_A}.scope`);
    add(index, 22, `/machine.slice/libpod-${ID_A}.scope/container`);
    expect(index.removeCgroup(22)).toBeUndefined();
    expect(index.removeCgroup(22)).toBeUndefined();
    expect(index.removeCgroup(21)).toBe(known);
    // The caller decides to exit it; until then it is live.
    expect(index.liveCount()).toBe(1);
    expect(index.exit(known)).toBe(true);
    expect(index.exit(known)).toBe(false);
    expect(known.info.state).toBe('stopped');
    expect(known.exitedAt).toBe(1_000);
    expect([index.liveCount(), index.exitedCount()]).toEqual([0, 1]);
    expect([...index.live()]).toEqual([]);
    // Records drained after the rmdir still carry the cgroup ids.
    expect(index.lookup(21)).toBe(known);
    expect(index.lookup(22)).toBe(known);
    expect(index.get(ID_A)).toBe(known);
    advance(29_999);
    expect(index.sweep()).toBe(0);
    advance(1);
    expect(index.sweep()).toBe(1);
    expect(index.lookup(21)).toBeUndefined();
    expect(index.lookup(22)).toBeUndefined();
    expect(index.get(ID_A)).toBeUndefined();
    expect(index.exitedCount()).toBe(0);
  });

  test('without a grace period an exited container is gone at once', () => {
    const { index } = setup(10, 0);
    const { known } = add(index, 31, `/docker/${ID_A}`);
    index.exit(known);
    expect(index.lookup(31)).toBeUndefined();
    expect(index.get(ID_A)).toBeUndefined();
    expect([index.liveCount(), index.exitedCount()]).toEqual([0, 0]);
  });

  test('a new cgroup for an exited container: started again, live, its namespace to be seen anew', () => {
    const { index } = setup();
    const { known } = add(index, 41, `/docker/${ID_A}`);
    known.mntns = 5001;
    known.settled = true;
    index.removeCgroup(41);
    index.exit(known);
    const again = add(index, 42, `/docker/${ID_A}`);
    expect(again).toEqual({ known, created: true });
    expect(known).toMatchObject({ exitedAt: undefined, mntns: 0, settled: false, info: { state: 'running' } });
    expect([index.liveCount(), index.exitedCount()]).toEqual([1, 0]);
    expect(index.lookup(41)).toBe(known);
    expect(index.lookup(42)).toBe(known);
  });

  test('1,000 containers made and removed: back to the base sizes', () => {
    const { index, advance } = setup(2_000, 30_000);
    add(index, 7, `/docker/${hexId('ba5e')}`);
    const base = { live: index.liveCount(), exited: index.exitedCount() };
    for (let k = 0; k < 1_000; k++) add(index, 10_000 + k, `/docker/${hexId(k + 1)}`);
    expect(index.liveCount()).toBe(1_001);
    for (let k = 0; k < 1_000; k++) {
      const last = index.removeCgroup(10_000 + k);
      expect(last?.id).toBe(hexId(k + 1));
      index.exit(last!);
    }
    expect(index.exitedCount()).toBe(1_000);
    advance(30_000);
    expect(index.sweep()).toBe(1_000);
    expect({ live: index.liveCount(), exited: index.exitedCount() }).toEqual(base);
    expect(index.lookup(10_500)).toBeUndefined();
    expect(index.lookup(7)?.id).toBe(hexId('ba5e'));
  });

  test('bounded: the oldest exited container makes room, then new containers are refused and counted', () => {
    const { index } = setup(3);
    const a = add(index, 1, `/docker/${hexId(1)}`).known;
    add(index, 2, `/docker/${hexId(2)}`);
    index.exit(a);
    add(index, 3, `/docker/${hexId(3)}`);
    expect(add(index, 4, `/docker/${hexId(4)}`).created).toBe(true);
    expect(index.lookup(1)).toBeUndefined();
    expect(index.addCgroup(5, `/docker/${hexId(5)}`)).toBe('full');
    expect(index.ensureById(container(hexId(6), 0))).toBe('full');
    expect(index.refused).toBe(2);
    expect(index.lookup(5)).toBeUndefined();
    // A known container's new cgroup is no new container.
    expect(index.addCgroup(6, `/docker/${hexId(4)}/sub`)).toMatchObject({ created: false });
  });

  test('ensureById: a container a runtime describes before any cgroup of it is seen', () => {
    const { index } = setup();
    const info = container('web', 0, { runtime: 'podman', cgroupPath: '/custom/web' });
    const known = index.ensureById(info);
    if (known === 'full') throw new Error('full');
    expect(known).toMatchObject({ id: 'web', certain: true, described: false, info: { runtime: 'podman', cgroupPath: '/custom/web' } });
    expect(known.cgroups.size).toBe(0);
    expect(index.ensureById(info)).toBe(known);
    expect(index.liveCount()).toBe(1);
  });

  test('attachCgroup: a runtime says whose a cgroup is, over what its path (or an earlier guess) said', () => {
    const { index } = setup();
    index.addCgroup(51, '/custom/parent/app');
    expect(index.lookup(51)).toBeNull();
    const web = index.ensureById(container('web', 0)) as Known;
    index.attachCgroup(51, '/custom/parent/app', web);
    expect(index.lookup(51)).toBe(web);
    expect([...web.cgroups]).toEqual([[51, '/custom/parent/app']]);
    const other = index.ensureById(container('other', 0)) as Known;
    index.attachCgroup(51, '/custom/parent/app', other);
    expect(index.lookup(51)).toBe(other);
    expect(web.cgroups.size).toBe(0);
    // Its removal exits the container it is attached to.
    expect(index.removeCgroup(51)).toBe(other);
  });

  test('a containerd-like /<namespace>/<id> path waits for confirmation; unconfirmed, it is demoted to no container', () => {
    const { index } = setup();
    const { known } = add(index, 61, '/default/web-1');
    expect(known).toMatchObject({ id: 'web-1', certain: false, info: { runtime: 'containerd' } });
    index.demote(known);
    expect(index.get('web-1')).toBeUndefined();
    expect(index.lookup(61)).toBeNull();
    expect(index.liveCount()).toBe(0);
    // A certain container is never demoted.
    const sure = add(index, 62, `/docker/${ID_B}`).known;
    index.demote(sure);
    expect(index.lookup(62)).toBe(sure);
    // A 64-hex id under a namespace is surely a container.
    expect(add(index, 63, `/moby/${hexId(9)}`).known.certain).toBe(true);
    // A demotion decided for an earlier container of the same id leaves a newer one alone.
    const stale = add(index, 64, '/default/web-2').known;
    index.demote(stale);
    const newer = add(index, 65, '/default/web-2').known;
    expect(newer).not.toBe(stale);
    index.demote(stale);
    expect(index.get('web-2')).toBe(newer);
    expect(index.lookup(65)).toBe(newer);
  });

  test('live() lists live containers only', () => {
    const { index } = setup();
    const a = add(index, 1, `/docker/${hexId(1)}`).known;
    const b = add(index, 2, `/docker/${hexId(2)}`).known;
    index.exit(a);
    expect([...index.live()]).toEqual([b]);
  });
});

describe('PendingBuffer', () => {
  const clock = new BootClock();
  const rec = (n: number) => Buffer.from([n]);

  test('bounded per key and in total', () => {
    const p = new PendingBuffer(2, 3, 1000, () => 0);
    expect(p.hold(ID_A, rec(1), clock)).toBe('new-group');
    expect(p.hold(ID_A, rec(2), clock)).toBe('held');
    expect(p.hold(ID_A, rec(3), clock)).toBe('overflow');
    expect(p.hold('cgroup:7', rec(4), clock)).toBe('new-group');
    expect(p.hold(ID_B, rec(5), clock)).toBe('overflow');
    expect([p.size, p.groupCount]).toEqual([3, 2]);
    expect(p.has(ID_A)).toBe(true);
    const g = p.take(ID_A)!;
    expect(g.records.map((r) => r[0])).toEqual([1, 2]);
    expect(p.take(ID_A)).toBeUndefined();
    expect(p.size).toBe(1);
    expect(p.hold(ID_B, rec(5), clock)).toBe('new-group');
  });

  test('records are copied: the receiver may reuse its buffer', () => {
    const p = new PendingBuffer(2, 3, 1000, () => 0);
    const buf = Buffer.from([7]);
    p.hold(ID_A, buf, clock);
    buf[0] = 9;
    expect(p.take(ID_A)!.records[0][0]).toBe(7);
  });

  test('groups expire in creation order at their deadline', () => {
    let now = 0;
    const p = new PendingBuffer(10, 100, 2000, () => now);
    p.hold(ID_A, rec(1), clock);
    now = 500;
    p.hold(ID_B, rec(2), clock);
    expect(p.nextDeadline()).toBe(2000);
    now = 1999;
    expect(p.takeExpired()).toEqual([]);
    now = 2000;
    expect(p.takeExpired().map((g) => g.key)).toEqual([ID_A]);
    expect(p.nextDeadline()).toBe(2500);
    expect(p.takeAll().map((g) => g.key)).toEqual([ID_B]);
    expect([p.size, p.groupCount, p.nextDeadline()]).toEqual([0, 0, undefined]);
  });

  test('takeWhere takes the groups whose key matches, keeping the rest', () => {
    const p = new PendingBuffer(10, 100, 2000, () => 0);
    p.hold('cgroup:1', rec(1), clock);
    p.hold(ID_A, rec(2), clock);
    p.hold('cgroup:2', rec(3), clock);
    p.hold('cgroup:2', rec(4), clock);
    expect(p.takeWhere((k) => k.startsWith('cgroup:')).map((g) => [g.key, g.records.length])).toEqual([
      ['cgroup:1', 1],
      ['cgroup:2', 2],
    ]);
    expect([p.size, p.groupCount]).toEqual([1, 1]);
  });

  test('max_per_container 0 holds nothing', () => {
    const p = new PendingBuffer(0, 100, 2000, () => 0);
    expect(p.hold(ID_A, rec(1), clock)).toBe('overflow');
    expect(p.size).toBe(0);
  });
});
