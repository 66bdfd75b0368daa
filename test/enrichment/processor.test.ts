import { mkdtempSync, rmSync } from 'node:fs';
import { ContainerDirectory } from '../../src/pipeline/containers';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { RecordSpec } from '../../src/events';
import { mergeDefaults } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import { DEFAULT_READ_MAP_PATH, DEFAULT_WRITE_MAP_PATH } from '../../src/processors/container-enrichment/config';
import { refusingSocket } from '../runtimes/helpers';
import {
  batchOf,
  type Box,
  box,
  CollectingConsumer,
  container,
  execRecord,
  exitRecord,
  FakeMaps,
  FakePinnedMap,
  FakeRuntimeClient,
  hexId,
  mkdirRecord,
  openRecord,
  rmdirRecord,
  ROOT_CGROUP,
  testSettings,
} from './fakes';
import { type Rig, rig, shutdownRigs } from './harness';
import { pass } from '../harness/time';

const HOST = 4026531840;
/** A host process: the host's mount namespace, the root cgroup. */
const HOST_AT = { mntns: HOST, cgroupId: ROOT_CGROUP };
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const ID_C = 'c'.repeat(64);
const ID_D = 'd'.repeat(64);
const ID_E = 'e'.repeat(64);
const POD_UID = '0c3e7d1a-1111-2222-3333-444455556666';

afterEach(shutdownRigs);

/** The runtime made `b`'s cgroup: it is in the tree, and the kernel's record of it is returned. */
function made(r: Rig, b: Box): RecordSpec {
  r.cgroups.mkdir(b.cgroupId, b.path);
  return mkdirRecord(b.cgroupId, b.path);
}

/** The runtime removed `b`'s cgroup (its last process exited). */
function removed(r: Rig, b: Box): RecordSpec {
  r.cgroups.rmdir(b.cgroupId);
  return rmdirRecord(b.cgroupId, b.path);
}

const send = (r: Rig, specs: RecordSpec[]) => r.processor.consumeLogs(batchOf(specs));

/** Container C, described by the runtime, whose cgroup_mkdir record was lost (a full ring buffer): pid 42 of it is in /proc. */
function lostMkdir(r: Rig): Box {
  const c = box(ID_C, 401, 6001);
  r.cgroups.mkdir(c.cgroupId, c.path);
  r.proc.process(42, c.path, c.mntns);
  r.clients[0].start(container(ID_C, 0), true);
  return c;
}
const ourMap = (r: Rig) => r.maps.pinned.get(DEFAULT_WRITE_MAP_PATH)!;

describe('container enrichment: the hot path', () => {
  test('host, known and unknown cgroups in one batch', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    const a = box(ID_A, 101, 5001);
    // Made before the agent started: the walk at start finds it, the runtime's list describes it.
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    const unknown = { mntns: 9999, cgroupId: 777 };
    // A host process in a cgroup never seen (a new service's): the host's namespace says enough.
    const hostElsewhere = { mntns: HOST, cgroupId: 888 };
    await send(r, [execRecord(1, a), execRecord(2, HOST_AT), execRecord(3, a), execRecord(4, unknown), execRecord(5, hostElsewhere)]);
    expect(r.out.records()).toEqual([
      { pid: 1, mntns: 5001, id: ID_A, comm: 'sh' },
      { pid: 2, mntns: HOST, id: null, comm: 'sh' },
      { pid: 3, mntns: 5001, id: ID_A, comm: 'sh' },
      { pid: 5, mntns: HOST, id: null, comm: 'sh' },
    ]);
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_A, name: `name-${ID_A}`, runtime: 'docker', cgroupPath: a.path });
    expect(r.out.batches[0].containers?.[1]).toBeNull();
    expect(r.out.batches[0].containers?.[3]).toBeNull();
    expect(r.processor.pending.size).toBe(1);
    expect(r.processor.counters).toMatchObject({ hits: 2, misses: 1, hostEvents: 2 });
  });

  test('runs of records of one cgroup: each record gets the answer and the count it would get alone', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    const a = box(ID_A, 101, 5001);
    const b = box(ID_B, 102, 5002);
    for (const [x, mntns] of [
      [a, 5001],
      [b, 5002],
    ] as const) {
      r.cgroups.mkdir(x.cgroupId, x.path);
      r.clients[0].start(container(x.id, mntns), true);
    }
    await r.processor.start();
    const unknown = { mntns: 9999, cgroupId: 777 };
    const hostElsewhere = { mntns: HOST, cgroupId: 888 };
    const at = [a, a, HOST_AT, HOST_AT, a, unknown, unknown, b, b, hostElsewhere, hostElsewhere, a];
    await send(
      r,
      at.map((where, k) => execRecord(k + 1, where)),
    );
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([
      [1, ID_A],
      [2, ID_A],
      [3, null],
      [4, null],
      [5, ID_A],
      [8, ID_B],
      [9, ID_B],
      [10, null],
      [11, null],
      [12, ID_A],
    ]);
    expect(r.out.batches[0].containers?.[6]).toMatchObject({ id: ID_B, name: `name-${ID_B}` });
    expect(r.processor.counters).toMatchObject({ hits: 6, misses: 2, hostEvents: 4 });
  });

  test('a run is only the very next record: a record in between that makes the index know a cgroup ends it', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    // A process of it still in the host's mount namespace (runc's init) comes first.
    const c = lostMkdir(r);
    const initAt = { mntns: HOST, cgroupId: c.cgroupId };
    await send(r, [execRecord(41, initAt), execRecord(42, c), execRecord(43, initAt)]);
    await r.out.waitFor(() => r.out.count() === 3, 'held records released');
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([
      [41, null],
      [42, ID_C],
      [43, ID_C],
    ]);
  });

  test('host_events: drop removes records of no container (host and private-namespace services), counted as dropped', async () => {
    const r = rig({ host_events: 'drop' });
    const a = box(ID_A, 101, 5001);
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    // A service with a private /tmp: its own mount namespace, a cgroup of no container.
    r.cgroups.mkdir(301, '/system.slice/foo.service');
    r.proc.process(9, '/system.slice/foo.service', 8101);
    const service = { mntns: 8101, cgroupId: 301 };
    await send(r, [execRecord(1, HOST_AT), execRecord(2, a), execRecord(9, service), execRecord(3, HOST_AT)]);
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([[2, ID_A]]);
    expect(r.settings.stage.dropped.get('host_event')).toBe(3);
    expect(r.processor.counters.hostEvents).toBe(2);
    expect(r.processor.counters.withoutMetadata.not_container).toBe(1);
    // Known as no container's now: one map lookup, no /proc read.
    r.proc.gone(9);
    await send(r, [exitRecord(9, service)]);
    expect(r.settings.stage.dropped.get('host_event')).toBe(4);
    expect(r.processor.pending.size).toBe(0);
  });

  test('a batch of only held records sends nothing downstream', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    await send(r, [execRecord(1, { mntns: 9999, cgroupId: 700 }), execRecord(2, { mntns: 9999, cgroupId: 700 })]);
    expect(r.out.batches).toHaveLength(0);
    expect(r.processor.pending.size).toBe(2);
  });

  test('a record whose cgroup the kernel could not read passes at once, counted no_cgroup', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    await send(r, [execRecord(1, { mntns: 9999, cgroupId: 0 }), execRecord(2, { mntns: HOST, cgroupId: 0 })]);
    expect(r.out.batches[0].containers).toEqual([undefined, null]);
    expect(r.processor.counters.withoutMetadata.no_cgroup).toBe(1);
    expect(r.processor.pending.size).toBe(0);
  });
});

