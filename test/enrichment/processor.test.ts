import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { mergeDefaults } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import { DEFAULT_WRITE_MAP_PATH } from '../../src/processors/container-enrichment/config';
import { refusingSocket } from '../runtimes/helpers';
import { batchOf, CollectingConsumer, container, execRecord, exitRecord, FakeRuntimeClient, testSettings } from './fakes';
import { rig, shutdownRigs } from './harness';

const HOST = 4026531840;
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

afterEach(shutdownRigs);

describe('container enrichment: the hot path', () => {
  test('known, host and unknown namespaces in one batch', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    const batch = batchOf([execRecord(1, 5001), execRecord(2, HOST), execRecord(3, 5001), execRecord(4, 9999)]);
    await r.processor.consumeLogs(batch);
    expect(r.out.records()).toEqual([
      { pid: 1, mntns: 5001, id: ID_A, comm: 'sh' },
      { pid: 2, mntns: HOST, id: null, comm: 'sh' },
      { pid: 3, mntns: 5001, id: ID_A, comm: 'sh' },
    ]);
    expect(r.out.batches[0].containers?.[1]).toBeNull();
    expect(r.processor.pending.size).toBe(1);
    expect(r.processor.counters).toMatchObject({ hits: 2, misses: 1, hostEvents: 1 });
  });

  test('host_events: drop removes host events and counts them as dropped', async () => {
    const r = rig({ host_events: 'drop' });
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(1, HOST), execRecord(2, 5001), execRecord(3, HOST)]));
    expect(r.out.records().map((x) => x.pid)).toEqual([2]);
    expect(r.settings.stage.dropped.get('host_event')).toBe(2);
  });

  test('a batch of only held records sends nothing downstream', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(1, 9999), execRecord(2, 9999)]));
    expect(r.out.batches).toHaveLength(0);
    expect(r.processor.pending.size).toBe(2);
  });
});

