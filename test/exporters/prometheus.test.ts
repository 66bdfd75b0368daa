import { Registry } from 'prom-client';
import { prometheusExporterFactory, type PrometheusExporter } from '../../src/exporters/prometheus';
import { ContainerEventCounters } from '../../src/exporters/prometheus/container-events';
import { otlpLogsExporterFactory } from '../../src/exporters/otlp-logs';
import { mergeDefaults } from '../../src/pipeline/config';
import { BootClock, type ContainerInfo, EventBatch, encodeRecords } from '../../src/events';
import { PrometheusServer, promtoolCheckMetrics, waitFor } from '../harness';
import { OtlpSink } from '../harness/otlp-sink';
import { requires } from '../harness/requires';
import { DOCKER_CONTAINER, POD_CONTAINER, execBatch, sampleBatch, testSettings } from './fixtures';

function startExporter(user: Record<string, unknown>, settings = testSettings('exporters.prometheus')) {
  const config = mergeDefaults(prometheusExporterFactory.createDefaultConfig(), user);
  expect(prometheusExporterFactory.validate!(config)).toEqual([]);
  return { exporter: prometheusExporterFactory.create(config, settings) as PrometheusExporter, settings };
}

describe('prometheus exporter', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test('serves /metrics, /healthz, /readyz; per-container counts are capped with an other series', async () => {
    const { exporter, settings } = startExporter({ endpoint: '127.0.0.1:0', max_container_series: 2 });
    cleanups.push(() => exporter.shutdown());
    await exporter.start();
    const base = `http://127.0.0.1:${exporter.port}`;
    await exporter.consumeLogs(sampleBatch());
    const extra: ContainerInfo[] = [1, 2, 3].map((k) => ({ ...DOCKER_CONTAINER, id: `extra${k}`, name: `extra-${k}` }));
    await exporter.consumeLogs(execBatch(6, extra));

    const text = await (await fetch(`${base}/metrics`)).text();
    const line = (labels: string) => text.split('\n').find((l) => l.startsWith(`ebpf_container_otel_container_events_total{${labels}}`));
    expect(line('container="web",k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",event="exec"')).toMatch(/ 1$/);
    expect(line('container="web",k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",event="open"')).toMatch(/ 1$/);
    expect(line('container="batch-job",k8s_namespace="",k8s_workload_kind="",k8s_workload_name="",event="connect"')).toMatch(/ 2$/);
    expect(line('container="",k8s_namespace="",k8s_workload_kind="",k8s_workload_name="",event="exit"')).toMatch(/ 1$/);
    // No pod label unless asked for.
    expect(text).not.toMatch(/k8s_pod=/);
    // Unidentified by enrichment: its own series. No enrichment at all: counted with the host.
    const unidentified = execBatch(2, [DOCKER_CONTAINER]);
    unidentified.containers = [undefined, null];
    await exporter.consumeLogs(unidentified);
    const unenriched = execBatch(3, [DOCKER_CONTAINER]);
    unenriched.containers = undefined;
    await exporter.consumeLogs(unenriched);
    const after = await (await fetch(`${base}/metrics`)).text();
    const lineAfter = (labels: string) =>
      after.split('\n').find((l) => l.startsWith(`ebpf_container_otel_container_events_total{${labels}}`));
    expect(lineAfter('container="unidentified",k8s_namespace="",k8s_workload_kind="",k8s_workload_name="",event="exec"')).toMatch(/ 1$/);
    expect(lineAfter('container="",k8s_namespace="",k8s_workload_kind="",k8s_workload_name="",event="exec"')).toMatch(/ 4$/);
    // Cap 2 reached by web and batch-job: the three extra containers go to "other".
    expect(line('container="other",k8s_namespace="other",k8s_workload_kind="other",k8s_workload_name="other",event="exec"')).toMatch(/ 6$/);
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_total 3$/m);
    expect(settings.stage.sent).toBe(16);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  test('an overflowed container is counted once, though enrichment hands out a new ContainerInfo for it on every resync', async () => {
    const { exporter, settings } = startExporter({ endpoint: '127.0.0.1:0', max_container_series: 1 });
    cleanups.push(() => exporter.shutdown());
    await exporter.consumeLogs(execBatch(1, [POD_CONTAINER]));
    // The same overflowed container, as equal but new objects (what a resync produces).
    for (let resync = 0; resync < 3; resync++) await exporter.consumeLogs(execBatch(2, [{ ...DOCKER_CONTAINER }]));
    const text = await settings.metrics.metrics();
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_total 1$/m);
    expect(text).toMatch(
      /^ebpf_container_otel_container_events_total\{container="other",k8s_namespace="other",k8s_workload_kind="other",k8s_workload_name="other",event="exec"\} 6$/m,
    );
  });

  test('the records a container lost to the rate limit are counted by container, from its throttle stop records', async () => {
    const { exporter, settings } = startExporter({ endpoint: '127.0.0.1:0' });
    cleanups.push(() => exporter.shutdown());
    const common = { tsBootNs: 1n, pid: 5, mntns: 1, cgroupId: 2, comm: 'sh' };
    const { batch } = EventBatch.parse(
      encodeRecords([
        { ...common, type: 'throttle', started: true },
        { ...common, type: 'throttle', started: false, dropped: 1234 },
        { ...common, type: 'throttle', started: true },
        { ...common, type: 'throttle', started: false, dropped: 6 },
      ]),
      new BootClock(),
    );
    batch.containers = [POD_CONTAINER, POD_CONTAINER, POD_CONTAINER, POD_CONTAINER];
    await exporter.consumeLogs(batch);
    const text = await settings.metrics.metrics();
    expect(text).toMatch(/^ebpf_container_otel_container_records_rate_limited_total\{container="web",k8s_namespace="shop",[^}]*\} 1240$/m);
    expect(text).toMatch(/^ebpf_container_otel_container_events_total\{container="web",k8s_namespace="shop",[^}]*event="throttle"\} 4$/m);
  });

  /** Two pods of one Deployment, a pod of a StatefulSet, a bare pod. */
  const podOf = (podName: string, workload?: NonNullable<ContainerInfo['k8s']>['workload']): ContainerInfo => ({
    ...POD_CONTAINER,
    id: `id-${podName}`,
    k8s: { ...POD_CONTAINER.k8s!, podName, ...(workload ? { workload } : { workload: undefined }) },
  });
  const WEB_A = podOf('web-5dd5756b68-7xkqv', { kind: 'Deployment', name: 'web', replicaSet: 'web-5dd5756b68' });
  const WEB_B = podOf('web-5dd5756b68-q2wzn', { kind: 'Deployment', name: 'web', replicaSet: 'web-5dd5756b68' });
  const DB_0 = podOf('db-0', { kind: 'StatefulSet', name: 'db' });
  const BARE = podOf('debug');

  requires('promtool').test(
    'by default the pods of one workload share their series (namespace, workload kind and name, container); pod_label: true gives each pod its own',
    async () => {
      const byWorkload = startExporter({ endpoint: '127.0.0.1:0' });
      await byWorkload.exporter.consumeLogs(execBatch(8, [WEB_A, WEB_B, DB_0, BARE]));
      let text = await byWorkload.settings.metrics.metrics();
      const series = (t: string) => t.split('\n').filter((l) => l.startsWith('ebpf_container_otel_container_events_total{'));
      expect(series(text).sort()).toEqual([
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="",k8s_workload_name="",event="exec"} 2',
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",event="exec"} 4',
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="StatefulSet",k8s_workload_name="db",event="exec"} 2',
      ]);
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });

      const byPod = startExporter({ endpoint: '127.0.0.1:0', pod_label: true, max_container_series: 3 });
      await byPod.exporter.consumeLogs(execBatch(8, [WEB_A, WEB_B, DB_0, BARE]));
      text = await byPod.settings.metrics.metrics();
      expect(series(text).sort()).toEqual([
        'ebpf_container_otel_container_events_total{container="other",k8s_namespace="other",k8s_workload_kind="other",k8s_workload_name="other",k8s_pod="other",event="exec"} 2',
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",k8s_pod="web-5dd5756b68-7xkqv",event="exec"} 2',
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",k8s_pod="web-5dd5756b68-q2wzn",event="exec"} 2',
        'ebpf_container_otel_container_events_total{container="web",k8s_namespace="shop",k8s_workload_kind="StatefulSet",k8s_workload_name="db",k8s_pod="db-0",event="exec"} 2',
      ]);
      // The cap holds with the pod label: the bare pod, fourth, overflowed.
      expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_total 1$/m);
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
    },
  );

  test('the overflowed containers remembered are bounded; the oldest forgotten is counted when seen again, and the forgetting too', async () => {
    const registry = new Registry();
    const counters = new ContainerEventCounters(registry, { maxSeries: 1, overflowMemory: 2 });
    const named = (k: number): ContainerInfo => ({ ...DOCKER_CONTAINER, id: `c${k}`, name: `c-${k}` });
    counters.count(execBatch(1, [POD_CONTAINER]));
    // c1, c2 overflow and are remembered; c3 makes c1 the forgotten one.
    for (const k of [1, 2, 3, 2, 3]) counters.count(execBatch(1, [named(k)]));
    let text = await registry.metrics();
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_total 3$/m);
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_forgotten_total 1$/m);
    counters.count(execBatch(1, [named(1)]));
    text = await registry.metrics();
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_total 4$/m);
    expect(text).toMatch(/^ebpf_container_otel_container_series_overflow_forgotten_total 2$/m);
  });

  test('a taken port fails start() with a clear error', async () => {
    const first = startExporter({ endpoint: '127.0.0.1:0' });
    cleanups.push(() => first.exporter.shutdown());
    await first.exporter.start();
    const second = startExporter({ endpoint: `127.0.0.1:${first.exporter.port}` });
    await expect(second.exporter.start()).rejects.toThrow(`cannot listen on 127.0.0.1:${first.exporter.port}: address in use`);
    await second.exporter.shutdown();
  });

  requires('prometheus', 'promtool').test(
    'promtool check metrics is clean and a real prometheus server scrapes non-zero counters',
    async () => {
      // Everything our exporters register: pipeline stage counters, OTLP exporter metrics, container events.
      const settings = testSettings('exporters.prometheus');
      const sink = await new OtlpSink().start();
      cleanups.push(() => sink.stop());
      const otlpConfig = mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), { endpoint: `http://${sink.address}` });
      const otlpStage = settings.telemetry.stage('exporters.otlp');
      const otlp = otlpLogsExporterFactory.create(otlpConfig, { ...settings, id: 'exporters.otlp', stage: otlpStage });
      cleanups.push(() => otlp.shutdown());
      await otlp.start();
      await otlp.consumeLogs(execBatch(20, [POD_CONTAINER]));
      const { exporter } = startExporter({ endpoint: '127.0.0.1:0' }, settings);
      cleanups.push(() => exporter.shutdown());
      await exporter.start();
      await exporter.consumeLogs(sampleBatch());
      settings.telemetry.stage('exporters.otlp').drop(2, 'queue_full');
      await waitFor('OTLP delivery', () => otlpStage.sent === 20, 30_000);

      const metricsText = await (await fetch(`http://127.0.0.1:${exporter.port}/metrics`)).text();
      expect(promtoolCheckMetrics(metricsText)).toEqual({ status: 0, out: '' });

      const prom = await PrometheusServer.start([`127.0.0.1:${exporter.port}`]);
      cleanups.push(() => prom.stop());
      const events = await prom.queryUntilPresent(
        'ebpf_container_otel_container_events_total{k8s_namespace="shop",k8s_workload_kind="Deployment",k8s_workload_name="web",container="web",event="exec"}',
      );
      expect(Number(events[0].value[1])).toBeGreaterThan(0);
      const sent = await prom.queryUntilPresent('ebpf_container_otel_records_sent_total{component="exporters.otlp"}');
      expect(Number(sent[0].value[1])).toBe(20);
      const dropped = await prom.queryUntilPresent('ebpf_container_otel_records_dropped_total{reason="queue_full"}');
      expect(Number(dropped[0].value[1])).toBe(2);
      const latency = await prom.queryUntilPresent('ebpf_container_otel_exporter_send_duration_seconds_count{outcome="success"}');
      expect(Number(latency[0].value[1])).toBeGreaterThan(0);
      const up = await prom.queryUntilPresent('up{job="agent"}');
      expect(up[0].value[1]).toBe('1');
    },
    60_000,
  );
});
