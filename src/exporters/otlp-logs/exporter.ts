import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { convertLegacyOtlpGrpcOptions, createEmptyMetadata } from '@opentelemetry/otlp-grpc-exporter-base';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { WarnOnce } from '../../pipeline/logger';
import { countedPodMetadataPolicy } from '../log-mapping/pod-metadata';
import { type OtlpExporterConfig, type ResolvedOtlpConfig, resolveConfig } from './config';
import { type EncodedRequest, LogsRequestEncoder } from './encoder';
import { type SendMetrics, registerQueueMetrics, sendMetrics } from './metrics';
import { backoffMs, classifyError } from './retry';
import { type GrpcError, type GrpcTarget, GrpcUnaryTransport, partialSuccess } from './transport';

const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const USER_AGENT = 'ebpf-container-otel';

interface QueuedRequest {
  request: EncodedRequest;
  records: number;
  attempt: number;
  firstSentAt: number;
  retryTimer: NodeJS.Timeout | undefined;
  /** Finished, or abandoned at shutdown: late callbacks are ignored. */
  done: boolean;
}

/** FIFO without Array.shift: a head index, compacted now and then. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

function readTlsFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(
      `exporters.otlp.tls.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (fix the path or mount the file)`,
    );
  }
}

function tlsHint(message: string): string {
  return /certificate|ssl|tls|handshake/i.test(message)
    ? " (TLS: check exporters.otlp.tls.ca_file / OTEL_EXPORTER_OTLP_CERTIFICATE names the CA that signed the collector's certificate, or set tls.insecure for a plaintext collector)"
    : '';
}

/** A TLS file named by an OTEL_EXPORTER_OTLP_[LOGS_]* variable, as the OpenTelemetry exporter reads it; unreadable: warned, left out. */
function envTlsFile(names: string[], warn: (message: string) => void): Buffer | undefined {
  for (const name of names) {
    const file = process.env[name]?.trim();
    if (!file) continue;
    try {
      return readFileSync(path.resolve(process.cwd(), file));
    } catch (err) {
      warn(`${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; going on without it`);
      return undefined;
    }
  }
  return undefined;
}

function envFirst(names: string[]): string | undefined {
  for (const name of names) {
    const v = process.env[name]?.trim();
    if (v) return v;
  }
  return undefined;
}

/**
 * TLS or not, and with what, as the OpenTelemetry gRPC exporter decides it:
 * `tls` in the config first; else an `http://` endpoint is plaintext, an
 * `https://` one TLS with the OTEL_EXPORTER_OTLP_[LOGS_]{CERTIFICATE,CLIENT_KEY,CLIENT_CERTIFICATE}
 * files, and a bare `host:port` TLS unless OTEL_EXPORTER_OTLP_[LOGS_]INSECURE is true.
 */
