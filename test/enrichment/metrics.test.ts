import { execFileSync } from 'node:child_process';
import { hasProgram } from '../harness';
import { batchOf, container, execRecord, FakeRuntimeClient } from './fakes';
import { rig, shutdownRigs } from './harness';

afterEach(shutdownRigs);

const promtool = hasProgram('promtool');
if (!promtool) console.warn('metrics.test: SKIPPED the promtool check: promtool is not installed (scripts/setup.sh --test installs prometheus)');

describe('enrichment metrics', () => {
  (promtool ? test : test.skip)('pass `promtool check metrics`, with every series present, for two instances on one registry', async () => {
    const a = rig({ pending: { deadline: '10s' } }, { clients: [new FakeRuntimeClient('docker'), new FakeRuntimeClient('lxc', '/var/lib/lxc')] });
    // A second instance reports into the same registry, as two pipelines of one agent would.
    const registry = a.settings.metrics;
    const b = rig({}, { id: 'processors.container_enrichment/2', registry });
    await a.processor.start();
    await b.processor.start();
    a.clients[0].start(container('c1', 11));
    a.clients[0].cacheEvictions = () => 3;
    await a.processor.consumeLogs(batchOf([execRecord(1, 11), execRecord(2, 4026531840), execRecord(3, 99)]));
    const text = await registry.metrics();
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out).toBe('');
    for (const name of ['hits_total', 'misses_total', 'pending_records', 'released_unenriched_total', 'index_containers', 'tombstones', 'pinned_map_entries', 'runtime_up']) {
      expect(text).toContain(`ebpf_container_otel_enrichment_${name}{`);
    }
    expect(text).toContain('ebpf_container_otel_enrichment_hits_total{component="processors.container_enrichment"} 1');
    expect(text).toContain('ebpf_container_otel_enrichment_hits_total{component="processors.container_enrichment/2"} 0');
    expect(text).toContain('ebpf_container_otel_enrichment_runtime_up{component="processors.container_enrichment",runtime="lxc",endpoint="/var/lib/lxc"} 1');
    expect(text).toContain('ebpf_container_otel_enrichment_runtime_cache_evictions_total{component="processors.container_enrichment",runtime="docker",endpoint="/run/fake.sock"} 3');
    // Only clients that have bounded caches report evictions.
    expect(text).not.toContain('runtime_cache_evictions_total{component="processors.container_enrichment",runtime="lxc"');
    await b.processor.shutdown();
    expect(await registry.metrics()).not.toContain('component="processors.container_enrichment/2"');
  });
});
