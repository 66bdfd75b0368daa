import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../pipeline/telemetry';

/** What an exporter instance reports at scrape time. */
export interface QueueSource {
  id: string;
  queuedRecords(): number;
  capacityRecords: number;
  inFlightRequests(): number;
}

export interface ExporterMetrics {
  sources: Set<QueueSource>;
  sendDuration: Histogram<'component' | 'outcome'>;
  retries: Counter<'component' | 'code'>;
}

/** One set of collectors per registry, shared by every OTLP exporter instance registered in it. */
const byRegistry = new WeakMap<Registry, ExporterMetrics>();

export function exporterMetrics(registry: Registry): ExporterMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const sources = new Set<QueueSource>();
  new Gauge({
    name: `${METRIC_PREFIX}exporter_queue_records`,
    help: 'Records held by an exporter: open batch, waiting, in flight and retrying.',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      for (const s of sources) this.set({ component: s.id }, s.queuedRecords());
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}exporter_queue_capacity_records`,
    help: 'Records an exporter holds at most (sending_queue.queue_size); beyond it records are dropped with reason queue_full.',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      for (const s of sources) this.set({ component: s.id }, s.capacityRecords);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}exporter_requests_in_flight`,
    help: 'Export requests sent or waiting to be retried, not yet answered.',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      for (const s of sources) this.set({ component: s.id }, s.inFlightRequests());
    },
  });
  const metrics: ExporterMetrics = {
    sources,
    sendDuration: new Histogram({
      name: `${METRIC_PREFIX}exporter_send_duration_seconds`,
      help: 'Duration of one export attempt, by outcome (success, retryable, failed).',
      labelNames: ['component', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    retries: new Counter({
      name: `${METRIC_PREFIX}exporter_send_retries_total`,
      help: 'Export attempts that failed with a retryable gRPC code and were scheduled again, by code.',
      labelNames: ['component', 'code'],
      registers: [registry],
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