describe('container enrichment: containers learned from the kernel', () => {
  test('a container is learned from its cgroup_mkdir record and described by id before its first record', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const b = box(ID_B, 102, 5002);
    // The runtime knows it; no event told us.
    r.clients[0].start(container(ID_B, 0, { name: 'web' }), true);
    await send(r, [made(r, b)]);
    await r.out.waitFor(() => r.processor.index.get(ID_B)?.described === true, 'the lookup by id');
    expect(r.clients[0].getCalls).toBe(1);
    await send(r, [execRecord(10, b, 'first')]);
    // Enriched on arrival: no wait, no /proc read (this fake /proc has no process), no walk of the tree.
    expect(r.out.tagged()).toEqual([
      { pid: 10, comm: 'first', cgroupId: 102, container: expect.objectContaining({ id: ID_B, name: 'web', runtime: 'docker' }) },
    ]);
    expect(r.processor.counters).toMatchObject({ hits: 1, misses: 0 });
    expect(r.processor.pending.size).toBe(0);
    expect(r.cgroups.walks).toBe(1);
    expect(ourMap(r).lookup(5002)?.containerId).toBe(ID_B);
  });

  test('records that came with the cgroup record wait and are released enriched, in order, as one batch', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const b = box(ID_B, 102, 5002);
    r.clients[0].start(container(ID_B, 0, { name: 'web' }), true);
    await send(r, [made(r, b), execRecord(42, b, 'first'), openRecord(42, b, '/etc/passwd', 'first'), execRecord(43, b, 'second')]);
    expect(r.processor.pending.size).toBe(3);
    await r.out.waitFor(() => r.out.count() === 3, 'held records released');
    expect(r.out.records().map((x) => [x.pid, x.comm, x.id])).toEqual([
      [42, 'first', ID_B],
      [42, 'first', ID_B],
      [43, 'second', ID_B],
    ]);
    expect(r.out.batches).toHaveLength(1);
    expect(r.processor.counters).toMatchObject({ releasedEnriched: 3, misses: 3 });
    // Later records are hits.
    await send(r, [execRecord(44, b)]);
    expect(r.out.records()[3].id).toBe(ID_B);
    expect(r.processor.counters.hits).toBe(1);
  });

  test('held records go with the first runtime to answer; a slower, richer one improves the container later', async () => {
    const containerd = new FakeRuntimeClient('containerd');
    const docker = new FakeRuntimeClient('docker');
    let answer: () => void = () => undefined;
    docker.getGate = new Promise((resolve) => (answer = resolve));
    const r = rig({ pending: { deadline: '10s' } }, { clients: [docker, containerd] });
    await r.processor.start();
    containerd.start(container(ID_A, 0, { runtime: 'containerd', name: ID_A }), true);
    docker.start(container(ID_A, 0, { runtime: 'docker', name: 'web' }), true);
    const a = box(ID_A, 101, 6100);
    await send(r, [made(r, a), execRecord(80, a)]);
    await r.out.waitFor(() => r.out.count() === 1, 'release on the first answer');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_A, runtime: 'containerd', name: ID_A });
    answer();
    await r.out.waitFor(() => r.processor.index.get(ID_A)?.info.runtime === 'docker', 'the richer answer');
    await send(r, [execRecord(81, a)]);
    expect(r.out.batches[1].containers?.[0]).toMatchObject({ id: ID_A, runtime: 'docker', name: 'web', cgroupPath: a.path });
  });

  test('a runtime event arriving while the lookup retries releases the held records at once', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const b = box(ID_B, 102, 7001);
    await send(r, [made(r, b), execRecord(50, b)]);
    // The runtime made the cgroup a moment before it answers for the id.
    await r.out.waitFor(() => r.clients[0].getCalls >= 2, 'a retried lookup');
    expect(r.processor.pending.size).toBe(1);
    r.clients[0].start(container(ID_B, 0));
    expect(r.out.records()).toEqual([{ pid: 50, mntns: 7001, id: ID_B, comm: 'sh' }]);
    expect(r.processor.pending.size).toBe(0);
    expect(r.processor.counters.releasedEnriched).toBe(1);
  });

  test("a started event with a pid: the pid's cgroup is the container's, whatever its path looks like", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    // A custom cgroup parent: the path names no container.
    r.cgroups.mkdir(601, '/custom/parent/app-1');
    r.proc.process(77, '/custom/parent/app-1', 7100);
    r.clients[0].containers.set('c77', container('c77', 0, { pid: 77 }));
    r.clients[0].emit({ kind: 'started', runtime: 'docker', id: 'c77' });
    await r.out.waitFor(() => r.processor.index.lookup(601) != null, 'the container attached by its pid');
    expect(r.processor.index.lookup(601)?.id).toBe('c77');
    expect(ourMap(r).lookup(7100)?.containerId).toBe('c77');
    await send(r, [execRecord(78, { mntns: 7100, cgroupId: 601 })]);
    expect(r.out.records()).toEqual([{ pid: 78, mntns: 7100, id: 'c77', comm: 'sh' }]);
    expect(r.processor.counters.hits).toBe(1);
  });

  test("a process in a nested mount namespace is its container's, by its cgroup", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    const a = box(ID_A, 101, 5001);
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.clients[0].start(container(ID_A, 5001), true);
    await r.processor.start();
    await send(r, [execRecord(1, a), execRecord(2, { ...a, mntns: 5002 })]);
    expect(r.out.records().map((x) => x.id)).toEqual([ID_A, ID_A]);
    // The pinned map keeps the first namespace seen.
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_A);
    expect(ourMap(r).lookup(5002)).toBeUndefined();
  });

  test('a container whose runtime never answers gets container.id and the runtime from its path, counted path_only', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '300ms' } });
    await r.processor.start();
    const c = box(
      ID_C,
      201,
      5201,
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID.replace(/-/g, '_')}.slice/cri-containerd-${ID_C}.scope`,
    );
    await send(r, [made(r, c), execRecord(1, c)]);
    expect(r.processor.pending.size).toBe(1);
    await r.out.waitFor(() => r.out.count() === 1, 'the lookup gives up');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({
      id: ID_C,
      runtime: 'cri',
      name: '',
      cgroupPath: c.path,
      k8s: { podUid: POD_UID },
    });
    expect(r.processor.counters.withoutMetadata).toMatchObject({ path_only: 1, deadline: 0 });
    expect(r.clients[0].getCalls).toBeGreaterThan(1);
    // Known as path-only now: later records pass at once, still with the path's id.
    await send(r, [execRecord(2, c)]);
    expect(r.out.records().map((x) => x.id)).toEqual([ID_C, ID_C]);
    expect(r.processor.pending.size).toBe(0);
    expect(r.processor.counters.withoutMetadata.path_only).toBe(2);
    // Surely a container: listed in our pinned map.
    expect(ourMap(r).lookup(5201)?.containerId).toBe(ID_C);
  });

  test("a path that only looks like containerd's /<namespace>/<id>, which containerd does not know, is no container", async () => {
    jest.useFakeTimers();
    const containerd = new FakeRuntimeClient('containerd', '/run/containerd/containerd.sock');
    const r = rig({ pending: { deadline: '10s' } }, { clients: [containerd] });
    await r.processor.start();
    containerd.start(container('web-2', 0, { runtime: 'containerd', name: 'web-2' }), true);
    const notContainer = box('web-1', 301, 5301, '/default/web-1');
    const ctr = box('web-2', 302, 5302, '/default/web-2');
    const started = Date.now();
    await send(r, [made(r, notContainer), made(r, ctr), execRecord(1, notContainer), execRecord(2, ctr)]);
    await r.out.waitFor(() => r.out.count() === 2, 'both released');
    // containerd knows a container before its cgroup exists: not waiting the 10 s deadline for it.
    expect(Date.now() - started).toBeLessThan(2_000);
    const byPid = new Map(r.out.tagged().map((x) => [x.pid, x.container]));
    expect(byPid.get(1)).toBeUndefined();
    expect(byPid.get(2)).toMatchObject({ id: 'web-2', runtime: 'containerd' });
    expect(r.processor.counters.withoutMetadata).toMatchObject({ not_container: 1, path_only: 0, deadline: 0 });
    expect(r.processor.index.get('web-1')).toBeUndefined();
    expect(r.processor.index.lookup(301)).toBeNull();
    await send(r, [execRecord(3, notContainer)]);
    expect(r.out.batches.at(-1)!.containers).toEqual([undefined]);
    expect(r.processor.counters.withoutMetadata.not_container).toBe(2);
    expect(ourMap(r).lookup(5301)).toBeUndefined();
    expect(ourMap(r).lookup(5302)?.containerId).toBe('web-2');
  });

  test('a cgroup no record announced is resolved through /proc/<pid>/cgroup', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const c = lostMkdir(r);
    await send(r, [execRecord(42, c, 'first'), execRecord(42, c, 'second')]);
    await r.out.waitFor(() => r.out.count() === 2, 'held records released');
    expect(r.out.records().map((x) => [x.comm, x.id])).toEqual([
      ['first', ID_C],
      ['second', ID_C],
    ]);
    expect(r.out.batches).toHaveLength(1);
    expect(r.processor.counters.releasedEnriched).toBe(2);
    expect(r.cgroups.walks).toBe(1);
    await send(r, [execRecord(43, c)]);
    expect(r.out.records()[2].id).toBe(ID_C);
  });

  test('a cgroup /proc cannot vouch for (the process gone, or moved since) is found by a walk of the tree', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const d = box(ID_D, 402, 6002);
    const e = box(ID_E, 403, 6003);
    r.cgroups.mkdir(d.cgroupId, d.path);
    r.cgroups.mkdir(e.cgroupId, e.path);
    r.cgroups.mkdir(404, '/system.slice/bar.service');
    // pid 45 was in D when it ran; it has moved to E since.
    r.proc.process(45, e.path, e.mntns);
    r.clients[0].start(container(ID_D, 0, { name: 'd' }), true);
    r.clients[0].start(container(ID_E, 0, { name: 'e' }), true);
    await send(r, [execRecord(44, d, 'gone'), execRecord(45, d, 'moved'), execRecord(46, { mntns: 8102, cgroupId: 404 }, 'svc')]);
    expect(r.processor.pending.size).toBe(3);
    expect(r.processor.index.lookup(402)).toBeUndefined();
    await r.out.waitFor(() => r.out.count() === 3, 'the walk');
    const byComm = new Map(r.out.tagged().map((x) => [x.comm, x.container]));
    expect(byComm.get('gone')).toMatchObject({ id: ID_D, name: 'd' });
    expect(byComm.get('moved')).toMatchObject({ id: ID_D, name: 'd' });
    expect(byComm.get('svc')).toBeUndefined();
    expect(r.processor.counters.cgroupRescans).toBe(2);
    expect(r.cgroups.walks).toBe(2);
    expect(r.processor.counters.withoutMetadata).toMatchObject({ not_container: 1, unresolved: 0 });
  });

  test('without the hierarchy mounted: a warning at start, /proc paths taken as they are, no walks', async () => {
    jest.useFakeTimers();
    const r = rig(
      { pending: { deadline: '10s' } },
      { hierarchy: { controller: 'memory', subsysIndex: 4, hierarchyId: 12, mountPath: '' } },
    );
    await r.processor.start();
    expect(r.logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringContaining('the memory cgroup hierarchy is not mounted here'),
    ]);
    const c = box(ID_C, 401, 6001);
    // FakeProc reports the memory hierarchy (id 12) too: its path is the one that counts.
    r.proc.process(42, c.path, c.mntns);
    r.clients[0].start(container(ID_C, 0), true);
    await send(r, [execRecord(42, c), execRecord(50, { mntns: 6009, cgroupId: 409 })]);
    await r.out.waitFor(() => r.out.count() === 1, 'resolved from /proc');
    expect(r.out.records()[0]).toMatchObject({ pid: 42, id: ID_C });
    // Past every rescan a walk would have been (RESCAN_MIN_MS), short of the deadline.
    await pass(5_000);
    expect(r.cgroups.walks).toBe(0);
    expect(r.processor.pending.size).toBe(1);
  });
});

describe('container enrichment: held records are bounded', () => {
  test('on deadline (a runtime that never answers), records go with what their path says, counted', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '30ms' } });
    r.clients[0].getGate = new Promise(() => undefined);
    await r.processor.start();
    const a = box(ID_A, 101, 8001);
    const unknown = { mntns: 8002, cgroupId: 777 };
    await send(r, [made(r, a), execRecord(60, a), execRecord(61, unknown), execRecord(62, a)]);
    await r.out.waitFor(() => r.out.count() === 3, 'deadline release');
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([
      [60, ID_A],
      [62, ID_A],
      [61, null],
    ]);
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_A, runtime: 'docker', name: '' });
    expect(r.out.batches[1].containers).toEqual([undefined]);
    expect(r.processor.counters.withoutMetadata).toMatchObject({ deadline: 2, unresolved: 1, path_only: 0 });
    expect(r.processor.pending.size).toBe(0);
    // Settled: later records pass at once.
    await send(r, [execRecord(63, a)]);
    expect(r.out.records()[3]).toMatchObject({ pid: 63, id: ID_A });
    expect(r.processor.pending.size).toBe(0);
  });

  test('beyond max_per_container and max_total records pass at once with what is known, counted', async () => {
    const r = rig({ pending: { max_per_container: 2, max_total: 3, deadline: '10s' } });
    await r.processor.start();
    const [c1, c2, c3] = [1, 2, 3].map((k) => box(hexId(k), 200 + k, 9000 + k));
    const specs = [
      made(r, c1),
      made(r, c2),
      made(r, c3),
      execRecord(1, c1),
      execRecord(2, c1),
      execRecord(3, c1),
      execRecord(4, c2),
      execRecord(5, c3),
    ];
    await send(r, specs);
    expect(r.out.records().map((x) => [x.pid, x.id])).toEqual([
      [3, c1.id],
      [5, c3.id],
    ]);
    expect(r.processor.pending.size).toBe(3);
    expect(r.processor.counters.withoutMetadata.overflow).toBe(2);
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toMatch(/ebpf_container_otel_enrichment_pending_records\{component="processors.container_enrichment"\} 3\n/);
    expect(metrics).toMatch(
      /ebpf_container_otel_enrichment_records_without_metadata_total\{component="processors.container_enrichment",reason="overflow"\} 2\n/,
    );
  });

  test('shutdown releases what is held, counted shutdown', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    const c = box(ID_C, 201, 9001);
    await send(r, [made(r, c), execRecord(1, c), execRecord(2, { mntns: 9002, cgroupId: 777 })]);
    expect(r.processor.pending.size).toBe(2);
    await r.processor.shutdown();
    const byPid = new Map(r.out.tagged().map((x) => [x.pid, x.container]));
    expect([...byPid.keys()].sort()).toEqual([1, 2]);
    expect(byPid.get(1)).toMatchObject({ id: ID_C });
    expect(byPid.get(2)).toBeUndefined();
    expect(r.processor.counters.withoutMetadata.shutdown).toBe(2);
    expect(r.clients[0].closed).toBe(true);
  });
});

describe('container enrichment: exits and reused mount namespaces', () => {
  test('an exited container enriches its late records until its tombstone expires', async () => {
    let now = 0;
    const r = rig({ tombstone_ttl: '30s', pending: { deadline: '10s' } }, { now: () => now });
    await r.processor.start();
    const a = box(ID_A, 101, 5001);
    r.clients[0].start(container(ID_A, 0), true);
    await send(r, [made(r, a)]);
    await r.out.waitFor(() => r.processor.index.get(ID_A)?.described === true, 'lookup');
    await send(r, [removed(r, a), exitRecord(1, a)]);
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_A, state: 'stopped' });
    expect([r.processor.index.liveCount(), r.processor.index.exitedCount()]).toEqual([0, 1]);
    now = 29_999;
    expect(r.processor.index.sweep()).toBe(0);
    now = 30_000;
    expect(r.processor.index.sweep()).toBe(1);
    expect(r.processor.index.exitedCount()).toBe(0);
    await send(r, [execRecord(2, a)]);
    expect(r.out.count()).toBe(1);
    expect(r.processor.pending.size).toBe(1);
  });

  test("mntns reuse: B gets A's mount namespace inode; records of B carry B, never A, and late records of A still carry A", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 0, { name: 'a' }), true);
    r.clients[0].start(container(ID_B, 0, { name: 'b' }), true);
    const a = box(ID_A, 101, 5001);
    const b = box(ID_B, 102, 5001);
    await send(r, [made(r, a), execRecord(1, a, 'a-first')]);
    await r.out.waitFor(() => r.out.count() === 1, 'A');
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_A);
    await send(r, [removed(r, a)]);
    expect(ourMap(r).lookup(5001)).toBeUndefined();
    // The kernel hands A's inode to B within milliseconds; A's last records are drained after B's first.
    await send(r, [made(r, b), execRecord(2, b, 'b-first'), exitRecord(1, a, 'a-late'), execRecord(3, b, 'b-second')]);
    await r.out.waitFor(() => r.out.count() === 4, 'B');
    const tagged = r.out.tagged();
    expect(tagged.map((x) => [x.comm, x.container?.id, x.container?.state])).toEqual([
      ['a-first', ID_A, 'running'],
      ['a-late', ID_A, 'stopped'],
      ['b-first', ID_B, 'running'],
      ['b-second', ID_B, 'running'],
    ]);
    expect(tagged.filter((x) => x.cgroupId === b.cgroupId).every((x) => x.container?.id === ID_B && x.container.name === 'b')).toBe(true);
    expect(ourMap(r).lookup(5001)).toMatchObject({ containerId: ID_B, container: 'b' });
  });

  test('mntns reuse by a container no runtime describes: path-only B, never A', async () => {
    jest.useFakeTimers();
    const r = rig({ pending: { deadline: '200ms' } });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 0, { name: 'a' }), true);
    const a = box(ID_A, 101, 5001);
    const b = box(ID_B, 102, 5001, `/system.slice/docker-${ID_B}.scope`);
    await send(r, [made(r, a), execRecord(1, a)]);
    await r.out.waitFor(() => r.out.count() === 1, 'A');
    await send(r, [removed(r, a), made(r, b), execRecord(2, b), execRecord(3, b)]);
    await r.out.waitFor(() => r.out.count() === 3, 'B path-only');
    expect(
      r.out
        .tagged()
        .slice(1)
        .map((x) => [x.pid, x.container?.id, x.container?.name, x.container?.runtime]),
    ).toEqual([
      [2, ID_B, '', 'docker'],
      [3, ID_B, '', 'docker'],
    ]);
    expect(r.processor.counters.withoutMetadata.path_only).toBe(2);
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_B);
  });

  test("the pinned map entry of a reused mntns belongs to B after A's late exit", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 0, { name: 'a' }), true);
    r.clients[0].start(container(ID_B, 0, { name: 'b' }), true);
    const a = box(ID_A, 101, 5001);
    const b = box(ID_B, 102, 5001);
    await send(r, [made(r, a), execRecord(1, a)]);
    await r.out.waitFor(() => r.out.count() === 1, 'A');
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_A);
    // B runs in the inode before A's exit is seen.
    await send(r, [made(r, b), execRecord(2, b)]);
    await r.out.waitFor(() => r.out.count() === 2, 'B');
    expect(r.processor.index.get(ID_A)?.exitedAt).toBeUndefined();
    expect(ourMap(r).lookup(5001)).toMatchObject({ containerId: ID_B, container: 'b' });
    // A's exit, late, by its cgroup and by its runtime: B's entry stays.
    await send(r, [removed(r, a)]);
    r.clients[0].stop(ID_A);
    expect(r.processor.index.get(ID_A)?.exitedAt).toBeDefined();
    expect(ourMap(r).entries()).toEqual([expect.objectContaining({ mntns: 5001, containerId: ID_B })]);
    expect(await r.settings.metrics.metrics()).toMatch(
      /enrichment_pinned_map_entries\{component="processors.container_enrichment",map="write"\} 1\n/,
    );
    await send(r, [removed(r, b)]);
    expect(ourMap(r).entries()).toEqual([]);
  });

  test("another agent's map entry for a mntns is not applied to a different container that reused it", async () => {
    jest.useFakeTimers();
    const maps = new FakeMaps();
    const gadget = new FakePinnedMap(DEFAULT_READ_MAP_PATH);
    maps.pinned.set(DEFAULT_READ_MAP_PATH, gadget);
    // The other agent still lists A under the inode B now has; and C, which no runtime of ours knows.
    gadget.update({ mntns: 5001, containerId: ID_A, namespace: 'shop', pod: 'cart-1', container: 'cart' });
    gadget.update({ mntns: 5003, containerId: ID_C, namespace: 'kube-system', pod: 'coredns-1', container: 'coredns' });
    const r = rig({ pending: { deadline: '300ms' } }, { maps });
    await r.processor.start();
    const b = box(ID_B, 102, 5001);
    const c = box(ID_C, 103, 5003, `/kubepods/besteffort/pod${POD_UID}/${ID_C}`);
    await send(r, [made(r, b), made(r, c), execRecord(2, b), execRecord(3, c)]);
    await r.out.waitFor(() => r.out.count() === 2, 'both released');
    const byPid = new Map(r.out.tagged().map((x) => [x.pid, x.container]));
    expect(byPid.get(2)).toMatchObject({ id: ID_B, runtime: 'docker', name: '' });
    expect(byPid.get(2)?.k8s).toBeUndefined();
    expect(byPid.get(3)).toMatchObject({
      id: ID_C,
      runtime: 'pinned-map',
      name: 'coredns',
      k8s: { namespace: 'kube-system', podName: 'coredns-1', containerName: 'coredns', podUid: POD_UID },
    });
    expect(r.processor.counters).toMatchObject({ releasedEnriched: 1, withoutMetadata: expect.objectContaining({ path_only: 1 }) });
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_B);
    expect(r.processor.index.get(ID_A)).toBeUndefined();
  });

  test('a restarted container (a new cgroup, the same id) is live again', async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 0, { name: 'web' }), true);
    const first = box(ID_A, 101, 5001);
    const again = box(ID_A, 103, 5003);
    await send(r, [made(r, first), execRecord(1, first)]);
    await r.out.waitFor(() => r.out.count() === 1, 'first run');
    await send(r, [removed(r, first)]);
    expect([r.processor.index.liveCount(), r.processor.index.exitedCount()]).toEqual([0, 1]);
    expect(ourMap(r).entries()).toEqual([]);
    await send(r, [made(r, again), execRecord(2, again)]);
    await r.out.waitFor(() => r.out.count() === 2, 'second run');
    expect(r.out.batches.at(-1)!.containers?.[0]).toMatchObject({ id: ID_A, name: 'web', state: 'running' });
    expect([r.processor.index.liveCount(), r.processor.index.exitedCount()]).toEqual([1, 0]);
    expect(ourMap(r).entries()).toEqual([expect.objectContaining({ mntns: 5003, containerId: ID_A })]);
    // Described again by its runtime.
    await r.out.waitFor(() => r.clients[0].getCalls === 2, 'a second lookup');
    // Its exit is seen again: the entry goes.
    await send(r, [removed(r, again)]);
    expect(r.processor.index.get(ID_A)?.exitedAt).toBeDefined();
    expect(ourMap(r).entries()).toEqual([]);
  });

  test("a runtime's exited event: a tombstone whose records still resolve by cgroup, its pinned entry gone", async () => {
    const r = rig({ pending: { deadline: '10s' } });
    await r.processor.start();
    r.clients[0].start(container(ID_A, 0), true);
    const a = box(ID_A, 101, 5001);
    await send(r, [made(r, a), execRecord(1, a)]);
    await r.out.waitFor(() => r.out.count() === 1, 'A');
    r.clients[0].stop(ID_A);
    expect(ourMap(r).entries()).toEqual([]);
    await send(r, [exitRecord(1, a)]);
    expect(r.out.batches.at(-1)!.containers?.[0]).toMatchObject({ id: ID_A, state: 'stopped' });
    // The rmdir after it changes nothing.
    await send(r, [removed(r, a)]);
    expect([r.processor.index.liveCount(), r.processor.index.exitedCount()]).toEqual([0, 1]);
  });

  test('a resync exits containers whose cgroups are gone though no cgroup record said so', async () => {
    const r = rig({ resync_interval: '20ms' });
    const a = box(ID_A, 101, 5001);
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.clients[0].start(container(ID_A, 0), true);
    await r.processor.start();
    await send(r, [execRecord(1, a)]);
    expect(ourMap(r).lookup(5001)?.containerId).toBe(ID_A);
    // Its rmdir record was lost.
    r.cgroups.rmdir(a.cgroupId);
    await r.out.waitFor(() => r.processor.index.get(ID_A)?.exitedAt !== undefined, 'the resync');
    expect(ourMap(r).entries()).toEqual([]);
  });
});

describe('container enrichment: runtimes', () => {
  test('an unreachable runtime does not stop the others; warning about its outage is left to its client', async () => {
    jest.useFakeTimers();
    const down = new FakeRuntimeClient('podman', '/run/podman/podman.sock');
    down.unreachable = true;
    const up = new FakeRuntimeClient('docker');
    up.start(container('d1', 0, { name: 'up' }), true);
    const r = rig({ resync_interval: '10ms' }, { clients: [down, up] });
    await r.processor.start();
    expect(r.processor.index.get('d1')).toMatchObject({ described: true, info: { name: 'up' } });
    await pass(60);
    // Real clients warn once per outage themselves (see the real-client test below); the processor only notes each failed list.
    expect(r.logs.filter((l) => l.level === 'warn')).toEqual([]);
    const failed = r.logs.filter((l) => l.level === 'debug' && l.msg.includes('/run/podman/podman.sock'));
    expect(failed.length).toBeGreaterThan(1);
    expect(failed[0].msg).toContain('connection refused: cannot list containers');
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toContain(
      'ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="podman",endpoint="/run/podman/podman.sock"} 0',
    );
    expect(metrics).toContain(
      'ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="docker",endpoint="/run/fake.sock"} 1',
    );
  });

  test('a richer runtime wins for the same container; the containerd view does not flip it back', async () => {
    jest.useFakeTimers();
    const containerd = new FakeRuntimeClient('containerd');
    const docker = new FakeRuntimeClient('docker');
    containerd.start(container(ID_A, 0, { runtime: 'containerd', name: ID_A }), true);
    docker.start(container(ID_A, 0, { runtime: 'docker', name: 'web' }), true);
    const r = rig({ resync_interval: '10ms' }, { clients: [containerd, docker] });
    const a = box(ID_A, 101, 5001);
    r.cgroups.mkdir(a.cgroupId, a.path);
    await r.processor.start();
    await pass(50);
    expect(r.processor.index.lookup(101)?.info).toMatchObject({ runtime: 'docker', name: 'web' });
    await send(r, [execRecord(1, a)]);
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ runtime: 'docker', name: 'web' });
  });

  test('a later, richer description updates the container and its pinned entry; the containerd view does not undo it', async () => {
    const containerd = new FakeRuntimeClient('containerd');
    const cri = new FakeRuntimeClient('cri');
    const r = rig({}, { clients: [containerd, cri] });
    await r.processor.start();
    const a = box(ID_A, 101, 5200);
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.proc.process(90, a.path, a.mntns);
    // Its events come before the kernel's cgroup record is drained: the pid tells the cgroup and the namespace.
    containerd.start(container(ID_A, 0, { runtime: 'containerd', name: ID_A, pid: 90 }));
    expect(r.processor.index.lookup(101)?.info).toMatchObject({ id: ID_A, runtime: 'containerd', name: ID_A });
    expect(ourMap(r).lookup(5200)).toMatchObject({ containerId: ID_A, container: ID_A });
    const k8s = { namespace: 'shop', podName: 'cart-7d9', podUid: 'u-1', containerName: 'cart', podLabels: {}, podAnnotations: {} };
    cri.start(container(ID_A, 0, { runtime: 'cri', name: 'cart', k8s }));
    expect(r.processor.index.lookup(101)?.info).toMatchObject({ runtime: 'cri', name: 'cart', k8s });
    expect(ourMap(r).lookup(5200)).toMatchObject({ containerId: ID_A, namespace: 'shop', pod: 'cart-7d9', container: 'cart' });
    containerd.start(container(ID_A, 0, { runtime: 'containerd', name: ID_A, pid: 90 }));
    expect(r.processor.index.lookup(101)?.info.runtime).toBe('cri');
    // The kernel's record of the cgroup, drained late, changes nothing.
    await send(r, [mkdirRecord(a.cgroupId, a.path), execRecord(91, a)]);
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_A, runtime: 'cri', name: 'cart' });
    expect(r.processor.index.liveCount()).toBe(1);
  });

  test('sandboxes are never indexed; an exit seen before a slow get wins', async () => {
    const r = rig();
    await r.processor.start();
    r.clients[0].start(container('pause', 0, { sandbox: true }));
    expect(r.processor.index.get('pause')).toBeUndefined();
    r.clients[0].containers.set('slow', container('slow', 0));
    r.clients[0].emit({ kind: 'started', runtime: 'docker', id: 'slow' });
    r.clients[0].emit({ kind: 'exited', runtime: 'docker', id: 'slow' });
    await new Promise((res) => setImmediate(res));
    expect(r.clients[0].getCalls).toBe(1);
    // Not a live container the pinned map or the metrics would keep for ever.
    const slow = r.processor.index.get('slow');
    expect(slow === undefined || slow.exitedAt !== undefined).toBe(true);
    expect(r.processor.index.liveCount()).toBe(0);
  });

  test('1,000 containers made and removed through cgroup records: index, tombstones, pinned map back to base', async () => {
    let now = 0;
    const r = rig({ max_containers: 4096, pinned_map: { max_entries: 4096 }, pending: { deadline: '10s' } }, { now: () => now });
    const base = box(hexId('ba5e'), 99, 4000);
    r.cgroups.mkdir(base.cgroupId, base.path);
    r.clients[0].start(container(base.id, 0, { pid: 3 }), true);
    r.proc.process(3, base.path, base.mntns);
    await r.processor.start();
    const map = ourMap(r);
    const index = r.processor.index;
    const atBase = { live: index.liveCount(), exited: index.exitedCount(), pinned: map.data.size };
    expect(atBase).toEqual({ live: 1, exited: 0, pinned: 1 });
    const boxes = Array.from({ length: 1_000 }, (_, k) => box(hexId(k + 1), 10_000 + k, 100_000 + k));
    for (const b of boxes) r.clients[0].start(container(b.id, 0, { name: `n${b.cgroupId}` }), true);
    await send(r, [...boxes.map((b) => made(r, b)), ...boxes.map((b, k) => execRecord(k + 10, b))]);
    await r.out.waitFor(() => r.out.count() === 1_000, 'every container described', 20_000);
    expect(r.out.tagged().every((x) => x.container?.id === boxes[x.pid - 10].id && x.container.name === `n${x.cgroupId}`)).toBe(true);
    expect(index.liveCount()).toBe(1_001);
    expect(map.data.size).toBe(1_001);
    await send(
      r,
      boxes.map((b) => removed(r, b)),
    );
    expect(map.data.size).toBe(1);
    expect(index.exitedCount()).toBe(1_000);
    now = 30_000;
    index.sweep();
    expect({ live: index.liveCount(), exited: index.exitedCount(), pinned: map.data.size }).toEqual(atBase);
    expect(index.lookup(10_500)).toBeUndefined();
    const metrics = await r.settings.metrics.metrics();
    expect(metrics).toMatch(/enrichment_containers\{component="processors.container_enrichment",state="live"\} 1\n/);
    expect(metrics).toMatch(/enrichment_containers\{component="processors.container_enrichment",state="exited"\} 0\n/);
    expect(metrics).toMatch(/enrichment_pinned_map_entries\{component="processors.container_enrichment",map="write"\} 1\n/);
  });

  test("a container sharing the host's mount namespace is tagged by its cgroup, and never listed under the host's inode", async () => {
    const r = rig();
    const a = box(ID_A, 101, HOST);
    r.cgroups.mkdir(a.cgroupId, a.path);
    r.proc.process(7, a.path, HOST);
    r.clients[0].start(container(ID_A, 0, { pid: 7 }), true);
    await r.processor.start();
    await send(r, [execRecord(7, a), execRecord(1, HOST_AT)]);
    expect(r.out.records().map((x) => x.id)).toEqual([ID_A, null]);
    expect(ourMap(r).data.size).toBe(0);
    expect(r.processor.index.get(ID_A)?.mntns).toBe(0);
  });

  test('max_containers is enforced, warned about once and counted', async () => {
    const r = rig({ max_containers: 2 });
    await r.processor.start();
    const boxes = [1, 2, 3, 4].map((k) => box(hexId(k), 200 + k, 300 + k));
    await send(
      r,
      boxes.map((b) => made(r, b)),
    );
    expect(r.processor.index.liveCount()).toBe(2);
    expect(r.processor.index.refused).toBe(2);
    expect(r.logs.filter((l) => l.msg.includes('container index full'))).toHaveLength(1);
    // A refused container's records do not wait for anything: they pass at once, counted.
    const refused = boxes.find((b) => r.processor.index.lookup(b.cgroupId) === undefined)!;
    r.proc.process(50, refused.path, refused.mntns);
    await send(r, [execRecord(50, refused)]);
    expect(r.out.count()).toBe(1);
    expect(r.processor.pending.size).toBe(0);
    expect(r.processor.counters.withoutMetadata.overflow).toBe(1);
    expect(await r.settings.metrics.metrics()).toMatch(/enrichment_index_refused_total\{component="processors.container_enrichment"\} 3\n/);
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
      runtimes: {
        docker: { socket },
        containerd: { enabled: false },
        cri: { enabled: false },
        podman: { enabled: false },
        lxc: { enabled: false },
      },
      resync_interval: '50ms',
      pinned_map: { write: false, read_path: path.join(dir, 'no-map') },
    });
    expect(containerEnrichmentProcessorFactory.validate!(config)).toEqual([]);
    const processor = containerEnrichmentProcessorFactory.create(config, settings, new CollectingConsumer());
    try {
      await processor.start();
      // Several resyncs (every 50 ms) and watch reconnects (backoff from 250 ms) fail meanwhile.
      await new Promise((res) => setTimeout(res, 800));
    } finally {
      await processor.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
    const warnings = lines.filter((l) => / warn /.test(l) && l.includes(socket));
    expect(warnings).toEqual([
      expect.stringContaining(
        `docker at ${socket}: connection refused (the daemon is not running or not listening on this socket); retrying`,
      ),
    ]);
    // The resyncs did run and fail: each is a debug line, not another warning.
    expect(lines.filter((l) => / debug .*cannot list containers/.test(l)).length).toBeGreaterThan(3);
  });
});

describe('container enrichment: receivers that select containers', () => {
  /** A receiver's listener: wants containers of namespace `shop`, records each verdict it hands the kernel. */
  function selecting(): { directory: ContainerDirectory; verdicts: Map<number, boolean>; forgotten: number[] } {
    const directory = new ContainerDirectory();
    const verdicts = new Map<number, boolean>();
    const forgotten: number[] = [];
    directory.listen({
      described: (info, cgroupIds) => {
        const traced = info.k8s?.namespace === 'shop';
        for (const id of cgroupIds) verdicts.set(id, traced);
        return traced;
      },
      forgotten: (cgroupIds) => void forgotten.push(...cgroupIds),
    });
    return { directory, verdicts, forgotten };
  }
  const inNamespace = (id: string, mntns: number, namespace: string) =>
    container(id, mntns, { k8s: { namespace, podName: 'p', podUid: 'u', containerName: 'c', podLabels: {}, podAnnotations: {} } });

  test('records of a container not described yet wait; then the selected one passes and the other is dropped (not_selected), verdicts for their cgroups handed out', async () => {
    const { directory, verdicts } = selecting();
    const r = rig({ pending: { deadline: '10s' } }, { containers: directory });
    expect(directory.describer).toBe('processors.container_enrichment');
    await r.processor.start();
    const shop = box(ID_A, 301, 6001);
    const other = box(ID_B, 302, 6002);
    r.clients[0].getGate = new Promise(() => undefined);
    await send(r, [made(r, shop), made(r, other), execRecord(1, shop), execRecord(2, other)]);
    expect(r.out.count()).toBe(0);
    // The runtime answers now.
    r.clients[0].getGate = undefined;
    r.clients[0].start(inNamespace(ID_A, 6001, 'shop'));
    r.clients[0].start(inNamespace(ID_B, 6002, 'other'));
    await r.out.waitFor(
      () => r.out.count() === 1 && r.settings.stage.dropped.get('not_selected') === 1,
      'the verdicts applied to the held records',
    );
    expect(r.out.records().map((x) => x.id)).toEqual([ID_A]);
    expect(Object.fromEntries(verdicts)).toEqual({ 301: true, 302: false });
    // Later records: the selected one's pass, the other's are dropped here too (in the kernel too, by its verdict).
    await send(r, [execRecord(3, shop), execRecord(4, other)]);
    expect(r.out.records().map((x) => x.pid)).toEqual([1, 3]);
    expect(r.settings.stage.dropped.get('not_selected')).toBe(2);
  });

  test("without a listener every container is wanted; a forgotten container's cgroups are told", async () => {
    let now = 0;
    const { directory, forgotten } = selecting();
    const r = rig({ tombstone_ttl: '1s' }, { containers: directory, now: () => now });
    await r.processor.start();
    const other = box(ID_C, 303, 6003);
    r.clients[0].start(inNamespace(ID_C, 6003, 'other'), true);
    await send(r, [made(r, other)]);
    await r.out.waitFor(() => r.processor.index.get(ID_C)?.described === true, 'described');
    await send(r, [removed(r, other)]);
    now = 5_000;
    r.processor.index.sweep();
    expect(forgotten).toEqual([303]);
    expect(new ContainerDirectory().described(inNamespace(ID_C, 1, 'other'), [1])).toBe(true);
  });
});
