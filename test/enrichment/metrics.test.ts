import { execFileSync } from 'node:child_process';
import { requires } from '../harness/requires';
import { batchOf, box, container, execRecord, FakeRuntimeClient, ROOT_CGROUP } from './fakes';
import { rig, shutdownRigs } from './harness';

afterEach(shutdownRigs);

describe('enrichment metrics', () => {
  requires('promtool').test('pass `promtool check metrics`, with every series present, for two instances on one registry', async () => {
    const a = rig(
      { pending: { deadline: '10s' } },
      { clients: [new FakeRuntimeClient('docker'), new FakeRuntimeClient('lxc', '/var/lib/lxc')] },
    );
    // A second instance reports into the same registry, as two pipelines of one agent would.
    const registry = a.settings.metrics;
    const b = rig({}, { id: 'processors.container_enrichment/2', registry });
    const c1 = box('1'.repeat(64), 101, 11);
    a.cgroups.mkdir(c1.cgroupId, c1.path);
    a.clients[0].start(container(c1.id, 11), true);
    await a.processor.start();
    await b.processor.start();
    a.clients[0].cacheEvictions = () => 3;
    await a.processor.consumeLogs(
      batchOf([
        execRecord(1, c1),
        execRecord(2, { mntns: 4026531840, cgroupId: ROOT_CGROUP }),
        execRecord(3, { mntns: 99, cgroupId: 999 }),
        execRecord(4, { mntns: 98, cgroupId: 0 }),
      ]),
    );
    const text = await registry.metrics();
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out).toBe('');
    for (const name of [
      'hits_total',
      'misses_total',
      'host_events_total',
      'released_enriched_total',
      'records_without_metadata_total',
      'pending_records',
      'containers',
      'index_refused_total',
      'not_container_cgroups_evicted_total',
      'cgroup_rescans_total',
      'pinned_map_entries',
      'pinned_map_errors_total',
      'runtime_up',
    ]) {
      expect(text).toContain(`ebpf_container_otel_enrichment_${name}{`);
    }
    for (const reason of ['path_only', 'deadline', 'overflow', 'shutdown', 'not_container', 'unresolved', 'no_cgroup']) {
      expect(text).toContain(
        `ebpf_container_otel_enrichment_records_without_metadata_total{component="processors.container_enrichment",reason="${reason}"} ${reason === 'no_cgroup' ? 1 : 0}\n`,
      );
    }
    expect(text).toContain('ebpf_container_otel_enrichment_host_events_total{component="processors.container_enrichment"} 1\n');
    expect(text).toContain('ebpf_container_otel_enrichment_misses_total{component="processors.container_enrichment"} 1\n');
    expect(text).toContain('ebpf_container_otel_enrichment_pending_records{component="processors.container_enrichment"} 1\n');
    expect(text).toContain('ebpf_container_otel_enrichment_containers{component="processors.container_enrichment",state="live"} 1\n');
    expect(text).toContain('ebpf_container_otel_enrichment_containers{component="processors.container_enrichment/2",state="live"} 0\n');
    expect(text).toContain(
      'ebpf_container_otel_enrichment_pinned_map_entries{component="processors.container_enrichment",map="write"} 1\n',
    );
    expect(text).toContain('ebpf_container_otel_enrichment_hits_total{component="processors.container_enrichment"} 1');
    expect(text).toContain('ebpf_container_otel_enrichment_hits_total{component="processors.container_enrichment/2"} 0');
    expect(text).toContain(
      'ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="lxc",endpoint="/var/lib/lxc"} 1',
    );
    expect(text).toContain(
      'ebpf_container_otel_enrichment_runtime_cache_evictions_total{component="processors.container_enrichment",runtime="docker",endpoint="/run/fake.sock"} 3',
    );
    // Every bounded cache of a client is named with its bound (runtime/README.md lists them).
    expect(text).toContain(
      "# HELP ebpf_container_otel_enrichment_runtime_cache_evictions_total Entries a runtime client's bounded caches dropped because they were full (containerd: image digests, 1024; records prefetched at container creation, 256. docker/podman: image repository digests, 1024. containerd, docker/podman: pods' labels and annotations, 1024. containerd, cri, docker/podman: containers the runtime has removed, 4096).\n",
    );
    // Only clients that have bounded caches report evictions.
    expect(text).not.toContain('runtime_cache_evictions_total{component="processors.container_enrichment",runtime="lxc"');
    await b.processor.shutdown();
    expect(await registry.metrics()).not.toContain('component="processors.container_enrichment/2"');
  });
});
