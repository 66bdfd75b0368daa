import { parseEndpoint } from '../../pipeline/telemetry-server';

export interface PrometheusExporterConfig {
  /** `host:port` to serve /metrics, /healthz and /readyz on. */
  endpoint: string;
  /** Distinct containers with their own event-count series; the rest count under container="other". */
  max_container_series: number;
  /**
   * Adds `k8s_pod` to the per-container series: one series per pod instead of one per workload
   * (namespace, workload kind and name, container). Off by default: pod names churn (every
   * rollout, every CronJob run) and so do series.
   */
  pod_label: boolean;
}

export function createDefaultConfig(): PrometheusExporterConfig {
  return { endpoint: '0.0.0.0:9464', max_container_series: 1000, pod_label: false };
}

export function validateConfig(config: PrometheusExporterConfig): string[] {
  try {
    parseEndpoint(config.endpoint);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}
