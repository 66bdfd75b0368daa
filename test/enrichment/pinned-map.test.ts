import { WarnOnce } from '../../src/pipeline/logger';
import { DEFAULT_READ_MAP_PATH, DEFAULT_WRITE_MAP_PATH } from '../../src/processors/container-enrichment/config';
import { EnrichmentCounters } from '../../src/processors/container-enrichment/metrics';
import { entryOf, infoFromEntry, PinnedMapWriter } from '../../src/processors/container-enrichment/pinned-map';
import { batchOf, box, capturingLogger, container, execRecord, FakeMaps, FakePinnedMap, type LogLine, mkdirRecord } from './fakes';
import { rig, running, shutdownRigs } from './harness';
import { pass } from '../harness/time';

afterEach(shutdownRigs);

const k8s = { namespace: 'shop', podName: 'cart-7d9', podUid: 'u-1', containerName: 'cart', podLabels: {}, podAnnotations: {} };
const ID_C = 'c'.repeat(64);
const ID_D = 'd'.repeat(64);

describe('pinned map entries', () => {
  test('k8s names where present, else the container name', () => {
    expect(entryOf(5, container('c1', 5, { k8s }))).toEqual({
      mntns: 5,
      containerId: 'c1',
      namespace: 'shop',
      pod: 'cart-7d9',
      container: 'cart',
    });
    expect(entryOf(6, container('c2', 6, { name: 'web' }))).toEqual({
      mntns: 6,
      containerId: 'c2',
      namespace: '',
      pod: '',
      container: 'web',
    });
  });

  test("another agent's entry says ids and names only", () => {
    expect(infoFromEntry({ mntns: 9, containerId: 'x', namespace: 'ns', pod: 'p', container: 'c' })).toMatchObject({
      id: 'x',
      name: 'c',
      runtime: 'pinned-map',
      pid: 0,
      k8s: { namespace: 'ns', podName: 'p', podUid: '', containerName: 'c' },
    });
    expect(infoFromEntry({ mntns: 9, containerId: 'y', namespace: '', pod: '', container: 'c' }).k8s).toBeUndefined();
  });

  test('overlong names reach the map cut to 255 bytes, never inside a UTF-8 character', async () => {
    const r = rig();
    await r.processor.start();
    r.clients[0].start(running(r, 'i'.repeat(300), 41, { name: 'a' + '€'.repeat(100) }));
    const entry = r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.lookup(41)!;
    expect(entry.containerId).toBe('i'.repeat(255));
    // 1 + 84×3 = 253 bytes; the 85th € would end at byte 256.
    expect(entry.container).toBe('a' + '€'.repeat(84));
  });
});

describe('PinnedMapWriter', () => {
  function writer() {
    const map = new FakePinnedMap('/sys/fs/bpf/test/containers', 2);
    const counters = new EnrichmentCounters();
    const logs: LogLine[] = [];
    const updates: number[] = [];
    const update = map.update.bind(map);
    map.update = (entry) => {
      updates.push(entry.mntns);
      update(entry);
    };
    return { map, counters, logs, updates, w: new PinnedMapWriter(map, counters, new WarnOnce(capturingLogger(logs))) };
  }

  test('put writes an entry once; a changed description rewrites it', () => {
    const { map, updates, w } = writer();
    w.put(11, container('a', 11, { name: 'web' }));
    w.put(11, container('a', 11, { name: 'web', state: 'paused' }));
    expect(updates).toEqual([11]);
    w.put(11, container('a', 11, { name: 'web', k8s }));
    expect(updates).toEqual([11, 11]);
    expect(map.lookup(11)).toMatchObject({ containerId: 'a', namespace: 'shop', container: 'cart' });
    expect(w.size).toBe(1);
  });

  test("a reused inode: the newer container owns the entry; the older one's release leaves it", () => {
    const { map, w } = writer();
    w.put(5001, container('A', 5001));
    w.put(5001, container('B', 5001));
    expect(map.lookup(5001)?.containerId).toBe('B');
    w.release(5001, 'A');
    expect(map.lookup(5001)?.containerId).toBe('B');
    w.release(7, 'nobody');
    expect(w.size).toBe(1);
    w.release(5001, 'B');
    expect(map.data.size).toBe(0);
    expect(w.size).toBe(0);
    // Written again after a release, even with the same description.
    w.put(5001, container('B', 5001));
    expect(map.lookup(5001)?.containerId).toBe('B');
  });

  test('reconcile: the map holds exactly the live containers, whatever an earlier run left', () => {
    const { map, w } = writer();
    map.data.set(21, entryOf(21, container('gone', 21)));
    map.data.set(22, entryOf(22, container('stays', 22)));
    // The inode of an exited container, now another's.
    map.data.set(23, entryOf(23, container('old', 23)));
    w.reconcile([
      [22, container('stays', 22)],
      [23, container('new', 23)],
    ]);
    expect([...map.data.values()].map((e) => [e.mntns, e.containerId]).sort()).toEqual([
      [22, 'stays'],
      [23, 'new'],
    ]);
    expect(w.size).toBe(2);
    w.release(23, 'old');
    expect(map.lookup(23)?.containerId).toBe('new');
  });

  test('failures are counted, and a full map warned about once', () => {
    const { map, counters, logs, w } = writer();
    w.put(1, container('a', 1));
    w.put(2, container('b', 2));
    w.put(3, container('c', 3));
    w.put(4, container('d', 4));
    expect(counters.mapErrors.update).toBe(2);
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([expect.stringContaining('cannot add container c (mntns 3)')]);
    expect(w.size).toBe(2);
    map.delete = () => {
      throw new Error('EPERM');
    };
    w.release(1, 'a');
    expect(counters.mapErrors.delete).toBe(1);
    map.entries = () => {
      throw new Error('EPERM');
    };
    w.reconcile([]);
    expect(counters.mapErrors.read).toBe(1);
  });
});

