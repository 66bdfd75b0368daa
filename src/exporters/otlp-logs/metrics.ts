import { Counter, Histogram } from 'prom-client';
import { METRIC_PREFIX, type MetricSource, componentMetrics, oncePerRegistry } from '../../pipeline/telemetry';

/** What an exporter instance reports at scrape time. */
export interface QueueSource extends MetricSource {
  queuedRecords(): number;
  capacityRecords: number;
  inFlightRequests(): number;
}

/** The queue gauges, read from every OTLP exporter instance registered in a registry. */
export const registerQueueMetrics = componentMetrics<QueueSource>([
  {
    type: 'gauge',
    name: `${METRIC_PREFIX}exporter_queue_records`,
    help: 'Records held by an exporter: open batch, waiting, in flight and retrying.',
    read: (s, emit) => emit(s.queuedRecords()),
  },
  {
    type: 'gauge',
    name: `${METRIC_PREFIX}exporter_queue_capacity_records`,
    help: 'Records an exporter holds at most (sending_queue.queue_size); beyond it records are dropped with reason queue_full.',
    read: (s, emit) => emit(s.capacityRecords),
  },
  {
    type: 'gauge',
    name: `${METRIC_PREFIX}exporter_requests_in_flight`,
    help: 'Export requests sent or waiting to be retried, not yet answered.',
    read: (s, emit) => emit(s.inFlightRequests()),
  },
]);

export interface SendMetrics {
  sendDuration: Histogram<'component' | 'outcome'>;
  retries: Counter<'component' | 'code'>;
}

/** Observed as requests are sent, one set per registry, shared by the OTLP exporters in it. */
export const sendMetrics = oncePerRegistry((registry): SendMetrics => ({
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
}));