describe('container enrichment: unknown namespaces wait, bounded', () => {
  test('the on-demand lookup (pid → cgroup → runtime get) releases held records enriched, in order', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    // The container exists in the runtime, but no event told us yet.
    r.clients[0].start(container(ID_A, 0, { pid: 0 }), true);
    r.proc.dockerProcess(42, ID_A, 6001);
    await r.processor.consumeLogs(batchOf([execRecord(42, 6001, 'first'), execRecord(43, 6001, 'second')]));
    await r.out.waitFor(() => r.out.count() === 2, 'held records released');
    expect(r.out.records()).toEqual([
      { pid: 42, mntns: 6001, id: ID_A, comm: 'first' },
      { pid: 43, mntns: 6001, id: ID_A, comm: 'second' },
    ]);
    expect(r.out.batches).toHaveLength(1);
    expect(r.processor.counters.releasedEnriched).toBe(2);
    // Later records of that namespace are now hits.
    await r.processor.consumeLogs(batchOf([execRecord(44, 6001)]));
    expect(r.out.records()[2].id).toBe(ID_A);
    expect(r.processor.pending.size).toBe(0);
  });

  test('held records go with the first runtime to answer; a slower, richer one improves the index later', async () => {
    const containerd = new FakeRuntimeClient('containerd');
    const docker = new FakeRuntimeClient('docker');
    let answer: () => void = () => undefined;
    docker.getGate = new Promise((resolve) => (answer = resolve));
    const r = rig({ pending: { deadline: '10s' } }, { clients: [docker, containerd] });
    await r.processor.start();
    containerd.start(container(ID_A, 0, { runtime: 'containerd', name: ID_A }), true);
    docker.start(container(ID_A, 0, { runtime: 'docker', name: 'web' }), true);
    r.proc.dockerProcess(80, ID_A, 6100);
    await r.processor.consumeLogs(batchOf([execRecord(80, 6100)]));
    await r.out.waitFor(() => r.out.count() === 1, 'release on the first answer');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ runtime: 'containerd', name: ID_A });
    answer();
    await r.out.waitFor(() => r.processor.index.lookup(6100)?.runtime === 'docker', 'the richer answer');
    expect(r.processor.index.lookup(6100)?.name).toBe('web');
  });

  test('a runtime event arriving first releases the held records', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(50, 7001)]));
    expect(r.processor.pending.size).toBe(1);
    r.clients[0].start(container(ID_B, 7001));
    expect(r.out.records()).toEqual([{ pid: 50, mntns: 7001, id: ID_B, comm: 'sh' }]);
    expect(r.processor.pending.size).toBe(0);
  });

  test('a started event without a namespace: the pid of the event gives it', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.proc.mntnsOf.set(77, 7100);
    r.clients[0].containers.set('c77', container('c77', 0, { pid: 77 }));
    r.clients[0].emit({ kind: 'started', runtime: 'docker', id: 'c77' });
    await r.out.waitFor(() => r.processor.index.lookup(7100) !== undefined, 'container indexed after get');
    expect(r.processor.index.lookup(7100)?.id).toBe('c77');
  });

  test('on deadline, records are released unenriched and counted', async () => {
    const r = rig({ pending: { deadline: '30ms' } });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(60, 8001), execRecord(61, 8002), execRecord(62, 8001)]));
    await r.out.waitFor(() => r.out.count() === 3, 'deadline release');
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([[60, null], [62, null], [61, null]]);
    expect(r.processor.counters.releasedUnenriched.deadline).toBe(3);
    expect(r.processor.pending.size).toBe(0);
  });

  test('a namespace that missed its deadline is not held again until a resync could know it', async () => {
    const r = rig({ pending: { deadline: '20ms' }, resync_interval: '1h' });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(70, 8101)]));
    await r.out.waitFor(() => r.out.count() === 1, 'deadline release');
    // A service with a private /tmp: its processes are in no container cgroup.
    r.proc.mntnsOf.set(71, 8101);
    r.proc.cgroupOf.set(71, '0::/system.slice/foo.service\n');
    await r.processor.consumeLogs(batchOf([execRecord(71, 8101), exitRecord(71, 8101)]));
    expect(r.out.count()).toBe(3);
    expect(r.processor.pending.size).toBe(0);
    expect(r.processor.counters.releasedUnenriched).toMatchObject({ deadline: 1, unidentified: 2 });
    expect(await r.settings.metrics.metrics()).toMatch(/enrichment_unidentified_namespaces\{component="processors.container_enrichment"\} 1/);
    // Its inode reused by a container: an exec from a container cgroup is held and looked up again.
    r.clients[0].start(container(ID_A, 0, { pid: 0 }), true);
    r.proc.dockerProcess(72, ID_A, 8101);
    await r.processor.consumeLogs(batchOf([execRecord(72, 8101)]));
    await r.out.waitFor(() => r.out.count() === 4, 'lookup');
    expect(r.out.records()[3].id).toBe(ID_A);
  });

  test('beyond max_per_mntns and max_total records pass unenriched at once, counted', async () => {
    const r = rig({ pending: { max_per_mntns: 2, max_total: 3, deadline: '10s' } });
    await r.processor.start();
    const specs = [execRecord(1, 9001), execRecord(2, 9001), execRecord(3, 9001), execRecord(4, 9002), execRecord(5, 9003)];
    await r.processor.consumeLogs(batchOf(specs));
    expect(r.out.records().map((x) => x.pid)).toEqual([3, 5]);
    expect(r.processor.pending.size).toBe(3);
    expect(r.processor.counters.releasedUnenriched.overflow).toBe(2);
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toMatch(/ebpf_container_otel_enrichment_pending_records\{component="processors.container_enrichment"\} 3/);
    expect(metrics).toMatch(/ebpf_container_otel_enrichment_released_unenriched_total\{component="processors.container_enrichment",reason="overflow"\} 2/);
  });

  test('shutdown releases what is held, unenriched', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(1, 9001)]));
    await r.processor.shutdown();
    expect(r.out.records().map((x) => x.pid)).toEqual([1]);
    expect(r.processor.counters.releasedUnenriched.shutdown).toBe(1);
  });

  test('a process in a nested namespace of a known container is tied to it', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    r.proc.dockerProcess(90, ID_A, 5002);
    await r.processor.consumeLogs(batchOf([execRecord(90, 5002)]));
    await r.out.waitFor(() => r.out.count() === 1, 'nested namespace resolved');
    expect(r.out.records()[0].id).toBe(ID_A);
    expect(r.processor.index.lookup(5002)?.id).toBe(ID_A);
    // Known by id already: no runtime round trip.
    expect(r.clients[0].getCalls).toBe(0);
  });

  test('ids read from the cgroup while the process lived still resolve once the runtime knows them', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.proc.dockerProcess(95, ID_B, 5100);
    await r.processor.consumeLogs(batchOf([execRecord(95, 5100, 'short')]));
    // The process is gone before its runtime reports the container (and without a namespace: all exited).
    r.proc.mntnsOf.delete(95);
    r.proc.cgroupOf.delete(95);
    r.clients[0].start(container(ID_B, 0, { pid: 0 }), true);
    await r.out.waitFor(() => r.out.count() === 1, 'retried lookup');
    expect(r.out.records()[0]).toMatchObject({ pid: 95, id: ID_B });
  });

  test('a description without a namespace updates a container known by id', async () => {
    const containerd = new FakeRuntimeClient('containerd');
    const r = rig({}, { clients: [containerd, new FakeRuntimeClient('docker')] });
    await r.processor.start();
    containerd.start(container(ID_A, 5200, { runtime: 'containerd', name: ID_A, image: { name: '', id: '', digest: '' } }));
    r.clients[1].start(container(ID_A, 0, { pid: 0, name: 'web', runtime: 'docker' }));
    expect(r.processor.index.lookup(5200)).toMatchObject({ runtime: 'docker', name: 'web', image: { name: `busybox:${ID_A}` } });
    expect(r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.lookup(5200)?.container).toBe('web');
  });

  test('a pid now living in another namespace does not speak for the event\'s', async () => {
    const r = rig({ pending: { deadline: '60ms' } });
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    r.proc.dockerProcess(91, ID_A, 5003);
    await r.processor.consumeLogs(batchOf([execRecord(91, 5004)]));
    await r.out.waitFor(() => r.out.count() === 1, 'deadline release');
    expect(r.out.records()[0].id).toBeNull();
    // Unidentified, which exporters tell from the host's own events (null).
    expect(r.out.batches[0].containers).toEqual([undefined]);
    expect(r.processor.index.lookup(5004)).toBeUndefined();
  });
});

