/**
 * The pinned maps for real: our addon creates, updates and unpins BPF maps on
 * bpffs; bpftool (standing in for other tools and agents) reads ours and
 * fills an Inspektor-Gadget-layout map we use as a source.
 */
import { existsSync } from 'node:fs';
import { createPinnedContainersMap, openPinnedContainersMap, unpinPath } from '../../src/native';
import type { EnrichmentDeps } from '../../src/processors/container-enrichment/processor';
import { createMapWithBpftool, dumpPinned, removePins, updateWithBpftool } from './bpftool';
import { batchOf, box, container, execRecord, exitRecord, mkdirRecord, rmdirRecord } from './fakes';
import { rig, running, shutdownRigs } from './harness';
import { requires } from '../harness/requires';

const realMapsHere = requires('bpf', 'bpftool');

const DIR = `/sys/fs/bpf/ebpf-otel-test-enrichment-${process.pid}`;
const OURS = `${DIR}/containers`;
const GADGET = `${DIR}/gadget-containers`;
const realMaps: EnrichmentDeps['maps'] = {
  open: openPinnedContainersMap,
  create: createPinnedContainersMap,
  unpin: unpinPath,
  exists: existsSync,
};
const k8s = { namespace: 'shop', podName: 'cart-7d9', podUid: 'u-1', containerName: 'cart', podLabels: {}, podAnnotations: {} };
const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const ID_C = 'c'.repeat(64);

afterEach(async () => {
  await shutdownRigs();
  removePins(DIR);
});