function resolveTls(config: OtlpExporterConfig, warn: (message: string) => void): GrpcTarget['tls'] {
  const tls = config.tls;
  if (tls?.insecure) return undefined;
  if (tls && (tls.ca_file || tls.cert_file || tls.key_file)) {
    return {
      ca: tls.ca_file ? readTlsFile(tls.ca_file, 'ca_file') : undefined,
      key: tls.key_file ? readTlsFile(tls.key_file, 'key_file') : undefined,
      cert: tls.cert_file ? readTlsFile(tls.cert_file, 'cert_file') : undefined,
    };
  }
  const raw = config.endpoint ?? envFirst(['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) ?? 'http://localhost:4317';
  if (raw.startsWith('http://')) return undefined;
  if (
    !raw.startsWith('https://') &&
    envFirst(['OTEL_EXPORTER_OTLP_LOGS_INSECURE', 'OTEL_EXPORTER_OTLP_INSECURE'])?.toLowerCase() === 'true'
  )
    return undefined;
  const ca = envTlsFile(['OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CERTIFICATE'], warn);
  let key = envTlsFile(['OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_CLIENT_KEY'], warn);
  let cert = envTlsFile(['OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE'], warn);
  if ((key === undefined) !== (cert === undefined)) {
    warn(
      'OTEL_EXPORTER_OTLP_CLIENT_KEY and OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE go together; one is missing, so no client certificate is presented',
    );
    key = cert = undefined;
  }
  return { ca, key, cert };
}

/**
 * OTLP/gRPC logs exporter. Records are encoded into protobuf as they arrive
 * (no per-record objects), cut into requests by count, bytes and delay, and
 * sent as the buffers they were encoded into by a lean gRPC client on
 * node:http2 (`transport.ts`); endpoint, headers, compression and timeout
 * merge the config with the OTEL_EXPORTER_OTLP_* variables through the
 * OpenTelemetry exporter's own rules. Holds at most `queue_size` records
 * (with `sending_queue.enabled: false`, no more than the requests in flight,
 * one waiting and the open batch); retries retryable gRPC codes itself with
 * exponential backoff.
 */
export class OtlpLogsExporter implements Exporter {
  private readonly cfg: ResolvedOtlpConfig;
  private readonly encoder: LogsRequestEncoder;
  private readonly metrics: SendMetrics;
  private readonly warnings: WarnOnce;
  private transport: GrpcUnaryTransport | undefined;
  private url = '';
  private readonly waiting = new Fifo<QueuedRequest>();
  private readonly inFlight = new Set<QueuedRequest>();
  private queued = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private failing = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly config: OtlpExporterConfig,
    private readonly settings: ComponentSettings,
  ) {
    this.cfg = resolveConfig(config);
    this.encoder = new LogsRequestEncoder(
      settings.host,
      config.resource_attributes,
      { maxRecords: this.cfg.batchMaxSize, maxBytes: this.cfg.batchMaxBytes },
      countedPodMetadataPolicy(config.pod_metadata, settings.metrics, settings.id),
    );
    this.warnings = new WarnOnce(settings.logger);
    this.metrics = sendMetrics(settings.metrics);
    registerQueueMetrics(settings.metrics, {
      component: settings.id,
      capacityRecords: this.cfg.queueSize,
      queuedRecords: () => this.queued,
      inFlightRequests: () => this.inFlight.size,
    });
  }

  /** The gRPC target after config and environment were merged, e.g. `collector:4317`. */
  get endpoint(): string {
    return this.url;
  }

  async start(): Promise<void> {
    const warn = (message: string) => this.settings.logger.warn(message);
    const tls = resolveTls(this.config, warn);
    const metadata = createEmptyMetadata();
    for (const [k, v] of Object.entries(this.config.headers)) metadata.set(k, v);
    const options = convertLegacyOtlpGrpcOptions(
      {
        url: this.config.endpoint,
        metadata,
        compression:
          this.config.compression === undefined
            ? undefined
            : this.config.compression === 'gzip'
              ? CompressionAlgorithm.GZIP
              : CompressionAlgorithm.NONE,
        timeoutMillis: this.cfg.timeoutMs,
        userAgent: USER_AGENT,
      },
      'LOGS',
    );
    this.url = options.url;
    this.transport = new GrpcUnaryTransport(
      {
        address: options.url,
        tls,
        metadata: options.metadata().getMap() as Record<string, string | Buffer>,
        gzip: options.compression === CompressionAlgorithm.GZIP,
        timeoutMs: options.timeoutMillis,
        userAgent: `${USER_AGENT} (node ${process.version})`,
      },
      LOGS_EXPORT_PATH,
    );
    this.settings.logger.info(
      `exporting OTLP logs to ${this.url} (compression ${options.compression}, timeout ${options.timeoutMillis}ms)`,
    );
    this.dispatch();
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    const n = batch.length;
    if (n === 0) return;
    const stage = this.settings.stage;
    if (this.stopping) {
      stage.drop(n, 'shutdown');
      return;
    }
    // Without a sending queue, a request waiting for a consumer is as much as is held back.
    const noRoom = !this.cfg.queueEnabled && this.waiting.size > 0;
    const accept = noRoom ? 0 : Math.min(n, this.cfg.queueSize - this.queued);
    if (accept < n) {
      stage.drop(n - accept, 'queue_full');
      if (noRoom) {
        this.warnings.warn(
          'no_queue',
          `sending_queue.enabled is false and all ${this.cfg.numConsumers} export requests are in flight: dropping records while ${this.url} catches up (enable the queue to buffer up to sending_queue.queue_size records)`,
        );
      } else {
        this.warnings.warn(
          'queue_full',
          `queue full (${this.cfg.queueSize} records, sending_queue.queue_size): dropping records while ${this.url} catches up`,
        );
      }
    }
    if (accept <= 0) return;
    const encoder = this.encoder;
    encoder.add(batch, 0, accept, (request) => this.enqueue(request));
    if (encoder.records >= this.cfg.batchMaxSize) this.seal();
    this.queued += accept;
    if (encoder.records > 0 && !this.batchTimer) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined;
        if (this.encoder.records > 0) this.seal();
        this.dispatch();
      }, this.cfg.batchDelayMs);
      this.batchTimer.unref();
    }
    this.dispatch();
  }

  readonly shutdown = once(async () => {
    this.stopping = true;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.encoder.records > 0) this.seal();
    this.dispatch();
    const drained = this.queued === 0 || (this.transport !== undefined && (await this.waitDrained(this.cfg.shutdownTimeoutMs)));
    if (!drained) {
      const left = [...this.waiting.drain(), ...this.inFlight];
      let records = 0;
      for (const r of left) {
        r.done = true;
        clearTimeout(r.retryTimer);
        records += r.records;
      }
      this.inFlight.clear();
      this.queued = 0;
      this.settings.stage.drop(records, 'shutdown');
      this.settings.logger.warn(
        `shutdown: ${records} records not delivered to ${this.url || 'the collector'} within shutdown_timeout (${this.config.shutdown_timeout}); dropped`,
      );
    }
    // The connection closes once its calls are done; abandoned ones are cut after a moment.
    await this.transport?.shutdown(drained ? 1000 : 100);
  });

  private seal(): void {
    this.enqueue(this.encoder.seal());
  }

  private enqueue(request: EncodedRequest): void {
    this.waiting.push({ request, records: request.records, attempt: 0, firstSentAt: 0, retryTimer: undefined, done: false });
    if (this.batchTimer && this.encoder.records === 0) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
  }

  private dispatch(): void {
    if (!this.transport) return;
    while (this.inFlight.size < this.cfg.numConsumers) {
      const r = this.waiting.shift();
      if (!r) break;
      this.inFlight.add(r);
      this.send(r);
    }
    if (this.queued === 0 && this.drainWaiters.length > 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  private send(r: QueuedRequest): void {
    if (r.firstSentAt === 0) r.firstSentAt = Date.now();
    const started = process.hrtime.bigint();
    this.transport!.send(r.request.chunks, r.request.bytes, (err, response) => this.onResult(r, err, response, started));
  }

  private onResult(r: QueuedRequest, error: GrpcError | undefined, response: Buffer | undefined, started: bigint): void {
    if (r.done) return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const exporter = this.settings.id;
    if (!error) {
      this.metrics.sendDuration.observe({ component: exporter, outcome: 'success' }, seconds);
      const partial = partialSuccess(response);
      const rejected = Math.min(partial.rejected, r.records);
      if (rejected > 0) {
        this.settings.logger.warn(`${this.url} rejected ${rejected} of ${r.records} records: ${partial.message || '(no message)'}`);
      }
      if (this.failing) {
        this.failing = false;
        this.warnings.reset('export');
        this.settings.logger.info(`export to ${this.url} recovered`);
      }
      this.finish(r, rejected);
      return;
    }
    const message = error.message;
    const c = classifyError(error);
    const retry = this.cfg.retry;
    if (c.retryable && retry.enabled) {
      const delay = c.retryAfterMs ?? backoffMs(r.attempt, retry.initialMs, retry.maxMs);
      const elapsed = Date.now() - r.firstSentAt;
      if (retry.maxElapsedMs === 0 || elapsed + delay <= retry.maxElapsedMs) {
        this.metrics.sendDuration.observe({ component: exporter, outcome: 'retryable' }, seconds);
        this.metrics.retries.inc({ component: exporter, code: c.code });
        this.failing = true;
        this.warnings.warn(
          'export',
          `export to ${this.url} failed: ${message}${tlsHint(message)}; retrying with backoff (up to retry_on_failure.max_elapsed_time)`,
        );
        r.attempt++;
        r.retryTimer = setTimeout(() => {
          r.retryTimer = undefined;
          if (!r.done) this.send(r);
        }, delay);
        r.retryTimer.unref();
        return;
      }
    }
    this.metrics.sendDuration.observe({ component: exporter, outcome: 'failed' }, seconds);
    this.failing = true;
    const why = c.retryable
      ? retry.enabled
        ? `still failing after ${Date.now() - r.firstSentAt}ms (max_elapsed_time)`
        : 'retry_on_failure is disabled'
      : `${c.code} is not retryable`;
    this.settings.logger.error(
      `export of ${r.records} records to ${this.url} failed: ${message}${tlsHint(message)}; ${why}, records dropped`,
    );
    this.finish(r, r.records);
  }

  private finish(r: QueuedRequest, dropped: number): void {
    r.done = true;
    this.encoder.release(r.request);
    this.inFlight.delete(r);
    this.queued -= r.records;
    this.settings.stage.send(r.records - dropped);
    this.settings.stage.drop(dropped, 'export_failed');
    // Warn again about a full queue only after it had room to spare.
    if (this.queued < this.cfg.queueSize / 2) this.warnings.reset('queue_full');
    this.dispatch();
    // Without a queue, requests wait and drain all the time; only a full catch-up ends the episode.
    if (this.inFlight.size === 0) this.warnings.reset('no_queue');
  }

  private waitDrained(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
