import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { TelemetryServer } from '../../pipeline/telemetry-server';
import type { PrometheusExporterConfig } from './config';
import { ContainerEventCounters } from './container-events';

/**
 * Counts events per container and serves the agent's one prom-client
 * registry (every component's metrics) on /metrics, with /healthz and
 * /readyz, at its endpoint.
 */
export class PrometheusExporter implements Exporter {
  private readonly server: TelemetryServer;
  private readonly counters: ContainerEventCounters;

  constructor(
    config: PrometheusExporterConfig,
    private readonly settings: ComponentSettings,
  ) {
    this.counters = new ContainerEventCounters(settings.metrics, { maxSeries: config.max_container_series, podLabel: config.pod_label });
    this.server = new TelemetryServer(
      config.endpoint,
      'exporters.prometheus.endpoint',
      'Prometheus metrics',
      settings.metrics,
      settings.logger,
    );
  }

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    return this.server.port;
  }

  async start(): Promise<void> {
    await this.server.start();
    this.server.ready = true;
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    this.counters.count(batch);
    this.settings.stage.send(batch.length);
  }

  readonly shutdown = once(() => this.server.stop());
}