describe('our pinned map (writer)', () => {
  test('every known container is written, removed on exit, and the pin removed on shutdown', async () => {
    const r = rig();
    r.clients[0].start(running(r, 'c1', 11, { k8s }), true);
    await r.processor.start();
    const map = r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    expect(map.entries()).toEqual([{ mntns: 11, containerId: 'c1', namespace: 'shop', pod: 'cart-7d9', container: 'cart' }]);
    r.clients[0].start(running(r, 'c2', 12, { name: 'db' }));
    expect(map.lookup(12)?.container).toBe('db');
    r.clients[0].stop('c1');
    expect(map.lookup(11)).toBeUndefined();
    // The tombstone still enriches, but the map no longer claims the (reusable) inode.
    expect(r.processor.index.get('c1')?.info.state).toBe('stopped');
    await r.processor.shutdown();
    expect(map.closed).toBe(true);
    expect(r.maps.pinned.has(DEFAULT_WRITE_MAP_PATH)).toBe(false);
  });

  test('keep_on_shutdown keeps the pin; the next run drops entries of containers gone meanwhile, and of reused inodes', async () => {
    const maps = new FakeMaps();
    const first = rig({ pinned_map: { keep_on_shutdown: true } }, { maps });
    first.clients[0].start(running(first, 'old', 21), true);
    first.clients[0].start(running(first, 'stays', 22), true);
    first.clients[0].start(running(first, 'old2', 23), true);
    await first.processor.start();
    await first.processor.shutdown();
    const map = maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    expect(map.data.size).toBe(3);
    const second = rig({}, { maps });
    second.clients[0].start(running(second, 'stays', 22), true);
    second.clients[0].start(running(second, 'new2', 23), true);
    await second.processor.start();
    expect([...map.data.keys()].sort()).toEqual([22, 23]);
    expect(map.lookup(23)?.containerId).toBe('new2');
  });

  test('a full map is warned about once and counted; enrichment goes on', async () => {
    const r = rig({ pinned_map: { max_entries: 1 } });
    await r.processor.start();
    r.clients[0].start(running(r, 'a', 31));
    r.clients[0].start(running(r, 'b', 32));
    r.clients[0].start(running(r, 'c', 33));
    expect(r.processor.counters.mapErrors.update).toBe(2);
    expect(r.logs.filter((l) => l.msg.includes('cannot add container'))).toHaveLength(1);
    const cgroupOfC = r.cgroups.idOf('/test/ctr/c')!;
    await r.processor.consumeLogs(batchOf([execRecord(33, { mntns: 33, cgroupId: cgroupOfC })]));
    expect(r.out.records()[0].id).toBe('c');
  });

  test('a write map of another layout fails start with what to do', async () => {
    const maps = new FakeMaps();
    maps.wrongLayout.add(DEFAULT_WRITE_MAP_PATH);
    const r = rig({}, { maps });
    await expect(r.processor.start()).rejects.toThrow(
      /pinned containers map \/sys\/fs\/bpf\/ebpf-container-otel\/containers: .*value size 8.*rm/,
    );
  });

  test('write: false leaves bpffs alone', async () => {
    const r = rig({ pinned_map: { write: false } });
    r.clients[0].start(running(r, 'c1', 11), true);
    await r.processor.start();
    expect(r.maps.pinned.size).toBe(0);
    expect(await r.settings.metrics.metrics()).not.toMatch(/pinned_map_entries\{[^}]*map="write"/);
  });
});