describe('container enrichment: runtimes', () => {
  test('exited containers enrich late events until the tombstone expires', async () => {
    let now = 0;
    const r = rig({ tombstone_ttl: '30s', pending: { deadline: '10s' } }, { now: () => now });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 5001));
    r.clients[0].stop(ID_A);
    await r.processor.consumeLogs(batchOf([exitRecord(1, 5001)]));
    expect(r.out.records()[0].id).toBe(ID_A);
    expect(r.out.batches[0].containers?.[0]?.state).toBe('stopped');
    now = 30_000;
    r.processor.index.sweep();
    await r.processor.consumeLogs(batchOf([execRecord(2, 5001)]));
    expect(r.out.count()).toBe(1);
    expect(r.processor.pending.size).toBe(1);
  });

  test("a tombstone's reused inode: an exec after the death, or a process started after it, is a new container's", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.clients[0].start(container('old', 5300));
    r.clients[0].stop('old');
    // A late exit of the old container's last process still enriches.
    await r.processor.consumeLogs(batchOf([exitRecord(10, 5300)]));
    expect(r.out.records()[0].id).toBe('old');
    // runc's init of a new container opens files before its first exec: it started after the death.
    r.proc.startOf.set(11, Number(process.hrtime.bigint() / 1_000_000n) + 60_000);
    await r.processor.consumeLogs(batchOf([{ ...exitRecord(11, 5300), type: 'open', path: '/etc/passwd', ret: 3 }, execRecord(11, 5300, 'first')]));
    expect(r.out.count()).toBe(1);
    expect(r.processor.index.lookup(5300)).toBeUndefined();
    r.clients[0].start(container('new', 5300));
    expect(r.out.records().slice(1).map((x) => [x.pid, x.id])).toEqual([[11, 'new'], [11, 'new']]);
  });

  test('a resync tombstones containers the runtime no longer lists, and adds missed ones', async () => {
    const r = rig({ resync_interval: '20ms' });
    r.clients[0].start(container('gone', 1), true);
    await r.processor.start();
    expect(r.processor.index.lookup(1)?.id).toBe('gone');
    r.clients[0].containers.delete('gone');
    r.clients[0].start(container('missed', 2), true);
    await r.out.waitFor(() => r.processor.index.lookup(2) !== undefined, 'resync');
    expect(r.processor.index.lookup(1)?.state).toBe('stopped');
  });

  test('an unreachable runtime does not stop the others; warning about its outage is left to its client', async () => {
    const down = new FakeRuntimeClient('podman', '/run/podman/podman.sock');
    down.unreachable = true;
    const up = new FakeRuntimeClient('docker');
    up.start(container('d1', 11), true);
    const r = rig({ resync_interval: '10ms' }, { clients: [down, up] });
    await r.processor.start();
    expect(r.processor.index.lookup(11)?.id).toBe('d1');
    await new Promise((res) => setTimeout(res, 60));
    // Real clients warn once per outage themselves (see the real-client test below); the processor only notes each failed list.
    expect(r.logs.filter((l) => l.level === 'warn')).toEqual([]);
    const failed = r.logs.filter((l) => l.level === 'debug' && l.msg.includes('/run/podman/podman.sock'));
    expect(failed.length).toBeGreaterThan(1);
    expect(failed[0].msg).toContain('connection refused: cannot list containers');
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toContain('ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="podman",endpoint="/run/podman/podman.sock"} 0');
    expect(metrics).toContain('ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="docker",endpoint="/run/fake.sock"} 1');
  });

  test('a richer runtime wins for the same container; the containerd view does not flip it back', async () => {
    const containerd = new FakeRuntimeClient('containerd');
    const docker = new FakeRuntimeClient('docker');
    containerd.start(container(ID_A, 5001, { runtime: 'containerd', name: ID_A }), true);
    docker.start(container(ID_A, 5001, { runtime: 'docker', name: 'web' }), true);
    const r = rig({ resync_interval: '10ms' }, { clients: [containerd, docker] });
    await r.processor.start();
    await new Promise((res) => setTimeout(res, 40));
    expect(r.processor.index.lookup(5001)).toMatchObject({ runtime: 'docker', name: 'web' });
  });

  test('sandboxes are never indexed; exits seen before a slow get win', async () => {
    const r = rig();
    await r.processor.start();
    r.clients[0].start(container('pause', 12, { sandbox: true }));
    expect(r.processor.index.lookup(12)).toBeUndefined();
    r.clients[0].containers.set('slow', container('slow', 13));
    r.clients[0].emit({ kind: 'started', runtime: 'docker', id: 'slow' });
    r.clients[0].emit({ kind: 'exited', runtime: 'docker', id: 'slow' });
    await new Promise((res) => setImmediate(res));
    expect(r.clients[0].getCalls).toBe(1);
    expect(r.processor.index.lookup(13)).toBeUndefined();
  });

  test('1,000 containers started and stopped through runtime events: index, tombstones, pinned map back to base', async () => {
    let now = 0;
    const r = rig({ max_containers: 4096, pinned_map: { max_entries: 4096 } }, { now: () => now });
    r.clients[0].start(container('base', 3), true);
    await r.processor.start();
    const map = r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;
    const base = { live: r.processor.index.liveSize(), tombstones: r.processor.index.tombstoneCount(), pinned: map.data.size };
    expect(base).toEqual({ live: 1, tombstones: 0, pinned: 1 });
    for (let k = 0; k < 1_000; k++) r.clients[0].start(container(`c${k}`, 100_000 + k));
    expect(r.processor.index.liveSize()).toBe(1_001);
    expect(map.data.size).toBe(1_001);
    for (let k = 0; k < 1_000; k++) r.clients[0].stop(`c${k}`);
    expect(map.data.size).toBe(1);
    expect(r.processor.index.tombstoneCount()).toBe(1_000);
    now = 30_000;
    r.processor.index.sweep();
    expect({ live: r.processor.index.liveSize(), tombstones: r.processor.index.tombstoneCount(), pinned: map.data.size }).toEqual(base);
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toMatch(/enrichment_index_containers\{component="processors.container_enrichment"\} 1\n/);
    expect(metrics).toMatch(/enrichment_tombstones\{component="processors.container_enrichment"\} 0\n/);
    expect(metrics).toMatch(/enrichment_pinned_map_entries\{component="processors.container_enrichment",map="write"\} 1\n/);
  });

  test("a container in the host's mount namespace is never indexed: host events stay host events", async () => {
    const r = rig();
    await r.processor.start();
    r.clients[0].start(container('hostns', HOST));
    await r.processor.consumeLogs(batchOf([execRecord(1, HOST)]));
    expect(r.out.records()[0].id).toBeNull();
    expect(r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!.data.size).toBe(0);
    expect(r.logs.some((l) => l.msg.includes("shares the host's mount namespace"))).toBe(true);
  });

  test('max_containers is enforced, warned about once and counted', async () => {
    const r = rig({ max_containers: 2 });
    await r.processor.start();
    for (let k = 0; k < 4; k++) r.clients[0].start(container(`c${k}`, 200 + k));
    expect(r.processor.index.liveSize()).toBe(2);
    expect(r.processor.index.refused).toBe(2);
    expect(r.logs.filter((l) => l.msg.includes('container index full'))).toHaveLength(1);
    expect(await r.settings.metrics.metrics()).toMatch(/enrichment_index_refused_total\{component="processors.container_enrichment"\} 2/);
  });
});