describe('pinned containers maps on bpffs', () => {
  realMapsHere.test('ours: entries as bpftool sees them, gone on exit, pin removed on shutdown', async () => {
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    r.clients[0].start(running(r, 'c-k8s', 4026590001, { k8s }), true);
    await r.processor.start();
    r.clients[0].start(running(r, 'c-plain', 4026590002, { name: 'web' }));
    expect([...dumpPinned(OURS).values()]).toEqual(
      expect.arrayContaining([
        { mntns: 4026590001, containerId: 'c-k8s', namespace: 'shop', pod: 'cart-7d9', container: 'cart' },
        { mntns: 4026590002, containerId: 'c-plain', namespace: '', pod: '', container: 'web' },
      ]),
    );
    r.clients[0].stop('c-k8s');
    expect([...dumpPinned(OURS).keys()]).toEqual([4026590002]);
    await r.processor.shutdown();
    expect(existsSync(OURS)).toBe(false);
  });

  realMapsHere.test(
    "a reused mount namespace: the entry is the newer container's, and stays so after the older one's late exit",
    async () => {
      const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET }, pending: { deadline: '10s' } }, { realMaps });
      await r.processor.start();
      r.clients[0].start(container(ID_A, 0, { name: 'a' }), true);
      r.clients[0].start(container(ID_B, 0, { name: 'b' }), true);
      const a = box(ID_A, 201, 4026590101);
      const b = box(ID_B, 202, 4026590101);
      await r.processor.consumeLogs(batchOf([mkdirRecord(a.cgroupId, a.path), execRecord(1, a)]));
      await r.out.waitFor(() => r.out.count() === 1, 'A');
      expect(dumpPinned(OURS).get(a.mntns)?.containerId).toBe(ID_A);
      await r.processor.consumeLogs(batchOf([mkdirRecord(b.cgroupId, b.path), execRecord(2, b)]));
      await r.out.waitFor(() => r.out.count() === 2, 'B');
      await r.processor.consumeLogs(batchOf([rmdirRecord(a.cgroupId, a.path), exitRecord(1, a)]));
      expect(r.out.batches.at(-1)!.containers?.[0]).toMatchObject({ id: ID_A, state: 'stopped' });
      expect([...dumpPinned(OURS).values()]).toEqual([{ mntns: b.mntns, containerId: ID_B, namespace: '', pod: '', container: 'b' }]);
      await r.processor.consumeLogs(batchOf([rmdirRecord(b.cgroupId, b.path)]));
      expect(dumpPinned(OURS).size).toBe(0);
    },
  );

  realMapsHere.test('keep_on_shutdown leaves the pin for the next run, which drops what went stale', async () => {
    const first = rig({ pinned_map: { write_path: OURS, read_path: GADGET, keep_on_shutdown: true } }, { realMaps });
    first.clients[0].start(running(first, 'gone', 4026590011), true);
    first.clients[0].start(running(first, 'stays', 4026590012), true);
    first.clients[0].start(running(first, 'reused', 4026590013), true);
    await first.processor.start();
    await first.processor.shutdown();
    expect(dumpPinned(OURS).size).toBe(3);
    const second = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    second.clients[0].start(running(second, 'stays', 4026590012), true);
    second.clients[0].start(running(second, 'newer', 4026590013), true);
    await second.processor.start();
    const dump = dumpPinned(OURS);
    expect([...dump.keys()].sort()).toEqual([4026590012, 4026590013]);
    expect(dump.get(4026590013)?.containerId).toBe('newer');
  });

  realMapsHere.test(
    "another agent's IG-layout map (made and filled by bpftool) describes the containers its entries name, by id only",
    async () => {
      createMapWithBpftool(GADGET);
      // The other agent's entry for an inode a new container (B) has reused.
      updateWithBpftool(GADGET, { mntns: 4026590021, containerId: ID_A, namespace: 'shop', pod: 'old-pod', container: 'old' });
      const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET }, pending: { deadline: '300ms' } }, { realMaps });
      await r.processor.start();
      updateWithBpftool(GADGET, { mntns: 4026590022, containerId: ID_C, namespace: 'kube-system', pod: 'coredns-x', container: 'coredns' });
      const b = box(ID_B, 301, 4026590021);
      const c = box(ID_C, 302, 4026590022, `/k8s.io/${ID_C}`);
      await r.processor.consumeLogs(
        batchOf([mkdirRecord(b.cgroupId, b.path), mkdirRecord(c.cgroupId, c.path), execRecord(101, b), execRecord(102, c)]),
      );
      await r.out.waitFor(() => r.out.count() === 2, 'both records released');
      const byPid = new Map(r.out.tagged().map((x) => [x.pid, x.container]));
      expect(byPid.get(101)).toMatchObject({ id: ID_B, runtime: 'docker', name: '' });
      expect(byPid.get(101)?.k8s).toBeUndefined();
      expect(byPid.get(102)).toMatchObject({
        id: ID_C,
        runtime: 'pinned-map',
        k8s: { namespace: 'kube-system', podName: 'coredns-x', containerName: 'coredns' },
      });
      expect(r.processor.counters.withoutMetadata).toMatchObject({ path_only: 1, deadline: 0 });
      expect(r.processor.counters.releasedEnriched).toBe(1);
      // Ours lists each under its own id.
      const ours = dumpPinned(OURS);
      expect(ours.get(4026590021)?.containerId).toBe(ID_B);
      expect(ours.get(4026590022)).toMatchObject({ containerId: ID_C, namespace: 'kube-system', pod: 'coredns-x', container: 'coredns' });
    },
  );

  realMapsHere.test('a map of another layout at the source path is refused with a clear error and never read', async () => {
    createMapWithBpftool(GADGET, 8);
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET }, pending: { deadline: '20ms' } }, { realMaps });
    await r.processor.start();
    const c = box(ID_C, 401, 4026590031, `/k8s.io/${ID_C}`);
    await r.processor.consumeLogs(batchOf([mkdirRecord(c.cgroupId, c.path), execRecord(7, c)]));
    await r.out.waitFor(() => r.out.count() === 1, 'released without a description');
    expect(r.out.batches[0].containers?.[0]).toMatchObject({ id: ID_C, runtime: 'containerd', name: '' });
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain(`pinned map ${GADGET} refused as a container source`);
    console.log(`refusal as logged: ${errors[0].msg}`);
  });

  realMapsHere.test('a map of another layout at our path fails start instead of being overwritten', async () => {
    createMapWithBpftool(OURS, 8);
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    await expect(r.processor.start()).rejects.toThrow(new RegExp(`pinned containers map ${OURS}: `));
    expect(existsSync(OURS)).toBe(true);
  });
});