describe("another agent's map (source)", () => {
  function gadgetMap(maps: FakeMaps): FakePinnedMap {
    const map = new FakePinnedMap(DEFAULT_READ_MAP_PATH);
    maps.pinned.set(DEFAULT_READ_MAP_PATH, map);
    return map;
  }

  test('describes a container no runtime knows, by its id, right away on a lookup miss', async () => {
    const maps = new FakeMaps();
    const gadget = gadgetMap(maps);
    const r = rig({ pending: { deadline: '10s' } }, { maps });
    await r.processor.start();
    // Its entry names the namespace the other agent saw, not necessarily the one its records carry now.
    gadget.update({ mntns: 4200, containerId: ID_C, namespace: 'kube-system', pod: 'coredns-1', container: 'coredns' });
    const c = box(ID_C, 501, 4242, `/k8s.io/${ID_C}`);
    r.cgroups.mkdir(c.cgroupId, c.path);
    const started = Date.now();
    await r.processor.consumeLogs(batchOf([mkdirRecord(c.cgroupId, c.path), execRecord(7, c)]));
    await r.out.waitFor(() => r.out.count() === 1, 'release via the source map');
    expect(Date.now() - started).toBeLessThan(5_000);
    const info = r.out.batches[0].containers?.[0];
    expect(info).toMatchObject({
      id: ID_C,
      name: 'coredns',
      runtime: 'pinned-map',
      k8s: { namespace: 'kube-system', podName: 'coredns-1', containerName: 'coredns' },
    });
    expect(r.processor.counters.releasedEnriched).toBe(1);
    // …and mirrored into ours under the namespace its records run in, for our own filter.
    const ours = maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    expect(ours.lookup(4242)?.containerId).toBe(ID_C);
    expect(ours.lookup(4200)).toBeUndefined();
  });

  test('followed as it changes: an entry that appears later describes its container; a map unpinned is let go', async () => {
    jest.useFakeTimers();
    const maps = new FakeMaps();
    const gadget = gadgetMap(maps);
    const r = rig({ pending: { deadline: '100ms' } }, { maps });
    await r.processor.start();
    const d = box(ID_D, 502, 4300);
    await r.processor.consumeLogs(batchOf([mkdirRecord(d.cgroupId, d.path), execRecord(8, d)]));
    await r.out.waitFor(() => r.out.count() === 1, 'path-only release');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_D, name: '' });
    gadget.update({ mntns: 4300, containerId: ID_D, namespace: '', pod: '', container: 'late' });
    await r.out.waitFor(() => r.processor.index.get(ID_D)?.described === true, 'source poll');
    await r.processor.consumeLogs(batchOf([execRecord(9, d)]));
    expect(r.out.batches[1].containers?.[0]).toMatchObject({ id: ID_D, name: 'late', runtime: 'pinned-map' });
    expect(await r.settings.metrics.metrics()).toMatch(/pinned_map_entries\{component="processors.container_enrichment",map="read"\} 1\n/);
    maps.pinned.delete(DEFAULT_READ_MAP_PATH);
    await r.out.waitFor(() => gadget.closed, 'the unpinned map closed');
    expect(r.logs.some((l) => l.msg === `pinned map ${DEFAULT_READ_MAP_PATH} is gone`)).toBe(true);
    expect(await r.settings.metrics.metrics()).not.toMatch(/pinned_map_entries\{[^}]*map="read"/);
    // What it said stays.
    expect(r.processor.index.get(ID_D)?.info.name).toBe('late');
  });

  test('a runtime knows better than the map for the same container', async () => {
    jest.useFakeTimers();
    const maps = new FakeMaps();
    gadgetMap(maps).update({ mntns: 3, containerId: ID_C, namespace: '', pod: '', container: 'from-map' });
    const r = rig({}, { maps });
    const c = box(ID_C, 503, 3);
    r.cgroups.mkdir(c.cgroupId, c.path);
    r.clients[0].start(container(ID_C, 3, { name: 'from-runtime' }), true);
    await r.processor.start();
    await pass(600);
    expect(r.processor.index.lookup(c.cgroupId)?.info).toMatchObject({ runtime: 'docker', name: 'from-runtime' });
  });

  test('a map of another layout is refused loudly, once, and never read', async () => {
    jest.useFakeTimers();
    const maps = new FakeMaps();
    maps.wrongLayout.add(DEFAULT_READ_MAP_PATH);
    const r = rig({ pending: { deadline: '20ms' } }, { maps });
    await r.processor.start();
    const c = box(ID_C, 504, 4242, `/k8s.io/${ID_C}`);
    await r.processor.consumeLogs(batchOf([mkdirRecord(c.cgroupId, c.path), execRecord(7, c)]));
    await r.out.waitFor(() => r.out.count() === 1, 'deadline');
    // Many source re-reads (SOURCE_REREAD_MS) later: still the one error.
    await pass(600);
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain(`pinned map ${DEFAULT_READ_MAP_PATH} refused as a container source`);
    expect(errors[0].msg).toContain('value size 8');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_C, runtime: 'containerd', name: '' });
  });
});