describe('container enrichment: with the real runtime clients', () => {
  test('a socket that refuses connections gives one warning per outage, though resyncs and the watch keep retrying', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'eco-refused-'));
    const socket = path.join(dir, 'docker.sock');
    refusingSocket(socket);
    const lines: string[] = [];
    // As the agent composes it: the factory, whose runtime clients log under the processor's logger.
    const settings = { ...testSettings(), logger: createLogger('debug', 'processors.container_enrichment', (l) => lines.push(l)) };
    const config = mergeDefaults(containerEnrichmentProcessorFactory.createDefaultConfig(), {
      runtimes: { docker: { socket }, containerd: { enabled: false }, cri: { enabled: false }, podman: { enabled: false }, lxc: { enabled: false } },
      resync_interval: '50ms',
      pinned_map: { write: false, read_path: path.join(dir, 'no-map') },
    });
    expect(containerEnrichmentProcessorFactory.validate!(config)).toEqual([]);
    const processor = containerEnrichmentProcessorFactory.create(config, settings, new CollectingConsumer());
    try {
      await processor.start();
      // Several resyncs (every 50 ms) and watch reconnects (backoff from 250 ms) fail meanwhile.
      await new Promise((r) => setTimeout(r, 800));
    } finally {
      await processor.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
    const warnings = lines.filter((l) => / warn /.test(l) && l.includes(socket));
    expect(warnings).toEqual([expect.stringContaining(`docker at ${socket}: connection refused (the daemon is not running or not listening on this socket); retrying`)]);
    // The resyncs did run and fail: each is a debug line, not another warning.
    expect(lines.filter((l) => / debug .*cannot list containers/.test(l)).length).toBeGreaterThan(3);
  });
});
