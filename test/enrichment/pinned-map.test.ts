import { DEFAULT_READ_MAP_PATH, DEFAULT_WRITE_MAP_PATH } from '../../src/processors/container-enrichment/config';
import { entryOf } from '../../src/processors/container-enrichment/pinned-map';
import { batchOf, container, execRecord, FakeMaps, FakePinnedMap } from './fakes';
import { rig, shutdownRigs } from './harness';

afterEach(shutdownRigs);

const k8s = { namespace: 'shop', podName: 'cart-7d9', podUid: 'u-1', containerName: 'cart' };

describe('pinned map entries', () => {
  test('k8s names where present, else the container name', () => {
    expect(entryOf(5, container('c1', 5, { k8s }))).toEqual({ mntns: 5, containerId: 'c1', namespace: 'shop', pod: 'cart-7d9', container: 'cart' });
    expect(entryOf(6, container('c2', 6, { name: 'web' }))).toEqual({ mntns: 6, containerId: 'c2', namespace: '', pod: '', container: 'web' });
  });

  test('overlong names reach the map cut to 255 bytes, never inside a UTF-8 character', async () => {
    const r = rig();
    await r.processor.start();
    r.clients[0].start(container('i'.repeat(300), 41, { name: 'a' + '€'.repeat(100) }));
    const entry = r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.lookup(41)!;
    expect(entry.containerId).toBe('i'.repeat(255));
    // 1 + 84×3 = 253 bytes; the 85th € would end at byte 256.
    expect(entry.container).toBe('a' + '€'.repeat(84));
  });
});

describe('our pinned map (writer)', () => {
  test('every known container is written, removed on exit, and the pin removed on shutdown', async () => {
    const r = rig();
    r.clients[0].start(container('c1', 11, { k8s }), true);
    await r.processor.start();
    const map = r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    expect(map.entries()).toEqual([{ mntns: 11, containerId: 'c1', namespace: 'shop', pod: 'cart-7d9', container: 'cart' }]);
    r.clients[0].start(container('c2', 12, { name: 'db' }));
    expect(map.lookup(12)?.container).toBe('db');
    r.clients[0].stop('c1');
    expect(map.lookup(11)).toBeUndefined();
    // The tombstone still enriches, but the map no longer claims the (reusable) inode.
    expect(r.processor.index.lookup(11)?.id).toBe('c1');
    await r.processor.shutdown();
    expect(map.closed).toBe(true);
    expect(r.maps.pinned.has(DEFAULT_WRITE_MAP_PATH)).toBe(false);
  });

  test('keep_on_shutdown keeps the pin; the next run drops entries of containers gone meanwhile', async () => {
    const maps = new FakeMaps();
    const first = rig({ pinned_map: { keep_on_shutdown: true } }, { maps });
    first.clients[0].start(container('old', 21), true);
    first.clients[0].start(container('stays', 22), true);
    await first.processor.start();
    await first.processor.shutdown();
    const map = maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    expect(map.data.size).toBe(2);
    const second = rig({}, { maps });
    second.clients[0].start(container('stays', 22), true);
    await second.processor.start();
    expect([...map.data.keys()]).toEqual([22]);
  });

  test('a full map is warned about once and counted; enrichment goes on', async () => {
    const r = rig({ pinned_map: { max_entries: 1 } });
    await r.processor.start();
    r.clients[0].start(container('a', 31));
    r.clients[0].start(container('b', 32));
    r.clients[0].start(container('c', 33));
    expect(r.processor.counters.mapErrors.update).toBe(2);
    expect(r.logs.filter((l) => l.msg.includes('cannot add container'))).toHaveLength(1);
    expect(r.processor.index.lookup(33)?.id).toBe('c');
  });

  test('a write map of another layout fails start with what to do', async () => {
    const maps = new FakeMaps();
    maps.wrongLayout.add(DEFAULT_WRITE_MAP_PATH);
    const r = rig({}, { maps });
    await expect(r.processor.start()).rejects.toThrow(/pinned containers map \/sys\/fs\/bpf\/ebpf-container-otel\/containers: .*value size 8.*rm/);
  });

  test('write: false leaves bpffs alone', async () => {
    const r = rig({ pinned_map: { write: false } });
    r.clients[0].start(container('c1', 11), true);
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

  test('enriches a namespace no runtime knows, right away on a lookup miss', async () => {
    const maps = new FakeMaps();
    const gadget = gadgetMap(maps);
    const r = rig({ pending: { deadline: '10s' } }, { maps });
    await r.processor.start();
    gadget.update({ mntns: 4242, containerId: 'ig-1', namespace: 'kube-system', pod: 'coredns-1', container: 'coredns' });
    await r.processor.consumeLogs(batchOf([execRecord(7, 4242)]));
    await r.out.waitFor(() => r.out.count() === 1, 'release via the source map');
    const info = r.out.batches[0].containers?.[0];
    expect(info).toMatchObject({ id: 'ig-1', name: 'coredns', runtime: 'pinned-map', k8s: { namespace: 'kube-system', podName: 'coredns-1', containerName: 'coredns' } });
    // …and mirrored into ours, for our own filter.
    expect(maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.lookup(4242)?.containerId).toBe('ig-1');
  });

  test('followed as it changes: entries appear, and vanish into tombstones', async () => {
    const maps = new FakeMaps();
    const gadget = gadgetMap(maps);
    gadget.update({ mntns: 1, containerId: 'ig-a', namespace: '', pod: '', container: 'a' });
    const r = rig({}, { maps });
    await r.processor.start();
    expect(r.processor.index.lookup(1)?.id).toBe('ig-a');
    gadget.update({ mntns: 2, containerId: 'ig-b', namespace: '', pod: '', container: 'b' });
    gadget.delete(1);
    await r.out.waitFor(() => r.processor.index.lookup(2) !== undefined, 'source poll');
    expect(r.processor.index.lookup(1)?.state).toBe('stopped');
    expect(maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.lookup(1)).toBeUndefined();
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toMatch(/pinned_map_entries\{component="processors.container_enrichment",map="read"\} 1\n/);
  });

  test('a runtime knows better than the map for the same namespace', async () => {
    const maps = new FakeMaps();
    gadgetMap(maps).update({ mntns: 3, containerId: 'x', namespace: '', pod: '', container: 'from-map' });
    const r = rig({}, { maps });
    r.clients[0].start(container('x', 3, { name: 'from-runtime' }), true);
    await r.processor.start();
    expect(r.processor.index.lookup(3)).toMatchObject({ runtime: 'docker', name: 'from-runtime' });
  });

  test('a map of another layout is refused loudly, once, and never read', async () => {
    const maps = new FakeMaps();
    maps.wrongLayout.add(DEFAULT_READ_MAP_PATH);
    const r = rig({ pending: { deadline: '20ms' } }, { maps });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(7, 4242)]));
    await r.out.waitFor(() => r.out.count() === 1, 'deadline');
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain(`pinned map ${DEFAULT_READ_MAP_PATH} refused as a container source`);
    expect(errors[0].msg).toContain('value size 8');
    expect(r.out.records()[0].id).toBeNull();
  });
});
