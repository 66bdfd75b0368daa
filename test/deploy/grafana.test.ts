/**
 * deploy/grafana/ebpf-container-otel.json: a well-formed dashboard whose every panel's PromQL,
 * run against a real Prometheus scraping a running agent (real BPF; OTLP exporters to a sink that
 * accepts, one that rejects and one that is unavailable, so export latency, drops and retries
 * exist), returns series.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AgentProcess, PrometheusServer, REPO_ROOT } from '../harness';
import { OtlpSink } from '../harness/otlp-sink';
import { requires } from '../harness/requires';

const DASHBOARD = path.join(REPO_ROOT, 'deploy/grafana/ebpf-container-otel.json');

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
};
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

/** As Grafana would send it, with every agent selected. */
function expand(expr: string): string {
  return expr.replaceAll('$__rate_interval', '15s').replaceAll('$instance', '.*');
}

/** Metric names a query reads (ebpf_container_otel_…, histogram suffixes included). */
function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(ebpf_container_otel_[a-z_]+)/g)].map((m) => m[1]))];
}

describe('the Grafana dashboard', () => {
  test('is well formed: unique ids, a grid that fits, every panel described and querying the chosen data source and agents', () => {
    expect(dashboard.uid).toBe('ebpf-container-otel');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    expect(dashboard.templating.list.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['instance', 'query'],
    ]);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    expect(queryPanels.length).toBeGreaterThanOrEqual(15);
    for (const p of queryPanels) {
      expect([p.title, p.description?.length ?? 0]).toEqual([p.title, expect.any(Number)]);
      expect(p.description!.length).toBeGreaterThan(20);
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets!.length).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource.uid).toBe('${datasource}');
        expect(t.expr).toContain('instance=~"$instance"');
        expect(metricNames(t.expr).length).toBeGreaterThan(0);
      }
    }
    // What the issue asks the dashboard to show.
    const titles = queryPanels.map((p) => p.title).join('\n');
    for (const topic of [
      /events by type/i,
      /by container/i,
      /workload/i,
      /drops by .*reason/i,
      /loss chain/i,
      /without full container metadata/i,
      /queue depth/i,
      /export latency/i,
      /BPF programs/i,
    ]) {
      expect(titles).toMatch(topic);
    }
  });

  requires('bpf', 'prometheus', 'promtool').describe('against a real Prometheus scraping a running agent', () => {
    let agent: AgentProcess | undefined;
    let prom: PrometheusServer | undefined;
    const sinks: OtlpSink[] = [];
    let busy: NodeJS.Timeout | undefined;

    beforeAll(async () => {
      const accepting = await new OtlpSink({ decode: false }).start();
      const rejecting = await new OtlpSink({ decode: false }).start();
      rejecting.failWith(grpc.status.INVALID_ARGUMENT);
      const unavailable = await new OtlpSink({ decode: false }).start();
      unavailable.failWith(grpc.status.UNAVAILABLE);
      sinks.push(accepting, rejecting, unavailable);
      agent = await AgentProcess.start(`
receivers:
  ebpf:
    events: [exec, exit, open, connect]
processors:
  container_enrichment:
    # A runtime that is down still has its runtime_up series (0).
    runtimes: { docker: { enabled: true, socket: /nonexistent/docker.sock }, lxc: { enabled: false } }
exporters:
  otlp:
    endpoint: ${accepting.address}
    tls: { insecure: true }
  otlp/rejecting:
    endpoint: ${rejecting.address}
    tls: { insecure: true }
    retry_on_failure: { enabled: false }
  otlp/retrying:
    endpoint: ${unavailable.address}
    tls: { insecure: true }
    retry_on_failure: { enabled: true, initial_interval: 100ms, max_interval: 200ms }
  file:
    path: /dev/null
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    logs:
      receivers: [ebpf]
      processors: [container_enrichment]
      exporters: [otlp, otlp/rejecting, otlp/retrying, file, prometheus]
`);
      prom = await PrometheusServer.start([`127.0.0.1:${await agent.metricsPort()}`]);
      // Some activity of every traced kind while Prometheus scrapes.
      busy = setInterval(() => spawn('/bin/sh', ['-c', 'cat /etc/hostname >/dev/null'], { stdio: 'ignore' }), 100);
      await prom.queryUntilPresent('ebpf_container_otel_records_received_total');
    }, 180_000);

    afterAll(async () => {
      clearInterval(busy);
      await prom?.stop();
      await agent?.destroy();
      for (const s of sinks) s.stop();
    }, 30_000);

    test('every metric a panel reads is one the agent serves', async () => {
      const text = await (await fetch(`http://127.0.0.1:${await agent!.metricsPort()}/metrics`)).text();
      const served = new Set(
        [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
          type === 'histogram' ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name],
        ),
      );
      const unknown = queryPanels.flatMap((p) =>
        p.targets!.flatMap((t) =>
          metricNames(t.expr)
            .filter((m) => !served.has(m))
            .map((m) => `${p.title}: ${m}`),
        ),
      );
      expect(unknown).toEqual([]);
    });

    test("every panel's every query returns series", async () => {
      const empty: string[] = [];
      for (const p of queryPanels) {
        for (const t of p.targets!) {
          const expr = expand(t.expr);
          try {
            await prom!.queryUntilPresent(expr, 20_000);
          } catch (err) {
            empty.push(`${p.title} [${t.refId}] ${expr}: ${(err as Error).message.slice(0, 200)}`);
          }
        }
      }
      expect(empty).toEqual([]);
    }, 240_000);
  });
});
