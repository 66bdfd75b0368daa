import { parseConfigText } from '../../src/pipeline/config';
import { containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import { createDefaultConfig, resolveConfig, validateConfig } from '../../src/processors/container-enrichment/config';

const pipeline = (processorYaml: string) => `
receivers: { synthetic: {} }
processors:
  container_enrichment:
${processorYaml}
exporters: { file: {} }
service: { pipelines: { logs: { receivers: [synthetic], processors: [container_enrichment], exporters: [file] } } }
`;

describe('container_enrichment config', () => {
  test('the factory: type, kind, defaults', () => {
    expect(containerEnrichmentProcessorFactory).toMatchObject({ type: 'container_enrichment', kind: 'processor' });
    const resolved = resolveConfig(containerEnrichmentProcessorFactory.createDefaultConfig());
    expect(resolved).toMatchObject({
      hostProc: '/proc',
      pending: { deadlineMs: 2000 },
      tombstoneTtlMs: 30_000,
      dropHostEvents: false,
      pinnedMap: {
        readPath: '/sys/fs/bpf/gadget/containers',
        writePath: '/sys/fs/bpf/ebpf-container-otel/containers',
        write: true,
        keepOnShutdown: false,
      },
    });
    expect(validateConfig(createDefaultConfig())).toEqual([]);
  });

  test('a full section passes the schema', () => {
    const config = parseConfigText(
      pipeline(`
    host_root: /host
    runtimes: { docker: { socket: /host/run/docker.sock }, lxc: { enabled: false } }
    resync_interval: 1m
    pending: { max_per_container: 64, max_total: 1024, deadline: 500ms }
    tombstone_ttl: 10s
    max_containers: 2048
    host_events: drop
    pinned_map: { read_path: /sys/fs/bpf/ig/containers, write_path: /sys/fs/bpf/x/containers, write: true, keep_on_shutdown: true, max_entries: 1024 }
`),
      'test.yaml',
      {},
    );
    expect(config.processors.container_enrichment).toBeDefined();
    expect(resolveConfig({ ...createDefaultConfig(), host_root: '/host' }).hostProc).toBe('/host/proc');
  });

  test.each([
    ['host_events: maybe', /host_events: "maybe" is not one of keep, drop/],
    ['pending: { deadline: soon }', /pending.deadline: "soon" is not a duration/],
    ['pinned_map: { pin: x }', /pinned_map.pin: unknown key/],
  ])('schema refuses %s', (yaml, message) => {
    expect(() => parseConfigText(pipeline(`    ${yaml}`), 'test.yaml', {})).toThrow(message);
  });

  test('cross-field rules name the key and say what to do', () => {
    const c = createDefaultConfig();
    c.pending.max_per_container = 20_000;
    c.pinned_map.read_path = c.pinned_map.write_path;
    c.resync_interval = '0s';
    expect(validateConfig(c)).toEqual([
      expect.stringMatching(/^pending.max_per_container: 20000 is larger than pending.max_total \(16384\)/),
      expect.stringMatching(/^resync_interval: "0s" must be longer than 0/),
      expect.stringMatching(/^pinned_map.write_path: .* is also pinned_map.read_path/),
    ]);
    const relative = createDefaultConfig();
    relative.pinned_map.write_path = 'containers';
    expect(validateConfig(relative)).toEqual([
      expect.stringMatching(/^pinned_map.write_path: "containers" must be an absolute path on a bpffs mount/),
    ]);
  });
});
