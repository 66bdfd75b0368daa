import { parseDuration, parseSize } from '../../pipeline/units';
import { createDefaultPodMetadataConfig, type PodMetadataConfig, validatePodMetadataConfig } from '../log-mapping/pod-metadata';

export interface OtlpExporterConfig {
  /** `host:port` or a URL; unset → OTEL_EXPORTER_OTLP_LOGS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT → localhost:4317. */
  endpoint?: string;
  /** Unset → OTEL_EXPORTER_OTLP_{LOGS_,}INSECURE / _CERTIFICATE / _CLIENT_* decide. */
  tls?: { insecure?: boolean; ca_file?: string; cert_file?: string; key_file?: string };
  /** Merged with OTEL_EXPORTER_OTLP_{LOGS_,}HEADERS; these win. */
  headers: Record<string, string>;
  /** Unset → OTEL_EXPORTER_OTLP_{LOGS_,}COMPRESSION → none. */
  compression?: 'gzip' | 'none';
  /** Per attempt; unset → OTEL_EXPORTER_OTLP_{LOGS_,}TIMEOUT → 10s. */
  timeout?: string;
  sending_queue: {
    /**
     * false: no request waits for a consumer. While all `num_consumers` are busy (sending or
     * retrying) and one finished request waits, new records are dropped (queue_full) instead of
     * queued: the Collector's "no queue", as a drop with a count rather than blocking the kernel's
     * ring buffer.
     */
    enabled: boolean;
    /** Records held (open batch + waiting + in flight + retrying) before new ones are dropped. */
    queue_size: number;
    /** Export requests in flight at once. */
    num_consumers: number;
  };
  retry_on_failure: {
    enabled: boolean;
    initial_interval: string;
    max_interval: string;
    /** Give a request up after this long; `0s` retries for ever. */
    max_elapsed_time: string;
  };
  batch: {
    max_size: number;
    /** Serialized request size cap; keep below the receiver's limit (gRPC default 4 MiB). */
    max_bytes: string | number;
    delay: string;
  };
  /** Added to (or replacing) the computed resource attributes, e.g. `service.name`. */
  resource_attributes: Record<string, string>;
  /** Pod labels and annotations sent as `k8s.pod.label.<key>` / `k8s.pod.annotation.<key>` (allow-lists, bounds). */
  pod_metadata: PodMetadataConfig;
  /** How long shutdown waits for queued records to be delivered. */
  shutdown_timeout: string;
}

export function createDefaultConfig(): OtlpExporterConfig {
  return {
    headers: {},
    sending_queue: { enabled: true, queue_size: 100_000, num_consumers: 4 },
    retry_on_failure: { enabled: true, initial_interval: '5s', max_interval: '30s', max_elapsed_time: '5m' },
    batch: { max_size: 8192, max_bytes: '3MiB', delay: '200ms' },
    resource_attributes: {},
    pod_metadata: createDefaultPodMetadataConfig(),
    shutdown_timeout: '5s',
  };
}

/** The config with durations and sizes in numbers (ms, bytes). */
export interface ResolvedOtlpConfig {
  queueEnabled: boolean;
  queueSize: number;
  numConsumers: number;
  retry: { enabled: boolean; initialMs: number; maxMs: number; maxElapsedMs: number };
  batchMaxSize: number;
  batchMaxBytes: number;
  batchDelayMs: number;
  timeoutMs: number | undefined;
  shutdownTimeoutMs: number;
}

const GRPC_DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024;

export function resolveConfig(c: OtlpExporterConfig): ResolvedOtlpConfig {
  return {
    queueEnabled: c.sending_queue.enabled,
    queueSize: c.sending_queue.queue_size,
    numConsumers: c.sending_queue.num_consumers,
    retry: {
      enabled: c.retry_on_failure.enabled,
      initialMs: parseDuration(c.retry_on_failure.initial_interval),
      maxMs: parseDuration(c.retry_on_failure.max_interval),
      maxElapsedMs: parseDuration(c.retry_on_failure.max_elapsed_time),
    },
    batchMaxSize: c.batch.max_size,
    batchMaxBytes: parseSize(c.batch.max_bytes),
    batchDelayMs: parseDuration(c.batch.delay),
    timeoutMs: c.timeout === undefined ? undefined : parseDuration(c.timeout),
    shutdownTimeoutMs: parseDuration(c.shutdown_timeout),
  };
}

export function validateConfig(c: OtlpExporterConfig): string[] {
  const problems: string[] = validatePodMetadataConfig(c.pod_metadata);
  let r: ResolvedOtlpConfig;
  try {
    r = resolveConfig(c);
  } catch (err) {
    return [(err as Error).message];
  }
  if (r.batchMaxBytes < 64 * 1024)
    problems.push(`batch.max_bytes: ${JSON.stringify(c.batch.max_bytes)} must be at least 64KiB (one record can take tens of KiB)`);
  if (r.batchMaxBytes > GRPC_DEFAULT_MAX_MESSAGE) {
    problems.push(
      `batch.max_bytes: ${JSON.stringify(c.batch.max_bytes)} exceeds the 4MiB gRPC receive limit of a default collector; lower it (default 3MiB)`,
    );
  }
  if (r.queueSize < r.batchMaxSize)
    problems.push(`sending_queue.queue_size: ${r.queueSize} must be at least batch.max_size (${r.batchMaxSize})`);
  if (r.retry.initialMs <= 0)
    problems.push(`retry_on_failure.initial_interval: ${JSON.stringify(c.retry_on_failure.initial_interval)} must be above 0`);
  if (r.retry.maxMs < r.retry.initialMs)
    problems.push(`retry_on_failure.max_interval: ${JSON.stringify(c.retry_on_failure.max_interval)} must be at least initial_interval`);
  if (r.timeoutMs !== undefined && r.timeoutMs <= 0) problems.push(`timeout: ${JSON.stringify(c.timeout)} must be above 0`);
  const tls = c.tls ?? {};
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined))
    problems.push('tls: cert_file and key_file go together (client certificate and its key); set both or neither');
  if (tls.insecure && (tls.ca_file || tls.cert_file)) problems.push('tls.insecure: true conflicts with ca_file/cert_file; drop one');
  return problems;
}
