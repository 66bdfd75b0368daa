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

export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(endpoint);
  if (!m) throw new Error(`endpoint: ${JSON.stringify(endpoint)} is not host:port (e.g. 0.0.0.0:9464)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`endpoint: port ${port} is above 65535`);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1] || '0.0.0.0';
  return { host, port };
}

export function validateConfig(config: PrometheusExporterConfig): string[] {
  try {
    parseEndpoint(config.endpoint);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}
