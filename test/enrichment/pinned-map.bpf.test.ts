/**
 * The pinned maps for real: our addon creates, updates and unpins BPF maps on
 * bpffs; bpftool (standing in for other tools and agents) reads ours and
 * fills an Inspektor-Gadget-layout map we use as a source.
 */
import { existsSync } from 'node:fs';
import { createPinnedContainersMap, openPinnedContainersMap, unpinPath } from '../../src/native';
import type { EnrichmentDeps } from '../../src/processors/container-enrichment/processor';
import { createMapWithBpftool, deleteWithBpftool, dumpPinned, pinnedMapsUnavailable, removePins, updateWithBpftool } from './bpftool';
import { batchOf, container, execRecord } from './fakes';
import { rig, shutdownRigs } from './harness';

const unavailable = pinnedMapsUnavailable();
if (unavailable) console.warn(`pinned-map.bpf.test: SKIPPED, real BPF maps unavailable: ${unavailable}`);
const bpfTest = unavailable ? test.skip : test;

const DIR = `/sys/fs/bpf/ebpf-otel-test-enrichment-${process.pid}`;
const OURS = `${DIR}/containers`;
const GADGET = `${DIR}/gadget-containers`;
const realMaps: EnrichmentDeps['maps'] = { open: openPinnedContainersMap, create: createPinnedContainersMap, unpin: unpinPath, exists: existsSync };
const k8s = { namespace: 'shop', podName: 'cart-7d9', podUid: 'u-1', containerName: 'cart' };

afterEach(async () => {
  await shutdownRigs();
  removePins(DIR);
});

describe('pinned containers maps on bpffs', () => {
  bpfTest('ours: entries as bpftool sees them, gone on exit, pin removed on shutdown', async () => {
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    r.clients[0].start(container('c-k8s', 4026590001, { k8s }), true);
    await r.processor.start();
    r.clients[0].start(container('c-plain', 4026590002, { name: 'web' }));
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

  bpfTest('keep_on_shutdown leaves the pin for the next run, which drops what went stale', async () => {
    const first = rig({ pinned_map: { write_path: OURS, read_path: GADGET, keep_on_shutdown: true } }, { realMaps });
    first.clients[0].start(container('gone', 4026590011), true);
    first.clients[0].start(container('stays', 4026590012), true);
    await first.processor.start();
    await first.processor.shutdown();
    expect(dumpPinned(OURS).size).toBe(2);
    const second = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    second.clients[0].start(container('stays', 4026590012), true);
    await second.processor.start();
    expect([...dumpPinned(OURS).keys()]).toEqual([4026590012]);
  });

  bpfTest("another agent's IG-layout map (made and filled by bpftool) is a source for a namespace no runtime knows", async () => {
    createMapWithBpftool(GADGET);
    updateWithBpftool(GADGET, { mntns: 4026590021, containerId: 'ig-known', namespace: 'kube-system', pod: 'coredns-x', container: 'coredns' });
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET }, pending: { deadline: '10s' } }, { realMaps });
    await r.processor.start();
    updateWithBpftool(GADGET, { mntns: 4026590022, containerId: 'ig-new', namespace: '', pod: '', container: 'late' });
    await r.processor.consumeLogs(batchOf([execRecord(101, 4026590021), execRecord(102, 4026590022)]));
    await r.out.waitFor(() => r.out.count() === 2, 'both records enriched');
    const byPid = new Map(r.out.batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => [b.pid(i), b.containers?.[i]] as const)));
    expect(byPid.get(101)).toMatchObject({ id: 'ig-known', runtime: 'pinned-map', k8s: { namespace: 'kube-system', podName: 'coredns-x', containerName: 'coredns' } });
    expect(byPid.get(102)).toMatchObject({ id: 'ig-new', name: 'late', runtime: 'pinned-map' });
    expect(r.processor.counters.releasedUnenriched.deadline).toBe(0);
    // Mirrored into ours; and when the other agent deletes it, so do we.
    expect(dumpPinned(OURS).get(4026590021)?.containerId).toBe('ig-known');
    deleteWithBpftool(GADGET, 4026590021);
    await r.out.waitFor(() => !dumpPinned(OURS).has(4026590021), 'source deletion followed');
    expect(r.processor.index.lookup(4026590021)?.state).toBe('stopped');
  });

  bpfTest('a map of another layout at the source path is refused with a clear error and never read', async () => {
    createMapWithBpftool(GADGET, 8);
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET }, pending: { deadline: '20ms' } }, { realMaps });
    await r.processor.start();
    await r.processor.consumeLogs(batchOf([execRecord(7, 4026590031)]));
    await r.out.waitFor(() => r.out.count() === 1, 'deadline release');
    expect(r.out.records()[0].id).toBeNull();
    const errors = r.logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain(`pinned map ${GADGET} refused as a container source`);
    console.log(`refusal as logged: ${errors[0].msg}`);
  });

  bpfTest('a map of another layout at our path fails start instead of being overwritten', async () => {
    createMapWithBpftool(OURS, 8);
    const r = rig({ pinned_map: { write_path: OURS, read_path: GADGET } }, { realMaps });
    await expect(r.processor.start()).rejects.toThrow(new RegExp(`pinned containers map ${OURS}: `));
    expect(existsSync(OURS)).toBe(true);
  });
});
