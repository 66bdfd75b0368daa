/**
 * The whole resolved config of each file we ship, as the OTel Collector's config_test.go asserts
 * it: every key of every component, defaults included, compared with toEqual. A changed default,
 * a key the loader drops, or an example that no longer says what it meant fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { builtinFactories } from '../../src/components';
import type { FileExporterConfig } from '../../src/exporters/file';
import type { OtlpExporterConfig } from '../../src/exporters/otlp-logs';
import type { PrometheusExporterConfig } from '../../src/exporters/prometheus';
import { type ComponentKind, parseConfigText, resolveComponent } from '../../src/pipeline/config';
import type { ContainerEnrichmentConfig } from '../../src/processors/container-enrichment';
import type { EbpfReceiverConfig } from '../../src/receivers/ebpf';
import type { SyntheticReceiverConfig } from '../../src/receivers/synthetic';
import { REPO_ROOT } from '../harness/paths';

/** The config as the Service builds from it: each component's section with its defaults under it. */
function resolve(file: string, env: Record<string, string> = {}) {
  const config = parseConfigText(readFileSync(path.join(REPO_ROOT, file), 'utf8'), file, env, builtinFactories);
  const kind = (k: ComponentKind) =>
    Object.fromEntries(
      Object.keys(config[k]).map((id) => {
        const resolved = resolveComponent(builtinFactories, k, id, config[k][id]);
        expect(resolved.problems).toEqual([]);
        return [id, resolved.config];
      }),
    );
  return { receivers: kind('receivers'), processors: kind('processors'), exporters: kind('exporters'), service: config.service };
}

const EBPF: EbpfReceiverConfig = {
  events: ['exec', 'exit', 'open', 'connect'],
  ring_buffer_size: '16MiB',
  exec_args_max_bytes: 1024,
  filters: {
    containers_only: false,
    deny_comms: [],
    deny_pids: [],
    exclude_self: true,
    open_failed_only: false,
    containers: { include: [], exclude: [] },
    open: { include_path_prefixes: [], exclude_path_prefixes: [] },
    rate_limit: { per_container: 0, burst: 0 },
  },
  batch: { max_records: 8192, drain_interval: '20ms', max_in_flight: 4 },
  disable_programs: [],
};

const SYNTHETIC: SyntheticReceiverConfig = { rate: 1000, batch_size: 100, count: 0, mntns: 0 };

const ENRICHMENT: ContainerEnrichmentConfig = {
  host_root: '/',
  host_proc: '',
  host_run: '',
  runtimes: {},
  resync_interval: '30s',
  pending: { max_per_container: 2048, max_total: 16384, deadline: '2s' },
  tombstone_ttl: '30s',
  max_containers: 8192,
  host_events: 'keep',
  pinned_map: {
    read_path: '/sys/fs/bpf/gadget/containers',
    write_path: '/sys/fs/bpf/ebpf-container-otel/containers',
    write: true,
    keep_on_shutdown: false,
    max_entries: 8192,
  },
};

const POD_METADATA = {
  labels: ['app', 'app.kubernetes.io/*', 'k8s-app', 'version', 'component', 'tier'],
  annotations: [],
  max_attributes: 32,
  max_value_length: 256,
};

/** No endpoint, TLS, compression or timeout: unset, the OTEL_EXPORTER_OTLP_* environment decides them when the exporter starts. */
const OTLP: OtlpExporterConfig = {
  headers: {},
  sending_queue: { enabled: true, queue_size: 100000, num_consumers: 4 },
  retry_on_failure: { enabled: true, initial_interval: '5s', max_interval: '30s', max_elapsed_time: '5m' },
  batch: { max_size: 8192, max_bytes: '3MiB', delay: '200ms' },
  resource_attributes: {},
  pod_metadata: POD_METADATA,
  shutdown_timeout: '5s',
};

const PROMETHEUS: PrometheusExporterConfig = { endpoint: '0.0.0.0:9464', max_container_series: 1000, pod_label: false };

const FILE: FileExporterConfig = { path: '-', max_queue_bytes: '16MiB', resource_attributes: {}, pod_metadata: POD_METADATA };

test("each component's defaults, spelled out", () => {
  const defaults = Object.fromEntries(builtinFactories.map((f) => [`${f.kind} ${f.type}`, f.createDefaultConfig()]));
  expect(defaults).toStrictEqual({
    'receiver ebpf': EBPF,
    'receiver synthetic': SYNTHETIC,
    'processor container_enrichment': ENRICHMENT,
    'exporter otlp': OTLP,
    'exporter prometheus': PROMETHEUS,
    'exporter file': FILE,
  });
});

describe('config/default.yaml (embedded: `run` without --config)', () => {
  const pipeline = { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: ['file', 'prometheus'] } };

  test('with no environment', () => {
    expect(resolve('config/default.yaml')).toStrictEqual({
      receivers: { ebpf: { ...EBPF, events: ['exec', 'exit'] } },
      processors: { container_enrichment: ENRICHMENT },
      exporters: { file: FILE, prometheus: PROMETHEUS },
      service: { node_name: '', pipelines: pipeline },
    });
  });

  test('with the environment it reads', () => {
    const env = { EBPF_OTEL_OUTPUT: '/tmp/events.jsonl', EBPF_OTEL_METRICS_ENDPOINT: '127.0.0.1:9999', NODE_NAME: 'node-7' };
    expect(resolve('config/default.yaml', env)).toStrictEqual({
      receivers: { ebpf: { ...EBPF, events: ['exec', 'exit'] } },
      processors: { container_enrichment: ENRICHMENT },
      exporters: { file: { ...FILE, path: '/tmp/events.jsonl' }, prometheus: { ...PROMETHEUS, endpoint: '127.0.0.1:9999' } },
      service: { node_name: 'node-7', pipelines: pipeline },
    });
  });
});

const EXAMPLES: Record<string, ReturnType<typeof resolve>> = {
  'daemonset.yaml': {
    receivers: { ebpf: { ...EBPF, ring_buffer_size: '64MiB', filters: { ...EBPF.filters, containers_only: true } } },
    processors: { container_enrichment: { ...ENRICHMENT, host_events: 'drop' } },
    exporters: {
      otlp: {
        ...OTLP,
        endpoint: 'otel-collector.observability.svc:4317',
        tls: { insecure: true },
        compression: 'gzip',
        sending_queue: { ...OTLP.sending_queue, queue_size: 200000 },
      },
      prometheus: PROMETHEUS,
    },
    service: {
      node_name: '',
      pipelines: { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: ['otlp', 'prometheus'] } },
    },
  },
  'sidecar.yaml': {
    receivers: { ebpf: { ...EBPF, events: ['exec', 'exit', 'connect'] } },
    processors: { container_enrichment: ENRICHMENT },
    exporters: {
      otlp: { ...OTLP, endpoint: 'localhost:4317', tls: { insecure: true } },
      file: { ...FILE, path: '/var/log/ebpf-container-otel/events.jsonl' },
    },
    service: { pipelines: { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: ['otlp', 'file'] } } },
  },
  // Every key at its default where it has one: what differs is what has no default.
  'reference.yaml': {
    receivers: { ebpf: EBPF, synthetic: SYNTHETIC },
    processors: {
      container_enrichment: {
        ...ENRICHMENT,
        runtimes: {
          containerd: { enabled: true, socket: '/run/containerd/containerd.sock', namespaces: [] },
          cri: { enabled: true, socket: '/run/crio/crio.sock', poll_interval: '2s' },
          docker: { enabled: true, socket: '/var/run/docker.sock' },
          podman: { enabled: true, socket: '/run/podman/podman.sock' },
          lxc: { enabled: true, lxcpath: ['/var/lib/lxc', '/run/lxcri'], poll_interval: '2s' },
        },
      },
    },
    exporters: {
      otlp: {
        ...OTLP,
        endpoint: 'otel-collector:4317',
        tls: { insecure: false, ca_file: '/etc/otel/ca.pem', cert_file: '/etc/otel/client.pem', key_file: '/etc/otel/client-key.pem' },
        compression: 'none',
        timeout: '10s',
      },
      prometheus: PROMETHEUS,
      file: FILE,
    },
    service: {
      node_name: 'node-1',
      shutdown_timeout: '10s',
      log_level: 'info',
      telemetry: { metrics: { address: '' } },
      pipelines: { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: ['otlp', 'prometheus', 'file'] } },
    },
  },
};

describe('config/examples', () => {
  test('every example has its expected resolved config here', () => {
    expect(readdirSync(path.join(REPO_ROOT, 'config/examples')).sort()).toEqual(Object.keys(EXAMPLES).sort());
  });

  test.each(Object.keys(EXAMPLES))('%s', (file) => {
    expect(resolve(`config/examples/${file}`)).toStrictEqual(EXAMPLES[file]);
  });
});
